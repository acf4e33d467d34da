"""Export the torch models the tests use into tests/models/ (run once per torch; files committed).

Needs torch and onnxscript, which the project itself never imports. One virtual environment per
torch release, outside the repository, and one run of this script in each:

    python -m venv torch-2.15 && torch-2.15/bin/pip install torch==2.15.0 onnxscript onnx
    python -m venv torch-2.13 && torch-2.13/bin/pip install torch==2.13.0 onnxscript onnx
    torch-2.15/bin/python tests/make_torch_models.py [NAME ...]
    torch-2.13/bin/python tests/make_torch_models.py [NAME ...]

The committed files were written with:

- torch 2.15.0+cu132 (the newest on PyPI; its CUDA build, exporting on the CPU), onnx 1.23.2,
  onnxscript 0.7.2;
- torch 2.13.0+cpu, onnx 1.23.2, onnxscript 0.7.2.

Each run writes every attention model (``nn.MultiheadAttention`` as self-attention with 2 heads
and 1 head, with a causal mask, with ``is_causal=True``; ``scaled_dot_product_attention`` with
``is_causal=True``; ``nn.TransformerEncoderLayer``) with both exporters into
``tests/models/torch<MAJOR.MINOR>/<name>_<exporter>_opset<N>.onnx``:

- ``dynamo``: ``torch.onnx.export(..., dynamo=True)`` at opsets 18 and 23;
- ``legacy``: the TorchScript exporter, ``dynamo=False``, at opsets 18 and 20. It does not
  support opset 23: asked for it, both releases warn
  ``OnnxExporterWarning: Exporting to ONNX opset version 23 is not supported. by
  'torch.onnx.export()'. The highest opset version supported is 20. To use a newer opset
  version, consider 'torch.onnx.export(..., dynamo=True)'.`` and write opset-20 spellings
  under an opset-23 header, so its highest supported opset, 20, is exported instead.
  ``nn.TransformerEncoderLayer`` goes to the legacy exporter inside a module whose forward takes
  ``src`` only: exported bare, the exporter fills in the defaulted ``src_mask``,
  ``src_key_padding_mask`` and ``is_causal`` as traced inputs and fails with
  ``TypeError: scaled_dot_product_attention(): argument 'is_causal' (position 6) must be bool,
  not Tensor`` (both releases).

What they hold (the same in both releases): at opset 18 both exporters write attention with the
scale split between q and kᵀ (each multiplied by d^(-1/4): a constant from dynamo, ``Sqrt`` of
``1/Sqrt(d)`` computed from the shape by the legacy exporter); dynamo writes ``is_causal`` as an
added 0 / float32.min triangle, a causal mask as 0 / -inf; the legacy exporter builds masks from
``ConstantOfShape(-inf)`` and ``Trilu`` (or ``Where``) and normalises dims with a constant ``Mod``.
At opset 23 dynamo writes one ``Attention`` op.

The MLP and loss models (GELU, MSE, cross-entropy) are exported by the torch ``MLP_TORCH`` run
only, with the dynamo exporter at opsets 18 and 23, into ``tests/models/<name>_opset<N>.onnx``.

Every model has a symbolic batch dimension named ``batch``, embedded weights, and weights drawn
from ``torch.manual_seed(0)`` in the same order, so that both releases export the same numbers.
The dynamo exporter's per-node ``pkg.torch.onnx.stack_trace`` metadata is removed (it holds
the exporting machine's file paths and this script's line numbers); its other metadata stays.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

OUT = Path(__file__).parent / "models"
MLP_TORCH = "2.15"
OPSETS = {"dynamo": (18, 23), "legacy": (18, 20)}


class SelfAttention(nn.Module):
    """nn.MultiheadAttention used as self-attention (what transformer blocks do)."""

    def __init__(self, embed: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class CausalSelfAttention(SelfAttention):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(n)
        return self.attn(x, x, x, attn_mask=mask, need_weights=False)[0]


class CausalFlagSelfAttention(SelfAttention):
    """MultiheadAttention with is_causal=True (torch then also wants the mask as a hint)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.attn(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]


