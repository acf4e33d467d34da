"""Shape plumbing against onnxruntime: Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Gather,
Concat, Split, Slice, Shape, Constant, ConstantOfShape, Expand, Trilu.

Each case runs at the imported stage and after the canonical pipeline (see tests/onnx_cases.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import (
    INT64_MAX,
    INT64_MIN,
    Const,
    Data,
    In,
    case_params,
    check_case,
    graph_case,
    i64,
    op_case,
)

d = Data("shape")
CASES = []
node = helper.make_node

# -- Transpose ----------------------------------------------------------------------------------
CASES += [
    op_case("transpose_default_rank3", "Transpose", [In(d.f32(2, 3, 4))], opset=13),
    op_case("transpose_default_rank2", "Transpose", [In(d.f32(2, 3))]),
    op_case("transpose_default_rank1", "Transpose", [In(d.f32(5))]),
    op_case("transpose_perm_021", "Transpose", [In(d.f32(2, 3, 4))], attrs={"perm": [0, 2, 1]}),
    op_case("transpose_perm_rank4", "Transpose", [In(d.f32(2, 3, 4, 5))],
            attrs={"perm": [0, 2, 1, 3]}, opset=23),
    op_case("transpose_perm_cycle", "Transpose", [In(d.f32(2, 3, 4))], attrs={"perm": [2, 0, 1]}),
    op_case("transpose_identity_perm", "Transpose", [In(d.f32(2, 3))], attrs={"perm": [0, 1]}),
    op_case("transpose_int64", "Transpose", [In(d.ints(2, 3))]),
    op_case("transpose_bool", "Transpose", [In(d.bools(2, 3, 1))], attrs={"perm": [1, 2, 0]}),
]

# -- Reshape ------------------------------------------------------------------------------------
x234 = d.f32(2, 3, 4)
CASES += [
    op_case("reshape_static", "Reshape", [In(x234), Const(i64(6, 4))], opset=13),
    op_case("reshape_minus1", "Reshape", [In(x234), Const(i64(-1))]),
    op_case("reshape_minus1_middle", "Reshape", [In(x234), Const(i64(2, -1, 2))]),
    op_case("reshape_zero_copy", "Reshape", [In(x234), Const(i64(0, -1))]),
    op_case("reshape_zero_copy_two", "Reshape", [In(x234), Const(i64(0, 0, 2, 2))]),
    op_case("reshape_add_axes", "Reshape", [In(x234), Const(i64(1, 2, 1, 12))], opset=23),
    op_case("reshape_allowzero_zero_dim", "Reshape",
            [In(np.zeros((0, 3), np.float32)), Const(i64(3, 0))], attrs={"allowzero": 1},
            opset=14),
    op_case("reshape_allowzero_no_zero", "Reshape", [In(x234), Const(i64(4, -1))],
            attrs={"allowzero": 1}),
    op_case("reshape_allowzero0_copies", "Reshape", [In(np.zeros((0, 3), np.float32)),
                                                     Const(i64(0, 3))], opset=14),
    op_case("reshape_int64", "Reshape", [In(d.ints(2, 3)), Const(i64(3, 2))]),
    op_case("reshape_runtime_shape", "Reshape", [In(x234), In(i64(4, 6))],
            out_shapes={"Y": [None, None]}),
    op_case("reshape_runtime_shape_zero_minus1", "Reshape", [In(x234), In(i64(0, -1, 2))],
            out_shapes={"Y": [None, None, None]}),
    op_case("reshape_to_scalar", "Reshape", [In(d.f32(1, 1)), Const(i64())]),
    op_case("reshape_batch_minus1", "Reshape",
            [In(d.f32(2, 3, 4), dims=("batch", 3, 4)), Const(i64(-1, 12))],
            feeds=[{"x0": d.f32(1, 3, 4)}, {"x0": d.f32(3, 3, 4)}]),
    op_case("reshape_batch_zero_copy", "Reshape",
            [In(d.f32(2, 3, 4), dims=("batch", 3, 4)), Const(i64(0, 2, 6))],
            feeds=[{"x0": d.f32(1, 3, 4)}, {"x0": d.f32(3, 3, 4)}]),
]
# exporter style: the target is computed from Shape (batch stays symbolic)
CASES.append(graph_case(
    "reshape_batch_shape_chain",
    [node("Shape", ["x"], ["s"]),
     node("Gather", ["s", "zero"], ["b"], axis=0),
     node("Unsqueeze", ["b", "axes0"], ["b1"]),
     node("Concat", ["b1", "tail"], ["target"], axis=0),
     node("Reshape", ["x", "target"], ["Y"])],
    {"x": In(d.f32(2, 3, 4), dims=("batch", 3, 4)), "zero": Const(np.array(0, np.int64)),
     "axes0": Const(i64(0)), "tail": Const(i64(4, 3))},
    ["Y"], feeds=[{"x": d.f32(1, 3, 4)}, {"x": d.f32(3, 3, 4)}]))

# exporter style multi-head split: [batch, seq, 8] -> [batch, 2, seq, 4] with the batch and
# sequence taken from Shape, sliced and concatenated
CASES.append(graph_case(
    "reshape_heads_shape_slice_chain",
    [node("Shape", ["x"], ["s"]),
     node("Slice", ["s", "st", "en"], ["bs"]),
     node("Concat", ["bs", "heads"], ["target"], axis=0),
     node("Reshape", ["x", "target"], ["r"]),
     node("Transpose", ["r"], ["Y"], perm=[0, 2, 1, 3])],
    {"x": In(d.f32(2, 5, 8), dims=("batch", "seq", 8)), "st": Const(i64(0)), "en": Const(i64(2)),
     "heads": Const(i64(2, 4))},
    ["Y"], feeds=[{"x": d.f32(1, 5, 8)}, {"x": d.f32(3, 2, 8)}]))

# -- Flatten ------------------------------------------------------------------------------------
for axis in (0, 1, 2, 3, -1, -3):
    CASES.append(op_case(f"flatten_axis{axis}", "Flatten", [In(x234)], attrs={"axis": axis}))
CASES += [
    op_case("flatten_default", "Flatten", [In(d.f32(2, 3, 4))], opset=13),
    op_case("flatten_rank4_opset23", "Flatten", [In(d.f32(2, 3, 2, 2))], attrs={"axis": 2},
            opset=23),
    op_case("flatten_zero_size", "Flatten", [In(np.zeros((0, 3, 2), np.float32))],
            attrs={"axis": 1}),
    op_case("flatten_zero_size_axis3", "Flatten", [In(np.zeros((2, 0, 2), np.float32))],
            attrs={"axis": 3}),
    op_case("flatten_batch", "Flatten", [In(d.f32(2, 3, 4), dims=("batch", 3, 4))],
            feeds=[{"x0": d.f32(1, 3, 4)}, {"x0": d.f32(3, 3, 4)}]),
]

# -- Squeeze / Unsqueeze (axes are inputs since opset 13) ---------------------------------------
x1 = d.f32(1, 3, 1, 4)
CASES += [
    op_case("squeeze_no_axes", "Squeeze", [In(x1)], opset=13),
    op_case("squeeze_axes", "Squeeze", [In(x1), Const(i64(0))], opset=13),
    op_case("squeeze_neg_axes", "Squeeze", [In(x1), Const(i64(-2, 0))]),
    op_case("squeeze_opset23", "Squeeze", [In(x1), Const(i64(2))], opset=23),
    op_case("squeeze_to_scalar", "Squeeze", [In(d.f32(1, 1))]),
    op_case("squeeze_int64", "Squeeze", [In(d.ints(3, 1)), Const(i64(1))]),
    op_case("squeeze_runtime_axes", "Squeeze", [In(x1), In(i64(2, -4))],
            out_shapes={"Y": [None, None]}),
    op_case("unsqueeze_runtime_axes", "Unsqueeze", [In(d.f32(3, 4)), In(i64(-1, 1))],
            out_shapes={"Y": [None, None, None, None]}),
    op_case("unsqueeze_front", "Unsqueeze", [In(d.f32(3, 4)), Const(i64(0))], opset=13),
    op_case("unsqueeze_neg", "Unsqueeze", [In(d.f32(3, 4)), Const(i64(-1))]),
    op_case("unsqueeze_two_neg", "Unsqueeze", [In(d.f32(3, 4)), Const(i64(-1, -4))]),
    op_case("unsqueeze_unsorted", "Unsqueeze", [In(d.f32(3, 4)), Const(i64(3, 0, 2))], opset=23),
    op_case("unsqueeze_middle", "Unsqueeze", [In(d.f32(3, 4)), Const(i64(1))]),
    op_case("unsqueeze_scalar", "Unsqueeze", [In(np.array(2.5, np.float32)), Const(i64(0))]),
]

# -- Gather -------------------------------------------------------------------------------------
g34 = d.f32(3, 4)
CASES += [
    op_case("gather_axis0", "Gather", [In(g34), Const(i64(2, 0, 2))], opset=13),
    op_case("gather_axis1", "Gather", [In(g34), Const(i64(3, 1))], attrs={"axis": 1}),
    op_case("gather_axis_neg", "Gather", [In(g34), Const(i64(0, -1))], attrs={"axis": -1}),
    op_case("gather_negative_indices", "Gather", [In(g34), In(i64(-1, -3, 1))]),
    op_case("gather_scalar_index", "Gather", [In(g34), Const(np.array(-2, np.int64))]),
    op_case("gather_scalar_index_axis1", "Gather", [In(g34), Const(np.array(1, np.int64))],
            attrs={"axis": 1}, opset=23),
    op_case("gather_2d_indices", "Gather",
            [In(d.f32(5, 3)), Const(np.array([[0, -1], [2, 4], [-5, 1]], np.int64))]),
    op_case("gather_2d_indices_axis1", "Gather",
            [In(d.f32(2, 5, 3)), In(np.array([[0, -1], [2, 4]], np.int64))], attrs={"axis": 1}),
    op_case("gather_int32_indices", "Gather", [In(g34), In(np.array([1, -1], np.int32))]),
    op_case("gather_int64_data", "Gather", [In(d.ints(4)), Const(np.array(3, np.int64))]),
    op_case("gather_const_data_runtime_idx", "Gather", [Const(d.f32(6, 2)), In(i64(5, 0, -6))]),
]

# -- Concat -------------------------------------------------------------------------------------
CASES += [
    op_case("concat_three_axis0", "Concat", [In(d.f32(1, 3)), In(d.f32(2, 3)), In(d.f32(3, 3))],
            attrs={"axis": 0}, opset=13),
    op_case("concat_three_neg_axis", "Concat",
            [In(d.f32(2, 3, 1)), Const(d.f32(2, 3, 2)), In(d.f32(2, 3, 3))], attrs={"axis": -1}),
    op_case("concat_axis1", "Concat", [In(d.f32(2, 1, 4)), In(d.f32(2, 2, 4))], attrs={"axis": 1},
            opset=23),
    op_case("concat_neg_rank", "Concat", [In(d.f32(2, 2)), In(d.f32(1, 2))], attrs={"axis": -2}),
    op_case("concat_int64", "Concat", [In(i64(1, 2)), Const(i64(3)), In(i64(4, 5, 6))],
            attrs={"axis": 0}),
    op_case("concat_single", "Concat", [In(d.f32(2, 3))], attrs={"axis": 1}),
    op_case("concat_empty_part", "Concat", [In(d.f32(2, 3)), In(np.zeros((2, 0), np.float32))],
            attrs={"axis": 1}),
]

# -- Split --------------------------------------------------------------------------------------
x7 = d.f32(7, 2)
x6 = d.f32(2, 6)
CASES += [
    # opset 13: optional split input, no num_outputs
    op_case("split13_sizes", "Split", [In(x7), Const(i64(2, 4, 1))], outputs=("A", "B", "C"),
            opset=13),
    op_case("split13_equal", "Split", [In(x6)], attrs={"axis": 1}, outputs=("A", "B", "C"),
            opset=13),
    op_case("split13_neg_axis", "Split", [In(x6), Const(i64(1, 5))], attrs={"axis": -1},
            outputs=("A", "B"), opset=13),
    # opset 18: num_outputs (uneven: the last part is smaller)
    op_case("split18_num_outputs_uneven", "Split", [In(x7)], attrs={"num_outputs": 3},
            outputs=("A", "B", "C"), opset=18),
    op_case("split18_num_outputs_uneven_4", "Split", [In(d.f32(2, 10))],
            attrs={"num_outputs": 4, "axis": 1}, outputs=("A", "B", "C", "D"), opset=18),
    op_case("split18_num_outputs_even", "Split", [In(x6)], attrs={"num_outputs": 2, "axis": -1},
            outputs=("A", "B"), opset=18),
    op_case("split18_sizes", "Split", [In(x7), Const(i64(3, 0, 4))], outputs=("A", "B", "C"),
            opset=18),
    op_case("split18_sizes_runtime", "Split", [In(x6), In(i64(4, 2))], attrs={"axis": 1},
            outputs=("A", "B"), opset=18, out_shapes={"A": [2, None], "B": [2, None]}),
    op_case("split23_num_outputs", "Split", [In(d.ints(5))], attrs={"num_outputs": 2},
            outputs=("A", "B"), opset=23),
    op_case("split18_single_output", "Split", [In(x6)], attrs={"num_outputs": 1},
            outputs=("A",), opset=18),
]

# -- Slice --------------------------------------------------------------------------------------
xs = d.f32(5, 6)


def slc(case_id, starts, ends, axes=None, steps=None, x=xs, opset=13, **kw):
    args = [In(x), Const(i64(*starts)), Const(i64(*ends))]
    if axes is not None or steps is not None:
        args.append(Const(i64(*axes)) if axes is not None else None)
    if steps is not None:
        args.append(Const(i64(*steps)))
    return op_case(case_id, "Slice", args, opset=opset, **kw)


CASES += [
    slc("slice_basic", [1, 2], [3, 5], [0, 1]),
    slc("slice_axes_omitted", [1], [4]),
    slc("slice_axes_omitted_two", [0, 1], [2, 5], opset=18),
    slc("slice_negative_bounds", [-4, -5], [-1, -2], [0, 1]),
    slc("slice_negative_axis", [1], [-1], [-1]),
    slc("slice_step2", [0], [6], [1], [2]),
    slc("slice_step3_uneven", [1], [INT64_MAX], [1], [3]),
    slc("slice_step_minus1_reverse", [-1], [INT64_MIN], [0], [-1]),
    slc("slice_step_minus1_partial", [4], [1], [1], [-1]),
    slc("slice_step_minus2_from_max", [INT64_MAX], [INT64_MIN], [1], [-2]),
    slc("slice_ends_int64_max", [2], [INT64_MAX], [0]),
    slc("slice_steps_axes_omitted", [-1, 5], [INT64_MIN, 0], None, [-2, -3]),
    slc("slice_clamp_out_of_range", [-100, 2], [100, 1000], [0, 1]),
    slc("slice_clamp_start_past_end", [10], [20], [0]),
    slc("slice_empty_reverse_range", [1], [3], [0], [-1]),
    slc("slice_steps_both_axes", [4, 0], [0, 6], [0, 1], [-2, 2], opset=23),
    # a negative step from a start below -dim starts at index 0 (ONNX clamps it to [0, dim-1];
    # Python would select nothing)
    slc("slice_step_minus1_start_below_dim", [-10], [-20], [0], [-1]),
    slc("slice_step_minus2_start_below_dim_two_axes", [-100, -7], [-200, -9], [0, 1], [-2, -1]),
    op_case("slice_step_negative_start_below_dim_runtime", "Slice",
            [In(xs), In(i64(-6, -1000)), In(i64(-3, -8)), In(i64(1, 0)), In(i64(-1, -3))],
            out_shapes={"Y": [None, None]}),
    op_case("fold_slice_step_negative_start_below_dim", "Slice",
            [Const(d.f32(1, 4)), Const(i64(-6)), Const(i64(-3)), Const(i64(0)), Const(i64(-2))]),
    slc("slice_rank3", [0, 1], [1, 3], [0, 2], x=d.f32(2, 3, 4), opset=18),
    op_case("slice_runtime_bounds", "Slice", [In(xs), In(i64(1, -3)), In(i64(4, 100))],
            out_shapes={"Y": [None, None]}),
    op_case("slice_runtime_all", "Slice",
            [In(xs), In(i64(-1, 1)), In(i64(INT64_MIN, 6)), In(i64(1, 0)), In(i64(-2, 3))],
            out_shapes={"Y": [None, None]}),
    op_case("slice_int32_bounds", "Slice",
            [In(xs), Const(np.array([1], np.int32)), Const(np.array([-1], np.int32)),
             Const(np.array([1], np.int32)), Const(np.array([2], np.int32))]),
    op_case("slice_batch", "Slice",
            [In(d.f32(2, 6), dims=("batch", 6)), Const(i64(1)), Const(i64(5)), Const(i64(1))],
            feeds=[{"x0": d.f32(1, 6)}, {"x0": d.f32(3, 6)}]),
]

# -- Shape (start/end since opset 15) -----------------------------------------------------------
x4d = d.f32(2, 3, 4, 5)
CASES += [
    op_case("shape_opset13", "Shape", [In(x4d)], opset=13),
    op_case("shape_start1", "Shape", [In(x4d)], attrs={"start": 1}, opset=15),
    op_case("shape_end_neg", "Shape", [In(x4d)], attrs={"end": -1}, opset=15),
    op_case("shape_start_end", "Shape", [In(x4d)], attrs={"start": 1, "end": 3}, opset=18),
    op_case("shape_start_neg", "Shape", [In(x4d)], attrs={"start": -2}, opset=23),
    op_case("shape_clamped", "Shape", [In(x4d)], attrs={"start": -10, "end": 10}, opset=15),
    op_case("shape_empty", "Shape", [In(x4d)], attrs={"start": 3, "end": 1}, opset=15),
    op_case("shape_scalar_input", "Shape", [In(np.array(1.0, np.float32))]),
    op_case("shape_batch", "Shape", [In(d.f32(2, 3), dims=("batch", 3))],
            feeds=[{"x0": d.f32(1, 3)}, {"x0": d.f32(3, 3)}]),
]
# Shape feeding arithmetic at run time (the value is used, not just output)
CASES.append(graph_case(
    "shape_cast_mul",
    [node("Shape", ["x"], ["s"], end=1), node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
     node("Mul", ["sf", "x"], ["Y"])],
    {"x": In(d.f32(2, 3, 4), dims=("batch", 3, 4))}, ["Y"],
    feeds=[{"x": d.f32(1, 3, 4)}, {"x": d.f32(3, 3, 4)}]))


# -- Constant -----------------------------------------------------------------------------------
def const_case(case_id, attr_name, value, x, opset=13, op="Add"):
    c = node("Constant", [], ["c"], **{attr_name: value})
    return graph_case(case_id, [c, node(op, ["x", "c"], ["Y"])], {"x": In(x)}, ["Y"],
                      opset=opset, op_types=("Constant",))


CASES += [
    const_case("constant_value_tensor_f32", "value",
               numpy_helper.from_array(d.f32(2, 3), "c"), d.f32(2, 3)),
    const_case("constant_value_tensor_i64", "value",
               numpy_helper.from_array(i64(3, -4, 5), "c"), d.ints(2, 3), opset=18),
    const_case("constant_value_tensor_scalar", "value",
               numpy_helper.from_array(np.array(1.5, np.float32), "c"), d.f32(3), opset=23),
    const_case("constant_value_float", "value_float", 0.25, d.f32(2, 3)),
    const_case("constant_value_floats", "value_floats", [1.0, -2.5, 3.25], d.f32(2, 3)),
    const_case("constant_value_int", "value_int", -7, d.ints(2, 3)),
    const_case("constant_value_ints", "value_ints", [1, 2, 3], d.ints(2, 3), opset=18,
               op="Mul"),
    graph_case("constant_value_tensor_bool",
               [node("Constant", [], ["c"],
                     value=numpy_helper.from_array(np.array([True, False, True]), "c")),
                node("Where", ["c", "x", "y"], ["Y"])],
               {"x": In(d.f32(2, 3)), "y": In(d.f32(3))}, ["Y"], op_types=("Constant", "Where")),
    graph_case("constant_value_tensor_f64",
               [node("Constant", [], ["c"], value=numpy_helper.from_array(d.f64(3), "c")),
                node("Mul", ["x", "c"], ["Y"])],
               {"x": In(d.f64(2, 3))}, ["Y"], op_types=("Constant", "Mul")),
    graph_case("constant_as_output",
               [node("Constant", [], ["Y"], value_ints=[4, 5]), node("Neg", ["x"], ["Z"])],
               {"x": In(d.f32(2))}, ["Y", "Z"], op_types=("Constant", "Neg")),
    graph_case("constant_reshape_target",
               [node("Constant", [], ["s"], value_ints=[3, -1]),
                node("Reshape", ["x", "s"], ["Y"])],
               {"x": In(d.f32(2, 6))}, ["Y"], op_types=("Constant", "Reshape")),
]

# -- ConstantOfShape ----------------------------------------------------------------------------
CASES += [
    op_case("constantofshape_default_f32", "ConstantOfShape", [Const(i64(2, 3))], opset=13),
    op_case("constantofshape_int64_value", "ConstantOfShape", [Const(i64(3))],
            attrs={"value": numpy_helper.from_array(np.array([-5], np.int64), "value")}),
    op_case("constantofshape_f32_value", "ConstantOfShape", [Const(i64(2, 1, 2))],
            attrs={"value": numpy_helper.from_array(np.array([2.5], np.float32), "value")},
            opset=23),
    op_case("constantofshape_int32_value", "ConstantOfShape", [Const(i64(2))],
            attrs={"value": numpy_helper.from_array(np.array([7], np.int32), "value")}),
    op_case("constantofshape_bool_value", "ConstantOfShape", [Const(i64(2, 2))],
            attrs={"value": numpy_helper.from_array(np.array([True]), "value")}),
    op_case("constantofshape_scalar", "ConstantOfShape", [Const(i64())]),
    op_case("constantofshape_runtime_shape", "ConstantOfShape", [In(i64(2, 3))],
            out_shapes={"Y": [None, None]}),
    graph_case("constantofshape_from_shape",
               [node("Shape", ["x"], ["s"]),
                node("ConstantOfShape", ["s"], ["z"],
                     value=numpy_helper.from_array(np.array([1.0], np.float32), "value")),
                node("Add", ["x", "z"], ["Y"])],
               {"x": In(d.f32(2, 3), dims=("batch", 3))}, ["Y"],
               feeds=[{"x": d.f32(1, 3)}, {"x": d.f32(3, 3)}]),
]
# torch's legacy exporter writes its causal mask as ConstantOfShape(-inf) → Trilu → Unsqueeze
# → Add: -inf that only ever reaches an additive mask is allowed
_NINF = numpy_helper.from_array(np.array([-np.inf], np.float32), "value")
_CAUSAL_NINF = [node("ConstantOfShape", ["n"], ["full"], value=_NINF),
                node("Trilu", ["full", "one"], ["tri"], upper=1)]
CASES.append(graph_case(
    "constantofshape_ninf_causal_mask",
    [*_CAUSAL_NINF, node("Unsqueeze", ["tri", "zero"], ["mask"]),
     node("Add", ["x", "mask"], ["s"]), node("Softmax", ["s"], ["Y"])],
    {"x": In(d.f32(2, 3, 3), dims=("batch", 3, 3)), "n": Const(i64(3, 3)),
     "one": Const(np.array(1, np.int64)), "zero": Const(i64(0))}, ["Y"],
    feeds=[{"x": d.f32(1, 3, 3)}, {"x": d.f32(3, 3, 3)}]))


def test_constantofshape_inf_outside_a_mask_is_refused():
    """The same -inf reaching a graph output (not a mask) stays bad input."""
    from qlower.errors import QlowerError
    from qlower.frontend import import_model

    case = graph_case("constantofshape_ninf_output", _CAUSAL_NINF,
                      {"n": Const(i64(3, 3)), "one": Const(np.array(1, np.int64))}, ["tri"])
    with pytest.raises(QlowerError, match=r"value contains 1 Inf of 1 values \(±Inf is allowed "
                                          r"only in attention masks\)"):
        import_model(case.model)

# -- Expand -------------------------------------------------------------------------------------
CASES += [
    op_case("expand_up", "Expand", [In(d.f32(3, 1)), Const(i64(2, 3, 4))], opset=13),
    op_case("expand_both_directions", "Expand", [In(d.f32(1, 4)), Const(i64(3, 1))]),
    op_case("expand_shape_smaller_rank", "Expand", [In(d.f32(2, 3, 4)), Const(i64(3, 1))]),
    op_case("expand_ones", "Expand", [In(d.f32(2, 1)), Const(i64(1, 1, 1))], opset=23),
    op_case("expand_scalar", "Expand", [In(np.array(3.0, np.float32)), Const(i64(2, 2))]),
    op_case("expand_int64", "Expand", [In(d.ints(1, 3)), Const(i64(2, 1))]),
    op_case("expand_bool", "Expand", [In(d.bools(3, 1)), Const(i64(3, 2))]),
    op_case("expand_runtime_shape", "Expand", [In(d.f32(3, 1)), In(i64(2, 1, 4))],
            out_shapes={"Y": [None, None, None]}),
    op_case("expand_batch", "Expand", [In(d.f32(2, 1), dims=("batch", 1)), Const(i64(1, 4))],
            feeds=[{"x0": d.f32(1, 1)}, {"x0": d.f32(3, 1)}]),
]


# -- Trilu (since opset 14): the causal-mask building block ------------------------------------
CASES += [
    op_case("trilu_upper_default", "Trilu", [In(d.f32(4, 5))], opset=14),
    op_case("trilu_lower", "Trilu", [In(d.f32(3, 4, 4))], attrs={"upper": 0}),
    op_case("trilu_upper_k_const", "Trilu", [In(d.f32(4, 6)), Const(np.array(2, np.int64))],
            opset=23),
    op_case("trilu_lower_k_negative", "Trilu", [In(d.f32(5, 3)), Const(np.array(-1, np.int64))],
            attrs={"upper": 0}),
    op_case("trilu_k_runtime", "Trilu", [In(d.f32(2, 4, 4)), In(np.array(1, np.int64))]),
    op_case("trilu_int64", "Trilu", [In(d.ints(4, 4))], attrs={"upper": 0}, opset=18),
]

# -- all-constant operands: the canonical pipeline folds these; the imported graph runs them ----
CASES += [
    op_case("fold_div_int64_negative", "Div",
            [Const(i64(7, -7, 7, -7, -1)), Const(i64(2, 2, -2, -2, 3))]),
    op_case("fold_cast_trunc", "Cast", [Const(np.array([-2.7, 2.7, -0.5], np.float32))],
            attrs={"to": TensorProto.INT64}),
    op_case("fold_slice_reverse", "Slice",
            [Const(d.f32(4, 3)), Const(i64(-1)), Const(i64(INT64_MIN)), Const(i64(0)),
             Const(i64(-2))]),
    op_case("fold_gather_negative", "Gather", [Const(i64(10, 20, 30)), Const(i64(-1, 0))]),
    op_case("fold_flatten_neg_axis", "Flatten", [Const(d.f32(2, 3, 4))], attrs={"axis": -1}),
    op_case("fold_split13_equal", "Split", [Const(d.f32(4, 2))], outputs=("A", "B"), opset=13),
    op_case("fold_pow_int_negative_exp", "Pow", [Const(i64(2, -1, 1)), Const(i64(-1, -3, -2))]),
]


@pytest.mark.parametrize(("case", "stage"), case_params(CASES))
def test_shape_op(case, stage):
    check_case(case, stage)
