"""The Schmidt (Plesch–Brukner) state preparation [Plesch & Brukner 2011]: its registry entry,
closed-form cost and circuit (see ``amplitude.py``'s module docstring for the construction).

Cost for generic data on ``n = a + b`` qubits (``a = ⌊n/2⌋``): the real ``auto`` preparation
of Σ on ``a`` qubits, ``a`` copy CNOTs, U up to a diagonal (``qsd_cnots(a) − 1``) and Vhᵀ
(``qsd_cnots(b)``); one CNOT less for real x with ``b = 2`` (a real two-qubit orthogonal of
determinant +1 takes 2 CZs). Exact for complex data while Σ is prepared by Möttönen
(n ≤ 7); real data may need fewer gates (about one vector in five at n = 6 saves a CNOT; real
leaves have fewer non-Clifford angles), so the counts are upper bounds there. Importing this
module does not load Cirq.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.prep_registry import (
    PrepMethod,
    choose_prep,
    num_qubits,
    pad,
    prep_method,
    register_prep,
)
from qlower.blocks.qsd import qsd_cnots, qsd_rotations, qsd_single_qubit
from qlower.blocks.resources import Resources

__all__ = ["Schmidt", "schmidt_cnots"]


@register_prep
class Schmidt(PrepMethod):
    """Schmidt split: Σ on the first half, copies, then U and Vhᵀ by Shannon decomposition."""

    name = "schmidt"
    summary = ("Schmidt split (Plesch–Brukner): SVD of x as a matrix, both halves by QSD; "
               "fewest CNOTs at even n, ~2.5× Möttönen's rotations; numeric data only")
    min_qubits = 2

    def cost(self, n, complex_=False):
        self.check_qubits(n)
        a = n // 2
        b = n - a
        sigma = _sigma_prep(a).cost(a, False)
        real_pair = not complex_ and b == 2  # the 2-CZ first leaf: 2 CNOTs, 6 one-qubit gates
        cnots = sigma.cnots + a + qsd_cnots(a, up_to_diagonal=True) + qsd_cnots(b) - real_pair
        # a one-qubit U up to a diagonal is a gate with two non-Clifford angles, not three
        rotations = (sigma.rotations + qsd_rotations(a, up_to_diagonal=True) - (a == 1)
                     + qsd_rotations(b))
        single = (sigma.single_qubit + qsd_single_qubit(a, up_to_diagonal=True)
                  + qsd_single_qubit(b) - 2 * real_pair)
        return Resources(qubits=n, cnots=cnots, rotations=rotations, depth=cnots + single,
                         single_qubit=single)

    def counts_exact(self, n, complex_=False):
        return bool(complex_) and _sigma_prep(n // 2).name != "schmidt"

    def auto_candidate(self, n, complex_=False):
        # Where it is cheaper only by one CNOT at odd real n (3 vs 4, 25 vs 26) it costs far
        # more rotations, and at n = 2, 3 it ties ucg's CNOTs: auto leaves it out there.
        return n >= 4 and (complex_ or n % 2 == 0)

    def build(self, x, qubits=None, *, prefix="amp"):
        n = num_qubits(x.shape[0])
        self.check_qubits(n)
        from qlower.blocks.amplitude import _qubits
        from qlower.blocks.circuits import gc_paused

        with gc_paused():
            return _schmidt_build(x, x.shape[0], n, bool(np.iscomplexobj(x)), _qubits(qubits, n))


def _sigma_prep(a: int) -> PrepMethod:
    """The entry preparing Σ (real, on ``a`` qubits): ``auto``'s choice."""
    return prep_method(choose_prep(a, False))


def schmidt_cnots(n: int, complex: bool = False) -> int:
    """CNOTs of the Schmidt (Plesch–Brukner) circuit on ``n >= 2`` qubits for generic data
    (structured data may need fewer)."""
    return Schmidt().cost(n, complex).cnots


def _schmidt_build(x, size, n, is_complex, qs):
    import cirq

    from qlower.blocks.amplitude import AmplitudeEncoding, _registers, amplitude_encoding
    from qlower.blocks.circuits import fast_op, packed_circuit
    from qlower.blocks.qsd import qsd

    a = n // 2
    b = n - a
    first, second = qs[:a], qs[a:]
    xp = pad(x, n)
    alpha = float(np.linalg.norm(x))
    M = xp.reshape(1 << a, 1 << b) / alpha
    U, s, Vh = np.linalg.svd(M)
    if not is_complex:
        # A real two-qubit orthogonal of determinant +1 needs 2 CNOTs, not 3: move a -1
        # determinant into the sign of σ_0 (signs cost nothing in the real Σ preparation).
        if np.linalg.det(U) < 0:
            U[:, 0] *= -1
            s[0] = -s[0]
        if np.linalg.det(Vh) < 0:
            Vh[0, :] *= -1
            s[0] = -s[0]
    ops: list[cirq.Operation] = []
    # Σ on the first half (real); its global phase, if it has one, is part of its circuit
    sigma = amplitude_encoding(s, qubits=first, method="auto")
    ops.extend(sigma.circuit.all_operations())
    # copy |k⟩ onto the last a qubits of the second half
    ops.extend(fast_op(cirq.CNOT, (first[i], second[b - a + i])) for i in range(a))
    # U on the first half up to a diagonal D acting first: U = e^{iγ} O D
    u_ops, gamma, d = qsd(first, U, up_to_diagonal=True)
    # second half: Vhᵀ|k⟩ = row k of Vh; absorb D and γ: Σ σ_k O|k⟩ ⊗ e^{iγ} e^{iδ_k} Vhᵀ|k⟩
    W = Vh.T.astype(np.complex128)
    if d is not None:
        delta = np.tile(d, (1 << a) // 4)  # δ_k depends on the last two bits of k
        W[:, : 1 << a] *= delta[None, :]
    v_ops, gamma2, _ = qsd(second, W, up_to_diagonal=False)
    ops.extend(u_ops)
    ops.extend(v_ops)
    phase = np.exp(1j * (gamma + gamma2))
    if abs(phase - 1.0) > 1e-14:
        ops.append(fast_op(cirq.GlobalPhaseGate(phase), ()))
    return AmplitudeEncoding(
        circuit=packed_circuit(ops),
        alpha=alpha,
        registers=_registers(qs),
        symbols=(),
        size=size,
        num_qubits=n,
        method="schmidt",
        state=(xp / alpha).astype(np.complex128),
        is_complex=is_complex,
    )
