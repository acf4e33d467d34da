"""OpenQASM 3 emitter for Cirq circuits.

The program is built from ``openqasm3.ast`` nodes and printed with ``openqasm3.dumps``; no
statement is pasted together as text. Layout::

    OPENQASM 3.0;
    include "stdgates.inc";
    input float[64] theta_0;      // one per circuit parameter, in the order given
    qubit[n] q;                   // qubit i of ``qubits`` is q[i]
    rx(0.5 * theta_0 + 0.25) q[0];
    ...
    gphase(...);                  // the circuit's global phase, summed, when not zero
    bit[n] c;                     // only with measure=True (or a list of qubits:
    c = measure q;                // bit[k] c; c[0] = measure q[i0]; ...)

Semantics are exact, global phase included: every gate's phase relative to the standard gate it
is written as is collected and emitted as one ``gphase`` at the end (inside a controlled gate it
becomes a relative phase and is written as a controlled ``p`` on a control qubit instead).
``qiskit.qasm3.loads`` accepts all of this (``gphase`` with constant or ``input``-dependent
arguments, ``U``, ``ctrl``/``negctrl`` modifiers) and keeps the phase in ``global_phase``.

Angles are float literals printed with ``repr`` (shortest round-trip form), so parsing them back
gives the same double bit for bit; a negative angle is a unary minus on a non-negative literal
(what the parser itself produces from ``-0.3``). Symbolic angles must be affine in the circuit
parameters (``a*theta_0 + b``, several symbols allowed); they are written as binary expressions.

Two ways to the same text: ``emit_program`` builds the program's AST (and ``openqasm3.dumps``
prints it); ``write_qasm3`` streams it from an operation table (``qlower.blocks.optable``): the
declarations, the final phase and the measurements printed from their AST nodes, each gate
one line as the printer writes it, a chunk of lines at a time, so a million-gate kernel never
exists as a million AST nodes or one string. ``to_qasm3`` streams too; the two agree byte for
byte (``tests/backends/test_qasm3_stream.py``).

Supported gates: ``Rx``/``Ry``/``Rz``; every ``XPowGate``/``YPowGate``/``ZPowGate`` (any
exponent and global shift; X, Y, Z, S, S†, T, T† by name); ``HPowGate`` (H by name, other
exponents as ``U``); ``PhasedXZGate`` and single-qubit ``MatrixGate`` (as ``U`` + phase);
``CXPowGate``/``CZPowGate``/``CCXPowGate``/``CCZPowGate`` (any exponent, ``cx``/``cz``/``ccx``
by name); ``SWAP``; ``GlobalPhaseGate``; ``IdentityGate`` (nothing emitted); ``ControlledGate``
and controlled operations over any of these with 0/1 control values. Anything else raises
``ValueError`` naming the gate.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cirq
import numpy as np
import openqasm3
import sympy
from openqasm3 import ast

from qlower.blocks import optable as ot
from qlower.blocks.circuits import fast_op, gc_paused

__all__ = ["RESERVED_NAMES", "emit_program", "to_qasm3", "write_qasm3"]

# Names a parameter may not take: OpenQASM 3 keywords and built-in constants, the gates of
# stdgates.inc (Qiskit's importer rejects an ``input`` that shadows one), and the register names
# this emitter uses.
RESERVED_NAMES = frozenset(
    """
    OPENQASM include defcalgrammar def cal defcal gate extern box let break continue if else end
    return for while in switch case default pragma input output const readonly mutable qreg qubit
    creg bool bit int uint float angle complex array void duration stretch gphase inv pow ctrl
    negctrl dim durationof delay reset measure barrier true false im pi tau euler sizeof U CX
    p x y z h s sdg t tdg sx rx ry rz cx cy cz cp crx cry crz ch cu swap ccx cswap phase cphase
    id u u0 u1 u2 u3 sxdg r rxx ryy rzz rzx ecr iswap dcx ccz cs csdg csx cu1 cu3 rccx c3x c4x q c
    """.split()
)

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*_[0-9]+\Z")

# Standard-gate names of a gate with positive controls (stdgates.inc), keyed by (gate, controls).
_CONTROLLED_NAMES = {
    ("x", 1): "cx", ("x", 2): "ccx", ("y", 1): "cy", ("z", 1): "cz", ("h", 1): "ch",
    ("p", 1): "cp", ("rx", 1): "crx", ("ry", 1): "cry", ("rz", 1): "crz", ("swap", 1): "cswap",
}
# Numeric exponents of a Pauli/phase power gate that have a standard name.
_X_NAMES = {1.0: "x"}
_Y_NAMES = {1.0: "y"}
_Z_NAMES = {1.0: "z", 0.5: "s", -0.5: "sdg", 0.25: "t", -0.25: "tdg"}


@dataclass
class _Affine:
    """``const + sum(coef * symbol)``; ``terms`` keeps insertion order (deterministic output)."""

    const: float = 0.0
    terms: dict[sympy.Symbol, float] = field(default_factory=dict)

    def is_zero(self) -> bool:
        return self.const == 0.0 and not self.terms

    def __add__(self, other: _Affine) -> _Affine:
        terms = dict(self.terms)
        for s, c in other.terms.items():
            v = terms.get(s, 0.0) + c
            if v == 0.0:
                terms.pop(s, None)
            else:
                terms[s] = v
        return _Affine(self.const + other.const, terms)

    def scaled(self, k: float) -> _Affine:
        terms = {s: k * c for s, c in self.terms.items() if k * c != 0.0}
        return _Affine(k * self.const, terms)


class _NotAffine(Exception):
    pass


def _affine_of(expr: sympy.Basic) -> _Affine:
    """Structural walk of Add/Mul/Symbol/number trees (no sympy algebra: that is slow)."""
    if isinstance(expr, sympy.Symbol):
        return _Affine(0.0, {expr: 1.0})
    if expr.is_number:
        try:
            return _Affine(float(expr))
        except TypeError:
            raise _NotAffine from None
    if isinstance(expr, sympy.Add):
        out = _Affine()
        for arg in expr.args:
            out = out + _affine_of(arg)
        return out
    if isinstance(expr, sympy.Mul):
        factor, rest = 1.0, []
        for arg in expr.args:
            if arg.is_number:
                try:
                    factor *= float(arg)
                except TypeError:
                    raise _NotAffine from None
            else:
                rest.append(arg)
        if len(rest) != 1:
            raise _NotAffine
        return _affine_of(rest[0]).scaled(factor)
    raise _NotAffine


@dataclass
class _Stmt:
    """One gate application: ``name`` is a stdgates name, ``U``, or ``gphase``.

    ``controls`` are (qubit, value) pairs applied as ``ctrl``/``negctrl`` modifiers in front of
    the gate; ``qubits`` are the gate's own operands (none for ``gphase``)."""

    name: str
    args: list[_Affine]
    qubits: list[int]
    controls: list[tuple[int, int]] = field(default_factory=list)


