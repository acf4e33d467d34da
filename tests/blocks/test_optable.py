"""Operation tables: the same operations as Cirq's, moments without a circuit, and the block
methods' tables against gate-by-gate references."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy

from qlower.blocks import optable as ot
from qlower.blocks.circuits import packed_circuit
from qlower.blocks.fable import Fable, Multiplexors, fable_table
from qlower.blocks.optable import OpTable, gates_table
from qlower.blocks.qsd import gates_unitary, qsd_gates
from qlower.blocks.registry import block_method


def random_ops(rng, n_qubits: int, count: int) -> list:
    """Operations of every row kind, and others (Toffolis, global phases, a controlled op)."""
    q = cirq.LineQubit.range(n_qubits)
    sym = [sympy.Symbol(f"s_{i}") for i in range(3)]
    pxz = [cirq.PhasedXZGate(x_exponent=float(rng.uniform(-1, 1)), z_exponent=float(
        rng.uniform(-1, 1)), axis_phase_exponent=float(rng.uniform(-1, 1))) for _ in range(3)]
    out = []
    for _ in range(count):
        a, b, c = (q[i] for i in rng.permutation(n_qubits)[:3])
        angle, s = float(rng.uniform(-4, 4)), sym[int(rng.integers(3))]
        out.append([
            cirq.H(a), cirq.CNOT(a, b), cirq.CZ(a, b), cirq.Ry(rads=angle)(a),
            cirq.Rz(rads=angle)(a), cirq.Ry(rads=s)(a), cirq.Rz(rads=s)(a),
            pxz[int(rng.integers(3))](a),  # a shared gate object
            cirq.CCX(a, b, c), cirq.GlobalPhaseGate(1j)(),
            cirq.X(a).controlled_by(b),  # a ControlledOperation
        ][int(rng.integers(11))])
    return out


@pytest.mark.parametrize("seed", range(12))
def test_a_table_gives_back_its_operations_and_their_moments(seed):
    rng = np.random.default_rng(seed)
    ops = random_ops(rng, 4, 60)
    table = OpTable.from_operations(ops)
    assert len(table) == len(ops)
    back = table.operations()
    assert back == ops
    circuit = packed_circuit(ops)
    assert table.circuit() == circuit
    # the moment of each row, and the order of the circuit's operations, without the circuit
    moment_of = {}
    for m, moment in enumerate(circuit):
        for op in moment:
            moment_of[id(op)] = m
    assert table.layers().tolist() == [moment_of[id(op)] for op in ops]
    assert [back[i] for i in table.packed_order()] == list(circuit.all_operations())
    assert table.in_moment_order().circuit() == circuit
    assert table.used_qubits() == circuit.all_qubits()


def test_only_exact_gates_become_typed_rows():
    q = cirq.LineQubit.range(2)
    ops = [cirq.H(q[0]), cirq.HPowGate(exponent=1)(q[0]), cirq.CNOT(q[0], q[1]),
           cirq.CXPowGate(exponent=1.0, global_shift=0.1)(q[0], q[1]), cirq.Ry(rads=0.5)(q[0]),
           cirq.Ry(rads=np.float64(0.5))(q[0]), cirq.Ry(rads=2 * sympy.Symbol("a"))(q[0]),
           cirq.Ry(rads=3)(q[0]), cirq.ry(0.5).on(q[0]).with_tags("t"),
           cirq.PhasedXZGate(x_exponent=sympy.Symbol("b"), z_exponent=0, axis_phase_exponent=0)(q[0])]
    kinds = [ot.KIND_NAMES[k] for k in OpTable.from_operations(ops).kind.tolist()]
    assert kinds == ["H", "OP", "CX", "OP", "RY", "RY", "OP", "OP", "OP", "OP"]
    assert OpTable.from_operations(ops).operations() == ops


def test_concat_gathers_rows_in_the_given_orders():
    rng = np.random.default_rng(7)
    a = OpTable.from_operations(random_ops(rng, 3, 30))
    q = cirq.LineQubit.range(2, 6)  # overlapping qubits, other gates, the same symbols
    b = OpTable.from_operations([op.transform_qubits(lambda x: q[x.x])
                                 for op in random_ops(rng, 4, 40)])
    order = rng.permutation(len(b))
    joined = OpTable.concat([a, b], [None, order])
    want = a.operations() + [b.operations()[i] for i in order]
    assert joined.operations() == want
    assert len(joined.qubits) == 6 and len(joined.symbols) == 3
    view = joined.rows(len(a), len(joined))
    assert view.operations() == [b.operations()[i] for i in order]
    assert np.shares_memory(view.kind, joined.kind)


def test_on_relabels_qubits():
    ops = random_ops(np.random.default_rng(2), 3, 20)
    table = OpTable.from_operations(ops)
    new = [cirq.NamedQubit(f"n{i}") for i in range(len(table.qubits))]
    moved = table.on(new)
    mapping = dict(zip(table.qubits, new))
    from qlower.blocks.circuits import fast_op

    assert moved.operations() == [op if not op.qubits else fast_op(op.gate, tuple(
        mapping[x] for x in op.qubits)) for op in ops]
    with pytest.raises(ValueError, match="distinct qubits"):
        table.on(new[:1] * len(new))


@pytest.mark.parametrize("seed", range(4))
def test_gates_table_implements_the_gate_list(seed):
    rng = np.random.default_rng(seed)
    m = 3
    z = rng.standard_normal((8, 8)) + 1j * rng.standard_normal((8, 8))
    u, _ = np.linalg.qr(z)
    gates, gamma, _ = qsd_gates(u)
    table, delta = gates_table(gates, cirq.LineQubit.range(m))
    got = cirq.unitary(cirq.Circuit(table.operations())) * np.exp(1j * delta)
    np.testing.assert_allclose(got, gates_unitary(gates), atol=1e-10)
    np.testing.assert_allclose(np.exp(1j * gamma) * got, u, atol=1e-9)


def fable_ops_reference(mx: Multiplexors, qs) -> list:
    """FABLE's operations one by one from the multiplexor table (the construction the table
    replaces): H on R, per rotation its code's CNOTs (lowest bit first) and the rotation, the
    last CNOTs, H on C."""
    m, k = mx.m, mx.k
    a, controls = qs[0], qs[1:]
    ops = [cirq.H(x) for x in qs[1:1 + m]]
    flips = mx.cnot_bits().tolist()
    for i in range(len(mx.angles) + 1):
        ops += [cirq.CNOT(controls[k - 1 - b], a) for b in range(k) if flips[i] >> b & 1]
        if i < len(mx.angles):
            gate = cirq.Ry if mx.kinds[i] == 0 else cirq.Rz
            ops.append(gate(rads=float(mx.angles[i]))(a))
    return ops + [cirq.H(x) for x in qs[1 + m:]]


@pytest.mark.parametrize("shape, complex_, threshold", [
    ((1, 4), False, 0.0), ((4, 1), True, 0.0), ((3, 5), False, 0.0), ((8, 8), True, 0.0),
    ((8, 8), False, 0.4), ((16, 4), True, 0.3), ((2, 2), False, 10.0)])
def test_the_fable_table_is_fables_circuit(shape, complex_, threshold):
    rng = np.random.default_rng(sum(shape))
    W = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if complex_ else 0)
    mx = Multiplexors(W, threshold)
    qs = cirq.LineQubit.range(1 + mx.k)
    assert fable_table(mx, qs).operations() == fable_ops_reference(mx, qs)
    tb = Fable().build_table(W, {"threshold": threshold})
    assert tb.circuit == Fable().build(W, {"threshold": threshold}).circuit


@pytest.mark.parametrize("method", ["fable", "svd", "dilation", "lcu"])
def test_build_table_is_the_blocks_circuit(method):
    rng = np.random.default_rng(5)
    W = rng.standard_normal((4, 3))
    entry = block_method(method)
    params = entry.plan(W)
    tb, be = entry.build_table(W, params), entry.build(W, params)
    assert tb.circuit == be.circuit
    assert (tb.alpha, tb.registers, tb.method, tb.shape) == (be.alpha, be.registers, be.method,
                                                             be.shape)
