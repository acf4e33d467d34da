"""Export the torch models the tests use into tests/models/ (run once; the files are committed).

Needs torch (2.13 CPU) and onnxscript, which the project itself never imports:

    python -m venv torchenv && torchenv/bin/pip install torch==2.13.0 onnxscript onnx
    torchenv/bin/python tests/make_torch_models.py [NAME ...]

Every model has a symbolic batch dimension named ``batch`` and embedded weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).parent / "models"


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
    batch = torch.export.Dim("batch", min=2, max=64)
    torch.manual_seed(0)
    encoder = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    yield "mha", SelfAttention(8, 2), (torch.randn(2, 4, 8),), {"x": {0: batch}}
    yield "mha_single_head", SelfAttention(8, 1), (torch.randn(2, 4, 8),), {"x": {0: batch}}
    yield "mha_causal", CausalSelfAttention(8, 2), (torch.randn(2, 4, 8),), {"x": {0: batch}}
    yield "mha_causal_flag", CausalFlagSelfAttention(8, 2), (torch.randn(2, 4, 8),), {
        "x": {0: batch}}
    qkv = tuple(torch.randn(2, 2, 4, 4) for _ in range(3))
    yield "sdpa_causal", CausalSDPA(), qkv, {"q": {0: batch}, "k": {0: batch}, "v": {0: batch}}
    yield "encoder", encoder, (torch.randn(2, 4, 8),), {"src": {0: batch}}
    yield "mlp_gelu", GeluMLP(), (torch.randn(3, 6),), {"x": {0: batch}}
    yield "mlp_mse", MLPWithMSE(), (torch.randn(3, 5), torch.randn(3, 3)), {
        "x": {0: batch}, "t": {0: batch}}
    yield "mlp_ce", MLPWithCrossEntropy(), (torch.randn(3, 6), torch.tensor([0, 3, 1])), {
        "x": {0: batch}, "y": {0: batch}}


def main(only: list[str]) -> None:
    """Export every model, or only those named on the command line."""
    OUT.mkdir(exist_ok=True)
    for name, module, args, dynamic in models():
        if only and name not in only:
            continue
        module.eval()
        for opset in (18, 23):
            path = OUT / f"{name}_opset{opset}.onnx"
            torch.onnx.export(
                module, args, str(path), opset_version=opset, dynamic_shapes=dynamic,
                dynamo=True, external_data=False,
            )
            print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
