"""Values known before run time: small constants and shape arithmetic, possibly symbolic.

ONNX exporters compute reshape targets from ``Shape`` of a tensor (``Shape → Gather → Concat →
Reshape``). With a symbolic batch those values are not constants, but they are known as
symbolic integers (``[batch, 4, 8]``). They are kept as numpy object arrays of ``int | Sym``.
Type inference uses them (the result type of ``Reshape`` needs its target) and constant folding
turns them into (symbolic) constants.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qlower.ir.attributes import Dense
from qlower.ir.graph import Op
from qlower.ir.opdef import EvalContext, EvaluationError, OpContext, op_def
from qlower.ir.symbolic import Sym, SymbolicError
from qlower.ir.types import TensorType, Type

KNOWN_LIMIT = 4096  # elements; larger values are never tracked


def simplify(value: np.ndarray) -> np.ndarray:
    """An object array with no symbols left becomes a plain int64 array."""
    if value.dtype == object and not any(isinstance(x, Sym) for x in value.ravel()):
        try:
            return np.array(value.tolist(), dtype=np.int64).reshape(value.shape)
        except (TypeError, ValueError, OverflowError):
            return value
    return value


def is_symbolic(value: np.ndarray) -> bool:
    return value.dtype == object


class KnownValues:
    def __init__(self) -> None:
        self._values: dict[str, np.ndarray] = {}

    def get(self, name: str | None) -> np.ndarray | None:
        return self._values.get(name) if name is not None else None

    def set(self, name: str, value: np.ndarray) -> None:
        if value.size <= KNOWN_LIMIT:
            self._values[name] = simplify(value)

    def add_constant(self, name: str, data: Dense) -> None:
        if data.array.size <= KNOWN_LIMIT:
            self._values[name] = data.array

    def record(self, op: Op, values: Sequence[np.ndarray | None] | None) -> None:
        if not values:
            return
        for r, v in zip(op.results, values):
            if r is not None and v is not None:
                self.set(r.name, v)

    def __contains__(self, name: str) -> bool:
        return name in self._values


_FOLD_ERRORS = (SymbolicError, EvaluationError, ArithmeticError, TypeError, ValueError, IndexError)


def _small_results(op: Op, limit: int) -> bool:
    for r in op.results:
        if r is None:
            continue
        t = r.type
        if not isinstance(t, TensorType) or not t.is_static:
            return False
        if int(np.prod(t.static_shape)) > limit:
            return False
    return True


def fold_op(
    op: Op,
    types: Sequence[Type | None],
    values: Sequence[np.ndarray | None],
    limit: int = KNOWN_LIMIT,
) -> tuple[np.ndarray | None, ...] | None:
    """Known result values of ``op`` from known operand values (and types), or None.

    An op definition may provide ``fold(c: OpContext)`` (e.g. ``Shape``, whose result
    follows from the operand's type alone); otherwise ops whose operands are all known and
    small are evaluated with their numpy semantics, symbolic entries included.
    """
    d = op_def(op.name)
    if d is None or not d.pure or not _small_results(op, limit):
        return None
    custom = getattr(d, "fold", None)
    try:
        if custom is not None:
            out = custom(OpContext(op, types, values))
            if out is not None:
                return tuple(out)
        if d.evaluate is None:
            return None
        args = []
        for name, v in zip(op.operands, values):
            if name is None:
                args.append(None)
            elif v is None:
                return None
            else:
                args.append(v)
        while args and args[-1] is None:
            args.pop()
        with np.errstate(all="ignore"):
            out = d.evaluate(EvalContext(op, None), *args)
        return out if isinstance(out, tuple) else (out,)
    except _FOLD_ERRORS:
        return None
