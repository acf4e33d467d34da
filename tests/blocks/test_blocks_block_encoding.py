"""Block encodings (FABLE, unitary dilation, Pauli LCU): simulated against W @ x at 1e-10.

Every check loads x̂ = x/‖x‖ directly as the initial state vector on ``registers.input``
(every other qubit |0⟩), simulates in complex128, reads the amplitudes at flags = 0 and
compares ``alpha·ψ`` with ``W x̂``; ``matrix`` is compared with the block of the circuit's
full unitary where that is small.
"""

from __future__ import annotations

import math

import cirq
import numpy as np
import pytest

from qlower.blocks.base import readout
from qlower.blocks.block_encoding import BlockEncoding, block_encoding, choose_method
from qlower.blocks.lcu import pauli_coefficients, pauli_matrix
from qlower.blocks.mux import cnot_control_bits

TOL = 1e-10
SIM = cirq.Simulator(dtype=np.complex128)
PAULI = {
    "I": np.eye(2),
    "X": np.array([[0, 1], [1, 0]]),
    "Y": np.array([[0, -1j], [1j, 0]]),
    "Z": np.diag([1.0, -1.0]),
}


def pauli_string(s: str) -> np.ndarray:
    out = np.ones((1, 1), dtype=complex)
    for ch in s:
        out = np.kron(out, PAULI[ch])
    return out


def rand(shape, complex_, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=shape)
    return W + 1j * rng.normal(size=shape) if complex_ else W


def ceil_log2(n: int) -> int:
    return max(0, (n - 1).bit_length())


def basis_index(qubits, assignment: dict) -> int:
    """Index into a state over ``qubits`` (big-endian) of the basis state ``assignment``."""
    idx = 0
    for q in qubits:
        idx = 2 * idx + assignment.get(q, 0)
    return idx


def bits(value: int, register) -> dict:
    n = len(register)
    return {q: (value >> (n - 1 - i)) & 1 for i, q in enumerate(register)}


def initial_state(be: BlockEncoding, x_hat: np.ndarray) -> np.ndarray:
    psi = np.zeros(1 << len(be.qubits), dtype=np.complex128)
    for j, amp in enumerate(x_hat):
        psi[basis_index(be.qubits, bits(j, be.registers.input))] = amp
    return psi


def apply_block(be: BlockEncoding, x: np.ndarray) -> np.ndarray:
    """alpha · ψ (all 2**len(output) entries) for input x, by simulation."""
    nin = len(be.registers.input)
    x_hat = np.zeros(1 << nin, dtype=np.complex128)
    x_hat[: len(x)] = x / np.linalg.norm(x)
    result = SIM.simulate(be.circuit, qubit_order=be.qubits, initial_state=initial_state(be, x_hat))
    return be.alpha * readout(result.final_state_vector, be.qubits, be.registers) * np.linalg.norm(x)


def circuit_block(be: BlockEncoding) -> np.ndarray:
    """alpha · (flags = 0 block) of the circuit: 2**len(output) × 2**len(input).

    Column j is the circuit applied to the basis input j (one simulation per column).
    """
    columns = []
    for j in range(1 << len(be.registers.input)):
        psi = np.zeros(1 << len(be.qubits), dtype=np.complex128)
        psi[basis_index(be.qubits, bits(j, be.registers.input))] = 1.0
        state = SIM.simulate(be.circuit, qubit_order=be.qubits, initial_state=psi)
        columns.append(readout(state.final_state_vector, be.qubits, be.registers))
    return be.alpha * np.stack(columns, axis=1)


def test_circuit_block_agrees_with_the_full_unitary():
    """The test helper's column-by-column block equals the unitary's flags = 0 block."""
    be = block_encoding(np.array([[1.0, 2.0j, 0.5], [-1.0, 0.25, 3.0]]), "fable")
    U = be.circuit.unitary(qubit_order=be.qubits)
    out, inp = be.registers.output, be.registers.input
    rows = [basis_index(be.qubits, bits(i, out)) for i in range(1 << len(out))]
    cols = [basis_index(be.qubits, bits(j, inp)) for j in range(1 << len(inp))]
    np.testing.assert_allclose(circuit_block(be), be.alpha * U[np.ix_(rows, cols)], atol=1e-12)


