"""Residual adds and losses as kernels: q-op semantics, qsim and onnxruntime agree; a shot
run's loss lands within four of its (analytic) standard errors, which follow LOWERINGS §5."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_quantum_pipeline import save, three_way
from util import make_model, qasm_state_error

import qlower
from qlower.errors import QlowerError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def residual_mse_model(shape, seed=0, reduction="ReduceMean"):
    """a = x W; y = a + x (residual); loss = mean((y - t)^2)."""
    d = shape[-1]
    W = np.random.default_rng(seed).standard_normal((d, d)).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "W"], ["a"], name="mm"),
             H.make_node("Add", ["a", "x"], ["y"], name="res"),
             H.make_node("Sub", ["y", "t"], ["e"], name="sub"),
             H.make_node("Mul", ["e", "e"], ["e2"], name="sq"),
             H.make_node(reduction, ["e2"], ["loss"], name="mse", keepdims=0)]
    return make_model(nodes, [VI("x", T.FLOAT, list(shape)), VI("t", T.FLOAT, list(shape))],
                      [VI("loss", T.FLOAT, []), VI("y", T.FLOAT, list(shape))],
                      [onnx.numpy_helper.from_array(W, "W")])


def ce_model(n, c, d=4, seed=1, weight=False, ignore=None, reduction="mean"):
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((d, c)).astype(np.float32), "W")]
    ins = ["z", "y"]
    if weight:
        inits.append(onnx.numpy_helper.from_array(rng.uniform(0.5, 2, c).astype(np.float32), "w"))
        ins.append("w")
    attrs = {"reduction": reduction}
    if ignore is not None:
        attrs["ignore_index"] = ignore
    nodes = [H.make_node("MatMul", ["x", "W"], ["z"], name="mm"),
             H.make_node("SoftmaxCrossEntropyLoss", ins, ["loss"], name="ce", **attrs)]
    return make_model(nodes, [VI("x", T.FLOAT, [n, d]), VI("y", T.INT64, [n])],
                      [VI("loss", T.FLOAT, None)], inits)


QUANTUM = {"nn.add": "quantum", "nn.mse_loss": "quantum", "nn.cross_entropy": "quantum"}


@pytest.mark.parametrize("shape", [(1, 3), (4, 5), (2, 3, 4), (3, 8)])
def test_residual_and_mse_three_way(tmp_path, shape):
    path = save(residual_mse_model(shape), tmp_path)
    rng = np.random.default_rng(len(shape))
    feeds = {"x": rng.standard_normal(shape).astype(np.float32),
             "t": rng.standard_normal(shape).astype(np.float32)}
    program = three_way(path, feeds, overrides=QUANTUM)
    assert [kc.method for kc in program.kernels][-2:] == ["combine", "combine"]
    assert [kc.readout for kc in program.kernels][-2:] == ["amplitudes", "success"]


def test_mse_sum_reduction(tmp_path):
    path = save(residual_mse_model((3, 4), reduction="ReduceSum"), tmp_path)
    rng = np.random.default_rng(2)
    feeds = {"x": rng.standard_normal((3, 4)).astype(np.float32),
             "t": rng.standard_normal((3, 4)).astype(np.float32)}
    three_way(path, feeds, overrides={"nn.mse_loss": "quantum"})


def test_mse_shots_standard_error_is_the_formula(tmp_path):
    path = save(residual_mse_model((4, 5)), tmp_path)
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    program = qlower.compile(path, "cirq", overrides={"nn.mse_loss": "quantum",
                                                      "mm": "host"})
    exact = program.run({"x": x, "t": t})
    S = 20_000
    est = program.run({"x": x, "t": t}, shots=S, seed=9)
    se = float(est.std_errors["loss"])
    assert abs(float(est["loss"]) - float(exact["loss"])) <= 4 * se
    # Var = Σ_rows (α²‖u‖²/E)² p(1 − p)/S with p = ‖y − t‖²/(α²‖u‖²), α² = 2, E = 20
    y = (x @ onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0]) + x).astype(np.float64)
    u2 = np.sum(y ** 2, axis=1) + np.sum(t.astype(np.float64) ** 2, axis=1)
    p = np.sum((y - t) ** 2, axis=1) / (2 * u2)
    want = np.sqrt(np.sum((2 * u2 / 20) ** 2 * p * (1 - p) / S))
    assert np.isclose(se, want, rtol=0.05), (se, want)
    # and it is the spread of repeated runs (within 25 % from 40 seeds)
    runs = [float(program.run({"x": x, "t": t}, shots=S, seed=100 + s)["loss"]) for s in range(40)]
    assert 0.75 * want <= np.std(runs, ddof=1) <= 1.25 * want


def test_residual_shots_within_four_standard_errors(tmp_path):
    path = save(residual_mse_model((3, 4)), tmp_path)
    rng = np.random.default_rng(4)
    feeds = {"x": rng.standard_normal((3, 4)).astype(np.float32),
             "t": rng.standard_normal((3, 4)).astype(np.float32)}
    program = qlower.compile(path, "cirq", overrides={"nn.add": "quantum", "mm": "host"})
    exact = program.run(feeds)["y"]
    est = program.run(feeds, shots=50_000, seed=2)
    assert np.all(np.abs(est["y"] - exact) <= 4 * est.std_errors["y"])


@pytest.mark.parametrize("kw", [{}, {"weight": True}, {"ignore": 2}, {"reduction": "sum"},
                                {"reduction": "none"}, {"weight": True, "ignore": 0}])
def test_cross_entropy_three_way(tmp_path, kw):
    path = save(ce_model(6, 5, **kw), tmp_path)
    rng = np.random.default_rng(5)
    feeds = {"x": rng.standard_normal((6, 4)).astype(np.float32),
             "y": rng.integers(0, 5, size=6).astype(np.int64)}
    program = three_way(path, feeds, overrides={"nn.cross_entropy": "quantum"})
    assert program.kernels[-1].readout == "probabilities"


def test_cross_entropy_shots(tmp_path):
    path = save(ce_model(8, 3), tmp_path)
    rng = np.random.default_rng(6)
    feeds = {"x": rng.standard_normal((8, 4)).astype(np.float32),
             "y": rng.integers(0, 3, size=8).astype(np.int64)}
    program = qlower.compile(path, "cirq", overrides={"nn.cross_entropy": "quantum",
                                                      "mm": "host"})
    exact = float(program.run(feeds)["loss"])
    est = program.run(feeds, shots=20_000, seed=3)
    se = float(est.std_errors["loss"])
    assert abs(float(est["loss"]) - exact) <= 4 * se
    # the delta-method error, from the exact probabilities: sqrt(Σ (1 - q)/(q n0)) / N
    z = feeds["x"] @ onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0])
    e = np.exp(z - z.max(1, keepdims=True))
    q = (e / e.sum(1, keepdims=True))[np.arange(8), feeds["y"]]
    n0 = 20_000 * e.sum(1) / 4  # P(flag = 0) = Σ e^(s - max)/2^ℓ
    want = np.sqrt(np.sum((1 - q) / (q * n0))) / 8
    assert np.isclose(se, want, rtol=0.1), (se, want)


def test_nll_of_a_plain_input_is_refused(tmp_path):
    model = make_model([H.make_node("NegativeLogLikelihoodLoss", ["x", "y"], ["loss"], name="nll")],
                       [VI("x", T.FLOAT, [3, 4]), VI("y", T.INT64, [3])], [VI("loss", T.FLOAT, None)])
    with pytest.raises(QlowerError) as e:
        qlower.compile(save(model, tmp_path), "cirq", overrides={"nll": "quantum"})
    assert "node 'nll' (nn.nll_loss): strategy 'quantum' does not apply: its input is not a " \
           "log_softmax over the classes" in str(e.value)


def test_mse_by_swap_test_three_way_and_shots(tmp_path):
    path = save(residual_mse_model((3, 5)), tmp_path)
    rng = np.random.default_rng(8)
    feeds = {"x": rng.standard_normal((3, 5)).astype(np.float32),
             "t": rng.standard_normal((3, 5)).astype(np.float32)}
    program = three_way(path, feeds, overrides={"nn.mse_loss": "swap-test"})
    assert program.kernels[-1].method == "swap-test"
    assert program.kernels[-1].rule.rule == "swap-test"
    host = qlower.compile(path, "cirq", overrides={"nn.mse_loss": "swap-test", "mm": "host"})
    exact = float(host.run(feeds)["loss"])
    S = 100_000
    est = host.run(feeds, shots=S, seed=4)
    se = float(est.std_errors["loss"])
    assert abs(float(est["loss"]) - exact) <= 4 * se
    runs = [float(host.run(feeds, shots=S, seed=50 + s)["loss"]) for s in range(30)]
    assert 0.7 * se <= np.std(runs, ddof=1) <= 1.3 * se


def test_loss_kernels_in_qiskit_equal_qsim(tmp_path):
    """The residual, MSE (both strategies) and cross-entropy kernels as OpenQASM 3: parsed,
    loaded in Qiskit, bound, they give qsim's states."""
    rng = np.random.default_rng(9)
    cases = [(residual_mse_model((2, 3)), {"x": rng.standard_normal((2, 3)).astype(np.float32),
                                          "t": rng.standard_normal((2, 3)).astype(np.float32)},
              {"nn.add": "quantum", "nn.mse_loss": "quantum", "mm": "host"}),
             (residual_mse_model((2, 3)), {"x": rng.standard_normal((2, 3)).astype(np.float32),
                                          "t": rng.standard_normal((2, 3)).astype(np.float32)},
              {"nn.mse_loss": "swap-test", "mm": "host"}),
             (ce_model(3, 3), {"x": rng.standard_normal((3, 4)).astype(np.float32),
                               "y": np.array([0, 2, 1])}, {"nn.cross_entropy": "quantum",
                                                            "mm": "host"})]
    seen = set()
    for i, (model, feeds, overrides) in enumerate(cases):
        path = save(model, tmp_path, f"m{i}.onnx")
        program = qlower.compile(path, "qasm3", overrides=overrides)
        program.write(tmp_path / f"out{i}")
        bound = program.bind(feeds)
        for kc in program.kernels:
            text = (tmp_path / f"out{i}" / f"{kc.name}.qasm").read_text()
            assert qasm_state_error(text, kc, bound[kc.name][:1])[0] < 1e-5, kc.method
            seen.add(kc.rule.rule)
    assert seen == {"amplitudes", "success", "swap-test", "probabilities"}
