"""UCG state preparation (qlower/blocks/ucg.py): exact states, exact CNOT counts."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from qlower.blocks.amplitude import AmplitudeEncoding, ZeroVectorError
from qlower.blocks.mux import cnot_control_bits
from qlower.blocks.ucg import ucg_cnots, ucg_state_preparation, ucg_up_to_diagonal

SIM = cirq.Simulator(dtype=np.complex128)
TOL = 1e-10


def random_unitaries(rng, L: int) -> np.ndarray:
    z = rng.normal(size=(L, 2, 2)) + 1j * rng.normal(size=(L, 2, 2))
    q, r = np.linalg.qr(z)
    d = np.diagonal(r, axis1=1, axis2=2)
    return q * (d / np.abs(d))[:, None, :]


def vectors(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 31 * n)
    N = 1 << n
    sparse = np.zeros(N, dtype=np.complex128)
    idx = rng.choice(N, size=max(1, N // 5), replace=False)
    sparse[idx] = rng.normal(size=idx.size) + 1j * rng.normal(size=idx.size)
    return {
        "complex": rng.normal(size=N) + 1j * rng.normal(size=N),
        "real": rng.normal(size=N),
        "sparse": sparse,
        "one-hot first": np.eye(N)[0],
        "one-hot last (phase)": np.exp(0.7j) * np.eye(N)[N - 1],
        "short (padded)": rng.normal(size=N - 1) + 1j * rng.normal(size=N - 1) if N > 2
        else np.array([1j]),
    }


def final_state(block) -> np.ndarray:
    return SIM.simulate(block.circuit, qubit_order=sorted(block.qubits)).final_state_vector


@pytest.mark.parametrize("k", range(0, 6))
def test_ucg_up_to_diagonal(k):
    rng = np.random.default_rng(k)
    L = 1 << k
    G = random_unitaries(rng, L)
    G[0] = np.eye(2)  # identity and one anti-diagonal pattern among random ones
    if L > 1:
        G[1] = np.array([[0, 1j], [1, 0]])
    g, D = ucg_up_to_diagonal(G)
    np.testing.assert_allclose(np.abs(D), 1.0, atol=1e-13)
    bits = cnot_control_bits(k)
    Z = np.diag([1.0, -1.0])
    for p in range(L):
        U = np.eye(2)
        for j in range(L):
            U = g[j] @ U
            if j < L - 1 and (p >> bits[j]) & 1:
                U = Z @ U
        np.testing.assert_allclose(U, np.diag(D[p]) @ G[p], atol=1e-12)


@pytest.mark.parametrize("n", range(1, 9))
def test_final_state_including_phase(n):
    for name, x in vectors(n).items():
        block = ucg_state_preparation(x)
        assert isinstance(block, AmplitudeEncoding) and block.method == "ucg"
        assert block.num_qubits == n and block.size == len(x)
        assert block.alpha == pytest.approx(np.linalg.norm(x), rel=1e-14)
        want = np.zeros(1 << n, dtype=np.complex128)
        want[: len(x)] = x / np.linalg.norm(x)
        np.testing.assert_allclose(block.state, want, atol=1e-15)
        err = np.max(np.abs(final_state(block) - want))
        assert err < TOL, f"{name} (n={n}): error {err:.2e}"


def test_custom_qubits_and_small_inputs():
    qs = [cirq.NamedQubit("b"), cirq.NamedQubit("a")]  # qubits[0] is the most significant
    x = np.array([0.1, 2j, -0.5, 0.3 + 0.4j])
    block = ucg_state_preparation(x, qubits=qs)
    got = SIM.simulate(block.circuit, qubit_order=qs).final_state_vector
    np.testing.assert_allclose(got, x / np.linalg.norm(x), atol=TOL)
    for x in ([3.0], [-2j], [0.0, 1j], [1, 2, 3]):
        block = ucg_state_preparation(x)
        want = np.zeros(1 << block.num_qubits, dtype=np.complex128)
        want[: len(x)] = np.asarray(x) / np.linalg.norm(x)
        np.testing.assert_allclose(final_state(block), want, atol=TOL)
    with pytest.raises(ValueError):
        ucg_state_preparation(x, qubits=qs[:1])


@pytest.mark.parametrize("n", range(1, 11))
def test_exact_cnot_count(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    block = ucg_state_preparation(x)
    res = block.resources()
    assert res.cnots == ucg_cnots(n) == (1 << n) - n - 1
    ops = list(block.circuit.all_operations())
    assert all(op.gate == cirq.CNOT for op in ops if len(op.qubits) == 2)
    assert res.single_qubit == (1 << n) - 1
    assert res.rotations <= 3 * ((1 << n) - 1) - n


@pytest.mark.parametrize("n", range(3, 9))
def test_not_more_cnots_than_qiskit(n):
    import qiskit  # a test dependency: the peer the counts are compared with
    from qiskit.circuit.library import StatePreparation

    rng = np.random.default_rng(100 + n)
    x = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    x /= np.linalg.norm(x)
    qc = qiskit.QuantumCircuit(n)
    qc.append(StatePreparation(x), range(n))
    tq = qiskit.transpile(qc, basis_gates=["cx", "u"], optimization_level=1)
    theirs = tq.count_ops().get("cx", 0)
    ours = ucg_state_preparation(x).resources().cnots
    assert ours <= theirs, (ours, theirs)


@pytest.mark.parametrize("x", [[0.0], np.zeros(5), np.zeros(4, dtype=complex)])
def test_zero_vector(x):
    with pytest.raises(ZeroVectorError):
        ucg_state_preparation(x)
