"""Pauli LCU block encoding for Pauli-sparse matrices.

W (zero-padded to 2^n × 2^n, n = max(⌈log₂M⌉, ⌈log₂N⌉)) = Σ c_{x,z} P_{x,z}, where
``P_{x,z} = ⊗_j σ(x_j, z_j)`` (σ(0,0) = I, σ(1,0) = X, σ(0,1) = Z, σ(1,1) = Y) and bit j of an
integer is qubit ``n−1−j`` (big-endian). Since Y = iXZ, ``P_{x,z} = i^{|x∧z|} X^x Z^z`` and
``X^x Z^z |k⟩ = (−1)^{z·k} |k⊕x⟩``, so ``c_{x,z} = Tr(P†W)/2^n`` is::

    c_{x,z} = (−i)^{|x∧z|} 2^{−n} WHT_k(W[k⊕x, k])[z]

(one Walsh–Hadamard transform per x: O(n·4^n)). Terms with ``|c| <= max(threshold,
1e-12·max|c|)`` are dropped; ``K`` terms remain, ``alpha = Σ|c_k|``.

Circuit on ``index (L = ⌈log₂K⌉) + ancillas (max(L−1, 0)) + D (n)``::

    U = PREP_L† · SELECT · PREP_R
    PREP_R|0⟩ = Σ_k √(|c_k|/α) e^{i arg c_k} |k⟩,   PREP_L|0⟩ = Σ_k √(|c_k|/α) |k⟩

(``amplitude_encoding``), so ⟨0|U|0⟩ = Σ_k (|c_k|/α) e^{i arg c_k} P_k = W/α. Flags = index +
ancillas; input = output = D.

SELECT (``|k⟩|ψ⟩ → |k⟩P_k|ψ⟩``) is unary iteration [Babbush et al. 2018] as a recursion over
the index bits: a node with control c splits on its bit b by computing ``c ∧ ¬b`` into the
ancilla of its depth (left subtree), flipping it to ``c ∧ b`` with one CNOT from c (right
subtree), and uncomputing. The AND is Gidney's temporary logical-AND (6 CNOT, 4 T, target
starting in |0⟩) and the uncompute is its exact inverse (6 CNOT, 4 T; no measurement, so the
circuit stays unitary). The root splits on the first index bit directly (no ancilla), and a
node whose right half holds only indices >= K recurses into the left half without splitting
(PREP_R puts no amplitude there). Each leaf applies its Pauli string controlled by one qubit:
one CNOT / CZ / (S† · CNOT · S) per non-identity factor. Cost of SELECT with ``A`` splitting
non-root nodes (``A = K − 2`` for K a power of two): ``13A`` CNOT + ``Σ_k |P_k|`` controlled
Paulis, ``8A`` T gates (Babbush's measurement-based uncompute would need 4A).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from qlower.blocks.layout import BlockLayout, ceil_log2, lcu_index_qubits
from qlower.blocks.mux import fwht
from qlower.blocks.registry import BlockMethod, register
from qlower.blocks.resources import Resources

if TYPE_CHECKING:
    import cirq

PAULI_TOL = 1e-12  # Pauli coefficients with |c| <= PAULI_TOL * max|c| count as zero


def _popcount(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.int64, copy=True)
    out = np.zeros_like(a)
    while np.any(a):
        out += a & 1
        a >>= 1
    return out


def _pad_square(W: np.ndarray) -> np.ndarray:
    M, N = W.shape
    n = max(ceil_log2(M), ceil_log2(N))  # the square the dilation pads to too
    P = np.zeros((1 << n, 1 << n), dtype=np.complex128)
    P[:M, :N] = W
    return P


def pauli_coefficients(W: np.ndarray) -> np.ndarray:
    """``c[x, z]`` with ``W = Σ c[x, z] P_{x,z}`` (W zero-padded to a power-of-two square)."""
    P = _pad_square(np.asarray(W))
    N = P.shape[0]
    k = np.arange(N)
    x = k[:, None]
    D = P[k[None, :] ^ x, k[None, :]]  # D[x, k] = W[k ^ x, k]
    phase = (-1j) ** (_popcount(x & k[None, :]) % 4)  # (−i)^{|x ∧ z|}, z on axis 1
    return phase * fwht(D, axis=1) / N


def pauli_matrix(coeffs: np.ndarray) -> np.ndarray:
    """``Σ c[x, z] P_{x,z}`` (the inverse of :func:`pauli_coefficients`)."""
    c = np.asarray(coeffs, dtype=np.complex128)
    N = c.shape[0]
    k = np.arange(N)
    x = k[:, None]
    D = fwht((1j) ** (_popcount(x & k[None, :]) % 4) * c, axis=1)  # D[x, k] = W[k ^ x, k]
    W = np.zeros_like(c)
    W[k[None, :] ^ x, k[None, :]] = D
    return W


def pauli_terms(W: np.ndarray, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The kept terms: ``(xz, c)``, ``xz[k] = (x, z)``, ordered by (x, z)."""
    coeffs = pauli_coefficients(W)
    mag = np.abs(coeffs)
    keep = mag > max(threshold, PAULI_TOL * mag.max())
    xs, zs = np.nonzero(keep)
    return np.stack([xs, zs], axis=1), coeffs[xs, zs]


