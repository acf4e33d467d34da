"""Comparisons, logic and float tests, in both dialects: ``onnx.Greater`` … and ``nn.greater`` ….

ONNX semantics: multidirectional broadcasting, bool results. Comparisons take two operands of
one numeric type (also symbolic sizes, which compare where their signs decide them, so shape
arithmetic folds); ``And``/``Or``/``Xor``/``Not`` take bools; ``IsNaN``/``IsInf`` take floats.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import numpy as np

from qlower.ir.dialects.elementwise import twin
from qlower.ir.dialects.shapes import broadcast, same_dtype
from qlower.ir.opdef import Attr, OpContext, OpDef, register_op
from qlower.ir.types import DType, TensorType


def _compare(fn: Callable) -> Callable:
    ufunc = np.frompyfunc(fn, 2, 1)

    def run(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.dtype == object or b.dtype == object:
            # symbolic sizes: Sym's comparisons decide or raise SymbolicError
            return np.asarray(ufunc(a, b)).astype(bool)
        return np.asarray(fn(a, b), dtype=bool)

    return run


COMPARISONS = {
    "Greater": ("greater", operator.gt, "``A > B``"),
    "GreaterOrEqual": ("greater_equal", operator.ge, "``A >= B``"),
    "Less": ("less", operator.lt, "``A < B``"),
    "LessOrEqual": ("less_equal", operator.le, "``A <= B``"),
}


def _comparison(opname: str, fn: Callable, what: str) -> type[OpDef]:
    run = _compare(fn)

    class Comparison(OpDef):
        __doc__ = f"Elementwise {what} with broadcasting; the result is bool."
        name = opname
        operands = ("A", "B")
        results = ("C",)

        def infer(self, c: OpContext):
            if same_dtype(c, 0, 1) == DType.BOOL:
                c.fail("operands must be numeric, got bool")
            return [TensorType(DType.BOOL, broadcast(c, c.tensor(0).dims, c.tensor(1).dims))]

        def evaluate(self, c, a, b):
            return run(a, b)

    Comparison.__name__ = Comparison.__qualname__ = opname.replace(".", "_")
    return register_op(Comparison)


LOGIC = {
    "And": ("and", np.logical_and),
    "Or": ("or", np.logical_or),
    "Xor": ("xor", np.logical_xor),
}


def _require_bool(c: OpContext, i: int) -> None:
    if c.tensor(i).dtype != DType.BOOL:
        c.fail(f"operands must be bool, got {c.tensor(i).dtype}")


def _logic(opname: str, fn: Callable) -> type[OpDef]:
    class Logic(OpDef):
        __doc__ = f"Elementwise logical {opname.split('.')[-1].lower()} of bools, with broadcasting."
        name = opname
        operands = ("A", "B")
        results = ("C",)

        def infer(self, c: OpContext):
            _require_bool(c, 0)
            _require_bool(c, 1)
            return [TensorType(DType.BOOL, broadcast(c, c.tensor(0).dims, c.tensor(1).dims))]

        def evaluate(self, c, a, b):
            return fn(a, b)

    Logic.__name__ = Logic.__qualname__ = opname.replace(".", "_")
    return register_op(Logic)


@register_op
class Not(OpDef):
    """Elementwise logical negation of a bool tensor."""

    name = "onnx.Not"
    operands = ("X",)
    results = ("Y",)

    def infer(self, c):
        _require_bool(c, 0)
        return [c.tensor(0)]

    def evaluate(self, c, x):
        return np.logical_not(x)


def _require_float(c: OpContext) -> None:
    if not c.tensor(0).dtype.is_float:
        c.fail(f"input must be a floating-point tensor, got {c.tensor(0).dtype}")


@register_op
class IsNaN(OpDef):
    """Elementwise: is the element NaN."""

    name = "onnx.IsNaN"
    operands = ("X",)
    results = ("Y",)

    def infer(self, c):
        _require_float(c)
        return [TensorType(DType.BOOL, c.tensor(0).dims)]

    def evaluate(self, c, x):
        return np.isnan(x)


@register_op
class IsInf(OpDef):
    """Elementwise: is the element +inf (``detect_positive``) or -inf (``detect_negative``)."""

    name = "onnx.IsInf"
    operands = ("X",)
    results = ("Y",)
    attrs = {"detect_negative": Attr("int", 1, choices=(0, 1)),
             "detect_positive": Attr("int", 1, choices=(0, 1))}

    def infer(self, c):
        _require_float(c)
        return [TensorType(DType.BOOL, c.tensor(0).dims)]

    def evaluate(self, c, x):
        pos = np.isposinf(x) if c.attr("detect_positive") else np.zeros(x.shape, bool)
        neg = np.isneginf(x) if c.attr("detect_negative") else np.zeros(x.shape, bool)
        return pos | neg


for _onnx_name, (_nn_name, _fn, _what) in COMPARISONS.items():
    _comparison(f"onnx.{_onnx_name}", _fn, _what)
    _comparison(f"nn.{_nn_name}", _fn, _what)

for _onnx_name, (_nn_name, _fn) in LOGIC.items():
    _logic(f"onnx.{_onnx_name}", _fn)
    _logic(f"nn.{_nn_name}", _fn)

twin(Not, "nn.not")
twin(IsNaN, "nn.isnan")
twin(IsInf, "nn.isinf")
