"""ONNX frontend: load, check and import a model into the ``onnx`` dialect of the IR.

The import is faithful: one op per ONNX node, named ``onnx.<OpType>``, with ONNX's value names,
every attribute written out (defaults filled in), and node names kept as locations. Opset
differences are normalised to the newest form (e.g. ReduceMean's ``axes`` attribute of
opset 13 becomes the ``axes`` operand of opset 18). Symbolic dimensions stay symbolic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper

from qlower.errors import QlowerError, UnsupportedError
from qlower.frontend.onnx_values import (
    check_finite,
    convert_attr,
    dtype_of,
    f32_attr,
    mask_only_tensors,
    tensor_array,
    value_type,
)
from qlower.frontend.opsets import MAX_OPSET, MIN_OPSET
from qlower.ir import Attrs, Constant, Dense, DType, Graph, TensorType, Value, VerifyError
from qlower.ir.graph import fresh_name
from qlower.ir.known_values import KnownValues, fold_op
from qlower.ir.opdef import build_op, op_def
from qlower.ir.verifier import verify_graph

__all__ = ["MAX_OPSET", "MIN_OPSET", "SUPPORTED_OPS", "default_opset", "import_model"]

# Supported ONNX ops (default domain). Each maps to ``onnx.<OpType>``; Constant becomes a
# graph constant. Their schema versions are listed in qlower.frontend.opsets.OP_VERSIONS.
# Ops newer than MIN_OPSET: Trilu >= 14, LayerNormalization >= 17, Gelu >= 20, Attention >= 23
# (ONNX's checker enforces these).
SUPPORTED_OPS = (
    "Add", "Attention", "Cast", "Concat", "Constant", "ConstantOfShape", "Conv", "Div", "Equal", "Erf", "Expand",
    "Flatten", "Gather", "Gelu", "Gemm", "Identity", "LayerNormalization", "LogSoftmax", "MatMul",
    "Mod", "Mul", "Neg", "NegativeLogLikelihoodLoss", "Pow", "ReduceMean", "ReduceSum", "Relu",
    "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "SoftmaxCrossEntropyLoss", "Split",
    "Sqrt", "Squeeze", "Sub", "Tanh", "Transpose", "Trilu", "Unsqueeze", "Where",
)
# What Hugging Face exports add: mask construction (Range, comparisons, logic, Max, GatherND,
# CumSum), sdpa's NaN guard (IsNaN), BERT's token_type_ids buffer (GatherElements), dropout
# layers (Dropout, the identity at inference), and their siblings of the same definition.
SUPPORTED_OPS += (
    "And", "CumSum", "Dropout", "GatherElements", "GatherND", "Greater", "GreaterOrEqual",
    "IsInf", "IsNaN", "Less", "LessOrEqual", "Max", "Mean", "Min", "Not", "Or", "Range", "Sum",
    "Xor",
)

# Attributes that exist in ONNX but change nothing for the types qlower supports.
IGNORED_ATTRS = {"Cast": {"saturate", "round_mode"}}


@dataclass
class _Importer:
    model: onnx.ModelProto
    source: str
    opset: int
    types: dict[str, TensorType] = field(default_factory=dict)
    known: KnownValues = field(default_factory=KnownValues)
    constants: list[Constant] = field(default_factory=list)
    ops: list = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    masks: set[str] = field(default_factory=set)

    def fail(self, node: onnx.NodeProto, name: str, message: str) -> QlowerError:
        return QlowerError(f"{self.source}: node '{name}' ({node.op_type}): {message}")

    def fresh(self, base: str) -> str:
        return fresh_name(base, self.taken)

    def add_constant(self, name: str, array: np.ndarray, what: str) -> None:
        check_finite(array, what, self.source, name in self.masks)
        dtype = DType.from_numpy(array.dtype)
        t = TensorType(dtype, tuple(int(d) for d in array.shape))
        data = Dense(array)
        self.constants.append(Constant(Value(name, t), data))
        self.types[name] = t
        self.known.add_constant(name, data)
        self.taken.add(name)

    # -- nodes --------------------------------------------------------------------------------
    def import_node(self, index: int, node: onnx.NodeProto) -> None:
        name = node.name or f"{node.op_type}_{index}"
        if node.op_type == "Constant":
            self.import_constant(node, name)
            return
        d = op_def(f"onnx.{node.op_type}")
        assert d is not None, node.op_type
        attrs = {}
        for a in node.attribute:
            if a.name in IGNORED_ATTRS.get(node.op_type, ()):
                continue
            if a.type in (onnx.AttributeProto.TENSOR, onnx.AttributeProto.GRAPH):
                attrs[a.name] = a  # the fixup converts it (or it is unsupported below)
                continue
            try:
                attrs[a.name] = convert_attr(a)
            except UnsupportedError as e:
                raise self.fail(node, name, str(e)) from None
        operands: list[str | None] = [i if i else None for i in node.input]
        while operands and operands[-1] is None:
            operands.pop()
        results: list[str | None] = [o if o else None for o in node.output]
        while results and results[-1] is None:
            results.pop()
        fix = _FIXUPS.get(node.op_type)
        if fix is not None:
            operands, attrs = fix(self, node, name, operands, attrs)
        for key in attrs:
            if key not in d.attrs or isinstance(attrs[key], onnx.AttributeProto):
                raise self.fail(node, name, f"attribute '{key}' is not supported")
        types = [self.types[o] if o is not None else None for o in operands]
        values = [self.known.get(o) for o in operands]
        try:
            op = build_op(f"onnx.{node.op_type}", operands, results, attrs, (name,),
                          types=types, values=values)
        except VerifyError as e:
            raise self.fail(node, name, e.detail) from None
        self.ops.append(op)
        for r in op.results:
            if r is not None:
                self.types[r.name] = r.type
                self.taken.add(r.name)
        self.known.record(op, fold_op(op, types, values))

    def import_constant(self, node: onnx.NodeProto, name: str) -> None:
        if len(node.attribute) != 1:
            raise self.fail(node, name, "a Constant needs exactly one value attribute")
        a = node.attribute[0]
        if a.name == "value":
            try:
                arr = tensor_array(a.t, f"constant '{node.output[0]}'")
            except QlowerError as e:
                raise type(e)(f"{self.source}: node '{name}' (Constant): {e}") from None
        elif a.name in ("value_float", "value_floats"):
            arr = np.array(helper.get_attribute_value(a), dtype=np.float32)
        elif a.name in ("value_int", "value_ints"):
            arr = np.array(helper.get_attribute_value(a), dtype=np.int64)
        else:
            raise self.fail(node, name, f"constant attribute '{a.name}' is not supported")
        self.add_constant(node.output[0], arr, f"constant '{node.output[0]}' (node '{name}')")


# -- opset normalisation ----------------------------------------------------------------------

Fixup = Callable[[_Importer, onnx.NodeProto, str, list, dict], tuple[list, dict]]


def _fix_transpose(imp: _Importer, node, name, operands, attrs):
    if "perm" not in attrs:
        rank = imp.types[operands[0]].rank
        attrs["perm"] = tuple(range(rank - 1, -1, -1))
    return operands, attrs


def _fix_cast(imp: _Importer, node, name, operands, attrs):
    if "to" in attrs:
        try:
            attrs["to"] = dtype_of(attrs["to"], "the Cast target")
        except UnsupportedError as e:
            raise imp.fail(node, name, str(e)) from None
    return operands, attrs


def _fix_constant_of_shape(imp: _Importer, node, name, operands, attrs):
    value = attrs.pop("value", None)
    if value is None:
        return operands, attrs
    try:
        arr = tensor_array(value.t, "value")
    except QlowerError as e:
        raise type(e)(f"{imp.source}: node '{name}' (ConstantOfShape): {e}") from None
    if arr.size != 1:
        raise imp.fail(node, name, "value must hold exactly one element")
    check_finite(arr, f"node '{name}' value", imp.source, node.output[0] in imp.masks)
    item = arr.reshape(()).item()
    if isinstance(item, float) and arr.dtype == np.float32:
        item = f32_attr(item)
    attrs["value"] = item
    attrs["dtype"] = DType.from_numpy(arr.dtype)
    return operands, attrs


def _fix_attention(imp: _Importer, node, name, operands, attrs):
    if "softmax_precision" in attrs:
        attrs["softmax_precision"] = dtype_of(attrs["softmax_precision"], "softmax_precision")
    return operands, attrs


def _fix_reduce(imp: _Importer, node, name, operands, attrs):
    # ReduceMean before opset 18 takes axes as an attribute; newer forms take an operand.
    if "axes" in attrs:
        axes = np.array(attrs.pop("axes"), dtype=np.int64)
        cname = imp.fresh(f"{name}_axes")
        imp.add_constant(cname, axes, f"axes of node '{name}'")
        operands = [operands[0], cname]
    return operands, attrs


def _fix_mod(imp: _Importer, node, name, operands, attrs):
    # Mod before opset 28 defines float operands with fmod = 1 only
    if imp.opset < 28 and not attrs.get("fmod", 0) and imp.types[operands[0]].dtype.is_float:
        raise imp.fail(node, name, f"fmod must be 1 for {imp.types[operands[0]].dtype} operands "
                                   f"before opset 28 (this model's opset is {imp.opset})")
    return operands, attrs


def _fix_split(imp: _Importer, node, name, operands, attrs):
    # Split before opset 18 without a split input makes as many equal parts as it has
    # outputs; opset 18 spells that count num_outputs (type inference needs it).
    if len(operands) < 2 and "num_outputs" not in attrs:
        attrs["num_outputs"] = len(node.output)
    return operands, attrs


_FIXUPS: dict[str, Fixup] = {
    "Transpose": _fix_transpose,
    "Cast": _fix_cast,
    "ConstantOfShape": _fix_constant_of_shape,
    "Attention": _fix_attention,
    "ReduceMean": _fix_reduce,
    "ReduceSum": _fix_reduce,
    "Split": _fix_split,
    "Mod": _fix_mod,
}


def default_opset(model: onnx.ModelProto) -> int | None:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return None


def import_model(model: onnx.ModelProto, source: str = "model", base_dir: str = "") -> Graph:
    """Convert a loaded, checked ModelProto to the IR (external data is read from base_dir)."""
    opset = default_opset(model)
    g = model.graph
    imp = _Importer(model, source, opset or MAX_OPSET)
    imp.masks = mask_only_tensors(g)
    init_names = {t.name for t in g.initializer}
    inputs = []
    for vi in g.input:
        if vi.name in init_names:
            continue  # an initializer listed as an input (IR < 4 style): a constant
        try:
            t = value_type(vi, f"input '{vi.name}'")
        except QlowerError as e:
            raise type(e)(f"{source}: {e}") from None
        inputs.append(Value(vi.name, t))
        imp.types[vi.name] = t
        imp.taken.add(vi.name)
    for t in g.initializer:
        if t.HasField("segment"):
            raise UnsupportedError(f"{source}: initializer '{t.name}' is segmented")
        what = f"initializer '{t.name}'"
        try:
            arr = tensor_array(t, what, base_dir)
        except QlowerError as e:
            raise type(e)(f"{source}: {e}") from None
        imp.add_constant(t.name, arr, what)
    if g.sparse_initializer:
        raise UnsupportedError(f"{source}: sparse initializers are not supported")
    for i, node in enumerate(g.node):
        imp.import_node(i, node)
    attrs = {"opset": opset or MAX_OPSET}
    producer = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    if producer:
        attrs["producer"] = producer
    graph = Graph(
        g.name or "main",
        tuple(inputs),
        tuple(imp.constants),
        tuple(imp.ops),
        tuple(o.name for o in g.output),
        Attrs(attrs),
    )
    try:
        verify_graph(graph)
    except VerifyError as e:
        raise QlowerError(f"{source}: {e}") from None
    return graph