def lcu_alpha(coeffs: np.ndarray) -> float:
    """``Σ|c_k|`` over the kept Pauli coefficients: the scale of the block."""
    return float(np.abs(coeffs).sum())


def _pauli_factors(x: int, z: int, data: list) -> list[tuple[cirq.Qid, str]]:
    n = len(data)
    out = []
    for j, q in enumerate(data):
        b = n - 1 - j
        xb, zb = (x >> b) & 1, (z >> b) & 1
        if xb or zb:
            out.append((q, "Y" if xb and zb else ("X" if xb else "Z")))
    return out


# SELECT is built as a list of gates ``(name, qubits)`` over any hashable qubits; its cost is
# counted on that list (no circuit) and :func:`select_ops` turns it into Cirq operations.
_INVERSE = {"T": "Tdg", "Tdg": "T", "S": "Sdg", "Sdg": "S"}


def _and_gates(c1, c2, t) -> list[tuple[str, tuple]]:
    """Gidney's logical AND: ``|a, b, 0⟩ → |a, b, a·b⟩`` exactly (6 CNOT, 4 T)."""
    return [("H", (t,)), ("T", (t,)), ("CNOT", (c1, t)), ("CNOT", (c2, t)), ("CNOT", (t, c1)),
            ("CNOT", (t, c2)), ("Tdg", (c1,)), ("Tdg", (c2,)), ("T", (t,)), ("CNOT", (t, c1)),
            ("CNOT", (t, c2)), ("H", (t,)), ("S", (t,))]


def _inverse(gates: list) -> list:
    return [(_INVERSE.get(name, name), qs) for name, qs in reversed(gates)]


def _controlled_pauli(ctrl, factors) -> list[tuple[str, tuple]]:
    gates: list = []
    for q, p in factors:
        if p == "X":
            gates.append(("CNOT", (ctrl, q)))
        elif p == "Z":
            gates.append(("CZ", (ctrl, q)))
        else:  # S X S† = Y
            gates += [("Sdg", (q,)), ("CNOT", (ctrl, q)), ("S", (q,))]
    return gates


