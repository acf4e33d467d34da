"""dce: remove ops whose results nobody uses, and constants nobody uses."""

from __future__ import annotations

from dataclasses import dataclass

from qlower.ir import Graph, op_def
from qlower.passes.base import TransformPass, register_pass


@register_pass
@dataclass(frozen=True)
class DeadCodeElimination(TransformPass):
    name = "dce"
    summary = "remove unused ops and constants"

    def apply(self, graph: Graph) -> Graph:
        live = set(graph.outputs)
        kept = []
        for op in reversed(graph.ops):
            d = op_def(op.name)
            pure = d is None or d.pure
            if pure and not any(n in live for n in op.result_names):
                continue
            kept.append(op)
            live.update(op.present_operands)
        constants = tuple(c for c in graph.constants if c.name in live)
        return graph.with_(ops=tuple(reversed(kept)), constants=constants)
