"""The ops of Hugging Face exports against onnxruntime: Greater, GreaterOrEqual, Less,
LessOrEqual, And, Or, Xor, Not, IsNaN, IsInf, Max, Min, Sum, Mean, Range, CumSum, GatherND,
GatherElements, Dropout; and the mask idioms transformers writes with them, on a symbolic
batch and sequence.

Each case runs at the imported stage and after the canonical pipeline (see tests/onnx_cases.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper
from onnx_cases import Const, Data, In, case_params, check_case, graph_case, i64, op_case

from qlower.frontend.onnx_import import MAX_OPSET

d = Data("masks")
CASES = []
OPSETS = (13, 18, MAX_OPSET)

# -- comparisons: floats, ints, broadcasting, equal elements -------------------------------------
_A = np.array([[0.5, -1.0, 2.0], [0.5, 3.0, -1.0]], np.float32)
_B = np.array([0.5, 3.0, -2.0], np.float32)
for op in ("Greater", "GreaterOrEqual", "Less", "LessOrEqual"):
    low = op.lower()
    for opset in OPSETS:
        CASES.append(op_case(f"{low}_f32_{opset}", op, [In(_A), In(_B)], opset=opset))
    CASES += [
        op_case(f"{low}_int64_bcast", op, [In(d.ints(3, 1, low=0, high=4)), In(d.ints(4, low=0, high=4))]),
        op_case(f"{low}_int32_const", op, [In(d.ints(2, 4, low=0, high=3, dtype=np.int32)),
                                           Const(np.array(1, np.int32))], opset=MAX_OPSET),
        op_case(f"{low}_f64", op, [In(d.f64(2, 3)), In(d.f64(2, 3))]),
        op_case(f"{low}_batch", op, [In(d.f32(2, 3), dims=("batch", 3)), Const(d.f32(3))],
                feeds=[{"x0": d.f32(1, 3)}, {"x0": d.f32(3, 3)}]),
    ]

# -- logic ---------------------------------------------------------------------------------------
for op in ("And", "Or", "Xor"):
    low = op.lower()
    for opset in OPSETS:
        CASES.append(op_case(f"{low}_{opset}", op, [In(d.bools(3, 4)), In(d.bools(3, 4))],
                             opset=opset))
    CASES += [
        op_case(f"{low}_bcast", op, [In(d.bools(2, 1, 4)), In(d.bools(3, 1))]),
        op_case(f"{low}_const_scalar", op, [In(d.bools(2, 3)), Const(np.array(True))]),
    ]
for opset in OPSETS:
    CASES.append(op_case(f"not_{opset}", "Not", [In(d.bools(2, 3, 4))], opset=opset))

# -- float tests ---------------------------------------------------------------------------------
_SPECIAL = np.array([[1.0, np.nan, np.inf], [-np.inf, 0.0, -2.5]], np.float32)
for opset in OPSETS:
    CASES += [
        op_case(f"isnan_{opset}", "IsNaN", [In(_SPECIAL)], opset=opset),
        op_case(f"isinf_{opset}", "IsInf", [In(_SPECIAL)], opset=opset),
    ]
CASES += [
    op_case("isnan_f64", "IsNaN", [In(_SPECIAL.astype(np.float64))]),
    op_case("isinf_positive_only", "IsInf", [In(_SPECIAL)], attrs={"detect_negative": 0}),
    op_case("isinf_negative_only", "IsInf", [In(_SPECIAL)], attrs={"detect_positive": 0}),
    op_case("isinf_neither", "IsInf", [In(_SPECIAL)],
            attrs={"detect_positive": 0, "detect_negative": 0}),
]

# -- variadic max/min/sum/mean: one operand, several, broadcasting, ints, NaN ---------------------
_NAN = np.array([1.0, np.nan, -3.0], np.float32)
for op in ("Max", "Min", "Sum", "Mean"):
    low = op.lower()
    for opset in OPSETS:
        CASES.append(op_case(f"{low}_three_{opset}", op,
                             [In(d.f32(2, 3)), In(d.f32(3)), In(d.f32(2, 1))], opset=opset))
    CASES += [
        op_case(f"{low}_one", op, [In(d.f32(2, 3))]),
        op_case(f"{low}_nan", op, [In(_NAN), In(np.array([2.0, 1.0, np.nan], np.float32))]),
    ]
    # onnxruntime has no f64 Mean kernel
    f64 = op != "Mean"
    CASES.append(op_case(f"{low}_const", op, [In(d.f64(2, 3) if f64 else d.f32(2, 3)),
                                              Const(d.f64(3) if f64 else d.f32(3))]))
for op in ("Max", "Min"):
    CASES += [
        op_case(f"{op.lower()}_int64", op, [In(d.ints(3, 4)), In(d.ints(4))]),
        op_case(f"{op.lower()}_int32", op, [In(d.ints(2, 3, dtype=np.int32)),
                                            In(d.ints(2, 3, dtype=np.int32))], opset=MAX_OPSET),
    ]

# -- Range: ints and floats, negative steps, empty, a limit from a shape --------------------------
def _range(case_id, start, limit, delta, opset=18, dtype=np.int64, const=True):
    wrap = Const if const else In
    args = [wrap(np.array(v, dtype)) for v in (start, limit, delta)]
    return op_case(case_id, "Range", args, opset=opset)


for opset in OPSETS:
    CASES.append(_range(f"range_int64_{opset}", 0, 7, 2, opset))
CASES += [
    _range("range_int32_negative_delta", 10, 4, -2, dtype=np.int32),
    _range("range_int64_empty", 5, 5, 1),
    _range("range_int64_backwards_empty", 5, 9, -1),
    _range("range_f32", 0.5, 3.0, 0.75, dtype=np.float32),
    _range("range_f64_negative", 1.0, -2.0, -0.5, dtype=np.float64),
    _range("range_int16", -3, 4, 3, dtype=np.int16),
    _range("range_inputs", 2, 11, 3, const=False),
]

# -- CumSum: axes, exclusive, reverse, ints ------------------------------------------------------
for opset in OPSETS:
    CASES.append(op_case(f"cumsum_f32_{opset}", "CumSum", [In(d.f32(2, 3, 4)), Const(i64(1)[0])],
                         opset=opset))
for exclusive in (0, 1):
    for reverse in (0, 1):
        CASES.append(op_case(
            f"cumsum_ex{exclusive}_rev{reverse}", "CumSum",
            [In(d.f32(3, 4)), Const(np.array(-1, np.int32))],
            attrs={"exclusive": exclusive, "reverse": reverse}))
CASES += [
    op_case("cumsum_int64_axis0", "CumSum", [In(d.ints(4, 3)), Const(i64(0)[0])]),
    op_case("cumsum_int32_axis_1d", "CumSum", [In(d.ints(2, 5, dtype=np.int32)), Const(i64(1))]),
    op_case("cumsum_f64", "CumSum", [In(d.f64(5)), Const(i64(0)[0])], opset=MAX_OPSET),
]

# -- GatherND and GatherElements: negative indices, batch_dims, slices ---------------------------
_T = d.f32(3, 4, 2)
for opset in OPSETS:
    CASES += [
        op_case(f"gathernd_pairs_{opset}", "GatherND",
                [In(_T), Const(np.array([[0, 1], [2, -1], [-3, 0]], np.int64))], opset=opset),
        op_case(f"gatherelements_axis1_{opset}", "GatherElements",
                [In(d.f32(3, 4)), Const(np.array([[0, 3], [1, -1], [2, 2]], np.int64))],
                attrs={"axis": 1}, opset=opset),
    ]
CASES += [
    op_case("gathernd_slices", "GatherND", [In(_T), Const(np.array([[2], [0]], np.int64))]),
    op_case("gathernd_full_tuples", "GatherND",
            [In(_T), Const(np.array([[[0, 1, 1]], [[2, 3, 0]]], np.int64))]),
    op_case("gathernd_batch_dims", "GatherND",
            [In(_T), Const(np.array([[1], [3], [0]], np.int64))], attrs={"batch_dims": 1}),
    op_case("gathernd_bool", "GatherND", [In(d.bools(3, 3)), In(np.array([[1, 2], [0, 0]]))]),
    op_case("gatherelements_axis0_smaller", "GatherElements",
            [In(d.f32(3, 4)), Const(np.array([[2, 0, 1]], np.int64))]),
    op_case("gatherelements_int64_rank3", "GatherElements",
            [In(d.ints(2, 3, 2)), In(d.ints(2, 3, 2, low=-2, high=2))], attrs={"axis": 2}),
]

# -- Dropout at inference ------------------------------------------------------------------------
for opset in OPSETS:
    CASES.append(op_case(f"dropout_{opset}", "Dropout", [In(d.f32(3, 4))], opset=opset))
CASES += [
    op_case("dropout_ratio_mask", "Dropout", [In(d.f32(2, 5)), Const(np.array(0.3, np.float32))],
            outputs=("Y", "mask")),
    op_case("dropout_training_false", "Dropout",
            [In(d.f32(2, 3)), Const(np.array(0.5, np.float32)), Const(np.array(False))],
            outputs=("Y", "mask"), opset=MAX_OPSET),
]


# -- the mask idioms of transformers 5, on a symbolic batch and sequence --------------------------
def _mask_feeds(sizes=((1, 3), (3, 5))):
    out = []
    for b, s in sizes:
        m = np.ones((b, s), np.int64)
        m[-1, s - 1:] = 0
        out.append({"m": m, "x": d.f32(b, 1, s, s)})
    return out


def _padding_and_causal(causal: bool, flat: bool, opset: int) -> list:
    """(the ONNX nodes of) ``where(causal & mask[b, k], 0, -inf) + x``: the dynamo exporter's
    GatherND spelling, or the TorchScript exporter's flattened Gather (``flat``)."""
    h = helper.make_node
    nodes = [
        h("Shape", ["m"], ["bs"], start=0, end=1), h("Squeeze", ["bs", "ax0"], ["b"]),
        h("Shape", ["m"], ["ss"], start=1, end=2), h("Squeeze", ["ss", "ax0"], ["s"]),
        h("Range", ["zero", "b", "one"], ["rb"]), h("Range", ["zero", "s", "one"], ["rs"]),
        h("Unsqueeze", ["rb", "ax123"], ["bi"]),  # [b, 1, 1, 1]
        h("Unsqueeze", ["rs", "ax013"], ["qi"]),  # [1, 1, s, 1]
        h("Unsqueeze", ["rs", "ax012"], ["ki"]),  # [1, 1, 1, s]
        h("Cast", ["m"], ["mb"], to=TP.BOOL),
    ]
    if flat:
        nodes += [h("Flatten", ["mb"], ["mf"], axis=2), h("Mul", ["bi", "s"], ["bs_"]),
                  h("Add", ["ki", "bs_"], ["flat"]), h("Gather", ["mf", "flat"], ["g5"]),
                  h("Shape", ["flat"], ["fshape"]), h("Reshape", ["g5", "fshape"], ["pad"])]
    else:
        nodes += [h("Max", ["bi", "ki"], ["grid"]), h("Shape", ["grid"], ["gshape"]),
                  h("Expand", ["bi", "gshape"], ["be"]), h("Unsqueeze", ["be", "axm1"], ["b5"]),
                  h("Expand", ["ki", "gshape"], ["ke"]), h("Unsqueeze", ["ke", "axm1"], ["k5"]),
                  h("Concat", ["b5", "k5"], ["idx"], axis=-1),
                  h("GatherND", ["mb", "idx"], ["pad"])]
    if causal:
        nodes += [h("LessOrEqual", ["ki", "qi"], ["tri"]), h("And", ["tri", "pad"], ["keep"])]
    else:
        nodes += [h("GreaterOrEqual", ["qi", "zero"], ["any"]), h("And", ["any", "pad"], ["keep"])]
    nodes += [h("Where", ["keep", "fzero", "ninf"], ["bias"]), h("Add", ["x", "bias"], ["Y"])]
    return nodes


