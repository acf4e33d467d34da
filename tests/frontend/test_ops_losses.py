"""SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss against onnxruntime.

Every reduction, class weights, ignore_index (with labels equal to it), the log_prob output,
[N, C] and [N, C, d1, ...] inputs, int32 and int64 labels, opsets 13, 18 and 23.
Each case runs at the imported stage and after the canonical pipeline (see tests/onnx_cases.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx_cases import Const, Data, In, case_params, check_case, graph_case, op_case

d = Data("losses")
N, C, D1, D2 = 4, 5, 3, 2
CASES = []


def labels(*shape, ignore=None, dtype=np.int64):
    t = d.ints(*shape, low=0, high=C, dtype=dtype)
    if ignore is not None:
        flat = t.reshape(-1)
        flat[::3] = ignore  # several labels equal ignore_index
    return t


for op in ("SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"):
    short = "sce" if op.startswith("Softmax") else "nll"

    def scores(*shape, short=short):
        x = d.f32(*shape, scale=2.0)
        if short == "nll":  # NLL takes log-probabilities
            x = x - np.log(np.sum(np.exp(x), axis=1, keepdims=True))
        return x.astype(np.float32)

    for red in ("none", "sum", "mean"):
        CASES += [
            op_case(f"{short}_{red}_2d", op, [In(scores(N, C)), In(labels(N))],
                    attrs={"reduction": red}, opset=13),
            op_case(f"{short}_{red}_3d", op, [In(scores(N, C, D1)), In(labels(N, D1))],
                    attrs={"reduction": red}),
            op_case(f"{short}_{red}_weights", op,
                    [In(scores(N, C)), In(labels(N)), Const(d.pos(C))],
                    attrs={"reduction": red}, opset=18),
            op_case(f"{short}_{red}_3d_weights_ignore", op,
                    [In(scores(N, C, D1)), In(labels(N, D1, ignore=2)), In(d.pos(C))],
                    attrs={"reduction": red, "ignore_index": 2}, opset=23),
            op_case(f"{short}_{red}_ignore", op, [In(scores(N, C)), In(labels(N, ignore=1))],
                    attrs={"reduction": red, "ignore_index": 1}),
            op_case(f"{short}_{red}_ignore_negative", op,
                    [In(scores(N, C, D1)), In(labels(N, D1, ignore=-1))],
                    attrs={"reduction": red, "ignore_index": -1}),
            op_case(f"{short}_{red}_ignore_outside_classes", op,
                    [In(scores(N, C)), In(labels(N, ignore=100)), Const(d.pos(C))],
                    attrs={"reduction": red, "ignore_index": 100}),
            op_case(f"{short}_{red}_4d_int32", op,
                    [In(scores(N, C, D1, D2)), In(labels(N, D1, D2, dtype=np.int32))],
                    attrs={"reduction": red}),
        ]
    CASES += [
        op_case(f"{short}_default_reduction", op, [In(scores(N, C)), In(labels(N))]),
        op_case(f"{short}_ignore_unused", op, [In(scores(N, C)), In(labels(N))],
                attrs={"ignore_index": C + 3}),
        op_case(f"{short}_batch", op,
                [In(scores(2, C), dims=("batch", C)), In(labels(2), dims=("batch",))],
                attrs={"reduction": "mean"},
                feeds=[{"x0": scores(b, C), "x1": labels(b)} for b in (1, 3)]),
    ]

# every label ignored: "mean" divides 0 by 0 (NaN, as onnxruntime), "sum" is 0
_all_ignored = np.full(N, 2, np.int64)
for red in ("none", "sum", "mean"):
    CASES += [
        op_case(f"sce_{red}_all_ignored", "SoftmaxCrossEntropyLoss",
                [In(d.f32(N, C)), In(_all_ignored)], attrs={"reduction": red, "ignore_index": 2}),
        op_case(f"nll_{red}_all_ignored_weights", "NegativeLogLikelihoodLoss",
                [In(d.f32(N, C)), In(_all_ignored), In(d.pos(C))],
                attrs={"reduction": red, "ignore_index": 2}),
    ]
CASES += [
    op_case("sce_f64_log_prob", "SoftmaxCrossEntropyLoss", [In(d.f64(N, C)), In(labels(N))],
            outputs=("loss", "log_prob")),
    op_case("nll_f64_weights", "NegativeLogLikelihoodLoss",
            [In(d.f64(N, C, D1)), In(labels(N, D1)), In(np.abs(d.f64(C)))],
            attrs={"reduction": "mean"}),
]

# the log_prob output of SoftmaxCrossEntropyLoss
for red in ("none", "sum", "mean"):
    CASES += [
        op_case(f"sce_{red}_log_prob", "SoftmaxCrossEntropyLoss",
                [In(d.f32(N, C)), In(labels(N))], attrs={"reduction": red},
                outputs=("loss", "log_prob"), opset=13),
        op_case(f"sce_{red}_log_prob_3d_weights_ignore", "SoftmaxCrossEntropyLoss",
                [In(d.f32(N, C, D1)), In(labels(N, D1, ignore=0)), Const(d.pos(C))],
                attrs={"reduction": red, "ignore_index": 0}, outputs=("loss", "log_prob")),
    ]

# LogSoftmax + NegativeLogLikelihoodLoss, the spelling torch exports for cross entropy
CASES.append(graph_case(
    "logsoftmax_nll_chain",
    [helper.make_node("LogSoftmax", ["x"], ["lp"], axis=1),
     helper.make_node("NegativeLogLikelihoodLoss", ["lp", "t"], ["loss"], reduction="mean",
                      ignore_index=-100)],
    {"x": In(d.f32(N, C, D1)), "t": In(labels(N, D1, ignore=-100))}, ["loss"], opset=18))



def logsoftmax_nll(case_id, x, t, axis, *, weight=None, also_output=False, **attrs):
    inputs = {"x": In(x), "t": In(t)}
    if weight is not None:
        inputs["w"] = Const(weight)
    nodes = [helper.make_node("LogSoftmax", ["x"], ["lp"], axis=axis),
             helper.make_node("NegativeLogLikelihoodLoss", ["lp", *list(inputs)[1:]], ["loss"],
                              **attrs)]
    outs = ["loss", "lp"] if also_output else ["loss"]
    return graph_case(f"logsoftmax_nll_{case_id}", nodes, inputs, outs)


CASES += [
    # axis -1 of a rank-2 input is the class axis
    logsoftmax_nll("axis_neg1_rank2", d.f32(N, C), labels(N), -1, reduction="sum"),
    # near misses: softmax over another axis, log-probabilities used elsewhere
    logsoftmax_nll("axis2_not_class_axis", d.f32(N, C, C), labels(N, C), 2),
    logsoftmax_nll("log_prob_also_output", d.f32(N, C), labels(N), 1, also_output=True,
                   reduction="none", ignore_index=0),
    logsoftmax_nll("weights_ignore", d.f32(N, C, D1), labels(N, D1, ignore=3), 1,
                   weight=d.pos(C), reduction="mean", ignore_index=3),
]


@pytest.mark.parametrize(("case", "stage"), case_params(CASES))
def test_loss(case, stage):
    check_case(case, stage)
