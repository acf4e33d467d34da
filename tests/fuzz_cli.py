"""Mutation fuzz of the qlower command line: ONNX models, IR text dumps and ``.npz`` inputs.

Every case mutates one seed file (byte flips, truncations, protobuf-level edits of an ONNX
model; token, line and attribute edits of an IR dump, with and without its weights; array,
header and zip edits of an inputs file) and runs one real command on it (``inspect``,
``compile``, ``run`` on both backends, ``estimate``) in-process through ``qlower.cli.main``.
A case passes when the command exits 0, 1 or 2, writes no Python warning, and, when it
fails, writes exactly one line ``error: ...`` on stderr that names a file of the command
line. Everything is derived from ``--seed``: the same arguments give the same cases.

    python tests/fuzz_cli.py --cases 7000 --kind onnx
    python tests/fuzz_cli.py --cases 7700 --kind ir
    python tests/fuzz_cli.py --cases 2000 --kind npz

The seeds are the shipped models (``examples/``, ``tests/models/``), a few small models that
exercise Gemm attributes, Gather indices and external data, and IR dumps of every stage
(imported, canonical, lowered) of some of them. ``tests/cli/test_fuzz_cli.py`` runs a small,
fixed sample of the same cases in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [ROOT / "examples" / "mlp.onnx", *sorted((ROOT / "tests" / "models").glob("*.onnx")),
           *sorted((ROOT / "tests" / "models" / "torch2.15").glob("*.onnx")),
           *sorted((ROOT / "tests" / "models" / "hf").glob("*_dynamo18.onnx"))]
SMALL = ("mlp", "sdpa_causal_dynamo_opset23", "mlp_mse_opset23", "gemm", "gather", "external")
IR_SEEDS = ("mlp", "gemm", "sdpa_causal_dynamo_opset23", "mha_single_head_dynamo_opset23", "mlp_gelu_opset23")
STAGES = ("imported", "canonical", "lowered")
SPECIALS = [float("nan"), float("inf"), float("-inf"), 1e38, -1e38, 3.4e38, 1e39, -0.0, 0.0,
            1e-45, 5e-324, -1.0, 2.0**63, 7.0]


class CaseTimeout(BaseException):
    """A case ran past its time limit (raised by SIGALRM; not an Exception, so main lets it out)."""


@dataclass
class Outcome:
    status: int | str  # exit status, "timeout" or "escaped"
    stdout: str
    stderr: str
    warnings: list[str]
    seconds: float


@dataclass
class Case:
    kind: str  # onnx, ir, npz
    seed: str
    mutation: str
    argv: list[str]
    files: list[str]  # files of the command line a message may name
    folder: str = ""  # the case's own folder (removed after a case that passes)
    outcome: Outcome | None = None
    problems: list[str] = field(default_factory=list)


# -- seeds ----------------------------------------------------------------------------------


def _model(nodes, inputs, outputs, inits=(), opset=18, name="g"):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="fuzz")
    m.ir_version = 10
    return m


def built_seeds(folder: Path) -> dict[str, Path]:
    """Small models beside the shipped ones: Gemm with attributes, a Gather, external data."""
    vi = h.make_tensor_value_info
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    gemm = _model([h.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", alpha=0.5, beta=2.0,
                               transB=1),
                   h.make_node("Relu", ["h"], ["y"], name="relu")],
                  [vi("x", T.FLOAT, ["batch", 4])], [vi("y", T.FLOAT, ["batch", 3])],
                  [nh.from_array(w, "w"), nh.from_array(b, "b")])
    gather = _model([h.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                     h.make_node("Reshape", ["h", "shape"], ["r"], name="reshape"),
                     h.make_node("Gather", ["r", "idx"], ["y"], name="pick", axis=1)],
                    [vi("x", T.FLOAT, ["batch", 4])], [vi("y", T.FLOAT, ["batch", 3])],
                    [nh.from_array(rng.standard_normal((4, 6)).astype(np.float32), "w"),
                     nh.from_array(np.array([0, 2, 3], np.int64), "shape"),
                     nh.from_array(np.array(1, np.int64), "idx")])
    ext = _model([h.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                 [vi("x", T.FLOAT, ["batch", 4])], [vi("y", T.FLOAT, ["batch", 8])],
                 [nh.from_array(rng.standard_normal((4, 8)).astype(np.float32), "w")])
    out = {}
    for name, m in (("gemm", gemm), ("gather", gather)):
        out[name] = folder / f"{name}.onnx"
        onnx.save(m, out[name])
    out["external"] = folder / "external.onnx"
    onnx.save(ext, out["external"], save_as_external_data=True, all_tensors_to_one_file=True,
              location="external.bin", size_threshold=0)
    return out


def make_inputs(model: Path, path: Path, seed: int = 0) -> None:
    """Random inputs for ``model`` (size symbols 2 and 3), as ``path``."""
    from qlower.api import load
    from qlower.ir import Sym, TensorType

    graph = load(model)
    rng = np.random.default_rng(seed)
    env: dict[str, int] = {}
    arrays = {}
    for v in graph.inputs:
        t = v.type
        assert isinstance(t, TensorType)
        shape = []
        for d in t.dims:
            if isinstance(d, Sym):
                for s in sorted(d.symbols):
                    env.setdefault(s, 2 + len(env) % 2)
                shape.append(d.evaluate(env))
            else:
                shape.append(3 if d is None else d)
        dt = t.dtype.numpy
        if dt == np.bool_:
            arrays[v.name] = rng.random(shape) > 0.5
        elif dt.kind in "iu":
            arrays[v.name] = rng.integers(0, 2, size=shape).astype(dt)
        else:
            arrays[v.name] = rng.standard_normal(shape).astype(dt)
    np.savez(path, **arrays)


@dataclass
class Corpus:
    folder: Path
    onnx: dict[str, Path]
    inputs: dict[str, Path]
    ir: dict[str, tuple[Path, Path | None, str]]  # name -> (dump, weights or None, model name)


def build_corpus(folder: Path, names: tuple[str, ...] | None = None,
                 ir_names: tuple[str, ...] = IR_SEEDS) -> Corpus:
    """Copy and build the seeds into ``folder`` (its own subfolder per seed): the models
    ``names`` (all when None), and dumps of every stage of ``ir_names``."""
    from qlower.cli import main

    models: dict[str, Path] = {}
    for p in SHIPPED:
        if names is None or p.stem in names:
            d = folder / "seed" / p.stem
            d.mkdir(parents=True)
            shutil.copy(p, d / p.name)
            models[p.stem] = d / p.name
    built_dir = folder / "seed" / "built"
    built_dir.mkdir(parents=True)
    for name, p in built_seeds(built_dir).items():
        if names is None or name in names:
            d = folder / "seed" / name
            d.mkdir()
            for f in built_dir.iterdir():
                if f.stem == name or (name == "external" and f.name == "external.bin"):
                    shutil.copy(f, d / f.name)
            models[name] = d / p.name
    shutil.rmtree(built_dir)
    inputs = {}
    for name, p in models.items():
        inputs[name] = p.with_name(p.stem + "_inputs.npz")
        make_inputs(p, inputs[name])
    dumps: dict[str, tuple[Path, Path | None, str]] = {}
    sink = io.StringIO()
    for name in ir_names:
        if name not in models:
            continue
        for stage in STAGES:
            d = folder / "seed" / f"{name}.{stage}"
            d.mkdir()
            dump = d / f"{name}.{stage}.qir"
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                assert main(["inspect", str(models[name]), "--stage", stage, "-o", str(dump),
                             "--save-weights"]) == 0
            dumps[f"{name}.{stage}"] = (dump, dump.with_suffix(".npz"), name)
            bare = folder / "seed" / f"{name}.{stage}.noweights"
            bare.mkdir()
            shutil.copy(dump, bare / dump.name)
            dumps[f"{name}.{stage}.noweights"] = (bare / dump.name, None, name)
    return Corpus(folder, models, inputs, dumps)


# -- running one command --------------------------------------------------------------------


@contextlib.contextmanager
def _captured_fds(out_file, err_file):
    """Route file descriptors 1 and 2 (what C libraries write) to files for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(out_file.fileno(), 1)
        os.dup2(err_file.fileno(), 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _alarm(signum, frame):
    raise CaseTimeout


def run_inprocess(argv: list[str], timeout: float = 120.0) -> Outcome:
    """``qlower argv`` through ``qlower.cli.main``, with every kind of output captured."""
    from qlower.cli import main

    out, err = io.StringIO(), io.StringIO()
    status: int | str
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old = signal.signal(signal.SIGALRM, _alarm)
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                with _captured_fds(fo, fe), contextlib.redirect_stdout(out), \
                        contextlib.redirect_stderr(err):
                    try:
                        status = main(argv)
                    except SystemExit as e:  # argparse
                        status = e.code if isinstance(e.code, int) else 2
                    except CaseTimeout:
                        status = "timeout"
                    except BaseException as e:  # noqa: BLE001 - recorded as a problem
                        status = "escaped"
                        err.write(f"escaped: {type(e).__name__}: {e}\n")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
        fo.seek(0)
        fe.seek(0)
        c_out, c_err = fo.read(), fe.read()
    seconds = time.perf_counter() - t0
    return Outcome(status, out.getvalue() + c_out, err.getvalue() + c_err,
                   [f"{w.category.__name__}: {w.message}" for w in caught], seconds)


def run_subprocess(argv: list[str], timeout: float = 300.0) -> Outcome:
    """``python -W default -m qlower argv``: what a user sees, Python warnings included."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-W", "default", "-m", "qlower", *argv],
                              capture_output=True, text=True, timeout=timeout)
        status: int | str = proc.returncode
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired:
        status, out, err = "timeout", "", ""
    found = [ln for ln in err.splitlines() if re.search(r"\w+Warning: ", ln)]
    return Outcome(status, out, "\n".join(ln for ln in err.splitlines() if ln not in found)
                   + ("\n" if err else ""), found, time.perf_counter() - t0)


def names_file(message: str, path: str) -> bool:
    """Whether ``message`` names ``path`` as a word of its own (as qlower.errors does)."""
    return re.search(rf"(^|[\s('\"]){re.escape(path)}($|[\s:)'\",;])", message) is not None


def judge(case: Case) -> list[str]:
    """What is wrong with a case's outcome (empty: nothing)."""
    o = case.outcome
    assert o is not None
    problems = []
    if o.status not in (0, 1, 2):
        problems.append(f"exit {o.status}")
    if o.warnings:
        problems.append("warning: " + o.warnings[0])
    lines = o.stderr.splitlines()
    errors = [ln for ln in lines if not ln.startswith("warning: ")]
    if o.status == 2:
        if len(errors) != 1 or not errors[0].startswith("error: "):
            problems.append(f"{len(lines)} stderr lines")
        elif not any(names_file(errors[0], f) for f in case.files):
            problems.append("error names no input")
    elif o.status == 1:
        if len(errors) != 1 or not errors[0].startswith("check failed: "):
            problems.append(f"{len(lines)} stderr lines")
    elif o.status == 0 and errors:
        problems.append(f"{len(errors)} stderr lines on success")
    if "Traceback" in o.stderr:
        problems.append("traceback")
    return problems


def signature(case: Case) -> str:
    """A short description of a failing case's cause, numbers and names blurred."""
    o = case.outcome
    assert o is not None
    lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
    text = lines[-1] if lines else ""
    if case.problems and case.problems[0].startswith("warning: "):
        text = case.problems[0]
    for f in case.files:
        text = text.replace(f, "FILE")
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"%[\w.\"/:-]+", "%v", text)
    text = re.sub(r"-?\d+(\.\d+)?(e[+-]?\d+)?", "N", text)
    return text[:150]


