"""Quantum Shannon decomposition (QSD) [Shende, Bullock, Markov 2006], batched in numpy.

``qsd_gates(U)`` writes a ``2^m × 2^m`` unitary as a compact gate list (:class:`Gates`, numpy
arrays); ``qsd(qubits, U)`` turns that into Cirq operations. Index convention: big-endian,
qubit 0 (``qubits[0]``) holds the most significant bit. Contract::

    U = e^{iγ} · unitary(gates) · diag(d)        (d only when up_to_diagonal)

``d`` (length 4) acts first, on the last two qubits. Two-qubit gates are full CZ / CNOT only.

Levels. One level splits every ``2^k``-block of the stack at once: a cosine-sine decomposition
``U = (u1 ⊕ u2) · CS · (v1 ⊕ v2)`` (CS: multiplexed Ry(2θ) on the block's top qubit) and two
demultiplexings ``u1 ⊕ u2 = (I ⊗ V)(D ⊕ D†)(I ⊗ W)`` (multiplexed Rz) leave four ``2^(k-1)``
blocks, in time order ``W_v, V_v, W_u, V_u``. After ``m − 2`` levels: ``4^(m-2)`` two-qubit
leaves. The cosine-sine split is Stewart's (an SVD of the top-left block; a QR of the
bottom-left block in its coordinates, refined by an SVD where the cosines exceed 1/√2); the
eigenvectors of a unitary come from ``eigh`` of its Cayley transform, turned so that no
eigenvalue is near −1. Both are backward stable on degenerate spectra (identity, permutations,
Pauli strings, block-diagonal), with no random gauge.

SBM's savings: (A.1) the Ry multiplexor uses CZs and leaves its last one to the next ``u2``;
(A.2) every leaf but the first is made with 2 CZs up to a diagonal ``exp(iφ Z⊗Z)`` acting first,
which commutes with the multiplexors in between and is absorbed by the leaf before. φ solves
``Im tr γ(U·exp(−iφZZ)) = 0`` [SBM 2004, γ(U) = U (Y⊗Y) Uᵀ (Y⊗Y)]: with ``tr γ = e^{−2iφ}a +
e^{2iφ}b`` (a, b linear in the incoming diagonal's ``e^{±2iφ'}``), ``e^{2iφ} = w/|w|``,
``w = a − b̄``, one scalar step per leaf. The leaves' KAK decompositions (magic basis) are
batched per block of leaves; where w lost its digits to cancellation (a leaf near a class with
two vanishing coefficients, e.g. in the QFT), φ is refined from KAK coefficients and the leaves
below are redone. 2 CZs realise two of the three interaction coefficients (the third is 0 mod
π/2), 3 CZs all three [Vatan–Williams 2004]. ``m = 1``: one 2×2 gate.

Cost for generic U: ``qsd_cnots(m) = (23·4^m − 72·2^m + 64)/48`` two-qubit gates (3, 20, 100,
444, 1868 at m = 2…6), one less up to a diagonal; the first leaf takes 2 CZs instead of 3 when
it needs no more (a real orthogonal 4×4 of determinant 1). Structured U never need more.

``apply_gates`` / ``gates_unitary`` compute what a gate list implements without Cirq: gates are
fused bottom-up (runs on the last ``m − t`` qubits become dense ``2^(m−t)`` blocks, the gates on
qubit ``t`` in between become per-pattern 2×2 blocks), so the cost is a few dense products per
level instead of one state update per gate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qlower.blocks.mux import cnot_control_bits, mux_angles

if TYPE_CHECKING:
    import cirq

__all__ = [
    "Gates",
    "apply_gates",
    "concat_gates",
    "gates_to_ops",
    "gates_unitary",
    "qsd",
    "qsd_cnots",
    "qsd_gates",
    "qsd_rotations",
    "qsd_single_qubit",
]

# gate kinds
U1, RY, RZ, CZ, CX = 0, 1, 2, 3, 4

_SQRT_HALF = math.sqrt(0.5)
_I2 = np.eye(2, dtype=np.complex128)
_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
_Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
_Z = np.diag([1.0, -1.0]).astype(np.complex128)
_H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / math.sqrt(2.0)
_CZ_DIAG = np.array([1.0, 1.0, 1.0, -1.0])
# magic basis: Mᴴ (A⊗B) M is real orthogonal for A, B in SU(2); Mᴴ (P⊗P) M is diagonal
_MAGIC = np.array([[1, 0, 0, 1j], [0, 1j, 1, 0], [0, 1j, -1, 0], [1, 0, 0, -1j]]) / math.sqrt(2.0)
_MAGIC_H = _MAGIC.conj().T
# λ_k = φ0 + a·x_k + b·y_k + c·z_k with (x, y, z)_k = diag(Mᴴ (P⊗P) M), P = X, Y, Z
_PAULI_DIAG = np.array(
    [np.ones(4)]
    + [np.real(np.diag(_MAGIC_H @ np.kron(p, p) @ _MAGIC)) for p in (_X, _Y, _Z)]
).T  # (4, 4): rows k, columns (1, x, y, z)
_YY = np.kron(_Y, _Y).real  # σ = Y⊗Y (real)
_ZZ_SIGNS = np.array([1.0, -1.0, -1.0, 1.0])


def _rz(t):
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros(t.shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0] = np.exp(-0.5j * t)
    out[..., 1, 1] = np.exp(0.5j * t)
    return out


def _ry(t):
    t = np.asarray(t, dtype=np.float64)
    c, s = np.cos(0.5 * t), np.sin(0.5 * t)
    out = np.empty(t.shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0] = c
    out[..., 0, 1] = -s
    out[..., 1, 0] = s
    out[..., 1, 1] = c
    return out


def _rx_exp(t):
    """exp(i t X) for an array of t."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty(t.shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0] = out[..., 1, 1] = np.cos(t)
    out[..., 0, 1] = out[..., 1, 0] = 1j * np.sin(t)
    return out


