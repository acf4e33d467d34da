"""Structural ops: ONNX's shape plumbing, and the ``nn.*`` forms with static parameters.

ONNX passes reshape targets, axes and slice bounds as tensors (``onnx.Reshape(%x, %shape)``);
their ``nn`` forms hold them as attributes (``nn.reshape(%x) {shape = [(batch), 32]}``), with
symbolic sizes where the batch is symbolic. The ``onnx`` ops evaluate on symbolic values too,
which is how ``Shape → Gather → Concat`` chains fold.
"""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects.elementwise import keep_dtype
from qlower.ir.dialects.shapes import (
    broadcast,
    fmt_dims,
    int_list,
    norm_axes,
    norm_axis,
    prod,
    require_int,
    reshape_dims,
    slice_dim,
)
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import Sym, exact_div
from qlower.ir.types import DType, TensorType

INT64_MAX = 2**63 - 1


def _shape_vector(c: OpContext, i: int, what: str, dtypes=(DType.I64,)) -> list | None:
    t = c.tensor(i)
    if t.dtype not in dtypes:
        c.fail(f"{what} must be {' or '.join(map(str, dtypes))}, got {t.dtype}")
    if t.rank != 1:
        c.fail(f"{what} must be 1-D, got rank {t.rank}")
    return int_list(c, i, what)


def _unknown_rank(c: OpContext, i: int, what: str) -> int:
    length = c.tensor(i).dims[0]
    if not isinstance(length, int):
        c.fail(f"{what} has unknown length, so the result rank is unknown")
    return length


def _resolve_zero_copy(shape, target, allowzero: bool) -> list:
    return [
        shape[i] if (t == 0 and not allowzero and i < len(shape)) else t
        for i, t in enumerate(target)
    ]


# -- Reshape family ---------------------------------------------------------------------------


@register_op
class Reshape(OpDef):
    """Reshape to ``shape`` (0 copies the input dimension unless allowzero, -1 is inferred)."""

    name = "onnx.Reshape"
    operands = ("data", "shape")
    results = ("reshaped",)
    attrs = {"allowzero": Attr("int", 0, choices=(0, 1))}

    def infer(self, c):
        target = _shape_vector(c, 1, "shape")
        x = c.tensor(0)
        if target is None:
            return [TensorType(x.dtype, (None,) * _unknown_rank(c, 1, "shape"))]
        return [TensorType(x.dtype, tuple(reshape_dims(c, x.dims, target, bool(c.attr("allowzero")))))]

    def evaluate(self, c, data, shape):
        target = _resolve_zero_copy(data.shape, [int(s) for s in shape], bool(c.attr("allowzero")))
        return np.reshape(data, target)


@register_op
class Flatten(OpDef):
    """Reshape to 2-D: dims before ``axis`` multiply into rows, the rest into columns."""

    name = "onnx.Flatten"
    operands = ("input",)
    attrs = {"axis": Attr("int", 1)}

    def infer(self, c):
        x = c.tensor(0)
        axis = c.attr("axis")
        if not -x.rank <= axis <= x.rank:
            c.fail(f"axis {axis} is out of range for rank {x.rank}")
        axis = axis + x.rank if axis < 0 else axis  # -1 is the last axis (not rank)
        return [TensorType(x.dtype, (prod(x.dims[:axis]), prod(x.dims[axis:])))]

    def evaluate(self, c, x):
        axis = c.attr("axis")
        axis = axis + x.ndim if axis < 0 else axis
        return np.reshape(x, (int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))))


