"""The quantum pipeline end to end: lowering, kernels, qsim, shots, QASM 3 → Qiskit.

Three independent views must agree for every lowering: the q ops' reference semantics (numpy,
``backend="reference"`` on the lowered graph), the simulated circuits (qsim), and onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import cirq
import numpy as np
import onnx
import pytest
from util import make_model

import qlower
from qlower.api import check_with_onnxruntime, onnxruntime_outputs
from qlower.backends import run_graph
from qlower.blocks.semantics import encoding_angles, state_from_angles
from qlower.errors import QlowerError
from qlower.ir import parse, print_graph, referenced_weights
from qlower.passes import STAGES, run_pipeline
from qlower.program import BudgetError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
MODELS = Path(__file__).resolve().parents[1] / "models"


def gemm_mlp(sizes=(5, 7, 3), batch="batch", seed=0, gemm_attrs=None, softmax=True, bias=True):
    """x -> Gemm -> Relu -> ... -> Gemm [-> Softmax], non-power-of-two sizes by default."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    cur = "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        attrs = dict(gemm_attrs or {"transB": 1})
        w_shape = (n_out, n_in) if attrs.get("transB") else (n_in, n_out)
        inits.append(onnx.numpy_helper.from_array(rng.standard_normal(w_shape).astype(np.float32), f"w{i}"))
        ins = [cur, f"w{i}"]
        if bias:
            inits.append(onnx.numpy_helper.from_array(rng.standard_normal(n_out).astype(np.float32), f"b{i}"))
            ins.append(f"b{i}")
        nodes.append(H.make_node("Gemm", ins, [f"h{i}"], name=f"fc{i}", **attrs))
        cur = f"h{i}"
        if i < len(sizes) - 2:
            nodes.append(H.make_node("Relu", [cur], [f"r{i}"], name=f"relu{i}"))
            cur = f"r{i}"
    if softmax:
        nodes.append(H.make_node("Softmax", [cur], ["y"], name="softmax", axis=-1))
    else:
        nodes.append(H.make_node("Identity", [cur], ["y"], name="out"))
    return make_model(nodes, [VI("x", T.FLOAT, [batch, sizes[0]])], [VI("y", T.FLOAT, None)], inits)


def save(model, tmp_path, name="m.onnx") -> Path:
    p = tmp_path / name
    onnx.save(model, p)
    return p


def three_way(path: Path, inputs: dict, rtol: float = 1e-4, **options) -> qlower.CompiledProgram:
    """qsim and the lowered graph's reference semantics both agree with onnxruntime."""
    program = qlower.compile(path, "cirq", **options)
    assert program.kernels, "nothing was lowered"
    ref = run_graph(program.graph, inputs)  # q ops by their numpy semantics
    sim = program.run(inputs)  # kernels on qsim
    ort = onnxruntime_outputs(path, inputs)
    for name in ort:
        scale = float(np.max(np.abs(ort[name])))
        assert sim[name].shape == ort[name].shape and sim[name].dtype == ort[name].dtype
        assert np.max(np.abs(ref[name] - ort[name])) <= 2e-6 * scale, name
        assert np.max(np.abs(sim[name] - ort[name])) <= rtol * scale, name
    return program


STRATEGIES = [
    {"strategy": "block-encoding"},
    {"strategy": "block-encoding", "method": "fable"},
    {"strategy": "block-encoding", "method": "dilation"},
    {"strategy": "block-encoding", "method": "fable", "signs": "none"},
    {"strategy": "amplitude-encoding"},
]


