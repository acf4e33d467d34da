"""Streamed emission (OpenQASM 3 and Cirq JSON from operation tables) against the AST path.

``write_qasm3`` formats one line per gate from a kernel's operation table; ``emit_program``
builds the openqasm3 AST of the kernel's Cirq circuit, which ``openqasm3.dumps`` prints. The
two must give the same text byte for byte, for kernels of every kind and for any Cirq circuit
``to_qasm3`` accepts (it streams too); the Cirq JSON writer must give ``cirq.to_json``'s text.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import cirq
import numpy as np
import onnx
import openqasm3
import pytest
import sympy
from test_qasm3 import SYMS, random_circuit  # its generator of every gate kind it exports
from util import make_model, mlp_model, qasm_state_error

import qlower
from qlower.backends.cirq_json import write_circuit_json
from qlower.backends.manifest import kernel_text
from qlower.backends.qasm3 import emit_program, to_qasm3, write_qasm3
from qlower.blocks.optable import OpTable

pytestmark = pytest.mark.filterwarnings("ignore:.*annotated.*:DeprecationWarning")

MODELS = Path(__file__).parents[1] / "models"
ENCODER = MODELS / "torch2.15" / "encoder_dynamo_opset18.onnx"
EXACT = {"nn.attention": "quantum", "nn.layer_norm": "quantum", "nn.add": "quantum"}


def ast_text(kc, measure: bool = True) -> str:
    """What the kernel file held before streaming: the AST of ``kc.circuit``, printed."""
    header = f"// qlower kernel {kc.name} ({kc.method}); read-out: see manifest.json\n"
    program = emit_program(kc.circuit, qubits=list(kc.qubits), parameters=list(kc.symbols),
                           measure=list(kc.rule.measured) if measure else False)
    return header + openqasm3.dumps(program), program


# one compile per kind of kernel: (label, model, options)
PROGRAMS = [
    ("fable", mlp_model(), {"method": "fable"}),
    ("fable-threshold", mlp_model(), {"method": "fable", "threshold": 0.3}),
    ("svd", mlp_model(), {"method": "svd"}),
    ("svd-compose", mlp_model(), {"method": "svd", "compose": True}),
    ("dilation", mlp_model(), {"method": "dilation"}),
    ("lcu", mlp_model(), {"method": "lcu"}),
    ("amplitude-encoding", mlp_model(), {"strategy": "amplitude-encoding"}),
    ("encoder", ENCODER, {"overrides": EXACT}),
    ("encoder-qsp", ENCODER, {"overrides": {"nn.attention": "qsp", "nn.relu": "qsvt"},
                              "activation_bound": 8.0, "epsilon": 1e-2}),
    ("swap-test", MODELS / "mlp_mse_opset18.onnx", {"overrides": {"nn.mse_loss": "swap-test"}}),
]


def model_path(model, folder: Path) -> Path:
    if isinstance(model, Path):
        return model
    path = folder / "model.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module", params=PROGRAMS, ids=[p[0] for p in PROGRAMS])
def program(request, tmp_path_factory):
    _, model, options = request.param
    return qlower.compile(model_path(model, tmp_path_factory.mktemp("m")), "qasm3", **options)


def test_every_kernel_streams_the_text_of_its_ast(program):
    kinds = set()
    for kc in program.kernels:
        for measure in (True, False):
            _, streamed = kernel_text(program, kc, measure)
            want, tree = ast_text(kc, measure)
            assert streamed == want, kc.name
            assert openqasm3.parse(streamed) == tree  # the parser reads back the same AST
        kinds.add(kc.method)
    assert kinds


def test_the_kernels_cover_every_kind(tmp_path):
    """The programs above hold every block method, data blocks, softmax states, layer norms,
    residual adds and Hadamard tests (a kind missing here would go untested)."""
    methods = set()
    for _, model, options in PROGRAMS:
        est = qlower.estimate(qlower.load(model_path(model, tmp_path)), **options)
        methods |= {m for k in est.kernels for m in k.method.split("+")}
    assert {"fable", "svd", "dilation", "lcu", "amplitude", "hadamard-test", "data-fable",
            "combine", "centring", "softmax-exact", "softmax-qsp", "qsp-activation",
            "swap-test"} <= methods, methods


def test_every_kernel_streams_cirq_json(program):
    for kc in program.kernels:
        buf = io.StringIO()
        write_circuit_json(buf, kc.ops)
        assert buf.getvalue() == cirq.to_json(kc.circuit), kc.name
        assert cirq.read_json(json_text=buf.getvalue()) == kc.circuit


def test_a_kernel_is_its_operation_table(program):
    """``circuit`` is the packed table; ``suffix`` the packed block rows; the order the writers
    use is the circuit's operation order."""
    from qlower.blocks.circuits import packed_circuit

    for kc in program.kernels:
        ops = kc.ops.operations()
        assert kc.circuit == packed_circuit(ops)
        assert list(kc.circuit.all_operations()) == [ops[i] for i in kc.ops.packed_order()]
        assert kc.operation_count == sum(len(m) for m in kc.circuit)
        if kc.split:
            assert kc.suffix == packed_circuit(ops[kc.prefix_rows:])
            assert kc.prefix == packed_circuit(ops[:kc.prefix_rows])
        else:
            assert kc.suffix is None


# -- any circuit: to_qasm3 streams -----------------------------------------------------------


@pytest.mark.parametrize("seed", range(30))
def test_to_qasm3_is_the_ast_text_on_random_circuits(seed):
    rng = np.random.default_rng(500 + seed)
    symbolic = bool(seed % 2)
    circuit = random_circuit(rng, int(rng.integers(1, 6)), 40, symbolic=symbolic)
    params = SYMS if symbolic else ()
    for measure in (False, True, [0]):
        streamed = to_qasm3(circuit, parameters=params, measure=measure, header_comment="h\nx")
        tree = emit_program(circuit, parameters=params, measure=measure)
        assert streamed == "// h\n// x\n" + openqasm3.dumps(tree)
        assert openqasm3.parse(streamed) == tree