# -- ONNX mutations -------------------------------------------------------------------------


def _pick(rng: random.Random, items):
    items = list(items)
    return rng.choice(items) if items else None


def _float_inits(m: onnx.ModelProto):
    return [t for t in m.graph.initializer if t.data_type in (T.FLOAT, T.DOUBLE, T.FLOAT16)]


def _all_dims(m: onnx.ModelProto):
    dims = []
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            dims += [(vi, i, d) for i, d in enumerate(vi.type.tensor_type.shape.dim)]
    return dims


def _set_tensor(t: onnx.TensorProto, arr: np.ndarray) -> None:
    name = t.name
    t.CopyFrom(nh.from_array(arr, name))


def mut_init_values(rng, m, folder):
    inits = _float_inits(m) + [a.t for n in m.graph.node for a in n.attribute
                              if a.type == onnx.AttributeProto.TENSOR
                              and a.t.data_type in (T.FLOAT, T.DOUBLE)]
    t = _pick(rng, inits)
    if t is None or onnx.external_data_helper.uses_external_data(t):
        return None
    arr = nh.to_array(t).copy()
    if arr.size == 0:
        return None
    how = rng.choice(["one", "some", "all", "scale"])
    v = rng.choice(SPECIALS)
    flat = arr.reshape(-1)
    with np.errstate(all="ignore"):
        if how == "one":
            flat[rng.randrange(flat.size)] = v
        elif how == "some":
            for _ in range(rng.randint(1, 5)):
                flat[rng.randrange(flat.size)] = v
        elif how == "all":
            flat[:] = v
        else:
            v = rng.choice([1e30, 1e37, 3e37, 1e-30, -1e36])
            flat *= arr.dtype.type(v)
    _set_tensor(t, flat.reshape(arr.shape))
    return f"values of {t.name or 'a Constant'}: {how} {v!r}"


