"""OpenQASM 3 emitter: exact semantics (global phase included) checked through Qiskit's importer,
bit-exact angles, parameter-name rules, error messages, deterministic output."""

from __future__ import annotations

import math

import cirq
import numpy as np
import openqasm3
import pytest
import qiskit.qasm3 as qiskit_qasm3  # test dependency: the independent loader and simulator
import qiskit.quantum_info as quantum_info
import sympy
from openqasm3 import ast

from qlower.backends.qasm3 import emit_program, to_qasm3

# Qiskit's importer builds `ctrl @` gates with a deprecated Gate.control() default.
pytestmark = pytest.mark.filterwarnings("ignore:.*annotated.*:DeprecationWarning")

SYMS = [sympy.Symbol(f"theta_{i}") for i in range(4)]


# -- helpers -----------------------------------------------------------------------------------


def qiskit_state(text: str, values: dict[str, float] | None = None) -> np.ndarray:
    """Qiskit's state for the program, re-ordered to Cirq's big-endian qubit order."""
    qc = qiskit_qasm3.loads(text)
    if qc.parameters:
        qc = qc.assign_parameters({p: (values or {})[p.name] for p in qc.parameters})
    sv = np.asarray(quantum_info.Statevector(qc).data)
    n = qc.num_qubits
    # Qiskit: q[0] is the least significant bit of the index; Cirq: first qubit most significant.
    return sv.reshape([2] * n).transpose(range(n - 1, -1, -1)).reshape(-1) if n else sv


def cirq_state(circuit, qubits, values: dict[str, float] | None = None) -> np.ndarray:
    resolver = cirq.ParamResolver({sympy.Symbol(k): v for k, v in (values or {}).items()})
    sim = cirq.Simulator(dtype=np.complex128)
    return sim.simulate(circuit, resolver, qubit_order=qubits, initial_state=0).final_state_vector


def assert_same_state(circuit, qubits=None, parameters=(), values=None, atol=1e-10) -> str:
    qubits = sorted(circuit.all_qubits()) if qubits is None else list(qubits)
    text = to_qasm3(circuit, qubits=qubits, parameters=parameters)
    openqasm3.parse(text)
    got = qiskit_state(text, values)
    want = cirq_state(circuit, qubits, values)
    err = np.max(np.abs(got - want))
    assert err < atol, f"max |diff| {err:.3e} for\n{circuit}\n{text}"
    return text


def affine(rng, symbolic: bool):
    """A random angle: a float, or a*theta_k + b (sometimes a bare symbol)."""
    if not symbolic or rng.random() < 0.3:
        return float(rng.uniform(-4, 4))
    s = SYMS[rng.integers(len(SYMS))]
    kind = rng.integers(3)
    if kind == 0:
        return s
    if kind == 1:
        return float(rng.uniform(-2, 2)) * s
    return float(rng.uniform(-2, 2)) * s + float(rng.uniform(-2, 2))


