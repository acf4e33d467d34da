"""Scaled dot-product attention: ONNX's ``Attention`` (opsets 23-25) and the canonical ``nn.attention``.

``nn.attention(query, key, value, bias?, mask?) {scale, causal, softcap, fill, empty_rows}`` on
3-D ``[batch, seq, head_size]`` (one head) or 4-D ``[batch, heads, seq, head_size]`` tensors
(grouped-query when key/value have fewer heads, or one head shared through broadcasting)
computes, in the query's element type and in this order::

    S = (query · √scale) @ (key · √scale)ᵀ          (query @ keyᵀ · scale when scale <= 0)
    S = softcap · tanh(S / softcap)                  (when softcap > 0)
    S = S + bias                                     (bias: additive, any float values)
    S = where(mask, S, fill)                         (mask: bool, True keeps the score)
    S = S + (0 where key j <= query i, else -inf)    (when causal)
    P = softmax(S) over the keys;  result = P @ value

``bias`` and ``mask`` broadcast to the scores' shape by numpy's rules without changing it: a
size-1 axis repeats, nothing is padded (ONNX pads a short ``attn_mask`` of its ``Attention``;
``match-attention`` then leaves that op as it is). A query row whose keys are all excluded —
the additive terms (bias, causal, and ``fill = -inf`` where the mask is false) are -inf at
every key — gets ``NaN`` from the softmax with ``empty_rows = "nan"`` (what an expanded
softmax graph computes) or a zero row with ``empty_rows = "zero"`` (ONNX's ``Attention``);
``empty_rows = "nan_to_zero"`` sets every NaN probability to 0 (torch's sdpa guard
``where(isnan(P), 0, P)``), which for finite scores is the ``"zero"`` rule.
Each form the canonical passes produce is therefore exactly what the matched graph computes.
"""

from __future__ import annotations

import math

import numpy as np

from qlower.ir.dialects import kernels
from qlower.ir.dialects.shapes import broadcast, require_float
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import exact_div
from qlower.ir.types import DType, TensorType