def select_gates(index: list, ancillas: list, data: list, xz: np.ndarray) -> list:
    """Unary-iteration SELECT, ``|k⟩|ψ⟩ → |k⟩ P_k|ψ⟩`` for ``k < K = len(xz)``, as gates."""
    K, L = len(xz), len(index)
    gates: list = []

    def with_value(ctrl, body: list) -> list:
        q, v = ctrl
        return body if v else [("X", (q,)), *body, ("X", (q,))]

    def node(depth: int, lo: int, ctrl) -> None:
        if lo >= K:
            return
        if depth == L:
            factors = _pauli_factors(int(xz[lo, 0]), int(xz[lo, 1]), data)
            if ctrl is None:
                gates.extend((p, (q,)) for q, p in factors)
            else:
                gates.extend(with_value(ctrl, _controlled_pauli(ctrl[0], factors)))
            return
        half = 1 << (L - depth - 1)
        bit = index[depth]
        if lo + half >= K:  # only the left half is populated: the bit is 0 there
            node(depth + 1, lo, ctrl)
            return
        if ctrl is None:
            node(depth + 1, lo, (bit, 0))
            node(depth + 1, lo + half, (bit, 1))
            return
        anc = ancillas[depth - 1]
        c = ctrl[0]
        compute = _and_gates(c, bit, anc)
        gates.extend(with_value(ctrl, [("X", (bit,)), *compute, ("X", (bit,))]))  # c ∧ ¬bit
        node(depth + 1, lo, (anc, 1))
        gates.extend(with_value(ctrl, [("CNOT", (c, anc))]))  # anc = c ∧ bit
        node(depth + 1, lo + half, (anc, 1))
        gates.extend(with_value(ctrl, _inverse(compute)))

    node(0, 0, None)
    return cancel_x_pairs(gates)


def cancel_x_pairs(gates: list) -> list:
    """Remove pairs of X gates on one qubit with nothing between them on that qubit."""
    kept: list = []
    last: dict = {}  # qubit -> indices in kept of the gates touching it
    for g in gates:
        name, qs = g
        if name == "X":
            hist = last.setdefault(qs[0], [])
            if hist and kept[hist[-1]] is not None and kept[hist[-1]][0] == "X":
                kept[hist.pop()] = None
                continue
        for q in qs:
            last.setdefault(q, []).append(len(kept))
        kept.append(g)
    return [g for g in kept if g is not None]


def select_ops(index: list, ancillas: list, data: list, xz: np.ndarray) -> list[cirq.Operation]:
    """:func:`select_gates` as Cirq operations."""
    import cirq

    from qlower.blocks.circuits import fast_op

    table = {"X": cirq.X, "Y": cirq.Y, "Z": cirq.Z, "H": cirq.H, "S": cirq.S, "Sdg": cirq.S**-1,
             "T": cirq.T, "Tdg": cirq.T**-1, "CNOT": cirq.CNOT, "CZ": cirq.CZ}
    return [fast_op(table[name], qs) for name, qs in select_gates(index, ancillas, data, xz)]


def select_cost(gates: list) -> Resources:
    """What a gate list costs (its qubits not counted): CNOT/CZ, T, one-qubit gates; no
    rotation (every gate is Clifford or T); depth bounded by the gate count."""
    cnots = sum(1 for _, qs in gates if len(qs) == 2)
    tgates = sum(1 for name, _ in gates if name in ("T", "Tdg"))
    single = sum(1 for _, qs in gates if len(qs) == 1)
    return Resources(qubits=0, cnots=cnots, rotations=0, depth=len(gates), single_qubit=single,
                     t_gates=tgates)


