"""Dense layers as fitted variational circuits (--strategy variational): the fit's reported
fidelity predicts the error the run shows; qsim runs the fitted circuit; a fit below
--min-fidelity is refused in one line."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from util import make_model

import qlower
from qlower.api import onnxruntime_outputs
from qlower.backends import run_graph
from qlower.blocks.circuits import count_resources

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def gemm(tmp_path, M, N, bias, seed=1, batch=200):
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((M, N)).astype(np.float32), "w")]
    ins = ["x", "w"]
    if bias:
        inits.append(onnx.numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b"))
        ins.append("b")
    node = H.make_node("Gemm", ins, ["y"], name="fc", transB=1)
    path = tmp_path / "v.onnx"
    onnx.save(make_model([node], [VI("x", T.FLOAT, [batch, N])], [VI("y", T.FLOAT, [batch, M])],
                         inits), path)
    x = rng.standard_normal((batch, N))
    return path, {"x": (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)}


@pytest.mark.parametrize("layers", [2, 3, 5])
def test_reported_fidelity_predicts_the_error(tmp_path, layers):
    """W alone (no bias, no offset): the fit is over the whole block, so on random unit inputs
    the relative RMS error of y is the fit's √(1 − F) (the average over directions equals the
    average over the basis); qsim runs the same circuit."""
    path, x = gemm(tmp_path, 4, 4, bias=False)
    program = qlower.compile(path, "cirq", strategy="variational", layers=layers,
                             min_fidelity=0.01, signs="none")
    (k,) = program.estimate().kernels
    assert k.method == "variational" and k.approximation["layers"] == layers
    ort = onnxruntime_outputs(path, x)["y"].astype(np.float64)
    ref = run_graph(program.graph, x)["y"].astype(np.float64)
    rms = math.sqrt(np.sum((ref - ort) ** 2) / np.sum(ort ** 2))
    want = k.approximation["error"]
    assert 0.6 * want - 1e-6 <= rms <= 1.15 * want + 1e-6, (rms, want)
    sim = program.run(x)["y"].astype(np.float64)
    assert np.max(np.abs(sim - ref)) < 1e-4 * np.max(np.abs(ort))
    (kc,) = program.kernels
    got, pred = count_resources(kc.circuit, kc.qubits), kc.resources()
    assert (got.qubits, got.cnots) == (pred.qubits, pred.cnots)


def test_a_fit_at_fidelity_one_is_the_layer_with_its_bias_and_offset(tmp_path):
    path, x = gemm(tmp_path, 2, 2, bias=True, batch=5)
    program = qlower.compile(path, "cirq", strategy="variational")
    (k,) = program.estimate().kernels
    assert k.approximation["fidelity"] >= 0.999
    ort = onnxruntime_outputs(path, x)["y"]
    sim = program.run(x)["y"]
    assert np.max(np.abs(sim - ort)) <= 3 * k.approximation["error"] * np.max(np.abs(ort)) + 1e-4
    shots = program.run(x, shots=50000, seed=1)
    assert np.max(np.abs(shots["y"] - ort) / shots.std_errors["y"]) < 5


def test_a_fit_below_min_fidelity_is_refused(tmp_path, capsys):
    from util import cli

    path, x = gemm(tmp_path, 2, 2, bias=True, batch=5)
    code, _, err = cli(capsys, "estimate", str(path), "--strategy", "variational", "--layers", "1")
    assert code == 2
    assert err.startswith(f"error: {path}: node 'fc': variational fit: fidelity 0.")
    assert err.endswith("at L = 1 is below --min-fidelity 0.999\n") and err.count("\n") == 1


def test_a_block_too_wide_to_fit_is_refused(tmp_path, capsys):
    from util import cli

    path, _ = gemm(tmp_path, 64, 64, bias=False, batch=1)
    code, _, err = cli(capsys, "estimate", str(path), "--strategy", "variational")
    assert code == 2 and "variational fit of a 64x65 block needs 8 qubits; fits are built up " \
        "to 6 here (use block-encoding)" in err
