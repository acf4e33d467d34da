"""The IR core: values, ops and graphs. All three are immutable; passes build new ones.

A graph is one SSA dataflow region: named, typed inputs; named constants (initialisers);
ops in a topological order; and outputs that name values. Every value has one name in one
namespace shared by inputs, constants and op results.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from qlower.ir.attributes import Attrs, ConstData, Dense
from qlower.ir.types import TensorType, Type

MAX_NAME_LENGTH = 4096  # characters of a value name (a weights file keeps it as a zip member name)


@dataclass(frozen=True)
class Value:
    name: str
    type: Type

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a value needs a non-empty name")
        if not isinstance(self.type, Type):
            raise TypeError(f"value %{self.name} has no type")

    @property
    def tensor_type(self) -> TensorType:
        if not isinstance(self.type, TensorType):
            raise TypeError(f"%{self.name} is not a tensor")
        return self.type


@dataclass(frozen=True)
class Op:
    """One operation: ``name`` is dialect-qualified (``onnx.Gemm``, ``nn.linear``).

    ``operands`` holds value names, ``None`` for an omitted optional operand; ``results``
    holds values, ``None`` for an omitted optional result. ``loc`` names the source
    (ONNX node names) the op came from.
    """

    name: str
    operands: tuple[str | None, ...] = ()
    results: tuple[Value | None, ...] = ()
    attrs: Attrs = field(default_factory=Attrs)
    loc: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "operands", tuple(self.operands))
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "loc", tuple(self.loc))
        if not isinstance(self.attrs, Attrs):
            object.__setattr__(self, "attrs", Attrs(self.attrs))

    @property
    def dialect(self) -> str:
        return self.name.split(".", 1)[0]

    def attr(self, key: str, default: Any = ...) -> Any:
        if key in self.attrs:
            return self.attrs[key]
        if default is ...:
            raise KeyError(f"{self.name} has no attribute '{key}'")
        return default

    @property
    def result_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r is not None)

    @property
    def present_operands(self) -> tuple[str, ...]:
        return tuple(o for o in self.operands if o is not None)

    def operand(self, i: int) -> str | None:
        return self.operands[i] if i < len(self.operands) else None

    def result(self, i: int = 0) -> Value:
        r = self.results[i] if i < len(self.results) else None
        if r is None:
            raise IndexError(f"{self.name} has no result #{i}")
        return r

    @property
    def label(self) -> str:
        """How error messages name this op: first result and source node."""
        names = self.result_names
        where = f"%{names[0]} = {self.name}" if names else self.name
        if self.loc:
            where += f" (node '{self.loc[0]}')"
        return where

    def with_(self, **changes: Any) -> Op:
        return replace(self, **changes)


@dataclass(frozen=True)
class Constant:
    value: Value
    data: ConstData

    @property
    def name(self) -> str:
        return self.value.name


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[Value, ...] = ()
    constants: tuple[Constant, ...] = ()
    ops: tuple[Op, ...] = ()
    outputs: tuple[str, ...] = ()
    attrs: Attrs = field(default_factory=Attrs)

    def __post_init__(self) -> None:
        for f in ("inputs", "constants", "ops", "outputs"):
            object.__setattr__(self, f, tuple(getattr(self, f)))
        if not isinstance(self.attrs, Attrs):
            object.__setattr__(self, "attrs", Attrs(self.attrs))

    # -- lookups (computed once per graph) --------------------------------------------------
    @cached_property
    def values(self) -> Mapping[str, Value]:
        out: dict[str, Value] = {}
        for v in self.inputs:
            out.setdefault(v.name, v)
        for c in self.constants:
            out.setdefault(c.name, c.value)
        for op in self.ops:
            for r in op.results:
                if r is not None:
                    out.setdefault(r.name, r)
        return out

    @cached_property
    def constant_map(self) -> Mapping[str, Constant]:
        return {c.name: c for c in self.constants}

    @cached_property
    def producers(self) -> Mapping[str, tuple[Op, int]]:
        return {r.name: (op, i) for op in self.ops for i, r in enumerate(op.results) if r is not None}

    @cached_property
    def users(self) -> Mapping[str, tuple[Op, ...]]:
        out: dict[str, list[Op]] = {}
        for op in self.ops:
            for name in dict.fromkeys(op.present_operands):
                out.setdefault(name, []).append(op)
        return {k: tuple(v) for k, v in out.items()}

    def type_of(self, name: str) -> Type:
        return self.values[name].type

    def producer(self, name: str) -> Op | None:
        p = self.producers.get(name)
        return p[0] if p else None

    def constant(self, name: str | None) -> Constant | None:
        return self.constant_map.get(name) if name is not None else None

    def dense(self, name: str | None) -> Dense | None:
        c = self.constant(name)
        return c.data if c is not None and isinstance(c.data, Dense) else None

    def with_(self, **changes: Any) -> Graph:
        return replace(self, **changes)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.inputs)

    @property
    def output_values(self) -> tuple[Value, ...]:
        return tuple(self.values[n] for n in self.outputs)


def fresh_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2``, ... : the first not in ``taken`` (which it joins)."""
    name, i = base, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def topological_order(ops: Iterable[Op], defined: Iterable[str]) -> list[Op]:
    """Order ops so every operand is defined before use, keeping the given order where possible.

    Ops whose operands can never be defined (a cycle or an undefined name) are appended at the
    end in their original order, so the verifier can report them.
    """
    ops = list(ops)
    known = set(defined)
    producer_index: dict[str, int] = {}
    for i, op in enumerate(ops):
        for name in op.result_names:
            producer_index.setdefault(name, i)
    waiting_on: list[set[int]] = []
    dependents: dict[int, list[int]] = {}
    for i, op in enumerate(ops):
        deps = {
            producer_index[o]
            for o in op.present_operands
            if o not in known and o in producer_index and producer_index[o] != i
        }
        waiting_on.append(deps)
        for d in deps:
            dependents.setdefault(d, []).append(i)
    ready = [i for i, deps in enumerate(waiting_on) if not deps]
    heapq.heapify(ready)
    order: list[int] = []
    done = set()
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        done.add(i)
        for j in dependents.get(i, ()):
            waiting_on[j].discard(i)
            if not waiting_on[j] and j not in done:
                heapq.heappush(ready, j)
    rest = [i for i in range(len(ops)) if i not in done]
    return [ops[i] for i in order + rest]
