"""Complex amplitude encoding with uniformly controlled gates [Iten et al. 2016, Bergholm et al. 2005].

``ucg_state_preparation(x)`` prepares ``x/‖x‖`` (real or complex, global phase included) with
exactly ``2**n − n − 1`` CNOTs, the count of the real Möttönen circuit, for any data.

Method
------
The circuit is the inverse of one that *disentangles* x qubit by qubit, least significant
(last) qubit first. At the step for target ``t`` with the ``k = t`` more significant qubits as
controls, the state is ``Σ_p |p⟩ (a_p|0⟩ + b_p|1⟩)``; the uniformly controlled gate (UCG)
``{G_p}``, ``G_p (a_p, b_p)ᵀ = (r_p, 0)ᵀ``, disentangles t. It is implemented only up to a
diagonal acting *after* it (``circuit = Δ · UCG``), which merely rephases the remaining state
(``ψ'_p = Δ_p r_p``, kept classically), so it costs ``2**k − 1`` CNOTs instead of ``2**k``.

UCG up to a diagonal (``ucg_up_to_diagonal``). One control (``A`` for c = 0, ``B`` for
c = 1): ``M = B A†``; with ``Δ₁ = diag(e^{iα}, e^{iβ})``, ``α = arg M₀₀``, ``β = arg det M − α
− π``, ``H = Δ₁† M`` is Hermitian, traceless and unitary, so ``H = V Z V†`` with ``V`` in
closed form; ``W = V† A`` gives ``A = V W`` and ``B = Δ₁ V Z W``: the circuit ``W, CZ(c→t),
V`` is the UCG up to the diagonal ``(I ⊕ Δ₁)`` acting after it. With ``k`` controls this is
applied to the most significant control, giving two UCGs with ``k − 1`` controls (W's first,
then V's) around a CZ, level by level. A diagonal that a block leaves behind commutes with the
CZs and is absorbed by the *next* block of the same level (right-multiplying its gates, which
are not decomposed yet); the last block's diagonal is the UCG's diagonal. CZs are used instead
of CNOTs because diagonals commute with them; each ``CZ = H CX H`` has its Hadamards merged
into the neighbouring single-qubit gates. CNOT ``j`` of a ``k``-control UCG is controlled by
pattern bit ``ctz(j + 1)`` (Gray-code order, as in ``mux.py``).

Cost: ``Σ_{k<n} (2**k − 1) = 2**n − n − 1`` CNOTs and ``2**n − 1`` single-qubit gates
(``PhasedXZGate``, up to 3 rotation angles each, 2 for the first gate on each qubit, which
acts on |0⟩); the global phase is emitted as a ``GlobalPhaseGate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from qlower.blocks.mux import cnot_control_bits
from qlower.blocks.prep_registry import (
    PrepMethod,
    as_data,
    check_nonzero,
    num_qubits,
    pad,
    register_prep,
)
from qlower.blocks.resources import Resources

if TYPE_CHECKING:
    import cirq

    from qlower.blocks.amplitude import AmplitudeEncoding

__all__ = ["Ucg", "ucg_cnots", "ucg_state_preparation", "ucg_up_to_diagonal"]

_H = np.array([[1, 1], [1, -1]], dtype=np.complex128) / math.sqrt(2.0)
_SMALL_CHAIN = 16  # below this many pairs per block the diagonal chain runs on Python scalars


@register_prep
class Ucg(PrepMethod):
    """Uniformly controlled gates up to a diagonal: ``2**n − n − 1`` CNOTs, real or complex."""

    name = "ucg"
    summary = ("uniformly controlled gates up to a diagonal (Bergholm; Iten): 2^n − n − 1 "
               "CNOTs for complex data too; numeric data only")

    def cost(self, n, complex_=False):
        cnots = (1 << n) - n - 1
        single = (1 << n) - 1
        # a complex gate has three non-Clifford angles, two for the first on each qubit (it
        # acts on |0⟩); a real one is a Y rotation up to Cliffords: one
        rotations = 3 * single - n if complex_ else single
        return Resources(qubits=n, cnots=cnots, rotations=rotations, depth=cnots + single,
                         single_qubit=single)

    def build(self, x, qubits=None, *, prefix="amp"):
        return ucg_state_preparation(x, qubits=qubits)


def ucg_cnots(n: int) -> int:
    """CNOTs of :func:`ucg_state_preparation` on ``n`` qubits (exact, any data)."""
    return Ucg().cost(n).cnots


# --------------------------------------------------------------------------- UCG


def ucg_up_to_diagonal(G) -> tuple[np.ndarray, np.ndarray]:
    """Decompose the UCG ``{G_p}`` (``G[L, 2, 2]``, ``L = 2**k``) up to a diagonal.

    Returns ``(g, D)``: ``g[L, 2, 2]`` single-qubit gates in time order, with a CZ between
    ``g[j]`` and ``g[j + 1]`` controlled by pattern bit ``ctz(j + 1)``, and ``D[L, 2]`` such
    that the circuit applies ``diag(D[p]) @ G[p]`` to the target under control pattern ``p``.
    """
    blocks = np.array(G, dtype=np.complex128)
    L = blocks.shape[0]
    k = L.bit_length() - 1
    if L != 1 << k or blocks.shape[1:] != (2, 2):
        raise ValueError(f"expected gates of shape [2**k, 2, 2], got {blocks.shape}")
    F = np.ones((L, 2), dtype=np.complex128)  # UCG = diag(F) · circuit
    blocks = blocks[None]  # [blocks, gates per block, 2, 2], blocks in time order
    for _ in range(k):
        nb, size = blocks.shape[:2]
        h = size // 2
        A = blocks[:, :h]  # pattern msb 0
        B = blocks[:, h:]  # pattern msb 1
        u = B[..., 0, 0] * A[..., 0, 0].conj()
        v = B[..., 0, 1] * A[..., 0, 1].conj()
        c = _det(B) * _det(A).conj()
        d0, d1 = _delta_chain(u, v, c)
        # the diagonal of block j - 1 enters block j: B ← B · diag(e)
        e = np.ones((nb, h, 2), dtype=np.complex128)
        e[1:, :, 0] = d0[:-1]
        e[1:, :, 1] = d1[:-1]
        Bp = B * e[..., None, :]
        m00 = (Bp[..., 0, :] * A[..., 0, :].conj()).sum(-1)
        m01 = (Bp[..., 0, :] * A[..., 1, :].conj()).sum(-1)
        hh = (d0.conj() * m00).real  # = |M₀₀|
        cc = d0.conj() * m01
        nrm = np.sqrt(hh * hh + (cc * cc.conj()).real)
        hh = hh / nrm
        cc = cc / nrm
        s = 1.0 / np.sqrt(2.0 * (1.0 + hh))
        V = np.empty((nb, h, 2, 2), dtype=np.complex128)
        V[..., 0, 0] = (hh + 1.0) * s
        V[..., 0, 1] = -cc * s
        V[..., 1, 0] = cc.conj() * s
        V[..., 1, 1] = V[..., 0, 0]
        W = V.conj().swapaxes(-1, -2) @ A
        nxt = np.empty((2 * nb, h, 2, 2), dtype=np.complex128)
        nxt[0::2] = W
        nxt[1::2] = V
        # the last block's diagonal (I ⊕ Δ₁) is left after the whole UCG
        last = np.ones((size, 2), dtype=np.complex128)
        last[h:, 0] = d0[-1]
        last[h:, 1] = d1[-1]
        F *= np.tile(last, (L // size, 1))
        blocks = nxt
    return blocks[:, 0], F.conj()


def _det(m: np.ndarray) -> np.ndarray:
    return m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]


def _delta_chain(u: np.ndarray, v: np.ndarray, c: np.ndarray):
    """The diagonals ``Δ₁ = diag(d0, d1)`` of every block of a level, in time order.

    Block ``j`` sees ``M = B diag(e) A†`` with ``e`` the diagonal of block ``j − 1``:
    ``M₀₀ = u e0 + v e1``, ``det M = c e0 e1``; ``d0 = M₀₀/|M₀₀|``, ``d1 = −det M · d0*``.
    """
    nb, h = u.shape
    if h >= _SMALL_CHAIN or nb == 1:
        d0 = np.empty((nb, h), dtype=np.complex128)
        d1 = np.empty((nb, h), dtype=np.complex128)
        e0 = np.ones(h, dtype=np.complex128)
        e1 = np.ones(h, dtype=np.complex128)
        for j in range(nb):
            m = u[j] * e0 + v[j] * e1
            am = np.abs(m)
            ok = am > 0
            z = np.ones(h, dtype=np.complex128)
            z[ok] = m[ok] / am[ok]
            z /= np.abs(z)
            dm = c[j] * e0 * e1
            dm /= np.abs(dm)
            e0, e1 = z, -dm * z.conj()
            d0[j] = e0
            d1[j] = e1
        return d0, d1
    # many small blocks: one scalar chain per pair index
    uT, vT, cT = u.T.tolist(), v.T.tolist(), c.T.tolist()
    d0 = [None] * h
    d1 = [None] * h
    for q in range(h):
        uq, vq, cq = uT[q], vT[q], cT[q]
        o0 = [0j] * nb
        o1 = [0j] * nb
        e0 = e1 = 1 + 0j
        for j in range(nb):
            m = uq[j] * e0 + vq[j] * e1
            am = abs(m)
            z = m / am if am > 0 else 1 + 0j
            z /= abs(z)
            dm = cq[j] * e0 * e1
            dm /= abs(dm)
            e0, e1 = z, -dm * z.conjugate()
            o0[j] = e0
            o1[j] = e1
        d0[q] = o0
        d1[q] = o1
    return np.array(d0, dtype=np.complex128).T, np.array(d1, dtype=np.complex128).T


# --------------------------------------------------------------------------- state prep


def ucg_state_preparation(x, *, qubits: Sequence[cirq.Qid] | None = None) -> AmplitudeEncoding:
    """Prepare ``x/‖x‖`` (real or complex ``x``, zero-padded to ``2**n``) with ``2**n − n − 1``
    CNOTs; ``qubits[0]`` is the most significant (default ``cirq.LineQubit.range(n)``)."""
    from qlower.blocks.amplitude import AmplitudeEncoding, _qubits, _registers
    from qlower.blocks.circuits import gc_paused, packed_circuit

    x = as_data(x, batch=False, allow_complex=True)
    check_nonzero(x)
    size = x.shape[0]
    is_complex = bool(np.iscomplexobj(x))
    n = num_qubits(size)
    qs = _qubits(qubits, n)
    xp = pad(x, n).astype(np.complex128)
    alpha = float(np.linalg.norm(x))
    state = xp / alpha
    with gc_paused():
        circuit = packed_circuit(_ucg_ops(qs, state))
    return AmplitudeEncoding(
        circuit=circuit,
        alpha=alpha,
        registers=_registers(qs),
        symbols=(),
        size=size,
        num_qubits=n,
        method="ucg",
        state=state,
        is_complex=is_complex,
    )


def _disentangling_gates(psi: np.ndarray, n: int) -> tuple[list[np.ndarray], complex]:
    """For targets ``t = n−1 … 0``: the UCG's gates (time order, CZ → CX Hadamards merged) of
    the disentangling circuit; and the phase left on |0…0⟩ at the end."""
    steps = []
    for _t in range(n - 1, -1, -1):
        a = psi[0::2]
        b = psi[1::2]
        r = np.sqrt((a * a.conj()).real + (b * b.conj()).real)
        G = np.empty((a.shape[0], 2, 2), dtype=np.complex128)
        ok = r > 0
        ra = np.where(ok, r, 1.0)
        G[:, 0, 0] = np.where(ok, a.conj() / ra, 1.0)
        G[:, 0, 1] = np.where(ok, b.conj() / ra, 0.0)
        G[:, 1, 0] = np.where(ok, -b / ra, 0.0)
        G[:, 1, 1] = np.where(ok, a / ra, 1.0)
        g, D = ucg_up_to_diagonal(G)
        psi = r * D[:, 0]
        if g.shape[0] > 1:  # CZ = H CX H on the target
            g[:-1] = _H @ g[:-1]
            g[1:] = g[1:] @ _H
        steps.append(g)
    return steps, complex(psi[0])


def _ucg_ops(qs, state: np.ndarray) -> list[cirq.Operation]:
    import cirq

    from qlower.blocks.circuits import fast_op
    n = len(qs)
    steps, final = _disentangling_gates(state, n)
    # preparation = inverse of the disentangling circuit: steps reversed (t = 0 … n−1), each
    # with its gates reversed and inverted
    mats = np.concatenate([g[::-1].conj().swapaxes(-1, -2) for g in reversed(steps)])
    first = np.cumsum([0] + [1 << t for t in range(n - 1)])  # first gate on qubit t
    x, z, a, gamma = _phased_xz_params(mats)
    # the first gate on each qubit acts on |0⟩: Z^-a|0⟩ = |0⟩, so fold Z^a into Z^z
    z[first] += a[first]
    a[first] = 0.0
    xs, zs, as_ = x.tolist(), z.tolist(), a.tolist()
    ops: list[cirq.Operation] = []
    cx = cirq.CNOT
    pos = 0
    for t in range(n):
        L = 1 << t
        target = (qs[t],)
        bits = cnot_control_bits(t).tolist()
        for i in range(L):
            gate = cirq.PhasedXZGate(
                x_exponent=xs[pos], z_exponent=zs[pos], axis_phase_exponent=as_[pos]
            )
            ops.append(fast_op(gate, target))
            pos += 1
            if i < L - 1:
                # disentangling CNOT j = L - 2 - i, controlled by pattern bit ctz(j + 1)
                b = bits[L - 2 - i]
                ops.append(fast_op(cx, (qs[t - 1 - b], qs[t])))
    phase = np.exp(1j * float(np.sum(gamma))) * (final / abs(final))
    if abs(phase - 1.0) > 1e-15:
        ops.append(fast_op(cirq.GlobalPhaseGate(complex(phase)), ()))
    return ops


def _phased_xz_params(m: np.ndarray):
    """``m = e^{iγ} Z^z Z^a X^x Z^{−a}`` (``PhasedXZGate`` convention), vectorised.

    Phases are read from the larger entries so that every entry is reproduced to rounding.
    """
    m00, m01, m10, m11 = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    c = np.abs(m00)
    s = np.abs(m10)
    x = np.arctan2(s, c) * (2.0 / np.pi)
    g = np.angle(m00)  # γ + πx/2
    a = (g - np.pi / 2 - np.angle(m01)) / np.pi
    z = np.where(
        c >= s,
        (np.angle(m11) - g) / np.pi,
        (np.angle(m10) - g + np.pi / 2) / np.pi - a,
    )
    gamma = g - np.pi * x / 2
    return x, z, a, gamma
