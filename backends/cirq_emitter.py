"""Cirq emitter: one circuit per kernel of a lowered graph.

A kernel's circuit is its state preparation (data-dependent angles as sympy symbols, one per
entry of the kernel's angle tensor, in order) followed by its quantum ops with constant
operands (block encodings built from the weights, Hadamard tests). The read-out rule says
how to turn the final state, or samples of it, into the read-out op's value.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass

import cirq
import numpy as np
import sympy

from qlower.backends.readout import ReadoutRule
from qlower.blocks.base import Registers
from qlower.blocks.circuits import Resources, fast_op, packed_circuit
from qlower.blocks.optable import OpTable, TableBlock
from qlower.ir import Graph
from qlower.ir.dialects.quantum import qubits_for
from qlower.ir.opdef import op_def
from qlower.kernel_costs import amplified_kernel_resources
from qlower.passes.partition import Kernel


@dataclass(frozen=True, eq=False)
class KernelCircuit:
    """A kernel as a circuit plus the rule to read it.

    ``readout`` is ``"amplitudes"`` (``registers.output`` at flags = 0, first ``size``
    entries), ``"probabilities"`` (their Born probabilities given flags = 0), ``"success"``
    (``P(flags = 0)``) or ``"overlap"`` (Hadamard test on ``qubits[0]``: ``2 P(0) - 1``).

    ``ops`` holds the kernel's operations as a table (``qlower.blocks.optable``): the
    preparation's first (``prefix_rows`` of them), then the blocks'. The Cirq circuits
    ``circuit``, ``suffix`` are built from it on first use (the OpenQASM 3 and Cirq JSON
    writers read the table and need neither).
    """

    kernel: Kernel
    ops: OpTable
    qubits: tuple[cirq.Qid, ...]
    symbols: tuple[sympy.Symbol, ...]
    registers: Registers
    readout: str
    size: int
    nonnegative: bool
    alpha: float | None
    method: str
    prefix: cirq.Circuit | None = None  # the data-dependent state preparation
    prefix_rows: int = 0  # rows of ``ops`` that are the preparation
    split: bool = False  # whether ``prefix`` and ``suffix`` run apart (``suffix`` not None)
    blocks: tuple = ()  # the blocks applied one after another (``TableBlock``s)
    input_size: int = 0  # entries of the vector the preparation loads (the first block's N)
    smoothing: float = 0.0  # a "probabilities" read-out's shot smoothing (q.probabilities)
    cost: Resources | None = None  # qlower.kernel_costs.kernel_resources of the kernel

    @functools.cached_property
    def operations(self) -> list:
        """The Cirq operations of ``ops``, in order (built once)."""
        return self.ops.operations()

    @functools.cached_property
    def circuit(self) -> cirq.Circuit:
        """Every operation, each in the earliest moment its qubits allow."""
        return packed_circuit(self.operations)

    @functools.cached_property
    def suffix(self) -> cirq.Circuit | None:
        """The rest after the preparation, parameter-free (simulated for a whole batch)."""
        return packed_circuit(self.operations[self.prefix_rows:]) if self.split else None

    @property
    def operation_count(self) -> int:
        """Operations of ``circuit`` (global phases included), without building it."""
        return len(self.ops)

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
        if self.readout == "swap-test":
            return ReadoutRule(self.name, "swap-test", n,
                               tuple(index[q] for q in self.registers.output),
                               tuple(index[q] for q in self.registers.flags))
        return ReadoutRule(self.name, self.readout, n,
                           tuple(index[q] for q in self.registers.output),
                           tuple(index[q] for q in self.registers.flags), self.size,
                           self.nonnegative, smoothing=self.smoothing)

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
        self.placed = False  # a preparation with flags of its own is placed when emitted
        self.extra_symbols: list = []  # parameters of data blocks, after the preparation's
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

    if b.size is None:
        b.fail(f"{op.name} before the state preparation")
    d = op_def(op.name)
    _place_block(b, d.entry().build_table(as_matrix(_weight(b.graph, op.operand(1))),
                                          d.op_params(op)))


def _place_block(b: _Builder, be) -> None:
    """Append the block ``be`` (``circuit``, ``qubits``, ``registers``, ``shape``, ``alpha``)
    to the kernel: on the preparation's register, or after the previous block."""
    if not b.blocks and not b.placed:
        # The block reads the low qubits of the prepared state; a wider state's extra, most
        # significant qubits are flags (the IR's rule), on fresh qubits. A narrower state is
        # prepared on the block's low input qubits; the high ones stay |0⟩.
        b.block_ops = [_Placed.of(be, {})]
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


