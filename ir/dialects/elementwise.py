"""Elementwise ops of both dialects: ``onnx.Add`` … and their ``nn.add`` … twins.

The two dialects share ONNX's semantics for these (multidirectional broadcasting, result dtype
of the first operand); they differ only in name. ``nn.*`` is the canonical spelling.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qlower.ir.dialects import kernels
from qlower.ir.dialects.shapes import broadcast, require_float, same_dtype
from qlower.ir.opdef import Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import Sym, SymbolicError, decide_equal
from qlower.ir.types import DType, TensorType


def keep_dtype(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Results keep the first operand's dtype; symbolic (object) arrays stay symbolic."""
    result = np.asarray(result)
    if result.dtype == object or like.dtype == object:
        return result.astype(object) if result.dtype != object else result
    return result.astype(like.dtype, copy=False)


def _numeric(c: OpContext, i: int) -> DType:
    t = c.tensor(i)
    if t.dtype == DType.BOOL:
        c.fail("operands must be numeric, got bool")
    return t.dtype


def _binary(opname: str, fn: Callable, doc: str) -> type[OpDef]:
    class Binary(OpDef):
        __doc__ = doc
        name = opname
        operands = ("A", "B")
        results = ("C",)

        def infer(self, c: OpContext):
            dt = same_dtype(c, 0, 1)
            _numeric(c, 0)
            return [TensorType(dt, broadcast(c, c.tensor(0).dims, c.tensor(1).dims))]

        def evaluate(self, c, a, b):
            with np.errstate(all="ignore"):
                return keep_dtype(fn(a, b), a)

    Binary.__name__ = Binary.__qualname__ = opname.replace(".", "_")
    return register_op(Binary)


def _unary(opname: str, fn: Callable, doc: str, *, floats_only: bool, attrs=None) -> type[OpDef]:
    class Unary(OpDef):
        __doc__ = doc
        name = opname
        operands = ("X",)
        results = ("Y",)

        def infer(self, c: OpContext):
            if floats_only:
                require_float(c, 0)
            elif c.tensor(0).dtype == DType.BOOL or c.tensor(0).dtype.value.startswith("u"):
                c.fail(f"input must be a signed number, got {c.tensor(0).dtype}")
            return [c.tensor(0)]

        def evaluate(self, c, x):
            with np.errstate(all="ignore"):
                return keep_dtype(fn(c, x), x)

    if attrs:
        Unary.attrs = attrs
    Unary.__name__ = Unary.__qualname__ = opname.replace(".", "_")
    return register_op(Unary)


BINARY = {
    "Add": (np.add, "Elementwise sum with broadcasting."),
    "Sub": (np.subtract, "Elementwise difference with broadcasting."),
    "Mul": (np.multiply, "Elementwise product with broadcasting."),
    "Div": (kernels.divide, "Elementwise quotient (integers truncate toward zero)."),
}
UNARY = {
    "Sqrt": (lambda c, x: np.sqrt(x), True),
    "Neg": (lambda c, x: np.negative(x), False),
    "Relu": (lambda c, x: np.maximum(x, x.dtype.type(0)), False),
    "Tanh": (lambda c, x: np.tanh(x), True),
    "Sigmoid": (lambda c, x: kernels.sigmoid(x), True),
    "Erf": (lambda c, x: kernels.erf(x), True),
}
GELU_ATTRS = {"approximate": Attr("str", "none", choices=("none", "tanh"))}


def _gelu(c, x):
    return kernels.gelu(x, c.attr("approximate"))


def _snake(name: str) -> str:
    return name.lower()


for _onnx_name, (_fn, _doc) in BINARY.items():
    _binary(f"onnx.{_onnx_name}", _fn, _doc)
    _binary(f"nn.{_snake(_onnx_name)}", _fn, _doc)

for _onnx_name, (_fn, _floats) in UNARY.items():
    _unary(f"onnx.{_onnx_name}", _fn, f"Elementwise {_onnx_name}.", floats_only=_floats)
    _unary(f"nn.{_snake(_onnx_name)}", _fn, f"Elementwise {_onnx_name}.", floats_only=_floats)

_unary("onnx.Gelu", _gelu, "GELU, exact (erf) or tanh approximation.", floats_only=True,
       attrs=GELU_ATTRS)
_unary("nn.gelu", _gelu, "GELU, exact (erf) or tanh approximation.", floats_only=True,
       attrs=GELU_ATTRS)


def twin(cls: type[OpDef], name: str) -> type[OpDef]:
    """Register a copy of ``cls`` under another name (the ``nn.*`` spelling of an ONNX op)."""
    copy = type(name.replace(".", "_"), (cls,), {"name": name, "__doc__": cls.__doc__})
    return register_op(copy)