EMPTY_ROWS = ("nan", "zero", "nan_to_zero")


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
    """ONNX Attention (opsets 23-25): masks, causal flag, scale, softcap, GQA, KV cache,
    ``nonpad_kv_seqlen`` (24) and sliding windows (25)."""

    name = "onnx.Attention"
    operands = ("Q", "K", "V", "attn_mask?", "past_key?", "past_value?", "nonpad_kv_seqlen?")
    results = ("Y", "present_key?", "present_value?", "qk_matmul_output?")
    attrs = {
        "is_causal": Attr("int", 0, choices=(0, 1)),
        "q_num_heads": Attr("int", ABSENT),
        "kv_num_heads": Attr("int", ABSENT),
        "qk_matmul_output_mode": Attr("int", 0, choices=(0, 1, 2, 3)),
        "scale": Attr("float", ABSENT),
        "softcap": Attr("float", 0.0),
        "softmax_precision": Attr("dtype", ABSENT),
        "left_window_size": Attr("int", ABSENT),
        "right_window_size": Attr("int", ABSENT),
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
        if c.has(6):
            if c.has(4):
                c.fail("nonpad_kv_seqlen cannot be combined with past_key/past_value")
            n = c.tensor(6)
            if n.dtype != DType.I64 or n.rank != 1:
                c.fail(f"nonpad_kv_seqlen must be a 1-D int64 tensor, got {n}")
            _eq(c, n.dims[0], q[0], "batch sizes of nonpad_kv_seqlen and Q")
        for key in ("left_window_size", "right_window_size"):
            if c.attr(key, -1) < -1:
                c.fail(f"{key} must be -1 or >= 0, got {c.attr(key)}")
        for key in ("scale", "softcap"):
            if not math.isfinite(c.attr(key, 0.0)):
                c.fail(f"{key} must be finite, got {c.attr(key)!r}")
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

    def evaluate(self, c, q, k, v, mask=None, past_key=None, past_value=None, nonpad=None):
        prec = c.attr("softmax_precision", None)
        y, pk, pv, qk = kernels.attention(
            q, k, v, mask,
            scale=c.attr("scale", None),
            causal=bool(c.attr("is_causal")),
            softcap=c.attr("softcap"),
            past_key=past_key,
            past_value=past_value,
            nonpad_kv_seqlen=nonpad,
            q_num_heads=c.attr("q_num_heads", None),
            kv_num_heads=c.attr("kv_num_heads", None),
            qk_mode=c.attr("qk_matmul_output_mode"),
            softmax_dtype=prec.numpy if prec is not None else None,
            left_window=c.attr("left_window_size", -1),
            right_window=c.attr("right_window_size", -1),
        )
        return (y, pk, pv, qk)[: len(c.op.results)]


@register_op
class NNAttention(OpDef):
    """Scaled dot-product attention with exact mask semantics; see the module docstring."""

    name = "nn.attention"
    operands = ("query", "key", "value", "bias?", "mask?")
    attrs = {
        "scale": Attr("float"),
        "causal": Attr("bool", False),
        "softcap": Attr("float", 0.0),
        "fill": Attr("float", -math.inf),
        "empty_rows": Attr("str", "nan", choices=EMPTY_ROWS),
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
        for key in ("scale", "softcap"):
            if not math.isfinite(c.attr(key)):
                c.fail(f"{key} must be finite, got {c.attr(key)!r}")
        if c.attr("softcap") < 0:
            c.fail("softcap must be >= 0")
        if math.isnan(c.attr("fill")) or c.attr("fill") == math.inf:
            c.fail(f"fill must be a number or -inf, got {c.attr('fill')!r}")
        scores = q.dims[:-1] + (k.dims[-2],)
        if c.has(3):
            b = c.tensor(3)
            if b.dtype != dt:
                c.fail(f"bias must be {dt}, got {b.dtype}")
            _broadcasts_into(c, b.dims, scores, "bias")
        if c.has(4):
            m = c.tensor(4)
            if m.dtype != DType.BOOL:
                c.fail(f"mask must be bool, got {m.dtype}")
            _broadcasts_into(c, m.dims, scores, "mask")
        return [TensorType(dt, q.dims[:-1] + (v.dims[-1],))]

    def evaluate(self, c, q, k, v, bias=None, mask=None):
        return sdpa(q, k, v, bias, mask, scale=c.attr("scale"), causal=c.attr("causal"),
                    softcap=c.attr("softcap"), fill=c.attr("fill"),
                    empty_rows=c.attr("empty_rows"))


def _broadcasts_into(c: OpContext, dims: tuple, target: tuple, what: str) -> None:
    """``dims`` broadcasts to ``target`` without changing it (numpy's rules, one way)."""
    if len(dims) > len(target):
        c.fail(f"{what} of rank {len(dims)} does not broadcast to the scores' rank {len(target)}")
    for i, d in enumerate(dims):
        t = target[len(target) - len(dims) + i]
        if d == 1 or (d is not None and d == t):
            continue
        c.fail(f"{what} dimension {d} does not broadcast to the scores' dimension {t} "
               f"(axis {i - len(dims)})")


def sdpa(q, k, v, bias, mask, *, scale: float, causal: bool, softcap: float, fill: float,
         empty_rows: str) -> np.ndarray:
    """``softmax(S) @ v`` with ``S`` built as the module docstring says, in q's dtype."""
    dt = q.dtype
    if q.ndim == 4 and k.shape[1] not in (1, q.shape[1]):
        k = np.repeat(k, q.shape[1] // k.shape[1], axis=1)
        v = np.repeat(v, q.shape[1] // v.shape[1], axis=1)
    kt = np.swapaxes(k, -1, -2)
    with np.errstate(all="ignore"):
        if scale > 0:
            root = dt.type(math.sqrt(scale))
            s = np.matmul(q * root, kt * root)
        else:
            s = np.matmul(q, kt) * dt.type(scale)
        if softcap > 0:
            s = np.tanh(s / dt.type(softcap)) * dt.type(softcap)
        if bias is not None:
            s = s + bias
        if mask is not None:
            s = np.where(mask, s, dt.type(fill))
        lq, lk = s.shape[-2:]
        allowed = np.arange(lk)[None, :] <= np.arange(lq)[:, None]
        if causal:
            s = s + np.where(allowed, dt.type(0), dt.type(-np.inf))
        p = kernels.softmax(s.astype(dt), -1)
        if empty_rows == "nan_to_zero":
            p = np.where(np.isnan(p), dt.type(0), p)
        if empty_rows == "zero":
            # the additive terms that exclude keys; a row where they are all -inf is empty
            t = np.zeros(s.shape, dt)
            if bias is not None:
                t = t + bias
            if mask is not None and fill == -math.inf:
                t = t + np.where(mask, dt.type(0), dt.type(-np.inf))
            if causal:
                t = t + np.where(allowed, dt.type(0), dt.type(-np.inf))
            empty = np.isneginf(np.max(t, axis=-1, keepdims=True)) if lk else \
                np.ones(t.shape[:-1] + (1,), bool)
            p = np.where(empty, dt.type(0), p)
        return np.matmul(p, v).astype(dt)
