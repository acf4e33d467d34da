"""Attribute values and constant data.

Attribute values are immutable: ``bool``, ``int``, ``float``, ``str``, :class:`DType`,
:class:`Sym` (a symbolic size), and tuples of those. Constant tensors are :class:`Dense`
(data present) or :class:`ConstRef` (a checksum standing in for data that was not loaded).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qlower.ir.symbolic import Sym
from qlower.ir.types import DType, TensorType

AttrValue = Any  # bool | int | float | str | DType | Sym | tuple[AttrValue, ...]


def normalize_attr(value: Any) -> AttrValue:
    """Convert lists and numpy scalars to the immutable attribute forms; reject anything else."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (str, DType, Sym)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(normalize_attr(v) for v in value)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return tuple(normalize_attr(v) for v in value.tolist())
    raise TypeError(f"unsupported attribute value {value!r} ({type(value).__name__})")


class Attrs(Mapping[str, AttrValue]):
    """An immutable, key-sorted mapping of attribute names to values."""

    __slots__ = ("_items", "_dict")

    def __init__(self, items: Mapping[str, Any] | None = None, **kw: Any) -> None:
        merged = dict(items or {})
        merged.update(kw)
        norm = {str(k): normalize_attr(v) for k, v in merged.items()}
        self._items = tuple(sorted(norm.items()))
        self._dict = dict(self._items)

    def __getitem__(self, key: str) -> AttrValue:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Attrs):
            return _attr_items_equal(self._items, other._items)
        if isinstance(other, Mapping):
            return self == Attrs(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(k for k, _ in self._items))

    def __repr__(self) -> str:
        return f"Attrs({dict(self._items)!r})"

    def replace(self, **kw: Any) -> Attrs:
        d = dict(self._items)
        d.update(kw)
        return Attrs(d)

    def without(self, *keys: str) -> Attrs:
        return Attrs({k: v for k, v in self._items if k not in keys})


def _attr_items_equal(a, b) -> bool:
    if len(a) != len(b):
        return False
    return all(ka == kb and attr_equal(va, vb) for (ka, va), (kb, vb) in zip(a, b))


def attr_equal(a: AttrValue, b: AttrValue) -> bool:
    """Structural equality that treats NaN as equal to NaN and keeps int/float/bool apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(attr_equal(x, y) for x, y in zip(a, b))
    return a == b


# ---------------------------------------------------------------------------------------------
# Constant data


def checksum(array: np.ndarray) -> str:
    """``sha256:`` + 16 hex digits over dtype, shape and little-endian bytes."""
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    h = hashlib.sha256()
    h.update(f"{DType.from_numpy(arr.dtype).value}:{list(arr.shape)}:".encode())
    h.update(memoryview(arr).cast("B") if arr.size else b"")  # no copy of a large array
    return "sha256:" + h.hexdigest()[:16]


def _immutable(array) -> bool:
    """A read-only C-contiguous array whose memory is a ``bytes`` object (``np.frombuffer``)."""
    if not isinstance(array, np.ndarray) or array.flags.writeable or not array.flags.c_contiguous:
        return False
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, bytes) and array.dtype != object


class Dense:
    """Constant data held in memory. Numeric arrays, or object arrays of ints and Syms
    (symbolic shape values: always printed inline, never written to a weights file)."""

    __slots__ = ("array", "_checksum", "_nonfinite")

    def __init__(self, array: np.ndarray) -> None:
        if _immutable(array):
            arr = array  # nothing can change it: a weight of gigabytes is not copied
        else:
            arr = np.array(array, copy=True, order="C")
            arr.setflags(write=False)
        self.array = arr
        self._checksum: str | None = None
        self._nonfinite: tuple[int, int] | None = None

    @property
    def nonfinite(self) -> tuple[int, int]:
        """(number of NaN, number of ±Inf) entries; (0, 0) for non-float data. Computed once."""
        if self._nonfinite is None:
            arr = self.array
            nan = inf = 0
            if arr.dtype.kind in "fc" and arr.size:
                flat = arr.reshape(-1)
                for start in range(0, flat.size, 1 << 24):  # bounded temporaries
                    part = flat[start : start + (1 << 24)]
                    if not np.isfinite(part).all():
                        nan += int(np.isnan(part).sum())
                        inf += int(np.isinf(part).sum())
            self._nonfinite = (nan, inf)
        return self._nonfinite

    @property
    def symbolic(self) -> bool:
        return self.array.dtype == object

    @property
    def checksum(self) -> str:
        if self.symbolic:
            raise ValueError("symbolic constants have no checksum")
        if self._checksum is None:
            self._checksum = checksum(self.array)
        return self._checksum

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dense):
            return NotImplemented
        a, b = self.array, other.array
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if self.symbolic:
            return all(x == y for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
        return a.tobytes() == b.tobytes()

    def __hash__(self) -> int:
        return hash((self.array.shape, str(self.array.dtype)))

    def __repr__(self) -> str:
        return f"Dense(shape={self.array.shape}, dtype={self.array.dtype})"


@dataclass(frozen=True)
class ConstRef:
    """Constant data that is referred to by checksum only (a dump read without its weights)."""

    checksum: str


ConstData = Dense | ConstRef


def dense_matches_type(data: Dense, t: TensorType) -> str | None:
    """An error message if ``data`` does not fit the static type ``t``, else None."""
    arr = data.array
    if data.symbolic:
        if not t.dtype.is_int:
            return f"symbolic constant must have an integer dtype, not {t.dtype}"
    elif DType.from_numpy(arr.dtype) != t.dtype:
        return f"data has dtype {DType.from_numpy(arr.dtype)}, type says {t.dtype}"
    if not t.is_static:
        return f"constant type {t} must have static dims"
    if tuple(arr.shape) != t.static_shape:
        return f"data has shape {list(arr.shape)}, type says {list(t.static_shape)}"
    return None
