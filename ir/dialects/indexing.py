"""Indexing ops: gather, concatenate, split, slice and triangular parts, in both dialects."""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects.shapes import (
    fmt_dims,
    norm_axes,
    norm_axis,
    onnx_slice,
    require_int,
    shape_vector,
    slice_dim,
)
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import Sym, exact_div
from qlower.ir.types import DType, TensorType

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
            sizes = shape_vector(c, 1, "split")
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
        axis = int(a) % x.ndim
        index[axis] = onnx_slice(x.shape[axis], int(s), int(e), int(st))
    return x[tuple(index)]


@register_op
class Slice(OpDef):
    """Slice ``data`` along ``axes`` (default all) with ``steps`` (default 1), clamped."""

    name = "onnx.Slice"
    operands = ("data", "starts", "ends", "axes?", "steps?")
    results = ("output",)

    def infer(self, c):
        x = c.tensor(0)
        # ONNX allows i32 or i64 bounds (Tind)
        vals = [shape_vector(c, i, n, (DType.I32, DType.I64)) if c.has(i) else "absent"
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
        if any(isinstance(v, Sym) for v in axes + steps):
            return [TensorType(x.dtype, (None,) * x.rank)]
        # symbolic starts/ends leave only their own axes unknown (slice_dim decides)
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
    # starts and ends may be symbolic (``x[:, :seq]`` of a longer buffer)
    attrs = {"starts": Attr("dims"), "ends": Attr("dims"), "axes": Attr("ints"),
             "steps": Attr("ints")}

    def infer(self, c):
        x = c.tensor(0)
        a = c.op.attrs
        return [TensorType(x.dtype, tuple(_slice_dims(c, x.dims, a["starts"], a["ends"],
                                                      a["axes"], a["steps"])))]

    def evaluate(self, c, x):
        a = c.op.attrs
        return _slice_eval(x, c.dims("starts"), c.dims("ends"), a["axes"], a["steps"])


# -- Trilu ------------------------------------------------------------------------------------


def _trilu_infer(c: OpContext):
    x = c.tensor(0)
    if x.rank < 2:
        c.fail(f"input must have rank >= 2, got {x.rank}")
    return [x]


def _trilu(x: np.ndarray, upper: bool, k: int) -> np.ndarray:
    return np.triu(x, k) if upper else np.tril(x, k)


@register_op
class Trilu(OpDef):
    """The upper (``upper=1``) or lower triangle of the last two axes, from diagonal ``k``."""

    name = "onnx.Trilu"
    operands = ("input", "k?")
    attrs = {"upper": Attr("int", 1, choices=(0, 1))}

    def infer(self, c):
        if c.has(1):
            t = c.tensor(1)
            if t.dtype != DType.I64 or t.rank != 0:
                c.fail(f"k must be an i64 scalar, got {t}")
        return _trilu_infer(c)

    def evaluate(self, c, x, k=None):
        return _trilu(x, bool(c.attr("upper")), 0 if k is None else int(k))


@register_op
class NNTrilu(OpDef):
    """The upper or lower triangle of the last two axes, from diagonal ``k``."""

    name = "nn.trilu"
    operands = ("input",)
    attrs = {"upper": Attr("bool"), "k": Attr("int", 0)}

    def infer(self, c):
        return _trilu_infer(c)

    def evaluate(self, c, x):
        return _trilu(x, c.attr("upper"), c.attr("k"))