def _dag(a):
    return np.conj(np.swapaxes(a, -1, -2))


# --------------------------------------------------------------------------- cost formulas


def qsd_cnots(m: int, up_to_diagonal: bool = False) -> int:
    """CNOTs of the Shannon decomposition of a generic ``m``-qubit unitary (SBM, with A.1 and
    A.2); one less when a 2-qubit diagonal acting first may be left out."""
    if m <= 1:
        return 0
    q = (23 * 4**m - 72 * 2**m + 64) // 48
    return q - 1 if up_to_diagonal else q


def qsd_single_qubit(m: int, up_to_diagonal: bool = False) -> int:
    """Single-qubit gates of ``qsd_gates`` for a generic ``m``-qubit unitary: the multiplexor
    rotations (Ry/Rz) and the leaves' general 2×2 gates (6 per 2-CZ leaf, 8 for a 3-CZ first
    leaf; one gate at m = 1)."""
    if m <= 1:
        return max(m, 0)
    return _mux_rotations(m) + 6 * 4 ** (m - 2) + (0 if up_to_diagonal else 2)


def qsd_rotations(m: int, up_to_diagonal: bool = False) -> int:
    """Non-Clifford rotation angles of ``qsd(…)`` as ``count_resources`` counts them, for a
    generic unitary (an upper bound for any): one per multiplexor rotation, 14 per 2-CZ leaf
    (3 per outer 2×2 gate, 1 per middle ``exp(iαX)``), 15 for a 3-CZ first leaf, 3 at m = 1."""
    if m <= 1:
        return 3 * max(m, 0)
    return _mux_rotations(m) + 14 * 4 ** (m - 2) + (0 if up_to_diagonal else 1)


def _mux_rotations(m: int) -> int:
    return sum(4 ** (m - k) * 3 * 2 ** (k - 1) for k in range(3, m + 1))


# --------------------------------------------------------------------------- gate lists


@dataclass(frozen=True, eq=False)
class Gates:
    """A gate list in time order on qubits ``0 … num_qubits−1`` (qubit 0 most significant).

    ``kind[i]``: ``U1`` (2×2 matrix ``mats[mat[i]]``), ``RY`` / ``RZ`` (``angle[i]``, Cirq's
    ``Ry``/``Rz``), ``CZ`` or ``CX`` (control ``q0``, target ``q1``). One-qubit gates act on
    ``q0`` and have ``q1 = −1``.
    """

    num_qubits: int
    kind: np.ndarray
    q0: np.ndarray
    q1: np.ndarray
    angle: np.ndarray
    mat: np.ndarray
    mats: np.ndarray

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def two_qubit_count(self) -> int:
        return int(np.count_nonzero(self.q1 >= 0))

    def shifted(self, offset: int, num_qubits: int) -> Gates:
        """The same gates on qubits ``q + offset`` of a ``num_qubits`` register."""
        q1 = np.where(self.q1 >= 0, self.q1 + offset, -1)
        return Gates(num_qubits, self.kind, self.q0 + offset, q1, self.angle, self.mat,
                     self.mats)


def _empty_gates(m: int, size: int, nmats: int = 0) -> Gates:
    return Gates(
        m,
        np.zeros(size, dtype=np.int8),
        np.zeros(size, dtype=np.int32),
        np.full(size, -1, dtype=np.int32),
        np.zeros(size, dtype=np.float64),
        np.full(size, -1, dtype=np.int64),
        np.zeros((nmats, 2, 2), dtype=np.complex128),
    )


def concat_gates(parts: Sequence[Gates], num_qubits: int | None = None) -> Gates:
    """The gate lists of ``parts`` one after the other (all on the same register)."""
    m = num_qubits if num_qubits is not None else max(p.num_qubits for p in parts)
    offsets = np.cumsum([0] + [p.mats.shape[0] for p in parts])
    mat = np.concatenate([np.where(p.mat >= 0, p.mat + off, -1)
                          for p, off in zip(parts, offsets)])
    return Gates(
        m,
        np.concatenate([p.kind for p in parts]),
        np.concatenate([p.q0 for p in parts]),
        np.concatenate([p.q1 for p in parts]),
        np.concatenate([p.angle for p in parts]),
        mat,
        np.concatenate([p.mats for p in parts]).reshape(-1, 2, 2),
    )


def multiplexed_rotation(kind: int, target: int, controls: Sequence[int], angles,
                         num_qubits: int, drop_last: bool = False) -> Gates:
    """Multiplexed Ry/Rz on ``target`` with per-pattern ``angles`` (pattern bit ``k−1`` is
    ``controls[0]``), Gray-code order (``mux.py``): Ry with CZs, Rz with CNOTs. ``drop_last``
    leaves out the final two-qubit gate (it then acts, uncompensated, after the rest)."""
    k = len(controls)
    t = mux_angles(np.asarray(angles, dtype=np.float64))
    L = 1 << k
    bits = cnot_control_bits(k)
    ctrl = np.asarray(controls, dtype=np.int32)[k - 1 - bits] if k else np.zeros(0, np.int32)
    n2 = L - (1 if (drop_last and k) else 0) if k else 0
    g = _empty_gates(num_qubits, L + n2)
    g.kind[0::2][:L] = kind
    g.q0[0::2][:L] = target
    g.angle[0::2][:L] = t
    two = CZ if kind == RY else CX
    g.kind[1::2][:n2] = two
    g.q0[1::2][:n2] = ctrl[:n2]
    g.q1[1::2][:n2] = target
    return g


# --------------------------------------------------------------------------- linear algebra


def _polar(a):
    """The unitary polar factor of nearly unitary matrices (one Newton–Schulz step)."""
    return a @ (1.5 * np.eye(a.shape[-1]) - 0.5 * (_dag(a) @ a))


