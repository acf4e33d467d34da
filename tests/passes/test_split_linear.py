"""split-linear: selected feature blocks of a linear become linears (semantics preserved)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from util import assert_same_outputs, check_golden

from qlower.frontend import load_onnx
from qlower.passes import run_pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "filecheck" / "split-linear"
MODELS = Path(__file__).resolve().parents[1] / "models"

# golden case -> op counts after the pass (and dce)
EXPECTED = {
    "packed_qkv": {"nn.linear": 2},
    "split_op": {"nn.linear": 3},
    "interleaved": {"nn.linear": 1, "nn.reshape": 1, "nn.gather": 1},
    "rows_not_features": {"nn.linear": 1, "nn.gather": 1},
    "runtime_weight": {"nn.linear": 1, "nn.slice": 1},
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_golden_semantics(case: str) -> None:
    _, after = check_golden(GOLDEN, case, "split-linear,dce", EXPECTED[case], seeds=(0,))
    assert run_pipeline(after, "split-linear") == after, "not idempotent"


@pytest.mark.parametrize("name", ["mha", "mha_single_head", "mha_causal", "encoder"])
@pytest.mark.parametrize("opset", [18, 23])
def test_torch_packed_projection_splits(name: str, opset: int) -> None:
    imported = load_onnx(MODELS / "torch2.15" / f"{name}_dynamo_opset{opset}.onnx")
    before = run_pipeline(imported, "fold-constants,fuse-linear,onnx-to-nn,simplify")
    after = run_pipeline(before, "split-linear,simplify,dce")
    counts = Counter(op.name for op in after.ops)
    assert counts["nn.gather"] == 0
    # q, k, v and the output projection (+ the two feed-forward layers of the encoder)
    assert counts["nn.linear"] == (6 if name == "encoder" else 4)
    assert_same_outputs(imported, after)
