"""End to end on torch-exported models (tests/models, made by tests/make_torch_models.py).

Every file is discovered from the folder: the attention models of each torch release in
``torch<MAJOR.MINOR>/<kind>_<exporter>_opset<N>.onnx`` and the MLPs in ``<kind>_opset<N>.onnx``.
For each: every attention becomes one ``nn.attention`` (an exact causal mask the ``causal`` flag,
the dynamo exporter's opset-18 float32.min triangle a constant bias); the canonical stage has the
expected layer ops and no leftover ONNX ops or shape plumbing; it computes what
onnxruntime computes (1e-5 relative) at two batch sizes; its dump round-trips through text and
weights at every stage; and the issue's acceptance commands succeed.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from qlower.backends import run_graph
from qlower.frontend import load_onnx
from qlower.ir import parse, print_graph, referenced_weights
from qlower.passes import STAGES, run_pipeline

MODELS = Path(__file__).resolve().parents[1] / "models"
FILES = sorted(MODELS.glob("*.onnx")) + sorted(MODELS.glob("torch*/*.onnx"))
NAME = re.compile(r"(?P<kind>.+?)(_(?P<exporter>dynamo|legacy))?_opset(?P<opset>\d+)")

# model kind -> layer ops that the canonical stage must contain besides its attention (op name
# -> count). torch's packed q/k/v in-projection is split into three linears (split-linear),
# plus the output projection.
EXPECTED = {
    "mha": {"nn.linear": 4},
    "mha_single_head": {"nn.linear": 4},
    "mha_causal": {"nn.linear": 4},
    "mha_causal_flag": {"nn.linear": 4},
    "sdpa_causal": {},
    "encoder": {"nn.linear": 6, "nn.layer_norm": 2, "nn.relu": 1},
    "mlp_gelu": {"nn.linear": 2, "nn.gelu": 2},
    "mlp_mse": {"nn.linear": 2, "nn.relu": 1, "nn.mse_loss": 1},
    "mlp_ce": {"nn.linear": 2, "nn.tanh": 1, "nn.cross_entropy": 1},
}
# attention model kind -> whether its attention is causal
ATTENTION = {"mha": False, "mha_single_head": False, "mha_causal": True,
             "mha_causal_flag": True, "sdpa_causal": True, "encoder": False}
# where the dynamo exporter writes is_causal at opset 18 as an added 0 / float32.min triangle:
# not the causal rule exactly (s + float32.min is not -inf for every s), so a constant bias stays
FINITE_CAUSAL_FILL = {("mha_causal_flag", "dynamo", "18"), ("sdpa_causal", "dynamo", "18")}
SHAPE_PLUMBING = {"nn.gather", "nn.concat", "nn.slice", "nn.expand", "nn.split"}


def _id(path: Path) -> str:
    return path.stem if path.parent == MODELS else f"{path.parent.name}/{path.stem}"


def _kind(path: Path) -> str:
    return NAME.fullmatch(path.stem)["kind"]


def _mask_reading(path: Path) -> str | None:
    """How the model's causal mask must read in nn.attention: "causal" (the flag), "bias"."""
    m = NAME.fullmatch(path.stem)
    if not ATTENTION[m["kind"]]:
        return None
    return "bias" if (m["kind"], m["exporter"], m["opset"]) in FINITE_CAUSAL_FILL else "causal"


ATTENTION_FILES = [p for p in FILES if _kind(p) in ATTENTION]


def test_every_model_is_known() -> None:
    """The folder holds every kind, both exporters of two torch releases, and nothing else."""
    kinds = Counter(_kind(p) for p in FILES)
    assert set(kinds) == set(EXPECTED), kinds
    releases = sorted({p.parent.name for p in ATTENTION_FILES})
    assert len(releases) >= 2, releases
    for release in releases:
        got = {p.stem for p in (MODELS / release).glob("*.onnx")}
        want = {f"{k}_dynamo_opset{o}" for k in ATTENTION for o in (18, 23)}
        want |= {f"{k}_legacy_opset{o}" for k in ATTENTION for o in (18, 20)}
        assert got == want, (release, sorted(got ^ want))


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

    def get(path: Path):
        if path not in cache:
            cache[path] = run_pipeline(load_onnx(path), STAGES["canonical"])
        return cache[path]

    return get


@pytest.mark.parametrize("path", ATTENTION_FILES, ids=_id)
def test_attention_canonicalises(path: Path, canonical) -> None:
    """Whatever the exporter wrote, the attention is one nn.attention; an exact causal mask
    becomes the flag, a finite-fill one a constant bias, and nothing else stays an operand."""
    graph = canonical(path)
    counts = Counter(op.name for op in graph.ops)
    attention = [op for op in graph.ops if op.name == "nn.attention"]
    assert len(attention) == 1, f"nn.attention: {len(attention)}; ops: {dict(counts)}"
    assert not counts["nn.softmax"] and not counts["nn.matmul"], dict(counts)
    (attn,) = attention
    reading = _mask_reading(path)
    assert attn.attrs["causal"] is (reading == "causal")
    bias = attn.operand(3)
    if reading == "bias":
        assert bias in {c.value.name for c in graph.constants}, "the bias should be a constant"
    else:
        assert bias is None, f"bias {bias} should not stay"
    assert attn.operand(4) is None, "no bool mask should stay"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_canonical_ops(path: Path, canonical) -> None:
    graph = canonical(path)
    counts = Counter(op.name for op in graph.ops)
    for op, n in EXPECTED[_kind(path)].items():
        assert counts[op] == n, f"{op}: {counts[op]} (expected {n}); ops: {dict(counts)}"
    leftovers = sorted(op for op in counts if op.startswith("onnx."))
    assert not leftovers, f"ONNX ops left in the canonical graph: {leftovers}"
    plumbing = sorted(op for op in counts if op in SHAPE_PLUMBING)
    assert not plumbing, f"shape plumbing left: {plumbing}"


@pytest.mark.parametrize("path", FILES, ids=_id)
@pytest.mark.parametrize("batch", [2, 5])
def test_canonical_matches_onnxruntime(path: Path, batch: int, canonical) -> None:
    feeds = _inputs(path, batch)
    expected = ort.InferenceSession(str(path)).run(None, feeds)
    got = run_graph(canonical(path), feeds)
    assert len(got) == len(expected)
    for (out_name, value), ref in zip(got.items(), expected):
        assert value.shape == ref.shape and value.dtype == ref.dtype, out_name
        err = np.max(np.abs(value - ref)) / max(np.max(np.abs(ref)), 1e-30)
        assert err <= 1e-5, f"{out_name}: relative error {err:.2e}"


@pytest.mark.parametrize("path", FILES, ids=_id)
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_dump_round_trip(path: Path, stage: str) -> None:
    graph = run_pipeline(load_onnx(path), STAGES[stage])
    text = print_graph(graph)
    weights = referenced_weights(graph)
    again = parse(text, weights)
    assert again == graph
    assert print_graph(run_pipeline(again, STAGES[stage])) == text, "stage is not idempotent"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_done_when_commands(path: Path, tmp_path, capsys) -> None:
    """The issue's acceptance commands, as a user types them."""
    from qlower.cli import main

    assert main(["inspect", str(path), "--stage", "canonical"]) == 0
    dump = capsys.readouterr().out
    for op in EXPECTED[_kind(path)]:
        assert f" = {op}(" in dump, op
    assert " = onnx." not in dump
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **_inputs(path, batch=3, seed=7))
    status = main(["run", str(path), "--inputs", str(inputs), "--backend", "reference", "--check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.count(": ok") == len(ort.InferenceSession(str(path)).get_outputs())
