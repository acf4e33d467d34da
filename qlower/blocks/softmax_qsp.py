"""Softmax with the exponential as a QSP polynomial (LOWERINGS §4b): the scores arrive as
rotation angles of a signal operator, and a fixed phase sequence turns them into amplitudes
``≈ e^{(s_k − s_max)/2}``.

Registers: ``ℓ`` index qubits, a signal qubit ``s`` and a real-part flag ``r`` (flags: ``s`` and
``r`` must read 0). With ``R`` the declared score range, each score becomes
``a_k = √(clip(1 + (s_k − s_max)/R, 0, 1))`` (``a = 1`` at the largest score, ``0`` at ``R``
below it or further). The circuit:

1. amplitude-encode the indicator of the valid entries (not padding, not ``-inf``) on the
   index register: ``Σ_{k valid} |k⟩ / √n`` (Möttönen, ``2^ℓ − ℓ − 1`` CNOTs);
2. ``H`` on ``r``; for ``j = d … 0``: ``e^{iφ_j Z_s Z_r}`` (CNOT·Rz(−2φ_j)·CNOT) and, for ``j > 0``,
   the signal ``W(a_k) = e^{i arccos(a_k) Y}`` on ``s`` multiplexed by the index (an
   ``Ry(−2 arccos a_k)`` Gray-code multiplexor, ``2^ℓ`` CNOTs); ``H`` on ``r``.

On the ``r = 0`` branch the signal qubit sees ``U_Φ``, on ``r = 1`` ``U_{−Φ} = conj(U_Φ)`` (``W`` is
real), so after the last ``H`` the amplitude at ``s = r = 0`` of ``|k⟩`` is ``Re⟨0|U_Φ(a_k)|0⟩ / √n =
f_d(a_k) / √n``, ``f_d`` the degree-``d`` even polynomial the phases implement
(``qlower.blocks.qsp``) ≈ ``f(a) = c·e^{R(a² − 1)/2}``, ``c = 0.9``. Born probabilities given the
flags: ``f_d(a_k)² / Σ f_d(a_j)²`` ≈ ``softmax(s)`` within the plan's total-variation bound (for
scores whose range is at most ``R``).

Cost: ``d·2^ℓ + 2(d + 1) + 2^ℓ − ℓ − 1`` CNOTs; ``d·2^ℓ + (d + 1) + 2^ℓ − 1`` rotations.

Angles (circuit parameters, in order): the ``2^ℓ − 1`` indicator angles, then the ``2^ℓ``
signal multiplexor angles (the same symbols in every one of the ``d`` signal calls).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.blocks.mux import cnot_control_bits, mux_angles, pattern_angles
from qlower.blocks.resources import Resources
from qlower.blocks.softmax import index_qubits


def signal_values(s: np.ndarray, size: int, score_range: float) -> tuple[np.ndarray, np.ndarray]:
    """``(a, valid)`` ``[..., 2**ℓ]`` for scores ``s[..., L]``: the signal values and the
    indicator of the entries that are scores (finite or ``+inf``/NaN, which stay NaN)."""
    s = np.asarray(s, dtype=np.float64)
    ell = index_qubits(size)
    L = s.shape[-1]
    if L > 1 << ell:
        raise ValueError(f"{L} scores do not fit size {size}")
    valid = np.zeros(s.shape[:-1] + (1 << ell,))
    valid[..., :L] = ~np.isneginf(s)
    with np.errstate(invalid="ignore"):
        m = np.max(s, axis=-1, keepdims=True) if L else np.zeros(s.shape[:-1] + (1,))
        m = np.where(np.isneginf(m), 0.0, m)
        u = 1 + (s - m) / score_range
    a = np.zeros_like(valid)
    a[..., :L] = np.where(np.isnan(u), np.nan, np.sqrt(np.clip(np.nan_to_num(u, nan=0.0), 0, 1)))
    a[..., :L] = np.where(np.isneginf(s), 0.0, a[..., :L])
    return a, valid


def qsp_diagonal_angles(a: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    """The circuit's parameters for signal values ``a`` and the indicator ``valid`` (both
    ``[..., 2**ℓ]``): indicator angles, then signal angles. The circuit is a QSP sequence on a
    diagonal signal, whatever function its phases implement (softmax, an activation)."""
    from qlower.blocks.semantics import encoding_angles

    prep = encoding_angles(valid, 1 << index_qubits(size))  # a row with no entry: basis state 0
    signal = mux_angles(-2 * np.arccos(a))
    return np.ascontiguousarray(np.concatenate([prep, signal], axis=-1))


def qsp_softmax_angles(s: np.ndarray, size: int, score_range: float) -> np.ndarray:
    """The kernel's parameters for scores ``s``: indicator angles, then signal angles."""
    a, valid = signal_values(s, size, score_range)
    return qsp_diagonal_angles(a, valid, size)