def mut_int_init(rng, m, folder):
    inits = [t for t in m.graph.initializer if t.data_type in (T.INT64, T.INT32)]
    inits += [a.t for n in m.graph.node for a in n.attribute
              if a.type == onnx.AttributeProto.TENSOR and a.t.data_type in (T.INT64, T.INT32)]
    t = _pick(rng, inits)
    if t is None:
        return None
    arr = nh.to_array(t).copy()
    if arr.size == 0:
        return None
    flat = arr.reshape(-1)
    v = rng.choice([-1, 0, 1, 2, 3, 7, 1000, -1000, -(2**31), 2**31 - 1, 2**40, -(2**62)])
    with np.errstate(all="ignore"):
        flat[rng.randrange(flat.size)] = np.array(v).astype(arr.dtype)
    _set_tensor(t, flat.reshape(arr.shape))
    return f"int values of {t.name or 'a Constant'}: {v}"


def mut_gather_index(rng, m, folder):
    names = {n.input[1] for n in m.graph.node if n.op_type in ("Gather", "GatherElements")
             and len(n.input) > 1}
    for n in m.graph.node:
        if n.op_type == "Constant" and n.output[0] in names:
            for a in n.attribute:
                if a.name == "value":
                    arr = nh.to_array(a.t).copy()
                    arr.reshape(-1)[0] = rng.choice([5, 99, -99, 2**40])
                    _set_tensor(a.t, arr)
                    return f"Gather index {n.output[0]} out of range"
    for t in m.graph.initializer:
        if t.name in names:
            arr = nh.to_array(t).copy()
            arr.reshape(-1)[0] = rng.choice([5, 99, -99, 2**40])
            _set_tensor(t, arr)
            return f"Gather index {t.name} out of range"
    return None


