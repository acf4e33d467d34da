"""Shape-inference helpers shared by the dialects (symbolic-aware)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qlower.ir.opdef import OpContext
from qlower.ir.symbolic import Dim, Sym, SymbolicError, exact_div
from qlower.ir.types import DType, TensorType


def norm_axis(c: OpContext, axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        c.fail(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def norm_axes(c: OpContext, axes: Sequence[int], rank: int) -> tuple[int, ...]:
    out = tuple(norm_axis(c, int(a), rank, "axis") for a in axes)
    if len(set(out)) != len(out):
        c.fail(f"axes {list(axes)} repeat an axis")
    return out


def broadcast_dim(c: OpContext, a: Dim, b: Dim) -> Dim:
    if a == 1:
        return b
    if b == 1:
        return a
    if a is None:
        return b if b is not None and b != 1 else None
    if b is None:
        return a
    if a == b:
        return a
    if isinstance(a, int) and isinstance(b, int):
        c.fail(f"cannot broadcast dimensions {a} and {b}")
    if isinstance(a, int):
        return a
    if isinstance(b, int):
        return b
    return None  # two different symbols: equal or one of them is 1 at run time


def broadcast(c: OpContext, *shapes: Sequence[Dim]) -> tuple[Dim, ...]:
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = [1] * rank
    for s in shapes:
        padded = [1] * (rank - len(s)) + list(s)
        out = [broadcast_dim(c, a, b) for a, b in zip(out, padded)]
    return tuple(out)


def prod(dims: Sequence[Dim]) -> Dim:
    total: Dim = 1
    for d in dims:
        if d is None or total is None:
            return None
        total = total * d
    return total


def same_dtype(c: OpContext, *idx: int) -> DType:
    dtypes = [c.tensor(i).dtype for i in idx if c.has(i)]
    if len(set(dtypes)) > 1:
        names = ", ".join(str(d) for d in dtypes)
        c.fail(f"operands must have the same element type, got {names}")
    return dtypes[0]


def require_float(c: OpContext, i: int, what: str = "input") -> DType:
    t = c.tensor(i)
    if not t.dtype.is_float:
        c.fail(f"{what} must be a floating-point tensor, got {t.dtype}")
    return t.dtype


def require_int(c: OpContext, i: int, what: str) -> DType:
    t = c.tensor(i)
    if t.dtype not in (DType.I32, DType.I64):
        c.fail(f"{what} must be an i32 or i64 tensor, got {t.dtype}")
    return t.dtype


def int_list(c: OpContext, i: int, what: str) -> list | None:
    """A known 1-D integer operand as a list of ``int | Sym`` (None when unknown)."""
    v = c.value(i)
    if v is None:
        return None
    if v.ndim != 1:
        c.fail(f"{what} must be a 1-D tensor, got rank {v.ndim}")
    return [x if isinstance(x, Sym) else int(x) for x in v.tolist()]


def reshape_dims(c: OpContext, in_dims: Sequence[Dim], target: Sequence, allowzero: bool) -> list:
    """Resolve ONNX Reshape's 0 (copy) and -1 (infer) entries."""
    out: list[Dim] = []
    infer_at = None
    for i, t in enumerate(target):
        if isinstance(t, Sym):
            out.append(t)
        elif t == -1:
            if infer_at is not None:
                c.fail("shape has more than one -1")
            infer_at = i
            out.append(None)
        elif t == 0 and not allowzero:
            if i >= len(in_dims):
                c.fail(f"shape entry {i} is 0 (copy) but the input has rank {len(in_dims)}")
            out.append(in_dims[i])
        elif t < 0:
            c.fail(f"shape entry {t} is invalid")
        else:
            out.append(int(t))
    total = prod(in_dims)
    if infer_at is not None:
        known = prod([d for j, d in enumerate(out) if j != infer_at])
        if total is not None and known is not None:
            if known == 0:
                c.fail("cannot infer -1 next to a zero-sized dimension")
            q = exact_div(total, known)
            if q is None and isinstance(total, int) and isinstance(known, int):
                c.fail(f"cannot reshape {total} elements into {_fmt(out)}")
            out[infer_at] = q
    else:
        new_total = prod(out)
        if (
            isinstance(total, int)
            and isinstance(new_total, int)
            and total != new_total
        ):
            c.fail(f"cannot reshape {_fmt(in_dims)} ({total} elements) into {_fmt(out)}")
    return out


def _fmt(dims: Sequence[Dim]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def fmt_dims(dims: Sequence[Dim]) -> str:
    return _fmt(dims)


def onnx_slice(dim: int, start: int, end: int, step: int) -> slice:
    """The Python slice that picks what ONNX's Slice picks on an axis of size ``dim``.

    ONNX adds ``dim`` to negative bounds, then clamps: for a positive step both to [0, dim];
    for a negative step the start to [0, dim-1] and the end to [-1, dim-1], where -1 means
    "through index 0". Python clamps a negative step's start below -dim to "before index 0"
    (nothing selected) and reads -1 as the last index, so its own slicing differs there.
    """
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    if dim == 0:
        return slice(0, 0, step)
    start = min(max(start, 0), dim - 1)
    end = min(max(end, -1), dim - 1)
    return slice(start, end if end >= 0 else None, step)


def slice_dim(dim: Dim, start, end, step: int) -> Dim:
    """Length of ONNX's Slice of an axis of size ``dim``; None when unknown."""
    if isinstance(dim, int) and isinstance(start, int) and isinstance(end, int):
        return len(range(dim)[onnx_slice(dim, start, end, step)])
    big = 2**62
    if dim is not None and step == 1 and isinstance(start, int) and isinstance(end, int):
        if start == 0 and end >= big:
            return dim
        if start >= 0 and end >= big:
            return dim - start
    if dim is None or step != 1:
        return None
    # non-negative bounds clamp to the dimension where the signs of the sizes decide it
    # (x[:, 0:1] of a (seq) axis has 1 element, x[:, 1:seq+1] of a (seq+1) axis has seq)
    try:
        if start < 0 or end < 0:
            return None
        first = start if start <= dim else dim
        last = end if end <= dim else dim
        return last - first if last >= first else 0
    except (SymbolicError, TypeError):
        return None


def tensor_of(dtype: DType, dims: Sequence[Dim]) -> TensorType:
    return TensorType(dtype, tuple(dims))


def as_index_array(v: np.ndarray) -> np.ndarray:
    return v if v.dtype == object else v.astype(np.int64)


INT64_MAX = 2**63 - 1


def shape_vector(c: OpContext, i: int, what: str, dtypes=(DType.I64,)) -> list | None:
    """A 1-D integer operand (reshape target, axes, bounds) as a list, or None when unknown."""
    t = c.tensor(i)
    if t.dtype not in dtypes:
        c.fail(f"{what} must be {' or '.join(map(str, dtypes))}, got {t.dtype}")
    if t.rank != 1:
        c.fail(f"{what} must be 1-D, got rank {t.rank}")
    return int_list(c, i, what)


def unknown_rank(c: OpContext, i: int, what: str) -> int:
    """The length of a 1-D operand whose values are unknown (the rank of a result)."""
    length = c.tensor(i).dims[0]
    if not isinstance(length, int):
        c.fail(f"{what} has unknown length, so the result rank is unknown")
    return length
