"""Load ONNX models: decode, check opsets, ops, names and external data, run onnx's checker
and shape inference (after qlower's own checks), and import the graph."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data

from qlower.errors import QlowerError, UnsupportedError, one_line
from qlower.frontend.loader import read_bytes
from qlower.frontend.onnx_import import (
    MAX_OPSET,
    MIN_OPSET,
    SUPPORTED_OPS,
    default_opset,
    import_model,
)
from qlower.ir import Graph
from qlower.ir.graph import MAX_NAME_LENGTH


def decode_onnx(path: str | Path, data: bytes) -> onnx.ModelProto:
    try:
        model = onnx.load_model_from_string(data)
    except DecodeError:
        raise QlowerError(
            f"{path}: not an ONNX model (the protobuf is corrupt or truncated)"
        ) from None
    except Exception as e:  # noqa: BLE001
        raise QlowerError(f"{path}: not an ONNX model ({one_line(e)})") from None
    if not model.HasField("graph") or model.ir_version == 0:
        raise QlowerError(f"{path}: not an ONNX model (no graph or IR version)")
    bad = first_invalid_string(model)
    if bad is not None:
        where, value = bad
        raise QlowerError(f"{path}: not a valid ONNX model: {where} is not valid UTF-8 "
                          f"({value[:20]!r}{'…' if len(value) > 20 else ''})")
    return model


@cache
def _fields(descriptor) -> tuple[tuple, tuple]:
    """(string fields, message fields) of a protobuf message type, each as (name, repeated)."""
    def repeated(f) -> bool:
        flag = getattr(f, "is_repeated", None)
        return bool(flag) if flag is not None else f.label == f.LABEL_REPEATED

    strings = tuple((f.name, repeated(f)) for f in descriptor.fields if f.type == f.TYPE_STRING)
    messages = tuple((f.name, repeated(f)) for f in descriptor.fields if f.type == f.TYPE_MESSAGE)
    return strings, messages


def first_invalid_string(message, where: str = "") -> tuple[str, bytes] | None:
    """Where a string field holds bytes that are not UTF-8 (protobuf then gives ``bytes``).

    Returns (field path like ``graph.node[1].name``, the bytes), or None.
    """
    strings, messages = _fields(message.DESCRIPTOR)
    for name, rep in strings:
        value = getattr(message, name)
        for i, v in enumerate(value) if rep else ((None, value),):
            if not isinstance(v, str):
                return f"{where}{name}" + (f"[{i}]" if rep else ""), bytes(v)
    for name, rep in messages:
        if rep:
            for i, m in enumerate(getattr(message, name)):
                found = first_invalid_string(m, f"{where}{name}[{i}].")
                if found:
                    return found
        elif message.HasField(name):
            found = first_invalid_string(getattr(message, name), f"{where}{name}.")
            if found:
                return found
    return None


def check_opsets(path, model: onnx.ModelProto) -> int:
    opset = default_opset(model)
    if opset is None:
        raise QlowerError(f"{path}: the model imports no default-domain (ai.onnx) opset")
    if opset < MIN_OPSET:
        raise UnsupportedError(
            f"{path}: opset {opset} is too old; qlower imports opsets {MIN_OPSET}-{MAX_OPSET} "
            "(upgrade it with onnx.version_converter.convert_version)"
        )
    if opset > MAX_OPSET:
        raise UnsupportedError(
            f"{path}: opset {opset} is newer than qlower supports ({MIN_OPSET}-{MAX_OPSET})"
        )
    return opset


def check_supported_ops(path, model: onnx.ModelProto, opset: int) -> None:
    """List every node qlower cannot import, all at once, with node names."""
    problems: dict[str, list[str]] = {}
    for i, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        domain = node.domain or ""
        if domain in ("", "ai.onnx") and node.op_type in SUPPORTED_OPS:
            continue
        if domain not in ("", "ai.onnx"):
            key = f"{node.op_type} (domain {domain})"
        elif not onnx.defs.has(node.op_type, ""):
            key = f"{node.op_type} (not an ONNX operator)"
        else:
            key = node.op_type
        problems.setdefault(key, []).append(name)
    if not problems:
        return
    parts = []
    for key, names in problems.items():
        shown = ", ".join(f"'{n}'" for n in names[:5]) + (f" +{len(names) - 5} more" if len(names) > 5 else "")
        parts.append(f"{key} at {'node' if len(names) == 1 else 'nodes'} {shown}")
    total = sum(len(v) for v in problems.values())
    raise UnsupportedError(
        f"{path}: {total} unsupported op{'s' if total > 1 else ''}: " + "; ".join(parts)
    )


_TENSOR_NAME = re.compile(r"tensor name: ([^)]*?)\s*\)")


def check_external_locations(path: Path, model: onnx.ModelProto) -> None:
    """Every external-data file must be a regular file inside the model's folder.

    onnx enforces this when it loads the data; qlower checks it itself too, because older
    onnxruntime releases (what `run --check` may run on) read whatever the model points at.
    """
    folder = Path(path).resolve().parent
    for t in model.graph.initializer:
        if not uses_external_data(t):
            continue
        location = next((e.value for e in t.external_data if e.key == "location"), "")
        target = Path(location)
        where = f"{path}: external data of initializer '{t.name}'"
        try:
            outside = target.is_absolute() or not (folder / target).resolve().is_relative_to(folder)
            link, regular = (folder / target).is_symlink(), (folder / target).is_file()
        except (OSError, ValueError):  # a NUL byte, a name longer than the system takes, ...
            shown = repr(location) if len(location) <= 20 else repr(location[:20])[:-1] + "…'"
            raise QlowerError(f"{where}: location {shown} is not a usable file name") from None
        if outside:
            raise QlowerError(f"{where} points outside the model's folder")
        if link:
            raise QlowerError(f"{where} is a symbolic link (refused)")
        if not regular:
            raise QlowerError(f"{where}: file '{location}' is missing")


SMALL_EXTERNAL = 1 << 20  # bytes: external tensors up to this size are loaded into the proto


def load_external(path: Path, model: onnx.ModelProto) -> None:
    """Load the small external tensors (shapes, indices: what shape inference reads) into the
    proto; larger ones stay external and are read once, at import, so a model above
    protobuf's 2 GiB limit loads and shape inference still serialises a small proto."""
    external = [t for t in model.graph.initializer if uses_external_data(t)]
    if not external:
        return
    check_external_locations(path, model)
    try:
        for t in external:
            length = next((e.value for e in t.external_data if e.key == "length"), None)
            size = int(length) if length is not None and length.isdigit() else \
                math.prod(t.dims) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
            if size <= SMALL_EXTERNAL:
                load_external_data_for_tensor(t, str(path.parent))
    except Exception as e:  # noqa: BLE001 - onnx raises ValidationError, OSError, ...
        msg = str(e)
        m = _TENSOR_NAME.search(msg)
        tensor = f"initializer '{m.group(1)}'" if m else "an initializer"
        if "points outside the directory" in msg:
            raise QlowerError(f"{path}: external data of {tensor} points outside the model's folder") from None
        if "symbolic link" in msg:
            raise QlowerError(f"{path}: external data of {tensor} is a symbolic link (refused)") from None
        if "not regular file" in msg or isinstance(e, FileNotFoundError):
            raise QlowerError(f"{path}: external data file of {tensor} is missing") from None
        raise QlowerError(f"{path}: cannot load external data of {tensor} ({one_line(msg)})") from None


