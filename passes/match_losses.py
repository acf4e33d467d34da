"""match-losses: expanded loss computations become ``nn.mse_loss`` and ``nn.cross_entropy``.

``reduce_mean((a - b)²)`` over all axes (square as ``d * d`` or ``d ** 2``) is
``nn.mse_loss(a, b)``; ``reduce_sum`` gives reduction ``"sum"``. ONNX's
``SoftmaxCrossEntropyLoss`` and ``nll_loss(log_softmax(x, axis=1))`` are ``nn.cross_entropy``.
Intermediates used anywhere else keep the computation as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from qlower.ir import Graph, Op
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, apply_patterns
from qlower.passes.spellings import (
    LOG_SOFTMAX,
    MUL,
    NLL_LOSS,
    POW,
    REDUCE_MEAN,
    REDUCE_SUM,
    SUB,
)


def only_feeds(rw: Rewriter, name: str, user: Op) -> bool:
    """``name`` is used by ``user`` alone (any number of times) and is no graph output."""
    return name not in rw.outputs and all(u is user for u in rw.users(name))


def present(operands: tuple[str | None, ...]) -> list[str | None]:
    """``operands`` without trailing omitted ones."""
    out = list(operands)
    while out and out[-1] is None:
        out.pop()
    return out


def reduces_everything(op: Op, rw: Rewriter) -> bool:
    """The reduction ``op`` sums or averages over all axes to a scalar."""
    rank = rw.tensor_type(op.operand(0)).rank
    if op.name.startswith("nn."):
        axes = op.attr("axes")
        return rank > 0 and not op.attr("keepdims") and {a % rank for a in axes} == set(range(rank))
    if op.attr("keepdims") or op.attr("noop_with_empty_axes"):
        return False
    if op.operand(1) is None:
        return True
    axes = rw.constant(op.operand(1))
    if axes is None or axes.dtype == object:
        return False
    return axes.size == 0 or {int(a) % rank for a in axes.ravel()} == set(range(rank))


def _squared(rw: Rewriter, name: str) -> tuple[Op, str] | None:
    """The op computing ``name = d * d`` or ``d ** 2``, and ``d``."""
    sq = rw.producer_of(name, *MUL, *POW)
    if sq is None:
        return None
    d, other = sq.operands
    if sq.name in MUL:
        return (sq, d) if other == d else None
    return (sq, d) if rw.scalar(other) == 2.0 else None


class MSELoss:
    """``reduce_mean((a - b) ** 2)`` over all axes ⇒ ``nn.mse_loss(a, b)`` (sum: "sum")."""

    roots = REDUCE_MEAN + REDUCE_SUM

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        if not reduces_everything(op, rw):
            return False
        found = _squared(rw, op.operand(0))
        if found is None:
            return False
        sq, d = found
        sub = rw.producer_of(d, *SUB)
        if sub is None or not only_feeds(rw, sq.result().name, op) or not only_feeds(rw, d, sq):
            return False
        a, b = sub.operands
        if not rw.tensor_type(a).dtype.is_float:
            return False
        reduction = "mean" if op.name in REDUCE_MEAN else "sum"
        loc = tuple(dict.fromkeys(sub.loc + sq.loc + op.loc))
        new = rw.build("nn.mse_loss", [a, b], {"reduction": reduction},
                       results=[op.result().name], loc=loc)
        rw.replace(op, [new])
        return True


class SoftmaxCrossEntropy:
    """``onnx.SoftmaxCrossEntropyLoss`` ⇒ ``nn.cross_entropy`` (+ ``nn.log_softmax`` for a
    used log_prob result)."""

    roots = ("onnx.SoftmaxCrossEntropyLoss",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        new = [rw.build("nn.cross_entropy", present(op.operands), dict(op.attrs),
                        results=[op.result().name], loc=op.loc)]
        log_prob = op.results[1] if len(op.results) > 1 else None
        if log_prob is not None and rw.use_count(log_prob.name):
            new.append(rw.build("nn.log_softmax", [op.operand(0)], {"axis": 1},
                                results=[log_prob.name], loc=op.loc))
        rw.replace(op, new)
        return True


class NLLOfLogSoftmax:
    """``nll_loss(log_softmax(x, axis=1), t, w?)`` ⇒ ``nn.cross_entropy(x, t, w?)``."""

    roots = NLL_LOSS

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        lsm = rw.producer_of(op.operand(0), *LOG_SOFTMAX)
        if lsm is None or not only_feeds(rw, op.operand(0), op):
            return False
        x = lsm.operand(0)
        if lsm.attr("axis") % rw.tensor_type(x).rank != 1:
            return False
        loc = tuple(dict.fromkeys(lsm.loc + op.loc))
        new = rw.build("nn.cross_entropy", present((x, *op.operands[1:])), dict(op.attrs),
                       results=[op.result().name], loc=loc)
        rw.replace(op, [new])
        return True


PATTERNS = (MSELoss(), SoftmaxCrossEntropy(), NLLOfLogSoftmax())


@register_pass
@dataclass(frozen=True)
class MatchLosses(TransformPass):
    name = "match-losses"
    summary = "Sub/Mul/ReduceMean to nn.mse_loss; softmax cross entropy to nn.cross_entropy"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(graph, PATTERNS)
