"""Activations as QSP kernels (strategy qsvt): what qsim, the q ops' semantics and onnxruntime
compute agree within the error the lowering reports, the degree follows the budget, the input
bound comes from a declaration or from calibration inputs, and shots land within 4 SE."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_quantum_pipeline import save
from util import make_model

import qlower
from qlower.api import onnxruntime_outputs
from qlower.backends import run_graph
from qlower.errors import QlowerError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
ACTS = {"Gelu": "nn.gelu", "Relu": "nn.relu", "Tanh": "nn.tanh", "Sigmoid": "nn.sigmoid"}


def act_model(act, n_in=4, n_out=5, batch=3, seed=0, **attrs):
    W = np.random.default_rng(seed).standard_normal((n_in, n_out)).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "W"], ["z"], name="mm"),
             H.make_node(act, ["z"], ["y"], name="act", **attrs)]
    return make_model(nodes, [VI("x", T.FLOAT, [batch, n_in])], [VI("y", T.FLOAT, None)],
                      [onnx.numpy_helper.from_array(W, "W")], opset=20)


def qsp_op(program):
    (op,) = [o for o in program.graph.ops if o.name == "q.encode.qsp_activation"]
    return op


# relu at 1e-3 needs degree ~600, above the 400 cap: test_relu_beyond_the_degree_cap_is_refused
@pytest.mark.parametrize("act,eps", [(a, e) for a in sorted(ACTS) for e in (1e-2, 1e-3)
                                     if (a, e) != ("Relu", 1e-3)])
def test_within_the_reported_error(tmp_path, act, eps):
    path = save(act_model(act), tmp_path)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.savez(tmp_path / "cal.npz", x=x)
    program = qlower.compile(path, "cirq", overrides={ACTS[act]: "qsvt"}, epsilon=eps,
                             calibration=str(tmp_path / "cal.npz"))
    op = qsp_op(program)
    err = op.attr("error")
    z = x @ onnx.numpy_helper.to_array(onnx.load(path).graph.initializer[0])
    assert op.attr("bound") == pytest.approx(1.25 * np.abs(z).max(), rel=1e-6)
    ort = onnxruntime_outputs(path, {"x": x})["y"]
    ref = run_graph(program.graph, {"x": x})["y"]
    sim = program.run({"x": x})["y"]
    assert np.max(np.abs(ref - ort)) <= err + 1e-6
    assert np.max(np.abs(sim - ort)) <= err + 2e-5  # qsim: single precision
    assert 0 < err <= eps * np.max(np.abs(qlower.blocks.qsp_activation.ACTIVATIONS[
        op.attr("function")](np.linspace(-op.attr("bound"), op.attr("bound"), 20001))))
    # the report is tight: the bound is reached on the range, not a loose estimate
    grid = np.linspace(-op.attr("bound"), op.attr("bound"), 4001).astype(np.float32)
    from qlower.blocks.qsp_activation import ACTIVATIONS, activation_plan, qsp_activation_values

    plan = activation_plan(op.attr("function"), op.attr("bound"), eps)
    measured = np.max(np.abs(qsp_activation_values(plan, grid) - ACTIVATIONS[plan.name](grid)))
    assert measured <= err <= 1.5 * measured


def test_degree_follows_epsilon_and_the_declared_bound(tmp_path):
    path = save(act_model("Gelu"), tmp_path)
    degrees = {}
    for eps in (1e-1, 1e-2, 1e-3):
        for B in (4.0, 16.0):
            p = qlower.compile(path, "cirq", overrides={"act": "qsvt"}, epsilon=eps,
                               activation_bound=B)
            degrees[eps, B] = len(qsp_op(p).attr("phases")) - 1
            assert qsp_op(p).attr("bound") == B
    assert degrees[1e-1, 4.0] <= degrees[1e-2, 4.0] <= degrees[1e-3, 4.0]
    assert degrees[1e-3, 4.0] < degrees[1e-3, 16.0]
    # LOWERINGS §6: GELU on [-4, 4] at relative 1e-2 / 1e-3 takes degree 8 / 12 in x; the
    # signal a² is affine in x, so the degree in a is twice that
    assert (degrees[1e-2, 4.0], degrees[1e-3, 4.0]) == (16, 24)


def test_without_a_bound_the_lowering_says_why(tmp_path):
    path = save(act_model("Tanh"), tmp_path)
    with pytest.raises(QlowerError) as e:
        qlower.compile(path, "cirq", overrides={"nn.tanh": "qsvt"})
    assert str(e.value).endswith(
        "node 'act' (nn.tanh): strategy 'qsvt' does not apply: its input range is unknown: give "
        "--activation-bound B or --calibration X.npz (use --strategy act=host to keep it "
        "classical)")


def test_relu_beyond_the_degree_cap_is_refused(tmp_path):
    path = save(act_model("Relu"), tmp_path)
    with pytest.raises(QlowerError, match=r"relu on \[-4, 4\] needs a degree above 400 for "
                       r"relative error 0.001"):
        qlower.compile(path, "cirq", overrides={"nn.relu": "qsvt"}, epsilon=1e-3,
                       activation_bound=4.0)


def test_shots_within_four_standard_errors(tmp_path):
    path = save(act_model("Sigmoid"), tmp_path)
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    program = qlower.compile(path, "cirq", overrides={"nn.sigmoid": "qsvt", "mm": "host"},
                             activation_bound=6.0, epsilon=1e-2)
    exact = program.run({"x": x})["y"]
    est = program.run({"x": x}, shots=100_000, seed=3)
    se = est.std_errors["y"]  # analytic: K√N · √((1 − p)/(4S)) through host.qsp_values
    assert np.all(se > 0) and np.all(np.abs(est["y"] - exact) <= 4 * se)


def test_cli_estimate_reports_degree_and_error(tmp_path, capsys):
    import json

    from util import cli

    path = save(act_model("Gelu"), tmp_path)
    code, out, _ = cli(capsys, "estimate", str(path), "--strategy", "nn.gelu=qsvt",
                       "--activation-bound", "4", "--epsilon", "1e-2", "--json")
    assert code == 0
    k = json.loads(out)["kernels"][-1]
    assert k["ops"] == [{"op": "nn.gelu", "node": "act", "strategy": "qsvt"}]
    a = k["approximation"]
    assert a["function"] == "gelu" and a["degree"] == 16 and a["bound"] == 4.0
    # 3 index qubits, signal and real-part flags; d·2^l + 2(d+1) + 2^l − l − 1 CNOTs
    assert k["qubits"] == 5 and k["cnots"] == 16 * 8 + 2 * 17 + 8 - 3 - 1