def check_block(
    be: BlockEncoding, W: np.ndarray, seed: int = 0, full_unitary: bool = True, exact: float = 1e-11
) -> None:
    """Simulated products, ``matrix``, ``error`` and (small cases) the circuit's block.

    ``exact`` bounds ‖matrix − W‖ relative to max|W|: rounding for FABLE and LCU, whose
    matrices are computed from the emitted angles; QSD's eigendecompositions leave ~1e-11.
    """
    M, N = W.shape
    assert be.shape == (M, N)
    assert set(be.registers.flags) == set(be.qubits) - set(be.registers.output)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        x = rng.normal(size=N) + (1j * rng.normal(size=N) if np.iscomplexobj(W) else 0)
        y = apply_block(be, x)
        np.testing.assert_allclose(y[:M], W @ x, atol=TOL * max(1.0, np.abs(W @ x).max()))
        np.testing.assert_allclose(y[M:], 0, atol=TOL)
    np.testing.assert_allclose(be.matrix, W, rtol=0, atol=exact * np.abs(W).max())
    assert be.error == pytest.approx(np.linalg.norm(be.matrix - W, 2), abs=1e-12)
    assert be.error < exact * np.abs(W).max() * max(M, N)
    if full_unitary:
        block = circuit_block(be)
        np.testing.assert_allclose(block[:M, :N], be.matrix, atol=TOL)
        np.testing.assert_allclose(block[M:, :N], 0, atol=TOL)


STRUCTURED = {
    "identity4": np.eye(4),
    "diag5": np.diag([1.0, -2.0, 0.5, 3.0, -0.25]),
    "pauli_xz": pauli_string("XZ").real,
    "pauli_yiz": pauli_string("YIZ"),
    "low_rank": np.outer([1.0, 2.0, -1.0], [0.5, 0.0, 1.0, -2.0, 1.0]),
}


PAULI_SPARSE = {
    "sparse8": 0.5 * pauli_string("XIZ") - 0.3j * pauli_string("YYI") + 0.2 * pauli_string("ZZZ")
    + 0.7 * pauli_string("III") - 0.1 * pauli_string("IXY"),
    "heisenberg8": sum(pauli_string(a * 2 + "I") + pauli_string("I" + a * 2) for a in "XYZ").real,
    "identity8": np.eye(8),
    "diag4": np.diag([1.0, -2.0, 0.5, 3.0]),
    "single_y": pauli_string("IY"),
}


# --------------------------------------------------------------------------- FABLE

SHAPES = [(1, 1), (2, 4), (3, 5), (4, 4), (5, 3), (8, 8), (1, 3), (3, 1)]


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("shape", SHAPES + [(16, 16)])
def test_fable_random(shape, complex_):
    W = rand(shape, complex_, seed=shape[0] * 31 + shape[1])
    be = block_encoding(W, "fable")
    M, N = shape
    m, n = ceil_log2(M), ceil_log2(N)
    assert be.method == "fable"
    assert len(be.qubits) == 1 + m + n
    assert be.alpha == pytest.approx(np.abs(W).max() * 2 ** ((m + n) / 2), rel=1e-14)
    check_block(be, W, full_unitary=shape != (16, 16))


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_fable_structured(name):
    W = STRUCTURED[name]
    check_block(block_encoding(W, "fable"), W)


def test_fable_registers_and_qubits_argument():
    qs = [cirq.NamedQubit(s) for s in ("a", "r0", "c0", "c1")]
    W = rand((2, 3), False, seed=3)
    be = block_encoding(W, "fable", qubits=qs)
    assert be.registers.output == (qs[1],)
    assert be.registers.input == (qs[2], qs[3])
    assert set(be.registers.flags) == {qs[0], qs[2], qs[3]}
    check_block(be, W)
    with pytest.raises(ValueError, match="expected 4 distinct qubits"):
        block_encoding(W, "fable", qubits=qs[:3])
    with pytest.raises(ValueError, match="distinct"):
        block_encoding(W, "fable", qubits=[qs[0]] * 4)


