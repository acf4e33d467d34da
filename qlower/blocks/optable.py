"""Operation tables: a circuit's operations as numpy columns, Cirq objects only on demand.

A block's circuit of a million gates costs about 1 KiB per gate as Cirq objects (an operation,
its gate, a moment) and a microsecond or more to build each. An :class:`OpTable` keeps the same
operations, in order, as one row each of a few numpy columns (21 bytes a row): the block
methods fill them from their angle tables (``fable.py``'s multiplexors, ``qsd.py``'s gate lists),
the OpenQASM 3 and Cirq JSON writers stream text from them, and :meth:`OpTable.operations` makes
the Cirq operations only where a simulator needs them.

Row kinds (``kind``): ``H``, ``CX`` and ``CZ`` (``cirq.H``, ``cirq.CNOT``, ``cirq.CZ``; control
``q0``, target ``q1``), ``RY``/``RZ`` (``cirq.Ry``/``cirq.Rz`` with ``rads = value``),
``RY_SYM``/``RZ_SYM`` (``rads = symbols[ref]``), ``PXZ`` (``cirq.PhasedXZGate`` with the exponents
``pxz[ref] = (x, z, axis phase)``; rows sharing a ``ref`` share one gate), and ``OP``: any other
operation, ``objects[ref] = (operation, ids)`` with ``ids`` its qubits. ``q0``/``q1`` (and
``ids``) index ``qubits``; ``q1`` is -1 for one-qubit rows.

Moments: :meth:`OpTable.layers` gives each row the moment ``qlower.blocks.circuits.packed_circuit``
puts it in (the earliest its qubits allow; a row on no qubits goes to moment 0), so the order of
``packed_circuit(table.operations()).all_operations()`` is :meth:`OpTable.packed_order` without
building a circuit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

H, CX, CZ, RY, RZ, RY_SYM, RZ_SYM, PXZ, OP = range(9)
KIND_NAMES = ("H", "CX", "CZ", "RY", "RZ", "RY_SYM", "RZ_SYM", "PXZ", "OP")
_CHUNK = 1 << 16  # rows converted to Python lists at a time


@dataclass(frozen=True, eq=False)
class OpTable:
    """Operations in order, one row each (see the module docstring)."""

    qubits: tuple
    kind: np.ndarray  # int8
    q0: np.ndarray  # int32
    q1: np.ndarray  # int32, -1 for one-qubit rows
    value: np.ndarray  # float64: RY/RZ angle
    ref: np.ndarray  # int32: pxz row, symbol or object index; -1
    pxz: np.ndarray  # (K, 3) float64
    symbols: tuple = ()
    objects: tuple = ()  # (cirq.Operation, ids) per OP row

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    # -- construction ----------------------------------------------------------------------
    @staticmethod
    def empty(qubits: Sequence = ()) -> OpTable:
        return OpTable(tuple(qubits), np.zeros(0, np.int8), np.zeros(0, np.int32),
                       np.zeros(0, np.int32), np.zeros(0, np.float64), np.zeros(0, np.int32),
                       np.zeros((0, 3), np.float64))

    @staticmethod
    def from_operations(ops: Iterable, qubits: Sequence | None = None) -> OpTable:
        """The table of Cirq operations ``ops`` (in order). Only exactly these become typed rows:
        ``cirq.H``, ``cirq.CNOT``, ``cirq.CZ`` (those objects), ``cirq.Ry``/``cirq.Rz`` with a
        float or a ``sympy.Symbol`` angle, and ``cirq.PhasedXZGate`` with float exponents, each
        as an untagged ``GateOperation``; any other operation is an ``OP`` row that keeps the
        operation itself. ``qubits`` fixes the order of ``qubits`` (default: first use)."""
        import cirq
        import sympy

        ops = list(ops)
        ids: dict = {}
        if qubits is not None:
            for q in qubits:
                ids.setdefault(q, len(ids))
        n = len(ops)
        kind = np.empty(n, np.int8)
        q0 = np.full(n, -1, np.int32)
        q1 = np.full(n, -1, np.int32)
        value = np.zeros(n, np.float64)
        ref = np.full(n, -1, np.int32)
        pxz: list = []
        pxz_ref: dict = {}
        symbols: list = []
        sym_ref: dict = {}
        objects: list = []
        h, cnot, cz = cirq.H, cirq.CNOT, cirq.CZ
        gate_op, ry, rz, phxz = cirq.GateOperation, cirq.Ry, cirq.Rz, cirq.PhasedXZGate
        floats = (float, np.float64)
        for i, op in enumerate(ops):
            qs = op.qubits
            for q in qs:
                if q not in ids:
                    ids[q] = len(ids)
            k = OP
            if type(op) is gate_op:
                gate = op._gate
                t = type(gate)
                if gate is h:
                    k = H
                elif gate is cnot or gate is cz:
                    k = CX if gate is cnot else CZ
                elif t is ry or t is rz:
                    rads = gate._rads
                    if type(rads) in floats:
                        k = RY if t is ry else RZ
                        value[i] = rads
                    elif type(rads) is sympy.Symbol:
                        k = RY_SYM if t is ry else RZ_SYM
                        j = sym_ref.get(rads)
                        if j is None:
                            j = sym_ref[rads] = len(symbols)
                            symbols.append(rads)
                        ref[i] = j
                elif t is phxz:
                    j = pxz_ref.get(id(gate))
                    if j is None:
                        e = (gate.x_exponent, gate.z_exponent, gate.axis_phase_exponent)
                        if all(type(v) in floats for v in e):
                            j = pxz_ref[id(gate)] = len(pxz)
                            pxz.append(e)
                    if j is not None:
                        k = PXZ
                        ref[i] = j
            kind[i] = k
            if k == OP:
                ref[i] = len(objects)
                objects.append((op, tuple(ids[q] for q in qs)))
            else:
                q0[i] = ids[qs[0]]
                if len(qs) == 2:
                    q1[i] = ids[qs[1]]
        pxz_arr = np.array(pxz, dtype=np.float64).reshape(-1, 3)
        return OpTable(tuple(ids), kind, q0, q1, value, ref, pxz_arr, tuple(symbols),
                       tuple(objects))

    @staticmethod
    def concat(tables: Sequence[OpTable], orders: Sequence | None = None) -> OpTable:
        """The rows of ``tables`` one after the other (of table i, the rows ``orders[i]`` in
        that order where given and not None), on the union of their qubits (first occurrence
        first), symbols and gates. Each column is written once, in place."""
        orders = [None] * len(tables) if orders is None else list(orders)
        if len(tables) == 1 and orders[0] is None:
            return tables[0]
        ids: dict = {}
        sym: dict = {}
        for t in tables:
            for q in t.qubits:
                ids.setdefault(q, len(ids))
            for s in t.symbols:
                sym.setdefault(s, len(sym))
        sizes = [len(t) if o is None else len(o) for t, o in zip(tables, orders)]
        total = sum(sizes)
        kind = np.empty(total, np.int8)
        q0 = np.empty(total, np.int32)
        q1 = np.empty(total, np.int32)
        value = np.empty(total, np.float64)
        ref = np.empty(total, np.int32)
        pxz, objects = [], []
        npxz, pos = 0, 0
        for t, o, m in zip(tables, orders, sizes):
            sl = slice(pos, pos + m)
            pos += m
            for src, out in ((t.kind, kind), (t.q0, q0), (t.q1, q1), (t.value, value),
                             (t.ref, ref)):
                if o is None:
                    out[sl] = src
                else:
                    np.take(src, o, out=out[sl])
            remap = np.array([ids[q] for q in t.qubits] + [-1], dtype=np.int32)
            np.take(remap, q0[sl], out=q0[sl])  # -1 takes the trailing -1
            np.take(remap, q1[sl], out=q1[sl])
            k, r = kind[sl], ref[sl]
            if npxz:
                r[k == PXZ] += npxz
            if t.symbols:
                smap = np.array([sym[s] for s in t.symbols], dtype=np.int32)
                smask = (k == RY_SYM) | (k == RZ_SYM)
                r[smask] = smap[r[smask]]
            if objects:
                r[k == OP] += len(objects)
            objects += [(op, tuple(int(remap[i]) for i in qs)) for op, qs in t.objects]
            pxz.append(t.pxz)
            npxz += len(t.pxz)
        return OpTable(tuple(ids), kind, q0, q1, value, ref,
                       np.concatenate(pxz).reshape(-1, 3) if pxz else np.zeros((0, 3)),
                       tuple(sym), tuple(objects))

    def on(self, qubits: Sequence) -> OpTable:
        """The same rows with ``qubits[i]`` in place of ``self.qubits[i]``."""
        qubits = tuple(qubits)
        if len(qubits) != len(self.qubits) or len(set(qubits)) != len(qubits):
            raise ValueError(f"expected {len(self.qubits)} distinct qubits, got {qubits}")
        return OpTable(qubits, self.kind, self.q0, self.q1, self.value, self.ref, self.pxz,
                       self.symbols, self.objects)

    def take(self, rows: np.ndarray) -> OpTable:
        """The rows ``rows`` (indices, in that order)."""
        return OpTable(self.qubits, self.kind[rows], self.q0[rows], self.q1[rows],
                       self.value[rows], self.ref[rows], self.pxz, self.symbols, self.objects)

    # -- structure ---------------------------------------------------------------------------
    def used_qubits(self) -> set:
        """The qubits some row acts on (``circuit.all_qubits()`` of the table's circuit)."""
        used = np.zeros(len(self.qubits) + 1, dtype=bool)
        used[self.q0] = True
        used[self.q1] = True  # -1 marks the spare last entry
        for _, qs in self.objects:
            used[list(qs)] = True
        return {q for q, u in zip(self.qubits, used[:-1].tolist()) if u}

    def layers(self) -> np.ndarray:
        """Per row, the moment ``packed_circuit`` puts it in."""
        out = np.empty(len(self), np.int64 if len(self) >= 1 << 31 else np.int32)
        frontier = [0] * len(self.qubits)
        objects = self.objects
        for start in range(0, len(self), _CHUNK):
            stop = min(start + _CHUNK, len(self))
            kind = self.kind[start:stop].tolist()
            q0 = self.q0[start:stop].tolist()
            q1 = self.q1[start:stop].tolist()
            ref = self.ref[start:stop].tolist()
            layer = [0] * (stop - start)
            for i, (k, a, b) in enumerate(zip(kind, q0, q1)):
                if k == OP:
                    qs = objects[ref[i]][1]
                    at = max((frontier[q] for q in qs), default=0)
                    for q in qs:
                        frontier[q] = at + 1
                elif b < 0:
                    at = frontier[a]
                    frontier[a] = at + 1
                else:
                    at = frontier[a]
                    fb = frontier[b]
                    if fb > at:
                        at = fb
                    frontier[a] = frontier[b] = at + 1
                layer[i] = at
            out[start:stop] = layer
        return out

    def packed_order(self, layers: np.ndarray | None = None) -> np.ndarray:
        """Row indices in the order of the packed circuit's ``all_operations()``."""
        layers = self.layers() if layers is None else layers
        return np.argsort(layers, kind="stable")

    def in_moment_order(self) -> OpTable:
        """The rows in the packed circuit's order (packing that again changes nothing)."""
        return self.take(self.packed_order())

    def rows(self, start: int, stop: int, qubits: Sequence | None = None) -> OpTable:
        """Rows ``start:stop`` as views of these columns (nothing is copied), on ``qubits``
        (default ``self.qubits``) in the sense of :meth:`on`."""
        return OpTable(self.qubits if qubits is None else tuple(qubits),
                       self.kind[start:stop], self.q0[start:stop], self.q1[start:stop],
                       self.value[start:stop], self.ref[start:stop], self.pxz, self.symbols,
                       self.objects)

    # -- Cirq objects ------------------------------------------------------------------------
    def gates(self) -> dict:
        """The gates rows share: ``"pxz"``, one PhasedXZGate per row of ``pxz``."""
        import cirq

        return {"pxz": [cirq.PhasedXZGate(x_exponent=x, z_exponent=z, axis_phase_exponent=a)
                        for x, z, a in self.pxz.tolist()]}

    def operations(self, rows: np.ndarray | None = None, gates: dict | None = None) -> list:
        """Cirq operations of ``rows`` (default: all), made without argument checks."""
        import cirq

        from qlower.blocks.circuits import fast_op, gc_paused

        idx = np.arange(len(self)) if rows is None else np.asarray(rows)
        gates = self.gates() if gates is None else gates
        pxz = gates["pxz"]
        single = [(q,) for q in self.qubits]
        pairs: dict = {}
        qs = self.qubits
        fixed = {H: cirq.H, CX: cirq.CNOT, CZ: cirq.CZ}
        rot = {RY: cirq.Ry, RZ: cirq.Rz, RY_SYM: cirq.Ry, RZ_SYM: cirq.Rz}
        syms = self.symbols
        out: list = []
        with gc_paused():
            for start in range(0, len(idx), _CHUNK):
                part = idx[start:start + _CHUNK]
                kind = self.kind[part].tolist()
                q0 = self.q0[part].tolist()
                q1 = self.q1[part].tolist()
                value = self.value[part].tolist()
                ref = self.ref[part].tolist()
                for k, a, b, v, r in zip(kind, q0, q1, value, ref):
                    if k == OP:
                        op, ids = self.objects[r]
                        on = tuple(qs[i] for i in ids)
                        out.append(op if on == op.qubits else fast_op(op.gate, on))
                    elif b >= 0:
                        key = (a, b)
                        pq = pairs.get(key)
                        if pq is None:
                            pq = pairs[key] = (qs[a], qs[b])
                        out.append(fast_op(fixed[k], pq))
                    elif k == H:
                        out.append(fast_op(fixed[k], single[a]))
                    elif k == PXZ:
                        out.append(fast_op(pxz[r], single[a]))
                    elif k == RY or k == RZ:
                        out.append(fast_op(rot[k](rads=v), single[a]))
                    else:
                        out.append(fast_op(rot[k](rads=syms[r]), single[a]))
        return out

    def circuit(self):
        """``packed_circuit(self.operations())``."""
        from qlower.blocks.circuits import packed_circuit

        return packed_circuit(self.operations())

    def check_finite(self) -> bool:
        """Whether every numeric angle and exponent is finite."""
        num = (self.kind == RY) | (self.kind == RZ)
        return bool(np.all(np.isfinite(self.value[num])) and np.all(np.isfinite(self.pxz)))


def gates_table(gates, qubits: Sequence) -> tuple[OpTable, float]:
    """``qlower.blocks.qsd.Gates`` on ``qubits`` as a table, and the phase δ with
    ``unitary(gates) = e^{iδ} · unitary(table)`` (its one-qubit matrices become PhasedXZ rows,
    one per matrix)."""
    from qlower.blocks import qsd

    qs = tuple(qubits)
    if len(qs) != gates.num_qubits:
        raise ValueError(f"expected {gates.num_qubits} qubits, got {len(qs)}")
    codes = np.full(5, OP, np.int8)
    codes[[qsd.U1, qsd.RY, qsd.RZ, qsd.CZ, qsd.CX]] = [PXZ, RY, RZ, CZ, CX]
    kind = codes[gates.kind]
    delta = 0.0
    pxz = np.zeros((0, 3), np.float64)
    if gates.mats.shape[0]:
        x, z, a, ph = qsd._phased_xz_params(gates.mats)
        counts = np.bincount(gates.mat[gates.kind == qsd.U1], minlength=len(ph))
        delta = float(np.sum(ph * counts))  # a matrix used twice counts twice
        pxz = np.stack([x, z, a], axis=1)
    is_u = kind == PXZ
    value = np.where(is_u, 0.0, gates.angle)
    ref = np.where(is_u, gates.mat, -1).astype(np.int32)
    table = OpTable(qs, kind, gates.q0.astype(np.int32), gates.q1.astype(np.int32),
                    value.astype(np.float64), ref, pxz)
    return table, delta


def with_global_phase(table: OpTable, phase: complex) -> OpTable:
    """``table`` with a ``GlobalPhaseGate(phase)`` row appended."""
    import cirq

    from qlower.blocks.circuits import fast_op

    op = fast_op(cirq.GlobalPhaseGate(phase), ())
    return OpTable(table.qubits, np.append(table.kind, np.int8(OP)),
                   np.append(table.q0, np.int32(-1)), np.append(table.q1, np.int32(-1)),
                   np.append(table.value, 0.0), np.append(table.ref, np.int32(len(table.objects))),
                   table.pxz, table.symbols, (*table.objects, (op, ())))


@dataclass(frozen=True, eq=False)
class TableBlock:
    """A block (the :class:`qlower.blocks.base.Block` contract) as an operation table: what the
    kernel builder places, without the Cirq circuit (``circuit`` builds it, once)."""

    table: OpTable
    alpha: float
    registers: object  # qlower.blocks.base.Registers
    method: str
    shape: tuple

    @property
    def qubits(self) -> tuple:
        return self.registers.qubits

    @property
    def circuit(self):
        return self.table.circuit()


__all__ = ["CX", "CZ", "H", "KIND_NAMES", "OP", "PXZ", "RY", "RY_SYM", "RZ", "RZ_SYM",
           "OpTable", "TableBlock", "gates_table", "with_global_phase"]