_MASK_CONSTS = {
    "zero": Const(np.array(0, np.int64)), "one": Const(np.array(1, np.int64)),
    "ax0": Const(i64(0)), "ax123": Const(i64(1, 2, 3)), "ax013": Const(i64(0, 1, 3)),
    "ax012": Const(i64(0, 1, 2)), "axm1": Const(i64(-1)),
    "fzero": Const(np.array(0.0, np.float32)),
    "ninf": Const(np.array(np.finfo(np.float32).min, np.float32)),
}
MASK_CASES = []
for causal in (False, True):
    for flat in (False, True):
        for opset in (18, MAX_OPSET):
            feeds = _mask_feeds()
            name = f"mask_{'causal' if causal else 'padding'}_{'flat' if flat else 'nd'}_{opset}"
            MASK_CASES.append(graph_case(
                name, _padding_and_causal(causal, flat, opset),
                {"m": In(feeds[0]["m"], dims=("batch", "seq")),
                 "x": In(feeds[0]["x"], dims=("batch", 1, "seq", "seq")), **_MASK_CONSTS},
                ["Y"], opset=opset, feeds=feeds, op_types=("Range", "And", "Where")))
CASES += MASK_CASES


@pytest.mark.parametrize(("case", "stage"), case_params(CASES))
def test_mask_op(case, stage):
    check_case(case, stage)


@pytest.mark.parametrize("case", MASK_CASES, ids=[c.id for c in MASK_CASES])
def test_mask_plumbing_folds_to_nn_ops(case):
    """With a symbolic batch and sequence, the index grids fold away: what is left computes the
    mask from ``m`` with a reshape (and, for causal masks, a triangle of ``true``)."""
    from collections import Counter

    from onnx_cases import stage_graph

    counts = Counter(op.name for op in stage_graph(case, "canonical").ops)
    assert not [n for n in counts if n.startswith("onnx.")], counts
    for gone in ("nn.range", "nn.gather_nd", "nn.gather", "nn.concat", "nn.greater_equal",
                 "nn.less_equal", "nn.max"):
        assert gone not in counts, counts
    causal = "causal" in case.id
    assert counts["nn.trilu"] == causal and counts["nn.and"] == causal, counts
    assert counts["nn.cast"] == 1 and counts["nn.where"] == 1, counts