def _gate_name(gate: cirq.Gate) -> str:
    if isinstance(gate, cirq.MatrixGate):  # its repr prints the whole matrix
        return f"cirq.MatrixGate on {gate.num_qubits()} qubits"
    return repr(gate)


def _unsupported(gate: cirq.Gate, why: str = "") -> ValueError:
    msg = f"unsupported gate for OpenQASM 3 export: {_gate_name(gate)}"
    return ValueError(msg + (f" ({why})" if why else ""))


class _Lowering:
    """Turns Cirq gates into ``_Stmt`` lists plus a global phase, resolving symbolic angles."""

    def __init__(self, parameters: Sequence[sympy.Symbol]):
        self.parameters = set(parameters)
        self._cache: dict[sympy.Expr, _Affine] = {}

    # -- angles ------------------------------------------------------------------------------
    def angle(self, value, gate: cirq.Gate, scale: float = 1.0) -> _Affine:
        """``scale * value`` as an affine form of the parameters (``scale`` 1 keeps it exact)."""
        if not isinstance(value, sympy.Basic) or value.is_number:
            try:
                v = float(value)
            except TypeError:
                raise ValueError(f"complex angle {value} in gate {_gate_name(gate)}") from None
            if scale != 1.0:
                v = scale * v
            if not math.isfinite(v):
                raise ValueError(f"non-finite angle {v!r} in gate {_gate_name(gate)}")
            return _Affine(v)
        hit = self._cache.get(value)
        if hit is None:
            hit = self._cache[value] = self._linearize(value, gate)
        out = _Affine(hit.const, dict(hit.terms))
        return out if scale == 1.0 else out.scaled(scale)

    def _linearize(self, expr: sympy.Basic, gate: cirq.Gate) -> _Affine:
        for s in sorted(expr.free_symbols, key=lambda s: s.name):
            if s not in self.parameters:
                raise ValueError(
                    f"gate {_gate_name(gate)} uses symbol '{s.name}', which is not in parameters"
                )
        try:
            out = _affine_of(expr)
        except _NotAffine:
            raise ValueError(
                f"angle {expr} of gate {_gate_name(gate)} is not affine in the parameters "
                "(only a*symbol + b is supported)"
            ) from None
        if not math.isfinite(out.const) or not all(math.isfinite(c) for c in out.terms.values()):
            raise ValueError(f"non-finite angle {expr} in gate {_gate_name(gate)}")
        return out

    # -- gates --------------------------------------------------------------------------------
    def lower(self, gate: cirq.Gate, qs: list[int]) -> tuple[list[_Stmt], _Affine]:
        """Statements for ``gate`` on register indices ``qs`` and the global phase they omit."""
        zero = _Affine()
        if isinstance(gate, cirq.IdentityGate):
            return [], zero
        if isinstance(gate, cirq.GlobalPhaseGate):
            coef = gate.coefficient
            if cirq.is_parameterized(coef):
                raise _unsupported(gate, "symbolic global phase")
            return [], _Affine(float(np.angle(complex(coef))))
        if isinstance(gate, cirq.ControlledGate):
            return self._controlled(gate, qs)
        if isinstance(gate, (cirq.XPowGate, cirq.YPowGate)):
            return self._pauli_pow(gate, qs)
        if isinstance(gate, cirq.ZPowGate):
            return self._z_pow(gate, qs)
        if isinstance(gate, cirq.HPowGate):
            if gate.exponent == 1:
                return [_Stmt("h", [], qs)], self._shift_phase(gate)
            return self._matrix(gate, qs)
        if isinstance(gate, cirq.PhasedXZGate):
            return self._phased_xz(gate, qs)
        if isinstance(gate, cirq.MatrixGate):
            if gate.num_qubits() != 1:
                raise _unsupported(gate, "only single-qubit MatrixGate")
            return self._matrix(gate, qs)
        if isinstance(gate, cirq.CXPowGate):
            return self._controlled_pow(gate, cirq.XPowGate(exponent=gate.exponent), qs, 1)
        if isinstance(gate, cirq.CZPowGate):
            return self._controlled_pow(gate, cirq.ZPowGate(exponent=gate.exponent), qs, 1)
        if isinstance(gate, cirq.CCXPowGate):
            return self._controlled_pow(gate, cirq.XPowGate(exponent=gate.exponent), qs, 2)
        if isinstance(gate, cirq.CCZPowGate):
            return self._controlled_pow(gate, cirq.ZPowGate(exponent=gate.exponent), qs, 2)
        if isinstance(gate, cirq.SwapPowGate):
            if gate.exponent == 1:
                return [_Stmt("swap", [], qs)], self._shift_phase(gate)
            raise _unsupported(gate, "only SWAP, not other powers")
        raise _unsupported(gate)

    def _shift_phase(self, gate: cirq.EigenGate) -> _Affine:
        """``pi * exponent * global_shift``: the phase an EigenGate adds to its shift-free form."""
        if gate.global_shift == 0:
            return _Affine()
        return self.angle(gate.exponent, gate, math.pi * gate.global_shift)

    def _pauli_pow(self, gate, qs):
        # X**e (no shift) = P+ + e^{i pi e} P- = e^{i pi e / 2} Rx(pi e); the same for Y.
        rot = "rx" if isinstance(gate, cirq.XPowGate) else "ry"
        if isinstance(gate, (cirq.Rx, cirq.Ry)):
            # The radians the user gave, not pi * (rads / pi): keeps angles bit-exact.
            return [_Stmt(rot, [self.angle(gate._rads, gate)], qs)], _Affine()
        e = gate.exponent
        names = _X_NAMES if isinstance(gate, cirq.XPowGate) else _Y_NAMES
        if not cirq.is_parameterized(e) and float(e) in names:
            return [_Stmt(names[float(e)], [], qs)], self._shift_phase(gate)
        phase = self.angle(e, gate, math.pi * (gate.global_shift + 0.5))
        return [_Stmt(rot, [self.angle(e, gate, math.pi)], qs)], phase

    def _z_pow(self, gate, qs):
        # Z**e (no shift) = diag(1, e^{i pi e}) = p(pi e).
        if isinstance(gate, cirq.Rz):
            return [_Stmt("rz", [self.angle(gate._rads, gate)], qs)], _Affine()
        e = gate.exponent
        if not cirq.is_parameterized(e) and float(e) in _Z_NAMES:
            return [_Stmt(_Z_NAMES[float(e)], [], qs)], self._shift_phase(gate)
        return [_Stmt("p", [self.angle(e, gate, math.pi)], qs)], self._shift_phase(gate)

    def _phased_xz(self, gate: cirq.PhasedXZGate, qs):
        # Z^z Z^a X^x Z^-a = p(pi(z+a)) e^{i pi x/2} Rx(pi x) p(-pi a), Rx(t) = U(t, -pi/2, pi/2)
        # and p(f) U(t, l, m) p(g) = U(t, l + f, m + g).
        x, z, a = gate.x_exponent, gate.z_exponent, gate.axis_phase_exponent
        theta = self.angle(x, gate, math.pi)
        za = self.angle(z, gate, math.pi) + self.angle(a, gate, math.pi)
        phi = za + _Affine(-math.pi / 2)
        lam = _Affine(math.pi / 2) + self.angle(a, gate, -math.pi)
        return [_Stmt("U", [theta, phi, lam], qs)], self.angle(x, gate, math.pi / 2)

    def _matrix(self, gate: cirq.Gate, qs):
        if cirq.is_parameterized(gate):
            raise _unsupported(gate, "symbolic matrix")
        u = np.asarray(cirq.unitary(gate), dtype=np.complex128)
        if not cirq.is_unitary(u, atol=1e-8):
            raise _unsupported(gate, "matrix is not unitary")
        theta, phi, lam, gamma = _zyz_u(u)
        args = [_Affine(theta), _Affine(phi), _Affine(lam)]
        return [_Stmt("U", args, qs)], _Affine(gamma)

    def _controlled_pow(self, gate, sub: cirq.Gate, qs, n_controls: int):
        # C^k(X**e) with a global shift s is e^{i pi e s} times the controlled shift-free gate.
        stmts, _ = self._controlled_stmts(sub, [(q, 1) for q in qs[:n_controls]], qs[n_controls:])
        return stmts, self._shift_phase(gate)

    def _controlled(self, gate: cirq.ControlledGate, qs):
        n = gate.num_controls()
        if any(d != 2 for d in gate.control_qid_shape):
            raise _unsupported(gate, "controls must be qubits")
        values = gate.control_values
        if not isinstance(values, cirq.ProductOfSums):
            raise _unsupported(gate, "control values must be one 0 or 1 per control")
        per_qubit = list(values)
        if len(per_qubit) != n or any(len(v) != 1 or v[0] not in (0, 1) for v in per_qubit):
            raise _unsupported(gate, "control values must be one 0 or 1 per control")
        controls = [(q, int(v[0])) for q, v in zip(qs[:n], per_qubit)]
        return self._controlled_stmts(gate.sub_gate, controls, qs[n:])

    def _controlled_stmts(self, sub: cirq.Gate, controls, targets):
        stmts, phase = self.lower(sub, targets)
        out = [_Stmt(s.name, s.args, s.qubits, controls + s.controls) for s in stmts]
        if not phase.is_zero():
            # A controlled global phase is a phase gate on the control condition.
            ones = [c for c in controls if c[1] == 1]
            if ones:
                k = controls.index(ones[-1])
                rest = controls[:k] + controls[k + 1:]
                out.append(_Stmt("p", [phase], [controls[k][0]], rest))
            else:
                out.append(_Stmt("gphase", [phase], [], list(controls)))
        return out, _Affine()


