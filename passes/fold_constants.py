"""fold-constants: evaluate ops whose operands are all constants.

Shape plumbing folds too: ``onnx.Shape`` of a tensor with symbolic dims yields a symbolic
constant (``dense<[(batch), 4]>``) and the ``Gather``/``Concat``/``Slice`` arithmetic on it folds
with it. Each folded result becomes a constant of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.ir import (
    Constant,
    Dense,
    EvaluationError,
    Graph,
    TensorType,
    Value,
    VerifyError,
    evaluate_op,
    infer_types,
    types_compatible,
)
from qlower.ir.known_values import KnownValues, fold_op
from qlower.ir.verifier import verify_graph
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, fold_known


def _as_constant(value: np.ndarray, t: TensorType) -> Dense:
    if value.dtype == object:
        if any(not isinstance(x, int) for x in value.ravel().tolist()):
            return Dense(value)
        value = np.array(value.tolist(), dtype=np.int64).reshape(value.shape)
    return Dense(value.astype(t.dtype.numpy, copy=False))


def shape_entries(op, rw: Rewriter) -> tuple | None:
    """``Gather``/``Slice`` of an ``onnx.Shape`` with constant indices → the selected sizes,
    when those are known although others are not (``Shape(x: [1, ?])[0]`` is 1)."""
    if op.name not in ("onnx.Gather", "nn.gather", "onnx.Slice", "nn.slice"):
        return None
    shape = rw.producer_of(op.operands[0], "onnx.Shape")
    if shape is None:
        return None
    dims = rw.tensor_type(shape.operands[0]).dims
    picked = np.array(dims[slice(shape.attr("start"), shape.attr("end", None))], dtype=object)
    positions = np.arange(len(picked))
    if op.name == "nn.slice":
        positions = evaluate_op(op, [positions])[0]
    else:
        args = [rw.constant(o) for o in op.operands[1:]]
        if any(a is None or a.dtype == object for a, o in zip(args, op.operands[1:]) if o):
            return None
        try:
            positions = evaluate_op(op, [positions, *args])[0]
        except (EvaluationError, IndexError, ValueError):
            return None
    chosen = np.asarray(picked[np.asarray(positions, dtype=np.int64)], dtype=object)
    if any(d is None for d in chosen.ravel()):
        return None
    return (chosen,)


def refine_types(graph: Graph) -> Graph:
    """Give every result the more precise type that inference now finds (folding made an
    operand known: an ``Expand`` declared ``?x?`` whose target became ``[1, 32]``)."""
    known = KnownValues()
    for c in graph.constants:
        if isinstance(c.data, Dense):
            known.add_constant(c.name, c.data)
    types = {name: v.type for name, v in graph.values.items()}
    ops = []
    for op in graph.ops:
        operand_types = [types[o] if o is not None else None for o in op.operands]
        values = [known.get(o) for o in op.operands]
        try:
            inferred = infer_types(op, operand_types, values)
        except VerifyError:
            inferred = ()
        results = []
        for i, r in enumerate(op.results):
            t = inferred[i] if i < len(inferred) else None
            if r is not None and t is not None and t != r.type and types_compatible(t, r.type):
                r = Value(r.name, t)
            if r is not None:
                types[r.name] = r.type
            results.append(r)
        op = op.with_(results=tuple(results))
        ops.append(op)
        known.record(op, fold_op(op, operand_types, values))
    refined = graph.with_(ops=tuple(ops))
    try:
        verify_graph(refined)
    except VerifyError:
        # a declared size that only run time can reconcile with a refined one (seq against
        # 8): keep the declared types
        return graph
    return refined


@register_pass
@dataclass(frozen=True)
class FoldConstants(TransformPass):
    name = "fold-constants"
    summary = "evaluate ops on constants, symbolic shape arithmetic included"
    max_elements: int = 1_000_000

    def apply(self, graph: Graph) -> Graph:
        rw = Rewriter(graph)
        for op in list(rw.ops):
            if op is None:
                continue
            out = fold_known(op, rw, self.max_elements) or shape_entries(op, rw)
            if out is None or len(out) < len(op.results):
                continue
            if any(r is not None and v is None for r, v in zip(op.results, out)):
                continue
            rw.erase(op)
            for r, v in zip(op.results, out):
                if r is None:
                    continue
                t = r.type
                assert isinstance(t, TensorType)
                rw.constants[r.name] = Constant(Value(r.name, t), _as_constant(np.asarray(v), t))
        return refine_types(rw.finish())
