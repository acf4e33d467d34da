"""Export tiny Hugging Face models the way users do, into tests/models/hf/ (files are committed).

Made with torch 2.13.0 (CPU), transformers 5.24.0, onnx 1.23.2 and onnxscript 0.7.2, which the
project itself never imports (CI needs none of them):

    python -m venv hfenv && hfenv/bin/pip install torch==2.13.0 transformers onnxscript onnx
    hfenv/bin/python tests/make_hf_models.py [NAME ...]

Every model is built from a ``transformers`` config with tiny sizes (hidden 16, 2 layers,
2 heads, vocabulary 64) and seeded random weights (every parameter perturbed): no hub
download. Models are in eval mode (an exported training-mode dropout is a random op). Text
models take ``input_ids`` (and ``attention_mask``, both ``[batch, seq]`` int64) and return
``last_hidden_state`` (BERT also its ``pooler_output``); ViT takes ``pixel_values``
``[batch, 3, 8, 8]``. Each is exported four ways: the legacy TorchScript exporter
(``dynamo=False``) at opsets 17 and 18, and the dynamo exporter at opsets 18 and 23, with
dynamic ``batch`` and ``seq`` axes, except what ``CANNOT`` lists. Files are named
``{model}[_nomask]_{legacy17,legacy18,dynamo18,dynamo23}.onnx``; the exporter's per-node
metadata is stripped (``strip``).
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch
import transformers
from transformers import (
    BertConfig,
    BertModel,
    DistilBertConfig,
    DistilBertModel,
    GPT2Config,
    GPT2Model,
    ViTConfig,
    ViTModel,
)

OUT = Path(__file__).parent / "models" / "hf"
TORCH_VERSION = "2.13.0"
TRANSFORMERS_VERSION = "5.24.0"
EXPORTS = (("legacy", 17), ("legacy", 18), ("dynamo", 18), ("dynamo", 23))
# Exports that torch cannot make, and why. transformers 5 looks for packed sequences in the
# position ids when a model gets no attention mask (``find_packed_sequence_indices``:
# ``torch.diff`` and ``cumsum``), and the TorchScript exporter has no ``aten::diff``.
CANNOT = {("gpt2_nomask", "legacy"): "aten::diff has no TorchScript symbolic"}
VOCAB, HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 64, 16, 2, 2, 32, 32


class TextModel(torch.nn.Module):
    """A text model called as users call it: keyword inputs, a tuple of outputs."""

    def __init__(self, model: torch.nn.Module, mask: bool, pooled: bool) -> None:
        super().__init__()
        self.model, self.mask, self.pooled = model, mask, pooled

    def forward(self, input_ids, attention_mask=None):
        kwargs = {"attention_mask": attention_mask} if self.mask else {}
        out = self.model(input_ids=input_ids, **kwargs)
        if self.pooled:
            return out.last_hidden_state, out.pooler_output
        return out.last_hidden_state


class ImageModel(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        return self.model(pixel_values=pixel_values).last_hidden_state


def randomise(model: torch.nn.Module) -> torch.nn.Module:
    """Seeded random values for every parameter: transformers initialises biases to zero and
    layer-norm scales to one, which would let a dropped bias or scale go unnoticed."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model.eval()


def _text_configs():
    yield "bert", BertModel, BertConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, intermediate_size=FFN, max_position_embeddings=POSITIONS,
        type_vocab_size=2), True
    yield "distilbert", DistilBertModel, DistilBertConfig(
        vocab_size=VOCAB, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
        max_position_embeddings=POSITIONS), False
    yield "gpt2", GPT2Model, GPT2Config(
        vocab_size=VOCAB, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=FFN,
        n_positions=POSITIONS, use_cache=False), False


def models():
    """(name, module, example args, input names, output names) for every model."""
    batch, seq = 2, 5
    ids = torch.arange(batch * seq).reshape(batch, seq) % VOCAB
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[1, 3:] = 0  # a padded row, so tracing does not specialise on an all-ones mask
    for name, cls, config, pooled in _text_configs():
        torch.manual_seed(0)
        model = randomise(cls(config))
        outputs = ["last_hidden_state", "pooler_output"] if pooled else ["last_hidden_state"]
        yield (name, TextModel(model, True, pooled).eval(), (ids, mask),
               ["input_ids", "attention_mask"], outputs)
        yield (f"{name}_nomask", TextModel(model, False, pooled).eval(), (ids,), ["input_ids"],
               outputs)
    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(
        image_size=8, patch_size=4, num_channels=3, hidden_size=HIDDEN,
        num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN),
        add_pooling_layer=False)
    randomise(vit)
    yield ("vit", ImageModel(vit).eval(), (torch.randn(batch, 3, 8, 8),), ["pixel_values"],
           ["last_hidden_state"])


def export(module, args, names, outputs, path: Path, exporter: str, opset: int) -> None:
    dims = {0: "batch"} if names == ["pixel_values"] else {0: "batch", 1: "seq"}
    if exporter == "legacy":
        dynamic_axes = {n: dims for n in names}
        dynamic_axes.update({o: {0: "batch"} for o in outputs})
        torch.onnx.export(
            module, args, str(path), opset_version=opset, dynamo=False,
            input_names=names, output_names=outputs, dynamic_axes=dynamic_axes,
        )
    else:
        batch = torch.export.Dim("batch", min=1, max=64)
        seq = torch.export.Dim("seq", min=2, max=POSITIONS)
        spec = {0: batch} if names == ["pixel_values"] else {0: batch, 1: seq}
        dynamic = {n: spec for n in names}
        torch.onnx.export(
            module, args, str(path), opset_version=opset, dynamo=True, external_data=False,
            input_names=names, output_names=outputs, dynamic_shapes=dynamic,
        )


def strip(path: Path) -> None:
    """Drop what only documents the export: the dynamo exporter's per-node metadata (fx node,
    stack trace with the paths of the exporting machine; 90% of the file) and doc strings."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.doc_string = ""
        del node.metadata_props[:]
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        vi.doc_string = ""
        del vi.metadata_props[:]
    for t in model.graph.initializer:
        t.doc_string = ""
        del t.metadata_props[:]
    model.graph.doc_string = model.doc_string = ""
    del model.graph.metadata_props[:]
    del model.metadata_props[:]
    onnx.save(model, str(path))


def main(only: list[str]) -> None:
    """Export every model, or only those named on the command line."""
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    if not torch.__version__.startswith(TORCH_VERSION) or transformers.__version__ != TRANSFORMERS_VERSION:
        print(f"note: the committed files were made with torch {TORCH_VERSION} and "
              f"transformers {TRANSFORMERS_VERSION}")
    for name, module, args, names, outputs in models():
        if only and name not in only:
            continue
        for exporter, opset in EXPORTS:
            if (name, exporter) in CANNOT:
                print(f"not exported: {name} {exporter}{opset}: {CANNOT[name, exporter]}")
                continue
            path = OUT / f"{name}_{exporter}{opset}.onnx"
            with torch.no_grad():
                export(module, args, names, outputs, path, exporter, opset)
            strip(path)
            print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
