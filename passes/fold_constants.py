"""fold-constants: evaluate ops whose operands are all constants.

Shape plumbing folds too: ``onnx.Shape`` of a tensor with symbolic dims yields a symbolic
constant (``dense<[(batch), 4]>``) and the ``Gather``/``Concat``/``Slice`` arithmetic on it folds
with it. Each folded result becomes a constant of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.ir import Constant, Dense, Graph, TensorType, Value
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, fold_known


def _as_constant(value: np.ndarray, t: TensorType) -> Dense:
    if value.dtype == object:
        if any(not isinstance(x, int) for x in value.ravel().tolist()):
            return Dense(value)
        value = np.array(value.tolist(), dtype=np.int64).reshape(value.shape)
    return Dense(value.astype(t.dtype.numpy, copy=False))


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
            out = fold_known(op, rw, self.max_elements)
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
        return rw.finish()
