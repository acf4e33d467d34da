"""Ops that work along axes, in both dialects: softmax, layer normalisation, reductions."""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects import kernels
from qlower.ir.dialects.elementwise import keep_dtype
from qlower.ir.dialects.shapes import (
    broadcast,
    int_list,
    norm_axes,
    norm_axis,
    require_float,
    same_dtype,
)
from qlower.ir.opdef import Attr, OpContext, OpDef, register_op
from qlower.ir.types import DType, TensorType

# -- softmax ----------------------------------------------------------------------------------


class _SoftmaxBase(OpDef):
    operands = ("input",)
    attrs = {"axis": Attr("int", -1)}
    kernel = staticmethod(kernels.softmax)

    def infer(self, c):
        require_float(c, 0)
        norm_axis(c, c.attr("axis"), c.tensor(0).rank)
        return [c.tensor(0)]

    def evaluate(self, c, x):
        return type(self).kernel(x, c.attr("axis") % x.ndim)


@register_op
class Softmax(_SoftmaxBase):
    """Softmax along ``axis``."""

    name = "onnx.Softmax"


@register_op
class NNSoftmax(_SoftmaxBase):
    """Softmax along ``axis``."""

    name = "nn.softmax"


@register_op
class LogSoftmax(_SoftmaxBase):
    """Log of softmax along ``axis``."""

    name = "onnx.LogSoftmax"
    kernel = staticmethod(kernels.log_softmax)


@register_op
class NNLogSoftmax(_SoftmaxBase):
    """Log of softmax along ``axis``."""

    name = "nn.log_softmax"
    kernel = staticmethod(kernels.log_softmax)


# -- layer normalisation ----------------------------------------------------------------------


def _layer_norm_infer(c: OpContext):
    require_float(c, 0)
    same_dtype(c, 0, 1, 2)
    x = c.tensor(0)
    axis = norm_axis(c, c.attr("axis"), x.rank)
    norm_dims = x.dims[axis:]
    for i, what in ((1, "scale"), (2, "bias")):
        if c.has(i):
            t = c.tensor(i)
            shape = broadcast(c, norm_dims, t.dims)
            if len(shape) != len(norm_dims):
                c.fail(f"{what} of shape {list(t.dims)} does not broadcast to {list(norm_dims)}")
    # Mean and InvStdDev have the stash type (stash_type=1: f32), not X's type
    stats = TensorType(DType.F32, x.dims[:axis] + (1,) * (x.rank - axis))
    return x, stats


@register_op
class LayerNormalization(OpDef):
    """Normalise over axes ``axis..-1``, then scale and shift; optional Mean/InvStdDev."""

    name = "onnx.LayerNormalization"
    operands = ("X", "Scale", "B?")
    results = ("Y", "Mean?", "InvStdDev?")
    attrs = {
        "axis": Attr("int", -1),
        "epsilon": Attr("float", 1e-5),
        "stash_type": Attr("int", 1, choices=(1,)),
    }

    def infer(self, c):
        y, stats = _layer_norm_infer(c)
        return [y, stats, stats]

    def evaluate(self, c, x, scale, b=None):
        out = kernels.layer_norm(x, scale, b, c.attr("axis") % x.ndim, c.attr("epsilon"))
        return out[: len(c.op.results)]


@register_op
class LayerNorm(OpDef):
    """Layer normalisation over axes ``axis..-1`` with elementwise scale and optional bias."""

    name = "nn.layer_norm"
    operands = ("input", "scale", "bias?")
    attrs = {"axis": Attr("int", -1), "epsilon": Attr("float", 1e-5)}

    def infer(self, c):
        return [_layer_norm_infer(c)[0]]

    def evaluate(self, c, x, scale, b=None):
        return kernels.layer_norm(x, scale, b, c.attr("axis") % x.ndim, c.attr("epsilon"))[0]


# -- reductions -------------------------------------------------------------------------------


def _reduce_dims(c: OpContext, dims, axes, keepdims: bool):
    axes = set(norm_axes(c, axes, len(dims)))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(dims))
    return tuple(d for i, d in enumerate(dims) if i not in axes)


class _OnnxReduce(OpDef):
    operands = ("data", "axes?")
    results = ("reduced",)
    attrs = {"keepdims": Attr("int", 1, choices=(0, 1)),
             "noop_with_empty_axes": Attr("int", 0, choices=(0, 1))}
    fn = staticmethod(np.sum)

    def _axes(self, c, rank):
        if c.has(1):
            t = c.tensor(1)
            if t.dtype != DType.I64 or t.rank != 1:
                c.fail(f"axes must be a 1-D i64 tensor, got {t}")
            axes = int_list(c, 1, "axes")
            if axes is None:
                return None
            if axes:
                return axes
        return [] if c.attr("noop_with_empty_axes") else list(range(rank))

    def infer(self, c):
        x = c.tensor(0)
        if x.dtype == DType.BOOL:
            c.fail("cannot reduce a bool tensor")
        axes = self._axes(c, x.rank)
        if axes is None:
            if c.attr("keepdims"):
                return [TensorType(x.dtype, (None,) * x.rank)]
            c.fail("axes are not known, so the result rank is unknown")
        return [TensorType(x.dtype, _reduce_dims(c, x.dims, axes, bool(c.attr("keepdims"))))]

    def evaluate(self, c, x, axes=None):
        if axes is None or len(axes) == 0:
            if c.attr("noop_with_empty_axes"):
                return x
            axes = range(x.ndim)
        ax = tuple(int(a) % x.ndim for a in axes)
        return keep_dtype(type(self).fn(x, axis=ax, keepdims=bool(c.attr("keepdims"))), x)


@register_op
class ReduceSum(_OnnxReduce):
    """Sum over ``axes`` (all when omitted, unless noop_with_empty_axes)."""

    name = "onnx.ReduceSum"


@register_op
class ReduceMean(_OnnxReduce):
    """Mean over ``axes`` (all when omitted, unless noop_with_empty_axes)."""

    name = "onnx.ReduceMean"
    fn = staticmethod(kernels.mean)


class _NNReduce(OpDef):
    operands = ("input",)
    attrs = {"axes": Attr("ints"), "keepdims": Attr("bool", False)}
    fn = staticmethod(np.sum)

    def infer(self, c):
        x = c.tensor(0)
        if not c.attr("axes"):
            c.fail("axes must not be empty")
        return [TensorType(x.dtype, _reduce_dims(c, x.dims, c.attr("axes"), c.attr("keepdims")))]

    def evaluate(self, c, x):
        ax = tuple(a % x.ndim for a in c.attr("axes"))
        return keep_dtype(type(self).fn(x, axis=ax, keepdims=c.attr("keepdims")), x)


@register_op
class NNReduceSum(_NNReduce):
    """Sum over ``axes``."""

    name = "nn.reduce_sum"


@register_op
class NNReduceMean(_NNReduce):
    """Mean over ``axes``."""

    name = "nn.reduce_mean"
    fn = staticmethod(kernels.mean)
