"""Arithmetic sequences and running sums: ``onnx.Range``/``nn.range``, ``onnx.CumSum``/``nn.cumsum``.

``onnx.Range(start, limit, delta)`` has ``max(ceil((limit - start) / delta), 0)`` elements
``start + i * delta``; its length is known when the operands are, also for a symbolic ``limit``
(``Range(0, seq, 1)`` has ``seq`` elements). ``nn.range {start, delta, size, dtype}`` is the
same sequence with static parameters (``size`` may be symbolic).
"""

from __future__ import annotations

import math

import numpy as np

from qlower.ir.dialects.shapes import require_int, same_dtype
from qlower.ir.opdef import Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import Sym, SymbolicError, exact_div
from qlower.ir.types import DType, TensorType


def range_size(start, limit, delta):
    """The number of elements, ``int | Sym``, or None when it is not known exactly."""
    values = (start, limit, delta)
    if delta == 0:
        return None
    if not any(isinstance(v, Sym) for v in values):
        if all(isinstance(v, (int, np.integer)) for v in values):
            return max(-(-(int(limit) - int(start)) // int(delta)), 0)
        return max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    if isinstance(delta, Sym) or any(isinstance(v, float) for v in values):
        return None
    n = exact_div(limit - start, delta)  # the ceiling is exact where the division is
    if n is None:
        return None
    try:
        return n if n >= 0 else 0
    except SymbolicError:
        return None


def _scalar(v: np.ndarray):
    item = v.reshape(()).item() if v.dtype != object else v.reshape(())[()]
    return item


def _sequence(start, delta, n: int, dt: np.dtype, stash: bool) -> np.ndarray:
    work = np.float32 if stash and dt == np.float16 else dt
    i = np.arange(n, dtype=np.int64 if np.dtype(work).kind in "iu" else work)
    with np.errstate(all="ignore"):
        return (np.asarray(start, work) + i * np.asarray(delta, work)).astype(dt)


@register_op
class Range(OpDef):
    """``[start, start + delta, ...]`` up to ``limit`` (exclusive); scalar operands of one type."""

    name = "onnx.Range"
    operands = ("start", "limit", "delta")
    attrs = {"stash_type": Attr("int", 1, choices=(0, 1))}

    def infer(self, c: OpContext):
        dt = same_dtype(c, 0, 1, 2)
        if dt == DType.BOOL or dt.is_complex or dt.value.startswith("u") or dt == DType.I8:
            c.fail(f"operands must be f16, f32, f64, i16, i32 or i64, got {dt}")
        for i, what in enumerate(("start", "limit", "delta")):
            t = c.tensor(i)
            if t.rank != 0 and not (t.rank == 1 and t.dims[0] == 1):
                c.fail(f"{what} must be a scalar, got {t}")
        vals = [c.value(i) for i in range(3)]
        n = None
        if all(v is not None for v in vals):
            start, limit, delta = (_scalar(v) for v in vals)
            if delta == 0:
                c.fail("delta must not be 0")
            n = range_size(start, limit, delta)
        return [TensorType(dt, (n,))]

    def evaluate(self, c, start, limit, delta):
        s, lim, d = (_scalar(v) for v in (start, limit, delta))
        if isinstance(lim, Sym) or isinstance(s, Sym) or isinstance(d, Sym):
            raise SymbolicError("Range of symbolic sizes has no static length")
        if d == 0:
            c.fail("delta must not be 0")
        n = range_size(s, lim, d)
        return _sequence(s, d, int(n), start.dtype, bool(c.attr("stash_type")))


@register_op
class NNRange(OpDef):
    """``size`` elements ``start + i * delta`` of element type ``dtype`` (``size`` may be
    symbolic: ``nn.range {size = (seq), ...}`` is ``[0, 1, ..., seq - 1]``)."""

    name = "nn.range"
    operands = ()
    attrs = {"start": Attr("scalar"), "delta": Attr("scalar"), "size": Attr("dim"),
             "dtype": Attr("dtype")}

    def infer(self, c):
        dt = c.attr("dtype")
        if dt == DType.BOOL or dt.is_complex:
            c.fail(f"dtype must be numeric, got {dt}")
        size = c.attr("size")
        if isinstance(size, int) and size < 0:
            c.fail(f"size must not be negative, got {size}")
        return [TensorType(dt, (size,))]

    def evaluate(self, c):
        n = c.dim("size")
        dt: DType = c.attr("dtype")
        return _sequence(c.attr("start"), c.attr("delta"), int(n), dt.numpy, True)


def _cumsum(x: np.ndarray, axis: int, exclusive: bool, reverse: bool) -> np.ndarray:
    if reverse:
        x = np.flip(x, axis)
    out = np.cumsum(x, axis=axis, dtype=x.dtype)
    if exclusive:
        out = np.roll(out, 1, axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, 1)
        out[tuple(index)] = 0
    return np.flip(out, axis) if reverse else out


def _cumsum_infer(c: OpContext) -> list:
    dt = c.tensor(0).dtype
    if dt == DType.BOOL or dt.is_complex or dt.value in ("i8", "i16", "u8", "u16"):
        c.fail(f"input must be f16, f32, f64, i32, i64, u32 or u64, got {dt}")
    return [c.tensor(0)]


@register_op
class CumSum(OpDef):
    """Running sum along the axis given by the scalar ``axis`` operand."""

    name = "onnx.CumSum"
    operands = ("x", "axis")
    results = ("y",)
    attrs = {"exclusive": Attr("int", 0, choices=(0, 1)),
             "reverse": Attr("int", 0, choices=(0, 1))}

    def infer(self, c):
        require_int(c, 1, "axis")
        t = c.tensor(1)
        if t.rank != 0 and not (t.rank == 1 and t.dims[0] == 1):
            c.fail(f"axis must be a scalar, got {t}")
        v = c.value(1)
        if v is not None and not -c.tensor(0).rank <= int(v.reshape(())) < c.tensor(0).rank:
            c.fail(f"axis {int(v.reshape(()))} is out of range for rank {c.tensor(0).rank}")
        return _cumsum_infer(c)

    def evaluate(self, c, x, axis):
        a = int(axis.reshape(()))
        if not -x.ndim <= a < x.ndim:
            c.fail(f"axis {a} is out of range for rank {x.ndim}")
        return _cumsum(x, a % x.ndim, bool(c.attr("exclusive")), bool(c.attr("reverse")))


@register_op
class NNCumSum(OpDef):
    """Running sum along ``axis`` (``exclusive``: without the element itself; ``reverse``: from
    the end)."""

    name = "nn.cumsum"
    operands = ("x",)
    attrs = {"axis": Attr("int"), "exclusive": Attr("bool", False),
             "reverse": Attr("bool", False)}

    def infer(self, c):
        if not 0 <= c.attr("axis") < c.tensor(0).rank:
            c.fail(f"axis {c.attr('axis')} is out of range for rank {c.tensor(0).rank}")
        return _cumsum_infer(c)

    def evaluate(self, c, x):
        return _cumsum(x, c.attr("axis"), c.attr("exclusive"), c.attr("reverse"))
