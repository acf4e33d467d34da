"""Matrix products, softmax, layer normalisation and reductions, in both dialects.

``nn.linear(x, W, b?)`` is the canonical dense layer: ``y = x @ W.T + b`` with ``W`` of shape
``[out_features, in_features]`` (torch's convention) applied to the last axis of ``x``.
"""

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


def _contract(c: OpContext, a, b, what: str):
    if isinstance(a, int) and isinstance(b, int) and a != b:
        c.fail(f"{what}: inner dimensions differ ({a} vs {b})")
    return a if a is not None else b


def matmul_dims(c: OpContext, a: tuple, b: tuple) -> tuple:
    """numpy.matmul's shape rule (1-D operands promoted and the extra axis removed)."""
    if not a or not b:
        c.fail("matmul operands must have rank >= 1")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    _contract(c, a2[-1], b2[-2], "matmul")
    batch = broadcast(c, a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


class _MatMulBase(OpDef):
    operands = ("A", "B")
    results = ("Y",)

    def infer(self, c):
        dt = same_dtype(c, 0, 1)
        if dt == DType.BOOL:
            c.fail("matmul of bool tensors")
        return [TensorType(dt, matmul_dims(c, c.tensor(0).dims, c.tensor(1).dims))]

    def evaluate(self, c, a, b):
        return keep_dtype(np.matmul(a, b), a)


@register_op
class MatMul(_MatMulBase):
    """Matrix product with numpy.matmul semantics."""

    name = "onnx.MatMul"


@register_op
class NNMatMul(_MatMulBase):
    """Matrix product of two activations (numpy.matmul semantics)."""

    name = "nn.matmul"


@register_op
class Gemm(OpDef):
    """``alpha * A' @ B' + beta * C`` with A', B' optionally transposed; C broadcasts."""

    name = "onnx.Gemm"
    operands = ("A", "B", "C?")
    results = ("Y",)
    attrs = {
        "alpha": Attr("float", 1.0),
        "beta": Attr("float", 1.0),
        "transA": Attr("int", 0, choices=(0, 1)),
        "transB": Attr("int", 0, choices=(0, 1)),
    }

    def infer(self, c):
        dt = same_dtype(c, 0, 1, 2)
        a, b = c.tensor(0), c.tensor(1)
        if a.rank != 2 or b.rank != 2:
            c.fail(f"A and B must be 2-D, got ranks {a.rank} and {b.rank}")
        m, k = a.dims[::-1] if c.attr("transA") else a.dims
        k2, n = b.dims[::-1] if c.attr("transB") else b.dims
        _contract(c, k, k2, "Gemm")
        if c.has(2):
            ct = c.tensor(2)
            if ct.rank > 2:
                c.fail(f"C must have rank <= 2, got {ct.rank}")
            for have, want in zip(reversed(ct.dims), (n, m)):
                if have != 1 and isinstance(have, int) and isinstance(want, int) and have != want:
                    c.fail(f"C of shape {list(ct.dims)} does not broadcast to [{m}, {n}]")
        return [TensorType(dt, (m, n))]

    def evaluate(self, c, a, b, cc=None):
        if c.attr("transA"):
            a = a.T
        if c.attr("transB"):
            b = b.T
        y = np.matmul(a, b) * a.dtype.type(c.attr("alpha"))
        if cc is not None:
            y = y + a.dtype.type(c.attr("beta")) * cc
        return keep_dtype(y, a)


@register_op
class Linear(OpDef):
    """Dense layer ``y = x @ weight.T + bias`` over the last axis of ``x``."""

    name = "nn.linear"
    operands = ("input", "weight", "bias?")
    results = ("output",)

    def infer(self, c):
        dt = same_dtype(c, 0, 1, 2)
        require_float(c, 0)
        x, w = c.tensor(0), c.tensor(1)
        if w.rank != 2:
            c.fail(f"weight must be 2-D [out_features, in_features], got rank {w.rank}")
        if x.rank < 1:
            c.fail("input must have rank >= 1")
        _contract(c, x.dims[-1], w.dims[1], "linear")
        if c.has(2):
            b = c.tensor(2)
            if b.rank != 1:
                c.fail(f"bias must be 1-D [out_features], got rank {b.rank}")
            _contract(c, b.dims[0], w.dims[0], "linear bias")
        return [TensorType(dt, x.dims[:-1] + (w.dims[0],))]

    def evaluate(self, c, x, w, b=None):
        y = np.matmul(x, w.T)
        if b is not None:
            y = y + b
        return keep_dtype(y, x)


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
    fn = staticmethod(np.mean)


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
    fn = staticmethod(np.mean)
