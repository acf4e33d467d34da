"""The expanded attention pattern: ``matmul(softmax(mask(scale(q @ kᵀ))), v)`` → ``nn.attention``.

Scores ``S`` may be scaled by scalar constants on ``q``, on ``kᵀ`` (before or after the
transpose) or after the product (``* c`` or ``/ c``); the scale is the float64 product of the
factors. A mask is ``S + M`` (either order) or ``where(B, S, -inf or <= -1e9)``; a constant
causal bias (or bool lower triangle) becomes ``causal = true``. Every intermediate must have no
other user. A ``where`` with a finite fill passes ``where(B, 0, fill)`` as an additive mask, so a
row whose keys are all masked still averages ``v`` as the expanded form does; with a ``-inf``
fill such a row is NaN in the expanded form and zero in ``nn.attention`` (ONNX's convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from qlower.ir import Op, TensorType
from qlower.ir.printer import shortest
from qlower.passes.attention_common import (
    MASK_FLOOR,
    build_as,
    is_causal_pattern,
    merged_loc,
    same_dim,
    try_build,
)
from qlower.passes.rewrite import Rewriter
from qlower.passes.spellings import ADD, DIV, MATMUL, MUL, SOFTMAX, TRANSPOSE, WHERE


@dataclass(frozen=True)
class Scores:
    """What a score tensor was matched as: ``q @ kᵀ`` times ``scale``, through ``ops``."""

    q: str
    k_source: str  # the transpose's input (scale factors removed)
    k_perm: tuple[int, ...]  # the permutation that makes k from k_source
    scale: float
    ops: tuple[Op, ...] = field(default=())


def tidy_scale(scale: float, q: TensorType) -> float:
    """The exact ``1/sqrt(head_size)`` when the product of float32 factors is that value to
    float32 precision (torch's exports multiply q and kᵀ by ``float32(sqrt(scale))`` each);
    else the shortest decimal of the float32 nearest to the product."""
    head = q.dims[-1]
    if isinstance(head, int) and head > 0:
        exact = 1.0 / math.sqrt(head)
        if abs(scale - exact) <= 2 * float(np.finfo(np.float32).eps) * exact:
            return exact
    return shortest(scale, np.dtype(np.float32))


def scale_factor(op: Op, rw: Rewriter) -> tuple[str, float] | None:
    """``(x, f)`` when ``op`` is ``x * c``, ``c * x`` or ``x / c`` for a scalar constant ``c``."""
    out = op.result().type
    if op.name in MUL:
        for x, c in (op.operands, op.operands[::-1]):
            f = rw.scalar(c)
            if f is not None and rw.type_of(x) == out:
                return x, f
    elif op.name in DIV:
        x, c = op.operands
        f = rw.scalar(c)
        if f is not None and f != 0.0 and rw.type_of(x) == out:
            return x, 1.0 / f
    return None


def strip_scale(rw: Rewriter, name: str, ops: list[Op]) -> tuple[str, float]:
    """Follow single-use scalar products up from ``name``; returns the source and the factor."""
    factor = 1.0
    while rw.single_use(name):
        op = rw.producer_of(name, *MUL, *DIV)
        found = scale_factor(op, rw) if op is not None else None
        if found is None:
            break
        ops.append(op)
        name, f = found
        factor *= f
    return name, factor


def match_scores(rw: Rewriter, name: str) -> Scores | None:
    """Match ``name`` as scaled ``q @ kᵀ``, kᵀ a transpose that swaps the last two axes of k."""
    ops: list[Op] = []
    s, post = strip_scale(rw, name, ops)
    mm = rw.producer_of(s, *MATMUL)
    if mm is None or not rw.single_use(s):
        return None
    ops.append(mm)
    q, qf = strip_scale(rw, mm.operands[0], ops)
    kt, kf = strip_scale(rw, mm.operands[1], ops)
    tr = rw.producer_of(kt, *TRANSPOSE)
    if tr is None or not rw.single_use(kt):
        return None
    ops.append(tr)
    perm = tuple(tr.attr("perm"))
    if len(perm) < 2:
        return None
    k_source, sf = strip_scale(rw, tr.operands[0], ops)
    k_perm = perm[:-2] + (perm[-1], perm[-2])
    return Scores(q, k_source, k_perm, qf * kf * sf * post, tuple(ops))


@dataclass(frozen=True)
class Masked:
    """A score tensor without its mask: the scores, the mask (or None) and causal."""

    scores: Scores
    mask: str | None = None
    causal: bool = False
    fill: float | None = None  # a where-mask's fill value (the mask is then bool)


def match_masked(rw: Rewriter, name: str) -> Masked | None:
    """Match ``name`` as scores, scores + mask, or where(mask, scores, -inf)."""
    out = rw.tensor_type(name)
    op = rw.producer_of(name, *ADD, *WHERE)
    candidates: list[tuple[str, str | None]] = [(name, None)]
    fill_value = None
    if op is not None and rw.single_use(name) and op.name in ADD:
        candidates = [(op.operands[0], op.operands[1]), (op.operands[1], op.operands[0])]
    elif op is not None and rw.single_use(name):
        fill = rw.constant(op.operands[2])
        if fill is not None and fill.size == 1 and fill.dtype.kind == "f" \
                and float(fill.reshape(())) <= MASK_FLOOR:
            candidates = [(op.operands[1], op.operands[0])]
            fill_value = float(fill.reshape(()))
    for s0, mask in candidates:
        if mask is not None and rw.type_of(s0) != out:
            continue
        scores = match_scores(rw, s0)
        if scores is None:
            continue
        if mask is None:
            return Masked(scores)
        scores = replace(scores, ops=scores.ops + (op,))
        data = rw.constant(mask)
        if data is not None and is_causal_pattern(data, *out.dims[-2:]):
            return Masked(scores, None, True)
        return Masked(scores, mask, fill=fill_value)
    return None


class ExpandedAttention:
    """Rewrite ``matmul(softmax(scores), v)`` to ``nn.attention``; see the module docstring."""

    roots = MATMUL

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        p, v = op.operands
        sm = rw.producer_of(p, *SOFTMAX)
        if sm is None or not rw.single_use(p):
            return False
        rank = rw.tensor_type(p).rank
        if sm.attr("axis") % max(rank, 1) != rank - 1:
            return False
        m = match_masked(rw, sm.operands[0])
        if m is None or not rw.single_use(sm.operands[0]):
            return False
        s = m.scores
        if not 0.0 < s.scale <= float(np.finfo(np.float32).max):
            return False  # nn.attention's scale is a float32; an infinite one is no scale
        new_ops: list[Op] = []
        matched = sorted((*s.ops, sm, op), key=rw.position)
        loc = merged_loc(matched)
        k = s.k_source
        if s.k_perm != tuple(range(len(s.k_perm))):
            t = try_build(rw, "nn.transpose", [k], {"perm": s.k_perm}, loc)
            if t is None:
                return False
            new_ops.append(t)
            k = t.result().name
        if not _consistent(rw.tensor_type(s.q), rw.tensor_type(k), rw.tensor_type(v)):
            return False
        mask = m.mask
        if mask is not None and m.fill is not None and math.isfinite(m.fill):
            dt = rw.tensor_type(s.q).dtype.numpy
            zero = rw.add_constant(np.zeros((), dt), f"{mask}.keep")
            fill = rw.add_constant(np.full((), m.fill, dt), f"{mask}.fill")
            additive = try_build(rw, "nn.where", [mask, zero, fill], {}, loc)
            if additive is None:
                return False
            new_ops.append(additive)
            mask = additive.result().name
        operands = [s.q, k, v] + ([mask] if mask is not None else [])
        attrs = {"scale": tidy_scale(s.scale, rw.tensor_type(s.q)), "causal": m.causal, "softcap": 0.0}
        att = build_as(rw, "nn.attention", operands, attrs, op.result().name,
                       op.result().type, loc)
        if att is None:
            return False
        rw.replace(op, [*new_ops, att])
        return True


def _consistent(q: TensorType, k: TensorType, v: TensorType) -> bool:
    """q, k, v are [batch, (heads,) seq, head] alike; k/v may share one head (matmul broadcast)."""
    if not q.rank == k.rank == v.rank or q.rank not in (3, 4):
        return False
    if not (same_dim(q.dims[0], k.dims[0]) and same_dim(k.dims[0], v.dims[0])):
        return False
    if not (same_dim(q.dims[-1], k.dims[-1]) and same_dim(k.dims[-2], v.dims[-2])):
        return False
    if q.rank == 4:
        if not same_dim(k.dims[1], v.dims[1]):
            return False
        return same_dim(q.dims[1], k.dims[1]) or k.dims[1] == 1
    return True