def test_qubits_argument_orders_for_dilation_and_lcu():
    W = PAULI_SPARSE["sparse8"]  # K = 5 terms: 3 index qubits, 2 ancillas, 3 data qubits
    qs = [cirq.NamedQubit(f"q{i}") for i in range(8)]
    lcu = block_encoding(W, "lcu", qubits=qs)
    assert lcu.registers.input == lcu.registers.output == tuple(qs[5:])
    assert lcu.registers.flags == tuple(qs[:5])
    dil = block_encoding(W, "dilation", qubits=qs[:4])
    assert dil.registers.flags == (qs[0],)
    assert dil.registers.input == dil.registers.output == tuple(qs[1:4])
    check_block(lcu, W, full_unitary=False)
    with pytest.raises(ValueError, match=r"expected 4 distinct qubits \(dilation"):
        block_encoding(W, "dilation", qubits=qs)


def gate_counts(circuit: cirq.Circuit) -> dict:
    counts = {"cnot": 0, "ry": 0, "rz": 0, "other2": 0}
    for op in circuit.all_operations():
        if op.gate == cirq.CNOT:
            counts["cnot"] += 1
        elif isinstance(op.gate, cirq.Ry):
            counts["ry"] += 1
        elif isinstance(op.gate, cirq.Rz):
            counts["rz"] += 1
        elif len(op.qubits) > 1:
            counts["other2"] += 1
    return counts


@pytest.mark.parametrize("shape", [(2, 4), (4, 4), (8, 4), (4, 16), (16, 16)])
def test_fable_exact_counts(shape):
    M, N = shape
    k = ceil_log2(M) + ceil_log2(N)
    real = block_encoding(rand(shape, False, seed=7), "fable")
    assert gate_counts(real.circuit) == {"cnot": M * N, "ry": M * N, "rz": 0, "other2": 0}
    assert real.resources().qubits == k + 1
    assert real.resources().cnots == M * N
    assert real.resources().depth == 2 * M * N  # H_R beside the first Ry, H_C after last use
    # the uncompressed multiplexor is the Gray-code one: CNOT j reads control bit ctz(j+1)
    a, R, C = real.qubits[0], real.qubits[1 : 1 + ceil_log2(M)], real.qubits[1 + ceil_log2(M) :]
    controls = list(R) + list(C)
    got = [op.qubits[0] for op in real.circuit.all_operations() if op.gate == cirq.CNOT]
    assert got == [controls[k - 1 - b] for b in cnot_control_bits(k)]
    assert all(op.qubits[1] == a for op in real.circuit.all_operations() if op.gate == cirq.CNOT)
    cplx = block_encoding(rand(shape, True, seed=7), "fable")
    assert gate_counts(cplx.circuit) == {"cnot": 2 * M * N - 2, "ry": M * N, "rz": M * N, "other2": 0}


def smooth(M: int, N: int) -> np.ndarray:
    i, j = np.arange(M)[:, None], np.arange(N)[None, :]
    return np.exp(-(((i / M) - (j / N)) ** 2) * 3.0) + 0.3 * np.cos(np.pi * j / N)


