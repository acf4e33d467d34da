"""Cirq emitter: one circuit per kernel of a lowered graph.

A kernel's circuit is its state preparation (data-dependent angles as sympy symbols, one per
entry of the kernel's angle tensor, in order) followed by its quantum ops with constant
operands (block encodings built from the weights, Hadamard tests). The read-out rule says
how to turn the final state, or samples of it, into the read-out op's value.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import cirq
import numpy as np
import sympy

from qlower.backends.readout import ReadoutRule
from qlower.blocks.base import Registers
from qlower.blocks.circuits import Resources, fast_op, packed_circuit
from qlower.ir import Graph
from qlower.ir.dialects.quantum import qubits_for
from qlower.kernel_costs import kernel_resources
from qlower.passes.partition import Kernel


@dataclass(frozen=True, eq=False)
class KernelCircuit:
    """A kernel as a circuit plus the rule to read it.

    ``readout`` is ``"amplitudes"`` (``registers.output`` at flags = 0, first ``size``
    entries) or ``"overlap"`` (Hadamard test on ``qubits[0]``: ``2 P(0) - 1``).
    """

    kernel: Kernel
    circuit: cirq.Circuit
    qubits: tuple[cirq.Qid, ...]
    symbols: tuple[sympy.Symbol, ...]
    registers: Registers
    readout: str
    size: int
    nonnegative: bool
    alpha: float | None
    method: str
    prefix: cirq.Circuit | None = None  # the data-dependent state preparation
    suffix: cirq.Circuit | None = None  # the rest, parameter-free (simulated for a whole batch)
    blocks: tuple = ()  # the BlockEncodings applied one after another
    input_size: int = 0  # entries of the vector the preparation loads (the first block's N)
    cost: Resources | None = None  # qlower.kernel_costs.kernel_resources of the kernel

    @property
    def name(self) -> str:
        return self.kernel.name

    def resources(self) -> Resources:
        """From the kernel's ops and the registry's costs (``qlower.kernel_costs``), not by counting
        the circuit's gates: the table, the estimate and the manifest all ask."""
        return self.cost

    @functools.cached_property
    def rule(self) -> ReadoutRule:
        """The read-out rule by qubit index (what ``manifest.json`` states; ``exact``,
        ``success_probability`` and ``estimate`` apply it)."""
        index = {q: i for i, q in enumerate(self.qubits)}
        n = len(self.qubits)
        if self.readout == "overlap":
            return ReadoutRule(self.name, "hadamard-test", n,
                               measure_qubit=index[self.registers.output[0]])
        return ReadoutRule(self.name, "amplitudes", n,
                           tuple(index[q] for q in self.registers.output),
                           tuple(index[q] for q in self.registers.flags), self.size,
                           self.nonnegative)

    def exact(self, states: np.ndarray) -> np.ndarray:
        """The read-out value from final state vectors ``[..., 2**n]``."""
        return self.rule.exact(states)

    def success_probability(self, states: np.ndarray) -> np.ndarray:
        """Probability that the flags read 0 (1 for a Hadamard test), per state."""
        return self.rule.success_probability(states)

    def estimate(self, counts: np.ndarray, shots: int) -> tuple[np.ndarray, np.ndarray]:
        """Estimates and standard errors from measurement counts ``[batch, 2**n]`` (basis
        index over ``qubits``, big-endian) of ``shots`` shots per row."""
        return self.rule.estimate(counts, shots)

    def resolvers(self, angles: np.ndarray) -> list[cirq.ParamResolver]:
        rows = np.asarray(angles, dtype=np.float64).reshape(-1, len(self.symbols))
        keys = self.symbols
        return [cirq.ParamResolver(dict(zip(keys, row))) for row in rows.tolist()]


def _weight(graph: Graph, name: str) -> np.ndarray:
    d = graph.dense(name)
    if d is None:
        raise ValueError(f"kernel operand %{name} is not a constant with data")
    return np.asarray(d.array)


