"""Data FABLE: the symbolic circuit, its host-side angles and its decoded block.

The circuit's block is read off its full Cirq unitary (complex128) with ``readout`` at
flags = 0, compared with ``A / (scale · 2^((m+n)/2))`` at 1e-10; the structure is compared
operation by operation with ``fable.py``'s numeric circuit at threshold 0; resources with
``count_resources`` of the built circuit and with the FABLE registry entry's cost.
"""

from __future__ import annotations

import math
import warnings

import cirq
import numpy as np
import pytest

from qlower.blocks.base import readout
from qlower.blocks.circuits import count_resources
from qlower.blocks.fable import Fable, Multiplexors, fable_alpha, fable_block
from qlower.blocks.fable_data import (
    data_fable_angles,
    data_fable_circuit,
    data_fable_matrix,
    data_fable_resources,
    data_layout,
)
from qlower.blocks.layout import block_layout

TOL = 1e-10
SHAPES = [(1, 3), (3, 1), (4, 4), (5, 3), (3, 7), (8, 2)]


def rand(shape, seed) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def padded(A: np.ndarray) -> np.ndarray:
    M, N = A.shape[-2:]
    m, n = max(0, (M - 1).bit_length()), max(0, (N - 1).bit_length())
    out = np.zeros((*A.shape[:-2], 1 << m, 1 << n))
    out[..., :M, :N] = A
    return out


def circuit_block(block, angles) -> np.ndarray:
    """The block at flags = 0 of the resolved circuit: column j is the readout of U applied
    to the basis state with j on the input register (every other qubit 0)."""
    qubits = block.qubits
    resolved = cirq.resolve_parameters(block.circuit, block.resolver(angles))
    assert not cirq.is_parameterized(resolved)
    U = resolved.unitary(qubit_order=qubits, dtype=np.complex128)
    inputs = block.registers.input
    cols = []
    for j in range(1 << len(inputs)):
        idx = 0
        for q in qubits:
            bit = 0
            if q in inputs:
                pos = inputs.index(q)
                bit = (j >> (len(inputs) - 1 - pos)) & 1
            idx = 2 * idx + bit
        cols.append(readout(U[:, idx], qubits, block.registers))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("shape", SHAPES + [(1, 1), (2, 2), (1, 2)])
def test_layout_is_fables(shape):
    lay = block_layout("fable", *shape)
    assert data_layout(*shape) == (lay.output, lay.input)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("shape", SHAPES)
def test_circuit_block_is_scaled_data(shape, seed):
    A = rand(shape, seed)
    M, N = shape
    m, n = data_layout(M, N)
    block = data_fable_circuit(M, N)
    angles, scale = data_fable_angles(A)
    assert angles.shape == (1 << (m + n),) and scale.shape == ()
    assert scale == np.abs(A).max()
    assert block.alpha * scale == pytest.approx(fable_alpha(A), rel=1e-15)
    got = circuit_block(block, angles)
    assert got.shape == (1 << m, 1 << n)
    want = padded(A) / (scale * 2.0 ** ((m + n) / 2))
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_registers_hold_with_custom_qubit_order():
    # named so that sorting them (the state-vector order) is not the layout order [a] + R + C
    qs = [cirq.NamedQubit(s) for s in ("z_flag", "y_r0", "x_r1", "w_c0", "v_c1")]
    block = data_fable_circuit(3, 4, qubits=qs)
    assert block.registers.output == tuple(qs[1:3])
    assert block.registers.input == tuple(qs[3:])
    assert block.registers.flags == (qs[0], *qs[3:])
    assert block.qubits == tuple(sorted(qs))
    A = rand((3, 4), 7)
    angles, scale = data_fable_angles(A)
    np.testing.assert_allclose(circuit_block(block, angles), padded(A) / (scale * 4.0),
                               rtol=0, atol=TOL)


@pytest.mark.parametrize("shape", SHAPES)
def test_structure_matches_fable_threshold_zero(shape):
    A = rand(shape, 3)
    M, N = shape
    m, n = data_layout(M, N)
    qs = cirq.LineQubit.range(1 + m + n)
    ref = fable_block(A, threshold=0.0, qubits=qs).circuit
    # every rotation survives fable.py's (strict) threshold 0, so the sequences must agree
    assert np.all(np.abs(Multiplexors(A, 0.0).ty) > 0)
    block = data_fable_circuit(M, N, qubits=qs)
    angles, _ = data_fable_angles(A)
    ours = cirq.resolve_parameters(block.circuit, block.resolver(angles))
    assert len(ours) == len(ref)
    for mo, mr in zip(ours, ref):
        assert len(mo) == len(mr)
        for po, pr in zip(mo, mr):
            assert po.qubits == pr.qubits
            go, gr = po.gate, pr.gate
            if isinstance(gr, cirq.YPowGate):
                assert isinstance(go, cirq.YPowGate)
                assert float(go.exponent) == pytest.approx(float(gr.exponent), abs=1e-12)
                assert go.global_shift == gr.global_shift
            else:
                assert go == gr and gr in (cirq.H, cirq.CNOT)


def test_angles_are_fables_angles():
    for shape in SHAPES:
        A = rand(shape, 11)
        angles, _ = data_fable_angles(A)
        np.testing.assert_allclose(angles, Multiplexors(A, 0.0).ty, rtol=0, atol=1e-13)


