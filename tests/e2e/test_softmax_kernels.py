"""nn.softmax as a kernel: the q ops' semantics, qsim and onnxruntime agree, shots land within
four standard errors, the QASM 3 kernel gives qsim's amplitudes in Qiskit, and a lowering that
cannot apply says why."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_quantum_pipeline import gemm_mlp, save, three_way
from util import make_model, qasm_state_error

import qlower
from qlower.errors import QlowerError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def softmax_model(shape, axis=-1, mask=None, batch=None):
    """x [+ constant mask] -> Softmax(axis)."""
    nodes, inits, cur = [], [], "x"
    if mask is not None:
        inits.append(onnx.numpy_helper.from_array(mask.astype(np.float32), "mask"))
        nodes.append(H.make_node("Add", ["x", "mask"], ["xm"], name="add_mask"))
        cur = "xm"
    nodes.append(H.make_node("Softmax", [cur], ["y"], name="sm", axis=axis))
    dims = [batch or shape[0], *shape[1:]]
    return make_model(nodes, [VI("x", T.FLOAT, dims)], [VI("y", T.FLOAT, None)], inits)


def kinds(program) -> list[str]:
    return [kc.method for kc in program.kernels]


@pytest.mark.parametrize("sizes", [(5, 7, 3), (4, 6, 8), (3, 1)])
@pytest.mark.parametrize("batch", [1, 4])
def test_mlp_with_softmax_kernel_three_way(tmp_path, sizes, batch):
    path = save(gemm_mlp(sizes=sizes), tmp_path)
    x = np.random.default_rng(batch).standard_normal((batch, sizes[0])).astype(np.float32)
    program = three_way(path, {"x": x}, strategy="block-encoding",
                        overrides={"nn.softmax": "exact"})
    assert kinds(program)[-1] == "softmax-exact"
    run = program.run({"x": x})
    assert run.kernels[-1].sweeps == batch
    # P(flag = 0) = sum e^(s - max) / 2^l >= 1 / 2^l
    size = 1 << max(1, (sizes[-1] - 1).bit_length())
    assert run.kernels[-1].success_probability >= 1 / size - 1e-6  # qsim: single precision


@pytest.mark.parametrize("shape,axis", [((2, 3, 5), 1), ((4, 6), 0), ((2, 3, 5), -1), ((3, 9), 1)])
def test_softmax_on_any_axis_three_way(tmp_path, shape, axis):
    path = save(softmax_model(shape, axis), tmp_path)
    x = (3 * np.random.default_rng(0).standard_normal(shape)).astype(np.float32)
    program = three_way(path, {"x": x}, overrides={"sm": "exact"})
    assert kinds(program) == ["softmax-exact"]


def test_masked_scores_three_way(tmp_path):
    mask = np.zeros((3, 6), dtype=np.float32)
    mask[np.triu_indices(3, 1, 6)] = -np.inf  # a causal-style mask: -inf above the diagonal
    path = save(softmax_model((2, 3, 6), mask=mask), tmp_path)
    x = np.random.default_rng(1).standard_normal((2, 3, 6)).astype(np.float32)
    program = three_way(path, {"x": x}, overrides={"nn.softmax": "exact"})
    y = program.run({"x": x})["y"]
    assert np.all(y[:, np.isinf(mask)] <= 1e-12)  # amplitude cos(π/2) in single precision


def test_shots_land_within_four_standard_errors(tmp_path):
    path = save(softmax_model((3, 5)), tmp_path)
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    program = qlower.compile(path, "cirq", overrides={"nn.softmax": "exact"})
    exact = program.run({"x": x})["y"]
    est = program.run({"x": x}, shots=40_000, seed=4)
    se = est.std_errors["y"]  # analytic: sqrt(p (1 - p) / n_0), n_0 the shots with flag = 0
    assert se.shape == exact.shape and np.all(se > 0)
    assert np.all(np.abs(est["y"] - exact) <= 4 * se)
    assert not np.array_equal(est["y"], exact)
    # n_0 ~ shots * P(flag = 0): the error is that of a multinomial over the passing shots
    p_succ = program.run({"x": x}).kernels[0].success_probability
    n0 = 40_000 * p_succ
    assert np.allclose(np.mean(se), np.mean(np.sqrt(exact * (1 - exact) / n0)), rtol=0.1)


def test_qasm3_softmax_kernel_in_qiskit_equals_qsim(tmp_path):
    path = save(softmax_model((2, 6)), tmp_path)
    x = np.random.default_rng(3).standard_normal((2, 6)).astype(np.float32)
    program = qlower.compile(path, "qasm3", overrides={"nn.softmax": "exact"})
    program.write(tmp_path / "out")
    (kc,) = program.kernels
    text = (tmp_path / "out" / "k0.qasm").read_text()
    err, count = qasm_state_error(text, kc, program.bind({"x": x})["k0"])
    assert err < 1e-5 and count == len(kc.symbols) == 8
    doc = (tmp_path / "out" / "manifest.json").read_text()
    assert '"rule": "probabilities"' in doc and "host.softmax_angles" in doc


def test_unknown_softmax_strategy_is_refused(tmp_path):
    path = save(softmax_model((2, 4)), tmp_path)
    with pytest.raises(QlowerError) as e:
        qlower.compile(path, "cirq", overrides={"nn.softmax": "fable"})
    assert str(e.value) == ("override 'nn.softmax=fable': nn.softmax has no strategy 'fable' "
                            "(strategies: exact, qsp, host)")


def test_a_lowering_that_cannot_apply_says_why(tmp_path):
    model = make_model([H.make_node("Softmax", ["x"], ["y"], name="sm", axis=-1)],
                       [VI("x", T.FLOAT, [2, "n"])], [VI("y", T.FLOAT, None)])
    with pytest.raises(QlowerError) as e:
        qlower.compile(save(model, tmp_path), "cirq", overrides={"sm": "exact"})
    assert str(e.value).endswith(
        "m.onnx: node 'sm' (nn.softmax): strategy 'exact' does not apply: the softmax axis has a "
        "size unknown before running (tensor<2x(n)xf32>) (use --strategy sm=host to keep it "
        "classical)")


def test_cli_strategy_by_op_kind_and_estimate(tmp_path, capsys):
    from util import cli

    path = save(gemm_mlp(sizes=(5, 3)), tmp_path)
    code, out, _ = cli(capsys, "estimate", str(path), "--strategy", "nn.softmax=exact")
    assert code == 0
    row = next(ln for ln in out.splitlines() if ln.startswith("k1"))
    # 2 index qubits and a flag; 3 CNOTs and 4 rotations; success probability >= 1/4
    assert row.split()[2:6] == ["softmax-exact", "3", "3", "4"]
    assert row.split()[-1] == "0.25"


# -- qsp: the exponential as a polynomial ---------------------------------------------------------


def qsp_kernel(program):
    (kc,) = [kc for kc in program.kernels if kc.method == "softmax-qsp"]
    return next(op for op in kc.kernel.ops if op.name == "q.encode.softmax_qsp")


@pytest.mark.parametrize("eps,R", [(1e-2, 8.0), (1e-3, 8.0), (1e-4, 16.0)])
@pytest.mark.parametrize("L", [3, 8, 13])
def test_qsp_total_variation_within_the_reported_bound(tmp_path, eps, R, L):
    path = save(softmax_model((4, L)), tmp_path)
    rng = np.random.default_rng(L)
    x = rng.uniform(-R / 2, R / 2, (4, L)).astype(np.float32)  # within the declared range
    program = qlower.compile(path, "cirq", overrides={"nn.softmax": "qsp"}, epsilon=eps,
                             score_range=R)
    op = qsp_kernel(program)
    bound = op.attr("tv_bound")
    assert 0 < bound <= eps
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    want = e / e.sum(axis=-1, keepdims=True)
    for y in (program.run({"x": x})["y"], qlower.run(program.graph, {"x": x})["y"]):
        tv = 0.5 * np.abs(y.astype(np.float64) - want).sum(axis=-1)
        assert np.all(tv <= bound + 1e-6), (tv.max(), bound)  # + qsim's single precision
    # the degree is the least whose bound meets epsilon: one step lower would not
    from qlower.blocks.qsp import exp_target, poly_error

    d = len(op.attr("phases")) - 1
    assert 2 * np.sqrt(L) * poly_error(exp_target(R), d - 2) / 0.9 > eps


def test_qsp_degree_grows_as_epsilon_shrinks(tmp_path):
    path = save(softmax_model((1, 6)), tmp_path)
    degrees = []
    for eps in (1e-2, 1e-4, 1e-6):
        program = qlower.compile(path, "cirq", overrides={"sm": "qsp"}, epsilon=eps)
        degrees.append(len(qsp_kernel(program).attr("phases")) - 1)
    assert degrees == sorted(degrees) and degrees[0] < degrees[-1]


def test_qsp_estimate_reports_degree_and_bound(tmp_path, capsys):
    import json

    from util import cli

    path = save(softmax_model((2, 5)), tmp_path)
    code, out, _ = cli(capsys, "estimate", str(path), "--strategy", "nn.softmax=qsp",
                       "--epsilon", "1e-3", "--score-range", "8", "--json")
    assert code == 0
    doc = json.loads(out)
    (k,) = doc["kernels"]
    assert k["ops"] == [{"op": "nn.softmax", "node": "sm", "strategy": "qsp"}]
    assert k["strategy"] == "qsp" and doc["host"] == []
    approx = k["approximation"]
    assert approx["degree"] % 2 == 0 and approx["range"] == 8.0
    assert 0 < approx["tv_bound"] <= 1e-3 and approx["poly_error"] > 0
    # CNOTs: d·2^l + 2(d+1) for the QSP sequence, 2^l - l - 1 for the indicator
    d = approx["degree"]
    assert k["cnots"] == d * 8 + 2 * (d + 1) + 8 - 3 - 1
    assert k["qubits"] == 5


def test_qsp_shots_within_four_standard_errors(tmp_path):
    path = save(softmax_model((2, 5)), tmp_path)
    x = np.random.default_rng(5).uniform(-3, 3, (2, 5)).astype(np.float32)
    program = qlower.compile(path, "cirq", overrides={"nn.softmax": "qsp"}, score_range=8.0)
    exact = program.run({"x": x})["y"]
    est = program.run({"x": x}, shots=40_000, seed=1)
    assert np.all(np.abs(est["y"] - exact) <= 4 * est.std_errors["y"])


def test_qsp_kernel_in_qiskit_equals_qsim(tmp_path):
    path = save(softmax_model((2, 3)), tmp_path)
    x = np.random.default_rng(6).standard_normal((2, 3)).astype(np.float32)
    program = qlower.compile(path, "qasm3", overrides={"nn.softmax": "qsp"}, epsilon=1e-2)
    program.write(tmp_path / "out")
    (kc,) = program.kernels
    text = (tmp_path / "out" / "k0.qasm").read_text()
    assert qasm_state_error(text, kc, program.bind({"x": x})["k0"])[0] < 1e-5


def test_inspect_lowered_takes_the_lowering_options(tmp_path, capsys):
    from util import cli

    path = save(softmax_model((2, 5)), tmp_path)
    code, out, _ = cli(capsys, "inspect", str(path), "--stage", "lowered",
                       "--strategy", "nn.softmax=qsp", "--epsilon", "0.01")
    assert code == 0 and "q.encode.softmax_qsp" in out and "nn.softmax" not in out
    code, out, _ = cli(capsys, "inspect", str(path), "--stage", "lowered")
    assert code == 0 and "nn.softmax" in out and "q." not in out  # the default: on the host
