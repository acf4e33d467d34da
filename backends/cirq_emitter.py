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


class _Builder:
    """The state of one kernel's emission while its ops are walked in order.

    The preparation is placed when the state is first used: on the first block's input register
    (the block's own qubits come first, so a kernel's qubit numbering is the block's), or on
    fresh qubits for a Hadamard test.
    """

    def __init__(self, graph: Graph, kernel: Kernel):
        self.graph, self.kernel = graph, kernel
        self.size: int | None = None  # the pending preparation's size
        self.prep = None
        self.blocks: list = []
        self.block_ops: list = []
        self.used: set = set()
        self.output: tuple = ()
        self.alpha = 1.0
        self.result: dict = {}

    def prepare(self, qubits=None):
        from qlower.blocks.amplitude import amplitude_encoding

        self.prep = amplitude_encoding(size=self.size, qubits=qubits,
                                       prefix=f"{self.kernel.name}_theta")
        self.used |= set(self.prep.qubits)

    def fail(self, message: str):
        raise ValueError(f"kernel {self.kernel.name}: {message}")


# The Cirq emission of each q op: one function per op, keyed by op name (every block op shares
# one, which asks the op's registry entry for its circuit).
EMITTERS: dict = {}


def _emits(*names):
    def deco(fn):
        for name in names:
            EMITTERS[name] = fn
        return fn
    return deco


@_emits("q.encode.amplitude")
def _emit_encode(b: _Builder, op) -> None:
    if b.size is not None or b.blocks:
        b.fail("a kernel prepares its state once, first")
    b.size = int(op.attr("size"))


def _emit_block(b: _Builder, op) -> None:
    from qlower.blocks.registry import as_matrix
    from qlower.ir.opdef import op_def

    if b.size is None:
        b.fail(f"{op.name} before the state preparation")
    d = op_def(op.name)
    be = d.entry().build(as_matrix(_weight(b.graph, op.operand(1))), d.op_params(op))
    if not b.blocks:
        # The block reads the low qubits of the prepared state; a wider state's extra, most
        # significant qubits are flags (the IR's rule), on fresh qubits. A narrower state is
        # prepared on the block's low input qubits; the high ones stay |0⟩.
        b.block_ops = list(be.circuit.all_operations())
        b.used = set(be.qubits)
        b.output = be.registers.output
        data = be.registers.input
        extra = qubits_for(b.size) - len(data)
        start = 1 + max((q.x for q in b.used if isinstance(q, cirq.LineQubit)), default=-1)
        data = tuple(cirq.LineQubit(start + i) for i in range(max(extra, 0))) + tuple(data)
        if extra < 0:
            data = data[-extra:]
        b.prepare(data)
        b.result["input_size"] = int(be.shape[1])
        b.result["data"] = data
    else:
        ops, b.used, b.output = _chain(be, b.output, b.used)
        b.block_ops += ops
    b.blocks.append(be)
    b.alpha *= float(be.alpha)


@_emits("q.overlap")
def _emit_overlap(b: _Builder, op) -> None:
    if b.blocks:
        b.fail("a Hadamard test reads a prepared state directly")
    if b.size is None:
        b.fail("q.overlap before the state preparation")
    b.prepare()
    top = b.prep.registers.output[0]
    qubits = tuple(sorted(b.prep.qubits))
    b.block_ops = [fast_op(cirq.H, (top,))]
    b.result.update(readout="overlap", size=1, nonnegative=False, alpha=None,
                    method="hadamard-test", qubits=qubits,
                    registers=Registers((), (top,), tuple(q for q in qubits if q != top)))


@_emits("q.readout")
def _emit_readout(b: _Builder, op) -> None:
    if not b.blocks:
        b.fail("expected block encodings between preparation and read-out")
    qubits = tuple(sorted(b.used))
    out = b.output
    methods = dict.fromkeys(be.method for be in b.blocks)
    b.result.update(readout="amplitudes", size=int(op.attr("size")),
                    nonnegative=bool(op.attr("nonnegative")), alpha=b.alpha,
                    method="+".join(methods), qubits=qubits,
                    registers=Registers(b.result["data"], out,
                                        tuple(q for q in qubits if q not in set(out))))


def _register_block_emitters() -> None:
    from qlower.blocks.registry import method_names

    for name in method_names():
        EMITTERS[f"q.block.{name}"] = _emit_block


_register_block_emitters()


def build_kernel(graph: Graph, kernel: Kernel) -> KernelCircuit:
    """The circuit of ``kernel``: each op emitted by its function in :data:`EMITTERS`."""
    b = _Builder(graph, kernel)
    for op in kernel.ops:
        emit = EMITTERS.get(op.name)
        if emit is None:
            b.fail(f"{op.name} has no Cirq emission")
        emit(b, op)
    if "readout" not in b.result:
        b.fail("a kernel ends with a read-out (q.readout or q.overlap)")
    r = b.result
    prep_ops = list(b.prep.circuit.all_operations())
    amplitudes = r["readout"] == "amplitudes"
    return KernelCircuit(
        kernel, packed_circuit(prep_ops + b.block_ops), r["qubits"], b.prep.symbols,
        r["registers"], r["readout"], r["size"], r["nonnegative"], r["alpha"], r["method"],
        prefix=b.prep.circuit if amplitudes else None,
        suffix=packed_circuit(b.block_ops) if amplitudes else None,
        blocks=tuple(b.blocks), input_size=r.get("input_size", 0),
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
