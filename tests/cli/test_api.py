"""The Python API: load, to_stage, run, check_with_onnxruntime, load_inputs."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from util import mlp_model

import qlower
from qlower.api import compare_output, load_inputs
from qlower.errors import QlowerError
from qlower.ir import print_graph
from qlower.passes import STAGES, PassFailure, PipelineError, parse_pipeline

vi = h.make_tensor_value_info


@pytest.fixture
def mlp(tmp_path):
    """Path of y = relu(x @ w1.T + b1) @ w2.T + b2, x: [batch, 5]."""
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    return path


def numpy_mlp(path, x):
    w = {t.name: nh.to_array(t) for t in onnx.load(path).graph.initializer}
    return np.maximum(x @ w["w1"].T + w["b1"], 0) @ w["w2"].T + w["b2"]


X = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)


def test_exports_and_version():
    assert qlower.__version__ == metadata.version("qlower")
    assert qlower.load is qlower.api.load and qlower.to_stage is qlower.api.to_stage
    assert {"load", "to_stage", "run", "check_with_onnxruntime", "CheckReport"} <= set(qlower.__all__)
    with pytest.raises(AttributeError):
        qlower.no_such_name  # noqa: B018


def test_load_onnx_and_ir_text(mlp, tmp_path):
    g = qlower.load(mlp)
    assert [op.name for op in g.ops] == ["onnx.Gemm", "onnx.Relu", "onnx.Gemm"]
    (tmp_path / "d.qir").write_text(print_graph(g, inline_limit=1000))
    assert qlower.load(tmp_path / "d.qir") == g
    with pytest.raises(QlowerError, match="no such model file"):
        qlower.load(tmp_path / "nope.onnx")


def test_to_stage(mlp):
    g = qlower.load(mlp)
    assert qlower.to_stage(g, "imported") == g
    canonical = qlower.to_stage(g)
    assert canonical == qlower.to_stage(g, "canonical")
    assert "onnx.Gemm" not in {op.name for op in canonical.ops}
    assert qlower.to_stage(g, "canonical", pipeline="") == g  # the pipeline overrides the stage
    with pytest.raises(QlowerError, match=r"^unknown stage 'bogus' \(stages: imported, canonical, lowered\)$"):
        qlower.to_stage(g, "bogus")
    with pytest.raises(PipelineError, match="unknown pass 'nosuch'"):
        qlower.to_stage(g, pipeline="nosuch")


def test_to_stage_dumps(mlp):
    seen = []
    final = qlower.to_stage(qlower.load(mlp), dump_after=["all"],
                            on_dump=lambda p, g: seen.append((p.name, g)))
    assert [n for n, _ in seen] == [p.name for p in parse_pipeline(STAGES["canonical"])]
    assert seen[-1][1] == final
    seen.clear()
    qlower.to_stage(qlower.load(mlp), dump_after=["dce"], on_dump=lambda p, g: seen.append(p.name))
    assert seen == ["dce"]


def test_to_stage_verifies_each_pass(mlp, monkeypatch):
    from qlower.passes import registered_passes

    monkeypatch.setattr(registered_passes()["dce"], "apply", lambda self, g: g.with_(outputs=("zz",)))
    g = qlower.load(mlp)
    with pytest.raises(PassFailure, match="^pass 'dce' produced an invalid graph"):
        qlower.to_stage(g, pipeline="dce")
    assert qlower.to_stage(g, pipeline="dce", verify_each=False).outputs == ("zz",)


@pytest.mark.parametrize("stage", list(STAGES))
def test_run(mlp, stage):
    out = qlower.run(qlower.to_stage(qlower.load(mlp), stage), {"x": X})
    assert list(out) == ["y"] and out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], numpy_mlp(mlp, X), rtol=1e-5, atol=1e-6)
    with pytest.raises(QlowerError, match=r"^unknown backend 'qsim' \(backends: reference\)$"):
        qlower.run(qlower.load(mlp), {"x": X}, backend="qsim")


def test_check_with_onnxruntime(mlp):
    out = qlower.run(qlower.to_stage(qlower.load(mlp)), {"x": X})
    report = qlower.check_with_onnxruntime(mlp, {"x": X}, out)
    assert report.ok and list(report.outputs) == ["y"]
    c = report.outputs["y"]
    assert c.shape_ok and c.dtype_ok and c.max_abs_error <= 1e-5 * np.abs(out["y"]).max()
    off = {"y": out["y"] + np.float32(1e-3)}
    bad = qlower.check_with_onnxruntime(mlp, {"x": X}, off).outputs["y"]
    assert not bad.ok and bad.max_abs_error == pytest.approx(1e-3, rel=1e-2)
    assert bad.max_rel_error == pytest.approx(bad.max_abs_error / np.abs(out["y"]).max(), rel=1e-2)
    loose = qlower.check_with_onnxruntime(mlp, {"x": X}, off, rtol=0.0, atol=2e-3)
    assert loose.ok


def test_check_reports_shape_and_dtype(mlp):
    shape = qlower.check_with_onnxruntime(mlp, {"x": X}, {"y": np.zeros((4, 4), np.float32)})
    c = shape.outputs["y"]
    assert not shape.ok and not c.shape_ok and (c.shape, c.expected_shape) == ((4, 4), (4, 3))
    ref = qlower.run(qlower.load(mlp), {"x": X})["y"]
    dtype = qlower.check_with_onnxruntime(mlp, {"x": X}, {"y": ref.astype(np.float64)})
    c = dtype.outputs["y"]
    assert not c.ok and not c.dtype_ok and c.shape_ok and (c.dtype, c.expected_dtype) == ("float64", "float32")
    with pytest.raises(QlowerError, match="^output 'y' is missing from the qlower results$"):
        qlower.check_with_onnxruntime(mlp, {"x": X}, {})


def test_check_of_a_corrupt_file_is_one_line(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(QlowerError, match=r"bad.onnx: not an ONNX model \(the protobuf is "
                                          r"corrupt or truncated\)$"):
        qlower.check_with_onnxruntime(tmp_path / "bad.onnx", {}, {})


def test_compare_output_rules():
    ints = compare_output("i", np.array([1, 2, 3]), np.array([1, 2, 4]), rtol=1.0, atol=10.0)
    assert not ints.ok and ints.max_abs_error == 1.0  # integers must match exactly
    assert compare_output("b", np.array([True]), np.array([True]), 0, 0).ok
    zeros = compare_output("z", np.zeros(3, np.float32), np.zeros(3, np.float32), 0, 0)
    assert zeros.ok and zeros.max_rel_error == 0.0
    off = compare_output("z", np.ones(3, np.float32), np.zeros(3, np.float32), 0.1, 0)
    assert not off.ok and off.max_rel_error == np.inf
    nan = np.array([np.nan, 1.0, np.inf], np.float32)
    assert compare_output("n", nan, nan.copy(), 0, 0).ok
    moved = compare_output("n", nan, np.array([1.0, np.nan, np.inf], np.float32), 1, 1)
    assert not moved.ok and moved.max_abs_error == np.inf
    rel = compare_output("r", np.array([2.0, 4.0]), np.array([2.0, 4.4]), 0.1, 0)
    assert rel.ok and rel.max_rel_error == pytest.approx(0.4 / 4.4)
    assert compare_output("e", np.zeros((0, 3)), np.zeros((0, 3)), 0, 0).ok


def test_load_inputs(tmp_path):
    np.savez(tmp_path / "in.npz", x=X, t=np.arange(3))
    arrays = load_inputs(tmp_path / "in.npz")
    assert sorted(arrays) == ["t", "x"] and np.array_equal(arrays["x"], X)
    with pytest.raises(QlowerError, match="no such inputs file"):
        load_inputs(tmp_path / "nope.npz")


def test_check_refuses_external_data_outside_the_folder(tmp_path, mlp):
    """qlower refuses it itself: older onnxruntime releases would read the file."""
    m = onnx.load(mlp)
    t = m.graph.initializer[0]
    (tmp_path / "secret.bin").write_bytes(nh.to_array(t).tobytes())
    t.ClearField("raw_data")
    t.data_location = T.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    (tmp_path / "sub").mkdir()
    onnx.save(m, tmp_path / "sub" / "m.onnx")
    with pytest.raises(QlowerError, match="m.onnx: external data of initializer 'w1' points "
                                          "outside the model's folder$"):
        qlower.check_with_onnxruntime(tmp_path / "sub" / "m.onnx", {"x": X}, {})
