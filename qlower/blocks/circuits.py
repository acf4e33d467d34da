"""Fast construction of Cirq circuits from gate lists, and resource counts.

Cirq validates every operation and moment it builds; for the tens of thousands of gates a
state preparation or block encoding emits that validation dominates the build time. The
builders here create operations whose qubits are known to be right by construction, pack them
into moments as early as possible, and never copy the moment list.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterable, Iterator, Sequence

import cirq
import sympy

from qlower.blocks.mux import fwht  # noqa: F401 - re-exported
from qlower.blocks.resources import Resources


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building tens of thousands of gate objects.

    None of them is cyclic garbage, but every allocation burst triggers collections that
    otherwise take about half the build time of a large circuit.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def fast_op(gate: cirq.Gate, qubits: tuple[cirq.Qid, ...]) -> cirq.Operation:
    """``gate.on(*qubits)`` without argument validation (the caller guarantees the arity)."""
    op = object.__new__(cirq.GateOperation)
    op._gate = gate
    op._qubits = qubits
    return op


def ry_ops(angles: Iterable, qubit: cirq.Qid) -> list[cirq.Operation]:
    """One ``Ry`` per angle (floats or sympy symbols) on ``qubit``."""
    q = (qubit,)
    return [fast_op(cirq.Ry(rads=a), q) for a in angles]


def rz_ops(angles: Iterable, qubit: cirq.Qid) -> list[cirq.Operation]:
    q = (qubit,)
    return [fast_op(cirq.Rz(rads=a), q) for a in angles]


def _moment_slots() -> frozenset[str] | None:
    """The attributes cirq's Moment constructor sets, if :func:`_fast_moment` reproduces them."""
    q = cirq.LineQubit(0)
    ref = cirq.Moment.from_ops(cirq.X(q))
    want = frozenset(vars(ref))
    mine = frozenset({"_operations", "_sorted_operations", "_qubit_to_op",
                      "_measurement_key_objs", "_control_keys", "_tags"})
    return mine if want == mine else None


_MOMENT_SLOTS = _moment_slots()


def _fast_moment(ops: list[cirq.Operation]) -> cirq.Moment:
    """A Moment of non-overlapping ``ops`` without re-checking them (falls back to
    ``Moment.from_ops`` if this cirq's Moment keeps other state)."""
    if _MOMENT_SLOTS is None:
        return cirq.Moment.from_ops(*ops)
    m = object.__new__(cirq.Moment)
    m._operations = tuple(ops)
    m._sorted_operations = None
    m._qubit_to_op = {q: op for op in ops for q in op.qubits}
    m._measurement_key_objs = None
    m._control_keys = None
    m._tags = ()
    return m


def _circuit_from_moments(moments: list[cirq.Moment]) -> cirq.Circuit:
    """A circuit owning ``moments`` without copying or re-checking them (any cirq 1.x)."""
    build = getattr(cirq.Circuit, "_from_moments", None)
    if build is not None:
        try:
            return build(moments, ())  # cirq >= 1.6: (moments, tags)
        except TypeError:
            return build(moments)  # cirq 1.4-1.5
    return cirq.Circuit.from_moments(*moments)


def packed_circuit(ops: Sequence[cirq.Operation]) -> cirq.Circuit:
    """A circuit holding ``ops`` in order, each in the earliest moment its qubits allow.

    Equivalent to ``cirq.Circuit(ops)`` (EARLIEST insertion) for ops without classical
    controls, at a fraction of the cost.
    """
    frontier: dict[cirq.Qid, int] = {}
    layers: list[list[cirq.Operation]] = []
    for op in ops:
        qs = op.qubits
        at = max((frontier.get(q, 0) for q in qs), default=0)
        if at == len(layers):
            layers.append([op])
        else:
            layers[at].append(op)
        nxt = at + 1
        for q in qs:
            frontier[q] = nxt
    moments = [_fast_moment(layer) for layer in layers]
    return _circuit_from_moments(moments)


_CLIFFORD_TOL = 1e-12


def _is_clifford_angle(rads) -> bool:
    if isinstance(rads, sympy.Basic) and not rads.is_number:
        return False
    r = float(rads) / (math.pi / 2)
    return abs(r - round(r)) < _CLIFFORD_TOL


def _rotation_count(op: cirq.Operation) -> int:
    """Non-Clifford single-qubit rotations in ``op`` (0 for Cliffords)."""
    gate = op.gate
    if isinstance(gate, (cirq.XPowGate, cirq.YPowGate, cirq.ZPowGate)):
        e = gate.exponent
        if isinstance(e, sympy.Basic) and not e.is_number:
            return 1
        return 0 if _is_clifford_angle(float(e) * math.pi) else 1
    if isinstance(gate, cirq.HPowGate):
        e = gate.exponent
        return 0 if (not isinstance(e, sympy.Basic) and float(e) in (0.0, 1.0, -1.0)) else 2
    if cirq.is_parameterized(op):
        return 3
    mat = cirq.unitary(op)
    z0, y, z1 = cirq.deconstruct_single_qubit_matrix_into_angles(mat)
    return sum(not _is_clifford_angle(a) for a in (z0, y, z1))


def _is_cnot_like(gate) -> bool:
    if isinstance(gate, (cirq.CXPowGate, cirq.CZPowGate)):
        e = gate.exponent
        return not isinstance(e, sympy.Basic) and abs(abs(float(e)) - 1.0) < 1e-12
    return False


def count_resources(circuit: cirq.Circuit, qubits: Iterable[cirq.Qid] | None = None) -> Resources:
    """Count qubits, CNOT equivalents, rotations and depth of ``circuit``.

    Depth counts moments that hold at least one gate other than a global phase.
    """
    cnots = rotations = single = tgates = 0
    depth = 0
    rot_cache: dict = {}
    for moment in circuit:
        busy = False
        for op in moment:
            gate = op.gate
            nq = len(op.qubits)
            if nq == 0:
                continue
            busy = True
            if isinstance(gate, cirq.MeasurementGate):
                continue
            if nq == 1:
                single += 1
                if gate == cirq.T or gate == cirq.T**-1:
                    tgates += 1
                    continue
                key = gate
                try:
                    r = rot_cache.get(key)
                except TypeError:
                    r = None
                if r is None:
                    r = _rotation_count(op)
                    try:
                        rot_cache[key] = r
                    except TypeError:
                        pass
                rotations += r
            elif nq == 2:
                cnots += 1 if _is_cnot_like(gate) else 3
            else:
                # Multi-qubit gates are decomposed by the backends; count a Toffoli-free bound.
                cnots += 4 ** (nq - 1)
        depth += busy
    nqubits = len(set(qubits)) if qubits is not None else len(circuit.all_qubits())
    return Resources(nqubits, cnots, rotations, depth, single, tgates)
