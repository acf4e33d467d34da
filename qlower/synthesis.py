"""T counts by synthesis: every constant rotation of a kernel compiled to Clifford+T by gridsynth.

``Resources.t_estimate`` prices a rotation at ``3·log₂(1/ε)`` T gates (Ross–Selinger's bound,
the fast default). Here each rotation angle of a built circuit is synthesised by PyPI
``pygridsynth`` (Ross–Selinger's algorithm) to the per-rotation error ``ε`` the budget allots —
the program's total synthesis error over its rotation count, the rule ``t_estimate`` uses — and
the T gates of the sequences it returns are counted. ``Rx(θ)`` and ``Ry(θ)`` are Clifford
conjugates of ``Rz(θ)`` (``Ry = S·H·Rz·H·S†``, ``Rx = H·Rz·H``), so they cost what ``Rz(θ)``
costs; a general single-qubit gate costs its non-Clifford ZYZ Euler angles, as
``count_resources`` counts them. A rotation whose angle is a circuit parameter (data-dependent:
the state preparation's) has no angle to synthesise at compile time: it is priced by the
formula and reported apart.

Each distinct angle is synthesised once (about 30 ms each at ε = 1e-3, 70 ms at 1e-6), so this
is for kernels of up to a few thousand distinct angles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qlower.blocks.resources import CLIFFORD_TOL


@dataclass(frozen=True)
class Synthesis:
    """A kernel's T count with its constant rotations synthesised.

    ``t_gates``: explicit T gates of the circuit; ``constant``/``symbolic``: its non-Clifford
    rotations with a number / a parameter as angle; ``t_constant``: the T gates of the
    synthesised sequences; ``t_symbolic``: the formula's T count of the symbolic ones.
    """

    eps: float
    t_gates: int
    constant: int
    symbolic: int
    t_constant: int
    t_symbolic: int

    @property
    def total(self) -> int:
        return self.t_gates + self.t_constant + self.t_symbolic

    def formula(self) -> int:
        """The formula's T count of the same rotations at the same ε."""
        return self.t_gates + (self.constant + self.symbolic) * formula_t(self.eps)


def formula_t(eps: float) -> int:
    """T gates per rotation by the formula, ``⌈3·log₂(1/ε)⌉``."""
    return int(math.ceil(3.0 * math.log2(1.0 / eps)))


def _require():
    try:
        import pygridsynth  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency of the package
        raise ValueError("--synthesis gridsynth needs the pygridsynth package "
                         "(pip install pygridsynth)") from None
    import pygridsynth

    return pygridsynth


_CACHE: dict[tuple[float, float], str] = {}


def rz_sequence(theta: float, eps: float) -> str:
    """gridsynth's Clifford+T word for ``Rz(θ)`` to operator-norm error ``eps`` (up to a
    global phase): letters H, S, T, X and W (the phase e^{iπ/4})."""
    key = (float(theta), float(eps))
    got = _CACHE.get(key)
    if got is None:
        import mpmath

        gs = _require()
        with mpmath.workdps(max(15, int(-math.log10(eps)) * 2 + 10)):
            got = str(gs.gridsynth_gates(theta=mpmath.mpf(repr(float(theta))),
                                         epsilon=mpmath.mpf(repr(float(eps)))))
        _CACHE[key] = got
    return got


def t_count(theta: float, eps: float) -> int:
    """T gates gridsynth needs for ``Rz(θ)`` at ``eps`` (0 for a Clifford angle)."""
    if _clifford(theta):
        return 0
    return rz_sequence(theta, eps).count("T")


def _clifford(theta: float) -> bool:
    r = float(theta) / (math.pi / 2)
    return abs(r - round(r)) < CLIFFORD_TOL


def word_unitary(word: str) -> np.ndarray:
    """The 2×2 unitary of a gridsynth word (the leftmost letter acts last)."""
    s2 = 1 / math.sqrt(2)
    gates = {
        "H": np.array([[s2, s2], [s2, -s2]], dtype=complex),
        "S": np.diag([1, 1j]),
        "T": np.diag([1, np.exp(1j * math.pi / 4)]),
        "X": np.array([[0, 1], [1, 0]], dtype=complex),
        "W": np.exp(1j * math.pi / 4) * np.eye(2),
        "I": np.eye(2, dtype=complex),
    }
    u = np.eye(2, dtype=complex)
    for letter in word:
        u = u @ gates[letter]
    return u


def _angles_of(op) -> tuple[list[float], int] | None:
    """(numeric non-Clifford angles, symbolic rotations) of a single-qubit op, or None when
    the op has no rotation (a Clifford, a T)."""
    import cirq

    gate = op.gate
    if isinstance(gate, (cirq.Rx, cirq.Ry, cirq.Rz)):
        rads = gate._rads
        if cirq.is_parameterized(rads):
            return [], 1
        return ([float(rads)] if not _clifford(float(rads)) else []), 0
    if cirq.is_parameterized(op):
        return [], 1
    if isinstance(gate, (cirq.ZPowGate, cirq.XPowGate, cirq.YPowGate)):
        rads = float(gate.exponent) * math.pi
        return ([rads] if not _clifford(rads) else []), 0
    if not cirq.has_unitary(op):
        return None
    z0, y, z1 = cirq.deconstruct_single_qubit_matrix_into_angles(cirq.unitary(op))
    return [a for a in (z0, y, z1) if not _clifford(a)], 0


def synthesize_circuit(circuit, eps: float) -> Synthesis:
    """The T count of ``circuit`` with each constant rotation synthesised to ``eps``."""
    import cirq

    t_gates = constant = symbolic = 0
    angles: list[float] = []
    for op in circuit.all_operations():
        if len(op.qubits) != 1 or isinstance(op.gate, cirq.MeasurementGate):
            continue
        if op.gate == cirq.T or op.gate == cirq.T**-1:
            t_gates += 1
            continue
        got = _angles_of(op)
        if got is None:
            continue
        numeric, sym = got
        angles += numeric
        symbolic += sym
    constant = len(angles)
    counts: dict[float, int] = {}
    t_constant = 0
    for a in angles:
        key = float(np.round(a, 14))
        if key not in counts:
            counts[key] = t_count(key, eps)
        t_constant += counts[key]
    return Synthesis(eps, t_gates, constant, symbolic, t_constant, symbolic * formula_t(eps))


__all__ = ["Synthesis", "formula_t", "rz_sequence", "synthesize_circuit", "t_count",
           "word_unitary"]