def _zyz_u(u: np.ndarray) -> tuple[float, float, float, float]:
    """(theta, phi, lam, gamma) with u = e^{i gamma} U(theta, phi, lam) for a 2x2 unitary.

    U(t, f, l) = [[c, -e^{il} s], [e^{if} s, e^{i(f+l)} c]], c = cos(t/2), s = sin(t/2). The phases
    are read off the larger entries, so an error in a phase taken from a tiny entry only moves
    that entry (by |entry| * error), never the whole matrix."""
    c, s = abs(u[0, 0]), abs(u[1, 0])
    theta = 2.0 * math.atan2(s, c)
    a00, a10 = float(np.angle(u[0, 0])), float(np.angle(u[1, 0]))
    a01, a11 = float(np.angle(-u[0, 1])), float(np.angle(u[1, 1]))
    if c >= s:
        gamma = a00
        if s > 0.0:
            phi, lam = a10 - gamma, a01 - gamma
        else:
            phi, lam = 0.0, a11 - gamma
    else:
        if c > 0.0:
            gamma = a10 + a01 - a11
        else:
            gamma = a01
        phi, lam = a10 - gamma, a01 - gamma
    return theta, phi, lam, gamma


# -- AST construction --------------------------------------------------------------------------


def _float(v: float) -> ast.Expression:
    if math.copysign(1.0, v) < 0:
        return ast.UnaryExpression(ast.UnaryOperator["-"], ast.FloatLiteral(-v))
    return ast.FloatLiteral(v)


