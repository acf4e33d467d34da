"""The residual add as a kernel (``nn.add`` of two branches, ``strategy = quantum``).

``y = a + b`` for two activations of one shape: a linear combination of unitaries with
``SELECT = I`` (``qlower.blocks.combine``). The branches and a sign offset ``τ`` are stacked on
one register (``u = [a; b; τ·1]``, each on a slot of ``K = 2**⌈log₂ M⌉`` entries), amplitude-
encoded, and ``PREP†`` of ``(1, 1, 1)/√3`` on the two selector qubits leaves
``(a + b + τ)/(√3 ‖u‖)`` at flags = 0::

    %u2  = host.stack(%a, %b) {size = K}
    %t   = host.offset(%u2) {bound = 1.4142}         τ = √2 ‖[a; b]‖ >= ‖a + b‖ >= |a_i + b_i|
    %u   = host.stack(%a, %b, %t) {size = K}
    %nu  = host.norm(%u)
    %ang = host.amplitude_angles(%u) {size = 4K}
    %s0  = q.encode.amplitude(%ang) {size = 4K}
    %s1  = q.block.combine(%s0, %C) {alpha = 1.7321}
    %psi = q.readout(%s1) {nonnegative = true, size = M}
    %y   = host.rescale(%psi, %nu, %alpha, %t) {shift = 1.0}   y = √3 ‖u‖ ψ − τ

The offset makes every output non-negative, so shots read it without signs. Cost: the
preparation of ``4K`` entries and one CNOT (``PREP†`` on two qubits).
"""

from __future__ import annotations

import math

import numpy as np

from qlower.blocks.layout import ceil_log2
from qlower.ir import Op
from qlower.passes.lower_quantum import (
    encode_and_block,
    known_sweeps,
    lowering,
    static_size,
    unsupported,
)
from qlower.passes.rewrite import Rewriter


def combination(M: int, c) -> np.ndarray:
    """``[c_0 E | c_1 E | …]``, ``E = [I_M 0]`` of ``M × 2**⌈log₂ M⌉``."""
    K = 1 << ceil_log2(M)
    W = np.zeros((M, len(c) * K))
    for j, cj in enumerate(c):
        W[:, j * K: j * K + M] = cj * np.eye(M)
    return W


def is_residual(rw: Rewriter, op: Op) -> bool:
    """Two activations of one shape (a bias or a broadcast add is not a residual)."""
    a, b = op.operand(0), op.operand(1)
    return (rw.constant(a) is None and rw.constant(b) is None
            and rw.tensor_type(a).dims == rw.tensor_type(b).dims)


@lowering("nn.add", "quantum", applies=is_residual)
def lower_residual(rw: Rewriter, op: Op, options) -> list[Op]:
    a, b = op.operand(0), op.operand(1)
    out = op.result().name
    ta, tb = rw.tensor_type(a), rw.tensor_type(b)
    if rw.constant(a) is not None or rw.constant(b) is not None:
        raise unsupported(op, "quantum", "one operand is a constant (a bias, not a residual "
                          "branch: fold it into the layer before)")
    if ta.dims != tb.dims or ta.rank < 1:
        raise unsupported(op, "quantum", f"the branches must have one shape of rank >= 1, got "
                          f"{ta} and {tb}")
    if not ta.dtype.is_float:
        raise unsupported(op, "quantum", f"the branches are not floating point ({ta.dtype})")
    M = static_size(rw, op, "quantum", a, "the feature axis")
    known_sweeps(rw, op, "quantum", a)
    K = 1 << ceil_log2(M)
    u2 = rw.build("host.stack", [a, b], {"size": K}, results=[rw.fresh(f"{out}.pair")], loc=op.loc)
    t = rw.build("host.offset", [u2.result().name], {"bound": math.sqrt(2.0)},
                 results=[rw.fresh(f"{out}.offset")], loc=op.loc)
    u = rw.build("host.stack", [a, b, t.result().name], {"size": K},
                 results=[rw.fresh(f"{out}.stacked")], loc=op.loc)
    ops, state, norm, alpha = encode_and_block(rw, op, u.result().name,
                                               combination(M, (1.0, 1.0, 1.0)), out, "combine")
    rd = rw.build("q.readout", [state], {"size": M, "nonnegative": True},
                  results=[rw.fresh(f"{out}.psi")], loc=op.loc)
    alpha_c = rw.add_constant(np.array(alpha, dtype=np.float64), f"{out}.alpha")
    y = rw.build("host.rescale", [rd.result().name, norm, alpha_c, t.result().name],
                 {"dtype": ta.dtype, "shift": 1.0}, results=[out], loc=op.loc)
    return [u2, t, u, *ops, rd, y]
