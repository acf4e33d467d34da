"""Hugging Face models as users export them (tests/models/hf, made by tests/make_hf_models.py).

BERT, DistilBERT and GPT-2 from tiny ``transformers`` configs, with and without an
``attention_mask`` input, exported by the TorchScript exporter at opsets 17 and 18 and by the
dynamo exporter at 18 and 23, with a symbolic batch and sequence. For each: the canonical stage
has no ONNX op left and no mask plumbing (index grids, GatherND, running sums): the mask is
computed from ``attention_mask`` by a cast, a reshape and broadcast, and for GPT-2 a triangle of
``true``; ``qlower run --check`` agrees with onnxruntime at two (batch, sequence) sizes with
padded rows, and so does ``run --backend qsim --check`` on a BERT (padding mask, position-ids
slice of a symbolic length) and a GPT-2 export (causal and padding mask). (ViT's
exports are committed too; its patch embedding is a Conv.)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from qlower.cli import main
from qlower.frontend import load_onnx
from qlower.passes import STAGES, run_pipeline

MODELS = Path(__file__).resolve().parents[1] / "models" / "hf"
EXPORTS = ("legacy17", "legacy18", "dynamo18", "dynamo23")
# torch's TorchScript exporter cannot export GPT-2 without a mask (transformers then looks for
# packed sequences with torch.diff, which it has no symbolic for); see make_hf_models.py
NAMES = [f"{m}{v}_{e}" for m in ("bert", "distilbert", "gpt2") for v in ("", "_nomask")
         for e in EXPORTS if not (m == "gpt2" and v and e.startswith("legacy"))]
SIZES = ((1, 3), (3, 5))  # (batch, sequence)
QSIM_SIZES = ((1, 3), (2, 4))  # qsim simulates every kernel once per row: keep rows few
MASK_PLUMBING = ("nn.range", "nn.gather_nd", "nn.concat", "nn.cumsum", "nn.greater",
                 "nn.greater_equal", "nn.less", "nn.less_equal", "nn.max", "nn.not")
QSIM = ("bert_legacy17", "gpt2_dynamo18")


def feeds(name: str, batch: int, seq: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch * 100 + seq)
    out = {"input_ids": rng.integers(0, 64, size=(batch, seq)).astype(np.int64)}
    if "nomask" not in name:
        mask = np.ones((batch, seq), np.int64)
        mask[-1, seq - 2:] = 0  # the last row is padded
        out["attention_mask"] = mask
    return out


@pytest.fixture(scope="module")
def canonical():
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = run_pipeline(load_onnx(MODELS / f"{name}.onnx"), STAGES["canonical"])
        return cache[name]

    return get


def test_every_export_is_there():
    present = {p.stem for p in MODELS.glob("*.onnx")}
    assert set(NAMES) <= present
    assert {f"vit_{e}" for e in EXPORTS} <= present
    assert all((MODELS / f"{n}.onnx").stat().st_size < 200_000 for n in present)


@pytest.mark.parametrize("name", NAMES)
def test_canonical_has_no_onnx_op_and_no_mask_plumbing(name, canonical):
    graph = canonical(name)
    counts = Counter(op.name for op in graph.ops)
    assert not sorted(n for n in counts if n.startswith("onnx.")), counts
    # GPT-2 keeps one range: its position ids, gathered from the position embeddings
    ranges = counts.pop("nn.range", 0)
    assert ranges == (1 if name.startswith("gpt2") else 0), ranges
    assert not [n for n in MASK_PLUMBING if counts[n]], counts
    # GPT-2's causal triangle becomes the flag where it is added with -inf (legacy exports, and
    # ONNX's Attention at opset 23); dynamo's opset-18 export adds float32.min instead, which
    # stays in the bias (s + float32.min is not -inf for every s)
    finite_fill = name.startswith("gpt2") and "dynamo18" in name
    assert counts["nn.trilu"] == (1 if finite_fill else 0), counts
    layers = [op for op in graph.ops if op.name == "nn.attention"]
    assert len(layers) == 2 and not counts["nn.softmax"], counts
    for att in layers:
        assert att.attr("causal") is (name.startswith("gpt2") and not finite_fill), name
        # the padding mask is the bias; the exports without a mask have none left
        assert (att.operand(3) is not None) is ("nomask" not in name or finite_fill), name
        sdpa_guard = "legacy" in name and "nomask" not in name or "dynamo18" in name
        want = "zero" if "dynamo23" in name else "nan_to_zero" if sdpa_guard else "nan"
        assert att.attr("empty_rows") == want, name
    if "nomask" not in name:
        mask_casts = [op for op in graph.ops if op.name == "nn.cast"
                      and op.operands == ("attention_mask",)]
        assert len(mask_casts) == 1, counts


def _run(tmp_path: Path, capsys, name: str, backend: str, sizes) -> None:
    for batch, seq in sizes:
        inputs = tmp_path / f"{name}_{batch}x{seq}.npz"
        np.savez(inputs, **feeds(name, batch, seq))
        status = main(["run", str(MODELS / f"{name}.onnx"), "--inputs", str(inputs),
                       "--backend", backend, "--check"])
        out, err = capsys.readouterr()
        assert (status, err) == (0, ""), f"{batch}x{seq}: {err}{out}"
        assert out.count(": ok") == (2 if name.startswith("bert") else 1), out


@pytest.mark.parametrize("name", NAMES)
def test_run_check_agrees_with_onnxruntime(name, tmp_path, capsys):
    _run(tmp_path, capsys, name, "reference", SIZES)


@pytest.mark.parametrize("name", QSIM)
def test_qsim_run_check_agrees_with_onnxruntime(name, tmp_path, capsys):
    _run(tmp_path, capsys, name, "qsim", QSIM_SIZES)


# -- ViT: a Conv patch embedding, then the encoder -----------------------------------------------
VIT = [f"vit_{e}" for e in EXPORTS]


def vit_pixels(batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    return {"pixel_values": rng.standard_normal((batch, 3, 8, 8)).astype(np.float32)}


@pytest.mark.parametrize("name", VIT)
def test_vit_canonicalises_to_patches_linear_and_attention(name, canonical):
    """The patch embedding (Conv with stride = kernel) is a reshape, transpose and nn.linear;
    both attention layers are nn.attention without a mask."""
    counts = Counter(op.name for op in canonical(name).ops)
    assert not sorted(n for n in counts if n.startswith("onnx.")), counts
    assert counts["nn.attention"] == 2 and not counts["nn.softmax"], counts
    assert "nn.patches" not in counts, counts  # the windows tile the image: no gather
    (embed,) = [op for op in canonical(name).ops if op.name == "nn.linear"
                and op.operand(0).endswith(".patches")]
    assert canonical(name).values[embed.operand(1)].type.dims[1] == 3 * 4 * 4, embed


@pytest.mark.parametrize("name", VIT)
def test_vit_run_check_agrees_with_onnxruntime(name, tmp_path, capsys):
    for batch in (1, 3):
        inputs = tmp_path / f"{name}_{batch}.npz"
        np.savez(inputs, **vit_pixels(batch))
        status = main(["run", str(MODELS / f"{name}.onnx"), "--inputs", str(inputs), "--check"])
        out, err = capsys.readouterr()
        assert (status, err) == (0, ""), f"batch {batch}: {err}{out}"
        assert out.count(": ok") >= 1 and "MISMATCH" not in out, out
