"""match-losses: expanded losses become nn.mse_loss and nn.cross_entropy.

    %d = Sub(%a, %b); %s = Mul(%d, %d); %l = ReduceMean(%s)   ⇒   %l = nn.mse_loss(%a, %b)
    %l = onnx.SoftmaxCrossEntropyLoss(%x, %t)                 ⇒   %l = nn.cross_entropy(%x, %t)
    %p = LogSoftmax(%x) {axis = 1}; %l = NLLLoss(%p, %t)      ⇒   %l = nn.cross_entropy(%x, %t)

Every golden case must compute what it computed before; ONNX models of each loss must match
onnxruntime after the pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from util import (
    check_golden,
    make_model,
    op_counts,
    random_inputs,
    valid_golden_cases,
)

from qlower.backends import run_graph
from qlower.frontend import import_model
from qlower.ir import Graph, parse, verify_graph
from qlower.passes import registered_passes, run_pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "filecheck" / "match-losses"

# golden file -> the ops match-losses leaves (before dce)
EXPECTED_OPS = {
    "mse_torch": {"nn.mse_loss": 1},
    "mse_nn_pow": {"nn.mse_loss": 1},
    "mse_sum": {"nn.mse_loss": 2},
    "mse_not_all_axes": {"onnx.Sub": 2, "onnx.Mul": 2, "onnx.ReduceMean": 2, "nn.sub": 1,
                         "nn.mul": 1, "nn.reduce_mean": 1},
    "mse_shared": {"onnx.Sub": 3, "onnx.Mul": 3, "onnx.ReduceMean": 3, "onnx.Relu": 1,
                   "nn.sub": 1, "nn.pow": 1, "nn.reduce_mean": 1},
    "softmax_cross_entropy": {"nn.cross_entropy": 3, "nn.log_softmax": 1},
    "nll_log_softmax": {"nn.cross_entropy": 3},
    "nll_not_cross_entropy": {"nn.log_softmax": 2, "nn.nll_loss": 2,
                              "onnx.NegativeLogLikelihoodLoss": 1},
}


def test_every_golden_case_is_listed() -> None:
    assert valid_golden_cases(GOLDEN) == set(EXPECTED_OPS)


@pytest.mark.parametrize("case", sorted(EXPECTED_OPS))
def test_golden_case_keeps_semantics(case: str) -> None:
    check_golden(GOLDEN, case, "match-losses", EXPECTED_OPS[case], seeds=(0, 1, 2))


def test_mse_keeps_the_reduction_name_and_broadcast() -> None:
    """A target row broadcast against a batch: the loss is still the mean over [4, 3]."""
    text = """graph @g(%y: tensor<4x3xf32>, %row: tensor<3xf32>) {
      %d = nn.sub(%row, %y) : tensor<4x3xf32>
      %sq = nn.mul(%d, %d) : tensor<4x3xf32>
      %out = nn.reduce_mean(%sq) {axes = [0, 1], keepdims = false} : tensor<f32>
      return %out
    }"""
    before = parse(text)
    after = run_pipeline(before, "match-losses")
    (op,) = after.ops
    assert (op.name, op.operands, op.result_names) == ("nn.mse_loss", ("row", "y"), ("out",))
    y = np.arange(12, dtype=np.float32).reshape(4, 3)
    row = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    got = run_graph(after, {"y": y, "row": row})["out"]
    np.testing.assert_allclose(got, np.mean((row - y) ** 2), rtol=1e-6)


# -- ONNX models against onnxruntime -----------------------------------------------------------

N, C = 6, 4


def assert_matches_onnxruntime(model: onnx.ModelProto, graph: Graph, seed: int = 0) -> None:
    """``graph`` on the reference backend equals onnxruntime on ``model`` (rtol 1e-5 of max)."""
    inputs = random_inputs(graph, seed)
    for name, arr in inputs.items():
        if arr.dtype == np.int64:  # class indices over all C classes
            inputs[name] = np.random.default_rng(seed).integers(0, C, arr.shape)
    ours = run_graph(graph, inputs)
    sess = onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    theirs = dict(zip(names, sess.run(names, inputs)))
    assert list(ours) == names
    for name in names:
        a, b = ours[name], theirs[name]
        assert a.shape == b.shape and a.dtype == b.dtype, name
        scale = max(float(np.max(np.abs(b))), 1e-30)
        assert float(np.max(np.abs(a.astype(np.float64) - b))) <= 1e-5 * scale, name


def pipelines() -> list[str]:
    out = ["match-losses"]
    if registered_passes()["onnx-to-nn"].summary != "(being written)":
        out.append("onnx-to-nn,match-losses")
    return out


def convert(model: onnx.ModelProto, pipeline: str) -> Graph:
    onnx.checker.check_model(model, full_check=True)
    graph = run_pipeline(import_model(model), pipeline + ",dce")
    verify_graph(graph)
    return graph


def floats(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def labels(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.INT64, list(shape))


@pytest.mark.parametrize("pipeline", pipelines())
@pytest.mark.parametrize("form", ["mul-mean", "pow-mean-axes", "mul-sum-axes"])
def test_mse_matches_onnxruntime(form: str, pipeline: str) -> None:
    square, reduce, axes = form.split("-")[0], form.split("-")[1], form.endswith("axes")
    inits = [numpy_helper.from_array(np.array(2.0, np.float32), "two"),
             numpy_helper.from_array(np.array([0, -1], np.int64), "axes")]
    nodes = [helper.make_node("Sub", ["a", "b"], ["d"]),
             helper.make_node("Mul", ["d", "d"], ["sq"]) if square == "mul"
             else helper.make_node("Pow", ["d", "two"], ["sq"]),
             helper.make_node("ReduceMean" if reduce == "mean" else "ReduceSum",
                              ["sq", "axes"] if axes else ["sq"], ["loss"], keepdims=0)]
    model = make_model(nodes, [floats("a", [N, C]), floats("b", [N, C])], [floats("loss", [])],
                       inits)
    graph = convert(model, pipeline)
    (op,) = graph.ops
    assert (op.name, op.attr("reduction")) == ("nn.mse_loss", reduce)
    assert_matches_onnxruntime(model, graph)


SCE_CASES = {
    "mean": {"reduction": "mean"},
    "sum-weighted": {"reduction": "sum", "weighted": True},
    "none-ignore": {"reduction": "none", "ignore_index": 2},
    "mean-weighted-ignore": {"reduction": "mean", "weighted": True, "ignore_index": 1},
}


def _class_loss_model(op_type: str, case: dict, log_prob: bool = False, lsm_axis: int = 1):
    weights = np.array([1.0, 2.0, 0.5, 1.5], np.float32)
    attrs = {"reduction": case["reduction"]}
    if "ignore_index" in case:
        attrs["ignore_index"] = case["ignore_index"]
    operands = ["x", "t"] + (["w"] if case.get("weighted") else [])
    nodes = []
    if op_type == "NegativeLogLikelihoodLoss":
        nodes.append(helper.make_node("LogSoftmax", ["x"], ["p"], axis=lsm_axis))
        operands[0] = "p"
    loss_shape = [N] if case["reduction"] == "none" else []
    outputs = [floats("loss", loss_shape)] + ([floats("lp", [N, C])] if log_prob else [])
    nodes.append(helper.make_node(op_type, operands, [o.name for o in outputs], **attrs))
    inits = [numpy_helper.from_array(weights, "w")] if case.get("weighted") else []
    return make_model(nodes, [floats("x", [N, C]), labels("t", [N])], outputs, inits)


@pytest.mark.parametrize("pipeline", pipelines())
@pytest.mark.parametrize("log_prob", [False, True])
@pytest.mark.parametrize("case", sorted(SCE_CASES))
def test_softmax_cross_entropy_matches_onnxruntime(case: str, log_prob: bool, pipeline: str):
    model = _class_loss_model("SoftmaxCrossEntropyLoss", SCE_CASES[case], log_prob)
    graph = convert(model, pipeline)
    want = {"nn.cross_entropy": 1} | ({"nn.log_softmax": 1} if log_prob else {})
    assert op_counts(graph) == want
    assert_matches_onnxruntime(model, graph)


@pytest.mark.parametrize("pipeline", pipelines())
@pytest.mark.parametrize("axis", [1, -1])
@pytest.mark.parametrize("case", sorted(SCE_CASES))
def test_nll_of_log_softmax_matches_onnxruntime(case: str, axis: int, pipeline: str) -> None:
    model = _class_loss_model("NegativeLogLikelihoodLoss", SCE_CASES[case], lsm_axis=axis)
    graph = convert(model, pipeline)
    (op,) = graph.ops
    assert op.name == "nn.cross_entropy" and op.operands[0] == "x"
    assert op.attr("reduction") == SCE_CASES[case]["reduction"]
    assert_matches_onnxruntime(model, graph)
