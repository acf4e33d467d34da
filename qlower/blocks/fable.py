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

import numpy as np

from qlower.blocks.layout import BlockLayout, ceil_log2
from qlower.blocks.mux import gray_code, mux_angles, pattern_angles
from qlower.blocks.registry import BlockMethod, register
from qlower.blocks.resources import Resources, non_clifford, popcount


def _registers(W: np.ndarray) -> tuple[int, int]:
    """(m, n): the qubits of the output and input registers."""
    return ceil_log2(W.shape[0]), ceil_log2(W.shape[1])


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


class Multiplexors:
    """FABLE's rotations in emission order: their angles, kinds, Gray codes, and what is kept.

    The Ry multiplexor's kept rotations, then (complex W) the Rz multiplexor's, mirrored. The
    circuit, the implemented matrix and the cost are all read off this one table.
    """

    def __init__(self, W: np.ndarray, threshold: float):
        m, n = _registers(W)
        self.m, self.n, self.k = m, n, m + n
        ay, az, self.w_max = fable_angles(W)
        gray = gray_code(self.k)
        ty = mux_angles(ay)
        del ay
        keep_y = np.abs(ty) > threshold
        self.threshold = threshold
        self.ty, self.tz = ty, None
        angles, codes, kinds = [ty[keep_y]], [gray[keep_y]], [np.zeros(int(keep_y.sum()), np.int8)]
        del keep_y
        if az is not None:
            tz = mux_angles(az)
            keep_z = np.abs(tz) > threshold
            self.tz = tz
            # mirrored: reverse emission order (the same operator), so the junction CNOTs cancel
            angles.append(tz[keep_z][::-1])
            codes.append(gray[keep_z][::-1])
            kinds.append(np.ones(int(keep_z.sum()), np.int8))
        del gray
        self.angles = np.concatenate(angles) if len(angles) > 1 else angles[0]
        self.codes = (np.concatenate(codes) if len(codes) > 1 else codes[0]).astype(np.int64, copy=False)
        self.kinds = np.concatenate(kinds) if len(kinds) > 1 else kinds[0]  # 0: Ry, 1: Rz

    @property
    def ty_kept(self) -> np.ndarray:
        return np.where(np.abs(self.ty) > self.threshold, self.ty, 0.0)

    @property
    def tz_kept(self) -> np.ndarray | None:
        if self.tz is None:
            return None
        return np.where(np.abs(self.tz) > self.threshold, self.tz, 0.0)

    def cnot_bits(self) -> np.ndarray:
        """Per rotation (and once after the last), the code bits flipped before it."""
        seq = np.concatenate([[0], self.codes, [0]])
        return seq[1:] ^ seq[:-1]

    def block(self) -> np.ndarray:
        """The implemented block at flags = 0, times ``w_max`` (alpha times the block)."""
        implemented = np.cos(0.5 * pattern_angles(self.ty_kept)).astype(np.complex128)
        if self.tz_kept is not None:
            implemented = implemented * np.exp(-0.5j * pattern_angles(self.tz_kept))
        else:
            implemented = implemented.real
        return self.w_max * implemented.reshape(1 << self.m, 1 << self.n)


@register
class Fable(BlockMethod):
    """FABLE [Camps & Van Beeumen 2022]: alpha = max|W| · 2^((m+n)/2), 1 + m + n qubits."""

    name = "fable"
    summary = "FABLE: one multiplexed rotation per entry; alpha = max|W_ij|·2^((m+n)/2)"
    qubit_order = "[a] + R (m) + C (n)"
    params = {"threshold": ("float", 0.0)}
    uses_threshold = True

    def layout(self, M, N, params):
        m, n = ceil_log2(M), ceil_log2(N)
        return BlockLayout(input=n, output=m, flags=1 + n)

    def plan(self, W, threshold=0.0):
        return {"alpha": fable_alpha(W), "threshold": float(threshold)}

    def check_params(self, params):
        t = params.get("threshold", 0.0)
        if not math.isfinite(t):
            return f"attribute 'threshold' must be finite, got {t!r}"
        return None if t >= 0 else f"threshold must be >= 0, got {t!r}"

    def implemented(self, W, params):
        if not params.get("threshold", 0.0):
            return super().implemented(W, params)
        return Multiplexors(W, params["threshold"]).block()

    def cost(self, W, params):
        mx = Multiplexors(W, params.get("threshold", 0.0))
        flips = mx.cnot_bits()
        cnots = int(popcount(flips).sum())
        return Resources(
            qubits=1 + mx.k, cnots=cnots, rotations=non_clifford(mx.angles),
            depth=_depth(mx, flips, cnots + len(mx.angles)), single_qubit=mx.k + len(mx.angles))

    def build(self, W, params, qubits=None):
        from qlower.blocks.circuits import gc_paused

        with gc_paused():
            return _build(W, params.get("threshold", 0.0), qubits)

    def build_table(self, W, params, qubits=None):
        from qlower.blocks.base import Registers
        from qlower.blocks.optable import TableBlock

        table, (a, R, C), _ = _table(W, params.get("threshold", 0.0), qubits)
        return TableBlock(table, fable_alpha(W), Registers(input=C, output=R, flags=(a, *C)),
                          "fable", W.shape)


