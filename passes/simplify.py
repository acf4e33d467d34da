"""simplify: local algebraic cleanup of ``nn`` structural and arithmetic ops, to a fixpoint.

Removes ops that do nothing (identities, reshapes/expands/casts to the input's own type,
identity transposes, ``x * 1``, ``x + 0`` …), merges chains (reshape of reshape, transpose of
transpose) and recognises torch's reshape–transpose–reshape spelling of a transpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qlower.ir import Graph, Op, TensorType
from qlower.ir.dialects.shapes import prod
from qlower.passes import index_algebra
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, apply_patterns


def forward(rw: Rewriter, op: Op, src: str) -> bool:
    """Remove ``op``; its result's uses read ``src`` instead (which has the same type)."""
    if rw.type_of(src) != op.result().type:
        return False
    rw.replace(op, [], {op.result().name: src})
    return True


def rebuild(
    rw: Rewriter, old: Op, name: str, operand: str, attrs: Mapping[str, Any], loc: Sequence[str]
) -> bool:
    """Replace ``old`` by ``name(operand) {attrs}`` under the same result name and type."""
    new = rw.build(name, [operand], attrs, results=[old.result().name], loc=_merge(loc))
    if new.result().type != old.result().type:
        return False
    rw.replace(old, [new])
    return True


def _merge(loc: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(loc))


def known_dims(rw: Rewriter, name: str) -> tuple | None:
    t = rw.type_of(name)
    if not isinstance(t, TensorType) or any(d is None for d in t.dims):
        return None
    return t.dims


@dataclass(frozen=True)
class DropIdentity:
    """``nn.identity(x)`` → ``x``; where it names a graph output, ``x``'s producer takes the name
    (kept only when ``x`` is a graph input, a constant, or another output)."""

    roots: tuple[str, ...] = ("nn.identity",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        src = op.operands[0]
        if op.result().name in rw.outputs and (rw.producer(src) is None or src in rw.outputs):
            return False
        return forward(rw, op, src)


@dataclass(frozen=True)
class DropSameType:
    """A reshape, expand or cast whose result type is its input's type → its input."""

    roots: tuple[str, ...] = ("nn.reshape", "nn.expand", "nn.cast")

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        return forward(rw, op, op.operands[0])


@dataclass(frozen=True)
class FoldReshapes:
    """``reshape(reshape(x))`` → ``reshape(x)``."""

    roots: tuple[str, ...] = ("nn.reshape",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        inner = rw.producer_of(op.operands[0], "nn.reshape")
        if inner is None:
            return False
        return rebuild(rw, op, "nn.reshape", inner.operands[0], op.attrs, inner.loc + op.loc)


@dataclass(frozen=True)
class FoldTransposes:
    """Identity ``transpose(x)`` → ``x``; ``transpose(transpose(x))`` → one composed transpose."""

    roots: tuple[str, ...] = ("nn.transpose",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        perm, src = op.attr("perm"), op.operands[0]
        inner = rw.producer_of(src, "nn.transpose")
        if inner is not None:
            perm, src = tuple(inner.attr("perm")[p] for p in perm), inner.operands[0]
        if perm == tuple(range(len(perm))):
            return forward(rw, op, src)
        if inner is None:
            return False
        return rebuild(rw, op, "nn.transpose", src, {"perm": perm}, inner.loc + op.loc)


@dataclass(frozen=True)
class ReshapeTransposeReshape:
    """torch's batched transpose: merge leading axes, transpose the rest, split them again.

    ``reshape(transpose(reshape(x: [b, h, s, d]) → [b*h, s, d], [0, 2, 1])) → [b, h, d, s]``
    ⇒ ``transpose(x, [0, 1, 3, 2])``.
    """

    roots: tuple[str, ...] = ("nn.reshape",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        t = rw.producer_of(op.operands[0], "nn.transpose")
        r1 = rw.producer_of(t.operands[0], "nn.reshape") if t is not None else None
        if t is None or r1 is None:
            return False
        x = r1.operands[0]
        xd, merged = known_dims(rw, x), known_dims(rw, r1.result().name)
        td, out = known_dims(rw, t.result().name), known_dims(rw, op.result().name)
        if xd is None or merged is None or td is None or out is None:
            return False
        k = len(xd) - len(merged) + 1  # leading axes of x merged into axis 0
        perm = t.attr("perm")
        if k < 1 or perm[0] != 0:
            return False
        if merged[0] != prod(xd[:k]) or merged[1:] != xd[k:] or out != xd[:k] + td[1:]:
            return False
        new_perm = tuple(range(k)) + tuple(p + k - 1 for p in perm[1:])
        loc = r1.loc + t.loc + op.loc
        return rebuild(rw, op, "nn.transpose", x, {"perm": new_perm}, loc)


# op → (neutral element, operand positions where the constant may stand)
NEUTRAL = {"nn.add": (0, (0, 1)), "nn.sub": (0, (1,)), "nn.mul": (1, (0, 1)), "nn.div": (1, (1,))}


@dataclass(frozen=True)
class DropNeutral:
    """``x * 1``, ``x / 1``, ``x + 0``, ``x - 0`` (constants of all ones/zeros) → ``x``,
    when broadcasting leaves ``x``'s type as it is."""

    roots: tuple[str, ...] = tuple(NEUTRAL)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        neutral, positions = NEUTRAL[op.name]
        for i in positions:
            k = rw.constant(op.operands[i])
            if k is None or k.dtype == object or not np.all(k == neutral):
                continue
            if forward(rw, op, op.operands[1 - i]):
                return True
        return False


@dataclass(frozen=True)
class DropNeutralBroadcast:
    """``x + expand(0)``, ``x * expand(1)`` … (a neutral constant broadcast by ``nn.expand``)
    → ``x``, when the result has ``x``'s type (what a folded all-true mask leaves)."""

    roots: tuple[str, ...] = tuple(NEUTRAL)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        neutral, positions = NEUTRAL[op.name]
        for i in positions:
            expand = rw.producer_of(op.operands[i], "nn.expand")
            k = rw.constant(expand.operands[0]) if expand is not None else None
            if k is None or k.dtype == object or not np.all(k == neutral):
                continue
            if forward(rw, op, op.operands[1 - i]):
                return True
        return False


@dataclass(frozen=True)
class DropConstantSelect:
    """``where(true, x, y)`` → ``x`` and ``where(false, x, y)`` → ``y`` (a constant condition,
    the same everywhere), when broadcasting leaves the kept operand's type as it is (how torch's
    exporters guard a score tensor with an all-true mask)."""

    roots: tuple[str, ...] = ("nn.where",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        cond = rw.constant(op.operands[0])
        if cond is None or cond.dtype != np.bool_ or cond.size == 0:
            return False
        if np.all(cond):
            return forward(rw, op, op.operands[1])
        if not np.any(cond):
            return forward(rw, op, op.operands[2])
        return False


# Merging reshapes could swallow either end of a reshape-transpose-reshape chain, so it joins
# only once that pattern has had its turn.
FIRST = (DropIdentity(), DropSameType(), ReshapeTransposeReshape(), FoldTransposes(), DropNeutral(),
         DropConstantSelect())
PATTERNS = FIRST + (FoldReshapes(), DropNeutralBroadcast()) + index_algebra.PATTERNS


@register_pass
@dataclass(frozen=True)
class Simplify(TransformPass):
    name = "simplify"
    summary = "remove no-op structural/arithmetic ops and merge reshape/transpose chains"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(apply_patterns(graph, FIRST), PATTERNS)
