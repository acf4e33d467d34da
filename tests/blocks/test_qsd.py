"""Quantum Shannon decomposition (qlower/blocks/qsd.py): exact counts, the reconstructed unitary
(numpy applier and cirq.unitary), structured unitaries, and the applier itself."""

from __future__ import annotations

import functools

import cirq
import numpy as np
import pytest
from scipy.linalg import expm
from threadpoolctl import threadpool_limits

from qlower.blocks import qsd as Q
from qlower.blocks.circuits import count_resources, packed_circuit

PAULI = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]),
         np.diag([1.0, -1.0])]
# Shende-Bullock-Markov with A.1 and A.2, written out: 0, 3, 20, 100, 444, 1868, 7660, 31020
SBM = {1: 0, 2: 3, 3: 20, 4: 100, 5: 444, 6: 1868, 7: 7660, 8: 31020}


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def haar(n: int, rng) -> np.ndarray:
    z = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


def rebuilt(U_impl, gamma, d) -> np.ndarray:
    """e^{iγ} · U_impl · diag(d), d on the last two qubits (tiled)."""
    out = np.exp(1j * gamma) * U_impl
    if d is not None:
        out = out * np.tile(d, U_impl.shape[0] // 4)[None, :]
    return out


def rel_err(A, B) -> float:
    return float(np.linalg.norm(A - B) / np.linalg.norm(B))


def seq_unitary(g: Q.Gates) -> np.ndarray:
    """The gate list's unitary gate by gate with np.kron (an independent reference)."""
    m = g.num_qubits
    U = np.eye(1 << m, dtype=complex)
    X, Z = PAULI[1], PAULI[3]
    P0, P1 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])

    def on(ops):  # ops: {qubit: 2x2}
        return functools.reduce(np.kron, [ops.get(q, np.eye(2)) for q in range(m)])

    for i in range(len(g)):
        k, a, b = int(g.kind[i]), int(g.q0[i]), int(g.q1[i])
        t = g.angle[i]
        if k == Q.U1:
            G = on({a: g.mats[g.mat[i]]})
        elif k == Q.RY:
            G = on({a: np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])})
        elif k == Q.RZ:
            G = on({a: np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])})
        elif k == Q.CZ:
            G = on({a: P0}) + on({a: P1, b: Z})
        else:
            G = on({a: P0}) + on({a: P1, b: X})
        U = G @ U
    return U


@pytest.mark.parametrize("m", sorted(SBM))
def test_exact_counts_and_unitary(m):
    rng = np.random.default_rng(m)
    U = haar(1 << m, rng)
    for utd in (False, True):
        g, gamma, d = Q.qsd_gates(U, up_to_diagonal=utd)
        want = SBM[m] - (1 if utd and m >= 2 else 0)
        assert g.two_qubit_count() == want == Q.qsd_cnots(m, utd)
        assert np.count_nonzero(g.q1 < 0) == Q.qsd_single_qubit(m, utd)
        assert set(np.unique(g.kind[g.q1 >= 0]).tolist()) <= {Q.CZ, Q.CX}
        assert (d is None) == (not utd or m == 1)
        if d is not None:
            assert d.shape == (4,) and np.allclose(np.abs(d), 1.0)
        assert rel_err(rebuilt(Q.gates_unitary(g), gamma, d), U) < 1e-11


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 6])
def test_cirq_circuit_implements_u(m):
    rng = np.random.default_rng(10 + m)
    U = haar(1 << m, rng)
    qs = cirq.LineQubit.range(m)
    for utd in (False, True):
        ops, gamma, d = Q.qsd(qs, U, up_to_diagonal=utd)
        circuit = packed_circuit(ops)
        got = cirq.unitary(circuit) if ops else np.eye(1 << m)
        assert rel_err(rebuilt(got, gamma, d), U) < 1e-12
        r = count_resources(circuit, qs)
        assert r.cnots == Q.qsd_cnots(m, utd)
        assert r.single_qubit == Q.qsd_single_qubit(m, utd)
        assert r.rotations == Q.qsd_rotations(m, utd)


def test_reverse_qubit_order_and_grid_qubits():
    U = haar(8, np.random.default_rng(3))
    qs = [cirq.GridQubit(1, 0), cirq.GridQubit(0, 0), cirq.GridQubit(0, 1)]
    ops, gamma, _ = Q.qsd(qs, U)
    got = cirq.Circuit(ops).unitary(qubit_order=qs)
    assert rel_err(np.exp(1j * gamma) * got, U) < 1e-12
    with pytest.raises(ValueError, match="needs 3 qubits"):
        Q.qsd(qs[:2], U)


def test_rejects_non_square_or_non_power_of_two():
    for bad in (np.eye(3), np.ones((4, 2)), np.ones(4), np.eye(1)):
        with pytest.raises(ValueError, match="qsd needs a 2\\^m x 2\\^m unitary"):
            Q.qsd_gates(bad)