def random_op(rng, qubits, symbolic: bool):
    n = len(qubits)
    pick = list(rng.permutation(n))
    q = [qubits[i] for i in pick]
    shift = float(rng.choice([0.0, -0.5, 0.25, rng.uniform(-1, 1)]))
    one = [
        lambda: cirq.rx(affine(rng, symbolic)),
        lambda: cirq.ry(affine(rng, symbolic)),
        lambda: cirq.rz(affine(rng, symbolic)),
        lambda: cirq.XPowGate(exponent=affine(rng, symbolic), global_shift=shift),
        lambda: cirq.YPowGate(exponent=affine(rng, symbolic), global_shift=shift),
        lambda: cirq.ZPowGate(exponent=affine(rng, symbolic), global_shift=shift),
        lambda: cirq.ZPowGate(exponent=float(rng.choice([1, 0.5, -0.5, 0.25])), global_shift=shift),
        lambda: cirq.XPowGate(exponent=1, global_shift=shift),
        lambda: [cirq.H, cirq.X, cirq.Y, cirq.Z, cirq.S, cirq.S**-1, cirq.T, cirq.T**-1][
            rng.integers(8)
        ],
        lambda: cirq.HPowGate(exponent=float(rng.uniform(-2, 2))),
        lambda: cirq.PhasedXZGate(
            x_exponent=affine(rng, symbolic),
            z_exponent=affine(rng, symbolic),
            axis_phase_exponent=affine(rng, symbolic),
        ),
        lambda: cirq.MatrixGate(cirq.testing.random_unitary(2, random_state=int(rng.integers(2**31)))),
        lambda: cirq.GlobalPhaseGate(np.exp(1j * rng.uniform(-4, 4))),
    ]
    two = [
        lambda: cirq.CNOT,
        lambda: cirq.CZ,
        lambda: cirq.SWAP,
        lambda: cirq.CXPowGate(exponent=affine(rng, symbolic), global_shift=shift),
        lambda: cirq.CZPowGate(exponent=affine(rng, symbolic), global_shift=shift),
        lambda: cirq.ControlledGate(
            cirq.YPowGate(exponent=affine(rng, symbolic), global_shift=shift),
            control_values=[int(rng.integers(2))],
        ),
        lambda: cirq.ControlledGate(cirq.rz(affine(rng, symbolic))),
    ]
    three = [
        lambda: cirq.CCX,
        lambda: cirq.CCZ,
        lambda: cirq.CCXPowGate(exponent=float(rng.uniform(-2, 2)), global_shift=shift),
        lambda: cirq.ControlledGate(
            cirq.PhasedXZGate(
                x_exponent=affine(rng, symbolic), z_exponent=0.3, axis_phase_exponent=-0.2
            ),
            control_values=[int(rng.integers(2)), int(rng.integers(2))],
        ),
        lambda: cirq.ControlledGate(cirq.SWAP, control_values=[int(rng.integers(2))]),
    ]
    pools = [one] + ([two] if n >= 2 else []) + ([three] if n >= 3 else [])
    pool = pools[rng.integers(len(pools))]
    gate = pool[rng.integers(len(pool))]()
    if isinstance(gate, cirq.GlobalPhaseGate):
        return gate.on()
    return gate.on(*q[: gate.num_qubits()])


def random_circuit(rng, n_qubits: int, n_ops: int, symbolic: bool = False) -> cirq.Circuit:
    qubits = cirq.LineQubit.range(n_qubits)
    # Start from a generic state so that every amplitude (and the phase) is exercised.
    ops = [cirq.ry(float(rng.uniform(0, 3))).on(q) for q in qubits]
    ops += [random_op(rng, qubits, symbolic) for _ in range(n_ops)]
    return cirq.Circuit(ops)


def literal_value(expr: ast.Expression) -> float:
    """The float a parsed constant angle (literal or -literal) denotes."""
    if isinstance(expr, ast.UnaryExpression) and expr.op.name == "-":
        return -literal_value(expr.expression)
    if isinstance(expr, (ast.FloatLiteral, ast.IntegerLiteral)):
        return float(expr.value)
    raise AssertionError(f"not a literal: {expr!r}")


def gates(program: ast.Program) -> list[ast.QuantumGate]:
    return [s for s in program.statements if isinstance(s, ast.QuantumGate)]


# -- semantics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_random_numeric_circuits_match_cirq_with_phase(seed):
    rng = np.random.default_rng(seed)
    circuit = random_circuit(rng, int(rng.integers(1, 6)), 25)
    assert_same_state(circuit)


@pytest.mark.parametrize("seed", range(30))
def test_random_symbolic_circuits_match_cirq_with_phase(seed):
    rng = np.random.default_rng(1000 + seed)
    circuit = random_circuit(rng, int(rng.integers(1, 6)), 25, symbolic=True)
    values = {s.name: float(rng.uniform(-3, 3)) for s in SYMS}
    text = assert_same_state(circuit, parameters=SYMS, values=values)
    for s in SYMS:
        assert f"input float[64] {s.name};" in text


