"""MatMul, Gemm, Softmax, LogSoftmax, LayerNormalization, ReduceMean, ReduceSum against onnxruntime.

Each case runs at the imported stage and after the canonical pipeline (see tests/onnx_cases.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_cases import Const, Data, In, case_params, check_case, i64, op_case

d = Data("linalg")
CASES = []

# -- MatMul: ranks 1-4 with broadcasting; runtime and constant second operand --------------------
MATMUL_SHAPES = [
    ("1d_1d", (4,), (4,)),
    ("1d_2d", (4,), (4, 3)),
    ("2d_1d", (3, 4), (4,)),
    ("2d_2d", (3, 4), (4, 5)),
    ("1d_3d", (4,), (2, 4, 5)),
    ("3d_1d", (2, 3, 4), (4,)),
    ("3d_2d", (2, 3, 4), (4, 5)),
    ("2d_3d", (3, 4), (2, 4, 5)),
    ("3d_3d_bcast", (1, 3, 4), (2, 4, 5)),
    ("4d_4d_bcast", (2, 1, 3, 4), (1, 3, 4, 5)),
    ("3d_4d", (3, 3, 4), (2, 1, 4, 5)),
    ("4d_2d", (2, 2, 3, 4), (4, 6)),
    ("4d_1d", (2, 2, 3, 4), (4,)),
]
for name, sa, sb in MATMUL_SHAPES:
    CASES.append(op_case(f"matmul_{name}", "MatMul", [In(d.f32(*sa)), In(d.f32(*sb))]))
    CASES.append(op_case(f"matmul_{name}_constB", "MatMul", [In(d.f32(*sa)), Const(d.f32(*sb))]))
CASES += [
    op_case("matmul_constA", "MatMul", [Const(d.f32(3, 4)), In(d.f32(2, 4, 5))]),
    op_case("matmul_opset13", "MatMul", [In(d.f32(2, 3, 4)), Const(d.f32(4, 5))], opset=13),
    op_case("matmul_opset23", "MatMul", [In(d.f32(2, 3, 4)), In(d.f32(4, 5))], opset=23),
    op_case("matmul_int32", "MatMul", [In(d.ints(3, 4, dtype=np.int32)),
                                       In(d.ints(4, 2, dtype=np.int32))]),
    op_case("matmul_int64", "MatMul", [In(d.ints(2, 3, 4)), In(d.ints(4, 2))]),
    op_case("matmul_zero_size", "MatMul", [In(np.zeros((2, 0, 4), np.float32)),
                                           In(d.f32(4, 3))]),
    op_case("matmul_empty_contraction", "MatMul", [In(np.zeros((2, 0), np.float32)),
                                                   In(np.zeros((0, 3), np.float32))]),
    op_case("matmul_f64", "MatMul", [In(d.f64(3, 4)), In(d.f64(4, 2))]),
]

# -- Gemm: every attribute, every C shape, constant and runtime B -------------------------------
M, K, N = 3, 4, 5


def gemm(case_id, c_shape=None, *, transA=0, transB=0, alpha=None, beta=None, constB=False,
         constC=True, opset=13):
    a = d.f32(K, M) if transA else d.f32(M, K)
    b = d.f32(N, K) if transB else d.f32(K, N)
    args = [In(a), Const(b) if constB else In(b)]
    if c_shape is not None:
        c = d.f32(*c_shape)
        args.append(Const(c) if constC else In(c))
    attrs = {k: v for k, v in dict(transA=transA, transB=transB, alpha=alpha, beta=beta).items()
             if v is not None and (k not in ("transA", "transB") or v)}
    return op_case(case_id, "Gemm", args, attrs=attrs, opset=opset)


CASES += [
    gemm("gemm_noC"),
    gemm("gemm_noC_beta_ignored", beta=3.0),
    gemm("gemm_C_scalar", ()),
    gemm("gemm_C_N", (N,)),
    gemm("gemm_C_1xN", (1, N)),
    gemm("gemm_C_MxN", (M, N)),
    gemm("gemm_C_Mx1", (M, 1)),
    gemm("gemm_C_1x1", (1, 1)),
    gemm("gemm_C_1", (1,)),
    gemm("gemm_C_runtime", (M, N), constC=False),
    gemm("gemm_alpha_beta", (N,), alpha=0.5, beta=-2.0),
    gemm("gemm_alpha_only", alpha=2.5),
    gemm("gemm_beta_zero", (M, N), beta=0.0),
    gemm("gemm_transA", (N,), transA=1),
    gemm("gemm_transB", (N,), transB=1),
    gemm("gemm_transA_transB", (M, 1), transA=1, transB=1, alpha=0.75, beta=1.5),
    gemm("gemm_constB_transB", (N,), transB=1, constB=True),
    gemm("gemm_constB", (1, N), constB=True, alpha=1.25, beta=0.5),
    gemm("gemm_constB_transA", (M, N), transA=1, constB=True),
    gemm("gemm_opset18", (N,), transB=1, constB=True, opset=18),
    gemm("gemm_opset23", (M, N), transA=1, alpha=0.3, opset=23),
    op_case("gemm_f64", "Gemm", [In(d.f64(M, K)), In(d.f64(K, N)), In(d.f64(N))],
            attrs=dict(alpha=0.5, beta=2.0)),
    op_case("gemm_batch", "Gemm",
            [In(d.f32(2, K), dims=("batch", K)), Const(d.f32(N, K)), Const(d.f32(N))],
            attrs=dict(transB=1),
            feeds=[{"x0": d.f32(1, K)}, {"x0": d.f32(3, K)}]),
]

# -- Softmax / LogSoftmax: every axis (opset-13 semantics) --------------------------------------
for op in ("Softmax", "LogSoftmax"):
    x3 = d.f32(2, 3, 4, scale=3.0)
    CASES.append(op_case(f"{op.lower()}_default_axis", op, [In(x3)], opset=13))
    for axis in (-3, -2, -1, 0, 1, 2):
        CASES.append(op_case(f"{op.lower()}_axis{axis}", op, [In(x3)], attrs={"axis": axis},
                             opset=13))
    CASES += [
        op_case(f"{op.lower()}_rank4_axis1", op, [In(d.f32(2, 3, 2, 4))], attrs={"axis": 1}),
        op_case(f"{op.lower()}_rank1", op, [In(d.f32(6))], opset=23),
        op_case(f"{op.lower()}_large_values", op, [In(d.f32(3, 5, scale=80.0))]),
        # rows with -inf (masked) entries, all -inf, +inf, NaN: NaN where onnxruntime has it
        op_case(f"{op.lower()}_non_finite", op, [In(np.array(
            [[0.5, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0],
             [np.nan, 0.0, 1.0]], np.float32))]),
        op_case(f"{op.lower()}_f64", op, [In(d.f64(3, 4))], attrs={"axis": 0}),
        op_case(f"{op.lower()}_batch", op, [In(d.f32(2, 5), dims=("batch", 5))],
                attrs={"axis": 0},
                feeds=[{"x0": d.f32(1, 5)}, {"x0": d.f32(3, 5)}]),
    ]

# -- LayerNormalization (opset 17+) --------------------------------------------------------------
CASES += [
    op_case("layernorm_axis-1_bias", "LayerNormalization",
            [In(d.f32(2, 3, 4, scale=2) + 1), Const(d.f32(4)), Const(d.f32(4))], opset=17),
    op_case("layernorm_axis-1_nobias", "LayerNormalization",
            [In(d.f32(2, 3, 4)), Const(d.f32(4))], opset=17),
    op_case("layernorm_axis1_bias", "LayerNormalization",
            [In(d.f32(2, 3, 4)), Const(d.f32(3, 4)), Const(d.f32(3, 4))],
            attrs={"axis": 1}, opset=18),
    op_case("layernorm_axis1_nobias_stats", "LayerNormalization",
            [In(d.f32(2, 3, 4)), In(d.f32(3, 4))], attrs={"axis": 1},
            outputs=("Y", "Mean", "InvStdDev"), opset=17),
    op_case("layernorm_axis-1_stats", "LayerNormalization",
            [In(d.f32(2, 3, 4)), In(d.f32(4)), In(d.f32(4))],
            outputs=("Y", "Mean", "InvStdDev"), opset=23),
    op_case("layernorm_mean_only", "LayerNormalization",
            [In(d.f32(3, 4)), Const(d.f32(4)), Const(d.f32(4))], outputs=("Y", "Mean")),
    op_case("layernorm_invstd_only", "LayerNormalization",
            [In(d.f32(3, 4)), Const(d.f32(4))], outputs=("Y", None, "InvStdDev")),
    op_case("layernorm_axis0_epsilon", "LayerNormalization",
            [In(d.f32(2, 3)), Const(d.f32(2, 3)), Const(d.f32(2, 3))],
            attrs={"axis": 0, "epsilon": 0.1}, outputs=("Y", "Mean", "InvStdDev")),
    op_case("layernorm_axis-2_rank4", "LayerNormalization",
            [In(d.f32(2, 2, 3, 4)), Const(d.f32(3, 4)), Const(d.f32(4))], attrs={"axis": -2}),
    op_case("layernorm_scale_broadcast", "LayerNormalization",
            [In(d.f32(2, 3, 4)), Const(d.f32(1, 4)), Const(d.f32(4))], attrs={"axis": 1}),
    op_case("layernorm_stash_type_explicit", "LayerNormalization",
            [In(d.f32(3, 4)), Const(d.f32(4)), Const(d.f32(4))], attrs={"stash_type": 1},
            outputs=("Y", "Mean", "InvStdDev")),
    # Mean and InvStdDev have the stash type (float32) whatever X's type
    op_case("layernorm_f64_stats_f32", "LayerNormalization",
            [In(d.f64(2, 3, 4)), Const(d.f64(4)), Const(d.f64(4))],
            outputs=("Y", "Mean", "InvStdDev"), opset=17),
    op_case("layernorm_f64_axis1", "LayerNormalization",
            [In(d.f64(2, 3, 4)), In(d.f64(3, 4))], attrs={"axis": 1}, opset=23),
    op_case("layernorm_batch", "LayerNormalization",
            [In(d.f32(2, 3, 4), dims=("batch", 3, 4)), Const(d.f32(4)), Const(d.f32(4))],
            outputs=("Y", "Mean", "InvStdDev"),
            feeds=[{"x0": d.f32(1, 3, 4)}, {"x0": d.f32(3, 3, 4)}]),
]

# -- ReduceMean / ReduceSum ---------------------------------------------------------------------
xr = d.f32(2, 3, 4)
xi = d.ints(2, 3, 4)
CASES += [
    # opset 13: ReduceMean takes axes as an attribute, ReduceSum as an input
    op_case("reducemean13_axes_attr", "ReduceMean", [In(xr)], attrs={"axes": [1]}, opset=13),
    op_case("reducemean13_axes_neg_keep0", "ReduceMean", [In(xr)],
            attrs={"axes": [-1, 0], "keepdims": 0}, opset=13),
    op_case("reducemean13_all", "ReduceMean", [In(xr)], opset=13),
    op_case("reducemean13_all_keep0", "ReduceMean", [In(xr)], attrs={"keepdims": 0}, opset=13),
    op_case("reducesum13_axes_input", "ReduceSum", [In(xr), Const(i64(1, 2))], opset=13),
    op_case("reducesum13_axes_keep0", "ReduceSum", [In(xr), Const(i64(-2))],
            attrs={"keepdims": 0}, opset=13),
    op_case("reducesum13_omitted", "ReduceSum", [In(xr)], opset=13),
    op_case("reducesum13_omitted_keep0", "ReduceSum", [In(xr)], attrs={"keepdims": 0},
            opset=13),
    op_case("reducesum13_noop_empty", "ReduceSum", [In(xr)],
            attrs={"noop_with_empty_axes": 1}, opset=13),
    op_case("reducesum13_empty_axes_tensor", "ReduceSum", [In(xr), Const(i64())], opset=13),
    op_case("reducesum13_empty_axes_noop", "ReduceSum", [In(xr), Const(i64())],
            attrs={"noop_with_empty_axes": 1}, opset=13),
    op_case("reducesum13_int64", "ReduceSum", [In(xi), Const(i64(0))], opset=13),
    op_case("reducesum13_int32_keep0", "ReduceSum",
            [In(d.ints(3, 4, dtype=np.int32)), Const(i64(1))], attrs={"keepdims": 0}, opset=13),
]
for op in ("ReduceMean", "ReduceSum"):
    low = op.lower()
    CASES += [
        op_case(f"{low}18_axes", op, [In(xr), Const(i64(0, 2))], opset=18),
        op_case(f"{low}18_axes_keep0", op, [In(xr), Const(i64(-1))], attrs={"keepdims": 0},
                opset=18),
        op_case(f"{low}18_omitted", op, [In(xr)], opset=18),
        op_case(f"{low}18_omitted_keep0", op, [In(xr)], attrs={"keepdims": 0}, opset=18),
        op_case(f"{low}18_noop_empty", op, [In(xr)], attrs={"noop_with_empty_axes": 1},
                opset=18),
        op_case(f"{low}18_noop_but_axes", op, [In(xr), Const(i64(1))],
                attrs={"noop_with_empty_axes": 1, "keepdims": 0}, opset=18),
        op_case(f"{low}18_runtime_axes", op, [In(xr), In(i64(0, 2))], opset=18,
                out_shapes={"Y": [None] * 3}),
        op_case(f"{low}23_axes", op, [In(xr), Const(i64(1))], attrs={"keepdims": 0}, opset=23),
        op_case(f"{low}18_int32", op, [In(d.ints(3, 4, dtype=np.int32))], opset=18),
        op_case(f"{low}18_rank1", op, [In(d.f32(7))], attrs={"keepdims": 0}, opset=18),
        op_case(f"{low}18_batch", op, [In(d.f32(2, 4), dims=("batch", 4)), Const(i64(1))],
                feeds=[{"x0": d.f32(1, 4)}, {"x0": d.f32(3, 4)}]),
    ]
CASES += [
    # the mean of no values: 0, as onnxruntime has it (ONNX leaves it undefined)
    op_case("reducemean18_empty_set", "ReduceMean",
            [In(np.zeros((0, 3), np.float32)), Const(i64(0))], attrs={"keepdims": 0}, opset=18),
    op_case("reducemean13_empty_set_all_int32", "ReduceMean",
            [In(np.zeros((2, 0), np.int32))], opset=13),
    op_case("reducemean18_int64_negative", "ReduceMean",
            [In(np.array([[-7, 2, -1], [5, -9, 4]], dtype=np.int64)), Const(i64(1))], opset=18),
]


@pytest.mark.parametrize(("case", "stage"), case_params(CASES))
def test_linalg_op(case, stage):
    check_case(case, stage)