def _unitary_eig(X, real: bool = False):
    """``X = V diag(λ) Vᴴ`` for a stack of unitaries (normal matrices): V unitary (real
    orthogonal when ``real``, for complex symmetric X), λ unimodular.

    ``eigh`` of the Cayley transform ``H = i(I − X')(I + X')⁻¹`` of ``X' = e^{iβ} X``
    (eigenvalues ``tan(φ/2)``): backward stable for any degeneracy as long as no eigenvalue of
    X' is near −1. A fixed β is tried first; where H comes out large, β is chosen again to put
    the widest gap of the spectrum just found at −1 (a gap of at least 2π/n).
    """
    n = X.shape[-1]
    beta = np.full(X.shape[:-2], _BETA0)
    V, lam_h = _cayley_eigh(X, beta, real)
    bad = np.nonzero(np.max(np.abs(lam_h), axis=-1) > max(64.0, 2.0 * n))[0]
    if bad.size:
        ang = np.sort(2.0 * np.arctan(lam_h[bad]), axis=-1)  # eigenvalue angles of X'
        gaps = np.diff(np.concatenate([ang, ang[:, :1] + 2 * np.pi], axis=-1), axis=-1)
        j = np.argmax(gaps, axis=-1)[:, None]
        mid = (np.take_along_axis(ang, j, -1) + 0.5 * np.take_along_axis(gaps, j, -1))[:, 0]
        V[bad], _ = _cayley_eigh(X[bad], beta[bad] + np.pi - mid, real)
    lam = np.sum(V.conj() * (X @ V), axis=-2)
    return V, lam / np.abs(lam)


_BETA0 = 0.5 * (math.sqrt(5.0) - 1.0)  # any fixed angle; rarely near a structured spectrum


def _cayley_eigh(X, beta, real: bool):
    n = X.shape[-1]
    Xr = X * np.exp(1j * beta)[..., None, None]
    eye = np.eye(n)
    try:
        H = 1j * np.linalg.solve(eye + Xr, eye - Xr)
    except np.linalg.LinAlgError:  # an eigenvalue exactly at −1: turn a little further
        return _cayley_eigh(X, beta + 0.5, real)
    if real:
        H = H.real
        H = 0.5 * (H + np.swapaxes(H, -1, -2))
    else:
        H = 0.5 * (H + _dag(H))
    return np.linalg.eigh(H)[::-1]


def _cossin(U):
    """Batched cosine-sine decomposition ``U = (u1 ⊕ u2)·[[C, −S], [S, C]]·(v1 ⊕ v2)``.

    Stewart's method: SVD of the top-left block (cosines, ascending), QR of the bottom-left
    block in those coordinates, and for the columns whose cosine exceeds 1/√2 an SVD of that
    part of R (it fixes the sines there); ``v2`` from both right blocks, made unitary.
    """
    h = U.shape[-1] // 2
    A, B, C, D = U[:, :h, :h], U[:, :h, h:], U[:, h:, :h], U[:, h:, h:]
    u1, c, v1 = np.linalg.svd(A)
    u1, c, v1 = u1[..., ::-1].copy(), c[..., ::-1].copy(), v1[..., ::-1, :].copy()
    q, r = np.linalg.qr(C @ _dag(v1))
    u2 = q
    s = np.empty_like(c)
    lead = np.count_nonzero(c <= _SQRT_HALF, axis=-1)  # sine-dominant columns come first
    for k in np.unique(lead).tolist():
        idx = np.nonzero(lead == k)[0]
        if k > 0:
            rd = np.diagonal(r[idx], axis1=-2, axis2=-1)[:, :k]
            mag = np.abs(rd)
            ph = np.where(mag > 0, rd / np.where(mag > 0, mag, 1.0), 1.0)
            u2[idx, :, :k] *= ph[:, None, :]
            s[idx, :k] = mag
        if k < h:
            p, sig, qh = np.linalg.svd(r[idx, k:, k:])
            u2[idx, :, k:] = u2[idx, :, k:] @ p
            v1[idx, k:, :] = qh @ v1[idx, k:, :]
            u1[idx, :, k:] = u1[idx, :, k:] @ _dag(qh)
            s[idx, k:] = sig
            c[idx, k:] = np.sqrt(np.clip(1.0 - sig * sig, 0.0, None))
    theta = np.arctan2(s, c)
    cs, sn = np.cos(theta)[..., None], np.sin(theta)[..., None]
    v2 = _polar(cs * (_dag(u2) @ D) - sn * (_dag(u1) @ B))
    return u1, u2, theta, v1, v2


def _demux(u1, u2):
    """``u1 ⊕ u2 = (I ⊗ V)(D ⊕ D†)(I ⊗ W)``: returns V, d (diagonal of D), W."""
    V, lam = _unitary_eig(u1 @ _dag(u2))
    d = np.sqrt(lam)
    W = d[..., :, None] * (_dag(V) @ u2)
    return V, d, W


# --------------------------------------------------------------------------- two-qubit leaves


def _split_kron(K):
    """``K = A ⊗ B`` for a stack of 4×4 products of 2×2 unitaries."""
    n = K.shape[0]
    blocks = K.reshape(n, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4)  # [n, i, j] = A_ij B
    norms = np.sum(np.abs(blocks) ** 2, axis=(-1, -2)).reshape(n, 4)
    best = np.argmax(norms, axis=1)
    blk = blocks.reshape(n, 4, 2, 2)[np.arange(n), best]
    det = blk[:, 0, 0] * blk[:, 1, 1] - blk[:, 0, 1] * blk[:, 1, 0]
    B = blk / np.sqrt(det)[:, None, None]
    A = np.einsum("nab,nijab->nij", B.conj(), blocks) / 2.0
    return A, B


