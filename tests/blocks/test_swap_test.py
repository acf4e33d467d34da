"""The destructive swap test (qlower.blocks.swap_test): Cirq's simulation of its circuit gives
F = |⟨â|t̂⟩|² from the even-parity outcomes, the pair's reference state and ⟨SWAP⟩ agree, the
shift keeps a − t and makes the overlap non-negative, and the stated cost is the circuit's."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from qlower.blocks.circuits import count_resources
from qlower.blocks.swap_test import (
    even_parity,
    pair_angles,
    pair_state,
    shifted_pair,
    swap_expectation,
    swap_test_circuit,
    swap_test_resources,
)


@pytest.mark.parametrize("M,size", [(1, 2), (2, 2), (3, 4), (5, 8), (8, 8), (11, 16)])
def test_even_outcomes_give_the_fidelity(M, size):
    rng = np.random.default_rng(M)
    a, t = rng.standard_normal(M), rng.standard_normal(M)
    ang = pair_angles(a, t, size)
    circuit, qa, qb, symbols = swap_test_circuit(size)
    psi = cirq.Simulator(dtype=np.complex128).simulate(
        circuit, cirq.ParamResolver(dict(zip(symbols, ang))), qubit_order=qa + qb
    ).final_state_vector
    F = 2 * np.sum(np.abs(psi[even_parity(len(qa))]) ** 2) - 1
    x, y = shifted_pair(a, t)
    want = (x @ y) ** 2 / ((x @ x) * (y @ y))
    assert F == pytest.approx(want, abs=1e-12)
    assert swap_expectation(pair_state(ang, size)) == pytest.approx(want, abs=1e-12)
    # the loss identity the lowering relies on
    na, nt = np.linalg.norm(x), np.linalg.norm(y)
    assert na ** 2 + nt ** 2 - 2 * na * nt * np.sqrt(F) == pytest.approx(np.sum((a - t) ** 2),
                                                                         rel=1e-9, abs=1e-12)
    counted = count_resources(circuit, qa + qb)
    stated = swap_test_resources(size)
    assert (counted.cnots, counted.rotations) == (stated.cnots, stated.rotations)
    assert stated.qubits == 2 * len(qa)


def test_shift_keeps_the_difference_and_makes_entries_non_negative():
    rng = np.random.default_rng(0)
    a, t = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    x, y = shifted_pair(a, t)
    assert np.allclose(x - y, a - t) and (x >= 0).all() and (y >= 0).all()
