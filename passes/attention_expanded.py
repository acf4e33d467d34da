"""The expanded attention pattern: ``matmul(softmax(mask(scale(q @ kᵀ))), v)`` → ``nn.attention``.

Matched by algebra, and only where ``nn.attention`` computes exactly what the graph computes:

- **Scale.** Every product or quotient by a scalar constant on the way up from the matmul's
  operands — on ``q``, on ``kᵀ``, on ``k`` before the transpose, on the scores — is one factor
  of the scale, also behind reshapes and transposes (which commute with a scalar product: the
  layout ops are rebuilt on the unscaled tensor). ``Sqrt`` of a constant has been folded by then.
  The scale is the float64 product of the factors (see :func:`tidy_scale`).
- **Soft cap.** ``c · tanh(S / c)`` (or ``S · (1/c)``) right after the scaled scores.
- **Additive terms.** ``S + M`` (either order, up to two terms): a constant that is exactly the
  causal bias (0 on and below the diagonal, -inf above) becomes ``causal = true``, any other
  tensor that broadcasts into the scores is ``bias``. A bool mask added as
  ``where(B, 0, -inf)`` gives up its causal triangle (a constant or ``nn.trilu`` of an all-true
  tensor, also with a symbolic length) and its all-true parts: ``where(c ∧ r, 0, -inf)`` is
  ``where(c, 0, -inf) + where(r, 0, -inf)``.
- **Probabilities.** ``(P · c) @ v`` is ``c · (P @ v)``: the factor multiplies the result.
  torch's sdpa guard ``where(isnan(P), 0, P)`` is ``empty_rows = "nan_to_zero"``.
- **Select.** ``where(B, S', fill)`` with a bool ``B`` and a scalar constant ``fill`` becomes
  ``mask = B, fill``; additive terms inside it are applied first (``nn.attention``'s order),
  a causal term inside it only with ``fill = -inf`` (where both orders agree).

The expanded softmax gives NaN for a row whose keys are all -inf, so the result has
``empty_rows = "nan"`` (``"nan_to_zero"`` behind the guard). Every intermediate must have no other user.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from qlower.ir import DType, Op, TensorType
from qlower.ir.printer import shortest
from qlower.passes.attention_common import (
    Additive,
    additive_term,
    build_as,
    build_bias,
    merged_loc,
    same_dim,
    try_build,
)
from qlower.passes.rewrite import Rewriter
from qlower.passes.spellings import ADD, DIV, MATMUL, MUL, SOFTMAX, TANH, TRANSPOSE, WHERE

# Ops that only move or repeat elements: a scalar product commutes with them.
LAYOUT = ("nn.reshape", "nn.transpose", "nn.expand", "onnx.Reshape", "onnx.Transpose",
          "onnx.Squeeze", "onnx.Unsqueeze", "onnx.Flatten", "onnx.Expand")


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
    """``(x, f)`` when ``op`` is ``x * c``, ``c * x`` or ``x / c`` for a finite scalar constant
    ``c`` that does not change the shape of ``x``."""
    out = op.result().type
    if op.name in MUL:
        for x, c in (op.operands, op.operands[::-1]):
            f = rw.scalar(c)
            if f is not None and math.isfinite(f) and rw.type_of(x) == out:
                return x, f
    elif op.name in DIV:
        x, c = op.operands
        f = rw.scalar(c)
        if f is not None and math.isfinite(f) and f != 0.0 and rw.type_of(x) == out:
            return x, 1.0 / f
    return None


@dataclass
class Peeled:
    """A value with the scalar factors above it removed: ``value = layout(source) · factor``."""

    source: str
    factor: float = 1.0
    ops: list[Op] = field(default_factory=list)  # the scale and layout ops passed through
    layout: list[Op] = field(default_factory=list)  # layout ops to redo on source, outermost first


def peel(rw: Rewriter, name: str, layout_ops: tuple[str, ...] = LAYOUT) -> Peeled:
    """Follow single-use scalar products, and ``layout_ops`` when a product lies behind them."""
    best = Peeled(name)
    cur, factor, ops, layout, pending = name, 1.0, [], [], []
    while rw.single_use(cur):
        op = rw.producer(cur)
        if op is None:
            break
        found = scale_factor(op, rw)
        if found is not None:
            cur, f = found
            factor *= f
            ops += [*pending, op]
            layout += pending
            pending = []
            best = Peeled(cur, factor, list(ops), list(layout))
        elif op.name in layout_ops:
            pending.append(op)
            cur = op.operands[0]
        else:
            break
    return best


def rebuild(rw: Rewriter, p: Peeled, loc, new_ops: list[Op]) -> str | None:
    """``layout(source)`` as new ops (appended to ``new_ops``); the source itself if none."""
    name = p.source
    for op in reversed(p.layout):
        new = try_build(rw, op.name, [name, *op.operands[1:]], dict(op.attrs), loc)
        if new is None:
            return None
        new_ops.append(new)
        name = new.result().name
    return name


@dataclass
class Scores:
    """A score tensor matched as ``q @ kᵀ · scale`` (and its soft cap)."""

    q: Peeled
    k: Peeled  # k before the transpose (source and layout), with its factor
    kt: Peeled  # kᵀ at the matmul, with its factor
    k_perm: tuple[int, ...] | None  # the transpose that makes k from k.source's layout, or None
    post: float
    ops: list[Op]
    softcap: float = 0.0

    @property
    def scale(self) -> float:
        return self.q.factor * self.k.factor * self.kt.factor * self.post


def match_scores(rw: Rewriter, name: str) -> Scores | None:
    """Match ``name`` as scaled ``q @ kᵀ``."""
    post = peel(rw, name, layout_ops=())
    mm = rw.producer_of(post.source, *MATMUL)
    if mm is None or not rw.single_use(post.source):
        return None
    q = peel(rw, mm.operands[0])
    kt = peel(rw, mm.operands[1], tuple(n for n in LAYOUT if n not in TRANSPOSE))
    ops = [*post.ops, mm, *q.ops, *kt.ops]
    tr = rw.producer_of(kt.source, *TRANSPOSE) if not kt.layout else None
    if tr is not None and rw.single_use(kt.source) and len(tr.attr("perm")) >= 2:
        perm = tuple(tr.attr("perm"))
        k = peel(rw, tr.operands[0])
        return Scores(q, k, kt, perm[:-2] + (perm[-1], perm[-2]), post.factor,
                      [*ops, tr, *k.ops])
    if rw.constant(kt.source) is not None:
        return None  # a product with constant weights is a layer, not attention
    # no transpose of its own: k is kᵀ (rebuilt without its factors) with its last axes swapped
    k = Peeled(kt.source, layout=kt.layout)
    return Scores(q, k, replace(kt, layout=[]), None, post.factor, ops)


def match_capped(rw: Rewriter, name: str) -> Scores | None:
    """Scores, or ``c · tanh(scores / c)``."""
    found = match_scores(rw, name)
    if found is not None:
        return found
    op = rw.producer_of(name, *MUL)
    if op is None or not rw.single_use(name):
        return None
    outer = scale_factor(op, rw)
    th = rw.producer_of(outer[0], *TANH) if outer is not None else None
    if th is None or not rw.single_use(outer[0]) or not outer[1] > 0:
        return None
    inner_op = rw.producer(th.operands[0])
    inner = scale_factor(inner_op, rw) if inner_op is not None else None
    if inner is None or not rw.single_use(th.operands[0]):
        return None
    cap = outer[1]
    if abs(inner[1] * cap - 1.0) > 4 * float(np.finfo(np.float32).eps):
        return None
    scores = match_scores(rw, inner[0])
    if scores is None:
        return None
    scores.softcap = cap
    scores.ops += [op, th, inner_op]
    return scores


def add_splits(rw: Rewriter, name: str, out, depth: int = 2) -> Iterator[tuple[str, list, list]]:
    """Ways to read ``name`` as ``inner + t1 + ...`` (up to ``depth`` terms): yields
    ``(inner, terms, add ops)``, starting with ``(name, [], [])``."""
    yield name, [], []
    op = rw.producer_of(name, *ADD)
    if depth == 0 or op is None or not rw.single_use(name) or op.result().type != out:
        return
    for x, t in (op.operands, op.operands[::-1]):
        if rw.type_of(x) != out:
            continue
        for inner, terms, ops in add_splits(rw, x, out, depth - 1):
            yield inner, [t, *terms], [op, *ops]


@dataclass
class Masked:
    """The softmax input read as nn.attention's operands."""

    scores: Scores
    bias: Additive = Additive(False, None)
    mask: str | None = None
    fill: float = -math.inf
    causal: bool = False
    ops: list[Op] = field(default_factory=list)


