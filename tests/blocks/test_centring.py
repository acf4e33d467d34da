"""The centring block encoding of a layer norm's matrix W = diag(γ)·(I − 1·1ᵀ/N).

Checked against references written here: the flag-0 block of the circuit's unitary (Cirq)
against diag(γ/max|γ|)(I − |u⟩⟨u|) built with numpy, layer-norm outputs against
γ·(x − mean)/sqrt(var + ε) + β, the counts against the circuit's gates and hand-written closed
forms, ``auto``'s choice against the other methods' costs, the refusals by their messages.
"""

from __future__ import annotations

import math

import cirq
import numpy as np
import pytest

from qlower.blocks import block_encoding, readout
from qlower.blocks.centring import (
    CENTRING_RTOL,
    centring_cnots,
    centring_matrix,
    core_cnots,
    ln_gamma,
)
from qlower.blocks.circuits import count_resources
from qlower.blocks.registry import (
    apply_block,
    block_method,
    candidates,
    choose_method,
    cost_per_success,
    plan_block,
)

ENTRY = block_method("centring")


def ln_matrix(gamma) -> np.ndarray:
    """diag(γ)(I − 11ᵀ/N), written out entry by entry."""
    N = len(gamma)
    return np.array([[gamma[i] * ((i == j) - 1.0 / N) for j in range(N)] for i in range(N)])


def reference_block(gamma) -> np.ndarray:
    """diag(γ/γ_max)·(I − |u⟩⟨u|) on 2^n, γ zero-padded, u uniform over the first N."""
    N = len(gamma)
    size = 1 << math.ceil(math.log2(N))
    u = np.zeros(size)
    u[:N] = 1 / np.sqrt(N)
    g = np.zeros(size)
    g[:N] = np.asarray(gamma) / np.max(np.abs(gamma))
    return np.diag(g) @ (np.eye(size) - np.outer(u, u))


def flag_zero_block(be) -> np.ndarray:
    """cirq.unitary of the circuit, flags = 0 in and out, indexed by the data register."""
    qs = sorted(be.circuit.all_qubits())
    U = cirq.unitary(be.circuit)
    k = len(qs)
    U = U.reshape([2] * (2 * k))
    index = [slice(None)] * (2 * k)
    for q in be.registers.flags:
        index[qs.index(q)] = index[k + qs.index(q)] = 0
    sub = U[tuple(index)]  # remaining axes: data qubits (output), then data qubits (input)
    data = [qs.index(q) for q in be.registers.input]
    order = sorted(data)
    perm = [order.index(a) for a in data]
    n = len(data)
    sub = np.transpose(sub, perm + [n + p for p in perm])  # into the register's order
    return sub.reshape(1 << n, 1 << n)


def gammas(N: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed).standard_normal(N)
    if N > 3:
        g[1] = 0.0  # a zero scale, and a repeated one
        g[2] = g[0]
    return g


@pytest.mark.parametrize("N", [2, 3, 5, 8, 13, 16, 33])
def test_flag_zero_block_is_the_centring_times_gamma(N):
    gamma = gammas(N, N)
    W = ln_matrix(gamma)
    be = block_encoding(W, "centring")
    n = math.ceil(math.log2(N))
    assert be.alpha == pytest.approx(np.max(np.abs(gamma)), rel=1e-14)  # γ from W: rounding
    assert len(be.registers.flags) == 2 and be.registers.input == be.registers.output
    assert len(be.registers.input) == n and len(be.qubits) == n + 2
    block = flag_zero_block(be)
    np.testing.assert_allclose(block, reference_block(gamma), atol=1e-10)
    implemented = ENTRY.implemented(W, be.params)
    np.testing.assert_allclose(block, implemented / be.alpha, atol=1e-10)
    padded = np.zeros((1 << n, 1 << n))
    padded[:N, :N] = W
    np.testing.assert_allclose(implemented, padded, atol=1e-12)  # W, zero-padded


def test_flag_zero_block_on_qubits_given_out_of_order():
    gamma = gammas(5, 1)
    W = ln_matrix(gamma)
    qs = [cirq.GridQubit(0, i) for i in (4, 0, 3, 1, 2)]  # [f, g] + D, not in Cirq's order
    be = ENTRY.build(W, ENTRY.plan(W), qs)
    assert be.registers.flags == tuple(qs[:2]) and be.registers.input == tuple(qs[2:])
    np.testing.assert_allclose(flag_zero_block(be), reference_block(gamma), atol=1e-10)


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