class CausalSDPA(nn.Module):
    """F.scaled_dot_product_attention(is_causal=True) on q, k, v of shape [batch, heads, seq, dim]."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


class GeluMLP(nn.Module):
    """Linear → GELU (exact) → Linear → GELU (tanh approximation): x [batch, 6]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 5), nn.GELU(approximate="tanh")
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPWithMSE(nn.Module):
    """A two-layer MLP and its MSE training loss: inputs x [batch, 5] and target t [batch, 3]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
        self.loss = nn.MSELoss()

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.loss(self.net(x), t)


class MLPWithCrossEntropy(nn.Module):
    """A classifier MLP and its cross-entropy loss: x [batch, 6], class labels y [batch]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 4))
        self.loss = nn.CrossEntropyLoss()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss(self.net(x), y)


def models():
    """Yield (name, module, example args, attention?) in a fixed order (the weights depend on it)."""
    torch.manual_seed(0)
    encoder = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    yield "mha", SelfAttention(8, 2), (torch.randn(2, 4, 8),), True
    yield "mha_single_head", SelfAttention(8, 1), (torch.randn(2, 4, 8),), True
    yield "mha_causal", CausalSelfAttention(8, 2), (torch.randn(2, 4, 8),), True
    yield "mha_causal_flag", CausalFlagSelfAttention(8, 2), (torch.randn(2, 4, 8),), True
    yield "sdpa_causal", CausalSDPA(), tuple(torch.randn(2, 2, 4, 4) for _ in range(3)), True
    yield "encoder", encoder, (torch.randn(2, 4, 8),), True
    yield "mlp_gelu", GeluMLP(), (torch.randn(3, 6),), False
    yield "mlp_mse", MLPWithMSE(), (torch.randn(3, 5), torch.randn(3, 3)), False
    yield "mlp_ce", MLPWithCrossEntropy(), (torch.randn(3, 6), torch.tensor([0, 3, 1])), False


class Positional(nn.Module):
    """``module`` called with the given arguments only, its defaults left alone (see above)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.module(*args)


def export(module: nn.Module, args: tuple, path: Path, exporter: str, opset: int) -> None:
    """Export with a symbolic ``batch`` as the first axis of every input."""
    names = list(inspect.signature(module.forward).parameters)[: len(args)]
    if exporter == "dynamo":
        batch = torch.export.Dim("batch", min=2, max=64)
        torch.onnx.export(
            module, args, str(path), opset_version=opset, dynamo=True, external_data=False,
            dynamic_shapes={name: {0: batch} for name in names},
        )
        drop_stack_traces(path)
        return
    if len(inspect.signature(module.forward).parameters) > len(args):
        module = Positional(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "You are using the legacy ..."
        warnings.filterwarnings("error", "Exporting to ONNX opset version")  # not supported
        torch.onnx.export(
            module, args, str(path), opset_version=opset, dynamo=False, input_names=names,
            output_names=["output"], dynamic_axes={name: {0: "batch"} for name in names},
        )


def drop_stack_traces(path: Path) -> None:
    """Remove the dynamo exporter's per-node Python stack traces (they name this script's path)."""
    model = onnx.load(str(path))
    for node in [*model.graph.node, *(n for f in model.functions for n in f.node)]:
        kept = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    onnx.save(model, str(path))


def main(only: list[str]) -> None:
    """Export every model, or only those named on the command line."""
    release = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    for name, module, args, attention in models():
        if (only and name not in only) or (not attention and release != MLP_TORCH):
            continue
        module.eval()
        for exporter, opsets in OPSETS.items() if attention else [("dynamo", (18, 23))]:
            for opset in opsets:
                if attention:
                    path = OUT / f"torch{release}" / f"{name}_{exporter}_opset{opset}.onnx"
                else:
                    path = OUT / f"{name}_opset{opset}.onnx"
                path.parent.mkdir(parents=True, exist_ok=True)
                export(module, args, path, exporter, opset)
                print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
