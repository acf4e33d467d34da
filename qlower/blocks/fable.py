"""FABLE block encoding, rectangular form [Camps & Van Beeumen 2022, arXiv:2205.00081].

Qubits ``[a] + R + C``: flag ``a``, output register R (m = ⌈log₂M⌉ qubits, none for M = 1),
input register C (n = ⌈log₂N⌉ qubits, none for N = 1): ``block_layout("fable", M, N)``. The square case keeps this layout (input C, output R: FABLE's final SWAP
is this register relabelling). With ``A = W / w_max`` zero-padded to 2^m × 2^n::

    U = H_C^{⊗n} · O_A · H_R^{⊗m},   O_A = multiplexed rotations on a, controls R + C

Pattern ``p = i·2^n + j`` (row i on R, column j on C) gets ``Ry(2 arccos |A_ij|)`` and, for
complex W, then ``Rz(−2 arg A_ij)`` (``Rz(β)|0⟩ = e^{−iβ/2}|0⟩``, so a = 0 carries exactly
``A_ij``). From ``|0⟩_a|0⟩_R|j⟩_C``: H_R spreads over rows (2^{−m/2}), O_A puts ``A_ij`` on
a = 0, ⟨0|_C H_C contributes 2^{−n/2}, so the block at flags (a, C) = 0 is
``A / 2^{(m+n)/2}``: **alpha = w_max · 2^{(m+n)/2}** (= w_max√(MN) for powers of two).

The Rz multiplexor is emitted mirrored (reverse order), the same operator, so its first CNOT
cancels the Ry multiplexor's last one: real W costs 2^{m+n} CNOT + 2^{m+n} Ry, complex W
2^{m+n+1} − 2 CNOT + 2^{m+n+1} rotations (minus any angle that is exactly 0).

Every rotation carries the Gray code ``g`` of its position: before it, the CNOTs have flipped
the target once per control bit set in ``g``, so pattern p sees ``R((−1)^{popcount(p & g)} t)``.
Compression (``threshold``) drops rotations with ``|t| <= threshold``; the CNOTs between two
kept rotations (same target, so they commute, and a pair on one control cancels) reduce to one
per bit of ``g_a ⊕ g_b``. The implemented per-pattern angles are ``pattern_angles`` of the kept
t's (zeros elsewhere), so ``matrix`` is exact. Padded output rows may then pick up amplitude;
``error`` is the spectral norm over all 2^m output rows (first N columns), i.e. it includes
that leakage, and equals ‖matrix − W‖₂ whenever there is none (always when uncompressed or M
is a power of two).
"""

from __future__ import annotations

import math

import cirq
import numpy as np

from qlower.blocks.base import Registers
from qlower.blocks.block_encoding import BlockEncoding, resolve_qubits
from qlower.blocks.circuits import fast_op, gc_paused, packed_circuit
from qlower.blocks.layout import block_layout
from qlower.blocks.mux import gray_code, mux_angles, pattern_angles


def _registers(W: np.ndarray) -> tuple[int, int]:
    """(m, n): the qubits of the output and input registers."""
    layout = block_layout("fable", *W.shape)
    return layout.output, layout.input


def fable_alpha(W: np.ndarray) -> float:
    """``max|W_ij| · 2^((m+n)/2)``: the scale of the block (whatever the threshold)."""
    m, n = _registers(W)
    return float(np.abs(W).max()) * math.sqrt(float(1 << (m + n)))


def fable_angles(W: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Per-pattern Ry angles, Rz angles (None for real W) and ``w_max`` for FABLE on ``W``."""
    M, N = W.shape
    m, n = _registers(W)
    w_max = float(np.abs(W).max())
    A = np.zeros((1 << m, 1 << n), dtype=W.dtype)
    A[:M, :N] = W / w_max
    if not np.iscomplexobj(A):
        return 2.0 * np.arccos(np.clip(A, -1.0, 1.0)).ravel(), None, w_max
    ay = 2.0 * np.arccos(np.clip(np.abs(A), 0.0, 1.0)).ravel()
    return ay, -2.0 * np.angle(A).ravel(), w_max


def _emit(tagged: list[tuple[int, cirq.Operation]], cnots: list[cirq.Operation]) -> list:
    """Rotations (each tagged with its Gray code) with the merged CNOTs between them."""
    ops: list[cirq.Operation] = []
    prev = 0
    for g, rot in tagged + [(0, None)]:
        d = prev ^ g
        while d:
            low = d & -d
            ops.append(cnots[low.bit_length() - 1])
            d ^= low
        if rot is not None:
            ops.append(rot)
        prev = g
    return ops


def fable_block(W: np.ndarray, *, threshold: float = 0.0, qubits=None) -> BlockEncoding:
    """FABLE block encoding of ``W`` (validated by ``block_encoding.as_matrix``)."""
    with gc_paused():
        return _fable_block(W, threshold, qubits)


def _fable_block(W: np.ndarray, threshold: float, qubits) -> BlockEncoding:
    M, N = W.shape
    m, n = _registers(W)
    k = m + n
    qs = resolve_qubits(qubits, 1 + k, f"fable: [a] + R ({m}) + C ({n})")
    a, R, C = qs[0], qs[1 : 1 + m], qs[1 + m :]
    controls = R + C  # pattern bit b <-> controls[k - 1 - b]
    cnots = [fast_op(cirq.CNOT, (controls[k - 1 - b], a)) for b in range(k)]
    target = (a,)

    ay, az, w_max = fable_angles(W)
    gray = gray_code(k)
    ty = mux_angles(ay)
    keep_y = np.abs(ty) > threshold
    tagged = [(int(g), fast_op(cirq.Ry(rads=float(t)), target))
              for g, t in zip(gray[keep_y], ty[keep_y])]
    ty_kept = np.where(keep_y, ty, 0.0)
    phase = 1.0
    if az is not None:
        tz = mux_angles(az)
        keep_z = np.abs(tz) > threshold
        # mirrored: reverse emission order (the same operator), so the junction CNOTs cancel
        tagged += [(int(g), fast_op(cirq.Rz(rads=float(t)), target))
                   for g, t in zip(gray[keep_z][::-1], tz[keep_z][::-1])]
        phase = np.exp(-0.5j * pattern_angles(np.where(keep_z, tz, 0.0)))

    ops = [fast_op(cirq.H, (q,)) for q in R]
    ops += _emit(tagged, cnots)
    ops += [fast_op(cirq.H, (q,)) for q in C]
    circuit = packed_circuit(ops)

    implemented = (np.cos(0.5 * pattern_angles(ty_kept)) * phase).reshape(1 << m, 1 << n)
    if az is None:
        implemented = implemented.real
    implemented = w_max * implemented
    return BlockEncoding(
        circuit=circuit,
        alpha=fable_alpha(W),
        registers=Registers(input=tuple(C), output=tuple(R), flags=(a, *C)),
        method="fable",
        shape=(M, N),
        padded=implemented,
        target=W,
    )
