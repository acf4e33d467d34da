"""Small op chains that the canonical passes rewrite, against onnxruntime.

The op-by-op suites check single ops; these check the spellings that canonicalisation folds
(MatMul + Add and Gemm into ``nn.linear``, the expanded attention pattern into
``nn.attention``, Sub/Pow/ReduceMean into ``nn.mse_loss``) including the near-misses that must
not fold. Each case runs at the imported stage and after the canonical pipeline.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx_cases import Const, Data, In, case_params, check_case, graph_case, i64, op_case

d = Data("chains")
node = helper.make_node
CASES = []

# -- MatMul + Add -> nn.linear (and Adds that are not a bias) -----------------------------------
K, N = 4, 3


def matmul_add(case_id, x, bias, *, bias_left=False, opset=18, feeds=None):
    add_in = ["bias", "h"] if bias_left else ["h", "bias"]
    return graph_case(
        f"matmul_add_{case_id}",
        [node("MatMul", ["x", "w"], ["h"]), node("Add", add_in, ["Y"])],
        {"x": x, "w": Const(d.f32(K, N)), "bias": bias}, ["Y"], opset=opset, feeds=feeds)


CASES += [
    matmul_add("bias_n", In(d.f32(2, K)), Const(d.f32(N))),
    matmul_add("bias_1n", In(d.f32(2, K)), Const(d.f32(1, N)), opset=13),
    matmul_add("bias_left", In(d.f32(2, K)), Const(d.f32(N)), bias_left=True),
    matmul_add("bias_scalar", In(d.f32(2, K)), Const(np.array(0.5, np.float32))),
    matmul_add("bias_1", In(d.f32(2, K)), Const(d.f32(1))),
    matmul_add("bias_mn_not_a_row", In(d.f32(2, K)), Const(d.f32(2, N))),
    matmul_add("bias_m1_not_a_row", In(d.f32(2, K)), Const(d.f32(2, 1))),
    matmul_add("bias_raises_rank", In(d.f32(2, K)), Const(d.f32(1, 1, N))),
    matmul_add("bias_runtime", In(d.f32(2, K)), In(d.f32(N))),
    matmul_add("x_rank3", In(d.f32(2, 5, K)), Const(d.f32(N)), opset=23),
    matmul_add("x_rank1", In(d.f32(K)), Const(d.f32(N))),
    matmul_add("x_batch", In(d.f32(2, K), dims=("batch", K)), Const(d.f32(N)),
               feeds=[{"x": d.f32(1, K)}, {"x": d.f32(3, K)}]),
]
CASES += [
    # the MatMul result is used twice: the Add must not absorb it
    graph_case("matmul_add_shared_product",
               [node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "b"], ["Y"]),
                node("Relu", ["h"], ["Z"])],
               {"x": In(d.f32(2, K)), "w": Const(d.f32(K, N)), "b": Const(d.f32(N))},
               ["Y", "Z"]),
    # the product is a graph output as well
    graph_case("matmul_add_product_is_output",
               [node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "b"], ["Y"])],
               {"x": In(d.f32(2, K)), "w": Const(d.f32(K, N)), "b": Const(d.f32(N))},
               ["Y", "h"]),
    # two biases in a row
    graph_case("matmul_add_add",
               [node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "b"], ["h2"]),
                node("Add", ["c", "h2"], ["Y"])],
               {"x": In(d.f32(2, K)), "w": Const(d.f32(K, N)), "b": Const(d.f32(N)),
                "c": Const(d.f32(1, N))}, ["Y"]),
    # a 3-D constant weight is no linear layer
    graph_case("matmul_add_weight_rank3",
               [node("MatMul", ["x", "w"], ["h"]), node("Add", ["h", "b"], ["Y"])],
               {"x": In(d.f32(2, 3, K)), "w": Const(d.f32(2, K, N)), "b": Const(d.f32(N))},
               ["Y"]),
    # Gemm sharing one weight with and without transB, and a runtime C with beta
    graph_case("gemm_shared_weight",
               [node("Gemm", ["x", "w"], ["y1"], transB=1),
                node("Gemm", ["z", "w"], ["y2"], alpha=2.0)],
               {"x": In(d.f32(2, K)), "z": In(d.f32(3, K)), "w": Const(d.f32(K, K))},
               ["y1", "y2"]),
    op_case("gemm_runtime_C_beta", "Gemm", [In(d.f32(3, K)), Const(d.f32(K, N)), In(d.f32(3, N))],
            attrs={"beta": 2.0, "alpha": 0.5}),
    op_case("gemm_runtime_C_row_beta", "Gemm",
            [In(d.f32(K, 3)), Const(d.f32(N, K)), In(d.f32(N))],
            attrs={"beta": -1.0, "transA": 1, "transB": 1}),
    op_case("gemm_const_C_mx1_beta", "Gemm", [In(d.f32(3, K)), Const(d.f32(K, N)),
                                                Const(d.f32(3, 1))], attrs={"beta": 0.25}),
    # MatMul by a transposed constant, as torch writes nn.Linear
    graph_case("transpose_matmul_add",
               [node("Transpose", ["w"], ["wt"], perm=[1, 0]), node("MatMul", ["x", "wt"], ["h"]),
                node("Add", ["h", "b"], ["Y"])],
               {"x": In(d.f32(2, 5, K)), "w": Const(d.f32(N, K)), "b": Const(d.f32(N))}, ["Y"]),
    # linear -> relu -> linear
    graph_case("mlp",
               [node("Gemm", ["x", "w1", "b1"], ["h"], transB=1), node("Relu", ["h"], ["r"]),
                node("MatMul", ["r", "w2"], ["o"]), node("Add", ["o", "b2"], ["Y"])],
               {"x": In(d.f32(2, K), dims=("batch", K)), "w1": Const(d.f32(6, K)),
                "b1": Const(d.f32(6)), "w2": Const(d.f32(6, N)), "b2": Const(d.f32(N))},
               ["Y"], feeds=[{"x": d.f32(1, K)}, {"x": d.f32(3, K)}]),
]

# -- the expanded attention pattern -------------------------------------------------------------
B, H, S, L, E = 2, 2, 3, 4, 4


def expanded_attention(case_id, *, scale_op="Mul", scale=0.5, mask=None, where_mask=None,
                       scale_on_q=False, transpose_k=True, batch=False, fill=-np.inf,
                       softmax_axis=-1, scale_const=None):
    nodes, inputs = [], {}
    dims = ("batch", H, S, E) if batch else None
    kdims = ("batch", H, L, E) if batch else None
    inputs["q"] = In(d.f32(B, H, S, E), dims=dims)
    inputs["k"] = In(d.f32(B, H, L, E), dims=kdims)
    inputs["v"] = In(d.f32(B, H, L, E), dims=kdims)
    inputs["c"] = Const(np.array(scale, np.float32) if scale_const is None else scale_const)
    q = "q"
    if scale_on_q:
        nodes.append(node("Mul", ["q", "c"], ["qs"]))
        q = "qs"
    if transpose_k:
        nodes.append(node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]))
        nodes.append(node("MatMul", [q, "kt"], ["s"]))
    else:  # K given already transposed
        inputs["k"] = In(d.f32(B, H, E, L))
        nodes.append(node("MatMul", [q, "k"], ["s"]))
    scores = "s"
    if not scale_on_q:
        nodes.append(node(scale_op, ["s", "c"], ["ss"]))
        scores = "ss"
    if mask is not None:
        inputs["m"] = mask
        nodes.append(node("Add", [scores, "m"], ["sm"]))
        scores = "sm"
    if where_mask is not None:
        inputs["wm"] = where_mask
        inputs["fill"] = Const(np.array(fill, np.float32))
        nodes.append(node("Where", ["wm", scores, "fill"], ["sw"]))
        scores = "sw"
    nodes += [node("Softmax", [scores], ["p"], axis=softmax_axis),
              node("MatMul", ["p", "v"], ["Y"])]
    feeds = None
    if batch:
        feeds = [{"q": d.f32(b, H, S, E), "k": d.f32(b, H, L, E), "v": d.f32(b, H, L, E)}
                 for b in (1, 3)]
    return graph_case(f"expanded_attention_{case_id}", nodes, inputs, ["Y"], feeds=feeds)


def lower_triangle(n, m):
    return np.tril(np.ones((n, m), dtype=bool))


def _row_ok_mask(*shape):
    m = d.bools(*shape)
    m[..., 0] = True
    return m


_blocked_rows = _row_ok_mask(S, L)
_blocked_rows[1] = False

CASES += [
    expanded_attention("mul_scale"),
    expanded_attention("div_scale", scale_op="Div", scale=2.0),
    expanded_attention("scale_on_q", scale_on_q=True),
    expanded_attention("k_pretransposed", transpose_k=False),
    expanded_attention("float_mask", mask=In(d.f32(S, L))),
    expanded_attention("float_mask_const_4d", mask=Const(d.f32(B, 1, S, L))),
    expanded_attention("where_bool_mask", where_mask=In(_row_ok_mask(S, L))),
    expanded_attention("causal_const_bias",
                       mask=Const(np.where(lower_triangle(S, L), 0, -np.inf).astype(np.float32))),
    expanded_attention("causal_where", where_mask=Const(lower_triangle(S, L))),
    expanded_attention("batch", batch=True),
    # near misses: softmax over the query axis, a per-key (not scalar) scale
    expanded_attention("softmax_axis2_not_attention", softmax_axis=2),
    expanded_attention("vector_scale_not_attention", scale_const=d.pos(L)),
    # a finite fill (-1e9) and a runtime mask that blocks a whole row: the expanded form
    # averages v over that row
    expanded_attention(
        "where_finite_fill_blocked_row", fill=-1e9, where_mask=In(_blocked_rows)),
    expanded_attention("where_finite_fill", fill=-1e9, where_mask=In(_row_ok_mask(S, L))),
]

# -- Sub / Pow / ReduceMean -> nn.mse_loss (and reductions that are not a full MSE) --------------


def mse(case_id, *, square="Pow", reduce="ReduceMean", axes=None, keepdims=0, opset=18,
        target=None, extra_output=False):
    nodes = [node("Sub", ["x", "t"], ["diff"])]
    inputs = {"x": In(d.f32(3, 4)), "t": target if target is not None else In(d.f32(3, 4))}
    if square == "Pow":
        inputs["two"] = Const(np.array(2.0, np.float32))
        nodes.append(node("Pow", ["diff", "two"], ["sq"]))
    else:
        nodes.append(node("Mul", ["diff", "diff"], ["sq"]))
    red_inputs = ["sq"]
    attrs = {"keepdims": keepdims}
    if axes is not None:
        if reduce == "ReduceMean" and opset < 18:
            attrs["axes"] = axes
        else:
            inputs["axes"] = Const(i64(*axes))
            red_inputs.append("axes")
    nodes.append(node(reduce, red_inputs, ["Y"], **attrs))
    outputs = ["Y", "diff"] if extra_output else ["Y"]
    return graph_case(f"mse_{case_id}", nodes, inputs, outputs, opset=opset)


CASES += [
    mse("pow_mean"),
    mse("mul_mean", square="Mul"),
    mse("pow_sum", reduce="ReduceSum"),
    mse("mean_opset13_axes_attr", axes=[0, 1], opset=13),
    mse("sum_opset13_axes_input", reduce="ReduceSum", axes=[-1, 0], opset=13),
    mse("target_broadcast_row", target=In(d.f32(4))),
    mse("target_const", target=Const(d.f32(3, 4)), square="Mul"),
    mse("partial_axes_not_mse", axes=[1]),
    mse("keepdims_not_mse", keepdims=1),
    mse("diff_also_output", extra_output=True),
    mse("opset23", opset=23, square="Mul", reduce="ReduceSum"),
]


@pytest.mark.parametrize(("case", "stage"), case_params(CASES))
def test_chain(case, stage):
    check_case(case, stage)
