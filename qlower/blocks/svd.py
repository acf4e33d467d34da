"""SVD block encoding: W = U Σ Vᴴ as V† (QSD), a flag rotation multiplexed by Σ, U (QSD).

W (M × N, real or complex, any rank) is zero-padded to ``A`` of size ``2^n × 2^n``,
``n = max(⌈log₂M⌉, ⌈log₂N⌉, 1)``, with SVD ``A = U diag(σ) Vᴴ``. Qubits ``[flag] + D`` (n data
qubits, the flag most significant, as in ``dilation.py``). Circuit, in time order:

1. ``Vᴴ`` on D by quantum Shannon decomposition (``qsd.py``);
2. Ry(θ_k) on the flag multiplexed by D, ``θ_k = 2 arccos(σ_k/σ₁)`` (σ_k = 0 on padded or
   rank-deficient indices): Gray-code order with CZs (``mux.py``), so ``⟨0|Ry(θ_k)|0⟩ = σ_k/σ₁``;
3. ``U`` on D by QSD.

Then ``(⟨0_flag| ⊗ I) C (|0_flag⟩ ⊗ I) = A/σ₁``: α = σ₁ = ‖W‖₂, the optimum. Savings, both
exact on that block: U is synthesised up to a diagonal on its last two qubits acting first; it
commutes with the multiplexor (diagonal on D) and is merged into Vᴴ before that is synthesised
(one CNOT). The multiplexor's last CZ (flag, D₀) is left out: it would act as I on the flag = 0
branch that the block keeps (one CNOT).

Cost for generic W (exact, asserted in the tests): ``svd_cnots(n) = 2·Q(n) + 2^n − 2`` for n ≥ 2
(Q = ``qsd_cnots``; 8, 46, 214, 942, 3798 at n = 2…6), 1 at n = 1; ``svd_cost`` gives qubits,
CNOTs and single-qubit gates from the shape alone. Real W with n = 2 may need one CNOT fewer
(a real 4×4 Vᴴ of determinant 1 takes 2 CZs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qlower.blocks.layout import BlockLayout
from qlower.blocks.qsd import (
    RY,
    Gates,
    apply_gates,
    concat_gates,
    multiplexed_rotation,
    qsd_cnots,
    qsd_gates,
    qsd_rotations,
    qsd_single_qubit,
)
from qlower.blocks.registry import BlockMethod, register
from qlower.blocks.resources import Resources

if TYPE_CHECKING:
    import cirq

__all__ = ["SVDCost", "Svd", "svd_block", "svd_circuit", "svd_cnots", "svd_cost", "svd_gates",
           "svd_qubits"]

ZERO_MESSAGE = "SVD block encoding of the zero matrix: it has no singular vectors (‖W‖₂ = 0)"


@dataclass(frozen=True)
class SVDCost:
    """What :func:`svd_circuit` costs for generic data: qubits (flag + data), two-qubit gates
    (CZ/CNOT, exact), non-Clifford rotation angles as ``count_resources`` counts them (exact
    for generic data, an upper bound otherwise) and single-qubit gates (exact)."""

    qubits: int
    cnots: int
    rotations: int
    single_qubit: int


def svd_qubits(M: int, N: int) -> int:
    """Data qubits n for an M × N matrix (at least 1)."""
    return max(1, (max(M, N) - 1).bit_length())


def svd_cnots(n: int) -> int:
    """Two-qubit gates of the SVD block encoding on n data qubits, generic W."""
    if n < 1:
        raise ValueError(f"the SVD block encoding needs n >= 1 data qubits, got {n}")
    return qsd_cnots(n) + qsd_cnots(n, up_to_diagonal=True) + (1 << n) - 1


def svd_cost(M: int, N: int) -> SVDCost:
    """Cost of :func:`svd_circuit` for an M × N matrix, in closed form (nothing is built)."""
    n = svd_qubits(M, N)
    mux = 1 << n
    rot = qsd_rotations(n) + qsd_rotations(n, up_to_diagonal=True) + mux
    single = qsd_single_qubit(n) + qsd_single_qubit(n, up_to_diagonal=True) + mux
    return SVDCost(qubits=n + 1, cnots=svd_cnots(n), rotations=rot, single_qubit=single)


def _as_matrix(W) -> np.ndarray:
    try:
        arr = np.asarray(W)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"the SVD block encoding needs a numeric matrix: {e}") from None
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"the SVD block encoding needs numeric data, got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"the SVD block encoding needs a non-empty 2-D matrix, got shape "
                         f"{arr.shape}")
    arr = arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("the SVD block encoding needs finite data; got NaN or infinity")
    if not np.any(arr):
        raise ValueError(ZERO_MESSAGE)
    return arr


def svd_gates(W):
    """The SVD block encoding as a gate list on ``n + 1`` qubits (qubit 0 the flag).

    Returns ``(gates, γ, α)``: the flag-0 block of ``e^{iγ} · unitary(gates)`` is ``A/α``
    (A the padded W).
    """
    W = _as_matrix(W)
    M, N = W.shape
    n = svd_qubits(M, N)
    dim = 1 << n
    A = np.zeros((dim, dim), dtype=W.dtype)
    A[:M, :N] = W
    u, s, vh = np.linalg.svd(A)
    alpha = float(s[0])
    c = s / alpha
    if not np.iscomplexobj(A):
        # real W: det U = det Vᴴ = +1 through the sign of the last cosine (a real 4×4
        # orthogonal of determinant +1 takes 2 CZs, and U's diagonal is then 1)
        if np.linalg.det(u) < 0:
            u[:, -1] *= -1
            c[-1] = -c[-1]
        if np.linalg.det(vh) < 0:
            vh[-1] *= -1
            c[-1] = -c[-1]
    theta = 2.0 * np.arccos(np.clip(c, -1.0, 1.0))
    gu, gamma_u, du = qsd_gates(u, up_to_diagonal=True)
    vh = vh.astype(np.complex128)
    if du is not None:
        vh *= np.tile(du, dim // 4)[:, None]  # diag(du) commutes with the multiplexor
    gv, gamma_v, _ = qsd_gates(vh, up_to_diagonal=False)
    mux = multiplexed_rotation(RY, 0, list(range(1, n + 1)), theta, n + 1, drop_last=True)
    gates = concat_gates([gv.shifted(1, n + 1), mux, gu.shifted(1, n + 1)], n + 1)
    return gates, gamma_u + gamma_v, alpha


def flag_block(gates: Gates, gamma: float) -> np.ndarray:
    """The flag = 0 block (in and out) of ``e^{iγ} · unitary(gates)``, by numpy."""
    half = 1 << (gates.num_qubits - 1)
    X = np.zeros((2 * half, half), dtype=np.complex128)
    X[:half] = np.eye(half)
    return np.exp(1j * gamma) * apply_gates(gates, X)[:half]


def svd_table(W, qubits: Sequence[cirq.Qid]):
    """The SVD block encoding of ``W`` on ``qubits`` = ``[flag] + D`` as an operation table
    (``qlower.blocks.optable``; a global phase row included). Returns ``(table, σ₁, gates, γ)``
    (``gates``, ``γ``: :func:`svd_gates`)."""
    from qlower.blocks.optable import gates_table, with_global_phase

    gates, gamma, alpha = svd_gates(W)
    qs = tuple(qubits)
    if len(qs) != gates.num_qubits or len(set(qs)) != len(qs):
        raise ValueError(f"the SVD block encoding of a {np.shape(W)[0]}x{np.shape(W)[1]} "
                         f"matrix needs {gates.num_qubits} distinct qubits ([flag] + "
                         f"{gates.num_qubits - 1} data), got {qs}")
    table, delta = gates_table(gates, qs)
    phase = np.exp(1j * (gamma + delta))
    if abs(phase - 1.0) > 1e-15:
        table = with_global_phase(table, phase)
    return table, alpha, gates, gamma


def svd_circuit(W, qubits: Sequence[cirq.Qid]):
    """The SVD block encoding of ``W`` on ``qubits`` = ``[flag] + D``.

    Returns ``(ops, α, block)``: ``ops`` (a global phase included) whose flag-0 block is
    ``W/α`` (padded), ``α = σ₁``, and ``block`` = α × that block as the gates implement it
    (numpy), ≈ the padded W.
    """
    table, alpha, gates, gamma = svd_table(W, qubits)
    block = alpha * flag_block(gates, gamma)
    return table.operations(), alpha, block


MAX_QUBITS = 11  # flag + 10 data qubits (N <= 1024): about 20 s and 1e6 CNOTs to build


@register
class Svd(BlockMethod):
    """SVD block encoding W = U Σ Vᴴ (two Shannon decompositions and a multiplexed flag
    rotation); alpha = ‖W‖₂."""

    name = "svd"
    summary = "SVD: V† and U by Shannon decomposition, Σ/σ₁ on one flag; alpha = ‖W‖₂"
    qubit_order = "[flag] + D (n)"
    max_qubits = MAX_QUBITS

    def layout(self, M, N, params):
        n = svd_qubits(M, N)
        return BlockLayout(input=n, output=n, flags=1)

    def plan(self, W, threshold=0.0):
        return {"alpha": float(np.linalg.norm(W, 2))}

    def cost(self, W, params):
        """Closed forms (``svd_cost``): exact for a full-rank complex W of power-of-two square
        shape, upper bounds otherwise (real W has real V† and U) (padding or a lower rank makes V† and U structured, and their
        decompositions may be shorter); the qubits are always exact."""
        c = svd_cost(*W.shape)
        cnots = c.cnots
        if c.qubits == 3 and not np.iscomplexobj(W):
            cnots -= 1  # a real 4×4 Vᴴ of determinant +1 takes 2 CZs (svd_gates fixes det = +1)
        # the gates alternate with one-qubit layers: at most two layers per two-qubit gate
        return Resources(qubits=c.qubits, cnots=cnots, rotations=c.rotations,
                         depth=2 * cnots + 3, single_qubit=c.single_qubit)

    def counts_exact(self, W):
        M, N = W.shape
        return (np.iscomplexobj(W) and M == N == 1 << svd_qubits(M, N)
                and np.linalg.matrix_rank(W) == M)

    def build(self, W, params, qubits=None):
        return svd_block(W, qubits=qubits)

    def build_table(self, W, params, qubits=None):
        from qlower.blocks.base import Registers
        from qlower.blocks.optable import TableBlock

        qs = _block_qubits(_as_matrix(W), qubits)
        table = svd_table(W, qs)[0]
        return TableBlock(table, self.plan(W)["alpha"], Registers(input=tuple(qs[1:]),
                          output=tuple(qs[1:]), flags=(qs[0],)), "svd", W.shape)


def _block_qubits(W: np.ndarray, qubits) -> list:
    from qlower.blocks.block_encoding import resolve_qubits

    M, N = W.shape
    n = svd_qubits(M, N)
    if n + 1 > MAX_QUBITS:
        raise ValueError(f"the SVD block encoding of a {M}x{N} matrix needs {n + 1} qubits; it "
                         f"is built up to {MAX_QUBITS} here: use method='fable'")
    return resolve_qubits(qubits, n + 1, f"svd: [flag] + D ({n})")


def svd_block(W: np.ndarray, *, qubits=None):
    """The SVD block encoding of ``W`` as a :class:`~qlower.blocks.block_encoding.BlockEncoding`."""
    from qlower.blocks.base import Registers
    from qlower.blocks.block_encoding import BlockEncoding
    from qlower.blocks.circuits import packed_circuit

    W = _as_matrix(W)
    M, N = W.shape
    qs = _block_qubits(W, qubits)
    ops, sigma, block = svd_circuit(W, qs)
    alpha = Svd().plan(W)["alpha"]  # the op's alpha, bit for bit (the circuit's σ₁ agrees to rounding)
    block = block * (alpha / sigma)
    return BlockEncoding(
        circuit=packed_circuit(ops),
        alpha=alpha,
        registers=Registers(input=tuple(qs[1:]), output=tuple(qs[1:]), flags=(qs[0],)),
        method="svd",
        shape=(M, N),
        padded=block,
        target=W,
        params={"alpha": alpha},
    )
