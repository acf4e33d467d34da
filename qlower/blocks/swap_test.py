"""The destructive swap test on two amplitude-encoded vectors [Garcia-Escartin & Chamorro-Posada
2013; LOWERINGS §5]: ``F = |⟨â|b̂⟩|²`` without a flag qubit or a controlled swap.

Two registers of ``n`` qubits hold ``|â⟩`` (first, most significant) and ``|b̂⟩``; a CNOT from
each qubit ``a_i`` to its partner ``b_i``, then ``H`` on ``a_i``, and every qubit measured: the
parity of ``Σ_i a_i·b_i`` (bitwise AND of the two halves) is even with probability
``(1 + F)/2``. Cost: two preparations, ``n`` CNOTs, ``n`` Hadamards. From ``S`` shots
``F̂ = 2 n_even/S − 1``, ``Var(F̂) = (1 − F²)/S``.

``F`` has no sign. For a loss between vectors with signs (``‖a − t‖²``) both are shifted by the
same ``c = max(|a|, |t|)`` first (``a' = a + c``, ``t' = t + c``: ``a' − t' = a − t`` and
``⟨a', t'⟩ >= 0``), so ``‖a − t‖² = ‖a'‖² + ‖t'‖² − 2‖a'‖‖t'‖√F`` exactly.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.resources import Resources


def shifted_pair(a: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a + c, t + c)``, ``c = max(|a|, |t|)`` per row: two non-negative vectors whose
    difference is ``a − t``."""
    a, t = np.asarray(a, np.float64), np.asarray(t, np.float64)
    c = np.maximum(np.max(np.abs(a), axis=-1, keepdims=True),
                   np.max(np.abs(t), axis=-1, keepdims=True))
    return a + c, t + c


def pair_angles(a: np.ndarray, t: np.ndarray, size: int) -> np.ndarray:
    """The two preparations' angles (``2·(size − 1)``: ``â'`` then ``t̂'``)."""
    from qlower.blocks.semantics import encoding_angles

    x, y = shifted_pair(a, t)
    return np.ascontiguousarray(np.concatenate([encoding_angles(x, size),
                                                encoding_angles(y, size)], axis=-1))


def pair_state(angles: np.ndarray, size: int) -> np.ndarray:
    """``|â⟩ ⊗ |b̂⟩`` (``[..., size²]``) from the two preparations' angles."""
    from qlower.blocks.semantics import state_from_angles

    k = size - 1
    a = state_from_angles(angles[..., :k], size)
    b = state_from_angles(angles[..., k: 2 * k], size)
    return (a[..., :, None] * b[..., None, :]).reshape(*a.shape[:-1], size * size)


def swap_expectation(state: np.ndarray) -> np.ndarray:
    """``⟨ψ|SWAP|ψ⟩`` of states on two equal registers: ``|⟨a|b⟩|²`` for ``|a⟩⊗|b⟩``."""
    dim = int(round(np.sqrt(state.shape[-1])))
    m = state.reshape(*state.shape[:-1], dim, dim)
    return np.real(np.sum(np.conj(m) * np.swapaxes(m, -1, -2), axis=(-2, -1)))


def even_parity(n: int) -> np.ndarray:
    """For each basis index of ``2n`` qubits (the first register most significant), whether
    ``Σ_i a_i b_i`` is even: the outcomes that count for ``(1 + F)/2``."""
    idx = np.arange(1 << (2 * n))
    a, b = idx >> n, idx & ((1 << n) - 1)
    x = a & b
    parity = np.zeros_like(idx)
    while np.any(x):
        parity ^= x & 1
        x >>= 1
    return parity == 0


def swap_test_resources(size: int) -> Resources:
    """The two real Möttönen preparations and the destructive test."""
    n = max(1, (int(size) - 1).bit_length())
    prep_cnots, prep_rot = (1 << n) - n - 1, (1 << n) - 1
    return Resources(qubits=2 * n, cnots=2 * prep_cnots + n, rotations=2 * prep_rot,
                     depth=prep_cnots + prep_rot + 2, single_qubit=2 * prep_rot + n)


def swap_test_circuit(size: int, prefix: str = "s"):
    """``(circuit, a_qubits, b_qubits, symbols)``: the two preparations (symbols ``prefix_0 …``
    in the order of :func:`pair_angles`) on ``LineQubit(0 … n-1)`` and ``LineQubit(n … 2n-1)``,
    then the CNOTs and Hadamards of the test."""
    import cirq

    from qlower.blocks.amplitude import amplitude_encoding
    from qlower.blocks.circuits import fast_op, packed_circuit

    n = max(1, (int(size) - 1).bit_length())
    qa, qb = tuple(cirq.LineQubit.range(n)), tuple(cirq.LineQubit.range(n, 2 * n))
    pa = amplitude_encoding(size=size, qubits=qa, prefix=f"{prefix}_a")
    pb = amplitude_encoding(size=size, qubits=qb, prefix=f"{prefix}_b")
    import sympy

    k = size - 1
    names = [sympy.Symbol(f"{prefix}_{i}") for i in range(2 * k)]
    rename = dict(zip([*pa.symbols, *pb.symbols], names))
    ops = [*cirq.resolve_parameters(pa.circuit, rename).all_operations(),
           *cirq.resolve_parameters(pb.circuit, rename).all_operations()]
    ops += [fast_op(cirq.CNOT, (x, y)) for x, y in zip(qa, qb)]
    ops += [fast_op(cirq.H, (x,)) for x in qa]
    return packed_circuit(ops), qa, qb, tuple(names)


__all__ = ["even_parity", "pair_angles", "pair_state", "shifted_pair", "swap_expectation",
           "swap_test_circuit", "swap_test_resources"]
