"""Host ops around the kernels of residual adds and losses.

- ``host.stack(a, b, c?) {size}``: ``[..., M]`` each (``c`` may have a last axis of 1, broadcast)
  -> ``[..., k·size]``: each vector zero-padded to ``size`` entries, one slot after another (the
  input of a ``q.block.combine``).
- ``host.mse(p, norm) {alpha, features, reduction, dtype}``: ``p`` ``[...]`` the success
  probabilities of ``combine([I | −I])`` on ``[a; t]``, ``norm`` ``[...]`` = ``‖[a; t]‖``:
  ``‖a − t‖² = alpha² norm² p`` per row, summed (``sum``) or over rows × ``features``
  (``mean``).
- ``host.nll(p, target, weight?) {reduction, ignore_index?, dtype}``: ``p`` ``[N, d…, C]``
  class probabilities (the class axis last), ``target`` ``[N, d…]``: ONNX's
  NegativeLogLikelihoodLoss of ``log p`` (weights, ignored classes, reductions).

Each states how a standard error of its probability operand carries to its result
(``std_error``: the delta method), so a shot run reports the loss's error analytically.
"""

from __future__ import annotations

import numpy as np

from qlower.ir.dialects import kernels
from qlower.ir.dialects.losses import REDUCTIONS
from qlower.ir.dialects.quantum import _check_size, _f64, _last_dim, _require_float
from qlower.ir.opdef import ABSENT, Attr, OpDef, register_op
from qlower.ir.types import DType, TensorType


@register_op
class Stack(OpDef):
    """Vectors zero-padded to ``size`` entries each, one slot after another."""

    name = "host.stack"
    operands = ("a", "b", "c?")
    attrs = {"size": Attr("int")}

    def infer(self, c):
        lead, n = _last_dim(c, 0, "a")
        _require_float(c, 0, "a")
        size = c.attr("size")
        _check_size(c, n, size, "a")
        for i in range(1, 3 if c.has(2) else 2):
            t = c.tensor(i)
            if t.dtype != c.tensor(0).dtype:
                c.fail(f"operand #{i} must have a's element type {c.tensor(0).dtype}, got {t.dtype}")
            if t.dims[:-1] != lead or (t.dims[-1] != n and not (i == 2 and t.dims[-1] == 1)):
                c.fail(f"operand #{i} must have a's shape {c.tensor(0)}, got {t}")
        k = 3 if c.has(2) else 2
        return [TensorType(c.tensor(0).dtype, lead + (k * size,))]

    def evaluate(self, c, a, b, t=None):
        size = c.attr("size")
        parts = [a, b] + ([np.broadcast_to(t, a.shape)] if t is not None else [])
        out = np.zeros(a.shape[:-1] + (len(parts) * size,), dtype=a.dtype)
        for j, v in enumerate(parts):
            out[..., j * size: j * size + a.shape[-1]] = v
        return out


