"""The Cirq emitter on its own: one emission function per q op, walked in kernel order."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from qlower.backends.cirq_emitter import EMITTERS, build_kernel
from qlower.ir import parse
from qlower.ir.opdef import registered_ops
from qlower.passes.partition import partition

DENSE = """graph @g(%a: tensor<3xf64>) {
  const %w: tensor<2x3xf32> = dense<[[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]]>
  %s = q.encode.amplitude(%a) {size = 4} : !q.state<shape = [], data = 2, flags = 0>
  %t = q.block.METHOD(%s, %w) {alpha = ALPHA} : !q.state<shape = [], data = DATA, flags = FLAGS>
  %r = q.readout(%t) {nonnegative = false, size = 2} : tensor<2xf64>
  return %r
}
"""


def test_every_q_op_has_an_emission():
    q_ops = [name for name in registered_ops() if name.startswith("q.")]
    assert q_ops and sorted(set(q_ops) - set(EMITTERS)) == []


@pytest.mark.parametrize("method, alpha, data, flags", [
    ("svd", 2.769938442419126, 2, 1), ("dilation", 2.769938442419126, 2, 1)])
def test_a_block_kernel_is_the_blocks_circuit_after_the_preparation(method, alpha, data, flags):
    text = (DENSE.replace("METHOD", method).replace("ALPHA", repr(alpha))
            .replace("DATA", str(data)).replace("FLAGS", str(flags)))
    g = parse(text)
    (kernel,) = partition(g)
    kc = build_kernel(g, kernel)
    assert kc.method == method and kc.readout == "amplitudes" and kc.alpha == alpha
    assert len(kc.qubits) == data + flags
    # the preparation runs on the block's input register (its qubit numbering is the block's)
    assert set(kc.registers.input) == set(kc.blocks[0].registers.input)
    # exact: the amplitudes at flags = 0 are W x̂ / alpha for the prepared x̂
    x = np.array([0.3, -1.2, 0.7])
    from qlower.blocks.semantics import encoding_angles

    angles = encoding_angles(x, 4)
    state = cirq.Simulator(dtype=np.complex128).simulate(
        kc.circuit, kc.resolvers(angles)[0], qubit_order=kc.qubits).final_state_vector
    w = np.array([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]])
    np.testing.assert_allclose(kc.exact(state), w @ x / np.linalg.norm(x) / alpha, atol=1e-6)


def test_a_hadamard_test_after_a_block_is_refused():
    text = """graph @g(%a: tensor<7xf64>) {
  const %w: tensor<2x2xf32> = dense<[[1.0, 0.0], [0.0, 1.0]]>
  %s = q.encode.amplitude(%a) {size = 8} : !q.state<shape = [], data = 3, flags = 0>
  %t = q.block.svd(%s, %w) {alpha = 1.0} : !q.state<shape = [], data = 1, flags = 3>
  %r = q.overlap(%t) : tensor<f64>
  return %r
}
"""
    g = parse(text)
    (kernel,) = partition(g)
    with pytest.raises(ValueError, match="kernel k0: a Hadamard test reads a prepared state "
                                         "directly"):
        build_kernel(g, kernel)