def test_batch_equals_per_matrix():
    A = rand((2, 3, 5, 3), 5)
    A[1, 2] = 0.0  # a zero matrix inside the batch
    A[0, 1] *= 1e-8
    angles, scale = data_fable_angles(A)
    assert angles.shape == (2, 3, 32) and scale.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            a1, s1 = data_fable_angles(A[i, j])
            assert scale[i, j] == s1
            np.testing.assert_allclose(angles[i, j], a1, rtol=0, atol=1e-14)
    rows = A.reshape(6, 5, 3)
    a6, s6 = data_fable_angles(rows)
    np.testing.assert_allclose(a6.reshape(2, 3, 32), angles, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(s6.reshape(2, 3), scale)
    # and the circuit for one batch entry encodes that entry
    block = data_fable_circuit(5, 3)
    got = circuit_block(block, angles[0, 1])
    np.testing.assert_allclose(got, padded(A[0, 1]) / (scale[0, 1] * 2.0 ** 2.5),
                               rtol=0, atol=TOL)


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (5, 3)])
def test_zero_matrix(shape):
    M, N = shape
    m, n = data_layout(M, N)
    L = 1 << (m + n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        angles, scale = data_fable_angles(np.zeros(shape))
        block = data_fable_matrix(angles, M, N)
    assert scale == 0.0
    # every entry encoded as 0: per-pattern angle pi, i.e. t = (pi, 0, ..., 0)
    want = np.zeros(L)
    want[0] = np.pi
    np.testing.assert_allclose(angles, want, rtol=0, atol=1e-15)
    np.testing.assert_allclose(block, 0.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(circuit_block(data_fable_circuit(M, N), angles), 0.0,
                               rtol=0, atol=TOL)
    assert np.all(block * scale * math.sqrt(L) == 0.0)


@pytest.mark.parametrize("shape", SHAPES + [(1, 1)])
def test_matrix_round_trip(shape):
    A = rand((4, *shape), 9)
    M, N = shape
    m, n = data_layout(M, N)
    angles, scale = data_fable_angles(A)
    back = data_fable_matrix(angles, M, N) * scale[:, None, None] * 2.0 ** ((m + n) / 2)
    assert back.shape == (4, 1 << m, 1 << n)
    np.testing.assert_allclose(back, padded(A), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 3), (4, 4), (3, 7)])
def test_matrix_is_circuit_block_for_any_angles(shape):
    # arbitrary angles, not from data: the decoded block is what the circuit implements
    M, N = shape
    block = data_fable_circuit(M, N)
    angles = np.random.default_rng(4).uniform(-7.0, 7.0, size=len(block.symbols))
    np.testing.assert_allclose(circuit_block(block, angles),
                               data_fable_matrix(angles, M, N), rtol=0, atol=TOL)


def test_symbols_in_emission_order():
    block = data_fable_circuit(3, 2, prefix="k7")
    assert [s.name for s in block.symbols] == [f"k7_{i}" for i in range(8)]
    rots = [op for op in block.circuit.all_operations() if isinstance(op.gate, cirq.YPowGate)]
    assert len(rots) == 8
    assert [cirq.parameter_symbols(op) for op in rots] == [{s} for s in block.symbols]
    assert cirq.parameter_names(block.circuit) == {f"k7_{i}" for i in range(8)}


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (4, 4),
                                   (5, 3), (3, 7), (8, 2), (1, 16), (16, 1), (9, 17)])
def test_resources_closed_form(shape):
    M, N = shape
    m, n = data_layout(M, N)
    block = data_fable_circuit(M, N)
    res = data_fable_resources(M, N)
    assert res == count_resources(block.circuit, block.qubits)
    assert block.resources() == res
    L = 1 << (m + n)
    assert res.cnots == (L if m + n else 0) and res.rotations == L
    assert res.qubits == 1 + m + n
    if m + n == 0:
        return  # 1x1: fable.py's only angle is 0 or 2*pi (dropped or Clifford there)
    # fable.py's entry costs the same circuit for generic data (no angle 0 or Clifford)
    A = rand(shape, 2)
    assert np.all(np.abs(Multiplexors(A, 0.0).ty) > 0)
    assert Fable().cost(A, {"threshold": 0.0}) == res


def test_errors():
    with pytest.raises(ValueError, match="^data FABLE takes real data, got a complex array$"):
        data_fable_angles(np.ones((2, 2), dtype=complex))
    with pytest.raises(ValueError, match=r"^data FABLE needs data of shape \[\.\.\., M, N\], "
                                         r"got shape \(3,\)$"):
        data_fable_angles(np.ones(3))
    with pytest.raises(ValueError, match="^data FABLE needs finite data$"):
        data_fable_angles(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="^data FABLE needs a non-empty matrix, got 0x2$"):
        data_layout(0, 2)
    with pytest.raises(ValueError, match=r"^expected 8 angles on the last axis for a 3x2 data "
                                         r"FABLE, got shape \(2, 4\)$"):
        data_fable_matrix(np.zeros((2, 4)), 3, 2)
    with pytest.raises(ValueError, match=r"^expected 4 distinct qubits \(data fable: \[a\] \+ R "
                                         r"\(2\) \+ C \(1\)\), got 3 \(3 distinct\)$"):
        data_fable_circuit(3, 2, qubits=cirq.LineQubit.range(3))
    block = data_fable_circuit(3, 2)
    with pytest.raises(ValueError, match=r"^expected data of shape \[\.\.\., 3, 2\], "
                                         r"got shape \(2, 3\)$"):
        block.angles(np.ones((2, 3)))
    np.testing.assert_array_equal(block.angles(np.ones((3, 2)))[0],
                                  data_fable_angles(np.ones((3, 2)))[0])
