"""End to end on torch-exported models (tests/models, made by tests/make_torch_models.py).

For each model at opsets 18 and 23: the canonical stage has the expected layer ops and no
leftover ONNX ops or shape plumbing; it computes what onnxruntime computes (1e-5 relative) at
two batch sizes; and its dump round-trips through text and weights.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from qlower.backends import run_graph
from qlower.frontend import load_onnx
from qlower.ir import parse, print_graph, referenced_weights
from qlower.passes import STAGES, run_pipeline

MODELS = Path(__file__).parent / "models"

# model -> layer ops that the canonical stage must contain (op name -> count). torch's packed
# q/k/v in-projection is split into three linears (split-linear), plus the output projection.
EXPECTED = {
    "mha": {"nn.linear": 4, "nn.attention": 1},
    "mha_single_head": {"nn.linear": 4, "nn.attention": 1},
    "mha_causal": {"nn.linear": 4, "nn.attention": 1},
    "mha_causal_flag": {"nn.linear": 4, "nn.attention": 1},
    "sdpa_causal": {"nn.attention": 1},
    "encoder": {"nn.linear": 6, "nn.attention": 1, "nn.layer_norm": 2, "nn.relu": 1},
    "mlp_gelu": {"nn.linear": 2, "nn.gelu": 2},
    "mlp_mse": {"nn.linear": 2, "nn.relu": 1, "nn.mse_loss": 1},
    "mlp_ce": {"nn.linear": 2, "nn.tanh": 1, "nn.cross_entropy": 1},
}
SHAPE_PLUMBING = {
    "nn.gather", "nn.concat", "nn.slice", "nn.expand", "nn.split",
}
CASES = [(name, opset) for name in EXPECTED for opset in (18, 23)]


def _path(name: str, opset: int) -> Path:
    return MODELS / f"{name}_opset{opset}.onnx"


def _inputs(path: Path, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in ort.InferenceSession(str(path)).get_inputs():
        shape = [batch if isinstance(d, str) else d for d in i.shape]
        if "float" in i.type:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
        else:
            feeds[i.name] = rng.integers(0, 4, size=shape).astype(np.int64)
    return feeds


@pytest.fixture(scope="module")
def canonical():
    cache = {}

    def get(name: str, opset: int):
        key = (name, opset)
        if key not in cache:
            cache[key] = run_pipeline(load_onnx(_path(name, opset)), STAGES["canonical"])
        return cache[key]

    return get


@pytest.mark.parametrize("name,opset", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_canonical_ops(name: str, opset: int, canonical) -> None:
    graph = canonical(name, opset)
    counts = Counter(op.name for op in graph.ops)
    for op, n in EXPECTED[name].items():
        assert counts[op] == n, f"{op}: {counts[op]} (expected {n}); ops: {dict(counts)}"
    leftovers = sorted(op for op in counts if op.startswith("onnx."))
    assert not leftovers, f"ONNX ops left in the canonical graph: {leftovers}"
    plumbing = sorted(op for op in counts if op in SHAPE_PLUMBING)
    assert not plumbing, f"shape plumbing left: {plumbing}"


@pytest.mark.parametrize("name", ["mha_causal", "mha_causal_flag", "sdpa_causal"])
def test_causal_mask_becomes_flag(name: str, canonical) -> None:
    """An exact causal mask (-inf above the diagonal, or ONNX's is_causal) becomes the flag;
    torch's opset-18 is_causal spelling adds 0 / float32.min, which stays a constant bias
    (s + float32.min is not the causal rule for every s)."""
    for opset in (18, 23):
        (attn,) = [op for op in canonical(name, opset).ops if op.name == "nn.attention"]
        finite_fill = opset == 18 and name != "mha_causal"
        assert attn.attrs["causal"] is not finite_fill, opset
        assert (len(attn.present_operands) == 4) is finite_fill, opset


@pytest.mark.parametrize("name,opset", CASES, ids=[f"{n}-{o}" for n, o in CASES])
@pytest.mark.parametrize("batch", [2, 5])
def test_canonical_matches_onnxruntime(name: str, opset: int, batch: int, canonical) -> None:
    path = _path(name, opset)
    feeds = _inputs(path, batch)
    expected = ort.InferenceSession(str(path)).run(None, feeds)
    got = run_graph(canonical(name, opset), feeds)
    for (out_name, value), ref in zip(got.items(), expected):
        assert value.shape == ref.shape and value.dtype == ref.dtype, out_name
        err = np.max(np.abs(value - ref)) / max(np.max(np.abs(ref)), 1e-30)
        assert err <= 1e-5, f"{out_name}: relative error {err:.2e}"


@pytest.mark.parametrize("name,opset", CASES, ids=[f"{n}-{o}" for n, o in CASES])
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dump_round_trip(name: str, opset: int, stage: str) -> None:
    graph = run_pipeline(load_onnx(_path(name, opset)), STAGES[stage])
    text = print_graph(graph)
    weights = referenced_weights(graph)
    again = parse(text, weights)
    assert again == graph
    assert print_graph(run_pipeline(again, STAGES[stage])) == text, "stage is not idempotent"


@pytest.mark.parametrize("name,opset", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_done_when_commands(name: str, opset: int, tmp_path, capsys) -> None:
    """The issue's acceptance commands, as a user types them."""
    from qlower.cli import main

    path = str(_path(name, opset))
    assert main(["inspect", path, "--stage", "canonical"]) == 0
    dump = capsys.readouterr().out
    for op in EXPECTED[name]:
        assert f" = {op}(" in dump, op
    assert " = onnx." not in dump
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **_inputs(_path(name, opset), batch=3, seed=7))
    status = main(["run", path, "--inputs", str(inputs), "--backend", "reference", "--check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.count(": ok") == len(ort.InferenceSession(path).get_outputs())
