"""Every supported op at every opset from 13 to MAX_OPSET, against onnxruntime.

Each builder writes one case in the form its opset has (ReduceMean's axes as an attribute before
18 and as an input from 18; Split's equal parts without and then with num_outputs; Shape's
start/end from 15; Reshape's allowzero from 14; Cast's saturate from 19 and round_mode from 24;
the small integer types of Add/Sub/Mul/Div and Relu from 14), and ``every_opset`` repeats it at
every opset where the op exists. Each case runs at the imported and canonical stages (see
tests/onnx_cases.py). Also here: element types that newer opsets add are refused with an error
that names the type and the value, a newer opset than MAX_OPSET is refused, and the schema
versions qlower was checked against (``qlower.frontend.opsets.OP_VERSIONS``) are those of the
installed onnx.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import (
    NEWEST_OPSET,
    ONNX_REF,
    STAGE_NAMES,
    Const,
    Data,
    In,
    check_case,
    every_opset,
    graph_case,
    i64,
    op_case,
    ort_max_opset,
)

from qlower.errors import QlowerError, UnsupportedError
from qlower.frontend.onnx_import import MAX_OPSET, MIN_OPSET, SUPPORTED_OPS
from qlower.frontend.onnx_loader import load_proto
from qlower.frontend.opsets import OP_VERSIONS

d = Data("opsets")
node = helper.make_node
CASES = []


def sweep(name: str, op: str, args, first: int = MIN_OPSET, **kw) -> None:
    """``op`` with ``args(opset)`` (or fixed args) at every opset from ``first``."""

    def make(opset):
        a = args(opset) if callable(args) else args
        extra = {k: (v(opset) if callable(v) else v) for k, v in kw.items()}
        return op_case(f"{name}_opset{opset}", op, a, opset=opset, **extra)

    CASES.extend(every_opset(make, first))


# -- elementwise --------------------------------------------------------------------------------
SMALL_INTS = {"Add": np.int8, "Sub": np.int16, "Mul": np.uint16, "Div": np.uint8}
for op, small in SMALL_INTS.items():
    low = op.lower()
    divisor = op == "Div"
    sweep(f"{low}_f32_bcast", op, lambda o, dv=divisor: [
        In(d.f32(2, 3, 4)), Const(d.pos(3, 1) if dv else d.f32(3, 1))])
    # opset 14 adds int8, int16, uint8 and uint16; before it, int32
    sweep(f"{low}_int", op, lambda o, dv=divisor, sm=small: [
        In(d.ints(3, 4, low=1 if dv else 0, high=9, dtype=sm if o >= 14 else np.int32)),
        In(d.ints(4, low=1 if dv else 0, high=5, dtype=sm if o >= 14 else np.int32))])

sweep("pow_f32", "Pow", lambda o: [In(d.pos(3, 4)), In(d.f32(4))])
sweep("pow_f32_int_exp", "Pow", lambda o: [In(d.f32(2, 3)), Const(i64(0, 1, 3))])
sweep("mod_int", "Mod", lambda o: [In(d.ints(3, 4, low=-20, high=20)), In(d.nonzero(4))])
sweep("mod_f32_fmod", "Mod", lambda o: [In(d.f32(3, 4, scale=5)), In(d.pos(4))], attrs={"fmod": 1})
# Mod-28 defines fmod = 0 on floats: A - floor(A / B) * B, with the divisor's sign (±0 too)
_MOD_A = np.array([7.5, -7.5, 7.5, -7.5, 0.0, -0.0, 3.0, -3.0, 2.0, np.inf], np.float32)
_MOD_B = np.array([2.0, 2.0, -2.0, -2.0, -3.0, 3.0, np.inf, np.inf, 0.0, 2.0], np.float32)
sweep("mod_f32_floor", "Mod", [In(_MOD_A), In(_MOD_B)], first=28)
sweep("sqrt", "Sqrt", lambda o: [In(d.pos(3, 4))])
sweep("neg_int8", "Neg", lambda o: [In(d.ints(3, 4, dtype=np.int8))])
sweep("neg_f32", "Neg", lambda o: [In(d.f32(5))])
sweep("relu_f32", "Relu", lambda o: [In(d.f32(3, 4))])
sweep("relu_int", "Relu", lambda o: [In(d.ints(3, 4, dtype=np.int8 if o % 2 else np.int32))],
      first=14)  # opset 14 adds integer Relu
sweep("tanh_f32", "Tanh", lambda o: [In(d.f32(3, 4, scale=3))])
sweep("sigmoid", "Sigmoid", lambda o: [In(d.f32(3, 4, scale=3))])
sweep("erf_f32", "Erf", lambda o: [In(d.f32(3, 4, scale=2))])
sweep("gelu", "Gelu", lambda o: [In(d.f32(3, 4, scale=3))], first=20,
      attrs=lambda o: {"approximate": "tanh" if o % 2 else "none"})
sweep("identity", "Identity", lambda o: [In(d.f32(2, 3))])
sweep("where", "Where", lambda o: [In(d.bools(3, 1)), In(d.f32(3, 4)),
                                   Const(np.array(-np.inf, np.float32))])
sweep("equal", "Equal", lambda o: [In(d.ints(3, 1, low=0, high=3)), In(d.ints(4, low=0, high=3))])

# Cast: saturate (19+) and round_mode (24+) only affect float8 targets; written out, they must
# change nothing for the others
FRACTIONS = np.array([-2.9, -1.5, -0.7, 0.0, 0.5, 1.5, 2.9, 100.99], np.float32)


def cast_attrs(o):
    attrs = {"to": TensorProto.INT8}
    if o >= 19:
        attrs["saturate"] = 1
    if o >= 24:
        attrs["round_mode"] = "up"
    return attrs


sweep("cast_f32_to_i8", "Cast", [In(FRACTIONS)], attrs=cast_attrs)
sweep("cast_bool_to_f32", "Cast", lambda o: [In(d.bools(2, 3))], attrs={"to": TensorProto.FLOAT})

# -- linear algebra, normalisation, reductions --------------------------------------------------
sweep("matmul_const_b", "MatMul", lambda o: [In(d.f32(2, 3, 4)), Const(d.f32(4, 5))])
sweep("gemm_transa_alpha_beta", "Gemm", lambda o: [In(d.f32(4, 3)), In(d.f32(4, 5)), Const(d.f32(5))],
      attrs={"transA": 1, "alpha": 0.5, "beta": -1.5})
sweep("softmax", "Softmax", lambda o: [In(d.f32(2, 3, 4, scale=3))], attrs={"axis": 1})
sweep("logsoftmax", "LogSoftmax", lambda o: [In(d.f32(2, 3, 4, scale=3))], attrs={"axis": -2})
sweep("layernorm", "LayerNormalization",
      lambda o: [In(d.f32(2, 3, 4)), Const(d.f32(3, 4)), Const(d.f32(3, 4))], first=17,
      attrs={"axis": 1}, outputs=("Y", "Mean", "InvStdDev"))
xr = d.f32(2, 3, 4)
# ReduceMean: axes attribute before 18, an input from 18
sweep("reducemean_axes", "ReduceMean",
      lambda o: [In(xr)] if o < 18 else [In(xr), Const(i64(-1, 0))],
      attrs=lambda o: {"keepdims": 0, **({"axes": [-1, 0]} if o < 18 else {})})
sweep("reducemean_noop_empty", "ReduceMean", [In(xr)], first=18,
      attrs={"noop_with_empty_axes": 1})
sweep("reducesum_axes", "ReduceSum", [In(xr), Const(i64(1))], attrs={"keepdims": 0})
sweep("reducesum_noop_empty", "ReduceSum", [In(xr), Const(i64())],
      attrs={"noop_with_empty_axes": 1})

# -- losses -------------------------------------------------------------------------------------
N, C = 4, 5
sweep("sce_weights_ignore", "SoftmaxCrossEntropyLoss",
      lambda o: [In(d.f32(N, C, 2)), In(np.array([[0, 4], [1, 1], [3, 2], [4, 0]], np.int64)),
                 Const(d.pos(C))],
      attrs={"reduction": "mean", "ignore_index": 1}, outputs=("loss", "log_prob"))
sweep("nll_sum", "NegativeLogLikelihoodLoss",
      lambda o: [In(-d.pos(N, C)), In(np.array([0, 2, 4, 2], np.int64))],
      attrs={"reduction": "sum", "ignore_index": 4})

# -- shapes and indexing ------------------------------------------------------------------------
sweep("transpose", "Transpose", lambda o: [In(d.f32(2, 3, 4))], attrs={"perm": [2, 0, 1]})
sweep("reshape_copy_infer", "Reshape", lambda o: [In(d.f32(2, 3, 4)), Const(i64(0, -1))])
sweep("reshape_allowzero", "Reshape",  # opset 14: a 0 is a size, not "copy"
      lambda o: [In(np.zeros((3, 0), np.float32)), Const(i64(0, 3))], first=14,
      attrs={"allowzero": 1})
sweep("flatten", "Flatten", lambda o: [In(d.f32(2, 3, 4))], attrs={"axis": -2})
sweep("squeeze_axes", "Squeeze", lambda o: [In(d.f32(1, 3, 1, 2)), Const(i64(0, -2))])
sweep("squeeze_all", "Squeeze", lambda o: [In(d.f32(1, 3, 1))])
sweep("unsqueeze", "Unsqueeze", lambda o: [In(d.f32(3, 2)), Const(i64(-1, 0))])
sweep("gather", "Gather", lambda o: [In(d.f32(3, 4)), Const(np.array([-1, 0], np.int32))],
      attrs={"axis": 1})
sweep("concat", "Concat", lambda o: [In(d.f32(2, 1)), Const(d.f32(2, 2)), In(d.f32(2, 3))],
      attrs={"axis": -1})
sweep("split_sizes", "Split", lambda o: [In(d.f32(7, 2)), Const(i64(2, 4, 1))],
      outputs=("A", "B", "C"))
# equal parts: implied by the outputs before 18; num_outputs from 18 (the last part smaller)
sweep("split_parts", "Split", lambda o: [In(d.f32(6 if o < 18 else 7, 2))],
      attrs=lambda o: {} if o < 18 else {"num_outputs": 3}, outputs=("A", "B", "C"))
sweep("slice", "Slice", lambda o: [In(d.f32(5, 6)), Const(i64(-1, 1)), Const(i64(-6, 6)),
                                   Const(i64(0, 1)), Const(i64(-2, 2))])
sweep("shape_slice", "Shape", lambda o: [In(d.f32(2, 3, 4, 5))],
      attrs=lambda o: {"start": 1, "end": -1} if o >= 15 else {})
sweep("constantofshape", "ConstantOfShape", [Const(i64(2, 3))],
      attrs={"value": numpy_helper.from_array(np.array([-5], np.int64), "value")})
sweep("expand", "Expand", lambda o: [In(d.f32(3, 1)), Const(i64(2, 1, 4))])
sweep("trilu", "Trilu", lambda o: [In(d.f32(3, 4, 5)), Const(np.array(-1, np.int64))], first=14,
      attrs=lambda o: {"upper": o % 2})

# -- the ops of Hugging Face exports (their own suite is test_ops_masks) ------------------------
for op in ("Greater", "GreaterOrEqual", "Less", "LessOrEqual"):
    sweep(f"{op.lower()}_int", op, lambda o: [In(d.ints(3, 1, low=0, high=3)),
                                              In(d.ints(4, low=0, high=3))])
for op in ("And", "Or", "Xor"):
    sweep(op.lower(), op, lambda o: [In(d.bools(3, 1)), In(d.bools(4))])
sweep("not", "Not", lambda o: [In(d.bools(2, 3))])
SPECIAL = np.array([1.0, np.nan, np.inf, -np.inf, -0.5], np.float32)
sweep("isnan", "IsNaN", [In(SPECIAL)])
sweep("isinf", "IsInf", [In(SPECIAL)], attrs=lambda o: {"detect_negative": o % 2})
for op in ("Max", "Min", "Sum", "Mean"):
    sweep(op.lower(), op, lambda o: [In(d.f32(2, 3)), In(d.f32(3))])
sweep("conv", "Conv", lambda o: [In(d.f32(1, 2, 5, 4)), Const(d.f32(3, 2, 3, 2)),
                                 Const(d.f32(3))],
      attrs=lambda o: {"pads": [1, 0, 1, 1], "strides": [1 + o % 2, 1]})
sweep("range", "Range", lambda o: [Const(np.array(v, np.int64)) for v in (1, 3 + o % 5, 2)])
# opset 27 adds float16 ranges (computed in float32)
sweep("range_f16", "Range", lambda o: [Const(np.array(v, np.float16)) for v in (0.5, 4.0, 0.75)],
      first=27)
sweep("cumsum", "CumSum", lambda o: [In(d.f32(2, 5)), Const(np.array(-1, np.int64))],
      attrs=lambda o: {"exclusive": o % 2, "reverse": (o // 2) % 2})
sweep("gathernd", "GatherND", lambda o: [In(d.f32(3, 4)), Const(np.array([[2, -1], [0, 1]]))])
sweep("gatherelements", "GatherElements",
      lambda o: [In(d.f32(3, 4)), Const(np.array([[1, -1], [0, 3], [2, 2]]))], attrs={"axis": 1})
sweep("dropout", "Dropout", lambda o: [In(d.f32(2, 3)), Const(np.array(0.2, np.float32))],
      outputs=("Y", "mask"))

CONSTANT_ATTRS = (
    ("value", numpy_helper.from_array(np.array([1.5, -2.0, 0.25], np.float32), "c")),
    ("value_float", 0.75),
    ("value_floats", [1.0, -2.5, 3.25]),
)


def constant_case(o):
    attr, value = CONSTANT_ATTRS[o % len(CONSTANT_ATTRS)]
    return graph_case(f"constant_{attr}_opset{o}",
                      [node("Constant", [], ["c"], **{attr: value}), node("Mul", ["x", "c"], ["Y"])],
                      {"x": In(d.f32(2, 3))}, ["Y"], opset=o, op_types=("Constant",))


CASES += every_opset(constant_case)

# -- Attention: its plain form at every opset it exists (its own suite is test_ops_attention) ---
sweep("attention_causal", "Attention",
      lambda o: [In(d.f32(1, 2, 3, 4)), In(d.f32(1, 2, 5, 4)), In(d.f32(1, 2, 5, 4))],
      first=23, attrs={"is_causal": 1})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_at_opset(case):
    """Both stages in one test: about 800 cases, so the per-test overhead counts."""
    for stage in STAGE_NAMES:
        try:
            check_case(case, stage)
        except AssertionError as e:
            raise AssertionError(f"at the {stage} stage: {e}") from None


def opset_of(case) -> int:
    return next(o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx"))


def test_onnxruntime_is_the_reference_where_it_runs_the_opset():
    assert ort_max_opset() >= 23
    assert [c.id for c in CASES if c.reference == ONNX_REF and opset_of(c) <= ort_max_opset()] == []


# -- the opset range and the schema versions ---------------------------------------------------


def test_max_opset_is_the_newest_onnx_defines():
    newest = onnx.defs.onnx_opset_version()
    assert newest <= MAX_OPSET, (
        f"onnx {onnx.__version__} defines opset {newest}, newer than MAX_OPSET = {MAX_OPSET}: "
        "check every supported op's schema at the new opset (OP_VERSIONS in "
        "qlower/frontend/opsets.py), sweep it here, then raise MAX_OPSET")


def schema_versions(op: str) -> list[int]:
    """The since-versions of ``op`` in force from MIN_OPSET to MAX_OPSET in the installed onnx."""
    versions = sorted(s.since_version for s in onnx.defs.get_all_schemas_with_history()
                      if s.name == op and s.domain in ("", "ai.onnx") and
                      s.since_version <= MAX_OPSET)
    in_force = [v for v in versions if v <= MIN_OPSET]
    return ([in_force[-1]] if in_force else []) + [v for v in versions if v > MIN_OPSET]


@pytest.mark.parametrize("op", SUPPORTED_OPS)
def test_op_versions_are_the_ones_checked(op):
    assert op in OP_VERSIONS, f"{op}: list its schema versions in OP_VERSIONS after checking them"
    checked = sorted(v for v in OP_VERSIONS[op] if v <= NEWEST_OPSET)
    assert checked == schema_versions(op), (
        f"{op}: onnx {onnx.__version__} has schema versions {schema_versions(op)}; qlower was "
        f"checked against {checked}")


def relu_model(opset: int | None, elem=TensorProto.FLOAT) -> onnx.ModelProto:
    g = helper.make_graph([node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", elem, [2])],
                          [helper.make_tensor_value_info("y", elem, [2])])
    kw = {} if opset is None else {"opset_imports": [helper.make_opsetid("", opset)]}
    return helper.make_model(g, **kw)


def test_make_model_defaults_import():
    """What ``onnx.helper.make_model`` writes by default (the newest opset) imports."""
    graph = load_proto(relu_model(None), "m.onnx")
    assert graph.attrs["opset"] == onnx.defs.onnx_opset_version()


def test_newer_opset_than_max_is_refused():
    with pytest.raises(UnsupportedError) as e:
        load_proto(relu_model(MAX_OPSET + 1), "m.onnx")
    assert str(e.value) == (f"m.onnx: opset {MAX_OPSET + 1} is newer than qlower supports "
                            f"({MIN_OPSET}-{MAX_OPSET})")


# -- element types qlower does not take: refused, naming the type and the value ----------------
T = TensorProto


def typed_model(op: str, elem: int, opset: int, out_elem: int | None = None, out_shape=(2, 3),
                args=("x",), **attrs):
    g = helper.make_graph([node(op, list(args), ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info("x", elem, [2, 3])],
                          [helper.make_tensor_value_info("y", elem if out_elem is None
                                                         else out_elem, list(out_shape))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def seq_model(opset: int, optional: bool) -> onnx.ModelProto:
    t = helper.make_tensor_type_proto(T.FLOAT, [2])
    tp = helper.make_optional_type_proto(t) if optional else helper.make_sequence_type_proto(t)
    g = helper.make_graph([node("Identity", ["x"], ["y"])], "g",
                          [helper.make_value_info("x", tp)], [helper.make_value_info("y", tp)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def const_of_shape_bf16(opset: int) -> onnx.ModelProto:
    value = helper.make_tensor("value", T.BFLOAT16, [1], [1.0])
    g = helper.make_graph([node("ConstantOfShape", ["s"], ["y"], value=value)], "g", [],
                          [helper.make_tensor_value_info("y", T.BFLOAT16, [2])],
                          [numpy_helper.from_array(i64(2), "s")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def initializer_model(elem: int, opset: int) -> onnx.ModelProto:
    w = helper.make_tensor("w", elem, [2], [1.0, 2.0])
    g = helper.make_graph([node("Identity", ["w"], ["y"])], "g", [],
                          [helper.make_tensor_value_info("y", elem, [2])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def constant_model(elem: int, opset: int) -> onnx.ModelProto:
    value = helper.make_tensor("value", elem, [2], [1.0, 2.0])
    g = helper.make_graph([node("Constant", [], ["y"], value=value)], "g", [],
                          [helper.make_tensor_value_info("y", elem, [2])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


NOT_TAKEN = "which qlower does not support"
NEW_TYPES = [
    # (id, model, the end of the error after "m.onnx: ")
    ("bfloat16_relu_13", typed_model("Relu", T.BFLOAT16, 13),
     f"input 'x' has element type BFLOAT16, {NOT_TAKEN}"),
    ("bfloat16_constantofshape_20", const_of_shape_bf16(20),
     f"node 'ConstantOfShape_0' (ConstantOfShape): value has element type BFLOAT16, {NOT_TAKEN}"),
    ("bfloat16_initializer_13", initializer_model(T.BFLOAT16, 13),
     f"initializer 'w' has element type BFLOAT16, {NOT_TAKEN}"),
    ("float8e4m3fn_constant_19", constant_model(T.FLOAT8E4M3FN, 19),
     f"node 'Constant_0' (Constant): constant 'y' has element type FLOAT8E4M3FN, {NOT_TAKEN}"),
    ("float8e4m3fn_identity_19", typed_model("Identity", T.FLOAT8E4M3FN, 19),
     f"input 'x' has element type FLOAT8E4M3FN, {NOT_TAKEN}"),
    ("float8e5m2fnuz_cast_target_19", typed_model("Cast", T.FLOAT, 19, T.FLOAT8E5M2FNUZ,
                                                   to=T.FLOAT8E5M2FNUZ),
     f"node 'Cast_0' (Cast): the Cast target has element type FLOAT8E5M2FNUZ, {NOT_TAKEN}"),
    ("int4_transpose_21", typed_model("Transpose", T.INT4, 21, out_shape=(3, 2)),
     f"input 'x' has element type INT4, {NOT_TAKEN}"),
    ("uint4_cast_target_21", typed_model("Cast", T.FLOAT, 21, T.UINT4, to=T.UINT4),
     f"node 'Cast_0' (Cast): the Cast target has element type UINT4, {NOT_TAKEN}"),
    ("float4e2m1_flatten_23", typed_model("Flatten", T.FLOAT4E2M1, 23, out_shape=(1, 6), axis=0),
     f"input 'x' has element type FLOAT4E2M1, {NOT_TAKEN}"),
    ("float8e8m0_cast_target_24", typed_model("Cast", T.FLOAT, 24, T.FLOAT8E8M0,
                                              to=T.FLOAT8E8M0, round_mode="up"),
     f"node 'Cast_0' (Cast): the Cast target has element type FLOAT8E8M0, {NOT_TAKEN}"),
    ("int2_identity_25", typed_model("Identity", T.INT2, 25),
     f"input 'x' has element type INT2, {NOT_TAKEN}"),
    ("uint2_identity_max", typed_model("Identity", T.UINT2, MAX_OPSET),
     f"input 'x' has element type UINT2, {NOT_TAKEN}"),
    ("string_identity_13", typed_model("Identity", T.STRING, 13),
     f"input 'x' has element type STRING, {NOT_TAKEN}"),
    ("string_equal_19", typed_model("Equal", T.STRING, 19, T.BOOL, args=("x", "x")),
     f"input 'x' has element type STRING, {NOT_TAKEN}"),
    ("sequence_identity_14", seq_model(14, optional=False),
     "input 'x' is not a tensor (sequences, maps and optionals are not supported)"),
    ("optional_identity_16", seq_model(16, optional=True),
     "input 'x' is not a tensor (sequences, maps and optionals are not supported)"),
]
if hasattr(T, "FLOAT6E2M3"):  # opset 28
    NEW_TYPES.append(("float6e2m3_cast_target_28",
                      typed_model("Cast", T.FLOAT, 28, T.FLOAT6E2M3, to=T.FLOAT6E2M3),
                      f"node 'Cast_0' (Cast): the Cast target has element type FLOAT6E2M3, "
                      f"{NOT_TAKEN}"))


@pytest.mark.parametrize(("model", "message"), [p[1:] for p in NEW_TYPES],
                         ids=[p[0] for p in NEW_TYPES])
def test_new_element_types_are_refused(model, message):
    onnx.checker.check_model(model)  # valid ONNX: the refusal is qlower's
    with pytest.raises(QlowerError) as e:
        load_proto(model, "m.onnx")
    assert str(e.value) == f"m.onnx: {message}"
