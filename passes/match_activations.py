"""match-activations: expanded GELU formulas become ``nn.gelu``.

Exporters below opset 20 (which has no Gelu op) write GELU out::

    exact:  x * (0.5 * (1 + erf(x / 1.4142135)))                  → nn.gelu {approximate = "none"}
    tanh:   x * (0.5 * (1 + tanh(0.7978846 * (x + 0.044715 * x³))))  → nn.gelu {approximate = "tanh"}

Products and sums are matched as flat lists of factors and terms, so any operand order,
grouping, ``/ c`` for ``* (1/c)``, and ``x³`` as ``pow(x, 3)`` or ``x * x * x`` all match.
Constants must equal the formula's to float32 precision; every intermediate value must have no
user outside the formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qlower.ir import Graph, Op
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, apply_patterns
from qlower.passes.spellings import ADD, DIV, ERF, MUL, POW, TANH

RTOL = 1e-6  # constants are float32 roundings of the formula's numbers


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= RTOL * abs(b)


@dataclass
class Flat:
    """A product (or sum) as constant and value parts, with the ops it was read through."""

    constant: float
    values: list[str]
    ops: list[Op]


def product(rw: Rewriter, name: str, root: bool = False) -> Flat:
    """``name`` as ``c * v1 * v2 ...`` through single-use muls and divisions by constants."""
    c = rw.scalar(name)
    if c is not None:
        return Flat(c, [], [])
    op = rw.producer_of(name, *MUL, *DIV)
    if op is None or not (root or rw.single_use(name)) or _broadcasts(rw, op):
        return Flat(1.0, [name], [])
    left = product(rw, op.operands[0])
    if op.name in DIV:
        d = rw.scalar(op.operands[1])
        if d is None or d == 0:
            return Flat(1.0, [name], [])
        return Flat(left.constant / d, left.values, left.ops + [op])
    right = product(rw, op.operands[1])
    return Flat(left.constant * right.constant, left.values + right.values,
                left.ops + right.ops + [op])


def total(rw: Rewriter, name: str) -> Flat:
    """``name`` as ``c + v1 + v2 ...`` through single-use adds."""
    c = rw.scalar(name)
    if c is not None:
        return Flat(c, [], [])
    op = rw.producer_of(name, *ADD)
    if op is None or not rw.single_use(name) or _broadcasts(rw, op):
        return Flat(0.0, [name], [])
    left, right = total(rw, op.operands[0]), total(rw, op.operands[1])
    return Flat(left.constant + right.constant, left.values + right.values,
                left.ops + right.ops + [op])


def _broadcasts(rw: Rewriter, op: Op) -> bool:
    """True if a value operand of ``op`` has a different type than its result (no shape games)."""
    out = rw.type_of(op.result().name)
    return any(rw.scalar(o) is None and rw.type_of(o) != out for o in op.operands)


def _unary(rw: Rewriter, name: str, kinds: tuple[str, ...]) -> tuple[str, Op] | None:
    op = rw.producer_of(name, *kinds)
    if op is None or not rw.single_use(name):
        return None
    return op.operands[0], op


def _one_plus(rw: Rewriter, name: str, kinds: tuple[str, ...]) -> tuple[str, list[Op]] | None:
    """``1 + f(z)`` → (z, ops)."""
    s = total(rw, name)
    if not _close(s.constant, 1.0) or len(s.values) != 1:
        return None
    inner = _unary(rw, s.values[0], kinds)
    if inner is None:
        return None
    return inner[0], s.ops + [inner[1]]


def _scaled(rw: Rewriter, name: str, x: str, scale: float) -> list[Op] | None:
    """``name`` is ``scale * x`` → the ops read."""
    p = product(rw, name)
    return p.ops if p.values == [x] and _close(p.constant, scale) else None


def _power_of(rw: Rewriter, values: list[str], x: str) -> tuple[int, list[Op]] | None:
    """The product of ``values`` as ``x**degree`` (factors ``x`` and single-use ``pow(x, k)``)."""
    degree, ops = 0, []
    for v in values:
        if v == x:
            degree += 1
            continue
        op = rw.producer_of(v, *POW)
        e = rw.scalar(op.operands[1]) if op is not None else None
        if op is None or op.operands[0] != x or e is None or not math.isfinite(e) or e != int(e) \
                or not rw.single_use(v):
            return None
        degree += int(e)
        ops.append(op)
    return degree, ops


def _gelu_tanh_arg(rw: Rewriter, z: str, x: str) -> list[Op] | None:
    """``z`` is ``sqrt(2/pi) * (x + 0.044715 * x³)`` → the ops read."""
    p = product(rw, z)
    if len(p.values) != 1 or not _close(p.constant, math.sqrt(2 / math.pi)):
        return None
    s = total(rw, p.values[0])
    if s.constant != 0.0 or len(s.values) != 2 or x not in s.values:
        return None
    q = product(rw, s.values[1 - s.values.index(x)])
    cube = _power_of(rw, q.values, x)
    if not _close(q.constant, 0.044715) or cube is None or cube[0] != 3:
        return None
    return p.ops + s.ops + q.ops + cube[1]


@dataclass(frozen=True)
class Gelu:
    """``x * 0.5 * (1 + erf(x/√2))`` or its tanh approximation → ``nn.gelu``."""

    roots: tuple[str, ...] = MUL

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        p = product(rw, op.result().name, root=True)
        if len(p.values) != 2 or not _close(p.constant, 0.5):
            return False
        for x, s in (p.values, p.values[::-1]):
            found = self._match(rw, x, s)
            if found is None:
                continue
            approximate, ops = found
            if rw.type_of(x) != op.result().type:
                return False  # a size-1 constant of higher rank broadcast the result
            matched = sorted({id(o): o for o in p.ops + ops}.values(), key=rw.position)
            loc = tuple(dict.fromkeys(n for o in matched for n in o.loc))
            gelu = rw.build("nn.gelu", [x], {"approximate": approximate},
                            results=[op.result().name], loc=loc)
            rw.replace(op, [gelu])
            return True
        return False

    def _match(self, rw: Rewriter, x: str, s: str) -> tuple[str, list[Op]] | None:
        t = rw.type_of(x)
        if getattr(t, "dtype", None) is None or not t.dtype.is_float:
            return None
        erf = _one_plus(rw, s, ERF)
        if erf is not None:
            ops = _scaled(rw, erf[0], x, 1 / math.sqrt(2))
            return ("none", erf[1] + ops) if ops is not None else None
        tanh = _one_plus(rw, s, TANH)
        if tanh is not None:
            ops = _gelu_tanh_arg(rw, tanh[0], x)
            return ("tanh", tanh[1] + ops) if ops is not None else None
        return None


@register_pass
@dataclass(frozen=True)
class MatchActivations(TransformPass):
    name = "match-activations"
    summary = "expanded GELU (erf or tanh form) to nn.gelu"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(graph, [Gelu()])
