"""SVD block encoding (qlower/blocks/svd.py): the flag-0 block against W/σ₁, exact counts, cost
formula, rectangular, rank-deficient, complex and structured W."""

from __future__ import annotations

import functools

import cirq
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from qlower.blocks.circuits import count_resources, packed_circuit
from qlower.blocks.svd import ZERO_MESSAGE, svd_circuit, svd_cnots, svd_cost

# 2·Q(n) − 1 + 2^n − 1 with Q the SBM count (0, 3, 20, 100, 444, 1868, 7660, 31020), written out
CNOTS = {1: 1, 2: 8, 3: 46, 4: 214, 5: 918, 6: 3798, 7: 15446, 8: 62294}
PAULI = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]),
         np.diag([1.0, -1.0])]


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def data_qubits(M: int, N: int) -> int:
    n = 1
    while (1 << n) < max(M, N):
        n += 1
    return n


def padded(W) -> np.ndarray:
    n = data_qubits(*W.shape)
    A = np.zeros((1 << n, 1 << n), dtype=complex)
    A[: W.shape[0], : W.shape[1]] = W
    return A


def rand(shape, complex_, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=shape)
    return W + 1j * rng.normal(size=shape) if complex_ else W


def build(W):
    n = data_qubits(*W.shape)
    qs = cirq.LineQubit.range(n + 1)
    ops, alpha, block = svd_circuit(W, qs)
    return qs, ops, alpha, block


def block_error(block, W, alpha) -> float:
    return float(np.abs(block - padded(W)).max() / alpha)


def cirq_block(ops, qs) -> np.ndarray:
    U = cirq.Circuit(ops).unitary(qubit_order=qs)
    half = U.shape[0] // 2
    return U[:half, :half]  # flag (qubits[0]) = 0 in and out


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (1, 8), (8, 1), (1, 1), (2, 1), (4, 4),
                                   (7, 16), (16, 9)])
def test_rectangular(shape, complex_):
    W = rand(shape, complex_, seed=shape[0] * 31 + shape[1])
    qs, ops, alpha, block = build(W)
    assert alpha == pytest.approx(np.linalg.norm(W, 2), rel=1e-14)
    assert block_error(block, W, alpha) < 1e-12
    assert np.abs(alpha * cirq_block(ops, qs) - padded(W)).max() / alpha < 1e-12
    assert all(len(op.qubits) < 2 or op.gate in (cirq.CZ, cirq.CNOT) for op in ops)


@pytest.mark.parametrize("n", sorted(CNOTS))
def test_exact_cnot_counts(n):
    W = rand((1 << n, 1 << n), True, seed=n)
    qs, ops, alpha, block = build(W)
    assert sum(len(op.qubits) == 2 for op in ops) == CNOTS[n] == svd_cnots(n)
    assert block_error(block, W, alpha) < 1e-10


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_cost_formula_matches_the_circuit(n):
    W = rand((1 << n, (1 << n) - 1), True, seed=40 + n)
    qs, ops, _, _ = build(W)
    r = count_resources(packed_circuit(ops), qs)
    cost = svd_cost(*W.shape)
    assert (r.qubits, r.cnots, r.single_qubit) == (cost.qubits, cost.cnots, cost.single_qubit)
    assert r.rotations <= cost.rotations
    if n >= 2:
        assert r.rotations == cost.rotations


def test_real_two_qubit_data_saves_a_cnot():
    for seed in range(4):
        W = rand((4, 4), False, seed)
        qs, ops, alpha, block = build(W)
        assert sum(len(op.qubits) == 2 for op in ops) == svd_cnots(2) - 1
        assert block_error(block, W, alpha) < 1e-13


@pytest.mark.parametrize("complex_", [False, True])
def test_rank_deficient(complex_):
    rng = np.random.default_rng(5)
    for rank, shape in ((1, (8, 8)), (2, (6, 10)), (3, (16, 16))):
        L = rng.normal(size=(shape[0], rank)) + (1j * rng.normal(size=(shape[0], rank))
                                                 if complex_ else 0)
        W = L @ rng.normal(size=(rank, shape[1]))
        qs, ops, alpha, block = build(W)
        assert block_error(block, W, alpha) < 1e-12, (rank, shape)
    W = np.zeros((5, 5))
    W[2, 3] = -2.5
    qs, ops, alpha, block = build(W)
    assert alpha == pytest.approx(2.5) and block_error(block, W, alpha) < 1e-13


def structured(rng) -> dict[str, np.ndarray]:
    return {
        "identity8": np.eye(8),
        "permutation16": np.eye(16)[rng.permutation(16)],
        "pauli_yzx": functools.reduce(np.kron, [PAULI[2], PAULI[3], PAULI[1]]),
        "diagonal": np.diag(np.arange(1.0, 9.0)),
        "equal singular values": 3 * np.linalg.qr(rng.normal(size=(8, 8)))[0],
        "ones 4x6": np.ones((4, 6)),
        "hadamard16": functools.reduce(np.kron, [np.array([[1, 1], [1, -1]])] * 4),
        "qft8": np.exp(2j * np.pi * np.outer(np.arange(8), np.arange(8)) / 8),
        "sparse": np.diag([1.0, 0, 0, 2, 0, 0, 0, 0.5]) + np.eye(8, k=3),
        "tiny": 1e-9 * rng.normal(size=(4, 4)),
    }


def test_structured():
    rng = np.random.default_rng(9)
    for name, W in structured(rng).items():
        qs, ops, alpha, block = build(W)
        assert alpha == pytest.approx(np.linalg.norm(W, 2), rel=1e-12), name
        err = block_error(block, W, alpha)
        assert err < 1e-12, f"{name}: error {err:.1e}"
        assert sum(len(op.qubits) == 2 for op in ops) <= svd_cnots(data_qubits(*W.shape)), name


def test_qubits_argument():
    W = rand((3, 4), True, seed=1)
    qs = [cirq.GridQubit(0, 2), cirq.GridQubit(0, 0), cirq.GridQubit(0, 1)]  # flag first
    ops, alpha, _ = svd_circuit(W, qs)
    assert np.abs(alpha * cirq_block(ops, qs) - padded(W)).max() / alpha < 1e-12
    with pytest.raises(ValueError, match=r"needs 3 distinct qubits \(\[flag\] \+ 2 data\)"):
        svd_circuit(W, qs[:2])
    with pytest.raises(ValueError, match="needs 3 distinct qubits"):
        svd_circuit(W, [qs[0], qs[0], qs[1]])


@pytest.mark.parametrize(
    "W, message",
    [(np.zeros((3, 4)), ZERO_MESSAGE), (np.zeros((1, 1), dtype=complex), ZERO_MESSAGE),
     (np.array([[1.0, np.nan]]), "finite"), (np.ones(4), "2-D matrix"),
     (np.ones((0, 3)), "non-empty"), (np.array([["a"]]), "numeric")],
)
def test_errors(W, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        svd_circuit(W, cirq.LineQubit.range(3))


def test_cost_formula_without_building():
    assert svd_cost(3, 5).qubits == 4 and svd_cost(3, 5).cnots == 46
    assert svd_cost(1, 1) == svd_cost(2, 2) and svd_cost(1, 1).cnots == 1
    assert svd_cost(64, 64).cnots == 3798 and svd_cost(1024, 1000).qubits == 11
    with pytest.raises(ValueError, match="n >= 1"):
        svd_cnots(0)