@pytest.mark.parametrize(
    "gate",
    [
        cirq.X, cirq.Y, cirq.Z, cirq.H, cirq.S, cirq.S**-1, cirq.T, cirq.T**-1,
        cirq.ZPowGate(exponent=0.3), cirq.ZPowGate(exponent=0.5, global_shift=0.3),
        cirq.XPowGate(exponent=0.3, global_shift=0.17), cirq.YPowGate(exponent=-1.3),
        cirq.XPowGate(exponent=1, global_shift=0.3), cirq.rx(0.3), cirq.ry(-0.7), cirq.rz(1.1),
        cirq.HPowGate(exponent=0.5), cirq.PhasedXZGate(x_exponent=0.3, z_exponent=0.7,
                                                       axis_phase_exponent=-0.4),
        cirq.MatrixGate(np.array([[0, 1j], [1j, 0]]) * np.exp(0.3j)),
        cirq.MatrixGate(np.diag([np.exp(0.2j), np.exp(-0.9j)])),
        cirq.MatrixGate(np.array([[1, 1], [1, -1]]) / np.sqrt(2) * np.exp(-2.9j)),
        cirq.MatrixGate(np.array([[1e-9, -1], [1, 1e-9]]) / math.hypot(1, 1e-9)),
    ],
    ids=str,
)
def test_single_qubit_gates_exact(gate):
    q = cirq.LineQubit.range(2)
    assert_same_state(cirq.Circuit(cirq.H.on_each(*q), cirq.rz(0.4).on(q[0]), gate.on(q[1])))


def test_z_power_is_phase_gate_with_exact_phase():
    # ZPowGate(e) = diag(1, e^{i pi e}) is p(pi e), no global phase; a shift adds gphase.
    q = cirq.LineQubit(0)
    text = to_qasm3(cirq.Circuit(cirq.ZPowGate(exponent=0.3).on(q)))
    assert f"p({math.pi * 0.3!r}) q[0];" in text and "gphase" not in text
    text = to_qasm3(cirq.Circuit(cirq.ZPowGate(exponent=0.3, global_shift=0.5).on(q)))
    assert f"gphase({math.pi * 0.5 * 0.3!r});" in text


def test_named_gates():
    q = cirq.LineQubit.range(3)
    c = cirq.Circuit(
        cirq.H(q[0]), cirq.X(q[0]), cirq.Y(q[0]), cirq.Z(q[0]), cirq.S(q[0]), (cirq.S**-1)(q[0]),
        cirq.T(q[0]), (cirq.T**-1)(q[0]), cirq.CNOT(q[0], q[1]), cirq.CZ(q[0], q[1]),
        cirq.SWAP(q[0], q[1]), cirq.CCX(q[0], q[1], q[2]), cirq.rx(0.5)(q[2]),
    )
    names = [g.name.name for g in gates(openqasm3.parse(to_qasm3(c)))]
    assert names == ["h", "x", "y", "z", "s", "sdg", "t", "tdg", "cx", "cz", "swap", "ccx", "rx"]


def test_global_phase_gate_and_controlled_phase():
    q = cirq.LineQubit.range(3)
    c = cirq.Circuit(cirq.H.on_each(*q), cirq.GlobalPhaseGate(np.exp(0.4j)).on())
    assert "gphase(0.4);" in assert_same_state(c)
    c = cirq.Circuit(
        cirq.H.on_each(*q),
        cirq.ControlledGate(cirq.GlobalPhaseGate(1j), num_controls=2).on(q[2], q[0]),
        cirq.ControlledGate(cirq.GlobalPhaseGate(-1j), control_values=[0]).on(q[1]),
    )
    assert_same_state(c)


def test_qubit_order_argument():
    rng = np.random.default_rng(7)
    circuit = random_circuit(rng, 4, 30)
    order = cirq.LineQubit.range(4)[::-1] + [cirq.LineQubit(9)]  # an idle extra qubit too
    text = assert_same_state(circuit, qubits=order)
    assert "qubit[5] q;" in text


def test_ten_qubits_two_thousand_gates():
    rng = np.random.default_rng(2024)
    circuit = random_circuit(rng, 10, 2000)
    text = assert_same_state(circuit, atol=1e-9)
    assert text.count("\n") > 2000