def table_circuit() -> cirq.Circuit:
    """Every typed row kind next to gates that are not rows of their own."""
    q = cirq.LineQubit.range(4)
    a, b = sympy.Symbol("theta_0"), sympy.Symbol("theta_1")
    return cirq.Circuit(
        cirq.H(q[0]), cirq.CNOT(q[0], q[1]), cirq.CZ(q[2], q[3]), cirq.Ry(rads=-0.0)(q[1]),
        cirq.Ry(rads=1e-300)(q[2]), cirq.Rz(rads=-2.5e17)(q[3]), cirq.Ry(rads=a)(q[0]),
        cirq.Rz(rads=b)(q[1]), cirq.Rz(rads=0.5 * a - 0.25)(q[2]),
        cirq.PhasedXZGate(x_exponent=0.3, z_exponent=-0.7, axis_phase_exponent=1.9)(q[3]),
        cirq.GlobalPhaseGate(np.exp(0.7j))(), cirq.X(q[0]).controlled_by(q[1], q[2]),
        cirq.ControlledGate(cirq.Ry(rads=b), control_values=[0])(q[3], q[0]),
        cirq.CCZ(q[0], q[1], q[2]), cirq.HPowGate(exponent=1)(q[1]),  # an int exponent
    )


def test_typed_rows_and_other_operations_mix():
    c = table_circuit()
    table = OpTable.from_operations(c.all_operations())
    kinds = sorted(set(table.kind.tolist()))
    assert kinds == list(range(9))  # H, CX, CZ, RY, RZ, RY_SYM, RZ_SYM, PXZ and OP rows
    params = [sympy.Symbol("theta_0"), sympy.Symbol("theta_1")]
    text = to_qasm3(c, parameters=params, measure=True)
    assert text == openqasm3.dumps(emit_program(c, parameters=params, measure=True))
    assert "ry(-0.0) q[1];" in text and "ry(1e-300) q[2];" in text
    assert "rz(-2.5e+17) q[3];" in text and "negctrl @ ry(theta_1) q[3], q[0];" in text


def test_a_table_written_in_another_order():
    c = table_circuit()
    table = OpTable.from_operations(c.all_operations())
    order = np.arange(len(table))[::-1]
    reordered = cirq.Circuit(cirq.Moment([op]) for op in reversed(list(c.all_operations())))
    params = [sympy.Symbol("theta_0"), sympy.Symbol("theta_1")]
    buf = io.StringIO()
    write_qasm3(buf, table, order=order, parameters=params)
    assert buf.getvalue() == openqasm3.dumps(emit_program(reordered, parameters=params))


@pytest.mark.parametrize("make, message", [
    (lambda q: cirq.Ry(rads=float("nan"))(q[0]), "non-finite angle nan in gate cirq.Ry(rads=nan)"),
    (lambda q: cirq.Ry(rads=sympy.Symbol("phi_3"))(q[0]), "uses symbol 'phi_3', which is not in parameters"),
    (lambda q: cirq.PhasedXZGate(x_exponent=math.inf, z_exponent=0.0, axis_phase_exponent=0.0)(q[0]),
     "non-finite angle inf"),
    (lambda q: cirq.MatrixGate(np.eye(4))(q[0], q[1]), "only single-qubit MatrixGate"),
    (lambda q: cirq.CircuitOperation(cirq.FrozenCircuit(cirq.X(q[0]))), "(no gate)"),
])
def test_errors_are_the_ast_paths(make, message):
    q = cirq.LineQubit.range(2)
    c = cirq.Circuit(cirq.H(q[0]), cirq.CNOT(q[0], q[1]), make(q))
    with pytest.raises(ValueError) as streamed:
        to_qasm3(c)
    with pytest.raises(ValueError) as tree:
        emit_program(c)
    assert str(streamed.value) == str(tree.value)
    assert message in str(streamed.value)


def test_an_empty_circuit():
    assert to_qasm3(cirq.Circuit()) == openqasm3.dumps(emit_program(cirq.Circuit()))
    buf = io.StringIO()
    write_circuit_json(buf, OpTable.empty())
    assert buf.getvalue() == cirq.to_json(cirq.Circuit())


# -- a mid-size kernel on Qiskit -------------------------------------------------------------


def gemm_model(width: int, seed: int = 0) -> onnx.ModelProto:
    h, T = onnx.helper, onnx.TensorProto
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((width, width)).astype(np.float32),
                                          "w"),
             onnx.numpy_helper.from_array(rng.standard_normal(width).astype(np.float32), "b")]
    node = h.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    return make_model([node], [h.make_tensor_value_info("x", T.FLOAT, [1, width])],
                      [h.make_tensor_value_info("y", T.FLOAT, [1, width])], inits)


@pytest.mark.parametrize("method", ["svd", "fable"])
def test_a_streamed_mid_size_kernel_loads_in_qiskit_with_cirqs_state(method, tmp_path):
    path = tmp_path / "gemm.onnx"
    onnx.save(gemm_model(24), path)
    program = qlower.compile(qlower.load(path), "qasm3", method=method)
    program.write(tmp_path / "out", measure=False)
    (kc,) = program.kernels
    assert kc.operation_count > 2000
    text = (tmp_path / "out" / "k0.qasm").read_text()
    rows = np.random.default_rng(3).standard_normal((2, len(kc.symbols)))
    err, nparams = qasm_state_error(text, kc, rows)
    assert nparams == len(kc.symbols) and err < 1e-4  # qsim is complex64: 3000 gates
