"""Reshape-like ops: ONNX's shape plumbing and the ``nn.*`` forms with static parameters.

ONNX passes reshape targets and axes as tensors (``onnx.Reshape(%x, %shape)``); the ``nn`` forms
hold them as attributes (``nn.reshape(%x) {shape = [(batch), 32]}``), with symbolic sizes where
the batch is symbolic. The ``onnx`` ops evaluate on symbolic values too, which is how
``Shape → Gather → Concat → Reshape`` chains fold.
"""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects.elementwise import keep_dtype
from qlower.ir.dialects.shapes import (
    broadcast,
    fmt_dims,
    norm_axes,
    prod,
    reshape_dims,
    shape_vector,
    unknown_rank,
)
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import Sym, exact_div
from qlower.ir.types import DType, TensorType


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
        target = shape_vector(c, 1, "shape")
        x = c.tensor(0)
        if target is None:
            return [TensorType(x.dtype, (None,) * unknown_rank(c, 1, "shape"))]
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
            axes = shape_vector(c, 1, "axes")
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
            return [TensorType(x.dtype, (None,) * (x.rank - unknown_rank(c, 1, "axes")))]
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
        axes = shape_vector(c, 1, "axes")
        if axes is None:
            return [TensorType(x.dtype, (None,) * (x.rank + unknown_rank(c, 1, "axes")))]
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
        shape = shape_vector(c, 0, "input")
        if shape is None:
            return [TensorType(c.attr("dtype"), (None,) * unknown_rank(c, 0, "input"))]
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
        shape = shape_vector(c, 1, "shape")
        if shape is None:
            rank = max(x.rank, unknown_rank(c, 1, "shape"))
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