# -- text --------------------------------------------------------------------------------------


def test_layout_and_measure():
    q = cirq.LineQubit.range(2)
    a, b = sympy.Symbol("a_0"), sympy.Symbol("b_1")
    c = cirq.Circuit(cirq.rx(2 * a + 0.5).on(q[0]), cirq.ry(-b).on(q[1]), cirq.CNOT(q[0], q[1]))
    text = to_qasm3(c, parameters=[b, a], measure=True, header_comment="made by qlower\nline 2")
    assert text == (
        "// made by qlower\n"
        "// line 2\n"
        "OPENQASM 3.0;\n"
        'include "stdgates.inc";\n'
        "input float[64] b_1;\n"
        "input float[64] a_0;\n"
        "qubit[2] q;\n"
        "rx(2.0 * a_0 + 0.5) q[0];\n"
        "ry(-b_1) q[1];\n"
        "cx q[0], q[1];\n"
        "bit[2] c;\n"
        "c = measure q;\n"
    )
    openqasm3.parse(text)
    qc = qiskit_qasm3.loads(text)
    assert qc.num_clbits == 2 and [p.name for p in qc.parameters] == ["a_0", "b_1"]


def test_emit_program_returns_ast():
    q = cirq.LineQubit.range(2)
    prog = emit_program(cirq.Circuit(cirq.H(q[0]), cirq.CZ(*q)))
    assert isinstance(prog, ast.Program) and prog.version == "3.0"
    assert openqasm3.dumps(prog) == to_qasm3(cirq.Circuit(cirq.H(q[0]), cirq.CZ(*q)))


def test_angles_round_trip_bit_exact():
    q = cirq.LineQubit(0)
    rng = np.random.default_rng(3)
    angles = [0.1, 1 / 3, -2.5e-17, 1e-300, 5e-324, -0.0, 0.0, 123456.78901234567, -math.pi,
              1e300, 2.0**-1074 * 3, 7.0]
    angles += list(rng.standard_normal(50) * 10.0 ** rng.integers(-12, 12, 50))
    circuit = cirq.Circuit(cirq.rz(a).on(q) for a in angles)
    text = to_qasm3(circuit)
    parsed = [literal_value(g.arguments[0]) for g in gates(openqasm3.parse(text))]
    assert len(parsed) == len(angles)
    for want, got in zip(angles, parsed):
        assert got == want and math.copysign(1, got) == math.copysign(1, want), (want, got)
    loaded = [float(i.operation.params[0]) for i in qiskit_qasm3.loads(text).data]
    assert all(got == want for want, got in zip(angles, loaded))


def test_symbolic_coefficients_round_trip_bit_exact():
    q = cirq.LineQubit(0)
    a = SYMS[0]
    coef, const = 0.1234567890123456789, -9.87654321098765e-5
    text = to_qasm3(cirq.Circuit(cirq.rx(coef * a + const).on(q)), parameters=[a])
    (g,) = gates(openqasm3.parse(text))
    expr = g.arguments[0]
    assert isinstance(expr, ast.BinaryExpression) and expr.op.name == "-"
    assert literal_value(expr.rhs) == -const
    assert literal_value(expr.lhs.lhs) == coef and expr.lhs.rhs.name == "theta_0"


def test_output_is_deterministic():
    rng = np.random.default_rng(11)
    circuit = random_circuit(rng, 5, 200, symbolic=True)
    first = to_qasm3(circuit, parameters=SYMS, measure=True)
    assert to_qasm3(circuit, parameters=SYMS, measure=True) == first
    rebuilt = cirq.Circuit(circuit.all_operations())
    assert to_qasm3(rebuilt, parameters=SYMS, measure=True).encode() == first.encode()


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x", "h", "t", "u", "cx", "pi", "input", "output", "U", "gphase",
                                  "measure", "q", "c", "ccx"])
def test_reserved_parameter_names(name):
    c = cirq.Circuit(cirq.X(cirq.LineQubit(0)))
    msg = f"parameter name '{name}' collides with an OpenQASM 3 keyword or standard gate"
    with pytest.raises(ValueError) as e:
        to_qasm3(c, parameters=[sympy.Symbol(name)])
    assert str(e.value) == msg