_NODE_IN_MSG = re.compile(r"op_type:(\w+), node name: ([^)]*)\): (?:\[\w+\] )?(.*)", re.S)


def _input_shapes(model: onnx.ModelProto, node_name: str) -> str:
    """`` (inputs 'a': [2, 4], 'b': [5, 3])`` for the named node, from what is known of them."""
    node = next((n for n in model.graph.node if n.name == node_name), None)
    if node is None:
        return ""
    try:
        loose = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - best effort: the message is still useful without shapes
        loose = model
    known: dict[str, str] = {}
    for vi in list(loose.graph.input) + list(loose.graph.value_info) + list(loose.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                    for d in vi.type.tensor_type.shape.dim]
            known[vi.name] = "[" + ", ".join(dims) + "]"
    for t in model.graph.initializer:
        known[t.name] = "[" + ", ".join(str(d) for d in t.dims) + "]"
    parts = [f"'{i}': {known[i]}" for i in node.input if i in known]
    return f" (inputs {', '.join(parts)})" if parts else ""


MAX_ELEMENTS = 1 << 40  # a constant shape asking for more elements than this is refused


def _constants(model: onnx.ModelProto) -> dict:
    """Integer constants of the main graph (initializers and Constant nodes), name → values."""
    import numpy as np
    from onnx import numpy_helper

    ints = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)

    def values(t):
        try:
            return numpy_helper.to_array(t)
        except (ValueError, TypeError):  # damaged data: the import names it later
            return None

    out = {}
    g = model.graph
    for t in g.initializer:
        if t.data_type in ints and not uses_external_data(t):
            out[t.name] = values(t)
    for n in g.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value" and a.t.data_type in ints:
                    out[n.output[0]] = values(a.t)
                elif a.name in ("value_int", "value_ints"):
                    out[n.output[0]] = np.array(a.i if a.name == "value_int" else list(a.ints))
    return {k: v for k, v in out.items() if v is not None}