def qsp_softmax_amplitudes(angles: np.ndarray, size: int, phases) -> np.ndarray:
    """Amplitudes at flags = 0 (``[..., 2**ℓ]`` complex) from the parameters: the prepared
    indicator times ``Re⟨0|U_Φ(a_k)|0⟩`` (the reference semantics; no circuit)."""
    from qlower.blocks.qsp import qsp_value
    from qlower.blocks.semantics import state_from_angles

    ell = index_qubits(size)
    L = 1 << ell
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[-1] != 2 * L - 1:
        raise ValueError(f"size {size} takes {2 * L - 1} angles, got {angles.shape[-1]}")
    index = state_from_angles(angles[..., : L - 1], L).real
    a = np.cos(pattern_angles(angles[..., L - 1:]) / 2)
    f = qsp_value(np.asarray(phases, dtype=np.float64), np.clip(a, -1, 1).reshape(-1))
    return (index * f.reshape(a.shape)).astype(np.complex128)


def qsp_softmax_resources(size: int, degree: int) -> Resources:
    ell = index_qubits(size)
    L = 1 << ell
    prep_cnots, prep_rot = L - ell - 1, L - 1
    cnots = prep_cnots + degree * L + 2 * (degree + 1)
    rotations = prep_rot + degree * L + (degree + 1)
    # the signal qubit's gates run in series: each call 2^l rotations and 2^l CNOTs, each phase
    # three gates; the preparation before them, the two Hadamards around
    depth = prep_rot + prep_cnots + degree * 2 * L + 3 * (degree + 1) + 2
    return Resources(qubits=ell + 2, cnots=cnots, rotations=rotations, depth=depth,
                     single_qubit=rotations + 2)


@dataclass(frozen=True, eq=False)
class QspSoftmaxState:
    circuit: object
    index: tuple
    signal: object
    real: object
    symbols: tuple

    @property
    def qubits(self) -> tuple:
        return (*self.index, self.signal, self.real)


def qsp_softmax_state(size: int, phases, prefix: str = "s") -> QspSoftmaxState:
    """The symbolic circuit (symbols ``{prefix}_0 …``, the order of ``qsp_softmax_angles``) on
    ``LineQubit(0 … ℓ-1)`` (index), ``LineQubit(ℓ)`` (signal), ``LineQubit(ℓ+1)`` (real part)."""
    import cirq
    import sympy

    from qlower.blocks.circuits import fast_op, packed_circuit
    from qlower.blocks.mottonen import _mottonen_ops

    ell = index_qubits(size)
    L = 1 << ell
    qs = tuple(cirq.LineQubit.range(ell))
    sig, real = cirq.LineQubit(ell), cirq.LineQubit(ell + 1)
    symbols = tuple(sympy.Symbol(f"{prefix}_{i}") for i in range(2 * L - 1))
    ops = list(_mottonen_ops(qs, symbols[: L - 1], False))
    ops.append(fast_op(cirq.H, (real,)))
    ctl = [qs[ell - 1 - b] for b in cnot_control_bits(ell).tolist()]
    signal = []
    for i, t in enumerate(symbols[L - 1:]):
        signal.append(fast_op(cirq.Ry(rads=t), (sig,)))
        signal.append(fast_op(cirq.CNOT, (ctl[i], sig)))
    phases = [float(p) for p in phases]
    for j in range(len(phases) - 1, -1, -1):
        ops += [fast_op(cirq.CNOT, (sig, real)), fast_op(cirq.Rz(rads=-2 * phases[j]), (real,)),
                fast_op(cirq.CNOT, (sig, real))]
        if j > 0:
            ops += signal
    ops.append(fast_op(cirq.H, (real,)))
    return QspSoftmaxState(packed_circuit(ops), qs, sig, real, symbols)


__all__ = ["QspSoftmaxState", "qsp_diagonal_angles", "qsp_softmax_amplitudes", "qsp_softmax_angles",
           "qsp_softmax_resources", "qsp_softmax_state", "signal_values"]