@pytest.mark.parametrize("N", [6, 16])
def test_layer_norm_numbers_from_the_circuit(N):
    rng = np.random.default_rng(10 + N)
    gamma, beta = rng.standard_normal(N), rng.standard_normal(N)
    X = rng.standard_normal((4, N)) * 3 + 1.5
    eps = 1e-5 * (1 + rng.random())
    want = layer_norm(X, gamma, beta, eps)
    be = block_encoding(ln_matrix(gamma), "centring")
    qs = sorted(be.qubits)
    n = len(be.registers.input)
    sim = cirq.Simulator(dtype=np.complex128)
    for x, y in zip(X, want):
        norm = np.linalg.norm(x)
        data = np.zeros(1 << n)
        data[:N] = x / norm
        state = np.zeros(1 << len(qs), dtype=np.complex128)  # flags |0⟩, x̂ on D
        for j, amp in enumerate(data):
            index = 0
            for b, q in enumerate(be.registers.input):
                if (j >> (n - 1 - b)) & 1:
                    index |= 1 << (len(qs) - 1 - qs.index(q))
            state[index] = amp
        final = sim.simulate(be.circuit, qubit_order=qs, initial_state=state).final_state_vector
        psi = readout(final, qs, be.registers)
        assert np.all(np.abs(psi[N:]) < 1e-12) and np.all(np.abs(psi.imag) < 1e-12)
        var = np.var(x)
        got = be.alpha * norm * psi[:N].real / np.sqrt(var + eps) + beta
        np.testing.assert_allclose(got, y, rtol=1e-10, atol=1e-10)
        # and the registry's reference semantics says the same
        sem = apply_block("centring", data.astype(np.complex128), ln_matrix(gamma), be.params)
        np.testing.assert_allclose(sem, psi, atol=1e-12)


def test_apply_block_is_w_over_alpha_on_a_batch():
    gamma = gammas(12, 3)
    W = ln_matrix(gamma)
    method, params = plan_block(W, "centring")
    assert method == "centring" and list(params) == ["alpha"]
    assert params["alpha"] == pytest.approx(np.max(np.abs(gamma)), rel=1e-14)
    states = np.random.default_rng(4).standard_normal((5, 12))
    states /= np.linalg.norm(states, axis=1, keepdims=True)
    out = apply_block("centring", states.astype(np.complex128), W, params)
    assert out.shape == (5, 16)
    np.testing.assert_allclose(out[:, :12], states @ W.T / params["alpha"], atol=1e-12)
    np.testing.assert_allclose(out[:, 12:], 0.0, atol=1e-15)


def test_gamma_is_recovered_from_w():
    rng = np.random.default_rng(5)
    for N in (2, 3, 7, 16, 100):
        gamma = rng.standard_normal(N) * 10.0 ** rng.uniform(-3, 3)
        gamma[rng.integers(N)] = 0.0
        W = ln_matrix(gamma)
        np.testing.assert_allclose(ln_gamma(W), gamma, rtol=1e-12, atol=1e-14 * np.abs(gamma).max())
        assert ENTRY.applies(W)
        assert ENTRY.plan(W)["alpha"] == pytest.approx(np.abs(gamma).max(), rel=1e-13)
        np.testing.assert_allclose(centring_matrix(gamma), W, atol=1e-15 * np.abs(gamma).max())


FORM = "diag(γ)·(I − 1·1ᵀ/N)"


def test_plan_refuses_other_matrices_with_the_reason():
    rng = np.random.default_rng(6)
    cases = {
        "random": (rng.standard_normal((6, 6)),
                   f"W is not {FORM} within relative tolerance 1e-09: row 0 is not a multiple "
                   "of e_0 − 1/N"),
        "rectangular": (rng.standard_normal((4, 6)),
                        f"centring block-encodes a square matrix {FORM}; got shape (4, 6)"),
        "1x1": (np.ones((1, 1)), "centring needs N >= 2 (a 1x1 matrix centres to 0); got 1x1"),
        "complex": (ln_matrix([1.0, 2.0, 3.0]) * 1j,
                    "centring block-encodes a real matrix (a layer norm's γ is real)"),
    }
    W = ln_matrix(gammas(8, 7))
    W[3, 5] += 1e-7 * np.abs(W).max()  # one entry of row 3 off by 1e-7 relative
    cases["row 3"] = (W, f"W is not {FORM} within relative tolerance 1e-09: row 3 is not a "
                      "multiple of e_3 − 1/N")
    for name, (W, message) in cases.items():
        assert not ENTRY.applies(W), name
        with pytest.raises(ValueError) as err:
            ENTRY.plan(W)
        assert str(err.value) == message, name
        with pytest.raises(ValueError):
            ENTRY.cost(W, {"alpha": 1.0})
    # within the tolerance: accepted
    W = ln_matrix(gammas(8, 7))
    W[3, 5] += 0.1 * CENTRING_RTOL * np.abs(W).max()
    assert ENTRY.applies(W)
    with pytest.raises(ValueError, match=r"centring block-encodes an N x N matrix with N >= 2, "
                       r"got 4x6"):
        ENTRY.layout(4, 6, {})


