"""Loss functions: ONNX's two class-index losses and the canonical ``nn.*`` losses.

``nn.mse_loss(input, target) {reduction}`` is ``reduce((input - target)²)`` over the broadcast
shape; ``nn.cross_entropy(logits, target, weight?) {reduction, ignore_index?}`` is
``nll_loss(log_softmax(logits, axis=1), target)`` with ONNX's weighting and ignore rules.
"""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects import kernels
from qlower.ir.dialects.elementwise import keep_dtype
from qlower.ir.dialects.shapes import broadcast, require_float, same_dtype
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.types import DType, TensorType

REDUCTIONS = ("none", "sum", "mean")


def _class_loss_types(c: OpContext):
    dt = require_float(c, 0, "scores")
    x, t = c.tensor(0), c.tensor(1)
    if x.rank < 2:
        c.fail(f"scores must be [N, C, ...], got rank {x.rank}")
    if t.dtype not in (DType.I32, DType.I64):
        c.fail(f"target must hold class indices (i32 or i64), got {t.dtype}")
    if t.rank != x.rank - 1:
        c.fail(f"target must have rank {x.rank - 1} ([N, d1, ...]), got {t.rank}")
    expected = (x.dims[0],) + x.dims[2:]
    for i, (a, b) in enumerate(zip(t.dims, expected)):
        if isinstance(a, int) and isinstance(b, int) and a != b:
            c.fail(f"target dimension {i} is {a}, scores say {b}")
    if c.has(2):
        w = c.tensor(2)
        if w.dtype != dt or w.rank != 1:
            c.fail(f"weight must be a 1-D {dt} tensor over classes, got {w}")
        if isinstance(w.dims[0], int) and isinstance(x.dims[1], int) and w.dims[0] != x.dims[1]:
            c.fail(f"weight has {w.dims[0]} entries for {x.dims[1]} classes")
    loss = TensorType(dt, ()) if c.attr("reduction") != "none" else TensorType(dt, t.dims)
    return loss, TensorType(dt, x.dims)


_CLASS_ATTRS = {
    "reduction": Attr("str", "mean", choices=REDUCTIONS),
    "ignore_index": Attr("int", ABSENT),
}


@register_op
class SoftmaxCrossEntropyLoss(OpDef):
    """Cross entropy of softmax(scores, axis=1) against class indices; optional log_prob."""

    name = "onnx.SoftmaxCrossEntropyLoss"
    operands = ("scores", "labels", "weights?")
    results = ("output", "log_prob?")
    attrs = _CLASS_ATTRS

    def infer(self, c):
        return list(_class_loss_types(c))

    def evaluate(self, c, x, t, w=None):
        loss, logp = kernels.softmax_cross_entropy(
            x, t, w, c.attr("reduction"), c.attr("ignore_index", None)
        )
        return (loss, logp)[: len(c.op.results)]


@register_op
class NegativeLogLikelihoodLoss(OpDef):
    """Negative log-likelihood of log-probabilities ``input`` [N, C, ...] at class indices."""

    name = "onnx.NegativeLogLikelihoodLoss"
    operands = ("input", "target", "weight?")
    results = ("loss",)
    attrs = _CLASS_ATTRS

    def infer(self, c):
        return [_class_loss_types(c)[0]]

    def evaluate(self, c, x, t, w=None):
        return kernels.nll_loss(x, t, w, c.attr("reduction"), c.attr("ignore_index", None))


@register_op
class CrossEntropy(OpDef):
    """Cross-entropy loss of logits [N, C, ...] against class indices [N, ...]."""

    name = "nn.cross_entropy"
    operands = ("input", "target", "weight?")
    attrs = _CLASS_ATTRS

    def infer(self, c):
        return [_class_loss_types(c)[0]]

    def evaluate(self, c, x, t, w=None):
        return kernels.softmax_cross_entropy(
            x, t, w, c.attr("reduction"), c.attr("ignore_index", None)
        )[0]


@register_op
class NLLLoss(OpDef):
    """Negative log-likelihood of log-probabilities [N, C, ...] at class indices."""

    name = "nn.nll_loss"
    operands = ("input", "target", "weight?")
    attrs = _CLASS_ATTRS

    def infer(self, c):
        return [_class_loss_types(c)[0]]

    def evaluate(self, c, x, t, w=None):
        return kernels.nll_loss(x, t, w, c.attr("reduction"), c.attr("ignore_index", None))


@register_op
class MSELoss(OpDef):
    """Mean (or summed) squared difference of ``input`` and ``target`` (broadcasting)."""

    name = "nn.mse_loss"
    operands = ("input", "target")
    attrs = {"reduction": Attr("str", "mean", choices=REDUCTIONS)}

    def infer(self, c):
        dt = same_dtype(c, 0, 1)
        require_float(c, 0)
        dims = broadcast(c, c.tensor(0).dims, c.tensor(1).dims)
        return [TensorType(dt, () if c.attr("reduction") != "none" else dims)]

    def evaluate(self, c, x, t):
        d = x - t
        sq = d * d
        red = c.attr("reduction")
        if red == "mean":
            return keep_dtype(np.mean(sq), x)
        if red == "sum":
            return keep_dtype(np.sum(sq), x)
        return keep_dtype(sq, x)