@dataclass(frozen=True, eq=False)
class _DataBlock:
    """A block whose angles are circuit parameters (``q.block.data_fable``)."""

    circuit: cirq.Circuit
    registers: Registers
    shape: tuple
    symbols: tuple
    alpha: float = 1.0  # its scale is a host value (host.data_fable's alpha)
    method: str = "data-fable"

    @property
    def qubits(self) -> tuple:
        return self.registers.qubits


@_emits("q.block.data_fable")
def _emit_data_fable(b: _Builder, op) -> None:
    from qlower.blocks.fable_data import data_fable_circuit

    if b.size is None:
        b.fail(f"{op.name} before the state preparation")
    rows, cols, first = int(op.attr("rows")), int(op.attr("cols")), int(op.attr("first"))
    dfc = data_fable_circuit(rows, cols, prefix=f"{b.kernel.name}_data")
    names = [sympy.Symbol(f"{b.kernel.name}_theta_{first + i}") for i in range(len(dfc.symbols))]
    circuit = cirq.resolve_parameters(dfc.circuit, dict(zip(dfc.symbols, names)))
    _place_block(b, _DataBlock(circuit, dfc.registers, (rows, cols), tuple(names)))
    b.extra_symbols += names


@_emits("q.block.select")
def _emit_select(b: _Builder, op) -> None:
    """The block of W on the preparation's low qubits (its top qubit is the selector), then
    the tail, whose angles are parameters after the preparation's
    (``qlower/blocks/select.py``)."""
    import dataclasses

    from qlower.blocks.registry import as_matrix, block_method
    from qlower.blocks.select import select_constants, tail_ops, tail_size

    if b.size is None or b.blocks:
        b.fail(f"{op.name} reads the state preparation directly")
    d = op_def(op.name)
    W = as_matrix(_weight(b.graph, op.operand(1)))
    params = d.op_params(op)
    be = block_method(op.attr("method")).build_table(W, params)
    k = select_constants(W, op.attr("method"), params)
    _place_block(b, dataclasses.replace(be, method=f"{be.method}-select"))
    s = b.result["data"][0]
    first = int(op.attr("first"))
    names = [sympy.Symbol(f"{b.kernel.name}_theta_{first + i}")
             for i in range(tail_size(k.kind, k.out_qubits))]
    b.block_ops += tail_ops(k, s, be.registers.flags[0], be.registers.output,
                            be.registers.input, names, b.prep.symbols[0])
    b.extra_symbols += names


@dataclass(frozen=True, eq=False)
class _Fitted:
    """A fitted ansatz placed like a block (``q.block.variational``): flags first, then data."""

    circuit: cirq.Circuit
    registers: Registers
    shape: tuple
    alpha: float
    method: str = "variational"

    @property
    def qubits(self) -> tuple:
        return self.registers.qubits


@_emits("q.block.variational")
def _emit_variational(b: _Builder, op) -> None:
    from qlower.blocks.variational import hea_circuit

    if b.size is None:
        b.fail(f"{op.name} before the state preparation")
    angles = _weight(b.graph, op.operand(1)).astype(np.float64)
    q, f = int(angles.shape[1]), int(op.attr("flags"))
    qubits = cirq.LineQubit.range(q)
    circuit = hea_circuit(angles, qubits, global_phase=float(op.attr("phase")))
    data = tuple(qubits[f:])
    regs = Registers(input=data, output=data, flags=tuple(qubits[:f]))
    _place_block(b, _Fitted(circuit, regs, (1 << len(data), 1 << len(data)),
                            float(op.attr("alpha"))))


@dataclass(frozen=True)
class _VariationalPrep:
    """A variational state preparation (``q.encode.variational``) on its qubits."""

    circuit: cirq.Circuit
    qubits: tuple
    symbols: tuple
    registers: Registers


@_emits("q.encode.variational")
def _emit_encode_variational(b: _Builder, op) -> None:
    """Like ``q.encode.amplitude``: the preparation is placed where the first block reads it,
    but the circuit is ``prep_circuit``'s (symbols: the host's fitted parameters, in order)."""
    from qlower.blocks.variational import prep_circuit

    if b.size is not None or b.blocks:
        b.fail("a kernel prepares its state once, first")
    b.size = int(op.attr("size"))
    n, layers = qubits_for(b.size), int(op.attr("layers"))

    def prepare(qubits=None):
        circuit, qs, syms = prep_circuit(n, layers, qubits, prefix=f"{b.kernel.name}_theta")
        b.prep = _VariationalPrep(circuit, qs, syms, Registers(qs, qs, ()))
        b.used |= set(qs)

    b.prepare = prepare  # what the first block's placement (or a Hadamard test) calls