def orth(n, rng):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def structured(m: int, rng) -> dict[str, np.ndarray]:
    n = 1 << m
    h = n // 2
    bits = [int(format(i, f"0{m}b")[::-1], 2) for i in range(n)]
    swap = np.block([[np.zeros((h, h)), np.eye(h)], [np.eye(h), np.zeros((h, h))]])
    pert = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    return {
        "identity": np.eye(n),
        "permutation": np.eye(n)[rng.permutation(n)],
        "bit reversal": np.eye(n)[bits],
        "cyclic shift": np.roll(np.eye(n), 1, axis=0),
        "pauli string": functools.reduce(np.kron, [PAULI[i] for i in rng.integers(0, 4, m)]),
        "X...X": functools.reduce(np.kron, [PAULI[1]] * m),
        "real orthogonal": orth(n, rng),
        "hadamard": functools.reduce(np.kron, [np.array([[1, 1], [1, -1]]) / np.sqrt(2)] * m),
        "qft": np.exp(2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n) / np.sqrt(n),
        "diagonal": np.diag(np.exp(1j * rng.uniform(0, 6, n))),
        "I (x) V": np.kron(np.eye(2), haar(h, rng)),
        "V (x) I": np.kron(haar(h, rng), np.eye(2)),
        "block diagonal": np.block([[haar(h, rng), np.zeros((h, h))],
                                    [np.zeros((h, h)), haar(h, rng)]]),
        "four blocks": np.kron(np.diag([1, -1, 1j, 1]), np.eye(n // 4)) @ np.kron(
            np.eye(4), haar(n // 4, rng)),
        "swap halves": swap,
        "identity + 1e-8": expm(1e-8j * (pert + pert.conj().T)),
        "identity + 1e-5": expm(1e-5j * (pert + pert.conj().T)),
    }


@pytest.mark.parametrize("m", [2, 3, 4, 5, 6])
def test_structured_unitaries(m):
    """Degenerate spectra and near-degenerate leaves (the QFT's, a perturbed identity's): the
    same accuracy as generic unitaries, never more CNOTs."""
    rng = np.random.default_rng(100 + m)
    for name, U in structured(m, rng).items():
        for utd in (False, True):
            g, gamma, d = Q.qsd_gates(U, up_to_diagonal=utd)
            err = rel_err(rebuilt(Q.gates_unitary(g), gamma, d), U)
            assert err < 1e-12, f"{name} (up_to_diagonal={utd}): error {err:.1e}"
            assert g.two_qubit_count() <= Q.qsd_cnots(m, utd), name


def test_real_orthogonal_two_qubits_takes_two_czs():
    rng = np.random.default_rng(4)
    Q4 = orth(4, rng)
    if np.linalg.det(Q4) < 0:
        Q4[:, 0] *= -1
    g, gamma, d = Q.qsd_gates(Q4)
    assert g.two_qubit_count() == 2 and d is None
    assert rel_err(np.exp(1j * gamma) * Q.gates_unitary(g), Q4) < 1e-13
    # up to a diagonal, a real leaf keeps the identity diagonal (Schmidt relies on it)
    _, _, d = Q.qsd_gates(Q4, up_to_diagonal=True)
    assert np.allclose(d, 1.0)


def random_gates(m: int, count: int, rng) -> Q.Gates:
    kinds = rng.integers(0, 5 if m > 1 else 3, count)
    g = Q._empty_gates(m, count, count)
    for i, k in enumerate(kinds.tolist()):
        a, b = rng.permutation(m)[:2].tolist() if m > 1 else (0, -1)
        g.kind[i] = k
        g.q0[i] = a
        if k >= Q.CZ:
            g.q1[i] = b
        g.angle[i] = rng.uniform(-4, 4)
        g.mat[i] = i
        g.mats[i] = haar(2, rng)
    return g


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_applier_matches_gate_by_gate_product(m):
    """Any gate order (CNOTs controlled from above or below, runs that start anywhere)."""
    rng = np.random.default_rng(m)
    g = random_gates(m, 60, rng)
    ref = seq_unitary(g)
    np.testing.assert_allclose(Q.gates_unitary(g), ref, atol=1e-13)
    X = rng.normal(size=(1 << m, 3)) + 1j * rng.normal(size=(1 << m, 3))
    np.testing.assert_allclose(Q.apply_gates(g, X), ref @ X, atol=1e-12)
    ops, delta = Q.gates_to_ops(g, cirq.LineQubit.range(m))
    got = cirq.unitary(cirq.Circuit(ops))
    np.testing.assert_allclose(np.exp(1j * delta) * got, ref, atol=1e-12)


def test_applier_on_a_qsd_matches_gate_by_gate_product():
    U = haar(16, np.random.default_rng(7))
    g, _, _ = Q.qsd_gates(U)
    np.testing.assert_allclose(Q.gates_unitary(g), seq_unitary(g), atol=1e-13)


def test_concat_and_shift():
    rng = np.random.default_rng(2)
    a, b = random_gates(2, 10, rng), random_gates(3, 10, rng)
    both = Q.concat_gates([a.shifted(1, 3), b])
    want = seq_unitary(b) @ np.kron(np.eye(2), seq_unitary(a))
    np.testing.assert_allclose(Q.gates_unitary(both), want, atol=1e-13)