@register_op
class Squeeze(OpDef):
    """Remove size-1 axes (all of them when ``axes`` is omitted)."""

    name = "onnx.Squeeze"
    operands = ("data", "axes?")
    results = ("squeezed",)

    def _axes(self, c, dims):
        if c.has(1):
            axes = _shape_vector(c, 1, "axes")
            if axes is None:
                return None
            return norm_axes(c, axes, len(dims))
        if any(not isinstance(d, int) for d in dims):
            c.fail("Squeeze without axes needs static dimensions")
        return tuple(i for i, d in enumerate(dims) if d == 1)

    def infer(self, c):
        x = c.tensor(0)
        axes = self._axes(c, x.dims)
        if axes is None:
            return [TensorType(x.dtype, (None,) * (x.rank - _unknown_rank(c, 1, "axes")))]
        for a in axes:
            if isinstance(x.dims[a], int) and x.dims[a] != 1:
                c.fail(f"cannot squeeze axis {a} of size {x.dims[a]}")
        return [TensorType(x.dtype, tuple(d for i, d in enumerate(x.dims) if i not in axes))]

    def evaluate(self, c, data, axes=None):
        if axes is None:
            return np.squeeze(data)
        return np.squeeze(data, axis=tuple(int(a) % data.ndim for a in axes))


@register_op
class Unsqueeze(OpDef):
    """Insert size-1 axes at ``axes`` (positions in the output)."""

    name = "onnx.Unsqueeze"
    operands = ("data", "axes")
    results = ("expanded",)

    def infer(self, c):
        x = c.tensor(0)
        axes = _shape_vector(c, 1, "axes")
        if axes is None:
            return [TensorType(x.dtype, (None,) * (x.rank + _unknown_rank(c, 1, "axes")))]
        rank = x.rank + len(axes)
        axes = norm_axes(c, axes, rank)
        it = iter(x.dims)
        return [TensorType(x.dtype, tuple(1 if i in axes else next(it) for i in range(rank)))]

    def evaluate(self, c, data, axes):
        rank = data.ndim + len(axes)
        return np.expand_dims(data, tuple(int(a) % rank for a in axes))


@register_op
class NNReshape(OpDef):
    """Reshape to a static (possibly symbolic) shape; every entry is a real size."""

    name = "nn.reshape"
    operands = ("input",)
    attrs = {"shape": Attr("dims")}

    def infer(self, c):
        x = c.tensor(0)
        shape = c.attr("shape")
        if any(isinstance(d, int) and d < 0 for d in shape):
            c.fail(f"shape {fmt_dims(shape)} has a negative entry")
        before, after = prod(x.dims), prod(shape)
        if before is not None and after is not None and before != after:
            if isinstance(before, int) and isinstance(after, int) or exact_div(before, after) is None:
                c.fail(f"cannot reshape {fmt_dims(x.dims)} into {fmt_dims(shape)}")
        return [TensorType(x.dtype, tuple(shape))]

    def evaluate(self, c, x):
        shape = c.dims("shape")
        if x.dtype == object and any(isinstance(d, Sym) for d in shape):
            raise TypeError("symbolic reshape target")
        return np.reshape(x, [int(d) for d in shape])


# -- Transpose --------------------------------------------------------------------------------


class _TransposeBase(OpDef):
    operands = ("data",)
    results = ("transposed",)
    attrs = {"perm": Attr("ints")}

    def infer(self, c):
        x = c.tensor(0)
        perm = c.attr("perm")
        if sorted(perm) != list(range(x.rank)):
            c.fail(f"perm {list(perm)} is not a permutation of rank {x.rank}")
        return [TensorType(x.dtype, tuple(x.dims[p] for p in perm))]

    def evaluate(self, c, x):
        return np.transpose(x, c.attr("perm"))


@register_op
class Transpose(_TransposeBase):
    """Permute axes (``perm`` is explicit; ONNX's default reversal is filled in at import)."""

    name = "onnx.Transpose"


@register_op
class NNTranspose(_TransposeBase):
    """Permute axes."""

    name = "nn.transpose"


# -- Gather, Concat, Split --------------------------------------------------------------------


class _GatherBase(OpDef):
    operands = ("data", "indices")
    attrs = {"axis": Attr("int", 0)}

    def infer(self, c):
        x = c.tensor(0)
        require_int(c, 1, "indices")
        if x.rank == 0:
            c.fail("data must have rank >= 1")
        axis = norm_axis(c, c.attr("axis"), x.rank)
        dims = x.dims[:axis] + c.tensor(1).dims + x.dims[axis + 1 :]
        return [TensorType(x.dtype, dims)]

    def evaluate(self, c, data, indices):
        axis = c.attr("axis") % data.ndim
        n = data.shape[axis]
        idx = np.asarray(indices).astype(np.int64)
        if np.any((idx < -n) | (idx >= n)):
            c.fail(f"index out of range for axis {axis} of size {n}")
        out = np.take(data, np.where(idx < 0, idx + n, idx), axis=axis)
        # a scalar index gives an element (a Sym, for symbolic sizes), not an array
        return np.asarray(out, dtype=data.dtype)