def _emit_placed(b: _Builder, op, state) -> None:
    """A preparation with flags of its own (``state``: ``circuit``, ``qubits``, ``index``,
    ``symbols``), placed on its own qubits when emitted; blocks after it read its index."""
    if b.size is not None or b.blocks:
        b.fail("a kernel prepares its state once, first")
    b.size = int(op.attr("size"))
    b.prep = _Prepared(state.circuit, state.qubits, state.symbols)
    b.placed = True
    b.used = set(state.qubits)
    b.output = state.index
    b.result["data"] = state.index
    b.result["input_size"] = b.size


@_emits("q.encode.softmax")
def _emit_encode_softmax(b: _Builder, op) -> None:
    from qlower.blocks.softmax import softmax_state

    _emit_placed(b, op, softmax_state(max(int(op.attr("size")), 2),
                                      prefix=f"{b.kernel.name}_theta"))


@_emits("q.encode.softmax_qsp", "q.encode.qsp_activation")
def _emit_encode_softmax_qsp(b: _Builder, op) -> None:
    from qlower.blocks.softmax_qsp import qsp_softmax_state

    _emit_placed(b, op, qsp_softmax_state(max(int(op.attr("size")), 2), op.attr("phases"),
                                          prefix=f"{b.kernel.name}_theta"))


@_emits("q.encode.pair")
def _emit_encode_pair(b: _Builder, op) -> None:
    from qlower.blocks.swap_test import swap_test_circuit

    circuit, qa, qb, symbols = swap_test_circuit(max(int(op.attr("size")), 2),
                                                 prefix=f"{b.kernel.name}_theta")
    _emit_placed(b, op, _Pair(circuit, (*qa, *qb), qa, symbols))
    b.result["pair"] = (qa, qb)


@dataclass(frozen=True)
class _Pair:
    """The swap test's circuit as a placed preparation (its test gates included)."""

    circuit: cirq.Circuit
    qubits: tuple
    index: tuple
    symbols: tuple


@_emits("q.swap_test")
def _emit_swap_test(b: _Builder, op) -> None:
    if "pair" not in b.result or b.blocks:
        b.fail("a swap test reads a pair state (q.encode.pair) directly")
    qa, qb = b.result["pair"]
    b.result.update(readout="swap-test", size=1, nonnegative=True, alpha=None,
                    method="swap-test", qubits=(*qa, *qb), registers=Registers((), qa, qb))


@dataclass(frozen=True)
class _Prepared:
    """A state preparation placed on its qubits (what the kernel's prefix is)."""

    circuit: cirq.Circuit
    qubits: tuple
    symbols: tuple


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


@_emits("q.amplify")
def _emit_amplify(b: _Builder, op) -> None:
    """The kernel so far (preparation and blocks: A) becomes the amplification sequence of
    ``qlower.blocks.amplify.amplified_table``: A, then per round a phase on flags = 0, A†, a
    phase on |0…0⟩ of every qubit, A. The whole circuit depends on the data, so it runs as one
    (no prefix/suffix split)."""
    from qlower.blocks.amplify import amplified_table

    if not b.blocks or b.placed or b.extra_symbols:
        b.fail("q.amplify follows the blocks of an amplitude-encoded kernel")
    qubits = tuple(sorted(b.used))
    out = set(b.output)
    flags = tuple(q for q in qubits if q not in out)
    want = op.result().type
    if len(qubits) != want.qubits or len(flags) != want.flags:
        b.fail(f"q.amplify on {len(qubits)} qubits ({len(flags)} flags); its type says "
               f"{want.qubits} ({want.flags})")
    prep = OpTable.from_operations(b.prep.circuit.all_operations())
    u, _ = _kernel_table(prep, b.block_ops)
    amp = amplified_table(u, flags, qubits, np.reshape(op.attr("phases"), (-1, 2)))
    b.block_ops = [amp.rows(len(prep), len(amp))]
    b.result["amplified"] = True


@_emits("q.readout", "q.probabilities", "q.success")
def _emit_readout(b: _Builder, op) -> None:
    if not b.blocks and not b.placed:
        b.fail("expected block encodings between preparation and read-out")
    qubits = tuple(sorted(b.used))
    out = b.output
    methods = dict.fromkeys(be.method for be in b.blocks)
    if b.placed:
        methods = {op_def(b.kernel.encode.name).summary(b.kernel.encode)["method"]: None,
                   **methods}
    elif any(isinstance(be, _DataBlock) for be in b.blocks):  # attention's scores
        methods = {"amplitude": None, **methods}
    kind = {"q.readout": "amplitudes", "q.probabilities": "probabilities", "q.success": "success"}
    b.result.update(readout=kind[op.name], size=int(op.attr("size", 1)),
                    nonnegative=bool(op.attr("nonnegative", True)),
                    smoothing=float(op.attr("smoothing", 0.0)),
                    alpha=b.alpha if b.blocks and not b.extra_symbols else None,
                    method="+".join(methods), qubits=qubits,
                    registers=Registers(b.result["data"], out,
                                        tuple(q for q in qubits if q not in set(out))))


