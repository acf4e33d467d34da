"""The softmax lowerings (``nn.softmax`` with ``strategy = exact`` or ``qsp``).

``exact`` — scores known to the host (``qlower.blocks.softmax``)::

    %ang = host.softmax_angles(%s) {size = 2**ℓ}     flag angles: cos(θ_k/2) = e^{(s_k − max s)/2}
    %st  = q.encode.softmax(%ang) {size = 2**ℓ}      ℓ index qubits in |+⟩, one flag
    %p   = q.probabilities(%st) {size = L}           P(k | flag = 0) = softmax(s)_k
    %y   = host.cast(%p) {dtype = <dtype>}

``qsp`` — the scores enter as signal rotations and the exponential is a QSP polynomial
(``qlower.blocks.softmax_qsp``); its degree is the least that keeps the total-variation distance
to softmax within ``--epsilon`` for scores spanning at most ``--score-range``::

    %ang = host.qsp_softmax_angles(%s) {range = R, size = 2**ℓ}
    %st  = q.encode.softmax_qsp(%ang) {phases = [...], poly_error = δ, tv_bound = ε', ...}
    %p   = q.probabilities(%st) {size = L}
    %y   = host.cast(%p) {dtype = <dtype>}

One kernel run per index of the leading axes; a softmax over another axis is transposed to the
last one and back. The success probability ``Σ e^{s − max s}/L`` is at least ``1/L``.
"""

from __future__ import annotations

from qlower.blocks.softmax import index_qubits
from qlower.ir import Op
from qlower.passes.lower_quantum import known_sweeps, lowering, static_size, unsupported
from qlower.passes.rewrite import Rewriter


def _last_axis(rw: Rewriter, op: Op, strategy: str, body) -> list[Op]:
    """``body(rw, x, out) -> ops`` on the softmax axis moved last (a transpose each way when
    it is not last already)."""
    x, out = op.operand(0), op.result().name
    rank = rw.tensor_type(x).rank
    if rank == 0:
        raise unsupported(op, strategy, "a scalar has no axis to normalise")
    axis = op.attr("axis") % rank
    if axis == rank - 1:
        return body(x, out)
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    xt = rw.build("nn.transpose", [x], {"perm": tuple(perm)}, results=[rw.fresh(f"{x}.T")],
                  loc=op.loc)
    yt = rw.fresh(f"{out}.T")
    inner = body(xt.result().name, yt)
    back = rw.build("nn.transpose", [yt], {"perm": tuple(perm)}, results=[out], loc=op.loc)
    return [xt, *inner, back]


def _softmax_kernel(rw: Rewriter, op: Op, strategy: str, prepare) -> list[Op]:
    """The kernel that reads a softmax state's Born probabilities; ``prepare(x, out, L, size)``
    gives the ops up to the state and its name (the two strategies differ only there)."""
    dtype = rw.tensor_type(op.result().name).dtype

    def body(x: str, out: str) -> list[Op]:
        L = static_size(rw, op, strategy, x, "the softmax axis")
        known_sweeps(rw, op, strategy, x)
        if L < 1:
            raise unsupported(op, strategy, "the softmax axis is empty")
        ops, state = prepare(x, out, L, 1 << index_qubits(L))
        p = rw.build("q.probabilities", [state], {"size": L},
                     results=[rw.fresh(f"{out}.p")], loc=op.loc)
        y = rw.build("host.cast", [p.result().name], {"dtype": dtype}, results=[out], loc=op.loc)
        return [*ops, p, y]

    return _last_axis(rw, op, strategy, body)


@lowering("nn.softmax", "exact")
def lower_softmax_exact(rw: Rewriter, op: Op, options) -> list[Op]:
    def prepare(x, out, L, size):
        ang = rw.build("host.softmax_angles", [x], {"size": size},
                       results=[rw.fresh(f"{out}.angles")], loc=op.loc)
        st = rw.build("q.encode.softmax", [ang.result().name], {"size": size},
                      results=[rw.fresh(f"{out}.state")], loc=op.loc)
        return [ang, st], st.result().name

    return _softmax_kernel(rw, op, "exact", prepare)


@lowering("nn.softmax", "qsp")
def lower_softmax_qsp(rw: Rewriter, op: Op, options) -> list[Op]:
    from qlower.blocks.qsp import softmax_qsp_plan

    def prepare(x, out, L, size):
        try:
            plan = softmax_qsp_plan(options.score_range, options.epsilon, L)
        except ValueError as e:
            raise unsupported(op, "qsp", str(e)) from None
        ang = rw.build("host.qsp_softmax_angles", [x], {"size": size, "range": plan.R},
                       results=[rw.fresh(f"{out}.angles")], loc=op.loc)
        st = rw.build("q.encode.softmax_qsp", [ang.result().name],
                      {"size": size, "phases": tuple(float(p) for p in plan.phases),
                       "range": plan.R, "poly_error": float(plan.poly_error),
                       "tv_bound": float(plan.tv_bound)},
                      results=[rw.fresh(f"{out}.state")], loc=op.loc)
        return [ang, st], st.result().name

    return _softmax_kernel(rw, op, "qsp", prepare)