def classify(rw: Rewriter, terms: list[str], out: TensorType) -> tuple[bool, Additive] | None:
    """(causal, bias) of additive terms: causal parts and at most one other term."""
    causal, bias = False, Additive(False, None)
    for t in terms:
        term = additive_term(rw, t, *out.dims[-2:])
        causal |= term.causal
        if term.bias is None and not term.parts:
            continue  # nothing but the causal rule (or nothing at all)
        if has_bias(bias):
            return None
        bias = replace(term, causal=False)
    return causal, bias


def has_bias(a: Additive) -> bool:
    return a.bias is not None or bool(a.parts)


def match_masked(rw: Rewriter, name: str) -> Masked | None:
    """Read the softmax input ``name`` as scores, their soft cap, additive terms and a select."""
    out = rw.tensor_type(name)
    for inner, terms, add_ops in add_splits(rw, name, out):
        split = classify(rw, terms, out)
        if split is None:
            continue
        causal, bias = split
        w = rw.producer_of(inner, *WHERE) if rw.single_use(inner) else None
        fill = rw.scalar(w.operands[2]) if w is not None else None
        if w is not None and not has_bias(bias) and fill is not None and not math.isnan(fill) \
                and fill != math.inf and rw.tensor_type(w.operands[2]).dtype.is_float \
                and w.result().type == out and rw.tensor_type(w.operands[0]).dtype == DType.BOOL:
            for inner2, terms2, ops2 in add_splits(rw, w.operands[1], out):
                split2 = classify(rw, terms2, out)
                if split2 is not None and split2[0] and fill != -math.inf:
                    # a causal rule inside a finite-fill select: the two orders differ, so the
                    # term stays one additive bias, applied before the select as in the graph
                    split2 = (False, Additive(False, terms2[0])) if len(terms2) == 1 else None
                if split2 is None:
                    continue
                scores = match_capped(rw, inner2)
                if scores is not None:
                    return Masked(scores, split2[1], w.operands[0], fill, causal or split2[0],
                                  [*add_ops, w, *ops2])
        scores = match_capped(rw, inner)
        if scores is not None:
            return Masked(scores, bias, causal=causal, ops=add_ops)
    return None


