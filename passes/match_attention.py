"""match-attention: (being written)."""

from __future__ import annotations

from dataclasses import dataclass

from qlower.ir import Graph
from qlower.passes.base import TransformPass, register_pass


@register_pass
@dataclass(frozen=True)
class MatchAttention(TransformPass):
    name = "match-attention"
    summary = "(being written)"

    def apply(self, graph: Graph) -> Graph:
        return graph
