"""match-losses: (being written)."""

from __future__ import annotations

from dataclasses import dataclass

from qlower.ir import Graph
from qlower.passes.base import TransformPass, register_pass


@register_pass
@dataclass(frozen=True)
class MatchLosses(TransformPass):
    name = "match-losses"
    summary = "(being written)"

    def apply(self, graph: Graph) -> Graph:
        return graph
