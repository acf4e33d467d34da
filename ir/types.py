"""Types of IR values: tensors (dtype + dims) and dialect types (``!dialect.name<params>``).

The core knows one concrete type, :class:`TensorType`. A dialect adds its own types by
subclassing :class:`DialectType` (a frozen dataclass whose fields are its parameters) and
registering it with :func:`register_type`; the printer and parser handle every such type through
one generic syntax, so adding one never touches them.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from qlower.ir.symbolic import Dim, Sym, dim_str


class DType(enum.Enum):
    """Element types. The value is the spelling in IR text."""

    BOOL = "bool"
    I8 = "i8"
    I16 = "i16"
    I32 = "i32"
    I64 = "i64"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    F16 = "f16"
    F32 = "f32"
    F64 = "f64"
    C64 = "c64"
    C128 = "c128"

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(_NUMPY[self])

    @property
    def is_float(self) -> bool:
        return self in (DType.F16, DType.F32, DType.F64)

    @property
    def is_complex(self) -> bool:
        return self in (DType.C64, DType.C128)

    @property
    def is_int(self) -> bool:
        return self.value[0] in "iu"

    @staticmethod
    def from_numpy(dt: np.dtype | type) -> DType:
        dt = np.dtype(dt)
        for k, v in _NUMPY.items():
            if np.dtype(v) == dt:
                return k
        raise ValueError(f"unsupported numpy dtype {dt}")

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"DType.{self.name}"


_NUMPY = {
    DType.BOOL: "bool",
    DType.I8: "int8",
    DType.I16: "int16",
    DType.I32: "int32",
    DType.I64: "int64",
    DType.U8: "uint8",
    DType.U16: "uint16",
    DType.U32: "uint32",
    DType.U64: "uint64",
    DType.F16: "float16",
    DType.F32: "float32",
    DType.F64: "float64",
    DType.C64: "complex64",
    DType.C128: "complex128",
}

DTYPE_NAMES = tuple(d.value for d in DType)


class Type:
    """Base of every value type."""


@dataclass(frozen=True)
class TensorType(Type):
    dtype: DType
    dims: tuple[Dim, ...]

    def __post_init__(self) -> None:
        for d in self.dims:
            ok = d is None or isinstance(d, Sym) or (type(d) is int and d >= 0)
            if not ok:
                raise ValueError(f"invalid dimension {d!r} in tensor type")

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def is_static(self) -> bool:
        return all(type(d) is int for d in self.dims)

    @property
    def static_shape(self) -> tuple[int, ...]:
        if not self.is_static:
            raise ValueError(f"{self} has no static shape")
        return tuple(int(d) for d in self.dims)  # type: ignore[arg-type]

    @property
    def symbols(self) -> frozenset[str]:
        out: set[str] = set()
        for d in self.dims:
            if isinstance(d, Sym):
                out |= d.symbols
        return frozenset(out)

    def with_dims(self, dims) -> TensorType:
        return TensorType(self.dtype, tuple(dims))

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.dims)

    def __str__(self) -> str:
        return "tensor<" + "".join(dim_str(d) + "x" for d in self.dims) + self.dtype.value + ">"


def tensor(dtype: DType | str, *dims: Dim) -> TensorType:
    """Shorthand: ``tensor("f32", 2, 3)``."""
    return TensorType(DType(dtype) if isinstance(dtype, str) else dtype, tuple(dims))


@dataclass(frozen=True)
class DialectType(Type):
    """Base for a dialect's own types; subclasses are frozen dataclasses of attribute values."""

    type_name: ClassVar[str] = ""

    def params(self) -> tuple[tuple[str, Any], ...]:
        return tuple((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))

    def verify(self) -> None:
        """Raise ValueError when the parameters are inconsistent."""

    def __str__(self) -> str:
        return _type_text(self)


@dataclass(frozen=True, eq=False)
class OpaqueType(Type):
    """A ``!name<...>`` type whose dialect is not registered; kept so text round-trips."""

    type_name: str
    param_items: tuple[tuple[str, Any], ...]

    def params(self) -> tuple[tuple[str, Any], ...]:
        return self.param_items

    def __eq__(self, other: object) -> bool:
        # Parameters compare like attributes (NaN equals NaN, 1 differs from 1.0 and True).
        from qlower.ir.attributes import attr_equal

        if not isinstance(other, OpaqueType):
            return NotImplemented
        return self.type_name == other.type_name and attr_equal(
            self.param_items, other.param_items
        )

    def __hash__(self) -> int:
        return hash((self.type_name, tuple(k for k, _ in self.param_items)))

    def __str__(self) -> str:
        return _type_text(self)


def _type_text(t: Type) -> str:
    """The IR text of a dialect type (``!test.pair<n = 2>``), for messages."""
    from qlower.ir.printer import type_str

    return type_str(t)


_TYPE_REGISTRY: dict[str, type[DialectType]] = {}


def register_type(cls: type[DialectType]) -> type[DialectType]:
    if not cls.type_name or "." not in cls.type_name:
        raise ValueError(f"{cls.__name__}.type_name must be 'dialect.name'")
    if cls.type_name in _TYPE_REGISTRY and _TYPE_REGISTRY[cls.type_name] is not cls:
        raise ValueError(f"type {cls.type_name} is registered twice")
    _TYPE_REGISTRY[cls.type_name] = cls
    return cls


def make_dialect_type(name: str, params: tuple[tuple[str, Any], ...]) -> Type:
    """Build a registered dialect type from its parameters, or an OpaqueType if unknown."""
    cls = _TYPE_REGISTRY.get(name)
    if cls is None:
        return OpaqueType(name, params)
    fields = {f.name for f in dataclasses.fields(cls)}
    given = dict(params)
    if set(given) != fields:
        raise ValueError(f"type !{name} takes parameters {sorted(fields)}, got {sorted(given)}")
    t = cls(**given)
    t.verify()
    return t