def _expr(a: _Affine, order: dict[sympy.Symbol, int]) -> ast.Expression:
    """``c1*s1 + c2*s2 + ... + const`` as AST; coefficients 1/-1 are left out."""
    parts: list[tuple[bool, ast.Expression]] = []  # (negative, magnitude expression)
    for s in sorted(a.terms, key=order.__getitem__):
        c = a.terms[s]
        ident = ast.Identifier(s.name)
        mag = abs(c)
        term = ident if mag == 1.0 else ast.BinaryExpression(
            ast.BinaryOperator["*"], ast.FloatLiteral(mag), ident
        )
        parts.append((c < 0, term))
    if not parts:
        return _float(a.const)
    if a.const != 0.0:
        parts.append((a.const < 0, ast.FloatLiteral(abs(a.const))))
    neg, out = parts[0]
    if neg:
        out = ast.UnaryExpression(ast.UnaryOperator["-"], out)
    for neg, term in parts[1:]:
        op = ast.BinaryOperator["-"] if neg else ast.BinaryOperator["+"]
        out = ast.BinaryExpression(op, out, term)
    return out


def _qubit(i: int) -> ast.IndexedIdentifier:
    return ast.IndexedIdentifier(ast.Identifier("q"), [[ast.IntegerLiteral(i)]])


