"""Named stages: the pipelines that take an imported graph to each stage."""

from __future__ import annotations

CANONICAL = ",".join([
    "fold-constants",
    "conv-to-linear",
    "fuse-linear",
    "onnx-to-nn",
    "simplify",
    "split-linear",
    "simplify",
    "match-attention",
    "match-activations",
    "match-losses",
    "fold-constants",
    "dce",
])

LOWERED = CANONICAL + ",select-strategy,lower-linear,lower-quantum,dce"  # what compile runs

STAGES: dict[str, str] = {
    "imported": "",
    "canonical": CANONICAL,
    "lowered": LOWERED,
}