def mut_attr(rng, m, folder):
    attrs = [(n, a) for n in m.graph.node for a in n.attribute
             if a.type in (onnx.AttributeProto.FLOAT, onnx.AttributeProto.INT,
                           onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS,
                           onnx.AttributeProto.STRING)]
    gemms = [n for n in m.graph.node if n.op_type == "Gemm"]
    if gemms and rng.random() < 0.3:
        n = rng.choice(gemms)
        key = rng.choice(["alpha", "beta"])
        v = rng.choice(SPECIALS)
        for a in list(n.attribute):
            if a.name == key:
                n.attribute.remove(a)
        n.attribute.append(h.make_attribute(key, float(v)))
        return f"Gemm {key} = {v!r}"
    pick = _pick(rng, attrs)
    if pick is None:
        return None
    n, a = pick
    if a.type == onnx.AttributeProto.FLOAT:
        a.f = rng.choice(SPECIALS)
        return f"{n.op_type}.{a.name} = {a.f!r}"
    if a.type == onnx.AttributeProto.INT:
        a.i = rng.choice([-3, -1, 0, 1, 2, 5, 2**31, -(2**40)])
        return f"{n.op_type}.{a.name} = {a.i}"
    if a.type == onnx.AttributeProto.INTS:
        vals = list(a.ints) or [0]
        vals[rng.randrange(len(vals))] = rng.choice([-5, -1, 0, 1, 3, 9, 2**40])
        if rng.random() < 0.3:
            vals = vals[:-1] if rng.random() < 0.5 else vals + [rng.choice([0, 1, -1])]
        del a.ints[:]
        a.ints.extend(vals)
        return f"{n.op_type}.{a.name} = {vals}"
    if a.type == onnx.AttributeProto.FLOATS:
        vals = list(a.floats) or [0.0]
        vals[rng.randrange(len(vals))] = rng.choice(SPECIALS)
        del a.floats[:]
        a.floats.extend(vals)
        return f"{n.op_type}.{a.name} = {vals}"
    a.s = rng.choice([b"", b"tanh", b"none", b"\xff\xfe", "ä".encode(), b"x" * 300])
    return f"{n.op_type}.{a.name} = {a.s[:20]!r}"


def mut_dims(rng, m, folder):
    dims = _all_dims(m)
    pick = _pick(rng, dims)
    if pick is None:
        return None
    vi, i, d = pick
    choice = rng.random()
    if choice < 0.5:
        p = rng.choice(["bätch", "", "2*batch", "batch+1", "1x", "a b", "N", "seq", "-1", "0",
                        "batch*batch", "feat", "b\u00e9", "\u0394", "_", "batch-1", "3"])
        d.dim_param = p
        return f"{vi.name} dim {i} = {p!r}"
    v = rng.choice([0, 1, 2, 3, 5, 64, 10**9, 2**40])
    d.dim_value = v
    return f"{vi.name} dim {i} = {v}"


def mut_symbolic_dim(rng, m, folder):
    """A non-batch input dimension becomes symbolic."""
    cands = [(vi, i, d) for vi in m.graph.input
             for i, d in enumerate(vi.type.tensor_type.shape.dim) if i > 0]
    pick = _pick(rng, cands)
    if pick is None:
        return None
    vi, i, d = pick
    d.dim_param = rng.choice(["feat", "n", "batch", "seq", "hidden"])
    return f"{vi.name} dim {i} symbolic {d.dim_param}"


def mut_types(rng, m, folder):
    vis = list(m.graph.input) + list(m.graph.output)
    vi = _pick(rng, vis)
    if vi is None:
        return None
    et = rng.choice([T.DOUBLE, T.FLOAT16, T.INT64, T.INT32, T.BOOL, T.BFLOAT16, T.STRING,
                     T.COMPLEX64, T.UINT8, 0, 99])
    vi.type.tensor_type.elem_type = et
    return f"{vi.name} elem_type {et}"


def mut_structure(rng, m, folder):
    g = m.graph
    how = rng.choice(["drop node", "dup node", "swap inputs", "drop input", "drop init",
                      "op type", "drop output", "rename value", "cycle"])
    if how == "drop node" and g.node:
        del g.node[rng.randrange(len(g.node))]
    elif how == "dup node" and g.node:
        n = g.node[rng.randrange(len(g.node))]
        g.node.append(n)
    elif how == "swap inputs":
        cands = [n for n in g.node if len(n.input) >= 2]
        if not cands:
            return None
        n = rng.choice(cands)
        n.input[0], n.input[1] = n.input[1], n.input[0]
    elif how == "drop input" and g.input:
        del g.input[rng.randrange(len(g.input))]
    elif how == "drop init" and g.initializer:
        del g.initializer[rng.randrange(len(g.initializer))]
    elif how == "op type" and g.node:
        n = g.node[rng.randrange(len(g.node))]
        n.op_type = rng.choice(["Relu", "Gemm", "MatMul", "Add", "Softmax", "Reshape", "Gather",
                                "Transpose", "Identity", "Concat", "Sigmoid", "Mul", "Foo"])
    elif how == "drop output" and g.output:
        del g.output[rng.randrange(len(g.output))]
    elif how == "rename value" and g.node:
        n = g.node[rng.randrange(len(g.node))]
        if not n.input:
            return None
        n.input[rng.randrange(len(n.input))] = rng.choice(["", "nowhere", n.output[0]])
    elif how == "cycle" and len(g.node) >= 2:
        a, b = g.node[0], g.node[-1]
        if a.input and b.output:
            a.input[0] = b.output[0]
    else:
        return None
    return how


def mut_names(rng, m, folder):
    g = m.graph
    how = rng.choice(["long init", "long node", "nul", "unicode", "empty graph name",
                      "long graph name"])
    if how == "long init" and g.initializer:
        t = rng.choice(list(g.initializer))
        new = "w" * rng.choice([5000, 100_000])
        for n in g.node:
            for i, x in enumerate(n.input):
                if x == t.name:
                    n.input[i] = new
        t.name = new
    elif how == "long node" and g.node:
        rng.choice(list(g.node)).name = "n" * 100_000
    elif how == "nul" and g.node:
        rng.choice(list(g.node)).name = "a\0b"
    elif how == "unicode" and g.initializer:
        t = rng.choice(list(g.initializer))
        new = "poids_\u00e9\u4e2d"
        for n in g.node:
            for i, x in enumerate(n.input):
                if x == t.name:
                    n.input[i] = new
        t.name = new
    elif how == "empty graph name":
        g.name = ""
    elif how == "long graph name":
        g.name = "g" * 100_000
    else:
        return None
    return how


