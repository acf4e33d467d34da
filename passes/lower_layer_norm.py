"""Layer norm as a kernel (``nn.layer_norm`` over the last axis, ``strategy = quantum``;
LOWERINGS §6, ``qlower.blocks.centring``).

``LN(x) = γ ⊙ (x − μ)/√(σ² + ε) + β`` is exact: the centring ``I − |u⟩⟨u|`` (a reflection with
one flag) and ``diag(γ/max|γ|)`` (an Ry-multiplexor on a second flag) are one block of the
constant matrix ``diag(γ)(I − 1·1ᵀ/N)``, alpha = ``max|γ|``, applied to the amplitude encoding
of ``x``; the read-out is ``γ ⊙ (x − μ)/(max|γ| ‖x‖)``, and the host scale ``‖x‖/√(σ² + ε)``
(ε honoured) and ``β`` give the layer's values::

    %nx  = host.ln_scale(%x) {epsilon = ε}                  ‖x‖ / √(σ² + ε)
    %ang = host.amplitude_angles(%x) {size = 2**n}
    %s0  = q.encode.amplitude(%ang) {size = 2**n}
    %s1  = q.block.centring(%s0, %Wc) {alpha = max|γ|}
    %psi = q.readout(%s1) {nonnegative = false, size = N}
    %y   = host.rescale(%psi, %nx, %alpha, %beta)

The outputs have signs, so the kernel reads exactly (a shot run is refused, saying so): an
offset column would break the centring's structure.

``dense`` — the same matrix ``W_c = diag(γ)(I − 1·1ᵀ/N)`` as a dense layer (``lower-linear``'s
block encoding, ``auto`` method, with its sign-offset column, so shots read it), then
``y = W_c x / √(σ² + ε) + β`` on the host (``host.normalize``).
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.layout import ceil_log2
from qlower.ir import Op
from qlower.passes.lower_quantum import known_sweeps, lowering, static_size, unsupported
from qlower.passes.rewrite import Rewriter


def _checked(rw: Rewriter, op: Op, strategy: str):
    """``(N, γ, β or None)`` of a layer norm the lowerings apply to."""
    x = op.operand(0)
    t = rw.tensor_type(x)
    if t.rank < 1 or op.attr("axis") % t.rank != t.rank - 1:
        raise unsupported(op, strategy, "it normalises over more than the last axis")
    N = static_size(rw, op, strategy, x, "the normalised axis")
    if N < 2:
        raise unsupported(op, strategy, "one entry normalises to its bias")
    known_sweeps(rw, op, strategy, x)
    gamma = rw.constant(op.operand(1))
    beta = rw.constant(op.operand(2)) if op.operand(2) is not None else None
    if gamma is None or (op.operand(2) is not None and beta is None):
        raise unsupported(op, strategy, "its scale and bias are not constants")
    gamma = np.broadcast_to(gamma.astype(np.float64), (N,))
    if not np.any(gamma):
        raise unsupported(op, strategy, "its scale is zero (the output is its bias)")
    beta = None if beta is None else np.broadcast_to(beta.astype(np.float64), (N,)).copy()
    return N, gamma, beta


@lowering("nn.layer_norm", "dense")
def lower_layer_norm_dense(rw: Rewriter, op: Op, options) -> list[Op]:
    from qlower.blocks.centring import centring_matrix
    from qlower.passes.lower_linear import lower_chain

    x, out = op.operand(0), op.result().name
    N, gamma, beta = _checked(rw, op, "dense")
    dtype = rw.tensor_type(out).dtype
    w = rw.add_constant(centring_matrix(gamma).astype(dtype.numpy), f"{out}.centring")
    mid = rw.fresh(f"{out}.centred")
    lin = rw.build("nn.linear", [x, w], results=[mid], loc=op.loc)
    ops = lower_chain(rw, [lin], ["auto"], 0.0, "offset")
    operands = [mid, x] + ([rw.add_constant(beta, f"{out}.beta")] if beta is not None else [])
    y = rw.build("host.normalize", operands, {"epsilon": float(op.attr("epsilon")),
                                              "dtype": dtype}, results=[out], loc=op.loc)
    return [*ops, y]


@lowering("nn.layer_norm", "quantum")
def lower_layer_norm(rw: Rewriter, op: Op, options) -> list[Op]:
    from qlower.blocks.centring import centring_matrix
    from qlower.blocks.registry import plan_block

    x, out = op.operand(0), op.result().name
    t = rw.tensor_type(x)
    N, gamma, beta = _checked(rw, op, "quantum")
    W = centring_matrix(gamma)
    method, attrs = plan_block(W, "centring")
    size = 1 << max(1, ceil_log2(N))
    loc = op.loc
    nx = rw.build("host.ln_scale", [x], {"epsilon": float(op.attr("epsilon"))},
                  results=[rw.fresh(f"{out}.scale")], loc=loc)
    ang = rw.build("host.amplitude_angles", [x], {"size": size},
                   results=[rw.fresh(f"{out}.angles")], loc=loc)
    st = rw.build("q.encode.amplitude", [ang.result().name], {"size": size},
                  results=[rw.fresh(f"{out}.state")], loc=loc)
    w_name = rw.add_constant(W, f"{out}.centring")
    blk = rw.build("q.block.centring", [st.result().name, w_name], attrs,
                   results=[rw.fresh(f"{out}.encoded")], loc=loc)
    psi = rw.build("q.readout", [blk.result().name], {"size": N, "nonnegative": False},
                   results=[rw.fresh(f"{out}.psi")], loc=loc)
    alpha = rw.add_constant(np.array(attrs["alpha"], dtype=np.float64), f"{out}.alpha")
    operands = [psi.result().name, nx.result().name, alpha]
    if beta is not None:
        b_name = rw.add_constant(beta, f"{out}.beta")
        operands += [None, b_name]
    y = rw.build("host.rescale", operands, {"dtype": t.dtype}, results=[out], loc=loc)
    return [nx, ang, st, blk, psi, y]