def _modifiers(controls: list[tuple[int, int]]) -> list[ast.QuantumGateModifier]:
    """Runs of equal control values become one ``ctrl(k) @`` / ``negctrl(k) @``."""
    mods: list[ast.QuantumGateModifier] = []
    i = 0
    while i < len(controls):
        j = i
        while j < len(controls) and controls[j][1] == controls[i][1]:
            j += 1
        name = ast.GateModifierName.ctrl if controls[i][1] else ast.GateModifierName.negctrl
        mods.append(ast.QuantumGateModifier(name, ast.IntegerLiteral(j - i) if j - i > 1 else None))
        i = j
    return mods


def _statement(st: _Stmt, order) -> ast.Statement:
    args = [_expr(a, order) for a in st.args]
    name, controls = st.name, st.controls
    if controls and all(v == 1 for _, v in controls):
        std = _CONTROLLED_NAMES.get((name, len(controls)))
        if std is not None:
            name, controls = std, []
    qubits = [_qubit(q) for q, _ in st.controls]
    qubits += [_qubit(q) for q in st.qubits]
    if name == "gphase":
        return ast.QuantumPhase(_modifiers(controls), args[0], qubits)
    return ast.QuantumGate(_modifiers(controls), ast.Identifier(name), args, qubits)


def _check_parameters(parameters: Iterable) -> list[sympy.Symbol]:
    params = list(parameters)
    seen: set[str] = set()
    for p in params:
        if not isinstance(p, sympy.Symbol):
            raise ValueError(f"parameters must be sympy.Symbol, got {p!r}")
        name = p.name
        if name in RESERVED_NAMES:
            raise ValueError(
                f"parameter name '{name}' collides with an OpenQASM 3 keyword or standard gate"
            )
        if not _NAME_RE.match(name):
            raise ValueError(
                f"invalid parameter name '{name}': use letters, digits and underscores ending in "
                "an underscore and a number (e.g. theta_0)"
            )
        if name in seen:
            raise ValueError(f"duplicate parameter name '{name}'")
        seen.add(name)
    return params


def emit_program(
    circuit: cirq.AbstractCircuit,
    *,
    qubits: Sequence[cirq.Qid] | None = None,
    parameters: Iterable[sympy.Symbol] = (),
    measure: bool | Sequence[int] = False,
) -> ast.Program:
    """The OpenQASM 3 AST of ``circuit`` (see the module docstring and ``to_qasm3``)."""
    with gc_paused():
        return _emit(circuit, qubits, parameters, measure)


