"""Local rewrites: a mutable :class:`Rewriter` over a graph and one fixpoint driver.

A pattern is an object with ``roots`` (op names it can start from) and
``rewrite(op, rw) -> bool``: it inspects ``op`` and its producers through ``rw`` and, when it
matches, replaces ``op`` with new ops (``rw.replace``) and returns True. ``apply_patterns``
applies a table of patterns until none matches. Ops left without users by a rewrite are
removed; nothing else is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from qlower.ir import Attrs, Constant, Dense, DType, Graph, Op, TensorType, Type, Value
from qlower.ir.graph import fresh_name, topological_order
from qlower.ir.known_values import KnownValues, fold_op
from qlower.ir.opdef import build_op, op_def


class Pattern(Protocol):
    roots: tuple[str, ...]

    def rewrite(self, op: Op, rw: Rewriter) -> bool: ...


class Rewriter:
    """Edits a graph in place: look up producers, users and constants; replace ops."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.ops: list[Op | None] = list(graph.ops)
        self.keys: list[tuple] = [(i,) for i in range(len(self.ops))]  # print order
        self.constants: dict[str, Constant] = {c.name: c for c in graph.constants}
        self.types: dict[str, Type] = {name: v.type for name, v in graph.values.items()}
        self.outputs: list[str] = list(graph.outputs)
        self.taken: set[str] = set(self.types)
        self._producer: dict[str, int] = {}
        self._users: dict[str, set[int]] = {}
        for i, op in enumerate(self.ops):
            self._index(i, op)
        self._maybe_dead: set[str] = set()
        self.changed = False

    # -- queries --------------------------------------------------------------------------------
    def _index(self, i: int, op: Op) -> None:
        for name in op.result_names:
            self._producer[name] = i
        for name in op.present_operands:
            self._users.setdefault(name, set()).add(i)

    def position(self, op: Op) -> int:
        """Where ``op`` stands in ``self.ops`` (found through its first result)."""
        i = self._producer.get(op.result_names[0]) if op.result_names else None
        return i if i is not None and self.ops[i] is op else self.ops.index(op)

    def producer(self, name: str | None) -> Op | None:
        if name is None:
            return None
        i = self._producer.get(name)
        return self.ops[i] if i is not None else None

    def producer_of(self, name: str | None, *op_names: str) -> Op | None:
        """The producer of ``name`` if it is one of ``op_names``."""
        op = self.producer(name)
        return op if op is not None and op.name in op_names else None

    def users(self, name: str) -> list[Op]:
        return [self.ops[i] for i in sorted(self._users.get(name, ())) if self.ops[i] is not None]

    def use_count(self, name: str) -> int:
        """Operand uses plus one per appearance among the graph outputs."""
        n = sum(op.present_operands.count(name) for op in self.users(name))
        return n + self.outputs.count(name)

    def single_use(self, name: str) -> bool:
        return self.use_count(name) == 1

    def type_of(self, name: str) -> Type:
        return self.types[name]

    def tensor_type(self, name: str) -> TensorType:
        t = self.types[name]
        assert isinstance(t, TensorType), name
        return t

    def constant(self, name: str | None) -> np.ndarray | None:
        """The data of a constant with data (numeric or symbolic), else None."""
        c = self.constants.get(name) if name is not None else None
        if c is not None and isinstance(c.data, Dense):
            return c.data.array
        return None

    def scalar(self, name: str | None) -> float | None:
        """A constant holding exactly one number, as a float."""
        arr = self.constant(name)
        if arr is None or arr.size != 1 or arr.dtype == object or arr.dtype.kind not in "iuf":
            return None
        return float(arr.reshape(()))

    def known_values(self) -> KnownValues:
        known = KnownValues()
        for name, c in self.constants.items():
            if isinstance(c.data, Dense):
                known.add_constant(name, c.data)
        return known

    # -- edits ----------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        return fresh_name(base, self.taken)

    def add_constant(self, array: np.ndarray, base: str) -> str:
        """Add a constant under a fresh name based on ``base``; returns the name."""
        arr = np.asarray(array)
        data = Dense(arr)
        name = self.fresh(base)
        dtype = DType.I64 if arr.dtype == object else DType.from_numpy(arr.dtype)
        t = TensorType(dtype, tuple(int(d) for d in arr.shape))
        self.constants[name] = Constant(Value(name, t), data)
        self.types[name] = t
        return name

    def build(
        self,
        name: str,
        operands: Sequence[str | None],
        attrs: Mapping[str, Any] | None = None,
        *,
        results: Sequence[str | None] | None = None,
        loc: Sequence[str] = (),
    ) -> Op:
        """Build an op with inferred result types; ``results`` default to one fresh name."""
        d = op_def(name)
        assert d is not None, name
        if results is None:
            results = [self.fresh(name.split(".")[-1])]
        types = [self.types[o] if o is not None else None for o in operands]
        values = [self.constant(o) for o in operands]
        op = build_op(name, operands, results, attrs, loc, types=types, values=values)
        for r in op.results:
            if r is not None:
                self.types[r.name] = r.type
                self.taken.add(r.name)
        return op

    def replace(self, old: Op, new_ops: Sequence[Op], mapping: Mapping[str, str] | None = None) -> None:
        """Put ``new_ops`` where ``old`` was. Results of ``old`` not produced again under the
        same name are redirected through ``mapping`` (old name → replacement value)."""
        i = self.position(old)
        produced = {n for op in new_ops for n in op.result_names}
        mapping = dict(mapping or {})
        for name in old.result_names:
            if name not in produced and name not in mapping and self.use_count(name):
                raise ValueError(f"replacement of {old.label} drops %{name}, which is still used")
        self._unindex(i, old)
        self.ops[i] = None
        self._maybe_dead.update(old.present_operands)
        for k, op in enumerate(new_ops):
            self._append(op, self.keys[i] + (k,))
            for r in op.results:
                if r is not None:
                    self.types[r.name] = r.type
        for src, dst in mapping.items():
            if src != dst:
                self.replace_uses(src, dst)
        self.changed = True

    def replace_uses(self, src: str, dst: str) -> None:
        """Make every use of ``src`` a use of ``dst`` (graph outputs keep their names)."""
        for j in sorted(self._users.get(src, ())):
            op = self.ops[j]
            if op is None:
                continue
            new = op.with_(operands=tuple(dst if o == src else o for o in op.operands))
            self._unindex(j, op)
            self.ops[j] = new
            self._index(j, new)
        if src in self.outputs:
            if not self._rename_result(dst, src):
                ident = build_op("nn.identity", [dst], [src], {}, (), types=[self.types[dst]])
                self._append(ident, (len(self.keys),))
        self._maybe_dead.add(src)
        self.changed = True

    def _rename_result(self, old: str, new: str) -> bool:
        """Give the op result ``old`` the name ``new`` (a graph output whose producer is gone)."""
        i = self._producer.get(old)
        if i is None or new in self._producer or old in self.outputs:
            return False
        op = self.ops[i]
        assert op is not None
        renamed = op.with_(results=tuple(
            r.__class__(new, r.type) if r is not None and r.name == old else r for r in op.results
        ))
        self._unindex(i, op)
        self.ops[i] = renamed
        self._index(i, renamed)
        self.types[new] = self.types[old]
        for j in sorted(self._users.get(old, ())):
            user = self.ops[j]
            if user is None:
                continue
            new_user = user.with_(operands=tuple(new if o == old else o for o in user.operands))
            self._unindex(j, user)
            self.ops[j] = new_user
            self._index(j, new_user)
        return True

    def erase(self, op: Op) -> None:
        i = self.position(op)
        self._unindex(i, op)
        self.ops[i] = None
        self._maybe_dead.update(op.present_operands)
        self.changed = True

    def _append(self, op: Op, key: tuple) -> None:
        self.ops.append(op)
        self.keys.append(key)
        self._index(len(self.ops) - 1, op)

    def _unindex(self, i: int, op: Op) -> None:
        for name in op.present_operands:
            self._users.get(name, set()).discard(i)
        for name in op.result_names:
            if self._producer.get(name) == i:
                del self._producer[name]

    def _remove_dead(self) -> None:
        work = list(self._maybe_dead)
        while work:
            name = work.pop()
            if self.use_count(name):
                continue
            i = self._producer.get(name)
            if i is None:
                continue
            op = self.ops[i]
            d = op_def(op.name) if op is not None else None
            if op is None or (d is not None and not d.pure):
                continue
            if any(self.use_count(r) for r in op.result_names):
                continue
            self._unindex(i, op)
            self.ops[i] = None
            work.extend(op.present_operands)
        self._maybe_dead.clear()

    def finish(self) -> Graph:
        self._remove_dead()
        slots = sorted((k, i) for i, k in enumerate(self.keys) if self.ops[i] is not None)
        ops = [self.ops[i] for _, i in slots]
        defined = [v.name for v in self.graph.inputs] + list(self.constants)
        ordered = topological_order(ops, defined)
        used = {o for op in ordered for o in op.present_operands} | set(self.outputs)
        original = {c.name for c in self.graph.constants}
        constants = [c for name, c in self.constants.items() if name in original or name in used]
        return self.graph.with_(constants=tuple(constants), ops=tuple(ordered), outputs=tuple(self.outputs))


def apply_patterns(graph: Graph, patterns: Iterable[Pattern], max_rounds: int = 100) -> Graph:
    """Apply ``patterns`` to every op, repeatedly, until a round changes nothing."""
    patterns = list(patterns)
    by_root: dict[str, list[Pattern]] = {}
    for p in patterns:
        for r in p.roots:
            by_root.setdefault(r, []).append(p)
    rw = Rewriter(graph)
    for _ in range(max_rounds):
        rw.changed = False
        i = 0
        while i < len(rw.ops):
            op = rw.ops[i]
            i += 1
            if op is None:
                continue
            for p in by_root.get(op.name, ()):
                if p.rewrite(op, rw):
                    break
        if not rw.changed:
            break
    return rw.finish()


def fold_known(op: Op, rw: Rewriter, limit: int) -> tuple | None:
    """Fold ``op`` if its operands are constants (or it folds from types); limited in size."""
    types = [rw.types[o] if o is not None else None for o in op.operands]
    values = [rw.constant(o) for o in op.operands]
    return fold_op(op, types, values, limit=limit)


__all__ = ["Attrs", "Pattern", "Rewriter", "apply_patterns", "fold_known"]
