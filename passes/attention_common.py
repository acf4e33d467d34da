"""Helpers shared by the attention patterns of ``match-attention``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