def _register(all_qubits, qubits) -> list:
    """The register order: ``qubits``, checked to hold every qubit used, or the sorted ones."""
    if qubits is None:
        order_q = sorted(all_qubits)
    else:
        order_q = list(qubits)
        if len(set(order_q)) != len(order_q):
            raise ValueError("qubits contains duplicates")
        missing = all_qubits - set(order_q)
        if missing:
            raise ValueError(
                "circuit acts on qubits missing from qubits: "
                + ", ".join(str(q) for q in sorted(missing))
            )
    if any(q.dimension != 2 for q in order_q):
        raise ValueError("only qubits (dimension 2) can be exported to OpenQASM 3")
    return order_q


def _header(params, n: int) -> list[ast.Statement]:
    statements: list[ast.Statement] = [ast.Include("stdgates.inc")]
    statements += [
        ast.IODeclaration(
            ast.IOKeyword.input, ast.FloatType(ast.IntegerLiteral(64)), ast.Identifier(p.name)
        )
        for p in params
    ]
    if n:
        statements.append(ast.QubitDeclaration(ast.Identifier("q"), ast.IntegerLiteral(n)))
    return statements


def _emit(circuit, qubits, parameters, measure) -> ast.Program:
    params = _check_parameters(parameters)
    order_q = _register(circuit.all_qubits(), qubits)
    index = {q: i for i, q in enumerate(order_q)}
    order = {p: i for i, p in enumerate(params)}
    low = _Lowering(params)

    body: list[ast.Statement] = []
    phase = _Affine()
    for op in circuit.all_operations():
        gate = op.gate
        if gate is None:
            raise ValueError(f"unsupported operation for OpenQASM 3 export: {op!r} (no gate)")
        stmts, ph = low.lower(gate, [index[q] for q in op.qubits])
        body.extend(_statement(st, order) for st in stmts)
        phase = phase + ph

    n = len(order_q)
    statements = _header(params, n)
    statements += body
    if not phase.is_zero():
        statements.append(ast.QuantumPhase([], _expr(phase, order), []))
    statements += _measurements(measure, n)
    return ast.Program(statements, version="3.0")


def _measurements(measure: bool | Sequence[int], n: int) -> list[ast.Statement]:
    """``bit[k] c;`` and the measurements: all qubits (``measure=True``: ``c = measure q;``) or
    ``c[k] = measure q[measure[k]];`` for register indices ``measure``."""
    if isinstance(measure, bool):
        chosen = list(range(n)) if measure else []
    else:
        chosen = [int(i) for i in measure]
        if len(set(chosen)) != len(chosen) or any(not 0 <= i < n for i in chosen):
            raise ValueError(f"measure: expected distinct qubit indices in 0..{n - 1}, got {chosen}")
    if not chosen:
        return []
    out: list[ast.Statement] = [ast.ClassicalDeclaration(
        ast.BitType(ast.IntegerLiteral(len(chosen))), ast.Identifier("c"), None
    )]
    if chosen == list(range(n)):
        out.append(ast.QuantumMeasurementStatement(
            ast.QuantumMeasurement(ast.Identifier("q")), ast.Identifier("c")
        ))
        return out
    for k, i in enumerate(chosen):
        out.append(ast.QuantumMeasurementStatement(
            ast.QuantumMeasurement(_qubit(i)),
            ast.IndexedIdentifier(ast.Identifier("c"), [[ast.IntegerLiteral(k)]]),
        ))
    return out


def to_qasm3(
    circuit: cirq.AbstractCircuit,
    *,
    qubits: Sequence[cirq.Qid] | None = None,
    parameters: Iterable[sympy.Symbol] = (),
    measure: bool | Sequence[int] = False,
    header_comment: str | None = None,
) -> str:
    """``circuit`` as an OpenQASM 3 program (text).

    qubits: register order, qubit i is ``q[i]``; default ``sorted(circuit.all_qubits())``.
    parameters: the sympy symbols the circuit uses, declared as ``input float[64]`` in this
        order. Names must look like ``theta_0`` (letters, digits, underscores, ending in
        ``_<number>``) and must not be an OpenQASM keyword or standard-gate name.
    measure: ``True`` appends ``bit[n] c; c = measure q;``; a sequence of register indices
        appends ``bit[k] c;`` and ``c[j] = measure q[measure[j]];`` for each (all qubits in
        order is written ``c = measure q;``).
    header_comment: written as ``//`` comment lines before ``OPENQASM 3.0;`` (the AST has no
        comment node; these are the only lines not printed by ``openqasm3.dumps``).

    The output depends only on the arguments (same circuit, same bytes); it is the text
    ``openqasm3.dumps(emit_program(...))`` prints, written by :func:`write_qasm3`.
    """
    out = io.StringIO()
    with gc_paused():
        table = ot.OpTable.from_operations(circuit.all_operations())
    write_qasm3(out, table, qubits=qubits, parameters=parameters, measure=measure,
                header_comment=header_comment)
    return out.getvalue()


