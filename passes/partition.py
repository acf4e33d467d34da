"""partition-kernels: group the q.* ops of a lowered graph into quantum kernels.

A kernel is a connected set of ``q.*`` ops joined by ``!q.state`` values: one state
preparation (``q.encode.*``), the quantum operations on it, and one read-out (``q.readout``,
``q.probabilities``, ``q.success``, ``q.swap_test`` or ``q.overlap``). Everything else is host work that runs between kernels.
Kernels are named ``k0``, ``k1``, ... in the graph's order; that order is also a valid
execution order.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from qlower.errors import QlowerError
from qlower.ir import Graph, Op
from qlower.ir.dialects.quantum import QState
from qlower.passes.base import AnalysisPass, register_pass

READOUTS = ("q.readout", "q.probabilities", "q.success", "q.swap_test", "q.overlap")


class PartitionError(QlowerError):
    """The q ops of a graph do not form well-shaped kernels."""


@dataclass(frozen=True)
class Kernel:
    name: str
    ops: tuple[Op, ...]

    @property
    def encode(self) -> Op:
        return self.ops[0]

    @property
    def readout(self) -> Op:
        return self.ops[-1]

    @property
    def parameters(self) -> str:
        """The host value holding this kernel's data-dependent angles."""
        return self.encode.operand(0)

    @property
    def output(self) -> str:
        return self.readout.result().name

    @property
    def source(self) -> tuple[str, ...]:
        """ONNX node names this kernel lowers."""
        return tuple(dict.fromkeys(loc for op in self.ops for loc in op.loc))


def partition(graph: Graph) -> list[Kernel]:
    qops = [op for op in graph.ops if op.dialect == "q"]
    g = nx.Graph()
    index = {id(op): i for i, op in enumerate(qops)}
    producer = {r: op for op in qops for r in op.result_names}
    for op in qops:
        g.add_node(index[id(op)])
        for name in op.present_operands:
            src = producer.get(name)
            if src is not None and isinstance(graph.type_of(name), QState):
                g.add_edge(index[id(src)], index[id(op)])
    kernels = []
    for comp in sorted(nx.connected_components(g), key=min):
        ops = tuple(qops[i] for i in sorted(comp))
        encodes = [op for op in ops if op.name.startswith("q.encode.")]
        reads = [op for op in ops if op.name in READOUTS]
        label = ops[0].label
        if len(encodes) != 1 or ops[0] is not encodes[0]:
            raise PartitionError(f"kernel at {label}: needs exactly one state preparation, first")
        if len(reads) != 1 or ops[-1] is not reads[0]:
            raise PartitionError(f"kernel at {label}: needs exactly one read-out, last")
        for name in (r for op in ops[:-1] for r in op.result_names):
            users = [u for u in graph.users.get(name, ()) if u.dialect != "q"]
            if users or name in graph.outputs:
                raise PartitionError(f"kernel at {label}: quantum value %{name} leaves the kernel")
        kernels.append(Kernel(f"k{len(kernels)}", ops))
    return kernels


@register_pass
@dataclass(frozen=True)
class PartitionKernels(AnalysisPass):
    name = "partition-kernels"
    summary = "check that q.* ops form kernels (one preparation, one read-out each)"

    def analyze(self, graph: Graph) -> list[Kernel]:
        return partition(graph)


__all__ = ["Kernel", "PartitionError", "partition"]