@pytest.mark.parametrize("name", ["theta", "a0", "_0", "0_a", "a-1", "a_", "a_1b", "θ_1", "a 1",
                                  "x_1.5"])
def test_invalid_parameter_names(name):
    c = cirq.Circuit(cirq.X(cirq.LineQubit(0)))
    with pytest.raises(ValueError) as e:
        to_qasm3(c, parameters=[sympy.Symbol(name)])
    assert str(e.value) == (
        f"invalid parameter name '{name}': use letters, digits and underscores ending in an "
        "underscore and a number (e.g. theta_0)"
    )


@pytest.mark.parametrize("name", ["a_0", "theta_12", "Layer_3_w_7", "x_0", "t_1"])
def test_valid_parameter_names_load(name):
    s = sympy.Symbol(name)
    c = cirq.Circuit(cirq.rx(s).on(cirq.LineQubit(0)))
    assert_same_state(c, parameters=[s], values={name: 0.7})


def test_parameter_errors():
    q = cirq.LineQubit(0)
    a = sympy.Symbol("a_0")
    with pytest.raises(ValueError) as e:
        to_qasm3(cirq.Circuit(cirq.X(q)), parameters=[a, a])
    assert str(e.value) == "duplicate parameter name 'a_0'"
    with pytest.raises(ValueError) as e:
        to_qasm3(cirq.Circuit(cirq.rx(a).on(q)))
    assert str(e.value) == (
        "gate cirq.Rx(rads=sympy.Symbol('a_0')) uses symbol 'a_0', which is not in parameters"
    )
    with pytest.raises(ValueError) as e:
        to_qasm3(cirq.Circuit(cirq.rx(a**2).on(q)), parameters=[a])
    assert str(e.value).startswith("angle a_0**2 of gate cirq.Rx(") and str(e.value).endswith(
        "is not affine in the parameters (only a*symbol + b is supported)"
    )


@pytest.mark.parametrize(
    "op, message",
    [
        (cirq.ISWAP(*cirq.LineQubit.range(2)),
         "unsupported gate for OpenQASM 3 export: cirq.ISWAP"),
        (cirq.measure(cirq.LineQubit(0), key="m"),
         "unsupported gate for OpenQASM 3 export: "
         "cirq.MeasurementGate(1, cirq.MeasurementKey(name='m'), ())"),
        (cirq.MatrixGate(np.eye(4)).on(*cirq.LineQubit.range(2)),
         "unsupported gate for OpenQASM 3 export: cirq.MatrixGate on 2 qubits "
         "(only single-qubit MatrixGate)"),
        (cirq.SWAP(*cirq.LineQubit.range(2)) ** 0.5,
         "unsupported gate for OpenQASM 3 export: (cirq.SWAP**0.5) (only SWAP, not other powers)"),
        (cirq.PhasedXPowGate(phase_exponent=0.2).on(cirq.LineQubit(0)),
         "unsupported gate for OpenQASM 3 export: cirq.PhasedXPowGate(phase_exponent=0.2)"),
        (cirq.ControlledGate(cirq.ISWAP).on(*cirq.LineQubit.range(3)),
         "unsupported gate for OpenQASM 3 export: cirq.ISWAP"),
    ],
    ids=["iswap", "measure", "matrix2", "sqrt_swap", "phasedx", "controlled_iswap"],
)
def test_unsupported_gates(op, message):
    with pytest.raises(ValueError) as e:
        to_qasm3(cirq.Circuit(op))
    assert str(e.value) == message


def test_qubits_argument_errors():
    q = cirq.LineQubit.range(2)
    c = cirq.Circuit(cirq.CZ(*q))
    with pytest.raises(ValueError, match=r"^circuit acts on qubits missing from qubits: q\(1\)$"):
        to_qasm3(c, qubits=[q[0]])
    with pytest.raises(ValueError, match=r"^qubits contains duplicates$"):
        to_qasm3(c, qubits=[q[0], q[1], q[0]])