def _kak(T):
    """``T = g · K1 · exp(i(φ0 + a XX + b YY + c ZZ)) · K2`` for a stack of 4×4 unitaries.

    Returns g, coefficients (n, 4) = (φ0, a, b, c), and the factors of K1 = A1⊗B1, K2 = A2⊗B2.
    """
    g = np.linalg.det(T) ** 0.25
    Xm = _MAGIC_H @ (T / g[:, None, None]) @ _MAGIC
    V, mu = _unitary_eig(np.swapaxes(Xm, -1, -2) @ Xm, real=True)
    V = V.real.copy()
    V[np.linalg.det(V) < 0, :, 0] *= -1
    lam = np.sqrt(mu)
    OL = ((Xm @ V) / lam[:, None, :]).real
    neg = np.linalg.det(OL) < 0
    OL[neg, :, 0] *= -1
    lam[neg, 0] *= -1
    OL = OL @ (1.5 * np.eye(4) - 0.5 * np.swapaxes(OL, -1, -2) @ OL)  # one polar step
    coef = np.angle(lam) @ _PAULI_DIAG / 4.0
    a1, b1 = _split_kron(_MAGIC @ OL @ _MAGIC_H)
    a2, b2 = _split_kron(_MAGIC @ np.swapaxes(V, -1, -2) @ _MAGIC_H)
    return g, coef, (a1, b1), (a2, b2)


# one-qubit frames mapping the dropped Pauli (X, Y, Z) onto Y, keeping the other two
_FRAME = np.stack([_rz(np.pi / 2), _I2, _rx_exp(-np.pi / 4)])
_PAULI = np.stack([_X, _Y, _Z])
_NEAR_ZERO = 1e-12  # a first leaf with an interaction coefficient this close to 0 takes 2 CZs


def _dropped_axis(coef):
    """Index (0, 1, 2 for XX, YY, ZZ) of the coefficient closest to 0 mod π/2, its distance
    and whether its multiple of π/2 is odd."""
    abc = coef[:, 1:]
    near = np.round(abc / (np.pi / 2))
    dist = np.abs(abc - near * (np.pi / 2))
    j = np.argmin(dist, axis=1)
    r = np.arange(len(j))
    return j, dist[r, j], (near[r, j].astype(np.int64) % 2) == 1


def _layers_2cz(coef, k1, k2, j, odd):
    """Time-ordered layers (n, 3, 2, 2) per qubit for ``K1 N K2`` with coefficient j ≈ 0.

    ``N(α, 0, β) = CX (e^{iαX} ⊗ e^{iβZ}) CX`` (CX = (I⊗H) CZ (I⊗H)); frames R move the dropped
    Pauli to Y; its odd multiple of π/2 leaves P⊗P, which commutes with N.
    """
    n = len(j)
    a, b, c = coef[:, 1], coef[:, 2], coef[:, 3]
    alpha = np.where(j == 0, b, a)
    beta = np.where(j == 2, b, c)
    R = _FRAME[j]
    P = np.where(odd[:, None, None], _PAULI[j], _I2)
    Rh = _dag(R)
    top = np.empty((n, 3, 2, 2), dtype=np.complex128)
    bot = np.empty((n, 3, 2, 2), dtype=np.complex128)
    top[:, 0] = Rh @ P @ k2[0]
    bot[:, 0] = _H @ Rh @ P @ k2[1]
    top[:, 1] = _rx_exp(alpha)
    bot[:, 1] = _rx_exp(beta)
    top[:, 2] = k1[0] @ R
    bot[:, 2] = k1[1] @ R @ _H
    return top, bot


def _layers_3cz(coef, k1, k2):
    """Time-ordered layers (n, 4, 2, 2) for ``K1 N(a, b, c) K2`` with 3 CZs [Vatan–Williams]:
    N ≅ Rz(−π/2)₂ · CX₂₁ · (Rz(π/2 − 2c) ⊗ Ry(2a − π/2)) · CX₁₂ · Ry(π/2 − 2b)₂ · CX₂₁ ·
    Rz(π/2)₁ (time order), CX₁₂ = (I⊗H) CZ (I⊗H), CX₂₁ = (H⊗I) CZ (H⊗I)."""
    n = coef.shape[0]
    a, b, c = coef[:, 1], coef[:, 2], coef[:, 3]
    top = np.empty((n, 4, 2, 2), dtype=np.complex128)
    bot = np.empty((n, 4, 2, 2), dtype=np.complex128)
    top[:, 0] = _H @ k2[0]
    bot[:, 0] = _rz(-np.pi / 2) @ k2[1]
    top[:, 1] = _rz(np.pi / 2 - 2 * c) @ _H
    bot[:, 1] = _H @ _ry(2 * a - np.pi / 2)
    top[:, 2] = _H
    bot[:, 2] = _ry(np.pi / 2 - 2 * b) @ _H
    top[:, 3] = k1[0] @ _rz(np.pi / 2) @ _H
    bot[:, 3] = k1[1]
    return top, bot


def _layer_product(top, bot):
    """The 4×4 unitary of layers (time order) separated by CZs."""
    out = np.einsum("nab,ncd->nacbd", top[:, 0], bot[:, 0]).reshape(-1, 4, 4)
    for i in range(1, top.shape[1]):
        lay = np.einsum("nab,ncd->nacbd", top[:, i], bot[:, i]).reshape(-1, 4, 4)
        out = lay @ (_CZ_DIAG[:, None] * out)
    return out


def _phase(target, got):
    return np.angle(np.einsum("nij,nij->n", got.conj(), target))


def _gamma_coeffs(Us):
    """a_kl = tr(U P_k Uᵀ P_l) for SU(4) U, P_0/P_1 the outer/inner antidiagonal of Y⊗Y."""
    P = np.zeros((2, 4, 4))
    P[0, 0, 3] = P[0, 3, 0] = _YY[0, 3]
    P[1, 1, 2] = P[1, 2, 1] = _YY[1, 2]
    M = np.einsum("nij,kjl,nml->nkim", Us, P, Us)  # U P_k Uᵀ
    return np.einsum("nkim,lmi->nkl", M, P)