@register
class Lcu(BlockMethod):
    """Pauli linear combination of unitaries; alpha = ‖c‖₁ (Pauli-sparse W)."""

    name = "lcu"
    summary = "Pauli LCU (unary-iteration SELECT); alpha = Σ|c_k| over the Pauli terms"
    qubit_order = "index (L) + ancillas (L - 1) + D (q)"
    params = {"terms": ("int", None)}

    def layout(self, M, N, params):
        terms = params.get("terms")
        if terms is None or int(terms) < 1:
            raise ValueError(f"terms must be >= 1, got {terms}")
        q = max(ceil_log2(M), ceil_log2(N))
        L = lcu_index_qubits((M, N), int(terms))
        return BlockLayout(input=q, output=q, flags=L + max(L - 1, 0))

    def plan(self, W, threshold=0.0):
        c = pauli_terms(W)[1]
        return {"alpha": lcu_alpha(c), "terms": len(c)}

    def check_params(self, params):
        terms = params.get("terms")
        return None if isinstance(terms, int) and terms >= 1 else f"terms must be >= 1, got {terms}"

    def cost(self, W, params):
        """SELECT counted on its gate list (exact), the two index preparations from their
        registry entries' closed forms (exact for generic coefficients; upper bounds where some
        are equal or the term count is not a power of two)."""
        from qlower.blocks.prep_registry import choose_prep, prep_method

        M, N = W.shape
        xz, c = pauli_terms(W)
        lay = self.layout(M, N, {"terms": len(c)})
        L = lcu_index_qubits((M, N), len(c))
        na = lay.flags - L
        index, ancillas = list(range(L)), list(range(L, L + na))
        data = list(range(L + na, L + na + lay.input))
        total = select_cost(select_gates(index, ancillas, data, xz))
        if L:
            for complex_ in (bool(np.any(c.imag)), False):  # PREP_R (phases or signs), PREP_L
                total = total + prep_method(choose_prep(L, complex_)).cost(L, complex_)
        return Resources(qubits=L + na + lay.input, cnots=total.cnots, rotations=total.rotations,
                         depth=total.depth, single_qubit=total.single_qubit,
                         t_gates=total.t_gates)

    def counts_exact(self, W):
        return False  # the preparations' counts bound structured coefficient vectors

    def build(self, W, params, qubits=None):
        return lcu_block(W, qubits=qubits)


def lcu_block(W: np.ndarray, *, threshold: float = 0.0, qubits=None):
    """Pauli-LCU block encoding of ``W`` (validated by ``block_encoding.as_matrix``)."""
    import cirq

    from qlower.blocks.amplitude import amplitude_encoding
    from qlower.blocks.base import Registers
    from qlower.blocks.block_encoding import BlockEncoding, resolve_qubits
    from qlower.blocks.circuits import packed_circuit

    M, N = W.shape
    xz, c = pauli_terms(W, threshold)
    layout = Lcu().layout(M, N, {"terms": len(c)})
    n = layout.input
    L = lcu_index_qubits((M, N), len(c))  # a 1×1 W still gets one (index) qubit
    na = layout.flags - L
    qs = resolve_qubits(qubits, L + na + n, f"lcu: index ({L}) + ancillas ({na}) + D ({n})")
    index, ancillas, data = qs[:L], qs[L : L + na], qs[L + na :]
    alpha = lcu_alpha(c)
    weights = np.sqrt(np.abs(c) / alpha)
    ops: list[cirq.Operation] = []
    if L == 0:
        if abs(np.angle(c[0])) > 0:
            ops.append(cirq.GlobalPhaseGate(c[0] / abs(c[0])).on())
        ops += select_ops(index, ancillas, data, xz)
    else:
        if np.any(c.imag):
            prep_r = weights * np.exp(1j * np.angle(c))
        else:
            prep_r = weights * np.sign(c.real)
        ops += amplitude_encoding(prep_r, qubits=index).circuit.all_operations()
        ops += select_ops(index, ancillas, data, xz)
        ops += cirq.inverse(list(amplitude_encoding(weights, qubits=index).circuit.all_operations()))
    full = np.zeros((1 << n, 1 << n), dtype=np.complex128)
    full[xz[:, 0], xz[:, 1]] = c
    implemented = pauli_matrix(full)
    if not np.iscomplexobj(W):
        implemented = implemented.real
    return BlockEncoding(
        circuit=packed_circuit(ops),
        alpha=alpha,
        registers=Registers(input=tuple(data), output=tuple(data), flags=(*index, *ancillas)),
        method="lcu",
        shape=(M, N),
        padded=implemented,
        target=W,
        params={"alpha": alpha, "terms": len(c)} if not threshold else {},
    )
