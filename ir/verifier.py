"""Graph and op verification.

``verify_graph`` checks SSA structure (unique names, defined-before-use, defined outputs),
constants against their types, and every op against its definition: arity, attributes, and
that the declared result types agree with the op's type inference. The first problem raises a
:class:`VerifyError` whose message names the op (its first result and source node).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qlower.ir.attributes import ConstRef, Dense, dense_matches_type
from qlower.ir.graph import Graph, Op
from qlower.ir.known_values import KnownValues, fold_op
from qlower.ir.opdef import ABSENT, REQUIRED, OpContext, OpDef, Slot, VerifyError, op_def
from qlower.ir.symbolic import Sym
from qlower.ir.types import DialectType, OpaqueType, TensorType, Type


def types_compatible(declared: Type, inferred: Type | None) -> bool:
    """Declared agrees with inferred: equal, or more precise where inference gave ``?``."""
    if inferred is None:
        return True
    if isinstance(declared, TensorType) and isinstance(inferred, TensorType):
        if declared.dtype != inferred.dtype or declared.rank != inferred.rank:
            return False
        return all(i is None or d == i for d, i in zip(declared.dims, inferred.dims))
    return declared == inferred


def _match_slots(op: Op, slots: Sequence[Slot], items: Sequence, what: str) -> None:
    """Arity: required slots first, then optional ones; a variadic slot (last) takes >= 1."""
    n = len(items)

    def count(k: int) -> str:
        return f"{k} {what if k != 1 else what[:-1]}"

    if slots and slots[-1].variadic:
        if n < len(slots):
            raise VerifyError(f"{op.label}: expects at least {count(len(slots))}, got {n}")
    else:
        required = sum(1 for s in slots if not s.optional)
        if n > len(slots):
            raise VerifyError(f"{op.label}: expects at most {count(len(slots))}, got {n}")
        if n < required:
            raise VerifyError(f"{op.label}: expects at least {count(required)}, got {n}")
    for i, item in enumerate(items):
        slot = slots[min(i, len(slots) - 1)]
        if item is None and not slot.optional:
            raise VerifyError(f"{op.label}: {what[:-1]} '{slot.name}' is required but omitted")


def verify_op_structure(op: Op, d: OpDef) -> None:
    """Arity and attribute checks that need no types."""
    _match_slots(op, d.operand_slots, op.operands, "operands")
    _match_slots(op, d.result_slots, op.results, "results")
    if not op.result_names:
        raise VerifyError(f"{op.name}: an op must have at least one result")
    for key, value in op.attrs.items():
        spec = d.attrs.get(key)
        if spec is None:
            raise VerifyError(f"{op.label}: unknown attribute '{key}'")
        problem = spec.check(value) or _non_finite(value)
        if problem:
            raise VerifyError(f"{op.label}: attribute '{key}' {problem}")
    for key, spec in d.attrs.items():
        if key not in op.attrs and spec.default is not ABSENT:
            kind = "required" if spec.default is REQUIRED else "missing (defaults are explicit)"
            raise VerifyError(f"{op.label}: attribute '{key}' is {kind}")


def _non_finite(value) -> str | None:
    """A message if a float in the attribute value is NaN (never a meaningful value; ±Inf can
    be one, e.g. an attention mask's fill, and ops that cannot take it say so themselves)."""
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if type(v) is float and v != v:
            return f"must be finite, got {v!r}"
    return None


def _attr_symbols(value) -> set[str]:
    if isinstance(value, Sym):
        return set(value.symbols)
    if isinstance(value, tuple):
        out: set[str] = set()
        for v in value:
            out |= _attr_symbols(v)
        return out
    return set()


def verify_graph(graph: Graph) -> KnownValues:
    """Verify ``graph``; return the known (constant or symbolic) values found on the way."""
    seen: set[str] = set()

    def define(name: str, what: str) -> None:
        if name in seen:
            raise VerifyError(f"value %{name} is defined twice ({what})")
        seen.add(name)

    input_symbols: set[str] = set()
    for v in graph.inputs:
        define(v.name, "graph input")
        _verify_type(v.type, f"input %{v.name}")
        if isinstance(v.type, TensorType):
            input_symbols |= v.type.symbols
    known = KnownValues()
    for c in graph.constants:
        define(c.name, "constant")
        t = c.value.type
        if not isinstance(t, TensorType):
            raise VerifyError(f"constant %{c.name} must be a tensor, got {t}")
        if isinstance(c.data, Dense):
            problem = dense_matches_type(c.data, t)
            if problem:
                raise VerifyError(f"constant %{c.name}: {problem}")
            if c.data.symbolic:
                unknown = {s for x in c.data.array.ravel() if isinstance(x, Sym) for s in x.symbols}
                unknown -= input_symbols
                if unknown:
                    raise VerifyError(
                        f"constant %{c.name} uses size symbol '{sorted(unknown)[0]}' "
                        "that no graph input defines"
                    )
            known.add_constant(c.name, c.data)
        elif isinstance(c.data, ConstRef):
            if not t.is_static:
                raise VerifyError(f"constant %{c.name} must have a static type")
    for op in graph.ops:
        d = op_def(op.name)
        if d is None:
            raise VerifyError(f"{op.label}: unknown op '{op.name}'")
        verify_op_structure(op, d)
        for name in op.present_operands:
            if name not in seen:
                raise VerifyError(f"{op.label}: operand %{name} is not defined before use")
        for key, value in op.attrs.items():
            missing = _attr_symbols(value) - input_symbols
            if missing:
                raise VerifyError(
                    f"{op.label}: attribute '{key}' uses size symbol '{sorted(missing)[0]}' "
                    "that no graph input defines"
                )
        types = [graph.values[o].type if o is not None else None for o in op.operands]
        values = [known.get(o) for o in op.operands]
        ctx = OpContext(op, types, values)
        inferred = d.infer(ctx)
        d.verify(ctx)
        for i, r in enumerate(op.results):
            if r is None:
                continue
            define(r.name, f"result of {op.name}")
            _verify_type(r.type, f"%{r.name}")
            t = inferred[i] if i < len(inferred) else None
            if not types_compatible(r.type, t):
                raise VerifyError(f"{op.label}: result %{r.name} has type {r.type}, expected {t}")
        known.record(op, fold_op(op, types, values))
    if not graph.outputs:
        raise VerifyError(f"graph @{graph.name} has no outputs")
    for name in graph.outputs:
        if name not in seen:
            raise VerifyError(f"graph output %{name} is not defined")
    if len(set(graph.outputs)) != len(graph.outputs):
        raise VerifyError(f"graph @{graph.name} lists an output twice")
    return known


# Ops that use their constant operands as weights (every entry matters numerically). An
# infinite constant elsewhere can be a mask (``-inf`` where attention must not look).
WEIGHT_OPS = ("nn.linear", "nn.matmul")
WEIGHT_DIALECTS = ("q", "host")


def _counts(nan: int, inf: int, size: int) -> str:
    parts = [f"{n} {k}" for n, k in ((nan, "NaN"), (inf, "Inf")) if n]
    return f"{' and '.join(parts)} of {size} values"


def nonfinite_weight(graph: Graph, new: frozenset[str] = frozenset(), folded_by: str = "") -> str | None:
    """A message if a constant holds NaN (never valid data) or a weight holds ±Inf; else None.

    With ``folded_by`` (a pass name), only the constants in ``new`` (the ones that pass made)
    are checked for NaN; without it, all of them. Every constant operand of a weight op is
    checked for ±Inf.
    """
    def problem(op: Op | None, i: int, name: str, data: Dense) -> str:
        how = f" (folded by {folded_by})" if name in new and folded_by else ""
        what = f"%{name}{how} contains {_counts(*data.nonfinite, data.array.size)}; weights must be finite"
        if op is None:
            return f"constant {what}"
        d = op_def(op.name)
        slot = d.operand_slots[min(i, len(d.operand_slots) - 1)].name.lower() if d else f"#{i}"
        return f"{op.label}: its {slot} {what}"

    for c in graph.constants:
        if isinstance(c.data, Dense) and (c.name in new or not folded_by) and c.data.nonfinite[0]:
            user = next(iter(graph.users.get(c.name, ())), None)
            return problem(user, user.operands.index(c.name) if user else 0, c.name, c.data)
    for op in graph.ops:
        if op.name not in WEIGHT_OPS and op.dialect not in WEIGHT_DIALECTS:
            continue
        for i, name in enumerate(op.operands):
            data = graph.dense(name)
            if data is not None and any(data.nonfinite):
                return problem(op, i, name, data)
    return None


def _verify_type(t: Type, what: str) -> None:
    if isinstance(t, OpaqueType):
        raise VerifyError(f"{what}: unknown type !{t.type_name}")
    if isinstance(t, DialectType):
        try:
            t.verify()
        except ValueError as e:
            raise VerifyError(f"{what}: {e}") from None


def verify(graph: Graph) -> Graph:
    """Verify and return the graph (for chaining)."""
    verify_graph(graph)
    return graph


__all__ = ["VerifyError", "verify", "verify_graph", "types_compatible", "np"]