def mut_external(rng, m, folder):
    """Move an initializer to external data with a chosen location."""
    inits = [t for t in m.graph.initializer if t.raw_data or t.float_data]
    t = _pick(rng, inits)
    ext = [t2 for t2 in m.graph.initializer if onnx.external_data_helper.uses_external_data(t2)]
    if t is None and not ext:
        return None
    if t is None:
        t = rng.choice(ext)
        location = None
    else:
        arr = nh.to_array(t)
        location = "w.bin"
        (folder / location).write_bytes(arr.tobytes())
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.data_location = T.EXTERNAL
        del t.external_data[:]
        for key, value in (("location", location), ("offset", "0"),
                           ("length", str(arr.nbytes))):
            e = t.external_data.add()
            e.key, e.value = key, value
    loc = rng.choice(["a\0b.bin", "x" * 5000, "../outside.bin", "/etc/passwd", "missing.bin",
                      "w.bin", ".", "", "sub/../w.bin", "\u00e9.bin", "w.bin\n"])
    key = rng.choice(["location", "location", "offset", "length"])
    value = loc if key == "location" else rng.choice(["-1", "10000000", "3", "x", "", "4"])
    for e in t.external_data:
        if e.key == key:
            e.value = value
            break
    else:
        e = t.external_data.add()
        e.key, e.value = key, value
    return f"external {key} = {value[:30]!r}"


def mut_opset(rng, m, folder):
    if rng.random() < 0.5:
        v = rng.choice([1, 7, 12, 13, 17, 21, 24, 25, 28, 29, 100, -1])
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = v
        return f"opset {v}"
    v = rng.choice([0, 1, 3, 7, 11, 13, 14, 100])
    m.ir_version = v
    return f"ir_version {v}"


PROTO_MUTATIONS: list[Callable] = [mut_init_values, mut_int_init, mut_gather_index, mut_attr,
                                   mut_dims, mut_symbolic_dim, mut_types, mut_structure,
                                   mut_names, mut_external, mut_opset]


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    b = bytearray(data)
    how = rng.choice(["flip", "flip", "truncate", "insert", "delete", "utf8"])
    if how == "flip":
        k = rng.randint(1, 4)
        for _ in range(k):
            i = rng.randrange(len(b))
            b[i] ^= rng.randint(1, 255)
        return bytes(b), f"{k} byte flips"
    if how == "truncate":
        n = rng.randrange(len(b))
        return bytes(b[:n]), f"truncated at {n}"
    if how == "insert":
        i = rng.randrange(len(b))
        return bytes(b[:i]) + bytes(rng.randrange(256) for _ in range(8)) \
            + bytes(b[i:]), f"8 bytes inserted at {i}"
    if how == "delete":
        i = rng.randrange(len(b))
        return bytes(b[:i] + b[i + rng.randint(1, 16):]), f"bytes deleted at {i}"
    # invalid UTF-8 inside a string field: overwrite one byte of a printable run
    runs = [mt.start() for mt in re.finditer(rb"[A-Za-z_]{4,}", bytes(b))]
    if not runs:
        return bytes(b), "no string"
    i = rng.choice(runs)
    b[i + 1] = rng.choice([0xFF, 0xC3, 0x80, 0xFE])
    return bytes(b), f"invalid UTF-8 at {i + 1}"


def onnx_case(rng: random.Random, corpus: Corpus, work: Path, index: int,
              seeds: list[str]) -> Case:
    name = rng.choice(seeds)
    src = corpus.onnx[name]
    folder = work / f"onnx{index}"
    folder.mkdir()
    for f in src.parent.iterdir():
        if f.suffix == ".bin":
            shutil.copy(f, folder / f.name)
    target = folder / src.name
    if rng.random() < 0.35:
        data, what = mutate_bytes(rng, src.read_bytes())
        target.write_bytes(data)
    else:
        m = onnx.load(src, load_external_data=False)
        whats = []
        for _ in range(1 if rng.random() < 0.8 else 2):
            mut = rng.choice(PROTO_MUTATIONS)
            try:
                w = mut(rng, m, folder)
            except Exception:  # noqa: BLE001 - a mutation that onnx itself cannot apply
                w = None
            whats.append(f"{mut.__name__[4:]}: {w}" if w else f"{mut.__name__[4:]}: no-op")
        what = "; ".join(whats)
        try:
            target.write_bytes(m.SerializeToString())
        except Exception as e:  # noqa: BLE001 - protobuf refuses some edits; keep the seed
            target.write_bytes(src.read_bytes())
            what += f" (unserialisable: {type(e).__name__})"
    argv, files = command(rng, str(target), str(corpus.inputs[name]), folder, onnx_model=True)
    return Case("onnx", name, what, argv, files, str(folder))