@pytest.mark.parametrize("shape", [(16, 16), (3, 5), (8, 4)])
def test_fable_compression_matrix_is_exact(shape):
    W = smooth(*shape)
    full = block_encoding(W, "fable")
    be = block_encoding(W, "fable", threshold=3e-2)
    M, N = shape
    # fewer gates, a real approximation error, exactly reported
    assert be.resources().cnots <= full.resources().cnots
    assert gate_counts(be.circuit)["ry"] < gate_counts(full.circuit)["ry"]
    block = circuit_block(be)
    np.testing.assert_allclose(block[:M, :N], be.matrix, atol=TOL)
    padded_target = np.zeros((block.shape[0], N))
    padded_target[:M] = W
    assert be.error == pytest.approx(np.linalg.norm(block[:, :N] - padded_target, 2), abs=1e-10)
    assert be.error >= np.linalg.norm(be.matrix - W, 2) - 1e-12
    assert be.error > 1e-4
    if M == 1 << ceil_log2(M):  # no padded rows: error is exactly ‖matrix − W‖₂
        assert be.error == pytest.approx(np.linalg.norm(be.matrix - W, 2), abs=1e-12)
    # the simulated product follows `matrix`, not W
    x = np.linspace(-1.0, 1.0, N) + 0.1
    np.testing.assert_allclose(apply_block(be, x)[:M], be.matrix @ x, atol=TOL * be.alpha)


def test_fable_compression_counts_for_a_smooth_matrix():
    W = smooth(16, 16)
    counts = [block_encoding(W, "fable", threshold=d).resources() for d in (0.0, 1e-3, 1e-2, 5e-2)]
    cnots = [r.cnots for r in counts]
    rots = [r.rotations for r in counts]
    assert cnots == sorted(cnots, reverse=True) and cnots[-1] < cnots[0] // 2
    assert rots == sorted(rots, reverse=True) and rots[-1] < rots[0] // 2


def test_fable_complex_phases_only():
    """|W_ij| = 1: the Rz multiplexor alone carries W.

    ``|e^{iθ}|`` is 1 only up to rounding, so the Ry angles are ~1e-8 (√ of rounding), not 0;
    a threshold of 1e-6 drops them at an error of ~1e-16.
    """
    rng = np.random.default_rng(5)
    W = np.exp(1j * rng.uniform(-np.pi, np.pi, size=(4, 4)))
    be = block_encoding(W, "fable", threshold=1e-6)
    counts = gate_counts(be.circuit)
    assert counts["ry"] == 0 and counts["rz"] == 16
    check_block(be, W)


# --------------------------------------------------------------------------- dilation


def is_native(op: cirq.Operation) -> bool:
    if not op.qubits:
        return isinstance(op.gate, cirq.GlobalPhaseGate)
    if len(op.qubits) == 1:
        return True
    return op.gate in (cirq.CNOT, cirq.CZ)


def sbm_cnots(nq: int) -> int:
    return round((23 / 48) * 4**nq - 1.5 * 2**nq + 4 / 3)


@pytest.mark.parametrize(
    "shape, complex_",
    [((1, 1), False), ((1, 1), True), ((2, 4), False), ((3, 5), True), ((4, 4), True),
     ((5, 3), False), ((8, 8), False), ((2, 2), True)],
)
def test_dilation_random(shape, complex_):
    W = rand(shape, complex_, seed=11 + shape[0])
    be = block_encoding(W, "dilation")
    q = max(ceil_log2(shape[0]), ceil_log2(shape[1]))
    assert be.method == "dilation"
    assert len(be.registers.flags) == 1 and len(be.qubits) == q + 1
    assert be.registers.input == be.registers.output
    assert be.alpha == pytest.approx(np.linalg.norm(W, 2), rel=1e-14)
    assert all(is_native(op) for op in be.circuit.all_operations())
    # QSD of the (gauged, hence generic) dilation meets the Shende-Bullock-Markov count
    assert be.resources().cnots <= sbm_cnots(q + 1)
    if q >= 2:
        assert be.resources().cnots == sbm_cnots(q + 1)
    check_block(be, W, exact=1e-9)


@pytest.mark.parametrize("name", ["identity4", "pauli_yiz", "low_rank", "sparse8"])
def test_dilation_structured(name):
    """Degenerate spectra: without the gauge, QSD's error on sparse8 is 1e-8."""
    W = {**STRUCTURED, **PAULI_SPARSE}[name]
    check_block(block_encoding(W, "dilation"), W, exact=1e-9)


