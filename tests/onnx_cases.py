"""Shared builders for the op-by-op conformance tests (``tests/frontend/test_ops_*.py``).

A :class:`Case` is one small ONNX model plus one or more input sets. ``check_case`` checks the
model with ONNX's full checker, imports it, and runs qlower's reference backend at the imported
stage or after the canonical pipeline; the outputs must equal onnxruntime's (or, where
onnxruntime rejects a valid model, ``onnx.reference.ReferenceEvaluator``'s): same output names,
shapes and dtypes, floats within 1e-5 of the largest |value|, integers and bools exactly.

Builders:

* ``op_case(id, "Gemm", [In(a), Const(b), None, In(c)], attrs={...}, opset=13)`` — one node;
  ``In`` is a graph input, ``Const`` an initializer, ``None`` an absent optional input.
  Input values are the arrays given (they double as the feed for inputs).
* ``graph_case(id, nodes, inputs={name: In|Const}, outputs=[...])`` — several nodes.
* ``In(array, dims=("batch", 4))`` declares symbolic dimensions; ``feeds=`` then gives
  one input set per batch size.
* ``every_opset(lambda opset: op_case(f"id_opset{opset}", ..., opset=opset), first=14)`` — the
  same case at every opset from ``first`` to ``MAX_OPSET``, compared with onnxruntime at the
  opsets it runs and with ``onnx.reference`` above them.

Output value infos come from ONNX's strict shape inference, so every model is complete enough
for ``check_model(full_check=True)``.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from qlower.backends import run_graph
from qlower.frontend.onnx_import import MAX_OPSET, MIN_OPSET, import_model
from qlower.ir import Graph, Sym
from qlower.passes import STAGES, run_pipeline

# The newest opset the tests build models at: MAX_OPSET, or less with an older onnx installed
NEWEST_OPSET = min(MAX_OPSET, onnx.defs.onnx_opset_version())
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
RTOL = 1e-5  # relative to the largest |expected value| of each output
STAGE_NAMES = ("imported", "canonical")

ORT = "onnxruntime"
ONNX_REF = "onnx.reference"


# -- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class In:
    """A graph input with its (first) feed; ``dims`` may name symbolic dimensions."""

    value: np.ndarray
    dims: tuple | None = None


@dataclass(frozen=True)
class Const:
    """An initializer."""

    value: np.ndarray


class Data:
    """Deterministic test data; each test module seeds its own (so a module's data does not
    depend on which other modules were collected before it)."""

    def __init__(self, seed: str) -> None:
        self.rng = np.random.default_rng(zlib.crc32(seed.encode()))

    def f32(self, *shape: int, scale: float = 1.0) -> np.ndarray:
        """Standard-normal float32 data (times ``scale``)."""
        return np.asarray(self.rng.standard_normal(shape) * scale, dtype=np.float32)

    def f64(self, *shape: int) -> np.ndarray:
        return np.asarray(self.rng.standard_normal(shape), dtype=np.float64)

    def pos(self, *shape: int) -> np.ndarray:
        """Positive float32 data in [0.5, 2.5)."""
        return np.asarray(self.rng.random(shape) * 2 + 0.5, dtype=np.float32)

    def ints(self, *shape: int, low: int = -9, high: int = 10, dtype=np.int64) -> np.ndarray:
        return np.asarray(self.rng.integers(low, high, size=shape), dtype=dtype)

    def nonzero(self, *shape: int, low: int = -9, high: int = 10, dtype=np.int64) -> np.ndarray:
        """Integers without zeros (divisors)."""
        a = self.rng.integers(low, high, size=shape)
        return np.where(a == 0, 3, a).astype(dtype)

    def bools(self, *shape: int) -> np.ndarray:
        return np.asarray(self.rng.random(shape) > 0.5)


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# -- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    model: onnx.ModelProto = field(repr=False)
    feeds: tuple[Mapping[str, np.ndarray], ...] = field(repr=False)
    op_types: tuple[str, ...] = ()  # the ops the case is about (must appear after import)
    reference: str = ORT  # which runtime gives the expected outputs
    note: str = ""  # why the reference is not onnxruntime
    symbolic: tuple[str, ...] = ()  # dim_params that must stay symbolic after import

    def __hash__(self) -> int:  # cases are keyed by id in the caches below
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Case) and other.id == self.id


def _value_info(name: str, arr: np.ndarray, dims: Sequence | None) -> onnx.ValueInfoProto:
    shape = list(dims) if dims is not None else list(arr.shape)
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), shape)


def build_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Mapping[str, In | Const],
    outputs: Sequence[str],
    opset: int,
    out_shapes: Mapping[str, Sequence] | None = None,
) -> onnx.ModelProto:
    """A model (IR version 10) whose output types come from strict shape inference.

    ``out_shapes`` gives the shape (entries may be None) of outputs whose shape ONNX cannot
    infer (an op with a runtime ``axes`` input, say); the checker wants every output's rank.
    """
    graph_inputs = [_value_info(n, v.value, v.dims) for n, v in inputs.items() if isinstance(v, In)]
    inits = [onnx.numpy_helper.from_array(v.value, n) for n, v in inputs.items()
             if isinstance(v, Const)]

    def model_with(outs):
        g = helper.make_graph(list(nodes), "g", graph_inputs, outs, inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 10
        return m

    inferred = onnx.shape_inference.infer_shapes(model_with([]), strict_mode=True)
    known = {vi.name: vi for vi in list(inferred.graph.value_info) + graph_inputs}
    outs = []
    for name in outputs:
        if name not in known:
            raise AssertionError(f"ONNX shape inference gave no type for output {name!r}")
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(known[name])
        if out_shapes and name in out_shapes:
            vi = helper.make_tensor_value_info(name, vi.type.tensor_type.elem_type,
                                               list(out_shapes[name]))
        outs.append(vi)
    return model_with(outs)


def _feeds_of(inputs: Mapping[str, In | Const]) -> dict[str, np.ndarray]:
    return {n: v.value for n, v in inputs.items() if isinstance(v, In)}


def _symbols(inputs: Mapping[str, In | Const]) -> tuple[str, ...]:
    out: list[str] = []
    for v in inputs.values():
        if isinstance(v, In) and v.dims:
            out += [d for d in v.dims if isinstance(d, str) and d not in out]
    return tuple(out)


def graph_case(
    case_id: str,
    nodes: Sequence[onnx.NodeProto],
    inputs: Mapping[str, In | Const],
    outputs: Sequence[str],
    *,
    opset: int = 18,
    op_types: Sequence[str] | None = None,
    feeds: Sequence[Mapping[str, np.ndarray]] | None = None,
    reference: str = ORT,
    note: str = "",
    out_shapes: Mapping[str, Sequence] | None = None,
) -> Case:
    model = build_model(nodes, inputs, outputs, opset, out_shapes)
    if op_types is None:
        op_types = tuple(dict.fromkeys(n.op_type for n in nodes))
    return Case(
        case_id, model, tuple(feeds) if feeds is not None else (_feeds_of(inputs),),
        tuple(op_types), reference, note, _symbols(inputs),
    )


def op_case(
    case_id: str,
    op_type: str,
    args: Sequence[In | Const | None],
    *,
    attrs: Mapping[str, object] | None = None,
    outputs: Sequence[str | None] = ("Y",),
    opset: int = 18,
    **kw,
) -> Case:
    """One ``op_type`` node; its inputs are named ``x0, x1, ...`` (``None``: absent)."""
    inputs: dict[str, In | Const] = {}
    names = []
    for i, a in enumerate(args):
        if a is None:
            names.append("")
        else:
            names.append(f"x{i}")
            inputs[f"x{i}"] = a
    node_outputs = [o if o is not None else "" for o in outputs]
    node = helper.make_node(op_type, names, node_outputs, **dict(attrs or {}))
    return graph_case(case_id, [node], inputs, [o for o in outputs if o], opset=opset,
                      op_types=(op_type,), **kw)


# -- running ----------------------------------------------------------------------------------


def _ort_session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    # the op's own kernel, not a fused or pre-folded variant of it
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


# The onnxruntime these cases were checked against. Older releases (Python 3.10 gets 1.23) have
# kernels that depart from the ONNX specification (opset-23 Attention with softcap or a
# qk_matmul_output mode, ReduceSum with noop_with_empty_axes), and ONNX's reference evaluator has
# its own departures and, under older numpy, crashes. So with an older onnxruntime an output
# passes if it matches onnxruntime or the reference evaluator; with this one (or newer) it must
# match onnxruntime.
VALIDATED_ORT = (1, 31)


def ort_is_older_than_validated() -> bool:
    return tuple(int(p) for p in ort.__version__.split(".")[:2]) < VALIDATED_ORT


def _spec_outputs(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> dict | None:
    names = [o.name for o in model.graph.output]
    try:
        outs = ReferenceEvaluator(model).run(None, dict(feeds))
    except Exception:  # noqa: BLE001 - an older evaluator may fail where the runtime does not
        return None
    return dict(zip(names, (np.asarray(x) for x in outs)))


def reference_candidates(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray],
                         reference: str = ORT) -> list[dict[str, np.ndarray]]:
    """The outputs an output may match, most trusted first (see VALIDATED_ORT)."""
    names = [o.name for o in model.graph.output]
    if reference == ONNX_REF:
        spec = _spec_outputs(model, feeds)
        if spec is None:  # fail with the evaluator's own error
            ReferenceEvaluator(model).run(None, dict(feeds))
        return [spec]
    if reference != ORT:
        raise AssertionError(f"unknown reference {reference!r}")
    if not ort_is_older_than_validated():
        return [dict(zip(names, _ort_session(model).run(None, dict(feeds))))]
    found = []
    try:
        found.append(dict(zip(names, _ort_session(model).run(None, dict(feeds)))))
    except Exception:  # noqa: BLE001 - an older onnxruntime may refuse a valid model
        pass
    spec = _spec_outputs(model, feeds)
    if spec is not None:
        found.append(spec)
    assert found, "neither onnxruntime nor ONNX's reference evaluator can run this model"
    return found


@functools.cache
def expected_outputs(case: Case) -> tuple[list[dict[str, np.ndarray]], ...]:
    return tuple(reference_candidates(case.model, feeds, case.reference) for feeds in case.feeds)


def assert_close_to_one(name: str, got: np.ndarray, candidates: list[dict[str, np.ndarray]]) -> None:
    """``got`` matches the first reference, or (with an older onnxruntime) another one."""
    first_error = None
    for want in candidates:
        try:
            assert_close(name, got, np.asarray(want[name]))
            if first_error is not None:
                warnings.warn(f"{name}: onnxruntime {ort.__version__} departs from the ONNX "
                              "reference evaluator, which qlower matches", stacklevel=2)
            return
        except AssertionError as e:
            first_error = first_error or e
    raise first_error


@functools.cache
def imported_graph(case: Case) -> Graph:
    onnx.checker.check_model(case.model, full_check=True)
    # go through the wire format, as a file would
    model = onnx.load_from_string(case.model.SerializeToString())
    return import_model(model, case.id)


def stage_graph(case: Case, stage: str) -> Graph:
    g = imported_graph(case)
    if stage == "imported":
        return g
    return run_pipeline(g, STAGES[stage])


def assert_close(name: str, got: np.ndarray, want: np.ndarray) -> None:
    assert isinstance(got, np.ndarray), f"{name}: got {type(got).__name__}, not an array"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, expected {want.dtype}"
    assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
    if want.dtype.kind not in "fc":
        mismatch = np.flatnonzero(got != want)
        assert mismatch.size == 0, (
            f"{name}: {mismatch.size} of {want.size} entries differ; first at flat index "
            f"{mismatch[0]}: got {got.ravel()[mismatch[0]]}, expected {want.ravel()[mismatch[0]]}"
        )
        return
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_got, nan_want), f"{name}: NaN positions differ"
    inf_want = np.isinf(want)
    assert np.array_equal(got[inf_want], want[inf_want]), f"{name}: infinities differ"
    finite = ~(nan_want | inf_want)
    if not finite.any():
        return
    w = want[finite].astype(np.float64)
    g = got[finite].astype(np.float64)
    scale = float(np.max(np.abs(w)))
    err = float(np.max(np.abs(g - w)))
    assert err <= RTOL * scale, f"{name}: max error {err:.3g} > {RTOL} * max|value| {scale:.3g}"


def check_case(case: Case, stage: str) -> None:
    graph = stage_graph(case, stage)
    if stage == "imported":
        present = {op.name for op in graph.ops}
        for t in case.op_types:
            if t != "Constant":
                assert f"onnx.{t}" in present, f"onnx.{t} missing from the imported graph"
        for s in case.symbolic:
            assert any(isinstance(d, Sym) and s in d.symbols
                       for v in graph.inputs for d in v.type.dims), f"symbol {s} was lost"
    names = [o.name for o in case.model.graph.output]
    for feeds, candidates in zip(case.feeds, expected_outputs(case)):
        got = run_graph(graph, {k: np.array(v) for k, v in feeds.items()})
        assert list(got) == names
        for name in names:
            assert_close_to_one(name, got[name], candidates)


@functools.cache
def ort_max_opset() -> int:
    """The newest opset (up to NEWEST_OPSET) whose models this onnxruntime loads and runs."""
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    for opset in range(NEWEST_OPSET, MIN_OPSET - 1, -1):
        g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe", [x],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 10
        try:
            _ort_session(m).run(None, {"x": np.zeros(2, np.float32)})
            return opset
        except Exception:  # noqa: BLE001, S112 - an older onnxruntime refuses newer opsets
            continue
    return MIN_OPSET - 1


def every_opset(make: Callable[[int], Case], first: int = MIN_OPSET) -> list[Case]:
    """``make(opset)`` for every opset from ``first`` (at least MIN_OPSET) to NEWEST_OPSET.

    Above the newest opset onnxruntime runs, the case compares with ``onnx.reference``.
    """
    out = []
    for opset in range(max(first, MIN_OPSET), NEWEST_OPSET + 1):
        case = make(opset)
        assert str(opset) in case.id, f"{case.id}: the id of an every_opset case names its opset"
        if opset > ort_max_opset() and case.reference == ORT:
            case = dataclasses.replace(case, reference=ONNX_REF, note=(
                f"onnxruntime {ort.__version__} runs opsets up to {ort_max_opset()}"))
        out.append(case)
    return out


def case_params(cases: Sequence[Case]) -> list:
    """pytest params: every case at every stage."""
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"duplicate case ids: {sorted(dupes)}"
    return [pytest.param(c, stage, id=f"{c.id}-{stage}") for c in cases for stage in STAGE_NAMES]


def batch_feeds(make: Callable[[int], Mapping[str, np.ndarray]], sizes=(1, 3)) -> list:
    return [make(b) for b in sizes]
