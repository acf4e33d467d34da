"""Every committed model (torch exports of two releases and two exporters, Hugging Face exports,
MLPs) computes what onnxruntime computes at the imported and at the canonical stage.

Symbolic sizes: batch 2, sequence 5; an ``attention_mask`` pads the last row's two last tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from qlower.backends import run_graph
from qlower.frontend import load_onnx
from qlower.passes import STAGES, run_pipeline

MODELS = Path(__file__).resolve().parents[1] / "models"
PATHS = sorted(MODELS.rglob("*.onnx"))


def feeds_for(session: ort.InferenceSession) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for i in session.get_inputs():
        shape = [(2 if "batch" in d else 5) if isinstance(d, str) else d for d in i.shape]
        if "float" in i.type:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
        elif i.name == "attention_mask":
            mask = np.ones(shape, np.int64)
            mask[-1, -2:] = 0
            feeds[i.name] = mask
        else:  # token ids (a vocabulary of 64) and class labels (at least 3 classes)
            high = 64 if i.name == "input_ids" else 3
            feeds[i.name] = rng.integers(0, high, shape).astype(np.int64)
    return feeds


def test_every_model_is_here():
    kinds = {p.parent.name for p in PATHS}
    assert kinds == {"models", "torch2.13", "torch2.15", "hf"}, kinds
    assert len(PATHS) >= 80


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(MODELS)))
def test_both_stages_match_onnxruntime(path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = feeds_for(session)
    want = session.run(None, feeds)
    graph = load_onnx(path)
    for stage in ("imported", "canonical"):
        got = list(run_graph(run_pipeline(graph, STAGES[stage]), feeds).values())
        assert len(got) == len(want), stage
        for a, b in zip(got, want):
            assert a.shape == b.shape and a.dtype == b.dtype, stage
            err = float(np.max(np.abs(a.astype(np.float64) - b))) if b.size else 0.0
            assert err <= 1e-5 * max(float(np.max(np.abs(b))), 1e-30), (stage, err)
