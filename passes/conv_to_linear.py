"""conv-to-linear: a convolution with a constant weight becomes patch extraction plus ``nn.linear``.

A convolution applies one dense layer, ``W.reshape(M, C·k1·…·kn)``, to the window under every
output position, so it is lowered like any dense layer: one kernel of ``C·K`` inputs and ``M``
outputs, swept over the batch and the output positions::

    %y = onnx.Conv(%x, %w, %b) {...}          %y.patches = nn.patches(%x) {kernel, strides, ...}
        : tensor<Nx{M}xO1xO2>           ⇒     %y.linear = nn.linear(%y.patches, %w.matrix, %b)
                                              %y = nn.transpose(%y.linear) {perm = [0, 3, 1, 2]}

``nn.patches`` is ``[N, C, D1, …]`` → ``[N, O1, …, C·K]`` with explicit pads (``auto_pad``
resolved). Where the windows tile the input exactly — stride equal to the kernel, no padding,
no dilation, every spatial size a multiple of the kernel (ViT's patch embedding) — the patches
are a reshape and a transpose instead (only a transpose for a 1×1 kernel with stride 1).

``group = G`` splits the features into G contiguous blocks of ``C/G·K`` (patch features are
ordered channel first): each group is its own ``nn.linear`` on an ``nn.slice`` of the patches,
and an ``nn.concat`` joins their outputs. A bias that is not a constant is added after the
linear. A convolution whose weight is not a constant, or whose input has a symbolic channel count,
stays ``onnx.Conv`` (it still runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.ir import Graph, Op, Value, VerifyError, types_compatible
from qlower.ir.dialects.conv import conv_params
from qlower.ir.opdef import OpContext
from qlower.ir.symbolic import exact_div
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, apply_patterns


def _tiles(dims, p: dict) -> tuple | None:
    """The number of patches per spatial axis when the windows tile the input, else None."""
    if p["strides"] != p["kernel"] or any(d != 1 for d in p["dilations"]) or any(p["pads"]):
        return None
    if any(d is None for d in dims):
        return None
    counts = tuple(exact_div(d, k) for d, k in zip(dims[2:], p["kernel"]))
    return None if any(q is None for q in counts) else counts


def _patch_ops(rw: Rewriter, op: Op, x: str, channels: int, p: dict, out: str) -> list[Op]:
    """Ops taking ``x`` to its patches ``[N, O..., C·K]``, the last one named ``out``."""
    dims = rw.tensor_type(x).dims
    n = len(dims) - 2
    counts = _tiles(dims, p)
    if counts is None:
        attrs = {k: p[k] for k in ("kernel", "strides", "dilations", "pads")}
        return [rw.build("nn.patches", [x], attrs, results=[out], loc=op.loc)]
    if all(k == 1 for k in p["kernel"]):  # 1×1, stride 1: the channels move last
        perm = (0,) + tuple(range(2, n + 2)) + (1,)
        return [rw.build("nn.transpose", [x], {"perm": perm}, results=[out], loc=op.loc)]
    split = (dims[0], channels) + tuple(v for q, k in zip(counts, p["kernel"]) for v in (q, k))
    perm = (0,) + tuple(2 + 2 * i for i in range(n)) + (1,) + tuple(3 + 2 * i for i in range(n))
    features = channels * int(np.prod(p["kernel"]))
    r1 = rw.build("nn.reshape", [x], {"shape": split}, results=[rw.fresh(f"{out}.tiles")],
                  loc=op.loc)
    t = rw.build("nn.transpose", [r1.result().name], {"perm": perm},
                 results=[rw.fresh(f"{out}.windows")], loc=op.loc)
    r2 = rw.build("nn.reshape", [t.result().name], {"shape": (dims[0], *counts, features)},
                  results=[out], loc=op.loc)
    return [r1, t, r2]


class ConvAsLinear:
    """``onnx.Conv`` with a constant weight ⇒ patches, ``nn.linear`` per group, transpose."""

    roots = ("onnx.Conv",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        x, w_name, b_name = op.operand(0), op.operand(1), op.operand(2)
        w = rw.constant(w_name)
        if w is None or w.dtype == object:
            return False
        b = rw.constant(b_name)
        x_dims = rw.tensor_type(x).dims
        if len(x_dims) < 3 or not isinstance(x_dims[1], int):
            return False  # symbolic channels: the patches' feature count is not the weight's
        try:
            p = conv_params(OpContext(op, [rw.type_of(x), rw.type_of(w_name)]), x_dims, w.shape)
        except VerifyError:
            return False
        y = op.result().name
        n, groups, m = len(x_dims) - 2, op.attr("group"), w.shape[0]
        mg, features = m // groups, int(np.prod(w.shape[1:]))
        ops = _patch_ops(rw, op, x, w.shape[1] * groups, p, rw.fresh(f"{y}.patches"))
        patches = ops[-1].result().name
        outs = []
        for g in range(groups):
            rows = slice(g * mg, (g + 1) * mg)
            suffix = f".group{g}" if groups > 1 else ""
            src = patches
            if groups > 1:
                cut = {"starts": [g * features], "ends": [(g + 1) * features], "axes": [n + 1],
                       "steps": [1]}
                ops.append(rw.build("nn.slice", [patches], cut,
                                    results=[rw.fresh(f"{patches}{suffix}")], loc=op.loc))
                src = ops[-1].result().name
            operands = [src, rw.add_constant(np.ascontiguousarray(w[rows].reshape(mg, features)),
                                             f"{w_name}.matrix{suffix}")]
            if b is not None:
                operands.append(b_name if groups == 1 else rw.add_constant(b[rows], f"{b_name}{suffix}"))
            ops.append(rw.build("nn.linear", operands, results=[rw.fresh(f"{y}.linear{suffix}")],
                                loc=op.loc))
            outs.append(ops[-1].result().name)
        if groups > 1:
            ops.append(rw.build("nn.concat", outs, {"axis": n + 1},
                                results=[rw.fresh(f"{y}.linear")], loc=op.loc))
        if b_name is not None and b is None:  # a runtime bias: [M] adds along the last axis
            ops.append(rw.build("nn.add", [ops[-1].result().name, b_name],
                                results=[rw.fresh(f"{y}.biased")], loc=op.loc))
        declared = op.result().type
        perm = (0, n + 1) + tuple(range(1, n + 1))
        back = rw.build("nn.transpose", [ops[-1].result().name], {"perm": perm}, results=[y],
                        loc=op.loc)
        if not types_compatible(declared, back.result().type):
            rw.types[y] = declared
            return False
        rw.replace(op, [*ops, back.with_(results=(Value(y, declared),))])
        return True


@register_pass
@dataclass(frozen=True)
class ConvToLinear(TransformPass):
    name = "conv-to-linear"
    summary = "Conv with a constant weight to patch extraction (nn.patches) and nn.linear"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(graph, [ConvAsLinear()])