def _zz_diag(x):
    """diag(exp(iφ Z⊗Z)) for x = e^{2iφ}, φ in [−π/4, π/4] (an array of x)."""
    half = np.sqrt(np.asarray(x, dtype=np.complex128))
    return np.where(_ZZ_SIGNS > 0, half[..., None], half.conj()[..., None])


def _near_one(w: complex) -> complex:
    """Of the two roots ±w/|w| of x² = w/w̄, the one nearer 1 (1 when w = 0)."""
    aw = abs(w)
    if aw <= 1e-300:
        return 1.0 + 0j
    return w / aw if w.real >= 0 else -w / aw


def _im_trace_gamma(T):
    """Im tr γ(T)/4 for det-1 T through its KAK coefficients, cos 2φ0 · Π sin 2c_k: accurate
    relative to its size where T is close to a two-coefficient class (tr γ itself cancels)."""
    _, coef, _, _ = _kak(T)
    return np.cos(2 * coef[:, 0]) * np.prod(np.sin(2 * coef[:, 1:]), axis=1)


def _refine(M, x: complex) -> complex:
    """x = e^{2iφ} with Im tr γ(M·exp(−iφZZ)) = 0, for a leaf where the closed form lost its
    digits. That function of φ is |w| sin(ψ − 2φ): its values at φ and φ + π/4, from KAK
    coefficients, give ψ − 2φ; two steps reach rounding level."""
    Ms = M / np.linalg.det(M) ** 0.25
    phi = 0.5 * np.angle(x)
    for _ in range(3):
        d = _zz_diag(np.exp(2j * np.array([phi, phi + np.pi / 4])))
        G = _im_trace_gamma(Ms[None] / d[:, None, :])
        step = 0.5 * math.atan2(G[0], -G[1])
        step = (step + np.pi / 4) % (np.pi / 2) - np.pi / 4  # the root nearest φ
        phi += step
        if abs(step) < 1e-15:
            break
    return _near_one(np.exp(2j * phi))


_BLOCK = 2048  # leaves per batched KAK check
_TOL = 1e-13  # a 2-CZ leaf may leave out an interaction coefficient this close to 0 mod π/2


def _leaves(leaves, up_to_diagonal: bool):
    """SBM A.2 over the leaves (time order) and their synthesis.

    Leaf j (j ≥ 1, and j = 0 when ``up_to_diagonal``) becomes ``T_j · D_j`` with 2 CZs,
    ``D_j = exp(iφ_j ZZ)``, and D_j moves into leaf j − 1: ``U_{j−1} ← D_j U_{j−1}``. The
    closed form for φ_j is a scalar step; each block of leaves is then checked with one batched
    KAK decomposition, and the latest leaf where φ_j lost accuracy (a leaf near a class with two
    vanishing coefficients, where tr γ cancels) is refined and the block below redone.

    Returns the layers (top, bottom) of the 2-CZ leaves, the 3-CZ layers of leaf 0 (or None),
    the sum of the leaves' phases and the first diagonal (``up_to_diagonal``).
    """
    L = leaves.shape[0]
    det = np.linalg.det(leaves)
    a = _gamma_coeffs(leaves / (det ** 0.25)[:, None, None])
    a00, a01, a10, a11 = (a[:, 0, 0].tolist(), a[:, 0, 1].tolist(), a[:, 1, 0].tolist(),
                          a[:, 1, 1].tolist())
    stop = 0 if up_to_diagonal else 1  # leaves j >= stop get a diagonal
    x = np.ones(L + 1, dtype=np.complex128)  # x[j] = e^{2iφ_j}; x[L] = 1
    coef = np.empty((L, 4))
    k = [np.empty((L, 2, 2), dtype=np.complex128) for _ in range(4)]
    dist = np.empty(L)
    xp = 1.0 + 0j
    j = L - 1
    while j >= 0:
        lo = max(0, j + 1 - _BLOCK)
        xs = x.tolist()
        for jj in range(j, lo - 1, -1):
            if jj >= stop:
                xc = xp.conjugate()
                w = (xp * a00[jj] + xc * a01[jj]) - (xp * a10[jj] + xc * a11[jj]).conjugate()
                xp = _near_one(w)
            else:
                xp = 1.0 + 0j
            xs[jj] = xp
        x[lo: j + 1] = xs[lo: j + 1]
        blk = slice(lo, j + 1)
        dg = _zz_diag(x[lo: j + 2])
        T = dg[1:, :, None] * leaves[blk] / dg[:-1, None, :]
        _, coef[blk], (k[0][blk], k[1][blk]), (k[2][blk], k[3][blk]) = _kak(T)
        _, dist[blk], _ = _dropped_axis(coef[blk])
        bad = np.nonzero(dist[blk][stop - lo if stop > lo else 0:] > _TOL)[0]
        if bad.size:
            b = int(bad[-1]) + max(lo, stop)
            M = _zz_diag(x[b + 1])[:, None] * leaves[b]
            x[b] = _refine(M, complex(x[b]))
            Tb = M / _zz_diag(x[b])[None, :]
            _, coef[b: b + 1], (k[0][b: b + 1], k[1][b: b + 1]), \
                (k[2][b: b + 1], k[3][b: b + 1]) = _kak(Tb[None])
            _, dist[b: b + 1], _ = _dropped_axis(coef[b: b + 1])
            xp = complex(x[b])
            j = b - 1
            continue
        xp = complex(x[lo])
        j = lo - 1
    dg = _zz_diag(x)
    T = dg[1:, :, None] * leaves / dg[:-1, None, :]
    jdx, _, odd = _dropped_axis(coef)
    k1, k2 = (k[0], k[1]), (k[2], k[3])
    top, bot = (_polar(y) for y in _layers_2cz(coef, k1, k2, jdx, odd))  # exactly unitary
    phase = _phase(T, _layer_product(top, bot))
    first = None
    if not up_to_diagonal and dist[0] >= _NEAR_ZERO:
        first = tuple(_polar(y) for y in _layers_3cz(coef[:1], (k1[0][:1], k1[1][:1]),
                                                        (k2[0][:1], k2[1][:1])))
        phase[0] = _phase(T[:1], _layer_product(*first))[0]
    return (top, bot), first, float(np.sum(phase)), (dg[0] if up_to_diagonal else None)


