"""A JSON view of a graph, for tools that do not want to parse IR text.

``graph_to_json(graph)`` returns plain dicts and lists::

    {"name": "mlp", "attrs": {"opset": 18},
     "inputs": [{"name": "x", "type": "tensor<(batch)x4xf32>"}],
     "constants": [{"name": "w", "type": "tensor<8x4xf32>", "data": {"ref": "sha256:..."}}],
     "ops": [{"op": "nn.linear", "results": [{"name": "y", "type": "..."}],
              "operands": ["x", "w", null], "attrs": {}, "loc": ["fc1"]}],
     "outputs": ["y"]}

Types are strings in their IR text spelling; attribute values are JSON numbers, strings,
booleans and lists, except element types and symbolic sizes, which are their text (``"f32"``,
``"(batch)"``). Constants are inline nested lists when the text printer would print them inline,
else ``{"ref": checksum}``. Non-finite numbers are the strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"`` so the result is valid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from qlower.ir.attributes import ConstRef, Dense
from qlower.ir.graph import Constant, Graph, Op
from qlower.ir.printer import DEFAULT_INLINE_LIMIT, attr_str, shortest, type_str
from qlower.ir.symbolic import Sym


def json_number(x: Any, dtype: np.dtype) -> Any:
    """One array element as JSON: shortest round-tripping decimal, non-finite as a string."""
    if isinstance(x, Sym):
        return f"({x})"
    if dtype.kind == "b":
        return bool(x)
    if dtype.kind in "iu" or isinstance(x, int):
        return int(x)
    value = shortest(x, dtype) if dtype.kind == "f" else float(x)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def array_to_json(arr: np.ndarray) -> Any:
    """Returns the array as nested lists (a 0-d array as a bare number)."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "c":
        raise TypeError("complex arrays have no JSON form")
    flat = [json_number(x, arr.dtype) for x in arr.ravel().tolist()]
    return _nest(flat, arr.shape) if arr.ndim else flat[0]


def _nest(flat: list, shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def attr_to_json(v: Any) -> Any:
    """An attribute value as JSON: numbers, strings, booleans and lists as themselves; element
    types and symbolic sizes as their IR text (``"f32"``, ``"(batch)"``); non-finite floats as
    the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if isinstance(v, bool) or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return json_number(v, np.dtype(np.float64))
    if isinstance(v, tuple):
        return [attr_to_json(x) for x in v]
    return attr_str(v)


def _attrs(attrs) -> dict[str, Any]:
    return {k: attr_to_json(v) for k, v in attrs.items()}


def _constant(c: Constant, inline_limit: int) -> dict:
    data = c.data
    if isinstance(data, ConstRef):
        payload: Any = {"ref": data.checksum}
    elif isinstance(data, Dense) and (data.symbolic or data.array.size <= inline_limit):
        payload = array_to_json(data.array)
    else:
        payload = {"ref": data.checksum}
    return {"name": c.name, "type": type_str(c.value.type), "data": payload}


def _op(op: Op) -> dict:
    results = [
        {"name": r.name, "type": type_str(r.type)} if r is not None else None for r in op.results
    ]
    return {
        "op": op.name,
        "results": results,
        "operands": list(op.operands),
        "attrs": _attrs(op.attrs),
        "loc": list(op.loc),
    }


def graph_to_json(graph: Graph, inline_limit: int = DEFAULT_INLINE_LIMIT) -> dict:
    """Returns the graph as JSON-ready dicts and lists (see the module docstring)."""
    return {
        "name": graph.name,
        "attrs": _attrs(graph.attrs),
        "inputs": [{"name": v.name, "type": type_str(v.type)} for v in graph.inputs],
        "constants": [_constant(c, inline_limit) for c in graph.constants],
        "ops": [_op(op) for op in graph.ops],
        "outputs": list(graph.outputs),
    }


def dumps(obj: Any) -> str:
    """Deterministic JSON text: sorted keys, indent 2, strictly valid (no NaN), ends with a newline."""
    return json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n"
