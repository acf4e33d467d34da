"""Unitary dilation block encoding, alpha = ‖W‖₂, one flag.

``A = W / ‖W‖₂`` zero-padded to 2^q × 2^q (q = max(⌈log₂M⌉, ⌈log₂N⌉)); with the SVD
``A = U Σ V†`` and ``S = (I − Σ²)^{1/2}``::

    U_dil = [[A, (I − AA†)^{1/2}], [(I − A†A)^{1/2}, −A†]]
          = [[UΣV†, USU†], [VSV†, −VΣU†]]

is unitary. Qubits ``[flag] + D``: the flag is the most significant qubit, so the top-left
block (flag = 0 in and out) is A; input and output are both D. Only that block matters, so
the circuit synthesises ``diag(I, Q) U_dil diag(I, R)`` with fixed Haar-random Q, R (a gauge).
It was introduced when QSD lost accuracy on the degenerate spectra of structured W (1e-8 on a
Pauli-sparse 8×8); ``qsd.py`` is backward stable there without it, and it is kept so that every
W gets the same generic circuit and count (structured W may lose a few CNOTs a structured QSD
could have saved).

Synthesis: quantum Shannon decomposition on q + 1 qubits (``qlower.blocks.qsd``: cosine–sine
splits and demultiplexing down to two-qubit blocks of at most 3 CZs), which meets the
Shende–Bullock–Markov count (23/48)4^{q+1} − (3/2)2^{q+1} + 4/3 of CNOT/CZ gates
(20/100/444/1868 at q + 1 = 3…6); its global phase is emitted as a ``GlobalPhaseGate``, so the
circuit implements U_dil exactly. ``matrix`` is what the gate list implements, computed by
numpy (``qsd.apply_gates``), so it is complex even for real W (imaginary part ~ rounding).
Sizes beyond ``MAX_QUBITS`` are refused.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.layout import BlockLayout, ceil_log2
from qlower.blocks.registry import BlockMethod, register
from qlower.blocks.resources import Resources

MAX_QUBITS = 7  # q + 1 qubits; QSD time and CNOTs grow as 4^(q+1) (7660 CNOTs at 7)
GAUGE_SEED = 20220501


def dilation_unitary(A: np.ndarray) -> np.ndarray:
    """The unitary dilation of a square contraction ``A`` (‖A‖₂ <= 1), A in the top-left."""
    u, s, vh = np.linalg.svd(A)
    # σ/‖W‖₂ of the top singular value is 1 up to rounding, and √(1 − s²) of a rounding error
    # is 1e-8: snap it, so that the completion is exact (and such angles are not rotations)
    s = np.where(s > 1.0 - 1e-15, 1.0, np.clip(s, 0.0, 1.0))
    c = np.sqrt(np.clip(1.0 - s * s, 0.0, None))
    v = vh.conj().T
    top = np.hstack([(u * s) @ vh, (u * c) @ u.conj().T])
    bottom = np.hstack([(v * c) @ v.conj().T, -(v * s) @ u.conj().T])
    return np.vstack([top, bottom])


def _haar_unitary(n: int, rng: np.random.Generator) -> np.ndarray:
    z = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    q, r = np.linalg.qr(z)
    d = np.diag(r)
    return q * (d / np.abs(d))[None, :]


def gauged_dilation(A: np.ndarray, seed: int = GAUGE_SEED) -> np.ndarray:
    """``diag(I, Q) · U_dil · diag(I, R)`` with fixed Haar-random Q, R: the same block A.

    Only the flag = 0 block is constrained; the random gauge removes the degenerate spectra
    that structured W (identity, Pauli strings) give, on which QSD's eigendecompositions lose
    accuracy (1e-8 instead of 1e-14 on a Pauli-sparse 8×8).
    """
    u = dilation_unitary(A).astype(np.complex128)
    h = A.shape[0]
    rng = np.random.default_rng(seed)
    u[h:] = _haar_unitary(h, rng) @ u[h:]
    u[:, h:] = u[:, h:] @ _haar_unitary(h, rng)
    return u


@register
class Dilation(BlockMethod):
    """Unitary dilation of W/‖W‖₂ by a quantum Shannon decomposition; alpha = ‖W‖₂."""

    name = "dilation"
    summary = "unitary dilation of W/‖W‖₂ by Shannon decomposition; alpha = ‖W‖₂, one flag"
    qubit_order = "[flag] + D (q)"
    max_qubits = MAX_QUBITS

    def layout(self, M, N, params):
        q = max(ceil_log2(M), ceil_log2(N))
        return BlockLayout(input=q, output=q, flags=1)

    def plan(self, W, threshold=0.0):
        return {"alpha": float(np.linalg.norm(W, 2))}

    def cost(self, W, params):
        from qlower.blocks.qsd import qsd_cnots, qsd_rotations, qsd_single_qubit

        m = self.layout(*W.shape, params).input + 1
        cnots = qsd_cnots(m)
        # a GlobalPhaseGate is no gate; the decomposition alternates CNOTs with one-qubit layers
        return Resources(qubits=m, cnots=cnots, rotations=qsd_rotations(m),
                         depth=3 if m == 1 else 2 * cnots + 1, single_qubit=qsd_single_qubit(m))

    def counts_exact(self, W):
        # the random gauge makes the dilated unitary generic, except a 1×1 W's (diagonal)
        return W.size > 1

    def build(self, W, params, qubits=None):
        return dilation_block(W, qubits=qubits)

    def build_table(self, W, params, qubits=None):
        from qlower.blocks.optable import TableBlock

        table, qs, norm, _, _ = _dilation_table(W, qubits)
        return TableBlock(table, norm, _registers(qs), "dilation", W.shape)


def dilation_block(W: np.ndarray, *, qubits=None):
    """Unitary-dilation block encoding of ``W`` (validated by ``block_encoding.as_matrix``)."""
    from qlower.blocks.block_encoding import BlockEncoding
    from qlower.blocks.circuits import packed_circuit
    from qlower.blocks.qsd import apply_gates

    M, N = W.shape
    table, qs, norm, gates, gamma = _dilation_table(W, qubits)
    half = 1 << (len(qs) - 1)
    X = np.zeros((2 * half, half), dtype=np.complex128)
    X[:half] = np.eye(half)
    block = norm * np.exp(1j * gamma) * apply_gates(gates, X)[:half]  # flag = 0 in and out
    return BlockEncoding(
        circuit=packed_circuit(table.operations()),
        alpha=norm,
        registers=_registers(qs),
        method="dilation",
        shape=(M, N),
        padded=block,
        target=W,
        params={"alpha": norm},
    )


def _registers(qs):
    from qlower.blocks.base import Registers

    D = tuple(qs[1:])
    return Registers(input=D, output=D, flags=(qs[0],))


def _dilation_table(W: np.ndarray, qubits):
    """(operation table with its global phase row, qubits, ‖W‖₂, QSD gates, γ)."""
    from qlower.blocks.block_encoding import resolve_qubits
    from qlower.blocks.optable import gates_table, with_global_phase
    from qlower.blocks.qsd import qsd_gates

    M, N = W.shape
    q = Dilation().layout(M, N, {}).input
    if q + 1 > MAX_QUBITS:
        raise ValueError(
            f"dilation of a {M}x{N} matrix needs {q + 1} qubits (a {1 << q}x{1 << q} padded "
            f"square + 1 flag); quantum Shannon decomposition is limited to {MAX_QUBITS} "
            f"qubits here: use method='svd', 'fable' or 'lcu'"
        )
    qs = resolve_qubits(qubits, q + 1, f"dilation: [flag] + D ({q})")
    norm = float(np.linalg.norm(W, 2))
    A = np.zeros((1 << q, 1 << q), dtype=np.complex128)
    A[:M, :N] = W / norm
    gates, gamma, _ = qsd_gates(gauged_dilation(A), up_to_diagonal=False)
    table, delta = gates_table(gates, qs)
    if abs(gamma + delta) > 1e-15:
        table = with_global_phase(table, np.exp(1j * (gamma + delta)))
    return table, qs, norm, gates, gamma