# -- streaming ---------------------------------------------------------------------------------

_CHUNK = 1 << 15  # rows formatted, then written, at a time


def write_qasm3(
    out,
    table: ot.OpTable,
    *,
    order: np.ndarray | None = None,
    qubits: Sequence[cirq.Qid] | None = None,
    parameters: Iterable[sympy.Symbol] = (),
    measure: bool | Sequence[int] = False,
    header_comment: str | None = None,
) -> None:
    """Write the operations of ``table`` (``qlower.blocks.optable.OpTable``), in ``order``
    (row indices; default: row order), as an OpenQASM 3 program to the text stream ``out``.

    The text is what :func:`to_qasm3` writes for a circuit whose ``all_operations()`` are
    those rows in that order (the other arguments as there), byte for byte: the declarations
    and the final phase and measurements are printed from the AST by ``openqasm3.dumps``, the
    gates one line each as it prints them, a chunk of lines at a time. Memory stays that of
    the table and one chunk.
    """
    with gc_paused():
        _write(out, table, order, qubits, parameters, measure, header_comment)


def _write(out, table, order, qubits, parameters, measure, header_comment) -> None:
    params = _check_parameters(parameters)
    order_q = _register(table.used_qubits(), qubits)
    index = {q: i for i, q in enumerate(order_q)}
    porder = {p: i for i, p in enumerate(params)}
    text = openqasm3.dumps(ast.Program(_header(params, len(order_q)), version="3.0"))
    if header_comment is not None:
        lines = header_comment.splitlines() or [""]
        text = "".join(f"// {line}".rstrip() + "\n" for line in lines) + text
    out.write(text)
    phase = _Body(table, index, porder, _Lowering(params)).write(out, order)
    tail: list[ast.Statement] = []
    if not phase.is_zero():
        tail.append(ast.QuantumPhase([], _expr(phase, porder), []))
    tail += _measurements(measure, len(order_q))
    if tail:
        out.write(openqasm3.dumps(ast.Program(tail)))


