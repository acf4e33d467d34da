"""onnx-to-nn: onnx ops become their nn forms with static attributes, computing the same.

    %y = onnx.Reshape(%x, %shape) : tensor<(b)x2x4xf32>   ⇒   %y = nn.reshape(%x) {shape = [(b), 2, 4]}
    %y = onnx.Gemm(%a, %b, %c) {alpha, beta, transA, transB}
                   ⇒   transposes, %y_matmul = nn.matmul, nn.mul by alpha, %y = nn.add(…, beta·c)

Every golden case must compute what it computed before; Gemm, Slice and the reductions are
also checked over their whole attribute space.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from util import assert_same_outputs, check_golden, op_counts, random_inputs, valid_golden_cases

from qlower.backends import run_graph
from qlower.ir import (
    Constant,
    Dense,
    DType,
    Graph,
    Sym,
    TensorType,
    Value,
    build_op,
    parse,
    print_graph,
    verify_graph,
)
from qlower.passes import run_pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "filecheck" / "onnx-to-nn"

# golden file -> the ops onnx-to-nn leaves
EXPECTED_OPS = {
    "elementwise_binary": {"nn.add": 1, "nn.sub": 1, "nn.mul": 1, "nn.div": 1, "nn.pow": 1,
                           "nn.mod": 1, "nn.matmul": 1},
    "elementwise_unary": {"nn.sigmoid": 1, "nn.sqrt": 1, "nn.neg": 1, "nn.relu": 1,
                          "nn.tanh": 1, "nn.erf": 1, "nn.gelu": 1},
    "where_cast": {"nn.where": 1, "nn.cast": 1},
    "trilu_equal": {"nn.trilu": 2, "nn.equal": 1},
    "trilu_runtime_k": {"onnx.Trilu": 1},
    "identity": {"nn.relu": 1},
    "gemm": {"nn.transpose": 2, "nn.matmul": 1, "nn.mul": 2, "nn.add": 1},
    "gemm_plain": {"nn.matmul": 2, "nn.add": 1},
    "softmax": {"nn.softmax": 1, "nn.log_softmax": 1},
    "transpose": {"nn.transpose": 1},
    "reshape": {"nn.reshape": 1},
    "reshape_known_result": {"nn.reshape": 1},
    "reshape_unknown": {"onnx.Reshape": 1},
    "squeeze_family": {"nn.reshape": 4},
    "expand": {"nn.expand": 1},
    "concat_split": {"nn.concat": 1, "nn.split": 2},
    "slice": {"nn.slice": 3},
    "slice_runtime_bounds": {"onnx.Slice": 1},
    "gather": {"nn.gather": 1},
    "reduce": {"nn.reduce_mean": 1, "nn.reduce_sum": 1, "nn.relu": 1},
    "reduce_runtime_axes": {"onnx.ReduceMean": 1},
    "layer_norm": {"nn.layer_norm": 2, "onnx.LayerNormalization": 1},
    "nll_loss": {"nn.nll_loss": 1},
    "hf_ops": {"nn.range": 1, "nn.cumsum": 1, "nn.expand": 1, "nn.slice": 1,
               "nn.greater_equal": 1, "nn.and": 1, "nn.max": 1},
    "left_alone": {"onnx.Attention": 1, "onnx.SoftmaxCrossEntropyLoss": 1, "onnx.Shape": 1,
                   "onnx.ConstantOfShape": 1},
}
# cases whose runtime operands (shapes, axes) random inputs cannot fill in sensibly
NOT_RANDOM = {"reshape_known_result", "reshape_unknown", "reduce_runtime_axes"}


def convert(before: Graph) -> Graph:
    verify_graph(before)
    after = run_pipeline(before, "onnx-to-nn")
    verify_graph(after)
    return after


def single_op_graph(name: str, inputs, consts, operands, attrs) -> Graph:
    """A graph of one op (output %y) on ``inputs`` (Values) and ``consts`` (name -> array)."""
    constants = [
        Constant(Value(k, TensorType(DType.from_numpy(v.dtype), v.shape)), Dense(v))
        for k, v in consts.items()
    ]
    types = {v.name: v.type for v in inputs} | {c.name: c.value.type for c in constants}
    op = build_op(name, operands, ["y"], attrs, types=[types.get(o) for o in operands],
                  values=[consts.get(o) for o in operands])
    return Graph("g", tuple(inputs), tuple(constants), (op,), ("y",))


def test_every_golden_case_is_listed() -> None:
    assert valid_golden_cases(GOLDEN) == set(EXPECTED_OPS)


@pytest.mark.parametrize("case", sorted(EXPECTED_OPS))
def test_golden_case(case: str) -> None:
    seeds = () if case in NOT_RANDOM else (0, 1)
    before, after = check_golden(GOLDEN, case, "onnx-to-nn", EXPECTED_OPS[case], seeds)
    assert after.outputs == before.outputs
    assert run_pipeline(after, "onnx-to-nn") == after, "a second run must change nothing"


@pytest.mark.parametrize("case", ["reshape_known_result", "reshape_unknown"])
def test_reshape_with_runtime_target(case: str) -> None:
    before = parse((GOLDEN / f"{case}.qir").read_text())
    after = convert(before)
    inputs = {"x": np.arange(8, dtype=np.float32), "s": np.array([2, 4], dtype=np.int64)}
    want = run_graph(before, inputs)["y"]
    np.testing.assert_array_equal(run_graph(after, inputs)["y"], want)
    assert want.shape == (2, 4)


def test_declared_types_are_kept() -> None:
    """A declared type more precise than inference (3 where inference says ?) survives."""
    before = parse("""graph @g(%x: tensor<?xf32>) {
      %y = onnx.Relu(%x) : tensor<3xf32>
      %z = onnx.Neg(%y) : tensor<3xf32>
      return %z
    }""")
    after = convert(before)
    assert [(op.name, str(op.result().type)) for op in after.ops] == [
        ("nn.relu", "tensor<3xf32>"), ("nn.neg", "tensor<3xf32>")]


C_SHAPES = {"none": None, "scalar": (), "row": (5,), "row2": (1, 5), "col": (3, 1), "full": (3, 5)}


@pytest.mark.parametrize(
    "trans_a,trans_b,alpha,beta,c_shape",
    list(itertools.product((0, 1), (0, 1), (1.0, -0.5), (1.0, 2.5), sorted(C_SHAPES))),
)
def test_gemm_decomposition(trans_a, trans_b, alpha, beta, c_shape) -> None:
    """Every Gemm with runtime operands becomes nn ops computing alpha·A'B' + beta·C."""
    a = Value("a", TensorType(DType.F32, (4, 3) if trans_a else (3, 4)))
    b = Value("b", TensorType(DType.F32, (5, 4) if trans_b else (4, 5)))
    inputs = [a, b]
    shape = C_SHAPES[c_shape]
    if shape is not None:
        inputs.append(Value("c", TensorType(DType.F32, shape)))
    attrs = {"alpha": alpha, "beta": beta, "transA": trans_a, "transB": trans_b}
    before = single_op_graph("onnx.Gemm", inputs, {}, [v.name for v in inputs], attrs)
    after = convert(before)
    counts = op_counts(after)
    assert counts.get("nn.transpose", 0) == trans_a + trans_b
    assert counts["nn.matmul"] == 1
    assert counts.get("nn.mul", 0) == (alpha != 1.0) + (shape is not None and beta != 1.0)
    assert counts.get("nn.add", 0) == (shape is not None)
    assert sum(counts.values()) == len(after.ops) and not any("onnx." in n for n in counts)
    assert after.ops[-1].result().name == "y"
    assert all(c.value.type.dtype == DType.F32 and c.value.type.dims == () for c in after.constants)
    assert_same_outputs(before, after)


BOUND = st.sampled_from([-(2**63), -9, -7, -6, -5, -3, -1, 0, 1, 2, 4, 5, 6, 7, 2**63 - 1])


@given(
    bounds=st.lists(st.tuples(BOUND, BOUND, st.sampled_from([-3, -2, -1, 1, 2, 3])),
                    min_size=1, max_size=3),
    axes=st.permutations([0, 1, 2]),
    negative_axes=st.booleans(),
    symbolic=st.booleans(),
)
def test_slice_matches_onnx_semantics(bounds, axes, negative_axes, symbolic) -> None:
    """Normalised bounds slice exactly like the original, for any bounds and steps."""
    n = len(bounds)
    dims = (Sym.of("b") if symbolic else 3, 6, 5)
    x = Value("x", TensorType(DType.F32, dims))
    axes = [a - 3 if negative_axes else a for a in axes[:n]]
    consts = {
        "starts": np.array([s for s, _, _ in bounds], dtype=np.int64),
        "ends": np.array([e for _, e, _ in bounds], dtype=np.int64),
        "axes": np.array(axes, dtype=np.int64),
        "steps": np.array([st_ for _, _, st_ in bounds], dtype=np.int64),
    }
    before = single_op_graph("onnx.Slice", [x], consts, ["x", *consts], {})
    after = convert(before)
    (op,) = after.ops
    assert op.name == "nn.slice"
    assert all(0 <= a < 3 for a in op.attr("axes"))
    for s, e, a, step in zip(*(op.attr(k) for k in ("starts", "ends", "axes", "steps"))):
        if isinstance(dims[a], int) and step > 0:
            assert 0 <= s <= dims[a] and 0 <= e <= dims[a]
    assert_same_outputs(before, after)


@pytest.mark.parametrize("op_name", ["onnx.ReduceMean", "onnx.ReduceSum"])
@pytest.mark.parametrize("axes", [None, [], [0], [-1], [2, 0], [-3, -2, -1]])
@pytest.mark.parametrize("keepdims,noop", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_reductions(op_name, axes, keepdims, noop) -> None:
    x = Value("x", TensorType(DType.F32, (Sym.of("b"), 3, 4)))
    consts = {} if axes is None else {"axes": np.array(axes, dtype=np.int64)}
    operands = ["x"] if axes is None else ["x", "axes"]
    attrs = {"keepdims": keepdims, "noop_with_empty_axes": noop}
    before = single_op_graph(op_name, [x], consts, operands, attrs)
    after = convert(before)
    if not axes and noop:
        assert [op.name for op in after.ops] == ["nn.identity"]  # %y is the graph output
    else:
        (op,) = after.ops
        assert op.name == "nn." + {"onnx.ReduceMean": "reduce_mean"}.get(op_name, "reduce_sum")
        want = sorted(a % 3 for a in axes) if axes else [0, 1, 2]
        assert list(op.attr("axes")) == want and op.attr("keepdims") is bool(keepdims)
    assert_same_outputs(before, after)


def test_split_with_runtime_sizes_and_known_results() -> None:
    """A Split's sizes operand need not be constant when its results' types say the sizes."""
    before = parse("""graph @g(%x: tensor<5x2xf32>, %s: tensor<2xi64>) {
      %p, %q = onnx.Split(%x, %s) {axis = 0} : tensor<2x2xf32>, tensor<3x2xf32>
      return %p, %q
    }""")
    after = convert(before)
    assert "nn.split(%x) {axis = 0, sizes = [2, 3]}" in print_graph(after)
    inputs = random_inputs(before) | {"s": np.array([2, 3], dtype=np.int64)}
    a, b = run_graph(before, inputs), run_graph(after, inputs)
    for name in ("p", "q"):
        np.testing.assert_array_equal(a[name], b[name])
