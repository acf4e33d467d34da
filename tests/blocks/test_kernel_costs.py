"""Resources from structure: what ``estimate``, the ``compile`` table and ``.resources()`` print
is computed from the kernels' ops and the registry's closed forms, and equals the count of the
gates of the circuits ``compile`` builds (depth: a bound that holds)."""

from __future__ import annotations

import onnx
import pytest
from test_quantum_success import CASES, chain

import qlower
from qlower.blocks.circuits import count_resources
from qlower.blocks.registry import as_matrix, block_method
from qlower.ir.opdef import op_def


def exact(graph, op) -> bool:
    """Whether the op's resources count its circuit exactly (blocks: the entry says)."""
    if not op.name.startswith("q.block."):
        return True
    weights = as_matrix(graph.dense(op.operand(1)).array)
    if op.name == "q.block.select":  # its block's entry is its method attribute's
        return block_method(op.attr("method")).counts_exact(weights)
    return op_def(op.name).entry().counts_exact(weights)

KERNEL_CASES = {
    **CASES,
    # a composed chain whose blocks differ (each block reads the low qubits of the last output)
    "compose-mixed": (lambda: chain((5, 6, 4, 3)),
                      {"compose": True, "overrides": {"fc0": "block-encoding:fable",
                                                      "fc1": "block-encoding:dilation",
                                                      "fc2": "block-encoding:fable"}}),
}


@pytest.mark.parametrize("name", sorted(KERNEL_CASES))
def test_structural_counts_are_the_built_circuits(tmp_path, name):
    make, options = KERNEL_CASES[name]
    path = tmp_path / "m.onnx"
    onnx.save(make(), path)
    program = qlower.compile(path, "cirq", **options)
    assert program.kernels
    for kc in program.kernels:
        got = kc.resources()
        want = count_resources(kc.circuit, kc.qubits)
        assert (got.qubits, got.t_gates) == (want.qubits, want.t_gates), kc.name
        counts = lambda r: (r.cnots, r.rotations, r.single_qubit)  # noqa: E731
        if all(exact(program.graph, op) for op in kc.kernel.ops):
            assert counts(got) == counts(want), kc.name
        else:  # a method whose closed forms bound structured data from above
            assert all(g >= w for g, w in zip(counts(got), counts(want))), (kc.name, got, want)
        assert want.depth <= got.depth, kc.name
    # estimate builds nothing and says the same as compile's table, row for row
    est = qlower.estimate(path, **options)
    assert [k.as_dict() for k in est.kernels] == [k.as_dict() for k in program.estimate().kernels]
    assert est.total_dict() == program.estimate().total_dict()
