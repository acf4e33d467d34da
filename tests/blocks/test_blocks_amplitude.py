"""Amplitude encoding (qlower/blocks/amplitude.py): states, exact costs, symbolic angles."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from qlower.blocks.amplitude import (
    ZERO_MESSAGE,
    AmplitudeEncoding,
    ZeroVectorError,
    amplitude_encoding,
    mottonen_cnots,
    schmidt_cnots,
)
from qlower.blocks.base import readout

SIM = cirq.Simulator(dtype=np.complex128)
LENGTHS = [1, 2, 3, 5, 8, 13, 16, 31, 64]
TOL = 1e-10


def nq(N: int) -> int:
    return max(1, int(np.ceil(np.log2(N))))


def expected(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.complex128)
    out = np.zeros(1 << nq(len(x)), dtype=np.complex128)
    out[: len(x)] = x / np.linalg.norm(x)
    return out


def final_state(circuit, qubits, resolver=None) -> np.ndarray:
    return SIM.simulate(circuit, param_resolver=resolver, qubit_order=list(qubits)).final_state_vector


def vectors(N: int, complex: bool, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 97 * N)
    out = {
        "random": rng.normal(size=N),
        "one-hot first": np.eye(N)[0],
        "one-hot last": -2.5 * np.eye(N)[N - 1],
        "all equal": np.full(N, 0.3),
        "alternating": (-1.0) ** np.arange(N),
    }
    sparse = np.zeros(N)
    sparse[::3] = rng.normal(size=len(sparse[::3]))
    out["sparse"] = sparse
    if complex:
        out = {k: v * np.exp(1j * rng.uniform(0, 2 * np.pi, size=N)) for k, v in out.items()}
        out["global phase"] = np.exp(0.9j) * rng.normal(size=N)
        out["pure imaginary"] = 1j * rng.normal(size=N)
    return out


def structure(circuit: cirq.Circuit) -> list:
    return [(type(op.gate), op.qubits) for op in circuit.all_operations()]


# --------------------------------------------------------------------------- states


@pytest.mark.parametrize("complex", [False, True])
@pytest.mark.parametrize("method", ["mottonen", "auto"])
@pytest.mark.parametrize("N", LENGTHS)
def test_final_state_is_normalised_x(N, complex, method):
    for name, x in vectors(N, complex).items():
        block = amplitude_encoding(x, method=method)
        assert isinstance(block, AmplitudeEncoding)
        want = expected(x)
        assert block.num_qubits == nq(N) and block.size == N
        assert block.alpha == pytest.approx(np.linalg.norm(x), rel=1e-14)
        np.testing.assert_allclose(block.state, want, atol=1e-15)
        got = final_state(block.circuit, sorted(block.registers.output))
        err = np.max(np.abs(got - want))
        assert err < TOL, f"{name} (N={N}, method={block.method}): error {err:.2e}"


def test_complex_global_phase_is_emitted():
    x = np.exp(1.1j) * np.array([1.0, 2.0, -0.5, 0.25, 3.0])
    block = amplitude_encoding(x, method="mottonen")
    phases = [op for op in block.circuit.all_operations() if isinstance(op.gate, cirq.GlobalPhaseGate)]
    assert len(phases) == 1
    got = final_state(block.circuit, block.registers.output)
    np.testing.assert_allclose(got, expected(x), atol=TOL)  # phase included, not up to phase


def test_registers_and_alpha():
    block = amplitude_encoding([3.0, 4.0])
    assert block.registers.input == () and block.registers.flags == ()
    assert block.registers.output == tuple(cirq.LineQubit.range(1))
    assert block.alpha == 5.0 and block.symbols == ()


# --------------------------------------------------------------------------- exact costs


@pytest.mark.parametrize("n", range(1, 9))
def test_mottonen_exact_counts_real(n):
    x = np.random.default_rng(n).normal(size=1 << n)
    r = amplitude_encoding(x, method="mottonen").resources()
    assert r.cnots == (1 << n) - n - 1 == mottonen_cnots(n)
    assert r.rotations == (1 << n) - 1
    assert r.qubits == n


@pytest.mark.parametrize("n", range(1, 9))
def test_mottonen_exact_counts_complex(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    r = amplitude_encoding(x, method="mottonen").resources()
    assert r.cnots == (1 << (n + 1)) - 2 * n - 2 == mottonen_cnots(n, complex=True)
    assert r.rotations == (1 << (n + 1)) - 2


@pytest.mark.parametrize("complex", [False, True])
@pytest.mark.parametrize("N", [2, 3, 5, 8, 13, 16, 31, 64])
def test_structure_does_not_depend_on_data(N, complex):
    ref = structure(amplitude_encoding(size=N, complex=complex).circuit)
    for name, x in vectors(N, complex).items():
        got = structure(amplitude_encoding(x, method="mottonen", complex=complex).circuit)
        assert got == ref, name


def test_size_pads_numeric_x():
    x = np.array([0.5, -1.0, 2.0, 0.0, 3.0])
    block = amplitude_encoding(x, size=7, method="mottonen")
    assert block.size == 7 and block.num_qubits == 3
    assert structure(block.circuit) == structure(amplitude_encoding(size=7).circuit)
    np.testing.assert_allclose(final_state(block.circuit, block.qubits), expected(x), atol=TOL)


def test_cnots_of_each_level():
    """Level k: 2**k - 1 CNOTs onto q_k, controlled by q_0 … q_{k-1} (final CNOT dropped)."""
    n = 5
    qs = cirq.LineQubit.range(n)
    circuit = amplitude_encoding(size=1 << n).circuit
    cx = [op for op in circuit.all_operations() if len(op.qubits) == 2]
    for k in range(n):
        onto = [op for op in cx if op.qubits[1] == qs[k]]
        assert len(onto) == (1 << k) - 1
        assert all(op.qubits[0] in qs[:k] for op in onto)
        if k >= 1:  # every control is used; the dropped CNOT was one of q_0's two
            assert {op.qubits[0] for op in onto} == set(qs[:k])
            assert sum(op.qubits[0] == qs[0] for op in onto) == 1


# --------------------------------------------------------------------------- symbolic


@pytest.mark.parametrize("complex", [False, True])
@pytest.mark.parametrize("N", [1, 2, 3, 5, 8, 13, 16, 31, 64])
def test_symbolic_circuit_resolved_with_angles(N, complex):
    block = amplitude_encoding(size=N, complex=complex)
    assert block.alpha == 1.0 and block.state is None and block.method == "mottonen"
    assert cirq.is_parameterized(block.circuit)
    assert [s.name for s in block.symbols] == [f"amp_{i}" for i in range(len(block.symbols))]
    assert len(block.symbols) == ((1 << (nq(N) + 1)) - 1 if complex else (1 << nq(N)) - 1)
    for i, (name, x) in enumerate(vectors(N, complex).items()):
        ang = block.angles(x)
        assert ang.dtype == np.float64 and ang.shape == (len(block.symbols),)
        resolved = cirq.resolve_parameters(block.circuit, block.resolver(ang))
        got = final_state(resolved, block.registers.output)
        err = np.max(np.abs(got - expected(x)))
        assert err < TOL, f"{name}: error {err:.2e}"
        if i < 2:  # the numeric circuit uses exactly these angles
            numeric = amplitude_encoding(x, method="mottonen", complex=complex)
            assert cirq.approx_eq(resolved, numeric.circuit, atol=1e-12)


def test_symbolic_real_has_only_ry_and_cnot():
    circuit = amplitude_encoding(size=32).circuit
    kinds = {type(op.gate) for op in circuit.all_operations()}
    assert kinds == {cirq.Ry, cirq.CXPowGate}


def test_symbol_prefix_and_qubits():
    qs = cirq.GridQubit.rect(1, 3, 4, 2)
    block = amplitude_encoding(size=6, prefix="w3", qubits=qs)
    assert block.symbols[0].name == "w3_0" and block.symbols[-1].name == "w3_6"
    assert block.registers.output == tuple(qs) and set(block.circuit.all_qubits()) == set(qs)


@pytest.mark.parametrize("complex", [False, True])
def test_angles_vectorised_over_batch(complex):
    N = 13
    block = amplitude_encoding(size=N, complex=complex)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3, 4, N))
    if complex:
        X = X + 1j * rng.normal(size=X.shape)
    X[1, 2] = 0.0
    X[1, 2, 7] = -1.0  # one-hot row inside the batch
    A = block.angles(X)
    assert A.shape == (3, 4, len(block.symbols)) and A.dtype == np.float64
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(A[i, j], block.angles(X[i, j]))
    # the angles do not depend on the scale of each row
    np.testing.assert_allclose(block.angles(7.5 * X), A, atol=1e-13)


def test_angles_of_numeric_mottonen_block_match_its_circuit():
    x = np.random.default_rng(1).normal(size=10)
    block = amplitude_encoding(x, method="mottonen")
    ang = block.angles(x)
    for k, q in enumerate(block.registers.output):  # level k: angles 2**k - 1 … 2**(k+1) - 2
        emitted = [op.gate._rads for op in block.circuit.all_operations()
                   if isinstance(op.gate, cirq.Ry) and op.qubits == (q,)]
        np.testing.assert_array_equal(emitted, ang[(1 << k) - 1:(1 << (k + 1)) - 1])


# --------------------------------------------------------------------------- errors


def test_zero_vector_error():
    with pytest.raises(ZeroVectorError) as info:
        amplitude_encoding(np.zeros(5))
    assert str(info.value) == "amplitude encoding of the zero vector: it has no direction (norm 0)"
    assert str(info.value) == ZERO_MESSAGE
    assert isinstance(info.value, ValueError)
    with pytest.raises(ZeroVectorError):
        amplitude_encoding(np.zeros(4, dtype=complex), method="schmidt")


def test_zero_rows_in_angles_name_the_row():
    block = amplitude_encoding(size=4)
    X = np.ones((5, 4))
    X[3] = 0
    with pytest.raises(ZeroVectorError, match=r"\(norm 0\): row 3$"):
        block.angles(X)
    Y = np.ones((2, 3, 4))
    Y[1, 2] = 0
    with pytest.raises(ZeroVectorError, match=r"row \(1, 2\)$"):
        block.angles(Y)
    with pytest.raises(ZeroVectorError, match=r"norm 0\)$"):
        block.angles(np.zeros(4))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": np.ones((2, 2))}, "1-D vector, got shape"),
        ({"x": np.array([1.0, np.nan])}, "finite"),
        ({"x": np.array([1.0, np.inf, 2.0])}, "finite"),
        ({"x": np.array([])}, "length >= 1"),
        ({"x": np.array(["a", "b"])}, "numeric"),
        ({"x": [1.0, 2.0], "method": "fable"}, "unknown amplitude-encoding method"),
        ({"size": 8, "method": "schmidt"}, "needs numeric data"),
        ({}, "needs a vector x or a size"),
        ({"size": 0}, "positive integer"),
        ({"x": [1.0, 2.0, 3.0], "qubits": cirq.LineQubit.range(3)}, "needs 2 qubits"),
        ({"x": [1.0, 2.0, 3.0], "size": 2}, "smaller than"),
        ({"x": [1.0], "method": "schmidt"}, "at least 2 qubits"),
    ],
)
def test_invalid_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        amplitude_encoding(**kwargs)


def test_angles_input_checks():
    block = amplitude_encoding(size=4)
    with pytest.raises(ValueError, match="size 4"):
        block.angles(np.ones(5))
    with pytest.raises(ValueError, match="complex"):
        block.angles(np.ones(4) * 1j)
    with pytest.raises(ValueError, match="finite"):
        block.angles(np.array([1.0, np.nan, 0, 0]))
    with pytest.raises(ValueError, match="Möttönen"):
        amplitude_encoding(np.arange(1.0, 17.0), method="schmidt").angles(np.ones(16))


# --------------------------------------------------------------------------- Schmidt


# Exact CNOT counts measured for generic (random) data, seed 0. Real: prep(Σ) + n/2 copies + U
# up to a diagonal (QSD - 1) + Vhᵀ (QSD; a real two-qubit orthogonal of determinant +1 needs 2).
# Some real data need one CNOT fewer (n = 6: about one vector in five); never more.
SCHMIDT = {(4, False): 7, (6, False): 46, (8, False): 210,
           (4, True): 8, (6, True): 46, (8, True): 210}


@pytest.mark.parametrize(("n", "complex"), sorted(SCHMIDT))
def test_schmidt_exact_counts_and_state(n, complex):
    rng = np.random.default_rng(0)
    x = rng.normal(size=1 << n) + (1j * rng.normal(size=1 << n) if complex else 0)
    block = amplitude_encoding(x, method="schmidt")
    assert block.method == "schmidt"
    r = block.resources()
    assert r.cnots == SCHMIDT[n, complex] == schmidt_cnots(n, complex)
    assert r.cnots < (1 << n) - n - 1 <= mottonen_cnots(n, complex)
    got = final_state(block.circuit, block.registers.output)
    assert np.max(np.abs(got - expected(x))) < TOL


def test_schmidt_never_exceeds_its_formula():
    for seed in range(1, 9):
        x = np.random.default_rng(seed).normal(size=64)
        assert schmidt_cnots(6) - 1 <= amplitude_encoding(x).resources().cnots <= schmidt_cnots(6)


@pytest.mark.parametrize("complex", [False, True])
@pytest.mark.parametrize("N", [16, 13, 64, 40])
def test_schmidt_structured_states(N, complex):
    for name, x in vectors(N, complex).items():
        block = amplitude_encoding(x, method="schmidt")
        assert block.resources().cnots <= schmidt_cnots(nq(N), complex)
        got = final_state(block.circuit, block.registers.output)
        err = np.max(np.abs(got - expected(x)))
        assert err < TOL, f"{name}: error {err:.2e}"


@pytest.mark.parametrize(("n", "cnots"), [(2, 1), (3, 4), (5, 25)])
def test_schmidt_odd_and_small_complex(n, cnots):
    rng = np.random.default_rng(n)
    x = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    block = amplitude_encoding(x, method="schmidt")
    assert block.resources().cnots == cnots < mottonen_cnots(n, complex=True)
    got = final_state(block.circuit, block.registers.output)
    assert np.max(np.abs(got - expected(x))) < TOL


def test_auto_choice():
    rng = np.random.default_rng(3)
    assert amplitude_encoding(rng.normal(size=16)).method == "schmidt"
    assert amplitude_encoding(rng.normal(size=64)).method == "schmidt"
    assert amplitude_encoding(rng.normal(size=8)).method == "mottonen"  # odd n, real
    assert amplitude_encoding(rng.normal(size=32)).method == "mottonen"
    assert amplitude_encoding(rng.normal(size=4)).method == "mottonen"  # n = 2: a tie
    assert amplitude_encoding(rng.normal(size=32) + 1j).method == "schmidt"  # complex: 25 < 26
    assert amplitude_encoding(rng.normal(size=128) + 1j).method == "ucg"  # complex: 120 < 126
    assert amplitude_encoding(rng.normal(size=8) + 1j).method == "ucg"  # complex n = 3: 4 = 4
    assert amplitude_encoding(size=16).method == "mottonen"
    for N in (8, 32, 128, 512):
        z = rng.normal(size=N) + 1j * rng.normal(size=N)
        assert amplitude_encoding(z).resources().cnots <= (N - 1) - N.bit_length() + 1  # 2^n-n-1
    for N in (16, 64, 8, 32):
        x = rng.normal(size=N)
        auto = amplitude_encoding(x).resources().cnots
        assert auto <= amplitude_encoding(x, method="mottonen").resources().cnots


# --------------------------------------------------------------------------- qubits


@pytest.mark.parametrize("method", ["mottonen", "schmidt"])
def test_qubits_mapping(method):
    x = np.random.default_rng(8).normal(size=13) * np.exp(0.3j * np.arange(13))
    grid = cirq.GridQubit.rect(2, 2, 5, 1)  # sorted order
    block = amplitude_encoding(x, qubits=grid, method=method)
    assert block.circuit.all_qubits() <= set(grid)
    np.testing.assert_allclose(final_state(block.circuit, sorted(grid)), expected(x), atol=TOL)
    # an unsorted register: qubits[0] is still the most significant bit of the index
    shuffled = [cirq.LineQubit(2), cirq.LineQubit(0), cirq.LineQubit(3), cirq.LineQubit(1)]
    block = amplitude_encoding(x, qubits=shuffled, method=method)
    assert block.registers.output == tuple(shuffled)
    np.testing.assert_allclose(final_state(block.circuit, shuffled), expected(x), atol=TOL)
    sorted_state = final_state(block.circuit, block.qubits)
    np.testing.assert_allclose(readout(sorted_state, block.qubits, block.registers),
                               expected(x), atol=TOL)


# --------------------------------------------------------------------------- Qiskit


def qiskit_cnots(x) -> int:
    import qiskit  # a test dependency: the peer the counts are compared with
    from qiskit.circuit.library import StatePreparation

    n = nq(len(x))
    qc = qiskit.QuantumCircuit(n)
    qc.append(StatePreparation(x / np.linalg.norm(x)), range(n))
    tq = qiskit.transpile(qc, basis_gates=["cx", "u"], optimization_level=3, seed_transpiler=0)
    return tq.count_ops().get("cx", 0)


@pytest.mark.parametrize("n", range(2, 9))
def test_not_more_cnots_than_qiskit(n):
    rng = np.random.default_rng(20 + n)
    x = rng.normal(size=1 << n)
    ours = amplitude_encoding(x, method="mottonen").resources().cnots
    theirs = qiskit_cnots(x)
    assert ours <= theirs
    assert amplitude_encoding(x).resources().cnots <= theirs
    if n % 2 == 0:  # complex data: the Schmidt circuit beats Qiskit's isometry (2**n - n - 1)
        z = x + 1j * rng.normal(size=1 << n)
        assert amplitude_encoding(z).resources().cnots <= qiskit_cnots(z)