def test_dilation_refuses_large_sizes():
    with pytest.raises(ValueError, match=r"128x100 matrix needs 8 qubits"):
        block_encoding(np.ones((128, 100)), "dilation")


# --------------------------------------------------------------------------- LCU


def explicit_pauli_sum(c: np.ndarray) -> np.ndarray:
    N = c.shape[0]
    n = ceil_log2(N)
    out = np.zeros((N, N), dtype=complex)
    for x in range(N):
        for z in range(N):
            s = ""
            for j in range(n):
                b = n - 1 - j
                s += "IZXY"[2 * ((x >> b) & 1) + ((z >> b) & 1)]
            out += c[x, z] * pauli_string(s)
    return out


@pytest.mark.parametrize("shape, complex_", [((4, 4), True), ((8, 8), False), ((3, 5), True)])
def test_pauli_coefficients_match_explicit_sum(shape, complex_):
    W = rand(shape, complex_, seed=2)
    c = pauli_coefficients(W)
    padded = np.zeros(c.shape, dtype=complex)
    padded[: shape[0], : shape[1]] = W
    np.testing.assert_allclose(explicit_pauli_sum(c), padded, atol=1e-13)
    np.testing.assert_allclose(pauli_matrix(c), padded, atol=1e-13)


def test_pauli_coefficients_of_known_strings():
    W = 0.5 * pauli_string("XIZ") - 0.3j * pauli_string("YYI") + 0.2 * pauli_string("III")
    c = pauli_coefficients(W)
    expected = np.zeros((8, 8), dtype=complex)
    expected[0b100, 0b001] = 0.5  # X on qubit 0, Z on qubit 2
    expected[0b110, 0b110] = -0.3j  # Y on qubits 0 and 1
    expected[0, 0] = 0.2
    np.testing.assert_allclose(c, expected, atol=1e-15)




@pytest.mark.parametrize("name", sorted(PAULI_SPARSE))
def test_lcu_pauli_sparse(name):
    W = PAULI_SPARSE[name]
    be = block_encoding(W, "lcu")
    c = pauli_coefficients(W)
    c = c[np.abs(c) > 1e-12 * np.abs(c).max()]
    K = len(c)
    L = ceil_log2(K)
    assert be.alpha == pytest.approx(np.abs(c).sum(), rel=1e-14)
    assert len(be.registers.flags) == L + max(L - 1, 0)
    assert all(len(op.qubits) <= 2 for op in be.circuit.all_operations())
    check_block(be, W)


@pytest.mark.parametrize(
    "shape, complex_",
    [((1, 1), False), ((1, 1), True), ((2, 4), True), ((4, 4), False), ((3, 2), True),
     ((2, 3), False)],
)
def test_lcu_random(shape, complex_):
    W = rand(shape, complex_, seed=5 + shape[1])
    be = block_encoding(W, "lcu")
    assert be.method == "lcu"
    check_block(be, W)


def test_lcu_select_cost():
    """Unary iteration: 8 T per splitting node (4 compute, 4 uncompute), no T in PREP."""
    full = block_encoding(rand((4, 4), False, seed=1), "lcu")  # K = 16: 14 splitting nodes
    assert full.resources().t_gates == 8 * 14
    sparse = block_encoding(PAULI_SPARSE["sparse8"], "lcu")  # K = 5: 3 splitting nodes
    assert sparse.resources().t_gates == 8 * 3


def test_lcu_threshold_drops_terms_exactly():
    W = PAULI_SPARSE["sparse8"]
    be = block_encoding(W, "lcu", threshold=0.15)  # drops the 0.1 term
    kept = explicit_pauli_sum(np.where(np.abs(pauli_coefficients(W)) > 0.15, pauli_coefficients(W), 0))
    np.testing.assert_allclose(be.matrix, kept, atol=1e-14)
    assert be.error == pytest.approx(0.1, abs=1e-12)
    assert be.alpha == pytest.approx(0.5 + 0.3 + 0.2 + 0.7)
    np.testing.assert_allclose(circuit_block(be), be.matrix, atol=TOL)