def command(rng: random.Random, model: str, inputs: str, folder: Path, onnx_model: bool,
            weights: str | None = None) -> tuple[list[str], list[str]]:
    """One random command line on ``model``; returns it and the files it names."""
    files = [model, inputs] + ([weights] if weights else [])
    extra = ["--weights", weights] if weights else []
    r = rng.random()
    if r < 0.25:
        stage = rng.choice(STAGES)
        fmt = rng.choice(["text", "text", "json", "dot"])
        argv = ["inspect", model, "--stage", stage, "--format", fmt, *extra]
        if rng.random() < 0.3 and fmt == "text":
            out = str(folder / "dump.qir")
            argv += ["-o", out, "--save-weights"]
            files.append(out)
        return argv, files
    if r < 0.45:
        out = str(folder / "build")
        files.append(out)
        return ["compile", model, "-o", out, "--target", rng.choice(["qasm3", "cirq"]),
                *extra], files
    if r < 0.55:
        return ["estimate", model, *extra, *(["--json"] if rng.random() < 0.5 else [])], files
    argv = ["run", model, "--inputs", inputs, *extra]
    backend = rng.random()
    if backend < 0.45:
        argv += ["--stage", rng.choice(STAGES)]
    else:
        argv += ["--backend", "qsim"]
        if rng.random() < 0.4:
            argv += ["--shots", str(rng.choice([1, 100, 2000]))]
    if onnx_model and rng.random() < 0.3:
        argv.append("--check")
    if rng.random() < 0.2:
        argv.append("--json")
    return argv, files


# -- IR mutations ---------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.%\"])-?(\d+\.\d*(e[+-]?\d+)?|\d+e[+-]?\d+|\d+|inf|nan)(?![\w.\"])")
_ATTR = re.compile(r"\b(threshold|alpha|bound|shift|value|size|axis|terms|epsilon|scale|"
                   r"nonnegative|causal|perm|shape|axes|heads|dtype|keepdims|start|end)"
                   r" = ([^,}]+)")
NUMBERS = ["nan", "inf", "-inf", "1e39", "-1e39", "-1.0", "-1", "0", "0.0", "1e308", "3.4e38",
           "-0.0", "99999999999999999999", "1.5", "-7", "2", "1e-50", "65536", "4294967296"]


def mutate_ir(rng: random.Random, text: str) -> tuple[str, str]:
    lines = text.split("\n")
    how = rng.choice(["number", "number", "attr", "attr", "delete line", "dup line",
                      "swap lines", "flip", "truncate", "type", "name", "op name"])
    if how == "number":
        hits = list(_NUMBER.finditer(text))
        if not hits:
            return text, "no number"
        mt = rng.choice(hits)
        new = rng.choice(NUMBERS)
        return text[: mt.start()] + new + text[mt.end():], f"number {mt.group(0)} -> {new}"
    if how == "attr":
        hits = list(_ATTR.finditer(text))
        if not hits:
            return text, "no attribute"
        mt = rng.choice(hits)
        new = rng.choice(NUMBERS + ["true", "false", '"x"', "[]", "[1, 2]", "f64", "(batch)",
                                    "[-1]", "[0, 0]"])
        return (text[: mt.start(2)] + new + text[mt.end(2):],
                f"{mt.group(1)} = {mt.group(2)} -> {new}")
    body = [i for i, ln in enumerate(lines) if ln.startswith("  ")]
    if how == "delete line" and body:
        i = rng.choice(body)
        return "\n".join(lines[:i] + lines[i + 1:]), f"line {i + 1} deleted"
    if how == "dup line" and body:
        i = rng.choice(body)
        return "\n".join(lines[: i + 1] + lines[i:]), f"line {i + 1} doubled"
    if how == "swap lines" and len(body) >= 2:
        i, j = rng.sample(body, 2)
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), f"lines {i + 1} and {j + 1} swapped"
    if how == "flip":
        b = bytearray(text.encode("utf-8", errors="surrogateescape"))
        i = rng.randrange(len(b))
        b[i] = rng.choice(b"()[]{}<>,:=%@x\"\\0 \n") if rng.random() < 0.7 else rng.randrange(256)
        return b.decode("utf-8", errors="surrogateescape"), f"byte {i} changed"
    if how == "truncate":
        n = rng.randrange(len(text))
        return text[:n], f"truncated at {n}"
    if how == "type":
        hits = list(re.finditer(r"tensor<([^>]*)>", text))
        if not hits:
            return text, "no type"
        mt = rng.choice(hits)
        new = rng.choice(["f64", "f16", "i64", "bool", "?xf32", "(batch)xf32", "0xf32",
                          "1x1xf32", "(seq)x4xf32", "99999999999x4xf32", "c64"])
        return text[: mt.start(1)] + new + text[mt.end(1):], f"type {mt.group(1)} -> {new}"
    if how == "name":
        hits = list(re.finditer(r"%[A-Za-z0-9_.]+", text))
        if not hits:
            return text, "no name"
        mt = rng.choice(hits)
        new = rng.choice(["%x", "%nowhere", '%"a b"', "%" + "n" * 5000, '%""'])
        return text[: mt.start()] + new + text[mt.end():], f"name {mt.group(0)} -> {new[:12]}"
    if how == "op name":
        hits = list(re.finditer(r"= ([a-z]+\.[a-z_.]+)\(", text))
        if not hits:
            return text, "no op"
        mt = rng.choice(hits)
        new = rng.choice(["nn.relu", "nn.linear", "q.readout", "host.norm", "nn.softmax",
                          "foo.bar", "q.block.fable", "host.rescale", "nn.attention"])
        return text[: mt.start(1)] + new + text[mt.end(1):], f"op {mt.group(1)} -> {new}"
    return text, "unchanged"


