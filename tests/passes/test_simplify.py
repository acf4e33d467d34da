"""simplify: no-op structural/arithmetic ops disappear and chains merge, computing the same.

    %m = nn.reshape(%k: [b, h, s, d]) → [b*h, s, d]
    %t = nn.transpose(%m) {perm = [0, 2, 1]}              ⇒   %kt = nn.transpose(%k) {perm = [0, 1, 3, 2]}
    %kt = nn.reshape(%t) → [b, h, d, s]

Every golden case must compute what it computed before; the canonical pipeline must leave the
torch-exported models computing what they computed when imported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from util import assert_same_outputs, check_golden, valid_golden_cases

from qlower.frontend import load_model
from qlower.ir import DType, Graph, Op, TensorType, Value, build_op, parse, verify_graph
from qlower.passes import run_pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "filecheck" / "simplify"
MODELS = Path(__file__).resolve().parents[1] / "models"
PIPELINE = "fold-constants,fuse-linear,onnx-to-nn,simplify,dce"

# golden file -> the ops simplify leaves
EXPECTED_OPS = {
    "identity": {"nn.relu": 1},
    "reshape_noop": {"nn.relu": 1, "nn.reshape": 1},
    "reshape_reshape": {"nn.reshape": 2, "nn.relu": 2},
    "transpose": {"nn.transpose": 1, "nn.relu": 1, "nn.add": 1},
    "cast_expand": {"nn.cast": 1, "nn.expand": 1},
    "batched_transpose": {"nn.transpose": 1},
    "batched_transpose_shared": {"nn.reshape": 1, "nn.transpose": 2},
    "batched_transpose_negative": {"nn.reshape": 5, "nn.transpose": 3},
    "neutral": {"nn.relu": 1},
    "neutral_negative": {"nn.mul": 2, "nn.div": 1, "nn.sub": 1},
    "constant_select": {"nn.add": 1, "nn.where": 2},
    # index algebra (passes/index_algebra.py): mask plumbing on symbolic sizes
    "index_causal": {"nn.expand": 2, "nn.trilu": 2, "nn.where": 1, "nn.add": 1},
    "index_flat_gather": {"nn.reshape": 1},
    "index_gather_nd": {"nn.cast": 1, "nn.reshape": 1, "nn.expand": 1},
    "index_negative": {"nn.range": 2, "nn.reshape": 5, "nn.mul": 1, "nn.less_equal": 1,
                       "nn.neg": 1, "nn.expand": 2, "nn.concat": 1, "nn.gather_nd": 1},
    "index_uniform": {"nn.expand": 1, "nn.mul": 1},
    "index_where": {"nn.softmax": 1},
}


def simplify(before: Graph) -> Graph:
    verify_graph(before)
    after = run_pipeline(before, "simplify")
    verify_graph(after)
    return after


def chain(x: Value, steps: list[tuple[str, dict]]) -> Graph:
    """A graph applying ``steps`` (op name, attrs) one after the other to input ``x``."""
    ops: list[Op] = []
    cur, t = x.name, x.type
    for i, (name, attrs) in enumerate(steps):
        op = build_op(name, [cur], [f"v{i}"], attrs, types=[t])
        ops.append(op)
        cur, t = op.result().name, op.result().type
    return Graph("g", (x,), (), tuple(ops), (cur,))


def test_every_golden_case_is_listed() -> None:
    assert valid_golden_cases(GOLDEN) == set(EXPECTED_OPS)


@pytest.mark.parametrize("case", sorted(EXPECTED_OPS))
def test_golden_case(case: str) -> None:
    before, after = check_golden(GOLDEN, case, "simplify", EXPECTED_OPS[case])
    assert after.outputs == before.outputs
    assert run_pipeline(after, "simplify") == after, "a second run must change nothing"


@pytest.mark.parametrize("name,attrs", [
    ("nn.identity", {}),
    ("nn.reshape", {"shape": [2, 3]}),
    ("nn.transpose", {"perm": [0, 1]}),
    ("nn.cast", {"to": DType.F32}),
])
def test_no_op_that_names_the_output_becomes_an_identity(name, attrs) -> None:
    """The output's name must survive, so the op becomes (or stays) one nn.identity."""
    before = chain(Value("x", TensorType(DType.F32, (2, 3))), [(name, attrs)])
    after = simplify(before)
    assert [(op.name, op.operands, op.result_names) for op in after.ops] == [
        ("nn.identity", ("x",), ("v0",))]


