"""Gathers by index tensors, in both dialects: ``onnx.GatherND``/``onnx.GatherElements`` and
``nn.gather_nd``/``nn.gather_elements``.

ONNX semantics: indices are i64 (GatherElements also takes i32), negative ones count from the end, and an index out of
range is an error (never clamped).
"""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects.elementwise import twin
from qlower.ir.dialects.shapes import fmt_dims, norm_axis, require_int
from qlower.ir.opdef import Attr, OpDef, register_op
from qlower.ir.types import DType, TensorType


def _in_range(c, idx: np.ndarray, n, what: str) -> np.ndarray:
    idx = idx.astype(np.int64)
    if np.any((idx < -n) | (idx >= n)):
        c.fail(f"index out of range for {what} of size {n}")
    return np.where(idx < 0, idx + n, idx)


@register_op
class GatherND(OpDef):
    """``out[b..., i...] = data[b..., *indices[b..., i..., :]]``: the last axis of ``indices``
    holds index tuples into the axes of ``data`` after the ``batch_dims`` leading ones."""

    name = "onnx.GatherND"
    operands = ("data", "indices")
    attrs = {"batch_dims": Attr("int", 0)}

    def infer(self, c):
        x, idx = c.tensor(0), c.tensor(1)
        if idx.dtype != DType.I64:
            c.fail(f"indices must be an i64 tensor, got {idx.dtype}")
        b = c.attr("batch_dims")
        if x.rank < 1 or idx.rank < 1:
            c.fail("data and indices must have rank >= 1")
        if not 0 <= b < min(x.rank, idx.rank):
            c.fail(f"batch_dims {b} must be less than both ranks ({x.rank}, {idx.rank})")
        m = idx.dims[-1]
        if not isinstance(m, int):
            c.fail("the last dimension of indices must be static")
        if not 1 <= m <= x.rank - b:
            c.fail(f"index tuples of length {m} do not fit data of shape {fmt_dims(x.dims)} "
                   f"after {b} batch dimension(s)")
        for i in range(b):
            dx, di = x.dims[i], idx.dims[i]
            if isinstance(dx, int) and isinstance(di, int) and dx != di:
                c.fail(f"batch dimension {i} differs: data {dx}, indices {di}")
        return [TensorType(x.dtype, idx.dims[:-1] + x.dims[b + m:])]

    def evaluate(self, c, data, indices):
        b = c.attr("batch_dims")
        m = indices.shape[-1]
        batch = data.shape[:b]
        if indices.shape[:b] != batch:
            c.fail(f"batch dimensions differ: data {list(batch)}, indices {list(indices.shape[:b])}")
        nb = int(np.prod(batch))
        d = data.reshape((nb,) + data.shape[b:])
        ix = indices.reshape((nb, -1, m))
        cols = [_in_range(c, ix[..., k], data.shape[b + k], f"axis {b + k}") for k in range(m)]
        out = d[(np.arange(nb)[:, None], *cols)]
        return out.reshape(indices.shape[:-1] + data.shape[b + m:])


@register_op
class GatherElements(OpDef):
    """``out[i...] = data[i with axis replaced by indices[i...]]`` (indices has data's rank)."""

    name = "onnx.GatherElements"
    operands = ("data", "indices")
    attrs = {"axis": Attr("int", 0)}

    def infer(self, c):
        x, idx = c.tensor(0), c.tensor(1)
        require_int(c, 1, "indices")
        if x.rank < 1 or idx.rank != x.rank:
            c.fail(f"indices must have data's rank {x.rank}, got {idx.rank}")
        norm_axis(c, c.attr("axis"), x.rank)
        return [TensorType(x.dtype, idx.dims)]

    def evaluate(self, c, data, indices):
        axis = c.attr("axis") % data.ndim
        for i, (n, k) in enumerate(zip(data.shape, indices.shape)):
            if i != axis and k > n:
                c.fail(f"indices dimension {i} ({k}) exceeds data's ({n})")
        idx = _in_range(c, indices, data.shape[axis], f"axis {axis}")
        sub = tuple(slice(0, k) if i != axis else slice(None)
                    for i, k in enumerate(indices.shape))
        return np.take_along_axis(data[sub], idx, axis=axis)


twin(GatherND, "nn.gather_nd")
twin(GatherElements, "nn.gather_elements")
