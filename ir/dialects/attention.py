"""Scaled dot-product attention: ONNX's opset-23 ``Attention`` and the canonical ``nn.attention``.

``nn.attention(q, k, v, mask?) {scale, causal, softcap}`` computes
``softmax(softcap(q kᵀ · scale) + mask + causal_bias) v`` over 4-D tensors
``[batch, heads, seq, head_size]`` (grouped-query when k/v have fewer heads) or 3-D tensors
``[batch, seq, head_size]`` (one head). A bool mask marks the keys each query may attend.
"""

from __future__ import annotations

from qlower.ir.dialects import kernels
from qlower.ir.dialects.shapes import broadcast, require_float
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import exact_div
from qlower.ir.types import DType, TensorType


def _eq(c: OpContext, a, b, what: str) -> None:
    if isinstance(a, int) and isinstance(b, int) and a != b:
        c.fail(f"{what} differ ({a} vs {b})")


def _heads(c: OpContext, hq, hkv) -> None:
    if isinstance(hq, int) and isinstance(hkv, int) and (hkv == 0 or hq % hkv):
        c.fail(f"query heads ({hq}) must be a multiple of key/value heads ({hkv})")


def _check_mask(c: OpContext, i: int, dt: DType, target: tuple, allow_short: bool) -> None:
    if not c.has(i):
        return
    m = c.tensor(i)
    if m.dtype not in (DType.BOOL, dt):
        c.fail(f"mask must be bool or {dt}, got {m.dtype}")
    dims = m.dims
    if allow_short and dims and isinstance(dims[-1], int) and isinstance(target[-1], int):
        if dims[-1] > target[-1]:
            c.fail(f"mask has {dims[-1]} key positions, more than {target[-1]}")
        dims = dims[:-1] + (target[-1],)
    if len(dims) > len(target):
        c.fail(f"mask of rank {m.rank} does not broadcast to rank {len(target)}")
    broadcast(c, target, dims)


@register_op
class Attention(OpDef):
    """ONNX Attention (opset 23): masks, causal flag, scale, softcap, GQA and KV cache."""

    name = "onnx.Attention"
    operands = ("Q", "K", "V", "attn_mask?", "past_key?", "past_value?")
    results = ("Y", "present_key?", "present_value?", "qk_matmul_output?")
    attrs = {
        "is_causal": Attr("int", 0, choices=(0, 1)),
        "q_num_heads": Attr("int", ABSENT),
        "kv_num_heads": Attr("int", ABSENT),
        "qk_matmul_output_mode": Attr("int", 0, choices=(0, 1, 2, 3)),
        "scale": Attr("float", ABSENT),
        "softcap": Attr("float", 0.0),
        "softmax_precision": Attr("dtype", ABSENT),
    }

    def _as_4d(self, c: OpContext):
        q, k, v = c.tensor(0), c.tensor(1), c.tensor(2)
        if not q.rank == k.rank == v.rank or q.rank not in (3, 4):
            c.fail(f"Q, K, V must all be 3-D or all 4-D, got ranks {q.rank}, {k.rank}, {v.rank}")
        if q.rank == 4:
            if "q_num_heads" in c.op.attrs or "kv_num_heads" in c.op.attrs:
                c.fail("q_num_heads/kv_num_heads are only for 3-D inputs")
            return q.dims, k.dims, v.dims
        hq, hkv = c.attr("q_num_heads", None), c.attr("kv_num_heads", None)
        if hq is None or hkv is None:
            c.fail("3-D inputs need q_num_heads and kv_num_heads")

        def split(dims, h, what):
            d = exact_div(dims[2], h) if dims[2] is not None else None
            if isinstance(dims[2], int) and d is None:
                c.fail(f"{what} hidden size {dims[2]} is not divisible by {h} heads")
            return (dims[0], h, dims[1], d)

        return split(q.dims, hq, "Q"), split(k.dims, hkv, "K"), split(v.dims, hkv, "V")

    def infer(self, c):
        dt = require_float(c, 0, "Q")
        for i in (1, 2, 4, 5):
            if c.has(i) and c.tensor(i).dtype != dt:
                c.fail(f"operand #{i} must be {dt}, got {c.tensor(i).dtype}")
        q, k, v = self._as_4d(c)
        _eq(c, q[0], k[0], "batch sizes of Q and K")
        _eq(c, k[0], v[0], "batch sizes of K and V")
        _eq(c, q[3], k[3], "head sizes of Q and K")
        _eq(c, k[1], v[1], "head counts of K and V")
        _eq(c, k[2], v[2], "sequence lengths of K and V")
        _heads(c, q[1], k[1])
        past = 0
        if c.has(4) != c.has(5):
            c.fail("past_key and past_value must be given together")
        if c.has(4):
            pk, pv = c.tensor(4), c.tensor(5)
            if pk.rank != 4 or pv.rank != 4:
                c.fail("past_key and past_value must be 4-D")
            _eq(c, pk.dims[2], pv.dims[2], "past sequence lengths")
            past = pk.dims[2]
        total = None if past is None or k[2] is None else past + k[2]
        _check_mask(c, 3, dt, (q[0], q[1], q[2], total), allow_short=True)
        if c.tensor(0).rank == 4:
            y = TensorType(dt, (q[0], q[1], q[2], v[3]))
        else:
            hidden = None if v[3] is None or q[1] is None else q[1] * v[3]
            y = TensorType(dt, (q[0], q[2], hidden))
        present_k = TensorType(dt, (k[0], k[1], total, k[3]))
        present_v = TensorType(dt, (v[0], v[1], total, v[3]))
        qk = TensorType(dt, (q[0], q[1], q[2], total))
        return [y, present_k, present_v, qk]

    def evaluate(self, c, q, k, v, mask=None, past_key=None, past_value=None):
        prec = c.attr("softmax_precision", None)
        y, pk, pv, qk = kernels.attention(
            q, k, v, mask,
            scale=c.attr("scale", None),
            causal=bool(c.attr("is_causal")),
            softcap=c.attr("softcap"),
            past_key=past_key,
            past_value=past_value,
            q_num_heads=c.attr("q_num_heads", None),
            kv_num_heads=c.attr("kv_num_heads", None),
            qk_mode=c.attr("qk_matmul_output_mode"),
            softmax_dtype=prec.numpy if prec is not None else None,
        )
        return (y, pk, pv, qk)[: len(c.op.results)]