class _Body:
    """The gate lines of a table and the global phase they leave out.

    Typed rows are formatted directly (``ry(0.25) q[3];``: repr angles, which is how the
    printer writes a float literal, a minus sign included); ``OP`` rows, and every row of a
    table with a non-finite angle or a symbol outside the parameters, go through
    :class:`_Lowering` and :func:`_stmt_text` like any Cirq gate (raising its errors in order).
    """

    def __init__(self, table: ot.OpTable, index: dict, porder: dict, low: _Lowering):
        self.t, self.low, self.porder, self.index = table, low, porder, index
        self.qname = [f"q[{index[q]}]" if q in index else "" for q in table.qubits]
        P = table.pxz
        # _phased_xz's arithmetic, elementwise (IEEE: the same doubles as the scalar code)
        with np.errstate(all="ignore"):  # a non-finite exponent takes the generic path
            theta = math.pi * P[:, 0]
            phi = (math.pi * P[:, 1] + math.pi * P[:, 2]) + (-math.pi / 2)
            lam = (math.pi / 2) + (-math.pi) * P[:, 2]
            gph = (math.pi / 2) * P[:, 0]
        self.fast = table.check_finite() and bool(
            np.all(np.isfinite(theta)) and np.all(np.isfinite(phi))
            and np.all(np.isfinite(lam)) and np.all(np.isfinite(gph))
        ) and all(s in low.parameters for s in table.symbols)
        self.pxz = (theta, phi, lam, gph)
        self.sym = [s.name for s in table.symbols]

    def write(self, out, order) -> _Affine:
        t = self.t
        n = len(t)
        const, terms = 0.0, {}
        qname, sym = self.qname, self.sym
        theta, phi, lam, gph = self.pxz
        RY, RZ, CX, CZ, H, PXZ = ot.RY, ot.RZ, ot.CX, ot.CZ, ot.H, ot.PXZ
        RY_SYM, RZ_SYM = ot.RY_SYM, ot.RZ_SYM
        fast = self.fast
        for start in range(0, n, _CHUNK):
            rows = np.arange(start, min(start + _CHUNK, n)) if order is None \
                else np.asarray(order[start:start + _CHUNK])
            kind = t.kind[rows].tolist()
            q0 = t.q0[rows].tolist()
            q1 = t.q1[rows].tolist()
            value = t.value[rows].tolist()
            ref = t.ref[rows].tolist()
            refs = t.ref[rows][t.kind[rows] == PXZ]  # this chunk's PXZ rows, in order
            u = iter(zip(theta[refs].tolist(), phi[refs].tolist(), lam[refs].tolist(),
                         gph[refs].tolist()))
            lines: list[str] = []
            for i, k in enumerate(kind):
                if not fast or k == ot.OP:
                    ph = self._generic(int(rows[i]), lines)
                    const = const + ph.const
                    for s, c in ph.terms.items():
                        v = terms.get(s, 0.0) + c
                        if v == 0.0:
                            terms.pop(s, None)
                        else:
                            terms[s] = v
                elif k == CX:
                    lines.append(f"cx {qname[q0[i]]}, {qname[q1[i]]};\n")
                elif k == RY:
                    lines.append(f"ry({value[i]!r}) {qname[q0[i]]};\n")
                elif k == RZ:
                    lines.append(f"rz({value[i]!r}) {qname[q0[i]]};\n")
                elif k == PXZ:
                    a, b, c, g = next(u)
                    lines.append(f"U({a!r}, {b!r}, {c!r}) {qname[q0[i]]};\n")
                    const = const + g
                elif k == CZ:
                    lines.append(f"cz {qname[q0[i]]}, {qname[q1[i]]};\n")
                elif k == H:
                    lines.append(f"h {qname[q0[i]]};\n")
                elif k == RY_SYM:
                    lines.append(f"ry({sym[ref[i]]}) {qname[q0[i]]};\n")
                elif k == RZ_SYM:
                    lines.append(f"rz({sym[ref[i]]}) {qname[q0[i]]};\n")
                else:  # pragma: no cover - every kind is handled above
                    raise AssertionError(f"row kind {k}")
            out.write("".join(lines))
        return _Affine(const, terms)

    def _generic(self, row: int, lines: list) -> _Affine:
        t = self.t
        if t.kind[row] == ot.OP:
            op, ids = t.objects[int(t.ref[row])]
            if op.gate is None:
                raise ValueError(f"unsupported operation for OpenQASM 3 export: {op!r} (no gate)")
            on = tuple(t.qubits[i] for i in ids)
            if on != op.qubits:
                op = fast_op(op.gate, on)
        else:
            op = t.operations(np.array([row]))[0]
        gate = op.gate
        stmts, ph = self.low.lower(gate, [self.index[q] for q in op.qubits])
        lines.extend(_stmt_text(st, self.porder) for st in stmts)
        return ph


def _expr_text(a: _Affine, order) -> str:
    """``openqasm3.dumps(_expr(a, order))``, without the AST where the expression is one
    number or one symbol."""
    if not a.terms:
        return repr(a.const)  # a float literal or the minus of one: repr(v) either way
    if a.const == 0.0 and len(a.terms) == 1:
        (s, c), = a.terms.items()
        if c == 1.0:
            return s.name
    return openqasm3.dumps(_expr(a, order))


def _modifiers_text(controls: list[tuple[int, int]]) -> str:
    out = []
    i = 0
    while i < len(controls):
        j = i
        while j < len(controls) and controls[j][1] == controls[i][1]:
            j += 1
        name = "ctrl" if controls[i][1] else "negctrl"
        out.append(f"{name}({j - i})" if j - i > 1 else name)
        i = j
    return "".join(f"{m} @ " for m in out)


def _stmt_text(st: _Stmt, order) -> str:
    """The line ``openqasm3.dumps`` prints for ``_statement(st, order)``."""
    args = [_expr_text(a, order) for a in st.args]
    name, controls = st.name, st.controls
    if controls and all(v == 1 for _, v in controls):
        std = _CONTROLLED_NAMES.get((name, len(controls)))
        if std is not None:
            name, controls = std, []
    qubits = ", ".join([f"q[{q}]" for q, _ in st.controls] + [f"q[{q}]" for q in st.qubits])
    mods = _modifiers_text(controls)
    if name == "gphase":
        return f"{mods}gphase({args[0]})" + (f" {qubits}" if qubits else "") + ";\n"
    return f"{mods}{name}" + (f"({', '.join(args)})" if args else "") + f" {qubits};\n"
