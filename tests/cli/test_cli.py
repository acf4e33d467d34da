"""The ``qlower`` command line on real models: inspect in every format, dumps, round trips, run.

The torch exports in tests/models are used alongside small models built
with onnx.helper cover the same ground everywhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from util import cli, make_model, mlp_model

import qlower
from qlower.ir import parse, verify_graph
from qlower.passes import STAGES, parse_pipeline, registered_passes

vi = h.make_tensor_value_info
FE = Path(__file__).resolve().parents[1] / "models"
FE_MODELS = [f"mlp_mse_opset{o}" for o in (18, 23)] + [
    f"torch2.15/{m}_dynamo_opset{o}" for m in ("mha", "encoder") for o in (18, 23)]
STAGE_NAMES = list(STAGES)
HEADER = re.compile(r"^// ----- after (\S+) -----\n", re.M)



def ok_out(capsys, *argv) -> str:
    """stdout of a command that must succeed silently."""
    status, out, err = cli(capsys, *argv)
    assert (status, err) == (0, ""), err
    return out


# -- models ----------------------------------------------------------------------------------


def softmax_model() -> onnx.ModelProto:
    return make_model([h.make_node("Softmax", ["x"], ["y"], name="sm", axis=-1)],
                      [vi("x", T.FLOAT, ["batch", 16])], [vi("y", T.FLOAT, ["batch", 16])])


def layer_norm_model() -> onnx.ModelProto:
    inits = [nh.from_array(np.linspace(0.5, 1.5, 16).astype(np.float32), "g"),
             nh.from_array(np.linspace(-1, 1, 16).astype(np.float32), "b")]
    return make_model([h.make_node("LayerNormalization", ["x", "g", "b"], ["y"], name="ln")],
                      [vi("x", T.FLOAT, ["batch", 16])], [vi("y", T.FLOAT, ["batch", 16])], inits)


def nonfinite_model() -> onnx.ModelProto:
    """y = sqrt(x) (NaN for x < 0), z = 1 / x (Inf for x = 0)."""
    one = nh.from_array(np.array(1.0, np.float32), "one")
    return make_model([h.make_node("Sqrt", ["x"], ["y"], name="sqrt"),
                       h.make_node("Div", ["one", "x"], ["z"], name="inv")],
                      [vi("x", T.FLOAT, [3])], [vi("y", T.FLOAT, [3]), vi("z", T.FLOAT, [3])],
                      [one])


BUILT = {"mlp": mlp_model, "softmax": softmax_model, "layer_norm": layer_norm_model}


def random_inputs(graph, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for v in graph.inputs:
        shape = [d if isinstance(d, int) else batch for d in v.type.dims]
        out[v.name] = (rng.standard_normal(shape) * 2).astype(v.type.dtype.numpy)
    return out


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def model_params():
    fe = [pytest.param(FE / f"{m}.onnx", id=m) for m in FE_MODELS]
    return fe + [pytest.param(name, id=name) for name in BUILT]


@pytest.fixture(params=model_params())
def model(request, tmp_path) -> Path:
    """Path of an ONNX model, with an ``inputs.npz`` for it beside (in the working folder)."""
    if isinstance(request.param, Path):
        path = request.param
    else:
        path = tmp_path / f"{request.param}.onnx"
        onnx.save(BUILT[request.param](), path)
    np.savez(tmp_path / "inputs.npz", **random_inputs(qlower.load(path)))
    return path


# -- inspect ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_inspect_formats(work, capsys, model, stage):
    text = ok_out(capsys, "inspect", model, "--stage", stage)
    graph = parse(text)
    verify_graph(graph)
    doc = json.loads(ok_out(capsys, "inspect", model, "--stage", stage, "--format", "json"))
    assert [o["op"] for o in doc["ops"]] == [op.name for op in graph.ops]
    assert [v["name"] for v in doc["inputs"]] == list(graph.input_names)
    dot = ok_out(capsys, "inspect", model, "--stage", stage, "--format", "dot")
    assert dot.startswith("digraph ") and dot.count(" [label=") >= len(graph.ops)


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_inspect_of_a_dump_prints_the_same_dump(work, capsys, model, stage):
    a = ok_out(capsys, "inspect", model, "--stage", stage)
    (work / "a.qir").write_text(a)
    assert ok_out(capsys, "inspect", "a.qir", "--stage", stage) == a  # weights not loaded
    ok_out(capsys, "inspect", model, "--stage", stage, "-o", "w.qir", "--save-weights")
    ok_out(capsys, "inspect", "w.qir", "--stage", stage, "-o", "w2.qir", "--save-weights")
    assert (work / "w.qir").read_bytes() == (work / "w2.qir").read_bytes() == a.encode()
    assert (work / "w.npz").read_bytes() == (work / "w2.npz").read_bytes()


def test_inspect_of_a_dump_defaults_to_canonical(work, capsys, model):
    canonical = ok_out(capsys, "inspect", model)
    ok_out(capsys, "inspect", model, "--stage", "imported", "-o", "imp.qir", "--save-weights")
    assert ok_out(capsys, "inspect", "imp.qir") == canonical
    assert ok_out(capsys, "inspect", "imp.qir", "--stage", "imported") == (work / "imp.qir").read_text()


def test_dump_after_all(work, capsys, model):
    out = ok_out(capsys, "inspect", model, "--dump-after", "all")
    names = HEADER.findall(out)
    assert names == [p.name for p in parse_pipeline(STAGES["canonical"])]
    chunks = HEADER.split(out)[1:]
    for text in chunks[1::2]:
        verify_graph(parse(text))
    assert chunks[-1] == ok_out(capsys, "inspect", model)  # the last dump is the final graph
    assert out.startswith("// ----- after ")


def test_dump_after_named_passes_to_file(work, capsys):
    onnx.save(mlp_model(), "m.onnx")
    ok_out(capsys, "inspect", "m.onnx", "--dump-after", "dce", "--dump-after", "fold-constants",
           "-o", "d.qir", "--save-weights")
    text = (work / "d.qir").read_text()
    assert HEADER.findall(text) == ["fold-constants", "fold-constants", "dce"]
    weights = dict(np.load(work / "d.npz"))
    for chunk in HEADER.split(text)[2::2]:
        verify_graph(parse(chunk, weights))


def test_inline_limit(work, capsys):
    onnx.save(mlp_model(), "m.onnx")
    refs = ok_out(capsys, "inspect", "m.onnx", "--inline-limit", "0").count("ref<")
    assert refs == 4
    assert "ref<" not in ok_out(capsys, "inspect", "m.onnx", "--inline-limit", "100")


def test_pipeline_overrides_stage(work, capsys):
    onnx.save(mlp_model(), "m.onnx")
    assert ok_out(capsys, "inspect", "m.onnx", "--pipeline", "", "--stage", "canonical") == \
        ok_out(capsys, "inspect", "m.onnx", "--stage", "imported")
    assert "onnx.Gemm" not in ok_out(capsys, "inspect", "m.onnx", "--pipeline", "fuse-linear")


# -- run -------------------------------------------------------------------------------------


def test_saved_dump_runs_like_the_model(work, capsys, model):
    ok_out(capsys, "inspect", model, "-o", "a.qir", "--save-weights")
    expected = ok_out(capsys, "run", model, "--inputs", "inputs.npz")
    assert ok_out(capsys, "run", "a.qir", "--inputs", "inputs.npz") == expected
    (work / "a.npz").rename(work / "elsewhere.npz")
    assert ok_out(capsys, "run", "a.qir", "--inputs", "inputs.npz",
                  "--weights", "elsewhere.npz") == expected


def test_run_check_passes(work, capsys, model):
    out = ok_out(capsys, "run", model, "--inputs", "inputs.npz", "--check")
    assert "check against onnxruntime (rtol 1e-05, atol 0.0):" in out
    assert out.rstrip().endswith(": ok") and "MISMATCH" not in out


@pytest.mark.parametrize("build", [softmax_model, layer_norm_model], ids=["softmax", "layer_norm"])
def test_run_check_fails_beyond_tolerance(work, capsys, build):
    onnx.save(build(), "m.onnx")
    np.savez("in.npz", x=(np.random.default_rng(0).standard_normal((4, 16)) * 3).astype(np.float32))
    assert cli(capsys, "run", "m.onnx", "--inputs", "in.npz", "--check")[0] == 0
    status, out, err = cli(capsys, "run", "m.onnx", "--inputs", "in.npz", "--check", "--rtol", "0")
    assert status == 1 and out.rstrip().endswith(": MISMATCH")
    assert err == "check failed: 1 of 1 outputs differ from onnxruntime beyond rtol 0.0\n"


def test_run_prints_every_element_at_full_precision(work, capsys):
    onnx.save(softmax_model(), "m.onnx")
    x = np.random.default_rng(3).standard_normal((100, 16)).astype(np.float32)
    np.savez("in.npz", x=x)
    out = ok_out(capsys, "run", "m.onnx", "--inputs", "in.npz")
    head, body = out.split("\n", 1)
    assert head == "output y: shape [100, 16], dtype float32"
    values = np.array(re.findall(r"[-+]?\d[\d.e+-]*", body), dtype=np.float32)
    expected = qlower.run(qlower.load("m.onnx"), {"x": x})["y"]
    assert "..." not in body and np.array_equal(values, expected.ravel())


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity literals (they are not JSON)."""
    def refuse(name):
        raise ValueError(f"invalid JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_run_json(work, capsys):
    onnx.save(mlp_model(), "m.onnx")
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    np.savez("in.npz", x=x)
    doc = strict_json(ok_out(capsys, "run", "m.onnx", "--inputs", "in.npz", "--json", "--check"))
    assert sorted(doc) == ["backend", "check", "outputs", "stage"]
    assert (doc["backend"], doc["stage"]) == ("reference", "canonical")
    expected = qlower.run(qlower.load("m.onnx"), {"x": x})["y"]
    assert np.array_equal(np.array(doc["outputs"]["y"], dtype=np.float32), expected)
    assert sorted(doc["check"]["y"]) == ["max_abs_error", "max_rel_error", "ok"]
    assert doc["check"]["y"]["ok"] is True
    doc = strict_json(ok_out(capsys, "run", "m.onnx", "--inputs", "in.npz", "--json",
                             "--pipeline", "fold-constants"))
    assert (doc["stage"], doc["pipeline"], "check" in doc) == (None, "fold-constants", False)


def test_run_json_non_finite(work, capsys):
    onnx.save(nonfinite_model(), "m.onnx")
    np.savez("in.npz", x=np.array([-1.0, 0.0, 4.0], np.float32))
    doc = strict_json(ok_out(capsys, "run", "m.onnx", "--inputs", "in.npz", "--json"))
    assert doc["outputs"] == {"y": ["NaN", 0.0, 2.0], "z": [-1.0, "Infinity", 0.25]}
    out = ok_out(capsys, "run", "m.onnx", "--inputs", "in.npz", "--check")
    assert out.count(": ok") == 2  # NaN and Inf where onnxruntime has them


def test_run_stages_agree(work, capsys, model):
    a = ok_out(capsys, "run", model, "--inputs", "inputs.npz", "--stage", "imported", "--json")
    b = ok_out(capsys, "run", model, "--inputs", "inputs.npz", "--json")
    da, db = strict_json(a), strict_json(b)
    for name, value in da["outputs"].items():
        np.testing.assert_allclose(np.array(db["outputs"][name]), np.array(value), rtol=1e-5,
                                   atol=1e-6)


# -- passes, version, determinism ------------------------------------------------------------


def test_passes_lists_passes_and_stages(work, capsys):
    out = ok_out(capsys, "passes")
    assert out.startswith("passes:\n") and "\nstages:\n" in out
    for name in registered_passes():
        assert re.search(rf"^  {re.escape(name)}[{{ ]", out, re.M), name
    assert re.search(r"^  imported\s+\(no passes\)$", out, re.M)
    assert re.search(rf"^  canonical\s+{re.escape(STAGES['canonical'])}$", out, re.M)


def run_process(*argv: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlower", *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)


def test_version_from_python_m():
    proc = run_process("--version")
    assert (proc.returncode, proc.stdout) == (0, f"qlower {qlower.__version__}\n")


def test_console_script():
    script = Path(sys.executable).parent / "qlower"
    if not script.exists():
        pytest.skip("the qlower console script is not installed next to this Python")
    proc = subprocess.run([script, "passes"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("passes:\n")


DETERMINISM = """
from qlower.cli import main
for fmt in ("text", "json", "dot"):
    assert main(["inspect", "m.onnx", "--format", fmt, "-o", f"m.{fmt}", "--save-weights"]) == 0
assert main(["inspect", "m.onnx", "--dump-after", "all", "-o", "dumps.qir"]) == 0
import sys
sys.stdout = open("run.json", "w")
assert main(["run", "m.text", "--inputs", "in.npz", "--json"]) == 0
"""


def test_outputs_are_byte_identical_across_processes(tmp_path):
    files = {}
    for seed in ("1", "2"):
        d = tmp_path / seed
        d.mkdir()
        onnx.save(layer_norm_model(), d / "m.onnx")
        np.savez(d / "in.npz", x=np.linspace(-2, 2, 48, dtype=np.float32).reshape(3, 16))
        proc = subprocess.run([sys.executable, "-c", DETERMINISM], cwd=d, capture_output=True,
                              text=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=300)
        assert proc.returncode == 0, proc.stderr
        files[seed] = {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.suffix != ".onnx"}
    assert sorted(files["1"]) == ["dumps.qir", "in.npz", "m.dot", "m.json", "m.npz", "m.text",
                                  "run.json"]
    assert files["1"] == files["2"]