def nan_guard(rw: Rewriter, name: str) -> tuple[Op, ...]:
    """``(where, isnan)`` when ``name`` is ``where(isnan(P), 0, P)`` (torch sdpa's guard)."""
    w = rw.producer_of(name, *WHERE)
    if w is None or not rw.single_use(name) or rw.scalar(w.operands[1]) != 0.0:
        return ()
    isnan = rw.producer_of(w.operands[0], "nn.isnan", "onnx.IsNaN")
    if isnan is None or isnan.operands[0] != w.operands[2] or not rw.single_use(w.operands[0]):
        return ()
    if w.result().type != rw.type_of(w.operands[2]):
        return ()
    return w, isnan


class ExpandedAttention:
    """Rewrite ``matmul(softmax(scores), v)`` to ``nn.attention``; see the module docstring."""

    roots = MATMUL

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        p, v = op.operands
        probs = peel(rw, p, layout_ops=())  # (P · c) @ v = c · (P @ v)
        guard = nan_guard(rw, probs.source)
        p0 = guard[0].operands[2] if guard else probs.source
        sm = rw.producer_of(p0, *SOFTMAX)
        if sm is None or not math.isfinite(probs.factor):
            return False
        if not (rw.use_count(p0) == 2 if guard else rw.single_use(p0)):
            return False
        rank = rw.tensor_type(p).rank
        if sm.attr("axis") % max(rank, 1) != rank - 1 or not rw.single_use(sm.operands[0]):
            return False
        m = match_masked(rw, sm.operands[0])
        if m is None:
            return False
        s = m.scores
        if not math.isfinite(s.scale) or abs(s.scale) > float(np.finfo(np.float32).max):
            return False  # nn.attention's scale is a float32; an infinite one is no scale
        matched = sorted({id(o): o for o in (*s.ops, *m.ops, sm, *probs.ops, *guard, op)}
                         .values(), key=rw.position)
        loc = merged_loc(matched)
        new_ops: list[Op] = []
        dtype = rw.tensor_type(sm.operands[0]).dtype.numpy
        built = build_bias(rw, m.bias, dtype, loc)
        if built is None:
            return False
        bias, bias_ops = built
        new_ops += bias_ops
        q = rebuild(rw, s.q, loc, new_ops)
        k = rebuild(rw, s.k, loc, new_ops)
        if q is None or k is None:
            return False
        perm = s.k_perm
        if perm is None:  # kᵀ has no transpose of its own: k is kᵀ with its last axes swapped
            rank_k = rw.tensor_type(k).rank
            perm = tuple(range(rank_k - 2)) + (rank_k - 1, rank_k - 2)
        if perm != tuple(range(len(perm))):
            t = try_build(rw, "nn.transpose", [k], {"perm": perm}, loc)
            if t is None:
                return False
            new_ops.append(t)
            k = t.result().name
        if not _consistent(rw.tensor_type(q), rw.tensor_type(k), rw.tensor_type(v)):
            return False
        operands = [q, k, v, bias, m.mask]
        while operands[-1] is None:
            operands.pop()
        attrs = {"scale": tidy_scale(s.scale, rw.tensor_type(q)), "causal": m.causal,
                 "softcap": s.softcap, "fill": m.fill,
                 "empty_rows": "nan_to_zero" if guard else "nan"}
        y = op.result()
        if probs.factor == 1.0:
            att = build_as(rw, "nn.attention", operands, attrs, y.name, y.type, loc)
            if att is None:
                return False
            rw.replace(op, [*new_ops, att])
            return True
        att = try_build(rw, "nn.attention", operands, attrs, loc)
        if att is None or att.result().type != y.type:
            return False
        c = rw.add_constant(np.array(probs.factor, y.type.dtype.numpy), f"{y.name}.factor")
        out = build_as(rw, "nn.mul", [att.result().name, c], {}, y.name, y.type, loc)
        if out is None:
            return False
        rw.replace(op, [*new_ops, att, out])
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
