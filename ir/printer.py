"""IR text printer: one generic syntax for every op, graph and type.

Example::

    graph @mlp(%x: tensor<(batch)x4xf32>) {
      const %w: tensor<8x4xf32> = ref<"sha256:5a1c0e9b7d3f2a41">
      const %b: tensor<8xf32> = dense<[0.5, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]>
      %y = nn.linear(%x, %w, %b) : tensor<(batch)x8xf32> loc("fc1")
      return %y
    }

Constants with more than ``inline_limit`` elements print by reference (name, type, checksum);
symbolic constants always print inline, complex ones (no literal form) always by reference.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from qlower.ir.attributes import ConstRef, Dense
from qlower.ir.graph import Constant, Graph, Op, Value
from qlower.ir.symbolic import Sym
from qlower.ir.types import DialectType, DType, OpaqueType, TensorType, Type

DEFAULT_INLINE_LIMIT = 16
_BARE = re.compile(r"[A-Za-z0-9_.]+")


def quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)


def name_str(name: str) -> str:
    return name if _BARE.fullmatch(name) else quote(name)


def value_ref(name: str) -> str:
    return "%" + name_str(name)


def type_str(t: Type) -> str:
    if isinstance(t, TensorType):
        return str(t)
    if isinstance(t, (DialectType, OpaqueType)):
        params = t.params()
        if not params:
            return f"!{t.type_name}"
        return f"!{t.type_name}<" + ", ".join(f"{k} = {attr_str(v)}" for k, v in params) + ">"
    raise TypeError(f"cannot print type {t!r}")


def float_str(v: float) -> str:
    return repr(float(v))


def attr_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return float_str(v)
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, DType):
        return v.value
    if isinstance(v, Sym):
        return f"({v})"
    if isinstance(v, tuple):
        return "[" + ", ".join(attr_str(x) for x in v) + "]"
    raise TypeError(f"cannot print attribute value {v!r}")


def shortest(x: Any, dtype: np.dtype) -> float:
    """The shortest decimal that reads back as the same ``dtype`` value, as a Python float.

    Its ``repr`` is the printed form (``0.1`` for float32 0.1, ``65500.0`` for float16 65504):
    numpy's shortest digits (Dragon4, the same in every numpy release) in Python's float syntax,
    so dumps are byte-identical whatever numpy formats by default.
    """
    return float(np.format_float_scientific(dtype.type(x), unique=True, trim="-"))


def _scalar_str(x: Any, dtype: np.dtype) -> str:
    if isinstance(x, Sym):
        return f"({x})"
    if dtype == np.bool_:
        return "true" if x else "false"
    if dtype.kind in "iu" or (dtype.kind == "O" and isinstance(x, int)):
        return str(int(x))
    if dtype.kind == "f":
        return repr(shortest(x, dtype))
    raise TypeError(f"cannot print constant element of dtype {dtype}")


def dense_literal(arr: np.ndarray) -> str:
    if arr.dtype.kind == "c":
        raise TypeError("complex constants have no text form")
    dtype = arr.dtype

    def rec(a: np.ndarray) -> str:
        if a.ndim == 0:
            return _scalar_str(a.item() if dtype.kind != "O" else a[()], dtype)
        if a.ndim == 1:
            return "[" + ", ".join(_scalar_str(x, dtype) for x in a.tolist()) + "]"
        return "[" + ", ".join(rec(a[i]) for i in range(a.shape[0])) + "]"

    return rec(arr)


def const_str(c: Constant, inline_limit: int = DEFAULT_INLINE_LIMIT) -> str:
    head = f"const {value_ref(c.name)}: {type_str(c.value.type)} = "
    data = c.data
    if isinstance(data, ConstRef):
        return head + f"ref<{quote(data.checksum)}>"
    assert isinstance(data, Dense)
    if _inline(data, inline_limit):
        return head + f"dense<{dense_literal(data.array)}>"
    return head + f"ref<{quote(data.checksum)}>"


def _inline(data: Dense, inline_limit: int) -> bool:
    """Symbolic constants always print inline; complex ones (no literal form) never do."""
    if data.symbolic:
        return True
    return data.array.size <= inline_limit and data.array.dtype.kind != "c"


def op_str(op: Op) -> str:
    results = ", ".join(value_ref(r.name) if r is not None else "_" for r in op.results)
    operands = ", ".join(value_ref(o) if o is not None else "none" for o in op.operands)
    text = f"{results} = {op.name}({operands})"
    if op.attrs:
        text += " {" + ", ".join(f"{k} = {attr_str(v)}" for k, v in op.attrs.items()) + "}"
    text += " : " + ", ".join(type_str(r.type) for r in op.results if r is not None)
    if op.loc:
        text += " loc(" + ", ".join(quote(s) for s in op.loc) + ")"
    return text


def _input_str(v: Value) -> str:
    return f"{value_ref(v.name)}: {type_str(v.type)}"


def print_graph(graph: Graph, inline_limit: int = DEFAULT_INLINE_LIMIT) -> str:
    """The text form of ``graph`` (ends with a newline)."""
    lines = [
        f"graph @{name_str(graph.name)}(" + ", ".join(_input_str(v) for v in graph.inputs) + ")"
    ]
    if graph.attrs:
        attrs = ", ".join(f"{k} = {attr_str(v)}" for k, v in graph.attrs.items())
        lines[0] += f" attributes {{{attrs}}}"
    lines[0] += " {"
    lines += ["  " + const_str(c, inline_limit) for c in graph.constants]
    lines += ["  " + op_str(op) for op in graph.ops]
    lines.append("  return " + ", ".join(value_ref(o) for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines) + "\n"


def referenced_weights(
    graph: Graph, inline_limit: int = DEFAULT_INLINE_LIMIT
) -> dict[str, np.ndarray]:
    """The arrays that ``print_graph`` prints by reference (what a weights file must hold)."""
    out = {}
    for c in graph.constants:
        if isinstance(c.data, Dense) and not _inline(c.data, inline_limit):
            out[c.name] = c.data.array
    return out
