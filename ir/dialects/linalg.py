"""Matrix products in both dialects: MatMul, Gemm, and the canonical dense layer.

``nn.linear(x, W, b?)`` is the canonical dense layer: ``y = x @ W.T + b`` with ``W`` of shape
``[out_features, in_features]`` (torch's convention) applied to the last axis of ``x``.
"""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects.elementwise import keep_dtype
from qlower.ir.dialects.shapes import (
    broadcast,
    require_float,
    same_dtype,
)
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.types import DType, TensorType

# What select-strategy writes on a dense layer: how it is to be lowered (left out: undecided).
CHOICE_ATTRS = {
    "strategy": Attr("str", ABSENT, choices=("block-encoding", "amplitude-encoding", "variational",
                                            "host")),
    "method": Attr("str", ABSENT),
    # a block-encoded layer's amplification (lower-linear's --amplify for this layer only)
    "amplify": Attr("str", ABSENT, choices=("none", "fixed-point", "qsvt")),
}


def verify_choice(c: OpContext) -> None:
    """A ``method`` is a registered block-encoding method, on a block-encoded layer only."""
    method = c.attr("method", None)
    if c.attr("amplify", None) is not None and c.attr("strategy", None) != "block-encoding":
        c.fail(f"amplify '{c.attr('amplify')}' needs strategy = \"block-encoding\"")
    if method is None:
        return
    from qlower.blocks.registry import method_names

    if c.attr("strategy", None) != "block-encoding":
        c.fail(f"method '{method}' needs strategy = \"block-encoding\"")
    if method not in method_names():
        c.fail(f"unknown block-encoding method '{method}' (methods: {', '.join(method_names())})")


def _contract(c: OpContext, a, b, what: str):
    if isinstance(a, int) and isinstance(b, int) and a != b:
        c.fail(f"{what}: inner dimensions differ ({a} vs {b})")
    return a if a is not None else b


def matmul_dims(c: OpContext, a: tuple, b: tuple) -> tuple:
    """numpy.matmul's shape rule (1-D operands promoted and the extra axis removed)."""
    if not a or not b:
        c.fail("matmul operands must have rank >= 1")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    _contract(c, a2[-1], b2[-2], "matmul")
    batch = broadcast(c, a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


class _MatMulBase(OpDef):
    operands = ("A", "B")
    results = ("Y",)

    def infer(self, c):
        dt = same_dtype(c, 0, 1)
        if dt == DType.BOOL:
            c.fail("matmul of bool tensors")
        return [TensorType(dt, matmul_dims(c, c.tensor(0).dims, c.tensor(1).dims))]

    def evaluate(self, c, a, b):
        return keep_dtype(np.matmul(a, b), a)


@register_op
class MatMul(_MatMulBase):
    """Matrix product with numpy.matmul semantics."""

    name = "onnx.MatMul"


@register_op
class NNMatMul(_MatMulBase):
    """Matrix product of two activations (numpy.matmul semantics); ``strategy``/``method`` as
    on ``nn.linear`` where one side is a constant."""

    name = "nn.matmul"
    attrs = CHOICE_ATTRS

    def verify(self, c):
        verify_choice(c)


@register_op
class Gemm(OpDef):
    """``alpha * A' @ B' + beta * C`` with A', B' optionally transposed; C broadcasts."""

    name = "onnx.Gemm"
    operands = ("A", "B", "C?")
    results = ("Y",)
    attrs = {
        "alpha": Attr("float", 1.0),
        "beta": Attr("float", 1.0),
        "transA": Attr("int", 0, choices=(0, 1)),
        "transB": Attr("int", 0, choices=(0, 1)),
    }

    def infer(self, c):
        dt = same_dtype(c, 0, 1, 2)
        a, b = c.tensor(0), c.tensor(1)
        if a.rank != 2 or b.rank != 2:
            c.fail(f"A and B must be 2-D, got ranks {a.rank} and {b.rank}")
        m, k = a.dims[::-1] if c.attr("transA") else a.dims
        k2, n = b.dims[::-1] if c.attr("transB") else b.dims
        _contract(c, k, k2, "Gemm")
        if c.has(2):
            ct = c.tensor(2)
            if ct.rank > 2:
                c.fail(f"C must have rank <= 2, got {ct.rank}")
            for have, want in zip(reversed(ct.dims), (n, m)):
                if have != 1 and isinstance(have, int) and isinstance(want, int) and have != want:
                    c.fail(f"C of shape {list(ct.dims)} does not broadcast to [{m}, {n}]")
        return [TensorType(dt, (m, n))]

    def evaluate(self, c, a, b, cc=None):
        if c.attr("transA"):
            a = a.T
        if c.attr("transB"):
            b = b.T
        y = np.matmul(a, b) * a.dtype.type(c.attr("alpha"))
        if cc is not None:
            y = y + a.dtype.type(c.attr("beta")) * cc
        return keep_dtype(y, a)


@register_op
class Linear(OpDef):
    """Dense layer ``y = x @ weight.T + bias`` over the last axis of ``x``; ``strategy`` and
    ``method`` say how it is lowered (``select-strategy`` writes them)."""

    name = "nn.linear"
    operands = ("input", "weight", "bias?")
    results = ("output",)
    attrs = CHOICE_ATTRS

    def verify(self, c):
        verify_choice(c)

    def infer(self, c):
        dt = same_dtype(c, 0, 1, 2)
        require_float(c, 0)
        x, w = c.tensor(0), c.tensor(1)
        if w.rank != 2:
            c.fail(f"weight must be 2-D [out_features, in_features], got rank {w.rank}")
        if x.rank < 1:
            c.fail("input must have rank >= 1")
        _contract(c, x.dims[-1], w.dims[1], "linear")
        if c.has(2):
            b = c.tensor(2)
            if b.rank != 1:
                c.fail(f"bias must be 1-D [out_features], got rank {b.rank}")
            _contract(c, b.dims[0], w.dims[0], "linear bias")
        return [TensorType(dt, x.dims[:-1] + (w.dims[0],))]

    def evaluate(self, c, x, w, b=None):
        y = np.matmul(x, w.T)
        if b is not None:
            y = y + b
        return keep_dtype(y, x)