@register_op
class NNAttention(OpDef):
    """Scaled dot-product attention; see the module docstring."""

    name = "nn.attention"
    operands = ("query", "key", "value", "mask?")
    attrs = {
        "scale": Attr("float"),
        "causal": Attr("bool", False),
        "softcap": Attr("float", 0.0),
    }

    def infer(self, c):
        dt = require_float(c, 0, "query")
        q, k, v = c.tensor(0), c.tensor(1), c.tensor(2)
        if not q.rank == k.rank == v.rank or q.rank not in (3, 4):
            c.fail(f"query, key, value must all be 3-D or all 4-D, got {q.rank}, {k.rank}, {v.rank}")
        if k.dtype != dt or v.dtype != dt:
            c.fail(f"key and value must be {dt}")
        qd, kd, vd = q.dims, k.dims, v.dims
        if q.rank == 3:
            qd, kd, vd = (qd[0], 1) + qd[1:], (kd[0], 1) + kd[1:], (vd[0], 1) + vd[1:]
        _eq(c, qd[0], kd[0], "batch sizes of query and key")
        _eq(c, kd[0], vd[0], "batch sizes of key and value")
        _eq(c, qd[3], kd[3], "head sizes of query and key")
        _eq(c, kd[1], vd[1], "head counts of key and value")
        _eq(c, kd[2], vd[2], "sequence lengths of key and value")
        _heads(c, qd[1], kd[1])
        if c.attr("softcap") < 0:
            c.fail("softcap must be >= 0")
        target = (qd[0], qd[1], qd[2], kd[2]) if q.rank == 4 else (qd[0], qd[2], kd[2])
        _check_mask(c, 3, dt, target, allow_short=False)
        return [TensorType(dt, q.dims[:-1] + (v.dims[-1],))]

    def evaluate(self, c, q, k, v, mask=None):
        three_d = q.ndim == 3
        if three_d:
            q, k, v = q[:, None], k[:, None], v[:, None]
            if mask is not None and mask.ndim == 3:
                mask = mask[:, None]
        y = kernels.attention(
            q, k, v, mask, scale=c.attr("scale"), causal=c.attr("causal"),
            softcap=c.attr("softcap"),
        )[0]
        return y[:, 0] if three_d else y

