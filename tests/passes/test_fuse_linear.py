"""fuse-linear: dense layers with constant weights become nn.linear.

    %y = onnx.Gemm(%x, %w, %b) {alpha, beta, transA, transB}   ⇒   %y = nn.linear(%x', %w', %b')
    %m = onnx.MatMul(%x, %w); %y = onnx.Add(%m, %b)            ⇒   %y = nn.linear(%x, %w.T, %b)

Every golden case must compute what it computed before; real ONNX Gemm models of every
attribute family must match onnxruntime after fold-constants,fuse-linear.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from util import (
    assert_same_outputs,
    check_golden,
    make_model,
    op_counts,
    random_inputs,
    valid_golden_cases,
)

from qlower.backends import run_graph
from qlower.frontend import import_model
from qlower.ir import Graph, parse, verify_graph
from qlower.passes import run_pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "filecheck" / "fuse-linear"

# golden file -> the ops the pass leaves (fuse-linear alone, no dce)
EXPECTED_OPS = {
    "gemm_transb": {"nn.linear": 1},
    "gemm_no_bias": {"nn.linear": 1},
    "gemm_alpha_beta": {"nn.linear": 1},
    "gemm_transa": {"nn.transpose": 1, "nn.linear": 1},
    "gemm_bias_scalar": {"nn.linear": 1},
    "gemm_bias_one": {"nn.linear": 1},
    "gemm_bias_row": {"nn.linear": 1},
    "gemm_bias_matrix": {"nn.linear": 2, "nn.add": 2},
    "gemm_bias_dynamic": {"nn.linear": 2, "nn.add": 2, "nn.mul": 1},
    "matmul_add": {"nn.linear": 2},
    "nn_matmul_add": {"nn.linear": 2},
    "add_into_bias": {"nn.linear": 1},
    "non_constant_weight": {"onnx.Gemm": 1, "onnx.MatMul": 1, "onnx.Add": 1},
    "add_not_bias": {"nn.linear": 2, "onnx.Add": 2},
    "transposed_weight": {"nn.linear": 2},
}


def test_every_golden_case_is_listed() -> None:
    assert valid_golden_cases(GOLDEN) == set(EXPECTED_OPS)


@pytest.mark.parametrize("case", sorted(EXPECTED_OPS))
def test_golden_case_keeps_semantics(case: str) -> None:
    check_golden(GOLDEN, case, "fuse-linear", EXPECTED_OPS[case])


def test_new_constants_keep_dtype() -> None:
    """f64 and f16 weights stay f64 and f16 after transposing and scaling."""
    for dt in ("f64", "f16"):
        text = f"""graph @g(%x: tensor<4x2x{dt}>) {{
          const %w: tensor<2x3x{dt}> = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]>
          const %c: tensor<{dt}> = dense<0.5>
          %y = onnx.Gemm(%x, %w, %c) {{alpha = 0.5, beta = 3.0, transA = 0, transB = 0}}
            : tensor<4x3x{dt}>
          return %y
        }}"""
        before = parse(text)
        after = run_pipeline(before, "fuse-linear,dce")
        (lin,) = after.ops
        assert lin.name == "nn.linear"
        w, b = (after.constant(n).data.array for n in lin.operands[1:])
        assert w.dtype == b.dtype == np.dtype({"f64": "float64", "f16": "float16"}[dt])
        np.testing.assert_array_equal(w, np.array([[0.5, 2.0], [1.0, 2.5], [1.5, 3.0]]))
        np.testing.assert_array_equal(b, np.array([1.5, 1.5, 1.5]))
        assert_same_outputs(before, after, rtol=1e-3)


def test_integer_gemm_stays() -> None:
    """nn.linear is for floats: an integer Gemm is left alone."""
    text = """graph @g(%x: tensor<4x2xi32>) {
      const %w: tensor<3x2xi32> = dense<[[1, 2], [3, 4], [5, 6]]>
      %y = onnx.Gemm(%x, %w) {alpha = 1.0, beta = 1.0, transA = 0, transB = 1} : tensor<4x3xi32>
      return %y
    }"""
    g = parse(text)
    assert run_pipeline(g, "fuse-linear") == g


# -- real ONNX Gemm models against onnxruntime -------------------------------------------------

M, K, N = 4, 5, 3
C_SHAPES = {"none": None, "scalar": (), "n": (N,), "1n": (1, N), "mn": (M, N), "m1": (M, 1),
            "input": "input"}
FLAGS = list(itertools.product((False, True), repeat=4))  # alpha≠1, beta≠1, transA, transB


def gemm_model(alpha_set: bool, beta_set: bool, trans_a: bool, trans_b: bool, c_shape):
    """A one-node Gemm model; B (and C unless it is an input) are initialisers."""
    rng = np.random.default_rng(7)
    a_shape = [K, M] if trans_a else [M, K]
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(np.float32)
    inputs = [helper.make_tensor_value_info("A", TensorProto.FLOAT, a_shape)]
    inits = [numpy_helper.from_array(b, "B")]
    operands = ["A", "B"]
    if c_shape == "input":
        inputs.append(helper.make_tensor_value_info("C", TensorProto.FLOAT, [M, N]))
        operands.append("C")
    elif c_shape is not None:
        inits.append(numpy_helper.from_array(rng.standard_normal(c_shape).astype(np.float32), "C"))
        operands.append("C")
    attrs = {"transA": int(trans_a), "transB": int(trans_b)}
    if alpha_set:
        attrs["alpha"] = 0.75
    if beta_set:
        attrs["beta"] = -1.5
    node = helper.make_node("Gemm", operands, ["Y"], name="gemm", **attrs)
    out = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [M, N])
    return make_model([node], inputs, [out], inits, opset=18)


def assert_matches_onnxruntime(model: onnx.ModelProto, graph: Graph, seed: int = 0) -> None:
    """``graph`` on the reference backend equals onnxruntime on ``model`` (rtol 1e-5 of max)."""
    inputs = random_inputs(graph, seed)
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


@pytest.mark.parametrize("c_kind", sorted(C_SHAPES))
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: "".join(str(int(v)) for v in f))
def test_gemm_matches_onnxruntime(flags, c_kind: str) -> None:
    model = gemm_model(*flags, C_SHAPES[c_kind])
    onnx.checker.check_model(model, full_check=True)
    graph = import_model(model)
    fused = run_pipeline(graph, "fold-constants,fuse-linear")
    verify_graph(fused)
    counts = op_counts(fused)
    assert "onnx.Gemm" not in counts and counts["nn.linear"] == 1
    assert counts.get("nn.transpose", 0) == int(flags[2])
    row_dependent = c_kind in ("mn", "m1", "input")
    assert counts.get("nn.add", 0) == int(row_dependent)
    (lin,) = (op for op in fused.ops if op.name == "nn.linear")
    assert (len(lin.present_operands) == 3) == (c_kind in ("scalar", "n", "1n"))
    # the weight is B itself exactly when nothing had to change
    assert (lin.operands[1] == "B") == (flags[3] and not flags[0])
    assert_matches_onnxruntime(model, fused)


# -- torch exports -----------------------------------------------------------------------------

FULL = "fold-constants,fuse-linear,onnx-to-nn,match-losses,dce"
SHORT = "fold-constants,fuse-linear,match-losses,dce"


@pytest.mark.parametrize("pipeline", [FULL, SHORT], ids=["with-onnx-to-nn", "without"])
@pytest.mark.parametrize("opset", [18, 23])
def test_torch_mlp_matches_onnxruntime(opset: int, pipeline: str) -> None:
    path = Path(__file__).resolve().parents[1] / "models" / f"mlp_mse_opset{opset}.onnx"
    model = onnx.load(str(path))
    graph = run_pipeline(import_model(model), pipeline)
    counts = op_counts(graph)
    assert counts["nn.linear"] == 2 and counts["nn.mse_loss"] == 1, counts
    assert not {"onnx.Gemm", "onnx.Sub", "onnx.Mul", "onnx.ReduceMean"} & set(counts)
    for seed in (0, 1):
        assert_matches_onnxruntime(model, graph, seed)
