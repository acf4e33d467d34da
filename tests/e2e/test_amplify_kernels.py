"""Amplified block-encoded kernels end to end (``lower-linear --amplify fixed-point``): qsim and
the reference semantics against onnxruntime, exact and with shots; success probabilities and
gate counts against the predictions; OpenQASM 3 through openqasm3 and Qiskit."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from util import cli, make_model, qasm_state_error

import qlower
from qlower.api import check_with_onnxruntime
from qlower.blocks import amplify as am
from qlower.blocks.amplify import fixed_point_success
from qlower.kernel_costs import kernel_resources

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
N = 4


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((N, N)).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    m = make_model([H.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)],
                   [VI("x", T.FLOAT, ["batch", N])], [VI("y", T.FLOAT, None)],
                   [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")])
    path = tmp_path_factory.mktemp("amp") / "fc.onnx"
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def program(model_path):
    return qlower.compile(model_path, "cirq", method="fable", amplify="fixed-point")


X = np.random.default_rng(1).standard_normal((4, N)).astype(np.float32)


def _success_before(program, x):
    """p(x) = ‖W‴x″‖²/(α²‖x″‖²) from the lowered graph's constants (numpy)."""
    g = program.graph
    blk = next(op for op in g.ops if op.name.startswith("q.block."))
    off = next(op for op in g.ops if op.name == "host.offset")
    W3 = np.asarray(g.dense(blk.operand(1)).array, np.float64)
    xa = np.concatenate([x, np.ones((len(x), 1))], 1)
    xs = np.concatenate([xa, off.attr("bound") * np.linalg.norm(xa, axis=1, keepdims=True)], 1)
    return np.sum((xs @ W3.T) ** 2, 1) / (blk.attr("alpha") ** 2 * np.sum(xs ** 2, 1))


def test_amplified_kernel_exact_on_qsim_and_reference(model_path, program):
    out = program.run({"x": X})
    assert check_with_onnxruntime(model_path, {"x": X}, out, rtol=1e-4).ok
    ref = program.run({"x": X}, backend="reference")
    assert check_with_onnxruntime(model_path, {"x": X}, ref, rtol=1e-5).ok
    # success: qsim's mean equals P_L(p(x)) averaged over the rows, and is >= 1 - delta^2
    amp = next(op for op in program.graph.ops if op.name == "q.amplify")
    L = 2 * len(amp.attr("phases")) // 2 + 1
    p = _success_before(program, X)
    assert np.all(p >= amp.attr("bound"))
    pred = float(np.mean(fixed_point_success(p, L, 0.5)))
    assert out.kernels[0].success_probability == pytest.approx(pred, abs=1e-5)
    assert out.kernels[0].success_probability >= 0.75
    assert np.mean(p) < 0.1  # what it was before


def test_amplified_kernel_with_shots_and_its_standard_errors(model_path, program):
    exact = program.run({"x": X})["y"]
    est = program.run({"x": X}, shots=100_000, seed=2)
    assert check_with_onnxruntime(model_path, {"x": X}, est, rtol=1e-4,
                                  std_errors=est.std_errors).ok
    # the delta-method errors predict the spread of repeated shot runs (within 20 %)
    runs = np.stack([program.run({"x": X}, shots=100_000, seed=s)["y"] for s in range(12)])
    spread = runs.std(axis=0, ddof=1)
    ratio = np.median(spread / est.std_errors["y"])
    assert 0.8 < ratio < 1.2
    assert np.max(np.abs(runs.mean(0) - exact) / (spread / math.sqrt(12))) < 5


def test_estimate_and_gate_count_of_the_built_kernel(program):
    kc = program.kernels[0]
    est = program.estimate().kernels[0].as_dict()
    a = est["amplification"]
    amp = next(op for op in kc.kernel.ops if op.name == "q.amplify")
    rounds = len(amp.attr("phases")) // 2
    assert a["kind"] == "fixed-point" and a["queries"] == 2 * rounds + 1 == a["depth_factor"]
    # exact operation count: (2l + 1)·|A| + l·((2f + 1) + (2m + 1)), A = preparation + block
    s = amp.result().type
    k = kc.kernel.ops.index(amp)
    base_ops = len(kc.ops) - rounds * (am.reflection_count(s.flags) + am.reflection_count(s.qubits))
    assert base_ops % (2 * rounds + 1) == 0
    u_rows = base_ops // (2 * rounds + 1)
    assert len(kc.ops) == am.amplified_count(u_rows, rounds, s.flags, s.qubits)
    assert len(list(kc.circuit.all_operations())) == len(kc.ops)
    # the resources: L copies of A's plus the reflections; the row states them
    from qlower.passes.partition import Kernel

    base = kernel_resources(program.graph, Kernel("a", kc.kernel.ops[:k] + kc.kernel.ops[-1:]))
    want = am.amplified_resources(base, rounds, s.flags, s.qubits)
    assert (est["cnots"], est["depth"], est["rotations"]) == (want.cnots, want.depth,
                                                              want.rotations)
    assert kc.resources() == program.estimate().kernels[0].resources
    assert est["success_probability"] == a["success_probability"] >= 0.75


def test_qasm3_parses_loads_in_qiskit_and_has_qsims_state(model_path, program, tmp_path):
    qlower.compile(model_path, "qasm3", method="fable", amplify="fixed-point").write(tmp_path / "q")
    text = (tmp_path / "q" / "k0.qasm").read_text()
    assert "ctrl(" in text  # the reflections: phases controlled by every other qubit
    kc = program.kernels[0]
    rows = program.bind({"x": X[:1]})[kc.name]
    worst, n_params = qasm_state_error(text, kc, rows)
    assert n_params == len(kc.symbols) and worst < 1e-4


def test_qsvt_amplified_kernel_exact_on_qsim(model_path):
    program = qlower.compile(model_path, "cirq", method="fable", amplify="qsvt")
    out = program.run({"x": X})
    assert check_with_onnxruntime(model_path, {"x": X}, out, rtol=1e-4).ok
    amp = next(op for op in program.graph.ops if op.name == "q.amplify")
    rounds = np.reshape(amp.attr("phases"), (-1, 2))
    pred = float(np.mean(am.amplified_success(rounds, _success_before(program, X))))
    assert out.kernels[0].success_probability == pytest.approx(pred, abs=1e-5)
    a = program.estimate().kernels[0].amplification
    assert a["kind"] == "qsvt" and a["queries"] == 2 * len(rounds) + 1


def test_amplify_refuses_signs_none(model_path, capsys):
    rc, out, err = cli(capsys, "estimate", str(model_path), "--amplify", "fixed-point",
                       "--signs", "none")
    assert rc != 0
    assert err.strip().splitlines() == [
        "error: lower-linear: --amplify reads outputs against reference rows of the offset "
        "column; it needs --signs offset"]