@register_op
class Mse(OpDef):
    """Mean (or summed) squared residual from the residual kernel's success probabilities."""

    name = "host.mse"
    operands = ("p", "norm")
    attrs = {"alpha": Attr("float"), "features": Attr("int"),
             "reduction": Attr("str", "mean", choices=("mean", "sum")),
             "dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        if c.tensor(0).dims != c.tensor(1).dims:
            c.fail(f"p and norm must have one shape, got {c.tensor(0)} and {c.tensor(1)}")
        if c.attr("features") < 1:
            c.fail(f"features must be >= 1, got {c.attr('features')}")
        return [TensorType(c.attr("dtype"), ())]

    def _weights(self, op, norm):
        """Each row's ‖a − t‖² per unit of p, over the element count for a mean (rows ×
        features: the rows are counted when the op runs, a batch may be symbolic)."""
        w = op.attr("alpha") ** 2 * norm.astype(np.float64) ** 2
        if op.attr("reduction") == "mean":
            w = w / max(norm.size * op.attr("features"), 1)
        return w

    def evaluate(self, c, p, norm):
        total = np.sum(self._weights(c.op, norm) * p)
        return np.asarray(total, dtype=c.attr("dtype").numpy)

    def std_error(self, op, values, se):
        """Rows are independent: the weighted sum's error."""
        if op.operand(0) not in se:
            return None
        w = self._weights(op, values[op.operand(1)])
        return np.asarray(np.sqrt(np.sum((w * se[op.operand(0)]) ** 2)))


@register_op
class Nll(OpDef):
    """Negative log-likelihood of class probabilities (class axis last), as ONNX weighs it."""

    name = "host.nll"
    operands = ("p", "target", "weight?")
    attrs = {"reduction": Attr("str", "mean", choices=REDUCTIONS),
             "ignore_index": Attr("int", ABSENT), "dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "p")
        t = c.tensor(1)
        if not t.dtype.is_int:
            c.fail(f"target must hold class indices, got {t.dtype}")
        if t.dims != lead:
            c.fail(f"target must have p's shape without the class axis {list(lead)}, got {t}")
        dims = () if c.attr("reduction") != "none" else lead
        return [TensorType(c.attr("dtype"), dims)]

    def evaluate(self, c, p, target, weight=None):
        with np.errstate(divide="ignore"):
            logp = np.moveaxis(np.log(p.astype(np.float64)), -1, 1) if p.ndim > 1 else np.log(p)
        loss = kernels.nll_loss(logp, target, weight, c.attr("reduction"),
                                c.attr("ignore_index", None))
        return np.asarray(loss, dtype=c.attr("dtype").numpy)

    def std_error(self, op, values, se):
        """``se(−log p_y) = se(p_y)/p_y`` per element; reductions weigh them as ONNX does."""
        if op.operand(0) not in se:
            return None
        p, target = values[op.operand(0)], values[op.operand(1)].astype(np.int64)
        err = se[op.operand(0)]
        ignore = op.attr("ignore_index", None)
        valid = np.ones(target.shape, bool) if ignore is None else target != ignore
        y = np.where(valid, target, 0)[..., None]
        with np.errstate(divide="ignore", invalid="ignore"):
            e = np.take_along_axis(err, y, -1)[..., 0] / np.take_along_axis(p, y, -1)[..., 0]
        weight = values.get(op.operand(2)) if op.operand(2) else None
        w = valid.astype(np.float64) if weight is None else np.where(valid, weight[y[..., 0]], 0)
        e = np.where(valid, e, 0) * w
        red = op.attr("reduction")
        if red == "none":
            return e
        total = np.sqrt(np.sum(e ** 2))
        return np.asarray(total / np.sum(w) if red == "mean" else total)


@register_op
class LnScale(OpDef):
    """``‖x‖ / √(σ² + ε)`` per row (``σ²`` the population variance of the last axis): the scale
    that turns the centring kernel's read-out into the normalised values."""

    name = "host.ln_scale"
    operands = ("x",)
    attrs = {"epsilon": Attr("float")}

    def verify(self, c):
        if not (np.isfinite(c.attr("epsilon")) and c.attr("epsilon") >= 0):
            c.fail(f"epsilon must be a finite number >= 0, got {c.attr('epsilon')!r}")

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        return [_f64(lead)]

    def evaluate(self, c, x):
        x = x.astype(np.float64)
        var = np.var(x, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.linalg.norm(x, axis=-1) / np.sqrt(var + c.attr("epsilon"))


@register_op
class Normalize(OpDef):
    """``y / √(σ²(x) + ε) + β``: a layer norm's values from the block-encoded ``W_c x`` of its
    dense lowering (``σ²`` the population variance of ``x``'s last axis)."""

    name = "host.normalize"
    operands = ("y", "x", "beta?")
    attrs = {"epsilon": Attr("float"), "dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        if c.tensor(0).dims != c.tensor(1).dims:
            c.fail(f"y and x must have one shape, got {c.tensor(0)} and {c.tensor(1)}")
        return [TensorType(c.attr("dtype"), c.tensor(0).dims)]

    def _inv(self, op, x):
        return 1 / np.sqrt(np.var(x.astype(np.float64), axis=-1, keepdims=True)
                           + op.attr("epsilon"))

    def evaluate(self, c, y, x, beta=None):
        out = y.astype(np.float64) * self._inv(c.op, x)
        if beta is not None:
            out = out + beta
        return out.astype(c.attr("dtype").numpy)

    def std_error(self, op, values, se):
        if op.operand(0) not in se:
            return None
        return np.abs(se[op.operand(0)] * self._inv(op, values[op.operand(1)]))


@register_op
class PairAngles(OpDef):
    """Angles preparing ``â'`` and ``t̂'`` (the pair shifted to non-negative entries) on two
    registers of ``size`` entries: the swap test's parameters (``qlower.blocks.swap_test``)."""

    name = "host.pair_angles"
    operands = ("a", "t")
    attrs = {"size": Attr("int")}

    def infer(self, c):
        lead, n = _last_dim(c, 0, "a")
        _require_float(c, 0, "a")
        if c.tensor(1).dims != c.tensor(0).dims:
            c.fail(f"a and t must have one shape, got {c.tensor(0)} and {c.tensor(1)}")
        _check_size(c, n, c.attr("size"), "a")
        return [_f64(lead + (2 * (max(c.attr("size"), 2) - 1),))]

    def evaluate(self, c, a, t):
        from qlower.blocks.swap_test import pair_angles

        return pair_angles(a, t, max(c.attr("size"), 2))


@register_op
class PairNorms(OpDef):
    """``‖a'‖`` and ``‖t'‖`` of the shifted pair (``[..., 2]``)."""

    name = "host.pair_norms"
    operands = ("a", "t")

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "a")
        return [_f64(lead + (2,))]

    def evaluate(self, c, a, t):
        from qlower.blocks.swap_test import shifted_pair

        x, y = shifted_pair(a, t)
        return np.stack([np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)], axis=-1)


@register_op
class MseSwap(OpDef):
    """MSE from swap-test fidelities: ``‖a − t‖² = ‖a'‖² + ‖t'‖² − 2‖a'‖‖t'‖√F`` per row."""

    name = "host.mse_swap"
    operands = ("F", "norms")
    attrs = {"features": Attr("int"), "reduction": Attr("str", "mean", choices=("mean", "sum")),
             "dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        if c.tensor(1).dims != c.tensor(0).dims + (2,):
            c.fail(f"norms must be F's shape with a last axis of 2, got {c.tensor(1)}")
        return [TensorType(c.attr("dtype"), ())]

    def _count(self, op, F) -> int:
        return max(F.size * op.attr("features"), 1) if op.attr("reduction") == "mean" else 1

    def evaluate(self, c, F, norms):
        na, nt = norms[..., 0], norms[..., 1]
        sq = na ** 2 + nt ** 2 - 2 * na * nt * np.sqrt(np.clip(F, 0.0, 1.0))
        return np.asarray(np.sum(sq) / self._count(c.op, F), dtype=c.attr("dtype").numpy)

    def std_error(self, op, values, se):
        """``d‖a − t‖²/dF = −‖a'‖‖t'‖/√F`` per row; rows independent."""
        if op.operand(0) not in se:
            return None
        F, norms = values[op.operand(0)], values[op.operand(1)]
        with np.errstate(divide="ignore", invalid="ignore"):
            g = norms[..., 0] * norms[..., 1] / np.sqrt(np.clip(F, 1e-300, 1.0))
        return np.asarray(np.sqrt(np.sum((g * se[op.operand(0)]) ** 2)) / self._count(op, F))