# --------------------------------------------------------------------------- the decomposition


def _level_sizes(m: int) -> dict[int, int]:
    """Gates of a level-k QSD node (uniform 2-CZ leaves)."""
    G = {2: 8}
    for k in range(3, m + 1):
        G[k] = 4 * G[k - 1] + 3 * (1 << k) - 1
    return G


def qsd_gates(U, up_to_diagonal: bool = False):
    """QSD of an ``m``-qubit unitary as a gate list: ``(gates, γ, d)`` (see the module doc)."""
    U = np.asarray(U, dtype=np.complex128)
    dim = U.shape[0]
    m = dim.bit_length() - 1
    if U.ndim != 2 or U.shape != (dim, dim) or dim != 1 << m or m < 1:
        raise ValueError(f"qsd needs a 2^m x 2^m unitary (m >= 1), got shape {U.shape}")
    if m == 1:
        g = _empty_gates(1, 1, 1)
        g.mat[0] = 0
        g.mats[0] = U
        return g, 0.0, None

    # levels m … 3: cosine-sine split and demultiplexing of the whole stack
    stack = U[None]
    ry_t, rzv, rzu = {}, {}, {}
    for k in range(m, 2, -1):
        n = stack.shape[0]
        h = 1 << (k - 1)
        u1, u2, theta, v1, v2 = _cossin(stack)
        zsign = np.concatenate([np.ones(h // 2), -np.ones(h // 2)])
        u2 = u2 * zsign[None, None, :]  # A.1: the Ry multiplexor's last CZ, acting first on u
        Vv, dv, Wv = _demux(v1, v2)
        Vu, du, Wu = _demux(u1, u2)
        ry_t[k] = mux_angles(2.0 * theta)
        rzv[k] = mux_angles(-2.0 * np.angle(dv))
        rzu[k] = mux_angles(-2.0 * np.angle(du))
        stack = np.stack([Wv, Vv, Wu, Vu], axis=1).reshape(4 * n, h, h)

    # leaves: A.2 hand-off and batched synthesis
    layers, first, gamma, d = _leaves(stack, up_to_diagonal)
    return _assemble(m, ry_t, rzv, rzu, layers, first), gamma, d


def _assemble(m, ry_t, rzv, rzu, layers, first) -> Gates:
    G = _level_sizes(m)
    extra = 3 if first is not None else 0  # a 3-CZ first leaf has 11 gates instead of 8
    L = layers[0].shape[0]
    nm = 6 * L + (2 if first is not None else 0)
    g = _empty_gates(m, G[m] + extra, nm)
    # start offsets of every node, level by level (time order); every item but the first
    # leaf comes after the first leaf
    starts = np.zeros(1, dtype=np.int64)
    for k in range(m, 2, -1):
        Gc, P = G[k - 1], 1 << k
        _fill_mux(g, RZ, m, k, starts + extra + Gc, rzv[k])
        _fill_mux(g, RY, m, k, starts + extra + 2 * Gc + P, ry_t[k])
        _fill_mux(g, RZ, m, k, starts + extra + 3 * Gc + 2 * P - 1, rzu[k])
        off = np.array([0, Gc + P, 2 * Gc + 2 * P - 1, 3 * Gc + 3 * P - 1], dtype=np.int64)
        starts = (starts[:, None] + off[None, :]).ravel()
    pos = starts + extra
    pos[0] = 0
    if first is None:
        _fill_leaves(g, m, pos, layers, 0)
    else:
        _fill_leaves(g, m, pos[:1], first, 0)
        _fill_leaves(g, m, pos[1:], (layers[0][1:], layers[1][1:]), 8)
    return g


def _fill_leaves(g: Gates, m: int, pos, layers, mat0: int) -> None:
    """Write leaves (layers of 2×2 gates on qubits m−2, m−1 separated by CZs) at ``pos``."""
    top, bot = layers
    n, nl = top.shape[:2]
    if n == 0:
        return
    one = (3 * np.arange(nl)[:, None] + np.arange(2)[None, :]).ravel()  # U1 slots
    two = 3 * np.arange(nl - 1) + 2  # CZ slots
    p1 = (pos[:, None] + one[None, :]).ravel()
    g.kind[p1] = U1
    g.q0[p1] = np.tile([m - 2, m - 1], n * nl)
    g.mat[p1] = mat0 + np.arange(2 * n * nl)
    g.mats[mat0: mat0 + 2 * n * nl] = np.stack([top, bot], axis=2).reshape(-1, 2, 2)
    p2 = (pos[:, None] + two[None, :]).ravel()
    g.kind[p2] = CZ
    g.q0[p2] = m - 2
    g.q1[p2] = m - 1


def _fill_mux(g: Gates, kind: int, m: int, k: int, starts, angles) -> None:
    """Write the level-k multiplexors (one per node) at ``starts``."""
    L = 1 << (k - 1)
    bits = cnot_control_bits(k - 1)
    ctrl = (m - 1 - bits).astype(np.int32)
    target = m - k
    base = starts[:, None]
    rot = (base + 2 * np.arange(L)[None, :]).ravel()
    g.kind[rot] = kind
    g.q0[rot] = target
    g.angle[rot] = angles.ravel()
    n2 = L - 1 if kind == RY else L
    two = (base + 2 * np.arange(n2)[None, :] + 1).ravel()
    g.kind[two] = CZ if kind == RY else CX
    g.q0[two] = np.tile(ctrl[:n2], len(starts))
    g.q1[two] = target


# --------------------------------------------------------------------------- Cirq edge


def _phased_xz_params(u):
    """PhasedXZ exponents (x, z, a) of a stack of 2×2 unitaries and the phases δ with
    ``u = e^{iδ} · unitary(PhasedXZGate(x, z, a))``."""
    u00, u01, u10, u11 = u[:, 0, 0], u[:, 0, 1], u[:, 1, 0], u[:, 1, 1]
    cos, sin = np.abs(u00), np.abs(u10)
    x = (2 / np.pi) * np.arctan2(sin, cos)
    a = -np.angle(u01 * np.conj(u00)) / np.pi - 0.5
    z = np.where(cos >= sin, np.angle(u11 * np.conj(u00)) / np.pi,
                 np.angle(u10 * np.conj(u01)) / np.pi - 2 * a)
    return x, z, a, _pxz_phase(u, x, z, a)


def _pxz_unitary(x, z, a):
    e = np.exp(0.5j * np.pi * x)
    ucx = e * np.cos(0.5 * np.pi * x)
    usx = -1j * e * np.sin(0.5 * np.pi * x)
    out = np.empty(x.shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0] = ucx
    out[..., 0, 1] = usx * np.exp(-1j * np.pi * a)
    out[..., 1, 0] = usx * np.exp(1j * np.pi * (z + a))
    out[..., 1, 1] = ucx * np.exp(1j * np.pi * z)
    return out


def _pxz_phase(u, x, z, a):
    p = _pxz_unitary(x, z, a)
    return np.angle(np.einsum("nij,nij->n", p.conj(), u))


def gates_to_ops(gates: Gates, qubits: Sequence[cirq.Qid]):
    """Cirq operations for ``gates`` on ``qubits`` (``qubits[i]`` is qubit i) and the phase δ
    with ``unitary(gates) = e^{iδ} · unitary(ops)`` (one-qubit matrices become PhasedXZGates):
    the operations of ``qlower.blocks.optable.gates_table``."""
    from qlower.blocks.optable import gates_table

    table, delta = gates_table(gates, qubits)
    return table.operations(), delta


def qsd(qubits, U, up_to_diagonal: bool = False):
    """Quantum Shannon decomposition of ``U`` on ``qubits`` (big-endian) as Cirq operations.

    Returns ``(ops, γ, d)`` with ``U = e^{iγ} · unitary(ops) · diag(d)``, ``d`` (length 4, on
    the last two qubits, acting first) only when ``up_to_diagonal`` (else ``None``).
    """
    qs = tuple(qubits)
    gates, gamma, d = qsd_gates(U, up_to_diagonal)
    if len(qs) != gates.num_qubits:
        raise ValueError(f"a {U.shape[0]}x{U.shape[0]} unitary needs {gates.num_qubits} "
                         f"qubits, got {len(qs)}")
    ops, delta = gates_to_ops(gates, qs)
    return ops, gamma + delta, d


# --------------------------------------------------------------------------- numpy applier


def _gate_matrices(gates: Gates, idx):
    """(A, B, control) per gate: the gate on its top qubit is A when the control bit is 0,
    B when it is 1 (control −1: always A)."""
    kind = gates.kind[idx]
    n = len(idx)
    A = np.broadcast_to(_I2, (n, 2, 2)).copy()
    B = A.copy()
    sel = kind == U1
    A[sel] = gates.mats[gates.mat[idx[sel]]]
    sel = kind == RY
    A[sel] = _ry(gates.angle[idx[sel]])
    sel = kind == RZ
    A[sel] = _rz(gates.angle[idx[sel]])
    one = kind <= RZ
    B[one] = A[one]
    B[kind == CZ] = _Z
    B[kind == CX] = _X
    ctrl = np.where(one, -1, np.maximum(gates.q0[idx], gates.q1[idx]))
    return A, B, ctrl


def _normalise(gates: Gates) -> Gates:
    """CNOTs controlled by their upper qubit become H·CZ·H (so every gate is 'controlled' by
    qubits below its top qubit)."""
    bad = np.nonzero((gates.kind == CX) & (gates.q0 < gates.q1))[0]
    if bad.size == 0:
        return gates
    rep = np.ones(len(gates), dtype=np.int64)
    rep[bad] = 3
    src = np.repeat(np.arange(len(gates)), rep)
    new = Gates(gates.num_qubits, gates.kind[src].copy(), gates.q0[src].copy(),
                gates.q1[src].copy(), gates.angle[src].copy(), gates.mat[src].copy(),
                np.concatenate([gates.mats.reshape(-1, 2, 2), _H[None]]))
    h = new.mats.shape[0] - 1
    first = np.cumsum(rep)[bad] - 3
    for off, is_h in ((0, True), (1, False), (2, True)):
        p = first + off
        tgt = gates.q1[bad]
        if is_h:
            new.kind[p] = U1
            new.q0[p] = tgt
            new.q1[p] = -1
            new.mat[p] = h
        else:
            new.kind[p] = CZ
    return new


def _intervals(mask):
    """Start and end (exclusive) of the runs of True in a boolean array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]


def _mul2(M, cur):
    """``M @ cur`` for stacks of 2×2 matrices (M broadcast against cur)."""
    out = np.empty(np.broadcast_shapes(M.shape, cur.shape), dtype=np.complex128)
    c0, c1 = cur[..., 0, :], cur[..., 1, :]
    out[..., 0, :] = M[..., 0, 0, None] * c0 + M[..., 0, 1, None] * c1
    out[..., 1, :] = M[..., 1, 0, None] * c0 + M[..., 1, 1, None] * c1
    return out


def _group_blocks(gates, gidx, starts, lengths, t, m):
    """Per-pattern 2×2 products (n, P, 2, 2) of runs of gates whose top qubit is t (pattern:
    the bits of qubits t+1 … m−1)."""
    n = len(starts)
    P = 1 << (m - 1 - t)
    acc = np.zeros((n, P, 2, 2), dtype=np.complex128)
    acc[..., 0, 0] = acc[..., 1, 1] = 1.0
    pats = np.arange(P)
    A, _, ctrl = _gate_matrices(gates, gidx)
    kind = gates.kind[gidx]
    loc = np.full(len(gates), -1, dtype=np.int64)
    loc[gidx] = np.arange(len(gidx))
    for i in range(int(lengths.max()) if n else 0):
        act = np.nonzero(lengths > i)[0]
        full = act.size == n
        li = loc[starts[act] + i]
        cur = acc if full else acc[act]
        k = kind[li]
        one = k <= RZ
        if one.all():
            cur = _mul2(A[li][:, None], cur)
        else:
            sel = np.nonzero(one)[0]
            if sel.size:
                cur[sel] = _mul2(A[li[sel]][:, None], cur[sel])
            for kk in (CZ, CX):
                sel = np.nonzero(k == kk)[0]
                if sel.size == 0:
                    continue
                shift = (m - 1 - ctrl[li[sel]])[:, None]
                bit = ((pats[None, :] >> shift) & 1).astype(bool)
                sub = cur[sel]
                if kk == CZ:
                    sub[..., 1, :] *= np.where(bit, -1.0, 1.0)[..., None]
                else:
                    sub = np.where(bit[..., None, None], sub[..., ::-1, :], sub)
                cur[sel] = sub
        if full:
            acc = cur
        else:
            acc[act] = cur
    return acc


def apply_gates(gates: Gates, X=None) -> np.ndarray:
    """``unitary(gates) @ X`` (``X``: ``2^m × K``; the identity when ``None``), by numpy.

    Bottom-up fusion: at level t (from the last qubit up) every maximal run of gates on qubits
    ``t … m−1`` becomes a dense ``2^(m−t)`` block, built from the level-(t+1) blocks inside it
    and the per-pattern 2×2 blocks of its gates on qubit t.
    """
    gates = _normalise(gates)
    m = gates.num_qubits
    dim = 1 << m
    if X is None:
        X = np.eye(dim, dtype=np.complex128)
    X = np.asarray(X, dtype=np.complex128)
    if X.ndim != 2 or X.shape[0] != dim:
        raise ValueError(f"expected a {dim} x K block, got shape {X.shape}")
    if len(gates) == 0:
        return X.copy()
    top = np.where(gates.q1 < 0, gates.q0, np.minimum(gates.q0, gates.q1))
    prev = None  # (starts, ends, dense blocks) of the level-(t+1) runs
    for t in range(m - 1, -1, -1):
        size = 1 << (m - t)
        h = size >> 1
        rs, re = _intervals(top >= t) if t > 0 else (np.array([0]), np.array([len(gates)]))
        gs, ge = _intervals(top == t)
        gidx = np.nonzero(top == t)[0]
        blocks = _group_blocks(gates, gidx, gs, ge - gs, t, m) if len(gs) else None
        # segments of each run, in time order: sub-runs (type 0) and groups (type 1)
        if prev is not None:
            seg_start = np.concatenate([prev[0], gs])
            seg_type = np.concatenate([np.zeros(len(prev[0]), np.int8), np.ones(len(gs), np.int8)])
            seg_idx = np.concatenate([np.arange(len(prev[0])), np.arange(len(gs))])
        else:
            seg_start, seg_type, seg_idx = gs, np.ones(len(gs), np.int8), np.arange(len(gs))
        order = np.argsort(seg_start, kind="stable")
        seg_start, seg_type, seg_idx = seg_start[order], seg_type[order], seg_idx[order]
        run = np.searchsorted(rs, seg_start, side="right") - 1
        first = np.searchsorted(run, np.arange(len(rs)), side="left")
        pos = np.arange(len(run)) - first[run]
        nruns = len(rs)
        if t == 0:
            acc = X[None].copy()
        else:
            acc = np.zeros((nruns, size, size), dtype=np.complex128)
            acc[:, np.arange(size), np.arange(size)] = 1.0
        K = acc.shape[-1]
        for s in range(int(pos.max()) + 1 if len(pos) else 0):
            here = pos == s
            for typ in (0, 1):
                sel = np.nonzero(here & (seg_type == typ))[0]
                if sel.size == 0:
                    continue
                r = run[sel]
                cur = acc[r].reshape(len(r), 2, h, K)
                if typ == 0:
                    F = prev[2][seg_idx[sel]]
                    if s == 0 and t > 0:
                        new = np.zeros_like(cur)
                        new[:, 0, :, :h] = F
                        new[:, 1, :, h:] = F
                    else:
                        new = F[:, None] @ cur
                else:
                    Gm = blocks[seg_idx[sel]]  # (n, h, 2, 2)
                    new = np.empty_like(cur)
                    new[:, 0] = Gm[..., 0, 0, None] * cur[:, 0] + Gm[..., 0, 1, None] * cur[:, 1]
                    new[:, 1] = Gm[..., 1, 0, None] * cur[:, 0] + Gm[..., 1, 1, None] * cur[:, 1]
                acc[r] = new.reshape(len(r), size, K)
        prev = (rs, re, acc)
    return prev[2][0]


def gates_unitary(gates: Gates) -> np.ndarray:
    """The ``2^m × 2^m`` unitary of a gate list (numpy, no Cirq)."""
    return apply_gates(gates)
