"""Numpy kernels shared by the ``onnx`` and ``nn`` dialects (the reference semantics).

Each follows ONNX's definition (and ``onnx.reference``) for the same op; results keep the
input's dtype.
"""

from __future__ import annotations

import math

import numpy as np

from qlower.ir.symbolic import Sym, SymbolicError, exact_div

_erf_ufunc = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """Error function, exact to double precision (no scipy needed)."""
    # frompyfunc gives a Python float, not an array, for a 0-d input
    return np.asarray(_erf_ufunc(x.astype(np.float64)), dtype=np.float64).astype(x.dtype)


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        k = x.dtype.type(math.sqrt(2.0 / math.pi))
        c = x.dtype.type(0.044715)
        half = x.dtype.type(0.5)
        return (half * x * (1 + np.tanh(k * (x + c * x * x * x)))).astype(x.dtype)
    return (x.dtype.type(0.5) * x * (1 + erf(x / x.dtype.type(math.sqrt(2.0))))).astype(x.dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        pos = 1 / (1 + np.exp(-x))
        e = np.exp(x)
        neg = e / (1 + e)
    return np.where(x >= 0, pos, neg).astype(x.dtype)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    if x.size == 0:
        return x.copy()
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)  # a +inf (or NaN) in a slice makes it NaN, as in ORT
    e = np.exp(x - m)
    return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    if x.size == 0:
        return x.copy()
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)  # a +inf (or NaN) in a slice makes it NaN, as in ORT
    s = x - m
    return (s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))).astype(x.dtype)


def layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray | None, axis: int, eps: float):
    """Returns (y, mean, inv_std_dev) with the reduced axes kept as size 1.

    As ONNX's stash_type=1: mean and inv_std_dev are computed and returned in float32 whatever
    x's type; the normalised values are cast back to x's type before scale and bias.
    """
    stash = np.float32
    xs = x.astype(stash)
    axes = tuple(range(axis, x.ndim))
    n = int(np.prod([x.shape[a] for a in axes]))
    mean = np.sum(xs, axis=axes, keepdims=True) / stash(n)
    d = xs - mean
    var = np.sum(d * d, axis=axes, keepdims=True) / stash(n)
    inv = 1 / np.sqrt(var + stash(eps))
    y = (d * inv).astype(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype), mean.astype(stash), inv.astype(stash)