def _depth(mx: Multiplexors, flips: np.ndarray, flag_ops: int) -> int:
    """The packed circuit's depth: the flag's ops run in series; the H layer on R shares the
    first moment unless the series starts with a CNOT controlled by R, and an H on C follows
    the series when it ends with a CNOT controlled by C (control bit b is on C iff b < n)."""
    if flag_ops == 0:
        return int(mx.k > 0)
    first, last = int(flips[0]), int(flips[-1])
    starts_on_r = first != 0 and ((first & -first).bit_length() - 1) >= mx.n
    ends_on_c = last != 0 and (last.bit_length() - 1) < mx.n
    return flag_ops + int(starts_on_r and mx.m > 0) + int(ends_on_c)


def fable_block(W: np.ndarray, *, threshold: float = 0.0, qubits=None):
    """FABLE block encoding of ``W`` (validated by ``block_encoding.as_matrix``)."""
    return Fable().build(W, {"threshold": threshold}, qubits)


def fable_table(mx: Multiplexors, qubits):
    """The circuit of ``mx`` on ``qubits`` = ``[a] + R + C`` as an operation table, built from
    the multiplexor table in numpy: H on R; per rotation the CNOTs of its code's flipped bits
    (lowest bit first, bit b controlled by ``(R + C)[k - 1 - b]``), then the rotation; the last
    flips; H on C."""
    from qlower.blocks.optable import CX, RY, RZ, H, OpTable

    m, n, k = mx.m, mx.n, mx.k
    L = len(mx.angles)
    flips = mx.cnot_bits()
    pc = popcount(flips)
    glen = pc.copy()
    glen[:L] += 1
    starts = m + np.concatenate([[0], np.cumsum(glen)[:-1]])
    total = m + int(glen.sum()) + n
    kind = np.empty(total, np.int8)
    q0 = np.empty(total, np.int32)
    q1 = np.full(total, -1, np.int32)
    value = np.zeros(total, np.float64)
    kind[:m] = H
    q0[:m] = 1 + np.arange(m)
    rot = starts[:L] + pc[:L]
    kind[rot] = np.where(mx.kinds == 0, RY, RZ)
    q0[rot] = 0
    value[rot] = mx.angles
    for b in range(k):
        sel = np.nonzero((flips >> b) & 1)[0]
        pos = starts[sel] + popcount(flips[sel] & ((1 << b) - 1))
        kind[pos] = CX
        q0[pos] = k - b
        q1[pos] = 0
    kind[total - n:] = H
    q0[total - n:] = 1 + m + np.arange(n)
    return OpTable(tuple(qubits), kind, q0, q1, value, np.full(total, -1, np.int32),
                   np.zeros((0, 3), np.float64))


def _table(W: np.ndarray, threshold: float, qubits):
    from qlower.blocks.block_encoding import resolve_qubits

    mx = Multiplexors(W, threshold)
    m, n, k = mx.m, mx.n, mx.k
    qs = resolve_qubits(qubits, 1 + k, f"fable: [a] + R ({m}) + C ({n})")
    return fable_table(mx, qs), (qs[0], tuple(qs[1 : 1 + m]), tuple(qs[1 + m :])), mx


def _build(W: np.ndarray, threshold: float, qubits):
    from qlower.blocks.base import Registers
    from qlower.blocks.block_encoding import BlockEncoding
    from qlower.blocks.circuits import packed_circuit

    M, N = W.shape
    table, (a, R, C), mx = _table(W, threshold, qubits)
    return BlockEncoding(
        circuit=packed_circuit(table.operations()),
        alpha=fable_alpha(W),
        registers=Registers(input=C, output=R, flags=(a, *C)),
        method="fable",
        shape=(M, N),
        padded=mx.block(),
        target=W,
        params={"alpha": fable_alpha(W), "threshold": float(threshold)},
    )