@pytest.mark.parametrize("options", STRATEGIES, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("batch", [1, 4])
def test_mlp_three_way(tmp_path, options, batch):
    path = save(gemm_mlp(), tmp_path)
    x = np.random.default_rng(batch).standard_normal((batch, 5)).astype(np.float32)
    program = three_way(path, {"x": x}, **options)
    assert len(program.kernels) == 2
    assert [r.sweeps for r in program.run({"x": x}).kernels] == (
        [batch * 7, batch * 3] if options["strategy"] == "amplitude-encoding" else [batch, batch]
    )


@pytest.mark.parametrize("attrs", [
    {"transB": 1, "alpha": 0.5, "beta": 2.0},
    {"transA": 0, "transB": 0, "alpha": 1.5},
    {"transB": 1, "beta": 0.0},
])
def test_gemm_attributes(tmp_path, attrs):
    path = save(gemm_mlp(sizes=(6, 3), gemm_attrs=attrs, softmax=False), tmp_path)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    three_way(path, {"x": x})


def test_gemm_trans_a(tmp_path):
    w = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    nodes = [H.make_node("Gemm", ["x", "w"], ["y"], name="fc", transA=1, transB=1)]
    model = make_model(nodes, [VI("x", T.FLOAT, [5, 2])], [VI("y", T.FLOAT, [2, 3])],
                       [onnx.numpy_helper.from_array(w, "w")])
    path = save(model, tmp_path)
    x = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    three_way(path, {"x": x})


def test_matmul_add_symbolic_batch_and_leading_axes(tmp_path):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
             H.make_node("Add", ["m", "b"], ["y"], name="add")]
    model = make_model(nodes, [VI("x", T.FLOAT, ["batch", "seq", 6])], [VI("y", T.FLOAT, None)],
                       [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")])
    path = save(model, tmp_path)
    for shape in [(1, 1, 6), (2, 3, 6)]:
        x = rng.standard_normal(shape).astype(np.float32)
        program = three_way(path, {"x": x})
        assert program.run({"x": x}).kernels[0].sweeps == shape[0] * shape[1]


def test_zero_rows_go_to_the_host(tmp_path):
    # no bias: a zero input row has no direction; its output is exactly 0 (scale ‖x‖ = 0)
    path = save(gemm_mlp(sizes=(4, 3), softmax=False, bias=False), tmp_path)
    x = np.zeros((2, 4), dtype=np.float32)
    x[1] = [1, -2, 0.5, 3]
    for strategy in ("block-encoding", "amplitude-encoding"):
        out = qlower.compile(path, "cirq", strategy=strategy, signs="none").run({"x": x})
        assert np.all(out["y"][0] == 0)
        ort = onnxruntime_outputs(path, {"x": x})["y"]
        assert np.allclose(out["y"], ort, atol=1e-5 * np.max(np.abs(ort)))


@pytest.mark.parametrize("name", [  # the MLPs and every export of the newest torch
    str(p.relative_to(MODELS).with_suffix("")) for p in
    sorted(MODELS.glob("*.onnx")) + sorted(MODELS.glob("torch2.15/*.onnx"))])
def test_torch_models_on_qsim(name):
    path = MODELS / f"{name}.onnx"
    g = qlower.load(path)
    from util import random_inputs

    inputs = random_inputs(g, 0, {"batch": 2, "seq": 3})
    out = qlower.compile(g, "cirq").run(inputs)
    report = check_with_onnxruntime(path, inputs, out, rtol=1e-4)
    assert report.ok, {c.name: c.max_rel_error for c in report.outputs.values()}


# -- the lowered stage as IR -------------------------------------------------------------------


@pytest.mark.parametrize("pipeline", [
    "lower-linear", "select-strategy{strategy=amplitude-encoding},lower-linear",
    "select-strategy{method=fable},lower-linear{signs=none}",
])
def test_lowered_stage_round_trips(tmp_path, pipeline):
    path = save(gemm_mlp(), tmp_path)
    g = run_pipeline(qlower.to_stage(qlower.load(path), "canonical"), pipeline)
    text = print_graph(g)
    assert "q.encode.amplitude" in text and "host.rescale" in text
    back = parse(text, referenced_weights(g))
    assert back == g
    assert print_graph(back) == text


def test_inspect_stage_lowered():
    assert STAGES["lowered"].endswith("lower-linear,lower-quantum,dce")


# -- the angle semantics -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 16, 33])
def test_angles_rebuild_the_state(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n))
    size = 1 << max(1, (n - 1).bit_length())
    ang = encoding_angles(x, size)
    got = state_from_angles(ang, size)
    want = np.zeros((3, size))
    want[:, :n] = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert np.max(np.abs(got - want)) < 1e-12


def test_symbolic_circuit_matches_angle_semantics():
    from qlower.blocks.amplitude import amplitude_encoding

    rng = np.random.default_rng(1)
    x = rng.standard_normal(11)
    enc = amplitude_encoding(size=16, prefix="t")
    ang = encoding_angles(x, 16)
    state = cirq.Simulator(dtype=np.complex128).simulate(
        enc.circuit, enc.resolver(ang), qubit_order=sorted(enc.qubits)).final_state_vector
    assert np.max(np.abs(state - state_from_angles(ang, 16))) < 1e-10


# -- shots -------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["block-encoding", "amplitude-encoding"])
def test_shots_one_kernel_within_four_standard_errors(tmp_path, strategy):
    path = save(gemm_mlp(sizes=(5, 3), softmax=False), tmp_path)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    program = qlower.compile(path, "cirq", strategy=strategy)
    exact = program.run({"x": x})["y"]
    est = program.run({"x": x}, shots=50_000, seed=3)
    se = est.std_errors["y"]
    assert se.shape == exact.shape and np.all(se > 0)
    assert np.all(np.abs(est["y"] - exact) <= 4 * se)
    # the estimate is not the exact value (it was sampled) and the seed makes it reproducible
    assert not np.array_equal(est["y"], exact)
    assert np.array_equal(program.run({"x": x}, shots=50_000, seed=3)["y"], est["y"])
    # standard errors shrink like 1/sqrt(shots)
    se4 = program.run({"x": x}, shots=200_000, seed=3).std_errors["y"]
    assert np.allclose(se4, se / 2, rtol=0.05)


def test_shots_two_layers_standard_errors_by_repetition(tmp_path):
    path = save(gemm_mlp(sizes=(4, 5, 3)), tmp_path)
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    program = qlower.compile(path, "cirq", strategy="amplitude-encoding")
    exact = program.run({"x": x})["y"]
    est = program.run({"x": x}, shots=20_000, seed=5)
    se = est.std_errors["y"]
    assert np.all(se > 0)
    assert np.all(np.abs(est["y"] - exact) <= 4 * se + 1e-7)


def test_shots_refused_without_sign_offset(tmp_path):
    path = save(gemm_mlp(sizes=(5, 3), softmax=False), tmp_path)
    program = qlower.compile(path, "cirq", signs="none")
    x = np.ones((1, 5), dtype=np.float32)
    with pytest.raises(QlowerError, match="kernel k0: its outputs have signs a shot read-out cannot see"):
        program.run({"x": x}, shots=100)


# -- budget ------------------------------------------------------------------------------------


def test_budget_refusal_with_estimate(tmp_path):
    path = save(gemm_mlp(sizes=(5, 3), softmax=False), tmp_path)
    program = qlower.compile(path, "cirq", method="fable")
    x = np.ones((4, 5), dtype=np.float32)
    n = len(program.kernels[0].qubits)
    with pytest.raises(BudgetError) as e:
        program.run({"x": x}, max_qubits=n - 1)
    msg = str(e.value)
    assert msg.startswith(f"kernel k0 needs {n} qubits (")
    assert "over 4 sweep(s)" in msg and f"the simulation budget is {n - 1} qubits" in msg
    with pytest.raises(BudgetError, match="updates: raise max_qubits/max_work"):
        program.run({"x": x}, max_work=10)
    assert program.run({"x": x}, max_qubits=n)["y"].shape == (4, 3)


# -- QASM 3: what Qiskit simulates equals qsim ---------------------------------------------------


@pytest.mark.parametrize("strategy", ["block-encoding", "amplitude-encoding"])
def test_qasm3_in_qiskit_equals_qsim(tmp_path, strategy):
    import openqasm3
    import qiskit.qasm3
    from qiskit.quantum_info import Statevector

    from qlower.backends.qasm3 import to_qasm3
    from qlower.backends.qsim import QsimRunner

    path = save(gemm_mlp(sizes=(3, 5, 2)), tmp_path)
    x = np.random.default_rng(7).standard_normal((2, 3)).astype(np.float32)
    program = qlower.compile(path, "qasm3", strategy=strategy)
    files = program.write(tmp_path / "out")
    assert {f.name for f in files} >= {"k0.qasm", "k1.qasm", "manifest.json", "program.qir"}
    # the host values that bind each kernel's inputs, from the reference run of the lowered graph
    values = {}
    g = program.graph
    from qlower.ir import evaluate_op

    env_vals = {"x": x, **{c.name: c.data.array for c in g.constants}}
    for op in g.ops:
        out = evaluate_op(op, [env_vals[o] if o else None for o in op.operands], {"batch": 2})
        for i, r in enumerate(op.results):
            env_vals[r.name] = out[i]
    runner = QsimRunner()
    for kc in program.kernels:
        text = (tmp_path / "out" / f"{kc.name}.qasm").read_text()
        assert text == to_qasm3(kc.circuit, qubits=list(kc.qubits), parameters=list(kc.symbols),
                                header_comment=text.splitlines()[0][3:],
                                measure=list(kc.rule.measured))
        openqasm3.parse(text)
        qc = qiskit.qasm3.loads(text)
        qc.remove_final_measurements()  # the program ends measuring its read-out and flags
        rows = env_vals[kc.kernel.parameters].reshape(-1, len(kc.symbols))[:3]
        sim = runner.states(kc.circuit, kc.qubits, kc.resolvers(rows))
        n = len(kc.qubits)
        for row, want in zip(rows, sim):
            bound = qc.assign_parameters({p: float(row[int(p.name.split("_")[-1])]) for p in qc.parameters})
            got = np.asarray(Statevector(bound).data)
            # Qiskit's q[0] is the least significant bit; Cirq's first qubit the most
            got = got.reshape([2] * n).transpose(list(range(n))[::-1]).reshape(-1)
            assert np.max(np.abs(got - want)) < 1e-5
        values[kc.name] = rows
    assert values


def test_compile_writes_byte_identical_files(tmp_path):
    path = save(gemm_mlp(), tmp_path)
    a = qlower.compile(path, "qasm3").write(tmp_path / "a")
    b = qlower.compile(path, "qasm3").write(tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


@pytest.mark.parametrize("signs", ["offset", "none"])
def test_lcu_layer_three_way(tmp_path, signs):
    # W = Z⊗Z + 0.5 X⊗I + 0.25 I⊗X, real and Pauli-sparse (3 terms)
    Z, X, I2 = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(2)
    w = (np.kron(Z, Z) + 0.5 * np.kron(X, I2) + 0.25 * np.kron(I2, X)).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    model = make_model(nodes, [VI("x", T.FLOAT, ["batch", 4])], [VI("y", T.FLOAT, None)],
                       [onnx.numpy_helper.from_array(np.ascontiguousarray(w.T), "w")])
    path = save(model, tmp_path)
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    program = three_way(path, {"x": x}, method="lcu", signs=signs)
    assert [k.method for k in program.kernels] == ["lcu"]
    if signs == "none":
        assert program.kernels[0].alpha == pytest.approx(1.75)


@pytest.mark.parametrize("strategy", ["block-encoding", "amplitude-encoding"])
def test_structured_inputs(tmp_path, strategy):
    # one-hot rows, a constant row, alternating signs, a tiny-scale row and a huge-scale row
    path = save(gemm_mlp(sizes=(6, 5, 3)), tmp_path)
    x = np.zeros((6, 6), dtype=np.float32)
    x[0, 0] = 1.0
    x[1, 5] = -3.0
    x[2] = 0.5
    x[3] = [1, -1, 1, -1, 1, -1]
    x[4] = 1e-3 * np.arange(6)
    x[5] = 1e3 * np.arange(6)
    three_way(path, {"x": x}, strategy=strategy)


@pytest.mark.parametrize("method", ["lcu", "dilation", "fable"])
def test_qasm3_kernel_of_each_block_in_qiskit(tmp_path, method):
    import qiskit.qasm3
    from qiskit.quantum_info import Statevector

    from qlower.backends.qsim import QsimRunner

    Z, X, I2 = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(2)
    w = (np.kron(Z, Z) + 0.5 * np.kron(X, I2) - 0.25 * np.kron(I2, X)).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    model = make_model(nodes, [VI("x", T.FLOAT, [2, 4])], [VI("y", T.FLOAT, [2, 4])],
                       [onnx.numpy_helper.from_array(np.ascontiguousarray(w.T), "w")])
    path = save(model, tmp_path)
    program = qlower.compile(path, "qasm3", method=method, signs="none")
    program.write(tmp_path / "out", measure=False)  # the unitary alone
    (kc,) = program.kernels
    assert kc.method == method
    x = np.random.default_rng(0).standard_normal((2, 4))
    angles = encoding_angles(x, 4)
    qc = qiskit.qasm3.loads((tmp_path / "out" / "k0.qasm").read_text())
    sim = QsimRunner().states(kc.circuit, kc.qubits, kc.resolvers(angles))
    n = len(kc.qubits)
    for row, want in zip(angles, sim):
        bound = qc.assign_parameters({p: float(row[int(p.name.split("_")[-1])]) for p in qc.parameters})
        got = np.asarray(Statevector(bound).data).reshape([2] * n).transpose(list(range(n))[::-1]).reshape(-1)
        assert np.max(np.abs(got - want)) < 1e-5
    # and the read-out of that state is the layer: y = alpha * ‖x‖ * psi
    psi = kc.exact(sim)
    y = kc.alpha * np.linalg.norm(x, axis=1, keepdims=True) * psi
    assert np.allclose(y, x @ w.T, atol=1e-5)


@pytest.mark.parametrize("side", ["left", "right"])
def test_matmul_by_a_constant_on_either_side(tmp_path, side):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    if side == "left":  # y = A @ X, X: [batch, 4, 5]
        node = H.make_node("MatMul", ["a", "x"], ["y"], name="mm")
        x_shape = ["batch", 4, 5]
    else:  # y = X @ A, X: [batch, 2, 3]
        node = H.make_node("MatMul", ["x", "a"], ["y"], name="mm")
        x_shape = ["batch", 2, 3]
    model = make_model([node], [VI("x", T.FLOAT, x_shape)], [VI("y", T.FLOAT, None)],
                       [onnx.numpy_helper.from_array(a, "a")])
    path = save(model, tmp_path)
    x = rng.standard_normal([2, *x_shape[1:]]).astype(np.float32)
    program = three_way(path, {"x": x})
    assert len(program.kernels) == 1


def linear_chain(tmp_path, sizes=(5, 6, 4, 3), bias=(True, False, True)):
    """x -> Gemm -> Gemm -> Gemm with nothing between them (composable)."""
    rng = np.random.default_rng(11)
    nodes, inits, cur = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        inits.append(onnx.numpy_helper.from_array(rng.standard_normal((n_out, n_in)).astype(np.float32), f"w{i}"))
        ins = [cur, f"w{i}"]
        if bias[i]:
            inits.append(onnx.numpy_helper.from_array(rng.standard_normal(n_out).astype(np.float32), f"b{i}"))
            ins.append(f"b{i}")
        nodes.append(H.make_node("Gemm", ins, [f"h{i}"], name=f"fc{i}", transB=1))
        cur = f"h{i}"
    nodes.append(H.make_node("Identity", [cur], ["y"], name="out"))
    return save(make_model(nodes, [VI("x", T.FLOAT, ["batch", sizes[0]])], [VI("y", T.FLOAT, None)],
                           inits), tmp_path)


@pytest.mark.parametrize("options", [
    {"method": "fable"}, {"method": "auto"}, {"method": "fable", "signs": "none"},
    {"method": "dilation", "signs": "none"},
], ids=lambda o: "-".join(map(str, o.values())))
def test_coherent_composition(tmp_path, options):
    path = linear_chain(tmp_path)
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    separate = qlower.compile(path, "cirq", **options)
    composed = three_way(path, {"x": x}, compose=True, **options)
    assert len(separate.kernels) == 3 and len(composed.kernels) == 1
    (kc,) = composed.kernels
    # alphas multiply, flags add up: every qubit but the output register is a flag
    blocks = [op for op in composed.graph.ops if op.name.startswith("q.block.")]
    assert kc.alpha == pytest.approx(np.prod([b.attr("alpha") for b in blocks]))
    assert set(kc.registers.flags) | set(kc.registers.output) == set(kc.qubits)
    assert composed.graph.type_of(blocks[-1].result().name).flags == len(kc.qubits) - len(kc.registers.output)


def test_composition_in_shot_mode(tmp_path):
    path = linear_chain(tmp_path, sizes=(3, 4, 2), bias=(True, True))
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    program = qlower.compile(path, "cirq", compose=True, method="dilation")
    exact = program.run({"x": x})["y"]
    est = program.run({"x": x}, shots=100_000, seed=4)
    assert np.all(np.abs(est["y"] - exact) <= 4 * est.std_errors["y"])
