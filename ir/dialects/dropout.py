"""``onnx.Dropout`` at inference: the identity (exporters write it for every dropout layer).

qlower runs models for inference only: a Dropout whose ``training_mode`` is absent or a false
constant passes its input through and its optional mask is all true. Training mode (random
masks) is refused at import; ``onnx-to-nn`` removes the op.
"""

from __future__ import annotations

import numpy as np

from qlower.ir.opdef import Attr, OpDef, register_op
from qlower.ir.types import DType, TensorType


@register_op
class Dropout(OpDef):
    """The identity at inference: ``output = data``, ``mask`` all true."""

    name = "onnx.Dropout"
    operands = ("data", "ratio?", "training_mode?")
    results = ("output", "mask?")
    attrs = {"seed": Attr("int", 0)}

    def infer(self, c):
        x = c.tensor(0)
        if not x.dtype.is_float:
            c.fail(f"data must be a floating-point tensor, got {x.dtype}")
        if c.has(1) and (not c.tensor(1).dtype.is_float or c.tensor(1).rank != 0):
            c.fail(f"ratio must be a float scalar, got {c.tensor(1)}")
        if c.has(2):
            t = c.tensor(2)
            if t.dtype != DType.BOOL or t.rank != 0:
                c.fail(f"training_mode must be a bool scalar, got {t}")
            v = c.value(2)
            if v is None or bool(v):
                c.fail("training mode (random dropout) is not supported: qlower runs inference")
        return [x, TensorType(DType.BOOL, x.dims)]

    def evaluate(self, c, data, ratio=None, training_mode=None):
        return data, np.ones(data.shape, dtype=bool)