def check_shape_constants(path, model: onnx.ModelProto) -> None:
    """Refuse constant shapes that no tensor can have, before ONNX's data propagation sees them.

    onnx's shape inference with data propagation materialises the values of shape tensors: a
    Reshape of a shape into ``[3.8e16]`` (a flipped byte) makes it allocate until the machine
    runs out of memory. A Reshape whose constant target disagrees with its input's static
    element count, a Range of more than ``MAX_ELEMENTS`` values and a ConstantOfShape, Expand
    or Tile asking for more are bad input, said so.
    """
    import numpy as np

    consts = _constants(model)
    try:
        shapes = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=False)
    except Exception:  # noqa: BLE001 - the strict run below reports what is wrong
        shapes = model
    static: dict[str, int] = {}
    g = shapes.graph
    for vi in [*g.input, *g.value_info, *g.output]:
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape") and all(
                d.HasField("dim_value") for d in tt.shape.dim):
            static[vi.name] = math.prod(d.dim_value for d in tt.shape.dim)
    for t in model.graph.initializer:
        static[t.name] = math.prod(t.dims)

    def refuse(node, what: str) -> None:
        raise QlowerError(f"{path}: node '{node.name or node.op_type}' ({node.op_type}): {what}")

    for node in model.graph.node:
        ins = list(node.input)
        if node.op_type == "Reshape" and len(ins) > 1 and ins[1] in consts:
            target = np.asarray(consts[ins[1]]).reshape(-1).astype(object)
            fixed = [int(d) for d in target if d > 0]
            size = math.prod(fixed)
            n = static.get(ins[0])
            allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
            if size > MAX_ELEMENTS or any(d < -1 for d in target):
                refuse(node, f"shape {[int(d) for d in target]} is no tensor shape")
            if n is not None and not (0 in target and not allowzero):
                ok = size == n if -1 not in target else (size > 0 and n % size == 0) or n == 0
                if not ok:
                    refuse(node, f"cannot reshape {n} element(s) into {[int(d) for d in target]}")
        elif node.op_type in ("ConstantOfShape", "Expand", "Tile"):
            k = 0 if node.op_type == "ConstantOfShape" else 1
            if len(ins) > k and ins[k] in consts:
                dims = np.asarray(consts[ins[k]]).reshape(-1).astype(object)
                if any(d < 0 for d in dims) and node.op_type != "Expand":
                    refuse(node, f"{'shape' if k == 0 else 'repeats'} {[int(d) for d in dims]} "
                           "has a negative entry")
                if math.prod(max(int(d), 1) for d in dims) > MAX_ELEMENTS:
                    refuse(node, f"{[int(d) for d in dims]} asks for more than 2**40 elements")
        elif node.op_type == "Range" and len(ins) == 3 and all(i in consts for i in ins):
            start, limit, delta = (float(np.asarray(consts[i]).reshape(-1)[0]) for i in ins)
            count = math.ceil((limit - start) / delta) if delta else math.inf
            if count > MAX_ELEMENTS:
                refuse(node, f"Range({start:g}, {limit:g}, {delta:g}) has more than 2**40 values")