@register_op
class Gather(_GatherBase):
    """Take entries of ``data`` along ``axis`` at ``indices`` (negative indices count back)."""

    name = "onnx.Gather"


@register_op
class NNGather(_GatherBase):
    """Take entries of ``data`` along ``axis`` at ``indices``."""

    name = "nn.gather"


class _ConcatBase(OpDef):
    operands = ("inputs*",)
    results = ("concat_result",)
    attrs = {"axis": Attr("int")}

    def infer(self, c):
        ts = [c.tensor(i) for i in range(len(c.types))]
        rank = ts[0].rank
        if rank == 0:
            c.fail("cannot concatenate scalars")
        if any(t.rank != rank for t in ts):
            c.fail(f"inputs have different ranks: {[t.rank for t in ts]}")
        if len({t.dtype for t in ts}) > 1:
            c.fail(f"inputs have different element types: {sorted({str(t.dtype) for t in ts})}")
        axis = norm_axis(c, c.attr("axis"), rank)
        dims = []
        for i in range(rank):
            col = [t.dims[i] for t in ts]
            if i == axis:
                dims.append(sum(col[1:], col[0]) if all(d is not None for d in col) else None)
                continue
            known = [d for d in col if d is not None]
            static = {d for d in known if isinstance(d, int)}
            if len(static) > 1:
                c.fail(f"inputs differ in dimension {i}: {sorted(static)}")
            dims.append(static.pop() if static else (known[0] if known else None))
        return [TensorType(ts[0].dtype, tuple(dims))]

    def evaluate(self, c, *xs):
        axis = c.attr("axis") % xs[0].ndim
        if any(x.dtype == object for x in xs):
            return np.concatenate([x.astype(object) for x in xs], axis=axis)
        return np.concatenate(xs, axis=axis)


@register_op
class Concat(_ConcatBase):
    """Concatenate along ``axis``."""

    name = "onnx.Concat"


@register_op
class NNConcat(_ConcatBase):
    """Concatenate along ``axis``."""

    name = "nn.concat"


def _split_sizes(c: OpContext, dim, n_out: int, num_outputs):
    if num_outputs is not None:
        n = num_outputs
        if n_out != n:
            c.fail(f"num_outputs is {n} but the op has {n_out} results")
    else:
        n = n_out
    if isinstance(dim, int):
        chunk = -(-dim // n)
        sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(n)]
        return sizes
    q = exact_div(dim, n) if dim is not None else None
    return [q] * n