# --------------------------------------------------------------------------- auto, errors


def independent_costs(W) -> dict[str, float]:
    """CNOTs per successful run, ``CNOTs · N α² / ‖W‖_F²``, of each method, from published
    counts (FABLE: 2^(m+n) CNOTs real, α = max|W|·2^((m+n)/2); dilation: SBM on q + 1 qubits,
    α = ‖W‖₂) and, for LCU, the count of its built circuit."""
    M, N = W.shape
    m, n = (int(np.ceil(np.log2(s))) if s > 1 else 0 for s in (M, N))
    q = max(m, n)
    fro = np.sum(np.abs(W) ** 2)
    s1 = np.linalg.svd(W, compute_uv=False)[0]
    fable_cnots = 2 ** (m + n) if not np.iscomplexobj(W) else 2 ** (m + n + 1) - 2
    out = {"fable": fable_cnots * N * (np.abs(W).max() ** 2 * 2 ** (m + n)) / fro}
    if q + 1 <= 7:
        out["dilation"] = sbm_cnots(q + 1) * N * s1**2 / fro
    n = max(q, 1)  # SVD: V† and U by QSD (U up to a diagonal merged into V†), 2^n − 1 flag CZs
    if n + 1 <= 11:
        svd = 1 if n == 1 else 2 * sbm_cnots(n) - 1 + 2**n - 1 - (n == 2 and not np.iscomplexobj(W))
        out["svd"] = svd * N * s1**2 / fro
    mag = np.abs(pauli_coefficients(W))
    if np.count_nonzero(mag > 1e-12 * mag.max()) <= 2**q:
        be = block_encoding(W, "lcu")
        out["lcu"] = be.count().cnots * N * be.alpha**2 / fro
    return out


def test_choose_method_minimises_cnots_per_success():
    pauli16 = 0.5 * pauli_string("XIZY") + 0.25 * pauli_string("ZZII") - 0.1 * pauli_string("IIIX")
    cases = [rand((4, 4), False, seed=0), rand((3, 8), True, seed=0), pauli16, np.eye(32),
             rand((16, 16), False, seed=0), np.diag(np.arange(1.0, 17.0)) + 0.01,
             rand((128, 128), False, seed=1)]
    for W in cases:
        costs = independent_costs(W)
        assert choose_method(W) == min(costs, key=costs.get), costs
    assert choose_method(pauli16) == "lcu"
    assert choose_method(rand((128, 128), False, seed=1)) == "svd"
    assert choose_method(rand((2048, 4), False, seed=1)) == "fable"  # svd stops at 11 qubits
    be = block_encoding(pauli16)
    assert be.method == "lcu"
    check_block(be, pauli16, full_unitary=False)


@pytest.mark.parametrize(
    "W, match",
    [
        (np.array([1.0, 2.0]), "2-D"),
        (np.ones((2, 2, 2)), "2-D"),
        (np.zeros((0, 3)), "non-empty"),
        (np.array([[1.0, np.nan]]), "finite"),
        (np.array([[np.inf, 1.0]]), "finite"),
        (np.zeros((3, 3)), "all-zero"),
        (np.array([["a", "b"]]), "numeric"),
    ],
)
@pytest.mark.parametrize("method", ["auto", "fable", "lcu", "dilation"])
def test_bad_matrices(W, match, method):
    with pytest.raises(ValueError, match=match):
        block_encoding(W, method)


def test_bad_arguments():
    W = np.eye(2)
    with pytest.raises(ValueError, match="unknown block-encoding method"):
        block_encoding(W, "qsvt")
    with pytest.raises(ValueError, match="threshold"):
        block_encoding(W, "fable", threshold=-1.0)
    with pytest.raises(ValueError, match="threshold"):
        block_encoding(W, "fable", threshold=math.nan)
    with pytest.raises(ValueError, match="all-zero"):
        choose_method(np.zeros((2, 2)))