def run_onnx_checker(path, model: onnx.ModelProto) -> None:
    check_shape_constants(path, model)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as e:
        m = _NODE_IN_MSG.search(str(e))
        if m:
            op, node, detail = m.groups()
            shapes = _input_shapes(model, node)
            raise QlowerError(
                f"{path}: shape clash at node '{node or '?'}' ({op}): "
                f"{one_line(detail, 200).rstrip('.')}{shapes}"
            ) from None
        raise QlowerError(f"{path}: shape inference failed: {one_line(e)}") from None
    except ValueError as e:  # onnx's C++ checks (an element type that does not exist, ...)
        raise QlowerError(f"{path}: invalid ONNX model: {one_line(e).rstrip('.')}") from None
    # The checker insists on shapes for graph outputs; take them from inference when missing.
    for out, inf in zip(model.graph.output, inferred.graph.output):
        if out.type.HasField("tensor_type") and not out.type.tensor_type.HasField("shape"):
            if inf.type.tensor_type.HasField("shape"):
                out.type.tensor_type.shape.CopyFrom(inf.type.tensor_type.shape)
    try:
        onnx.checker.check_model(model)  # strict shape inference already ran above
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        msg = str(e)
        m = _NODE_IN_MSG.search(msg)
        if m:
            op, node, detail = m.groups()
            raise QlowerError(f"{path}: node '{node}' ({op}): {one_line(detail, 200)}") from None
        raise QlowerError(f"{path}: invalid ONNX model: {one_line(msg.split('==>')[0])}") from None


def check_names(path, model: onnx.ModelProto) -> None:
    """Value names must fit qlower's limit (a weights file holds them as zip member names)."""
    g = model.graph
    named = [("input", v.name) for v in g.input] + [("output", v.name) for v in g.output]
    named += [("initializer", t.name) for t in g.initializer]
    named += [("value", o) for n in g.node for o in n.output]
    for what, name in named:
        if len(name) > MAX_NAME_LENGTH:
            raise UnsupportedError(
                f"{path}: {what} '{name[:20]}…' has a name of {len(name)} characters; qlower "
                f"takes names of up to {MAX_NAME_LENGTH}")


def load_onnx_proto(path: str | Path, data: bytes | None = None) -> onnx.ModelProto:
    """Decode and check an ONNX file; small external tensors are loaded (from inside its
    folder only), large ones stay external until import."""
    path = Path(path)
    data = read_bytes(path, "model file") if data is None else data
    model = decode_onnx(path, data)
    opset = check_opsets(path, model)
    check_supported_ops(path, model, opset)
    check_names(path, model)
    load_external(path, model)
    run_onnx_checker(path, model)
    return model


def load_onnx(path: str | Path, data: bytes | None = None,
              sizes: Mapping[str, int] | None = None) -> Graph:
    model = load_onnx_proto(path, data)
    if sizes:
        fix_sizes(path, model, sizes)
    return import_model(model, str(path), str(Path(path).parent))


def fix_sizes(path, model: onnx.ModelProto, sizes: Mapping[str, int]) -> None:
    """Give the inputs' named dimensions the sizes asked for (``--size seq=8``)."""
    used = set()
    for vi in model.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in sizes:
                used.add(d.dim_param)
                d.dim_value = int(sizes[d.dim_param])
    unknown = sorted(set(sizes) - used)
    if unknown:
        names = sorted({d.dim_param for vi in model.graph.input
                        for d in vi.type.tensor_type.shape.dim if d.HasField("dim_param")} - used)
        raise QlowerError(f"{path}: no input dimension is named {', '.join(map(repr, unknown))} "
                          f"(named dimensions: {', '.join(names) or 'none'})")



def load_proto(model: onnx.ModelProto, source: str = "model") -> Graph:
    """Check and import an in-memory ONNX model (external data is not read)."""
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    opset = check_opsets(source, model_copy)
    check_supported_ops(source, model_copy, opset)
    check_names(source, model_copy)
    run_onnx_checker(source, model_copy)
    return import_model(model_copy, source)