@register_op
class Split(OpDef):
    """Split along ``axis`` into the given sizes, or into equal parts."""

    name = "onnx.Split"
    operands = ("input", "split?")
    results = ("outputs*",)
    attrs = {"axis": Attr("int", 0), "num_outputs": Attr("int", ABSENT)}

    def infer(self, c):
        x = c.tensor(0)
        axis = norm_axis(c, c.attr("axis"), x.rank)
        n_out = len(c.op.results)
        if not n_out:
            # build_op infers before the results exist: count them from the split sizes or
            # num_outputs (the importer writes num_outputs for opset 13's equal split)
            if c.has(1):
                n_out = c.tensor(1).dims[0] if c.tensor(1).rank == 1 else None
            else:
                n_out = c.attr("num_outputs", None)
            if not isinstance(n_out, int):
                c.fail("the number of results is unknown (give split sizes or num_outputs)")
        if c.has(1):
            if "num_outputs" in c.op.attrs:
                c.fail("give either the split input or num_outputs, not both")
            sizes = _shape_vector(c, 1, "split")
            if sizes is None:
                sizes = [None] * n_out
            elif len(sizes) != n_out:
                c.fail(f"split has {len(sizes)} entries but the op has {n_out} results")
            elif isinstance(x.dims[axis], int) and sum(sizes) != x.dims[axis]:
                c.fail(f"split sizes {sizes} do not add up to dimension {x.dims[axis]}")
        else:
            sizes = _split_sizes(c, x.dims[axis], n_out, c.attr("num_outputs", None))
        return [
            TensorType(x.dtype, x.dims[:axis] + (s,) + x.dims[axis + 1 :]) for s in sizes
        ]

    def evaluate(self, c, x, split=None):
        axis = c.attr("axis") % x.ndim
        n_out = len(c.op.results)
        if split is None:
            sizes = _split_sizes(c, x.shape[axis], n_out, c.attr("num_outputs", None))
        else:
            sizes = [int(s) for s in split]
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@register_op
class NNSplit(OpDef):
    """Split along ``axis`` into parts of the given sizes."""

    name = "nn.split"
    operands = ("input",)
    results = ("outputs*",)
    attrs = {"axis": Attr("int"), "sizes": Attr("dims")}

    def infer(self, c):
        x = c.tensor(0)
        axis = norm_axis(c, c.attr("axis"), x.rank)
        sizes = c.attr("sizes")
        if len(sizes) != len(c.op.results):
            c.fail(f"sizes has {len(sizes)} entries but the op has {len(c.op.results)} results")
        total = sum(sizes[1:], sizes[0]) if sizes else 0
        if x.dims[axis] is not None and total != x.dims[axis]:
            c.fail(f"sizes {fmt_dims(sizes)} do not add up to dimension {fmt_dims([x.dims[axis]])}")
        return [TensorType(x.dtype, x.dims[:axis] + (s,) + x.dims[axis + 1 :]) for s in sizes]

    def evaluate(self, c, x):
        axis = c.attr("axis") % x.ndim
        sizes = [int(s) for s in c.dims("sizes")]
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


# -- Slice ------------------------------------------------------------------------------------


def _slice_dims(c: OpContext, dims, starts, ends, axes, steps):
    if not len(starts) == len(ends) == len(axes) == len(steps):
        c.fail("starts, ends, axes and steps must have the same length")
    axes = norm_axes(c, axes, len(dims))
    out = list(dims)
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            c.fail("slice step cannot be 0")
        out[a] = slice_dim(dims[a], s, e, st)
    return out


def _slice_eval(x: np.ndarray, starts, ends, axes, steps) -> np.ndarray:
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a) % x.ndim] = slice(_clip(int(s)), _clip(int(e)), int(st))
    return x[tuple(index)]


def _clip(v: int) -> int:
    # numpy slices accept any int, but keep them in a sane range
    return max(min(v, INT64_MAX), -INT64_MAX)


@register_op
class Slice(OpDef):
    """Slice ``data`` along ``axes`` (default all) with ``steps`` (default 1), clamped."""

    name = "onnx.Slice"
    operands = ("data", "starts", "ends", "axes?", "steps?")
    results = ("output",)

    def infer(self, c):
        x = c.tensor(0)
        # ONNX allows i32 or i64 bounds (Tind)
        vals = [_shape_vector(c, i, n, (DType.I32, DType.I64)) if c.has(i) else "absent"
                for i, n in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps"))]
        starts, ends, axes, steps = vals
        if starts is None or ends is None or axes is None or steps is None:
            unknown = set(range(x.rank)) if axes in (None, "absent") or axes is None else set(
                norm_axes(c, axes, x.rank)
            )
            return [TensorType(x.dtype, tuple(None if i in unknown else d for i, d in enumerate(x.dims)))]
        if axes == "absent":
            axes = list(range(len(starts)))
        if steps == "absent":
            steps = [1] * len(starts)
        if any(isinstance(v, Sym) for v in starts + ends + axes + steps):
            return [TensorType(x.dtype, (None,) * x.rank)]
        return [TensorType(x.dtype, tuple(_slice_dims(c, x.dims, starts, ends, axes, steps)))]

    def evaluate(self, c, data, starts, ends, axes=None, steps=None):
        if axes is None:
            axes = list(range(len(starts)))
        if steps is None:
            steps = [1] * len(starts)
        return _slice_eval(data, starts, ends, axes, steps)


@register_op
class NNSlice(OpDef):
    """Slice with static bounds (ONNX semantics: clamped, negative counts from the end)."""

    name = "nn.slice"
    operands = ("input",)
    attrs = {"starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints"),
             "steps": Attr("ints")}

    def infer(self, c):
        x = c.tensor(0)
        a = c.op.attrs
        return [TensorType(x.dtype, tuple(_slice_dims(c, x.dims, a["starts"], a["ends"],
                                                      a["axes"], a["steps"])))]

    def evaluate(self, c, x):
        a = c.op.attrs
        return _slice_eval(x, a["starts"], a["ends"], a["axes"], a["steps"])


