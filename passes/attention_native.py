"""ONNX's ``Attention`` (opsets 23-25) → ``nn.attention`` where the canonical op says the same.

It applies without a KV cache (no past_key/past_value, no nonpad_kv_seqlen), without sliding
windows, with the extra outputs absent or unused, with ``softmax_precision`` absent or the input
type, and with a mask (if any) as long as the keys (ONNX pads a shorter mask; ``nn.attention``
does not). ONNX adds its mask to the scores — a bool mask as ``where(mask, 0, -inf)`` — so the
mask becomes ``nn.attention``'s additive ``bias`` (a bool one through that ``nn.where``), and
rows whose keys are all excluded give zeros (``empty_rows = "zero"``). The causal triangle in a
mask (exactly -inf above the diagonal, or in a bool mask ``and``-ed with other parts, also as
``nn.trilu`` of a symbolic size) becomes ``causal = true`` and all-true parts drop, as in the
expanded pattern. ``scale`` defaults
to ``1/sqrt(head_size)``, which needs a static head size. 3-D inputs ``[batch, seq, heads*head]``
are split into heads around the op::

    q → reshape [b, s, h, d] → transpose [0, 2, 1, 3] ┐
    k, v (likewise, kv heads)                          ├→ nn.attention → transpose → reshape
"""

from __future__ import annotations

import math

from qlower.ir import Op, TensorType
from qlower.passes.attention_common import (
    additive_term,
    build_as,
    build_bias,
    same_dim,
    try_build,
)
from qlower.passes.rewrite import Rewriter

SWAP = (0, 2, 1, 3)


def _head_size(t: TensorType, heads: int | None) -> int | None:
    if t.rank == 4:
        return t.dims[3] if isinstance(t.dims[3], int) else None
    hidden = t.dims[2]
    if heads is None or not isinstance(hidden, int) or heads <= 0 or hidden % heads:
        return None
    return hidden // heads


def _seq_lens(op: Op, rw: Rewriter) -> tuple:
    """(query length, key length) of an onnx.Attention: axis -2 of q and k, 3-D or 4-D."""
    q, k = rw.tensor_type(op.operands[0]), rw.tensor_type(op.operands[1])
    return q.dims[-2], k.dims[-2]


def fits_canonical(op: Op, rw: Rewriter) -> bool:
    """The op has no KV cache, no window, no used extra output, default precision and a mask
    (if any) as long as the keys."""
    if any(op.operand(i) is not None for i in (4, 5, 6)):
        return False
    if op.attr("left_window_size", -1) != -1 or op.attr("right_window_size", -1) != -1:
        return False
    if any(r is not None and rw.use_count(r.name) for r in op.results[1:]):
        return False
    q, k = rw.tensor_type(op.operands[0]), rw.tensor_type(op.operands[1])
    precision = op.attr("softmax_precision", None)
    if precision is not None and precision != q.dtype:
        return False
    mask = op.operand(3)
    if mask is None:
        return True
    m = rw.tensor_type(mask)
    return m.rank == 0 or same_dim(m.dims[-1], k.dims[-2])


class NativeAttention:
    """Rewrite ``onnx.Attention`` to ``nn.attention``; see the module docstring."""

    roots = ("onnx.Attention",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        if not fits_canonical(op, rw):
            return False
        q, k, v = op.operands[:3]
        qt = rw.tensor_type(q)
        scale = op.attr("scale", None)
        if scale is None:
            head = _head_size(qt, op.attr("q_num_heads", None))
            if head is None:
                return False
            scale = 1.0 / math.sqrt(head)
        mask, causal = op.operand(3), bool(op.attr("is_causal"))
        pre: list[Op] = []
        if mask is not None:
            term = additive_term(rw, mask, *_seq_lens(op, rw))
            causal |= term.causal
            built = build_bias(rw, term, qt.dtype.numpy, op.loc)
            if built is None:
                return False
            mask, pre = built
        attrs = {
            "scale": scale,
            "causal": causal,
            "softcap": op.attr("softcap"),
            "empty_rows": "zero",
        }
        masks = [mask] if mask is not None else []
        y = op.result()
        if qt.rank == 4:
            new = build_as(rw, "nn.attention", [q, k, v, *masks], attrs, y.name, y.type, op.loc)
            if new is None:
                return False
            rw.replace(op, [*pre, new])
            return True
        ops = self._three_d(op, rw, attrs, masks)
        if ops is None:
            return False
        rw.replace(op, [*pre, *ops])
        return True

    def _three_d(self, op: Op, rw: Rewriter, attrs: dict, masks: list[str]) -> list[Op] | None:
        """Split heads, attend, merge heads; the last op produces the result under its name."""
        ops: list[Op] = []
        heads = (op.attr("q_num_heads"), op.attr("kv_num_heads"), op.attr("kv_num_heads"))
        split = []
        for name, h in zip(op.operands[:3], heads):
            t = rw.tensor_type(name)
            d = _head_size(t, h)
            if d is None or t.dims[0] is None or t.dims[1] is None:
                return None
            r = try_build(rw, "nn.reshape", [name], {"shape": (t.dims[0], t.dims[1], h, d)}, op.loc)
            tr = try_build(rw, "nn.transpose", [r.result().name], {"perm": SWAP}, op.loc) if r else None
            if tr is None:
                return None
            ops += [r, tr]
            split.append(tr.result().name)
        att = try_build(rw, "nn.attention", [*split, *masks], attrs, op.loc)
        back = try_build(rw, "nn.transpose", [att.result().name], {"perm": SWAP}, op.loc) if att else None
        if back is None:
            return None
        b, s, h, d = back.result().tensor_type.dims
        y = op.result()
        merged = build_as(rw, "nn.reshape", [back.result().name], {"shape": (b, s, h * d)},
                          y.name, y.type, op.loc)
        if merged is None:
            return None
        return [*ops, att, back, merged]