def core_reference(n: int) -> int:
    """The core's CNOTs from the halves: c(1) = 1, c(2) = 4, c(k) = 12k − 22."""
    if n == 1:
        return 1
    c = {1: 1, 2: 4}
    halves = ((n + 1) // 2, n // 2)
    return sum(2 * c.get(k, 12 * k - 22) for k in halves)


def test_closed_form_cnots():
    assert [core_cnots(n) for n in range(1, 11)] == [1, 4, 10, 16, 36, 56, 80, 104, 128, 152]
    assert [centring_cnots(n, 1 << n) for n in range(1, 9)] == [2, 7, 17, 31, 67, 119, 207, 359]
    for n in range(1, 12):
        assert core_cnots(n) == core_reference(n)
        if n >= 6:
            assert core_cnots(n) == 24 * n - 88
    # N = m·2^t: the uniform state over m (odd) by Möttönen on ⌈log₂m⌉ qubits, Hadamards below
    assert centring_cnots(4, 13) == 16 + 15 + 2 * (16 - 4 - 1)
    assert centring_cnots(4, 12) == 16 + 15 + 2 * (4 - 2 - 1)
    assert centring_cnots(10, 768) == 152 + 1023 + 2 * 1
    with pytest.raises(ValueError):
        centring_cnots(3, 13)


CASES = [(n, N) for n in range(1, 8)
         for N in sorted({1 << n, (1 << (n - 1)) + 1, 3 << (n - 2) if n >= 2 else 2,
                          (1 << n) - 1 if n >= 2 else 2})]


@pytest.mark.parametrize("n, N", CASES)
def test_cost_is_the_circuits_count(n, N):
    gamma = np.random.default_rng(N).standard_normal(N)
    W = ln_matrix(gamma)
    be = block_encoding(W, "centring")
    want = count_resources(be.circuit, be.qubits)
    got = ENTRY.cost(W, be.params)
    assert got == want  # qubits, CNOTs, rotations, depth, one-qubit gates, T gates
    assert got.cnots == centring_cnots(n, N)
    assert got.qubits == n + 2
    m = N >> ((N & -N).bit_length() - 1)
    k = math.ceil(math.log2(m)) if m > 1 else 0
    prep = (1 << k) - k - 1 if k else 0
    assert got.cnots == core_reference(n) + (1 << n) - 1 + 2 * prep
    if N == 1 << n:
        assert got.rotations == 1 << n  # the multiplexor's, generic γ; H and Clifford+T else
    else:
        assert (1 << n) < got.rotations <= (1 << n) + 2 * ((1 << k) - 1)
    assert ENTRY.counts_exact(W)


def test_structured_gamma_is_counted_too():
    W = ln_matrix(np.full(8, -2.0))  # one Walsh component: the multiplexor's other angles are 0
    be = block_encoding(W, "centring")
    got, want = ENTRY.cost(W, be.params), count_resources(be.circuit, be.qubits)
    assert got == want and got.rotations < 8 and got.cnots == centring_cnots(3, 8)
    np.testing.assert_allclose(flag_zero_block(be), reference_block(np.full(8, -2.0)),
                               atol=1e-10)


def test_auto_leaves_it_to_the_layer_norm_lowering_which_it_saves_a_lot():
    """A structured method is chosen by the lowering that builds its form (nn.layer_norm's),
    never by auto; on a layer norm's matrix it is far cheaper per successful run."""
    W = ln_matrix(np.random.default_rng(8).standard_normal(16))
    assert ENTRY.applies(W) and not ENTRY.general
    assert "centring" not in candidates(W) and choose_method(W) != "centring"
    costs = {name: cost_per_success(block_method(name), W, block_method(name).plan(W))
             for name in ("centring", "svd", "fable")}
    assert costs["centring"] * 4 < min(costs["svd"], costs["fable"]), costs
    rng = np.random.default_rng(9)
    shapes = [(16, 16), (8, 8), (5, 5), (4, 4), (2, 2), (3, 7), (12, 12), (6, 2), (32, 32), (9, 9)]
    for i in range(20):
        assert not ENTRY.applies(rng.standard_normal(shapes[i % len(shapes)]))
