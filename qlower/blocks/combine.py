"""``combine``: a linear combination of stacked vectors, ``y = Σ_j c_j v_j``, as one rotation.

The input is ``k`` vectors of ``M`` entries stacked on an index register, each on its own slot
of ``K = 2**n`` entries (``n = ⌈log₂ M⌉``), the slot number on ``s = ⌈log₂ k⌉`` selector qubits
above them: ``u = [v_0; 0; v_1; 0; …]``. The matrix is ``W = [c_0 E | c_1 E | …]``, ``E = [I_M 0]``
(``M × K``). A linear combination of unitaries with ``SELECT = I``: only ``PREP†`` is left, on
the selector qubits, with ``⟨0|PREP†|j⟩ = c_j/‖c‖₂``; post-selecting the selector at 0 gives
``Σ_j c_j v̂_j / ‖c‖₂``. So alpha = ``‖c‖₂`` (the spectral norm of W: optimal), and the cost is
that of preparing ``c/‖c‖`` on ``s`` qubits (Möttönen, real): for two vectors one ``Ry``,
no CNOT.

Residual adds (``a + b``: ``c = (1, 1)``; with a sign offset ``(1, 1, 1)`` on ``[a; b; τ·1]``) and the
residual of a loss (``a − t``: ``c = (1, −1)``) are such combinations; their lowerings ask for
this method by name. ``applies`` accepts only matrices of this form, and ``auto`` weighs
general methods only, so it never proposes it for a layer.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.layout import BlockLayout, ceil_log2
from qlower.blocks.registry import BlockMethod, register
from qlower.blocks.resources import Resources

TOL = 1e-12


def coefficients(W: np.ndarray) -> np.ndarray | None:
    """The ``c`` of ``W = [c_0 E | c_1 E | …]``, or None if W is not of that form."""
    W = np.asarray(W)
    M, N = W.shape
    K = 1 << ceil_log2(M)
    if N % K or N // K < 2 or np.iscomplexobj(W):
        return None
    k = N // K
    blocks = W.reshape(M, k, K).transpose(1, 0, 2)  # [k, M, K]
    c = blocks[:, 0, 0].astype(np.float64)
    E = np.eye(M, K)
    scale = max(float(np.max(np.abs(W))), 1e-300)
    if np.max(np.abs(blocks - c[:, None, None] * E)) > TOL * scale:
        return None
    return c


def _selector(k: int) -> int:
    return max(1, ceil_log2(k))


@register
class Combine(BlockMethod):
    """``Σ_j c_j v_j`` of stacked vectors: PREP† of ``c/‖c‖`` on the selector; alpha = ‖c‖₂."""

    name = "combine"
    summary = "linear combination of stacked vectors [c_0 I | c_1 I | ...]; alpha = ‖c‖₂"
    qubit_order = "S (s) + D (n)"
    general = False

    def applies(self, W) -> bool:
        return coefficients(W) is not None

    def _c(self, W) -> np.ndarray:
        c = coefficients(W)
        if c is None:
            raise ValueError("combine: the matrix is not [c_0 I | c_1 I | ...] (stacked slots "
                             "of 2**ceil(log2 M) columns, each a multiple of the identity)")
        return c

    def layout(self, M, N, params):
        n = ceil_log2(M)
        k = N >> n
        return BlockLayout(input=_selector(k) + n, output=n, flags=_selector(k))

    def plan(self, W, threshold=0.0):
        return {"alpha": float(np.linalg.norm(self._c(W)))}

    def implemented(self, W, params):
        c = self._c(W)
        M, N = W.shape
        lay = self.layout(M, N, params)
        K = 1 << lay.output
        out = np.zeros((K, 1 << lay.input))
        for j, cj in enumerate(c):
            out[:, j * K:(j + 1) * K] = cj * np.eye(K)
        return out

    def _prep(self, W) -> np.ndarray:
        """``c/‖c‖`` on the selector's ``2**s`` entries."""
        c = self._c(W)
        v = np.zeros(1 << self.layout(*W.shape, {}).flags)
        v[: len(c)] = c / np.linalg.norm(c)
        return v

    def cost(self, W, params):
        from qlower.blocks.mottonen import mottonen_angles
        from qlower.blocks.resources import non_clifford

        s = self.layout(*W.shape, params).flags
        cnots, gates = (1 << s) - s - 1, (1 << s) - 1
        # Ry angles that are multiples of π/2 (c = (1, ±1): one Ry(±π/2)) are Clifford gates
        rotations = non_clifford(mottonen_angles(self._prep(W)))
        return Resources(qubits=self.qubits(*W.shape, params), cnots=cnots, rotations=rotations,
                         depth=cnots + gates, single_qubit=gates)

    def build(self, W, params, qubits=None):
        import cirq

        from qlower.blocks.base import Registers
        from qlower.blocks.block_encoding import BlockEncoding, resolve_qubits
        from qlower.blocks.circuits import packed_circuit
        from qlower.blocks.mottonen import mottonen_block

        M, N = W.shape
        lay = self.layout(M, N, params)
        s, n = lay.flags, lay.output
        qs = resolve_qubits(qubits, s + n, f"combine: S ({s}) + D ({n})")
        S, D = tuple(qs[:s]), tuple(qs[s:])
        alpha = float(np.linalg.norm(self._c(W)))
        prep = mottonen_block(self._prep(W), 1 << s, s, False, S, "c")
        ops = list(cirq.inverse(prep.circuit).all_operations())
        return BlockEncoding(
            circuit=packed_circuit(ops), alpha=alpha,
            registers=Registers(input=(*S, *D), output=D, flags=S),
            method="combine", shape=(M, N), padded=self.implemented(W, params),
            target=W, params={"alpha": alpha})


__all__ = ["Combine", "coefficients"]