def build_kernel(graph: Graph, kernel: Kernel) -> KernelCircuit:
    """The circuit of ``kernel`` (a chain: encode → [block] → read-out)."""
    from qlower.blocks.amplitude import amplitude_encoding
    from qlower.blocks.registry import as_matrix
    from qlower.ir.opdef import op_def

    enc, *middle, rd = kernel.ops
    size = int(enc.attr("size"))
    prefix = f"{kernel.name}_theta"
    if rd.name == "q.overlap":
        if middle:
            raise ValueError(f"kernel {kernel.name}: a Hadamard test reads a prepared state directly")
        prep = amplitude_encoding(size=size, prefix=prefix)
        qubits = tuple(sorted(prep.qubits))
        top = prep.registers.output[0]
        ops = list(prep.circuit.all_operations()) + [fast_op(cirq.H, (top,))]
        regs = Registers((), (top,), tuple(q for q in qubits if q != top))
        return KernelCircuit(kernel, packed_circuit(ops), qubits, prep.symbols, regs,
                             "overlap", 1, False, None, "hadamard-test",
                             cost=kernel_resources(graph, kernel))
    if not middle or not all(op.name.startswith("q.block.") for op in middle):
        raise ValueError(f"kernel {kernel.name}: expected block encodings between preparation and read-out")
    blocks = []
    for blk in middle:
        d = op_def(blk.name)
        params = {key: blk.attr(key, None) for key in d.attrs}
        blocks.append(d.entry().build(as_matrix(_weight(graph, blk.operand(1))), params))
    first = blocks[0]
    block_ops = list(first.circuit.all_operations())
    used = set(first.qubits)
    output = first.registers.output
    alpha = float(first.alpha)
    for be in blocks[1:]:
        ops, used, output = _chain(be, output, used)
        block_ops += ops
        alpha *= float(be.alpha)
    # The block reads the low qubits of the prepared state; a wider state's extra, most
    # significant qubits are flags (the IR's rule), on fresh qubits.
    # A narrower state is prepared on the block's low input qubits; the high ones stay |0⟩.
    data = first.registers.input
    extra = qubits_for(size) - len(data)
    start = 1 + max((q.x for q in used if isinstance(q, cirq.LineQubit)), default=-1)
    data = tuple(cirq.LineQubit(start + i) for i in range(max(extra, 0))) + tuple(data)
    if extra < 0:
        data = data[-extra:]
    used |= set(data)
    prep = amplitude_encoding(size=size, qubits=data, prefix=prefix)
    qubits = tuple(sorted(used | set(prep.qubits)))
    regs = Registers(data, output, tuple(q for q in qubits if q not in set(output)))
    method = "+".join(dict.fromkeys(be.method for be in blocks)) if len(blocks) > 1 else blocks[0].method
    suffix = packed_circuit(block_ops)
    ops = list(prep.circuit.all_operations()) + block_ops
    return KernelCircuit(
        kernel, packed_circuit(ops), qubits, prep.symbols, regs, "amplitudes",
        int(rd.attr("size")), bool(rd.attr("nonnegative")), alpha, method,
        prefix=prep.circuit, suffix=suffix, blocks=tuple(blocks),
        input_size=int(_weight(graph, middle[0].operand(1)).shape[1]),
        cost=kernel_resources(graph, kernel),
    )


def _chain(be, previous_output: tuple, used: set) -> tuple[list, set, tuple]:
    """``be``'s operations with its input register on the low qubits of ``previous_output``.

    Its other qubits (and the high input qubits beyond the previous output) are fresh, so they
    start in |0⟩. Returns (ops, qubits used so far, ``be``'s output register after mapping).
    """
    taken = set(used)
    start = 1 + max((q.x for q in taken if isinstance(q, cirq.LineQubit)), default=-1)
    fresh = (cirq.LineQubit(i) for i in itertools.count(start))
    mapping: dict = {}
    inp = be.registers.input
    k = min(len(inp), len(previous_output))
    for q_be, q_prev in zip(inp[len(inp) - k:], previous_output[len(previous_output) - k:]):
        mapping[q_be] = q_prev
    for q in be.qubits:
        if q not in mapping:
            mapping[q] = next(fresh)
    ops = [fast_op(op.gate, tuple(mapping[q] for q in op.qubits))
           for op in be.circuit.all_operations()]
    return ops, taken | set(mapping.values()), tuple(mapping[q] for q in be.registers.output)


__all__ = ["KernelCircuit", "build_kernel"]
