"""Helpers shared by the attention patterns of ``match-attention``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qlower.ir import Op, TensorType, VerifyError, build_op
from qlower.passes.rewrite import Rewriter


def same_dim(a: Any, b: Any) -> bool:
    """Both sizes are known and equal (static or the same symbolic expression)."""
    return a is not None and b is not None and a == b


def build_as(
    rw: Rewriter,
    name: str,
    operands: Sequence[str | None],
    attrs: Mapping[str, Any],
    result: str,
    want: TensorType,
    loc: Sequence[str],
) -> Op | None:
    """Build ``name`` with result ``result`` if it verifies and its type is ``want``; else None."""
    types = [rw.type_of(o) if o is not None else None for o in operands]
    try:
        op = build_op(name, operands, [result], attrs, loc, types=types)
    except VerifyError:
        return None
    return op if op.result().type == want else None


def try_build(rw: Rewriter, name: str, operands: Sequence[str], attrs: Mapping[str, Any],
              loc: Sequence[str]) -> Op | None:
    """``rw.build`` with a fresh result name, or None where the op does not verify."""
    try:
        return rw.build(name, operands, attrs, loc=loc)
    except VerifyError:
        return None


def merged_loc(ops: Sequence[Op]) -> tuple[str, ...]:
    """The source locations of ``ops``, in order, each once."""
    return tuple(dict.fromkeys(s for op in ops for s in op.loc))


def is_causal_pattern(arr: np.ndarray | None, sq: Any, skv: Any) -> bool:
    """``arr`` is exactly the causal bias (0 on/below the diagonal, -inf above) or its bool form.

    Its shape is ``[sq, skv]`` with any number of leading 1s. A finite fill (``-1e9``,
    ``float32.min``) is not the causal rule: ``s + fill`` keeps a trace of ``s``.
    """
    if arr is None or not (isinstance(sq, int) and isinstance(skv, int)) or arr.ndim < 2:
        return False
    if arr.shape[-2:] != (sq, skv) or any(d != 1 for d in arr.shape[:-2]):
        return False
    a = arr.reshape(sq, skv)
    allowed = np.tri(sq, skv, dtype=bool)
    if a.dtype == np.bool_:
        return bool(np.array_equal(a, allowed))
    return bool(np.all(a[allowed] == 0) and np.all(np.isneginf(a[~allowed])))


AND = ("nn.and", "onnx.And")


def uniform_true(rw: Rewriter, name: str) -> bool:
    """``name`` is true everywhere: an all-true bool constant, or one expanded."""
    arr = rw.constant(name)
    if arr is not None:
        return arr.dtype == np.bool_ and bool(arr.all())
    op = rw.producer(name)
    return op is not None and op.name == "nn.expand" and uniform_true(rw, op.operands[0])


def bool_factors(rw: Rewriter, name: str, sq: Any, sk: Any) -> tuple[bool, list[str]]:
    """``(causal, rest)`` with ``name == causal triangle ∧ rest[0] ∧ ...`` exactly.

    Looks through ``and`` ops; drops parts that are true everywhere; a part that is the bool
    lower triangle over the last two axes (a constant, or ``nn.trilu {k = 0}`` of an all-true
    tensor with a symbolic size) is the causal rule.
    """
    arr = rw.constant(name)
    if arr is not None and arr.dtype == np.bool_:
        if arr.all():
            return False, []
        return (True, []) if is_causal_pattern(arr, sq, sk) else (False, [name])
    op = rw.producer(name)
    if op is None:
        return False, [name]
    if op.name in AND:
        c1, r1 = bool_factors(rw, op.operands[0], sq, sk)
        c2, r2 = bool_factors(rw, op.operands[1], sq, sk)
        return c1 or c2, r1 + r2
    if uniform_true(rw, name):
        return False, []
    if op.name == "nn.trilu" and op.attr("k") == 0 and not op.attr("upper") \
            and uniform_true(rw, op.operands[0]):
        dims = rw.tensor_type(name).dims  # the same triangle along every leading axis
        if len(dims) >= 2 and same_dim(dims[-2], sq) and same_dim(dims[-1], sk):
            return True, []
    return False, [name]


def select_bias(rw: Rewriter, name: str) -> str | None:
    """The bool ``B`` when ``name`` is ``where(B, 0, -inf)`` (how a bool mask is added)."""
    op = rw.producer(name)
    if op is None or op.name not in ("nn.where", "onnx.Where"):
        return None
    if rw.tensor_type(op.operands[0]).dtype.numpy != np.bool_:
        return None
    if rw.scalar(op.operands[1]) != 0.0 or rw.scalar(op.operands[2]) != -np.inf:
        return None
    return op.operands[0]


@dataclass(frozen=True)
class Additive:
    """An additive mask term read as ``causal`` plus a bias: ``bias`` itself, or (when
    ``parts`` is given) ``where(parts[0] ∧ ..., 0, -inf)``, built by :func:`build_bias`."""

    causal: bool
    bias: str | None
    parts: tuple[str, ...] | None = None


def additive_term(rw: Rewriter, name: str, sq: Any, sk: Any) -> Additive:
    """Split an additive term into the causal rule and what remains, exactly.

    ``where(c ∧ r, 0, -inf) = where(c, 0, -inf) + where(r, 0, -inf)``: so the causal triangle
    and all-true parts come out of a bool mask added with -inf (not of one with a finite fill,
    where ``fill + fill`` differs from ``fill``).
    """
    if is_causal_pattern(rw.constant(name), sq, sk):
        return Additive(True, None)
    b = select_bias(rw, name) if rw.tensor_type(name).dtype.is_float else name
    if b is None:
        return Additive(False, name)
    causal, rest = bool_factors(rw, b, sq, sk)
    if not causal and rest == [b] and b != name:
        return Additive(False, name)  # nothing to take out: keep the term as it is
    return Additive(causal, None, tuple(rest))


def build_bias(rw: Rewriter, term: Additive, dtype, loc) -> tuple[str | None, list[Op]] | None:
    """The bias value of ``term`` and the ops that make it (None if an op does not build)."""
    if term.parts is None:
        return term.bias, []
    if not term.parts:
        return None, []
    ops: list[Op] = []
    mask = term.parts[0]
    for part in term.parts[1:]:
        op = try_build(rw, "nn.and", [mask, part], {}, loc)
        if op is None:
            return None
        ops.append(op)
        mask = op.result().name
    zero = rw.add_constant(np.zeros((), dtype), f"{mask}.keep")
    ninf = rw.add_constant(np.full((), -np.inf, dtype), f"{mask}.drop")
    where = try_build(rw, "nn.where", [mask, zero, ninf], {}, loc)
    if where is None:
        return None
    return where.result().name, [*ops, where]