def mean(x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """ReduceMean: the sum over ``axis`` divided by the count (integers summed in float64).

    The mean of no values is 0, as onnxruntime has it (ONNX leaves it undefined), without
    numpy's empty-slice warning.
    """
    n = int(np.prod([x.shape[a] for a in axis]))
    total = np.sum(x, axis=axis, keepdims=keepdims,
                   dtype=np.float64 if x.dtype.kind in "iub" else None)
    return total / total.dtype.type(max(n, 1))


def int_div(a, b):
    """ONNX integer Div (truncates toward zero), elementwise; exact on symbolic sizes."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        q = exact_div(a, b)
        if q is None:
            raise SymbolicError(f"{a} / {b} is not exact")
        return q
    a, b = int(a), int(b)
    if b == 0:
        raise ZeroDivisionError("integer division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


_int_div_ufunc = np.frompyfunc(int_div, 2, 1)


def divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype == object or b.dtype == object:
        return np.asarray(_int_div_ufunc(a, b), dtype=object)
    if a.dtype.kind in "iu":
        if np.any(b == 0):
            raise ZeroDivisionError("integer division by zero")
        q = np.floor_divide(np.abs(a), np.abs(b))
        return np.where((a < 0) != (b < 0), -q, q).astype(a.dtype)
    return np.divide(a, b).astype(a.dtype)


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    *,
    scale: float | None,
    causal: bool,
    softcap: float = 0.0,
    past_key: np.ndarray | None = None,
    past_value: np.ndarray | None = None,
    nonpad_kv_seqlen: np.ndarray | None = None,
    q_num_heads: int | None = None,
    kv_num_heads: int | None = None,
    qk_mode: int = 0,
    softmax_dtype: np.dtype | None = None,
    left_window: int = -1,
    right_window: int = -1,
):
    """ONNX Attention (opsets 23-25): returns (y, present_key, present_value, qk_output).

    4-D inputs are (batch, heads, seq, head_size); 3-D are (batch, seq, heads*head_size)
    with ``q_num_heads``/``kv_num_heads`` given. Grouped-query attention repeats each KV head.
    The bias added to the scores is the mask (bool: 0 / -inf; a mask shorter than the keys is
    padded with -inf), the causal frontier ``j <= i + offset`` and the sliding window around
    ``offset + i`` as -inf terms, and the padding of keys beyond ``nonpad_kv_seqlen``. The
    offset is the past length, or ``nonpad_kv_seqlen - q_len`` per batch without a past. A row
    whose bias is -inf at every key gives zeros (in ``y`` and in mode-3 probabilities).
    """
    three_d = q.ndim == 3
    if three_d:
        b = q.shape[0]

        def split(t: np.ndarray, heads: int) -> np.ndarray:
            return t.reshape(b, t.shape[1], heads, t.shape[2] // heads).transpose(0, 2, 1, 3)

        q = split(q, q_num_heads)
        k = split(k, kv_num_heads)
        v = split(v, kv_num_heads)
    dt = q.dtype
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[3])
    sq = dt.type(math.sqrt(scale))
    if past_key is not None:
        k = np.concatenate([past_key, k], axis=2)
    if past_value is not None:
        v = np.concatenate([past_value, v], axis=2)
    present_k, present_v = k, v
    lq, lk = q.shape[2], k.shape[2]
    neg = dt.type(-np.inf)
    bias = np.zeros((lq, lk), dtype=dt)
    if mask is not None and mask.ndim and mask.shape[-1] < lk:
        pad = [(0, 0)] * (mask.ndim - 1) + [(0, lk - mask.shape[-1])]
        mask = np.pad(mask, pad, constant_values=False if mask.dtype == np.bool_ else -np.inf)
    if mask is not None:
        bias = bias + (np.where(mask, dt.type(0), neg) if mask.dtype == np.bool_ else mask)
    if past_key is not None:
        offset = np.array(past_key.shape[2])
    elif nonpad_kv_seqlen is not None:
        offset = np.asarray(nonpad_kv_seqlen, np.int64).reshape(-1, 1, 1, 1) - lq
    else:
        offset = np.array(0)
    # position of query i relative to key j: (offset + i) - j, per batch where offset is
    diff = offset + np.arange(lq)[:, None] - np.arange(lk)[None, :]
    allowed = np.ones(diff.shape, dtype=bool)
    if causal:
        allowed &= diff >= 0
    if left_window >= 0:
        allowed &= diff <= left_window
    if right_window >= 0:
        allowed &= -diff <= right_window
    if causal or left_window >= 0 or right_window >= 0:
        bias = bias + np.where(allowed, dt.type(0), neg)
    if nonpad_kv_seqlen is not None:
        keep = np.arange(lk)[None, :] < np.asarray(nonpad_kv_seqlen).reshape(-1, 1)
        bias = bias + np.where(keep, dt.type(0), neg).reshape(-1, 1, 1, lk)
    hq, hk = q.shape[1], k.shape[1]
    if hq != hk:
        k = np.repeat(k, hq // hk, axis=1)
        v = np.repeat(v, hq // hk, axis=1)
    with np.errstate(all="ignore"):
        scores = np.matmul(q * sq, np.swapaxes(k, -1, -2) * sq)
        qk_out = scores  # mode 0: the QK matmul itself (before softcap), as onnxruntime does
        if softcap > 0:
            scores = (np.tanh(scores / dt.type(softcap)) * dt.type(softcap)).astype(dt)
        if qk_mode == 1:
            qk_out = scores  # after softcap, before the mask (onnxruntime and onnx.reference)
        with_bias = scores + bias
        if qk_mode == 2:
            qk_out = with_bias
        if softmax_dtype is not None:
            with_bias = with_bias.astype(softmax_dtype)
        probs = softmax(with_bias, -1)
        all_masked = np.isneginf(np.max(bias, axis=-1, keepdims=True)) if lk else True
        probs = np.where(all_masked, 0, probs).astype(dt)
        if qk_mode == 3:
            qk_out = probs
        y = np.matmul(probs, v).astype(dt)
    if three_d:
        y = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
    return y, present_k, present_v, qk_out.astype(dt)


def _class_weights(target: np.ndarray, weight, ignore_index, dtype) -> np.ndarray | None:
    if weight is not None:
        w = np.take(weight, np.clip(target, 0, weight.shape[0] - 1))
        if ignore_index is not None:
            w = np.where(target == ignore_index, 0, w)
        return w.astype(dtype)
    if ignore_index is not None:
        return (target != ignore_index).astype(dtype)
    return None


def nll_loss(logp: np.ndarray, target: np.ndarray, weight, reduction: str, ignore_index):
    """ONNX NegativeLogLikelihoodLoss; ``logp`` is (N, C, d1, ...), ``target`` (N, d1, ...)."""
    dt = logp.dtype
    n, c = logp.shape[0], logp.shape[1]
    flat_lp = logp.reshape(n, c, -1)
    flat_t = target.reshape(n, -1).astype(np.int64)
    valid = np.ones(flat_t.shape, dtype=bool) if ignore_index is None else flat_t != ignore_index
    if np.any((flat_t[valid] < 0) | (flat_t[valid] >= c)):
        bad = flat_t[valid][(flat_t[valid] < 0) | (flat_t[valid] >= c)][0]
        raise IndexError(f"target class {int(bad)} is out of range [0, {c})")
    safe_t = np.where(valid, flat_t, 0)
    picked = np.take_along_axis(flat_lp, safe_t[:, None, :], axis=1)[:, 0, :]
    loss = np.where(valid, -picked, 0).astype(dt).reshape(target.shape)
    w = _class_weights(target.astype(np.int64), weight, ignore_index, dt)
    if w is not None:
        loss = (loss * w).astype(dt)
        if reduction == "mean":
            return (np.sum(loss) / np.sum(w)).astype(dt)
    if reduction == "mean":
        return np.mean(loss).astype(dt)
    if reduction == "sum":
        return np.sum(loss).astype(dt)
    return loss


def softmax_cross_entropy(scores, target, weight, reduction: str, ignore_index):
    """ONNX SoftmaxCrossEntropyLoss: returns (loss, log_prob)."""
    logp = log_softmax(scores, 1)
    return nll_loss(logp, target, weight, reduction, ignore_index), logp