@register_op
class Pow(OpDef):
    """Elementwise power; the result has the base's dtype."""

    name = "onnx.Pow"
    operands = ("X", "Y")
    results = ("Z",)

    def infer(self, c):
        _numeric(c, 0)
        _numeric(c, 1)
        return [TensorType(c.tensor(0).dtype, broadcast(c, c.tensor(0).dims, c.tensor(1).dims))]

    def evaluate(self, c, a, b):
        with np.errstate(all="ignore"):
            if a.dtype.kind in "iu" and b.dtype.kind in "iu" and np.any(b < 0):
                # numpy refuses negative integer powers of integers; ONNX (onnxruntime)
                # computes them in floating point and truncates: 2**-1 == 0, (-1)**-1 == -1
                return keep_dtype(np.trunc(np.power(a.astype(np.float64), b)), a)
            return keep_dtype(np.power(a, b), a)


def _sym_mod(a, b, fmod: int):
    """Remainder of (possibly symbolic) sizes; Python's ``%`` has the divisor's sign."""
    if isinstance(b, Sym):
        raise SymbolicError(f"{a} mod {b} is not known")
    r = a % b
    if fmod and r != 0 and (a < 0) != (b < 0):
        r -= b
    return r


_sym_mod_ufunc = np.frompyfunc(_sym_mod, 3, 1)


@register_op
class Mod(OpDef):
    """Elementwise remainder ``A - floor(A / B) * B``, the divisor's sign (``fmod = 0``), or
    ``A - trunc(A / B) * B``, the dividend's sign (``fmod = 1``, C's ``fmod``), as Mod-28."""

    name = "onnx.Mod"
    operands = ("A", "B")
    results = ("C",)
    attrs = {"fmod": Attr("int", 0, choices=(0, 1))}

    def infer(self, c):
        dt = same_dtype(c, 0, 1)
        _numeric(c, 0)
        return [TensorType(dt, broadcast(c, c.tensor(0).dims, c.tensor(1).dims))]

    def evaluate(self, c, a, b):
        if a.dtype.kind in "iuO" and np.any(b == 0):
            raise ZeroDivisionError("integer modulo by zero")
        if a.dtype == object or b.dtype == object:
            return np.asarray(_sym_mod_ufunc(a, b, c.attr("fmod")), dtype=object)
        fn = np.fmod if c.attr("fmod") else np.mod
        with np.errstate(all="ignore"):
            return keep_dtype(fn(a, b), a)


@register_op
class Identity(OpDef):
    """Returns its input."""

    name = "onnx.Identity"
    operands = ("input",)

    def infer(self, c):
        return [c.types[0]]

    def evaluate(self, c, x):
        return x


@register_op
class Where(OpDef):
    """Elementwise select: X where condition, else Y (broadcasting)."""

    name = "onnx.Where"
    operands = ("condition", "X", "Y")

    def infer(self, c):
        if c.tensor(0).dtype != DType.BOOL:
            c.fail(f"condition must be bool, got {c.tensor(0).dtype}")
        dt = same_dtype(c, 1, 2)
        return [TensorType(dt, broadcast(c, *(c.tensor(i).dims for i in range(3))))]

    def evaluate(self, c, cond, x, y):
        return keep_dtype(np.where(cond, x, y), x)


@register_op
class Cast(OpDef):
    """Elementwise conversion to the element type ``to`` (floats to ints truncate)."""

    name = "onnx.Cast"
    operands = ("input",)
    attrs = {"to": Attr("dtype")}

    def infer(self, c):
        return [TensorType(c.attr("to"), c.tensor(0).dims)]

    def evaluate(self, c, x):
        to: DType = c.attr("to")
        if x.dtype == object:
            if not to.is_int:
                raise TypeError("cannot cast symbolic sizes to a non-integer type")
            return x
        with np.errstate(all="ignore"):
            if x.dtype.kind == "f" and to.is_int:
                return np.trunc(x).astype(to.numpy)
            return x.astype(to.numpy)


def _equal(a, b) -> bool:
    """Equality of two (possibly symbolic) sizes; undecidable ones raise SymbolicError."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return decide_equal(a, b)
    return bool(a == b)


_equal_ufunc = np.frompyfunc(_equal, 2, 1)


@register_op
class Equal(OpDef):
    """Elementwise ``A == B`` with broadcasting; the result is bool."""

    name = "onnx.Equal"
    operands = ("A", "B")
    results = ("C",)

    def infer(self, c):
        same_dtype(c, 0, 1)
        return [TensorType(DType.BOOL, broadcast(c, c.tensor(0).dims, c.tensor(1).dims))]

    def evaluate(self, c, a, b):
        if a.dtype == object or b.dtype == object:
            return np.asarray(_equal_ufunc(a, b)).astype(bool)
        return np.equal(a, b)


twin(Pow, "nn.pow")
twin(Mod, "nn.mod")
twin(Equal, "nn.equal")
twin(Where, "nn.where")
twin(Cast, "nn.cast")
twin(Identity, "nn.identity")