def mutate_weights_value(rng: random.Random, text: str, weights: Path) -> tuple[str, bytes, str]:
    """A weights array gets a special value and the dump the matching checksum."""
    from qlower.ir.attributes import checksum
    from qlower.ir.weights import load_weights, npz_bytes

    arrays = load_weights(weights)
    floats = [k for k, a in arrays.items() if a.dtype.kind == "f" and a.size]
    if not floats:
        return text, weights.read_bytes(), "no float weights"
    name = rng.choice(floats)
    arr = arrays[name].copy()
    v = rng.choice(SPECIALS)
    with np.errstate(all="ignore"):
        if rng.random() < 0.5:
            arr.reshape(-1)[rng.randrange(arr.size)] = v
        else:
            arr[...] = v
    old = checksum(arrays[name])
    arrays[name] = arr
    return text.replace(old, checksum(arr)), npz_bytes(arrays), f"weight {name} gets {v!r}"


def ir_case(rng: random.Random, corpus: Corpus, work: Path, index: int, seeds: list[str]) -> Case:
    name = rng.choice(seeds)
    dump, weights, model = corpus.ir[name]
    folder = work / f"ir{index}"
    folder.mkdir()
    text = dump.read_text()
    target = folder / dump.name
    npz = None
    r = rng.random()
    if weights is not None and r < 0.15:
        text, data, what = mutate_weights_value(rng, text, weights)
        npz = target.with_suffix(".npz")
        npz.write_bytes(data)
    else:
        k = 1 if rng.random() < 0.75 else 2
        whats = []
        for _ in range(k):
            text, w = mutate_ir(rng, text)
            whats.append(w)
        what = "; ".join(whats)
        if weights is not None:
            npz = target.with_suffix(".npz")
            if rng.random() < 0.1:
                what += "; weights left out"
                npz = None
            else:
                shutil.copy(weights, npz)
    target.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    argv, files = command(rng, str(target), str(corpus.inputs[model]), folder, onnx_model=False)
    if npz is not None:
        files.append(str(npz))
    return Case("ir", name, what, argv, files, str(folder))


# -- .npz mutations ---------------------------------------------------------------------------