# -- Shape, ConstantOfShape, Expand -----------------------------------------------------------


@register_op
class Shape(OpDef):
    """The dimensions of ``data`` (from ``start`` to ``end``) as an i64 vector."""

    name = "onnx.Shape"
    operands = ("data",)
    results = ("shape",)
    attrs = {"start": Attr("int", 0), "end": Attr("int", ABSENT)}

    def _range(self, rank: int, start: int, end: int | None) -> range:
        return range(rank)[slice(start, end)]

    def infer(self, c):
        x = c.tensor(0)
        n = len(self._range(x.rank, c.attr("start"), c.attr("end", None)))
        return [TensorType(DType.I64, (n,))]

    def fold(self, c):
        dims = c.tensor(0).dims
        picked = [dims[i] for i in self._range(len(dims), c.attr("start"), c.attr("end", None))]
        if any(d is None for d in picked):
            return None
        return (np.array(picked, dtype=object),)

    def evaluate(self, c, data):
        r = self._range(data.ndim, c.attr("start"), c.attr("end", None))
        return np.array([data.shape[i] for i in r], dtype=np.int64)


@register_op
class ConstantOfShape(OpDef):
    """A tensor of the given shape filled with ``value`` (of element type ``dtype``)."""

    name = "onnx.ConstantOfShape"
    operands = ("input",)
    attrs = {"value": Attr("scalar", 0.0), "dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        shape = _shape_vector(c, 0, "input")
        if shape is None:
            return [TensorType(c.attr("dtype"), (None,) * _unknown_rank(c, 0, "input"))]
        if any(isinstance(d, int) and d < 0 for d in shape):
            c.fail(f"shape {shape} has a negative entry")
        return [TensorType(c.attr("dtype"), tuple(shape))]

    def evaluate(self, c, shape):
        dt: DType = c.attr("dtype")
        return np.full([int(s) for s in shape], c.attr("value"), dtype=dt.numpy)


def _expand_dims(c: OpContext, dims, shape):
    return broadcast(c, dims, shape)


@register_op
class Expand(OpDef):
    """Broadcast ``input`` to ``shape`` (two-way: size-1 entries of shape keep the input's)."""

    name = "onnx.Expand"
    operands = ("input", "shape")

    def infer(self, c):
        x = c.tensor(0)
        shape = _shape_vector(c, 1, "shape")
        if shape is None:
            rank = max(x.rank, _unknown_rank(c, 1, "shape"))
            return [TensorType(x.dtype, (None,) * rank)]
        return [TensorType(x.dtype, _expand_dims(c, x.dims, shape))]

    def evaluate(self, c, x, shape):
        target = np.broadcast_shapes(x.shape, tuple(int(s) for s in shape))
        return keep_dtype(np.broadcast_to(x, target).copy(), x)


@register_op
class NNExpand(OpDef):
    """Broadcast ``input`` to ``shape`` (numpy rules)."""

    name = "nn.expand"
    operands = ("input",)
    attrs = {"shape": Attr("dims")}

    def infer(self, c):
        return [TensorType(c.tensor(0).dtype, _expand_dims(c, c.tensor(0).dims, c.attr("shape")))]

    def evaluate(self, c, x):
        target = np.broadcast_shapes(x.shape, tuple(int(s) for s in c.dims("shape")))
        return np.broadcast_to(x, target).copy()
