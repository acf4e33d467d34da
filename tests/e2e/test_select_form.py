"""Dense layers whose width is a power of two: bias and sign offset on a selector qubit.

Three views agree (onnxruntime, the lowered graph's numpy semantics, qsim); the kernel costs
the block of W alone plus one qubit, a preparation one qubit wider and a tail of O(M) gates;
the predicted counts are the built circuits'; shots read it with the stated standard error;
its OpenQASM 3 gives qsim's state in Qiskit.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from util import make_model, qasm_state_error

import qlower
from qlower.api import onnxruntime_outputs
from qlower.backends import run_graph
from qlower.blocks.circuits import count_resources
from qlower.blocks.registry import block_method, plan_block
from qlower.blocks.select import select_constants, tail_resources
from qlower.passes.lower_linear import _augmented_matrix

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def gemm(tmp_path, N, M=None, bias=True, seed=0, batch=3, name="m.onnx"):
    M = M or N
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(
        (rng.standard_normal((M, N)) / np.sqrt(N)).astype(np.float32), "w")]
    ins = ["x", "w"]
    if bias:
        inits.append(onnx.numpy_helper.from_array(
            (0.5 * rng.standard_normal(M)).astype(np.float32), "b"))
        ins.append("b")
    node = H.make_node("Gemm", ins, ["y"], name="fc", transB=1)
    model = make_model([node], [VI("x", T.FLOAT, [batch, N])], [VI("y", T.FLOAT, [batch, M])],
                       inits)
    path = tmp_path / name
    onnx.save(model, path)
    x = rng.standard_normal((batch, N)).astype(np.float32)
    return path, {"x": x}


def three_way(path, inputs, rtol=1e-4, **options):
    program = qlower.compile(path, "cirq", **options)
    ref = run_graph(program.graph, inputs)
    sim = program.run(inputs)
    ort = onnxruntime_outputs(path, inputs)
    scale = float(np.max(np.abs(ort["y"])))
    assert np.max(np.abs(ref["y"] - ort["y"])) <= 2e-6 * scale
    assert np.max(np.abs(sim["y"] - ort["y"])) <= rtol * scale
    return program


def ops_of(program):
    return {op.name for op in program.graph.ops}


@pytest.mark.parametrize("method", ["auto", "fable", "svd", "dilation"])
@pytest.mark.parametrize("bias,signs", [(True, "offset"), (True, "none"), (False, "offset")])
@pytest.mark.parametrize("N,M", [(8, 8), (16, 16), (8, 4), (4, 8)])
def test_three_way_agreement(tmp_path, method, bias, signs, N, M):
    path, x = gemm(tmp_path, N, M, bias=bias, seed=N + M)
    program = three_way(path, x, method=method, signs=signs)
    names = ops_of(program)
    (kc,) = program.kernels
    if M > N and method != "fable":
        # svd and dilation pad to a square of the larger side: the extra columns fit in it
        assert "q.block.select" not in names and not kc.method.endswith("-select")
        return
    assert "q.block.select" in names and "host.augment" not in names
    assert kc.method.endswith("-select")


def test_augmented_columns_stay_where_they_are_free(tmp_path):
    # 6 inputs + the bias and offset columns fit 8: nothing to gain from the selector
    path, x = gemm(tmp_path, 6, 8)
    program = three_way(path, x, method="fable")
    names = ops_of(program)
    assert "host.augment" in names and "q.block.select" not in names


def test_compose_keeps_the_carried_columns(tmp_path):
    """Consecutive layers composed into one kernel carry 1 and t in extra rows (unchanged)."""
    rng = np.random.default_rng(2)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w0", (8, 8)), ("b0", (8,)), ("w1", (4, 8)), ("b1", (4,)))]
    nodes = [H.make_node("Gemm", ["x", "w0", "b0"], ["h"], name="fc0", transB=1),
             H.make_node("Gemm", ["h", "w1", "b1"], ["y"], name="fc1", transB=1)]
    path = tmp_path / "two.onnx"
    onnx.save(make_model(nodes, [VI("x", T.FLOAT, [2, 8])], [VI("y", T.FLOAT, [2, 4])], inits),
              path)
    x = {"x": rng.standard_normal((2, 8)).astype(np.float32)}
    program = three_way(path, x, method="fable", compose=True)
    assert "q.block.select" not in ops_of(program) and len(program.kernels) == 1


@pytest.mark.parametrize("method", ["fable", "svd", "dilation"])
def test_predicted_counts_are_the_circuits(tmp_path, method):
    path, _ = gemm(tmp_path, 8, 8)
    (kc,) = qlower.compile(path, "cirq", method=method).kernels
    got = count_resources(kc.circuit, kc.qubits)
    want = kc.resources()
    assert (got.qubits, got.cnots) == (want.qubits, want.cnots)
    W = onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0]).astype(np.float64)
    if block_method(method).counts_exact(W):
        assert got.rotations == want.rotations
    else:  # the svd entry's rotation count is a bound (its QSD's angles that vanish)
        assert got.rotations <= want.rotations
    assert got.depth <= want.depth


def _plain_cost(W, method):
    _, attrs = plan_block(W, method)
    return block_method(method).cost(W, attrs), attrs


@pytest.mark.parametrize("N", [16, 64, 256, 1024])
@pytest.mark.parametrize("bias,signs", [(True, "offset"), (True, "none"), (False, "offset")])
def test_widths_cost_the_block_of_w_plus_one_qubit_and_a_tail(tmp_path, N, bias, signs):
    """The issue's acceptance: qubits and CNOTs are W's alone plus one flag, the wider
    preparation (2^(n+1) − n − 2 CNOTs against 2^n − n − 1) and the tail."""
    method = "fable" if N >= 1024 else "svd"
    path, _ = gemm(tmp_path, N, bias=bias, batch=1)
    est = qlower.estimate(path, method=method, signs=signs)
    (k,) = est.kernels
    assert k.method == f"{method}-select"
    W = onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0]).astype(np.float64)
    plain, attrs = _plain_cost(W, method)
    c = select_constants(W, method, attrs)
    tail = tail_resources(c.kind, c.in_qubits, c.out_qubits,
                          c.base if c.kind == "singular" else None)
    n = c.in_qubits
    assert k.resources.qubits == plain.qubits + 1
    assert k.resources.cnots == plain.cnots + ((1 << (n + 1)) - n - 2) + tail.cnots
    assert tail.cnots <= 4 * N + n + 2
    # and against the augmented form it replaces ([W | b | κ1] padded to 2N columns)
    b = None
    if bias:
        b = onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[1]).astype(np.float64)
    aug = _augmented_matrix(W, b, signs == "offset")
    _, aug_attrs = plan_block(aug, method)
    aug_cnots = block_method(method).cost(aug, aug_attrs).cnots + (1 << (n + 1)) - n - 2
    assert k.resources.cnots < 0.6 * aug_cnots


def test_shot_estimates_spread_as_their_standard_error(tmp_path):
    path, x = gemm(tmp_path, 8, 8, batch=1, seed=4)
    program = qlower.compile(path, "cirq", method="fable")
    ort = onnxruntime_outputs(path, x)["y"]
    runs = [program.run(x, shots=20000, seed=s) for s in range(30)]
    est = np.stack([r["y"] for r in runs]).astype(np.float64)
    se = np.stack([r.std_errors["y"] for r in runs])
    spread = est.std(axis=0, ddof=1)
    ratio = spread / se.mean(axis=0)
    assert np.all((ratio > 0.6) & (ratio < 1.5)), ratio
    assert np.median(ratio) == pytest.approx(1.0, abs=0.25)
    # unbiased to within the stated error of the mean of 30 runs
    assert np.all(np.abs(est.mean(axis=0) - ort) < 4 * se.mean(axis=0) / np.sqrt(30) + 2e-3)


def test_estimate_success_probability_is_qsims(tmp_path):
    """The estimate's p (the average over unit inputs) against qsim's success probability
    averaged over random unit inputs."""
    path, _ = gemm(tmp_path, 8, 8, batch=64, seed=5)
    program = qlower.compile(path, "cirq", method="svd")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    run = program.run({"x": x.astype(np.float32)})
    got = run.kernels[0].success_probability
    want = program.estimate().kernels[0].success_probability
    assert got == pytest.approx(want, rel=0.05)


@pytest.mark.parametrize("method", ["fable", "svd"])
def test_qasm_gives_qsims_state_in_qiskit(tmp_path, method):
    path, x = gemm(tmp_path, 8, 8, seed=6)
    program = qlower.compile(path, "qasm3", method=method)
    program.write(tmp_path / "out")
    (kc,) = program.kernels
    text = (tmp_path / "out" / f"{kc.name}.qasm").read_text()
    rows = program.bind(x)[kc.name]
    err, count = qasm_state_error(text, kc, rows[:2])
    assert count == len(kc.symbols) and err < 1e-5