def _register_block_emitters() -> None:
    from qlower.blocks.registry import method_names

    for name in method_names():
        EMITTERS[f"q.block.{name}"] = _emit_block


_register_block_emitters()


@dataclass(frozen=True, eq=False)
class _Placed:
    """A block's rows as placed in a kernel: ``table`` (on the kernel's qubits) read in
    ``order`` (its packed circuit's order: what its ``circuit.all_operations()`` gives), and
    the block with its qubit map (block qubit -> kernel qubit)."""

    table: OpTable
    order: np.ndarray | None
    block: object
    mapping: dict

    @staticmethod
    def of(be, mapping: dict) -> _Placed:
        if isinstance(be, TableBlock):
            table, order = be.table, be.table.packed_order()
        else:
            table, order = OpTable.from_operations(be.circuit.all_operations(), be.qubits), None
        if mapping:
            if any(type(op) is not cirq.GateOperation for op, _ in table.objects):
                # a chained block's operations are its gates on the mapped qubits
                table = dataclasses.replace(table, objects=tuple(
                    (fast_op(op.gate, op.qubits), ids) for op, ids in table.objects))
            table = table.on([mapping.get(q, q) for q in table.qubits])
        return _Placed(table, order, be, mapping)


def _kernel_table(prep: OpTable, parts: list) -> tuple[OpTable, dict]:
    """The preparation's rows, then ``block_ops`` (placed blocks, tables, and Cirq operations
    in runs), gathered into one table (each column written once); and for the first block, if
    it is a table, its rows of that table as the block (views: nothing is copied)."""
    tables, orders, placed = [prep], [None], []
    run: list = []

    def flush():
        if run:
            tables.append(OpTable.from_operations(run))
            orders.append(None)
            run.clear()

    for p in parts:
        if isinstance(p, (OpTable, _Placed)):
            flush()
            if isinstance(p, _Placed):
                placed.append((len(tables), p))
            tables.append(p.table if isinstance(p, _Placed) else p)
            orders.append(p.order if isinstance(p, _Placed) else None)
        else:
            run.append(p)
    flush()
    table = OpTable.concat(tables, orders)
    starts = np.cumsum([0] + [len(t) if o is None else len(o) for t, o in zip(tables, orders)])
    views = {}
    for i, p in placed:
        if isinstance(p.block, TableBlock) and not p.mapping:  # on its own qubits
            view = table.rows(int(starts[i]), int(starts[i + 1]))
            views[id(p.block)] = dataclasses.replace(p.block, table=view)
    return table, views


def build_kernel(graph: Graph, kernel: Kernel) -> KernelCircuit:
    """The circuit of ``kernel``: each op emitted by its function in :data:`EMITTERS`."""
    b = _Builder(graph, kernel)
    for op in kernel.ops:
        emit = EMITTERS.get(op.name)
        if emit is None:
            b.fail(f"{op.name} has no Cirq emission")
        emit(b, op)
    if "readout" not in b.result:
        b.fail("a kernel ends with a read-out (q.readout, q.probabilities, q.success or "
               "q.overlap)")
    r = b.result
    prep = OpTable.from_operations(b.prep.circuit.all_operations())
    table, views = _kernel_table(prep, b.block_ops)
    # a parameter-free rest runs for a whole batch at once after the per-row preparation
    split = r["readout"] not in ("overlap", "swap-test") and len(table) > len(prep) \
        and not b.extra_symbols and not r.get("amplified")
    return KernelCircuit(
        kernel, table, r["qubits"],
        tuple(b.prep.symbols) + tuple(b.extra_symbols),
        r["registers"], r["readout"], r["size"], r["nonnegative"], r["alpha"], r["method"],
        prefix=b.prep.circuit if split else None, prefix_rows=len(prep), split=split,
        blocks=tuple(views.get(id(be), be) for be in b.blocks), input_size=r.get("input_size", 0),
        smoothing=r.get("smoothing", 0.0),
        cost=amplified_kernel_resources(graph, kernel),
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
    placed = _Placed.of(be, mapping)
    return [placed], taken | set(mapping.values()), tuple(mapping[q] for q in be.registers.output)


__all__ = ["KernelCircuit", "build_kernel"]