def npy_header_bytes(shape, descr="<f4", fortran=False) -> bytes:
    """An .npy version 1.0 header that declares ``shape`` (no data follows)."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some cases
        with zipfile.ZipFile(buf, "w") as zf:
            for n, d in members:
                zf.writestr(n, d)
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, allow_pickle=True)
    return b.getvalue()


def mutate_npz(rng: random.Random, arrays: dict[str, np.ndarray], raw: bytes) -> tuple[bytes, str]:
    arrays = {k: v.copy() for k, v in arrays.items()}
    name = rng.choice(sorted(arrays))
    a = arrays[name]
    how = rng.choice(["value", "value", "value", "rows", "dtype", "rank", "names", "header",
                      "dup", "zip", "layout"])
    if how == "value" and a.dtype.kind == "f" and a.size:
        v = rng.choice(SPECIALS)
        with np.errstate(all="ignore"):
            if rng.random() < 0.5:
                a.reshape(-1)[rng.randrange(a.size)] = v
            else:
                a[...] = v
        return _zip([(k + ".npy", _npy(x)) for k, x in arrays.items()]), f"{name} gets {v!r}"
    if how == "rows" and a.ndim >= 1:
        n = rng.choice([0, 1, 5])
        arrays = {k: (np.resize(x, (n,) + x.shape[1:]) if x.ndim >= 1 else x)
                  for k, x in arrays.items()}
        return _zip([(k + ".npy", _npy(x)) for k, x in arrays.items()]), f"{n} rows"
    if how == "dtype":
        dt = rng.choice(["f8", "f2", "i4", "i8", "?", "c8", "U3", "S2", "M8[s]", "O",
                         [("a", "f4")], ">f4"])
        try:
            with np.errstate(all="ignore"):
                arrays[name] = a.astype(dt)
        except (TypeError, ValueError):
            return raw, "dtype unchanged"
        return _zip([(k + ".npy", _npy(x)) for k, x in arrays.items()]), f"{name} as {dt}"
    if how == "rank":
        arrays[name] = a.reshape((1,) + a.shape) if rng.random() < 0.5 else np.asarray(a.ravel()[:1].sum())
        return _zip([(k + ".npy", _npy(x)) for k, x in arrays.items()]), f"{name} rank changed"
    if how == "names":
        what = rng.choice(["extra", "missing", "renamed", "dir", "no suffix"])
        members = [(k + ".npy", _npy(x)) for k, x in arrays.items()]
        if what == "extra":
            members.append(("extra.npy", _npy(np.ones(3, np.float32))))
        elif what == "missing":
            members.pop(0)
        elif what == "renamed":
            members[0] = ("X\u00e9.npy", members[0][1])
        elif what == "dir":
            members[0] = ("sub/" + members[0][0], members[0][1])
        else:
            members[0] = (members[0][0][:-4], members[0][1])
        return _zip(members), f"member names: {what}"
    if how == "header":
        shape = rng.choice([(10**12, a.shape[-1] if a.ndim else 1), (2**62,), (-1, 4),
                            (2, 10**15), a.shape + (0,)])
        members = [(k + ".npy", _npy(x)) for k, x in arrays.items() if k != name]
        members.append((name + ".npy", npy_header_bytes(shape) + b"\0" * 64))
        return _zip(members), f"{name} header declares {shape}"
    if how == "dup":
        members = [(k + ".npy", _npy(x)) for k, x in arrays.items()]
        members.append((name + ".npy", _npy(a * 2 if a.dtype.kind in "fiu" else a)))
        return _zip(members), f"{name} twice"
    if how == "zip":
        b = bytearray(raw)
        what = rng.choice(["truncate", "flip", "empty zip"])
        if what == "truncate":
            return bytes(b[: rng.randrange(len(b))]), "zip truncated"
        if what == "flip":
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] ^= rng.randint(1, 255)
            return bytes(b), "zip bytes flipped"
        return _zip([]), "empty zip"
    if how == "layout" and a.ndim >= 2:
        arrays[name] = np.asfortranarray(a)
        return _zip([(k + ".npy", _npy(x)) for k, x in arrays.items()]), f"{name} Fortran order"
    return raw, "unchanged"


def npz_case(rng: random.Random, corpus: Corpus, work: Path, index: int, seeds: list[str]) -> Case:
    name = rng.choice(seeds)
    src = corpus.inputs[name]
    folder = work / f"npz{index}"
    folder.mkdir()
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    data, what = mutate_npz(rng, arrays, src.read_bytes())
    target = folder / src.name
    target.write_bytes(data)
    model = str(corpus.onnx[name])
    argv = ["run", model, "--inputs", str(target)]
    r = rng.random()
    if r < 0.4:
        argv += ["--stage", rng.choice(STAGES)]
    else:
        argv += ["--backend", "qsim"]
        if rng.random() < 0.5:
            argv += ["--shots", str(rng.choice([1, 100, 2000]))]
    if rng.random() < 0.3:
        argv.append("--check")
    return Case("npz", name, what, argv, [model, str(target)], str(folder))


MAKERS = {"onnx": onnx_case, "ir": ir_case, "npz": npz_case}


def seeds_for(kind: str, corpus: Corpus) -> list[str]:
    if kind == "ir":
        return sorted(corpus.ir)
    return sorted(corpus.onnx)


def generate(kind: str, corpus: Corpus, work: Path, seed: int, n: int, start: int = 0):
    """``n`` cases of one kind (the i-th case depends only on seed, kind and i)."""
    seeds = seeds_for(kind, corpus)
    for i in range(start, start + n):
        rng = random.Random(f"{seed}:{kind}:{i}")
        yield MAKERS[kind](rng, corpus, work, i, seeds)


def run_cases(cases, timeout: float, on_case=None, keep: bool = False) -> list[Case]:
    """Run and judge each case; the folder of a case that passes is removed unless ``keep``."""
    done = []
    for case in cases:
        case.outcome = run_inprocess(case.argv, timeout)
        case.problems = judge(case)
        done.append(case)
        if on_case is not None:
            on_case(case)
        folder = Path(case.folder)
        if not case.problems and not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return done


def summary(cases: list[Case]) -> dict:
    by_status = Counter(str(c.outcome.status) for c in cases)
    bad = [c for c in cases if c.problems]
    causes = Counter((c.problems[0].split(":")[0], signature(c)) for c in bad)
    return {
        "cases": len(cases),
        "by_status": dict(sorted(by_status.items())),
        "bad": len(bad),
        "problems": dict(Counter(p.split(":")[0] for c in bad for p in c.problems[:1])),
        "causes": [{"problem": p, "count": n, "example": s} for (p, s), n in causes.most_common()],
        "seconds": round(sum(c.outcome.seconds for c in cases), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--kind", choices=[*MAKERS, "all"], default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="index of the first case")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    ap.add_argument("--small", action="store_true", help="only the small seed models")
    ap.add_argument("--report", metavar="FILE.json", help="write every failing case here")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="qlower-fuzz-"))
    kinds = list(MAKERS) if args.kind == "all" else [args.kind]
    cwd = os.getcwd()
    try:
        os.chdir(work)  # relative paths: messages name files as a user types them
        corpus = build_corpus(Path("."), SMALL if args.small else None)
        results: dict[str, list[Case]] = {}
        t0 = time.time()
        for kind in kinds:
            n = args.cases if args.kind != "all" else max(1, args.cases // len(kinds))

            def progress(case, kind=kind, count=[0]):  # noqa: B006 - a counter
                count[0] += 1
                if count[0] % 200 == 0:
                    print(f"{kind}: {count[0]} cases, {time.time() - t0:.0f} s", file=sys.stderr)

            results[kind] = run_cases(generate(kind, corpus, Path("."), args.seed, n, args.start),
                                      args.timeout, progress)
        report = {kind: summary(cs) for kind, cs in results.items()}
        print(json.dumps(report, indent=1, ensure_ascii=False))
        if args.report:
            failing = [{"kind": c.kind, "seed": c.seed, "mutation": c.mutation, "argv": c.argv,
                        "status": c.outcome.status, "problems": c.problems,
                        "stderr": c.outcome.stderr[-2000:]}
                       for cs in results.values() for c in cs if c.problems]
            Path(cwd, args.report).write_text(json.dumps(failing, indent=1, ensure_ascii=False))
        return 1 if any(r["bad"] for r in report.values()) else 0
    finally:
        os.chdir(cwd)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder: {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
