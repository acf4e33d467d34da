"""Variadic elementwise ops, in both dialects: ``onnx.Max``/``Min``/``Sum``/``Mean`` and their
``nn.max`` … twins.

One or more operands of one element type, broadcast together (ONNX's multidirectional
broadcasting). Max and Min take any numeric type (NaN propagates, as in onnxruntime) and also
symbolic sizes where their signs decide the order; Sum and Mean take floats.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from qlower.ir.dialects.elementwise import keep_dtype
from qlower.ir.dialects.shapes import broadcast, same_dtype
from qlower.ir.opdef import OpContext, OpDef, register_op
from qlower.ir.types import DType, TensorType


def _pairwise(fn: Callable, py: Callable) -> Callable:
    ufunc = np.frompyfunc(py, 2, 1)

    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype == object or b.dtype == object:
            return np.asarray(ufunc(a, b), dtype=object)
        return fn(a, b)

    return run


def _mean(*xs: np.ndarray) -> np.ndarray:
    total = functools.reduce(np.add, xs)
    return total / np.asarray(len(xs), dtype=total.dtype)


VARIADIC = {
    "Max": ("max", _pairwise(np.maximum, max), False, "maximum"),
    "Min": ("min", _pairwise(np.minimum, min), False, "minimum"),
    "Sum": ("sum", np.add, True, "sum"),
}


def _variadic(opname: str, floats_only: bool, what: str, run: Callable) -> type[OpDef]:
    class Variadic(OpDef):
        __doc__ = f"Elementwise {what} of one or more tensors, with broadcasting."
        name = opname
        operands = ("data_0*",)
        results = ("result",)

        def infer(self, c: OpContext):
            n = len(c.types)
            if n == 0:
                c.fail("needs at least one operand")
            dt = same_dtype(c, *range(n))
            if dt == DType.BOOL or (floats_only and not dt.is_float):
                kind = "floating-point" if floats_only else "numeric"
                c.fail(f"operands must be {kind}, got {dt}")
            return [TensorType(dt, broadcast(c, *(c.tensor(i).dims for i in range(n))))]

        def evaluate(self, c, *xs):
            shape = np.broadcast_shapes(*(x.shape for x in xs))
            with np.errstate(all="ignore"):
                out = run(*xs)
            return keep_dtype(np.broadcast_to(out, shape).copy(), xs[0])

    Variadic.__name__ = Variadic.__qualname__ = opname.replace(".", "_")
    return register_op(Variadic)


for _onnx_name, (_nn_name, _fn, _floats, _what) in VARIADIC.items():
    _run = functools.partial(functools.reduce, _fn)

    def _call(*xs, _r=_run):
        return _r(xs)

    _variadic(f"onnx.{_onnx_name}", _floats, _what, _call)
    _variadic(f"nn.{_nn_name}", _floats, _what, _call)

_variadic("onnx.Mean", True, "mean", _mean)
_variadic("nn.mean", True, "mean", _mean)
