"""Declarative op definitions.

An op definition is a small class::

    @register_op
    class Gemm(OpDef):
        name = "onnx.Gemm"
        operands = ("A", "B", "C?")          # "?" optional, "*" variadic
        results = ("Y",)
        attrs = {"alpha": Attr(float, 1.0), "transA": Attr(bool_int, 0)}

        def infer(self, c):                   # result types from operand types/values
            ...
        def evaluate(self, c, A, B, C=None):  # numpy semantics (reference backend, folding)
            ...

The generic verifier checks arity, attribute names and kinds, and that the declared result
types agree with ``infer``. ``verify`` may add checks. Capabilities are optional methods;
callers use the free functions in this module (``infer_types``, ``evaluate_op``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from qlower.ir.attributes import AttrValue, normalize_attr
from qlower.ir.graph import Op
from qlower.ir.symbolic import Sym
from qlower.ir.types import DType, TensorType, Type


class VerifyError(ValueError):
    """An op or graph breaks an IR rule; the message names the op.

    ``detail`` is the message without the op's name (for callers that name it their own way).
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail if detail is not None else message


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


REQUIRED = _Required()
ABSENT = _Absent()  # the attribute may be left out; the op then uses a rule of its own


def _check_int(v: Any) -> bool:
    return type(v) is int


def _check_float(v: Any) -> bool:
    return type(v) is float


def _check_dim(v: Any) -> bool:
    return type(v) is int or isinstance(v, Sym)


KINDS: dict[str, Callable[[Any], bool]] = {
    "int": _check_int,
    "float": _check_float,
    "bool": lambda v: type(v) is bool,
    "str": lambda v: type(v) is str,
    "dtype": lambda v: isinstance(v, DType),
    "dim": _check_dim,
    "scalar": lambda v: type(v) in (int, float, bool),
    "ints": lambda v: type(v) is tuple and all(_check_int(x) for x in v),
    "floats": lambda v: type(v) is tuple and all(_check_float(x) for x in v),
    "dims": lambda v: type(v) is tuple and all(_check_dim(x) for x in v),
    "strs": lambda v: type(v) is tuple and all(type(x) is str for x in v),
}


@dataclass(frozen=True)
class Attr:
    """An attribute declaration: its kind (a key of KINDS), default, and allowed values."""

    kind: str
    default: Any = REQUIRED
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown attribute kind {self.kind!r}")

    def coerce(self, value: Any) -> AttrValue:
        """Builder-side conversion (ints to floats for float kinds, lists to tuples)."""
        v = normalize_attr(value)
        if self.kind == "float" and type(v) is int:
            return float(v)
        if self.kind == "floats" and type(v) is tuple:
            return tuple(float(x) for x in v)
        if self.kind == "bool" and type(v) is int and v in (0, 1):
            return bool(v)
        return v

    def check(self, value: Any) -> str | None:
        if not KINDS[self.kind](value):
            return f"must be {self.kind}, got {_describe(value)}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
        return None


def _describe(v: Any) -> str:
    if isinstance(v, tuple):
        from qlower.ir.printer import attr_str

        return f"list {attr_str(v)}"
    return f"{type(v).__name__} {v!r}"


@dataclass(frozen=True)
class Slot:
    name: str
    optional: bool = False
    variadic: bool = False

    @staticmethod
    def parse(spec: str) -> Slot:
        if spec.endswith("?"):
            return Slot(spec[:-1], optional=True)
        if spec.endswith("*"):
            return Slot(spec[:-1], variadic=True)
        return Slot(spec)


class OpContext:
    """What ``infer``/``verify`` see of one op: its attributes, operand types, known values."""

    def __init__(
        self,
        op: Op,
        types: Sequence[Type | None],
        values: Sequence[np.ndarray | None] = (),
    ) -> None:
        self.op = op
        self.types = tuple(types)
        self.values = tuple(values) + (None,) * (len(self.types) - len(values))

    def attr(self, key: str, default: Any = ...) -> Any:
        return self.op.attr(key, default)

    def has(self, i: int) -> bool:
        return i < len(self.types) and self.types[i] is not None

    def tensor(self, i: int) -> TensorType:
        t = self.types[i] if i < len(self.types) else None
        if not isinstance(t, TensorType):
            self.fail(f"operand #{i} must be a tensor, got {t}")
        return t  # type: ignore[return-value]

    def value(self, i: int) -> np.ndarray | None:
        return self.values[i] if i < len(self.values) else None

    def fail(self, message: str) -> None:
        raise VerifyError(f"{self.op.label}: {message}", detail=message)


class EvalContext:
    """What ``evaluate`` sees: attributes with symbolic sizes resolved through ``env``."""

    def __init__(self, op: Op, env: Mapping[str, int] | None = None) -> None:
        self.op = op
        self.env = env

    def attr(self, key: str, default: Any = ...) -> Any:
        return self.op.attr(key, default)

    def dims(self, key: str) -> tuple:
        """A ``dims`` attribute with symbols replaced by their values when ``env`` is given."""
        raw = self.op.attr(key)
        if self.env is None:
            return raw
        return tuple(d.evaluate(self.env) if isinstance(d, Sym) else d for d in raw)

    def dim(self, key: str) -> int | Sym:
        raw = self.op.attr(key)
        if self.env is not None and isinstance(raw, Sym):
            return raw.evaluate(self.env)
        return raw

    def fail(self, message: str) -> None:
        raise EvaluationError(f"{self.op.label}: {message}")


