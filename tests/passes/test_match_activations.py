"""match-activations: expanded GELU becomes nn.gelu, computing the same."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from util import check_golden, valid_golden_cases

from qlower.backends import run_graph
from qlower.frontend import load_onnx
from qlower.passes import STAGES, run_pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "filecheck" / "match-activations"
MODELS = Path(__file__).resolve().parents[1] / "models"

EXPECTED_OPS = {
    "exact_torch": {"nn.gelu": 1},
    "exact_reordered": {"nn.gelu": 1},
    "tanh_torch": {"nn.gelu": 1},
    "tanh_cube_as_products": {"nn.gelu": 1},
    "wrong_constant": {"nn.div": 1, "nn.erf": 1, "nn.add": 1, "nn.mul": 2},
    "shared_intermediate": {"nn.div": 1, "nn.erf": 1, "nn.add": 1, "nn.mul": 2},
    "other_value": {"nn.div": 1, "nn.erf": 1, "nn.add": 1, "nn.mul": 2},
    "broadcasting": {"nn.div": 1, "nn.erf": 1, "nn.add": 1, "nn.mul": 2},
}


def test_every_golden_case_is_listed() -> None:
    assert valid_golden_cases(GOLDEN) == set(EXPECTED_OPS)


@pytest.mark.parametrize("case", sorted(EXPECTED_OPS))
def test_golden_case_keeps_semantics(case: str) -> None:
    check_golden(GOLDEN, case, "match-activations,dce", EXPECTED_OPS[case])


def test_both_opsets_canonicalise_alike() -> None:
    """torch writes GELU out at opset 18 and as a Gelu op at 23: one canonical form."""
    forms = [Counter(op.name for op in run_pipeline(load_onnx(MODELS / f"mlp_gelu_opset{o}.onnx"),
                                                     STAGES["canonical"]).ops) for o in (18, 23)]
    assert forms[0] == forms[1] == {"nn.linear": 2, "nn.gelu": 2}


@pytest.mark.parametrize("opset", [18, 23])
def test_gelu_model_matches_onnxruntime(opset: int) -> None:
    path = MODELS / f"mlp_gelu_opset{opset}.onnx"
    graph = run_pipeline(load_onnx(path), STAGES["canonical"])
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32) * 3
    (want,) = ort.InferenceSession(str(path)).run(None, {"x": x})
    (got,) = run_graph(graph, {"x": x}).values()
    assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))
