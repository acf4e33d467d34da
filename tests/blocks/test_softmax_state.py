"""The exact softmax state (qlower.blocks.softmax): its circuit, simulated by Cirq, has Born
probabilities softmax(s) given flag = 0, the multiplexor algebra predicts its amplitudes, and
its stated cost is the circuit's gate count."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from qlower.blocks.circuits import count_resources
from qlower.blocks.softmax import (
    index_qubits,
    softmax_amplitudes,
    softmax_angles,
    softmax_resources,
    softmax_state,
)


def simulate(size: int, angles: np.ndarray) -> np.ndarray:
    st = softmax_state(size)
    r = cirq.ParamResolver(dict(zip(st.symbols, angles.tolist())))
    return cirq.Simulator(dtype=np.complex128).simulate(
        st.circuit, r, qubit_order=st.qubits).final_state_vector


def reference(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - np.max(s))
    return e / e.sum()


@pytest.mark.parametrize("L", [1, 2, 3, 5, 8, 13, 32])
def test_born_probabilities_are_softmax(L):
    rng = np.random.default_rng(L)
    s = 3 * rng.standard_normal(L)
    size = 1 << index_qubits(L)
    psi = simulate(size, softmax_angles(s, size))
    at0 = psi.reshape(-1, 2)[:, 0]  # the flag is the last (least significant) qubit
    p = np.abs(at0) ** 2
    assert np.allclose(p[:L] / p.sum(), reference(s), atol=1e-12)
    assert np.allclose(p[L:], 0, atol=1e-14)  # padding has no amplitude
    # success probability: sum e^(s - max) / 2^l, at least 1/2^l
    assert np.isclose(p.sum(), np.exp(s - s.max()).sum() / size)
    assert p.sum() >= 1 / size - 1e-12
    assert np.allclose(at0, softmax_amplitudes(softmax_angles(s, size), size), atol=1e-12)


def test_masked_scores_get_no_amplitude():
    s = np.array([0.5, -np.inf, 2.0, -np.inf, -1.0])
    psi = simulate(8, softmax_angles(s, 8))
    p = np.abs(psi.reshape(-1, 2)[:, 0]) ** 2
    want = np.zeros(5)
    keep = np.isfinite(s)
    want[keep] = reference(s[keep])
    assert np.allclose(p[:5] / p.sum(), want, atol=1e-12)


def test_a_fully_masked_row_has_nothing_at_flag_zero_and_nan_is_kept():
    assert np.allclose(softmax_amplitudes(softmax_angles(np.full(3, -np.inf), 4), 4), 0)
    assert np.isnan(softmax_angles(np.array([0.0, np.nan]), 2)).all()


def test_vectorised_over_rows():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((2, 3, 6))
    ang = softmax_angles(s, 8)
    assert ang.shape == (2, 3, 8)
    for idx in np.ndindex(2, 3):
        assert np.allclose(ang[idx], softmax_angles(s[idx], 8))


@pytest.mark.parametrize("size", [2, 4, 8, 16, 64])
def test_cost_is_the_circuits_gate_count(size):
    st = softmax_state(size)
    counted = count_resources(st.circuit, st.qubits)
    stated = softmax_resources(size)
    ell = index_qubits(size)
    assert (stated.qubits, stated.cnots, stated.rotations) == (ell + 1, size - 1, size)
    assert (counted.cnots, counted.rotations) == (stated.cnots, stated.rotations)
    assert counted.depth <= stated.depth