class EvaluationError(RuntimeError):
    """Evaluating an op failed on the data it was given (a runtime shape mismatch, ...)."""


class OpDef:
    """Base class of op definitions; see the module docstring."""

    name: ClassVar[str] = ""
    operands: ClassVar[tuple[str, ...]] = ()
    results: ClassVar[tuple[str, ...]] = ("output",)
    attrs: ClassVar[Mapping[str, Attr]] = {}
    pure: ClassVar[bool] = True

    def __init__(self) -> None:
        self.operand_slots = tuple(Slot.parse(s) for s in self.operands)
        self.result_slots = tuple(Slot.parse(s) for s in self.results)

    def infer(self, c: OpContext) -> Sequence[Type | None]:
        raise NotImplementedError(f"{self.name} has no type inference")

    def verify(self, c: OpContext) -> None:
        """Extra checks beyond the generic ones; raise through ``c.fail``."""

    # ``evaluate(self, c: EvalContext, *arrays) -> tuple[np.ndarray | None, ...]`` is optional.
    evaluate: ClassVar[Callable[..., Any] | None] = None

    def __repr__(self) -> str:
        return f"<op {self.name}>"


_OPS: dict[str, OpDef] = {}


def register_op(cls: type[OpDef]) -> type[OpDef]:
    if "." not in cls.name:
        raise ValueError(f"{cls.__name__}: op name must be dialect-qualified, got {cls.name!r}")
    if cls.name in _OPS and type(_OPS[cls.name]) is not cls:
        raise ValueError(f"op {cls.name} is registered twice")
    _OPS[cls.name] = cls()
    return cls


def op_def(name: str) -> OpDef | None:
    _load_dialects()
    return _OPS.get(name)


def registered_ops() -> Mapping[str, OpDef]:
    _load_dialects()
    return dict(sorted(_OPS.items()))


def _load_dialects() -> None:
    # Importing the dialect package registers its ops; done lazily to avoid import cycles.
    import qlower.ir.dialects  # noqa: F401


def build_op(
    name: str,
    operands: Sequence[str | None],
    result_names: Sequence[str | None],
    attrs: Mapping[str, Any] | None = None,
    loc: Sequence[str] = (),
    *,
    types: Sequence[Type | None] | None = None,
    values: Sequence[np.ndarray | None] = (),
    result_types: Sequence[Type | None] | None = None,
) -> Op:
    """Build an op, filling attribute defaults and inferring result types.

    ``types`` are the operand types (needed unless ``result_types`` is given).
    """
    from qlower.ir.graph import Value

    d = op_def(name)
    if d is None:
        raise VerifyError(f"unknown op '{name}'")
    full: dict[str, Any] = {}
    given = dict(attrs or {})
    for key, spec in d.attrs.items():
        if key in given:
            full[key] = spec.coerce(given.pop(key))
        elif spec.default is REQUIRED:
            raise VerifyError(f"{name}: missing attribute '{key}'")
        elif spec.default is not ABSENT:
            full[key] = spec.default
    if given:
        raise VerifyError(f"{name}: unknown attribute(s) {', '.join(sorted(given))}")
    # Inference sees the op with its result slots (variadic ops count them) but no types yet.
    placeholders = tuple(None if rn is None else Value(rn, Type()) for rn in result_names)
    proto = Op(name, tuple(operands), placeholders, full, tuple(loc))
    if result_types is None:
        if types is None:
            raise ValueError("build_op needs operand types or result types")
        result_types = infer_types(proto, types, values)
    results = []
    for i, rn in enumerate(result_names):
        if rn is None:
            results.append(None)
            continue
        t = result_types[i] if i < len(result_types) else None
        if t is None:
            raise VerifyError(f"{proto.label}: result #{i} ({rn}) has no inferable type")
        results.append(Value(rn, t))
    return Op(name, tuple(operands), tuple(results), full, tuple(loc))


def infer_types(
    op: Op, types: Sequence[Type | None], values: Sequence[np.ndarray | None] = ()
) -> Sequence[Type | None]:
    d = op_def(op.name)
    if d is None:
        raise VerifyError(f"unknown op '{op.name}'")
    return d.infer(OpContext(op, types, values))


def evaluate_op(op: Op, args: Sequence[Any], env: Mapping[str, int] | None = None) -> tuple:
    """Run an op's numpy semantics. Raises EvaluationError if it has none or the data is bad."""
    d = op_def(op.name)
    if d is None or d.evaluate is None:
        raise EvaluationError(f"{op.label}: op has no reference semantics")
    out = d.evaluate(EvalContext(op, env), *args)
    return out if isinstance(out, tuple) else (out,)
