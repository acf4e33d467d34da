"""match-attention: attention in any of its spellings becomes ``nn.attention``.

Two patterns (see their modules): the expanded form ``matmul(softmax(scale(q @ kᵀ) + mask), v)``
(:mod:`qlower.passes.attention_expanded`) and ONNX's opset-23 ``Attention`` op where it fits the
canonical op (:mod:`qlower.passes.attention_native`). Anything else is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from qlower.ir import Graph
from qlower.passes.attention_expanded import ExpandedAttention
from qlower.passes.attention_native import NativeAttention
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import apply_patterns

PATTERNS = (ExpandedAttention(), NativeAttention())


@register_pass
@dataclass(frozen=True)
class MatchAttention(TransformPass):
    name = "match-attention"
    summary = "expanded attention and onnx.Attention to nn.attention"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(graph, PATTERNS)
