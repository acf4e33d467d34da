"""ONNX values as IR values: element types, value infos, attributes, tensors, and their checks."""

from __future__ import annotations

import math
import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qlower.errors import QlowerError, UnsupportedError, one_line
from qlower.ir import DType, Sym, TensorType
from qlower.ir.printer import shortest
from qlower.ir.symbolic import SYMBOL_RE, parse_sym

DTYPES = {
    onnx.TensorProto.FLOAT: DType.F32,
    onnx.TensorProto.DOUBLE: DType.F64,
    onnx.TensorProto.FLOAT16: DType.F16,
    onnx.TensorProto.INT8: DType.I8,
    onnx.TensorProto.INT16: DType.I16,
    onnx.TensorProto.INT32: DType.I32,
    onnx.TensorProto.INT64: DType.I64,
    onnx.TensorProto.UINT8: DType.U8,
    onnx.TensorProto.UINT16: DType.U16,
    onnx.TensorProto.UINT32: DType.U32,
    onnx.TensorProto.UINT64: DType.U64,
    onnx.TensorProto.BOOL: DType.BOOL,
}

def f32_attr(v: float) -> float:
    """ONNX float attributes are float32: keep the shortest decimal that round-trips."""
    return shortest(v, np.dtype(np.float32))


def dtype_of(elem_type: int, what: str) -> DType:
    dt = DTYPES.get(elem_type)
    if dt is None:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() else str(elem_type)
        raise UnsupportedError(f"{what} has element type {name}, which qlower does not support")
    return dt


def symbol_for(param: str, fallback: str) -> int | Sym:
    """A dim_param as a symbolic size (expressions like ``2*batch`` are parsed)."""
    text = param.strip()
    if SYMBOL_RE.fullmatch(text):
        return Sym.of(text)
    try:
        value = parse_sym(text)
        if not isinstance(value, int) or value > 0:
            return value
    except ValueError:
        pass
    clean = re.sub(r"[^A-Za-z0-9_]", "_", text) or fallback
    if clean[0].isdigit():
        clean = "_" + clean
    return Sym.of(clean)


def _sanitize(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ("_" + clean) if not clean or clean[0].isdigit() else clean


def value_type(vi: onnx.ValueInfoProto, what: str) -> TensorType:
    if not vi.type.HasField("tensor_type"):
        raise UnsupportedError(f"{what} is not a tensor (sequences, maps and optionals are not supported)")
    tt = vi.type.tensor_type
    dtype = dtype_of(tt.elem_type, what)
    if not tt.HasField("shape"):
        raise UnsupportedError(f"{what} has no shape; qlower needs the rank of every input")
    dims: list = []
    for axis, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            if d.dim_value < 0:
                raise QlowerError(f"{what} has a negative dimension {d.dim_value}")
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(symbol_for(d.dim_param, f"{_sanitize(vi.name)}_d{axis}"))
        else:
            dims.append(Sym.of(f"{_sanitize(vi.name)}_d{axis}"))
    return TensorType(dtype, tuple(dims))


def _finite(name: str, values) -> None:
    for v in values:
        if not math.isfinite(v):
            shown = "NaN" if v != v else ("Inf" if v > 0 else "-Inf")
            raise UnsupportedError(f"attribute '{name}' is {shown}; qlower takes only finite "
                                   "float attributes")


def convert_attr(a: onnx.AttributeProto):
    v = helper.get_attribute_value(a)
    if a.type == onnx.AttributeProto.FLOAT:
        _finite(a.name, [v])
        return f32_attr(v)
    if a.type == onnx.AttributeProto.FLOATS:
        _finite(a.name, v)
        return tuple(f32_attr(x) for x in v)
    if a.type == onnx.AttributeProto.STRING:
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsupportedError(f"attribute '{a.name}' is not valid UTF-8 ({v[:20]!r})") from None
    if a.type in (onnx.AttributeProto.INT, onnx.AttributeProto.INTS):
        return v
    raise UnsupportedError(f"attribute '{a.name}' of type {onnx.AttributeProto.AttributeType.Name(a.type)}")


def tensor_array(t: onnx.TensorProto, what: str, base_dir: str = "") -> np.ndarray:
    """The tensor's data; external data is read by onnx from ``base_dir`` (which refuses
    locations outside it) into one read-only buffer that the IR keeps without copying."""
    dtype_of(t.data_type, what)
    try:
        return numpy_helper.to_array(t, base_dir)
    except Exception as e:  # noqa: BLE001 - onnx raises many kinds here
        raise QlowerError(f"{what}: cannot read its data ({one_line(e)})") from None


def check_finite(arr: np.ndarray, what: str, source: str, mask_only: bool = False) -> None:
    """NaN is never valid data; ±Inf only in a tensor that is used only as a mask."""
    if arr.dtype.kind not in "fc" or not arr.size:
        return
    flat = arr.reshape(-1)
    n_nan = n_inf = 0
    for start in range(0, flat.size, 1 << 24):  # bounded temporaries for large weights
        part = flat[start : start + (1 << 24)]
        if not np.isfinite(part).all():
            n_nan += int(np.isnan(part).sum())
            n_inf += int(np.isinf(part).sum())
    if not n_nan and not n_inf:
        return
    if n_nan == 0 and mask_only:
        return
    parts = [f"{n} {k}" for n, k in ((n_nan, "NaN"), (n_inf, "Inf")) if n]
    hint = "" if n_nan else " (±Inf is allowed only in attention masks)"
    raise QlowerError(f"{source}: {what} contains {' and '.join(parts)} of {arr.size} values{hint}")


# Uses of a tensor that make ±Inf meaningful: an additive mask, a masked_fill value, the mask
# input of Attention.
_MASK_USES = {("Add", 0), ("Add", 1), ("Where", 1), ("Where", 2), ("Attention", 3)}
# Ops whose first input only moves, repeats or zeroes its values: ±Inf there reaches their
# output unchanged (torch's legacy exporter writes its causal mask as ConstantOfShape(-inf) →
# Trilu → Unsqueeze → Add).
_MASK_CARRIERS = {"Trilu", "Unsqueeze", "Squeeze", "Reshape", "Expand", "Transpose", "Identity"}


def mask_only_tensors(graph: onnx.GraphProto) -> set[str]:
    """Names of tensors used only as masks, directly or through ``_MASK_CARRIERS``."""
    uses: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name:
                uses.setdefault(name, []).append((node, i))
    outputs = {o.name for o in graph.output}
    masks: set[str] = set()

    def mask_only(name: str) -> bool:
        if name in outputs or name not in uses:
            return False
        return all((n.op_type, i) in _MASK_USES or (
            n.op_type in _MASK_CARRIERS and i == 0 and all(o in masks for o in n.output if o)
        ) for n, i in uses[name])

    # nodes are in topological order: a node's consumers come after it, so deciding the
    # tensors from the last node back sees every consumer's outputs decided
    produced = set()
    for node in reversed(graph.node):
        for name in node.output:
            if name:
                produced.add(name)
                if mask_only(name):
                    masks.add(name)
    masks |= {name for name in uses if name not in produced and mask_only(name)}
    return masks