PERMS = st.permutations(range(4)).map(tuple)


@given(perms=st.lists(PERMS, min_size=1, max_size=4))
def test_transpose_chains_compose(perms) -> None:
    """Any chain of transposes is at most one transpose, with the composed permutation."""
    before = chain(Value("x", TensorType(DType.F32, (2, 3, 4, 5))),
                   [("nn.transpose", {"perm": p}) for p in perms])
    after = simplify(before)
    composed = tuple(range(4))
    for p in perms:
        composed = tuple(composed[i] for i in p)
    if composed == tuple(range(4)):
        assert [op.name for op in after.ops] == ["nn.identity"]
    else:
        assert [(op.name, op.attr("perm")) for op in after.ops] == [("nn.transpose", composed)]
    assert_same_outputs(before, after)


@given(
    lead=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    rest=st.lists(st.integers(2, 4), min_size=1, max_size=3),
    data=st.data(),
)
def test_reshape_transpose_reshape_is_a_transpose(lead, rest, data) -> None:
    """Merging k leading axes, permuting the others, and splitting them back is a transpose."""
    inner = data.draw(st.permutations(range(1, len(rest) + 1)))
    perm = (0, *inner)
    x = Value("x", TensorType(DType.F32, (*lead, *rest)))
    t_dims = [rest[p - 1] for p in inner]
    before = chain(x, [
        ("nn.reshape", {"shape": [int(np.prod(lead)), *rest]}),
        ("nn.transpose", {"perm": perm}),
        ("nn.reshape", {"shape": [*lead, *t_dims]}),
    ])
    after = simplify(before)
    k = len(lead)
    want = tuple(range(k)) + tuple(p + k - 1 for p in inner)
    if want == tuple(range(len(want))):
        assert [op.name for op in after.ops] == ["nn.identity"]
    else:
        assert [(op.name, op.operands, op.attr("perm")) for op in after.ops] == [
            ("nn.transpose", ("x",), want)]
    assert_same_outputs(before, after)


@pytest.mark.parametrize("dtype", [DType.F32, DType.F64, DType.I64])
@pytest.mark.parametrize("op_name,value,const_first", [
    ("nn.add", 0, False), ("nn.add", 0, True), ("nn.sub", 0, False),
    ("nn.mul", 1, False), ("nn.mul", 1, True), ("nn.div", 1, False),
])
def test_neutral_constants(dtype, op_name, value, const_first) -> None:
    lit = repr(float(value)) if dtype.is_float else str(value)
    text = f"""graph @g(%x: tensor<2x3x{dtype}>) {{
      const %k: tensor<3x{dtype}> = dense<[{lit}, {lit}, {lit}]>
      %y = {op_name}({"%k, %x" if const_first else "%x, %k"}) : tensor<2x3x{dtype}>
      %z = nn.neg(%y) : tensor<2x3x{dtype}>
      return %z
    }}"""
    before = parse(text)
    after = simplify(before)
    assert [(op.name, op.operands) for op in after.ops] == [("nn.neg", ("x",))]
    assert_same_outputs(before, after)


# -- the canonical passes on torch exports ------------------------------------------------------

MODEL_FILES = sorted(MODELS.glob("*.onnx")) + sorted(MODELS.glob("torch*/*.onnx"))
SHAPE_PLUMBING = {"onnx.Reshape", "onnx.Transpose", "onnx.Shape", "onnx.Gather", "onnx.Concat",
                  "onnx.Slice", "onnx.Unsqueeze", "onnx.Squeeze"}


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_torch_models_keep_their_outputs(path: Path) -> None:
    imported = load_model(str(path))
    after = run_pipeline(imported, PIPELINE)
    verify_graph(after)
    assert_same_outputs(imported, after, rtol=1e-4)
    assert_same_outputs(imported, after, seed=1, rtol=1e-4)
    opset = imported.attrs.get("opset")
    if opset == 18 and ("mha" in path.stem or "encoder" in path.stem):
        left = sorted({op.name for op in after.ops} & SHAPE_PLUMBING)
        assert not left, f"shape plumbing left in the onnx dialect: {left}"
        # torch's reshape-transpose-reshape for k.transpose(-2, -1) became one 4-D transpose
        perms = [op.attr("perm") for op in after.ops if op.name == "nn.transpose"]
        assert (0, 1, 3, 2) in perms
        assert not any(
            op.name == "nn.transpose" and op.attr("perm") == (0, 2, 1) for op in after.ops
        )
