"""Softmax as a quantum state: the ``q``/``host`` ops of the softmax lowerings.

- ``host.softmax_angles(s) {size, power}``: ``[..., L] -> [..., 2**ℓ]`` f64, the flag
  multiplexor's rotation angles of the exact softmax state for scores ``s``
  (``qlower.blocks.softmax``; ``-inf`` is a masked score: amplitude 0).
- ``q.encode.softmax(angles) {size, power, extra}``: the state
  ``Σ_k e^{power·(s_k − s_max)}/√L |k⟩|0⟩ + …|1⟩`` on ``ℓ`` data qubits and one flag. With
  ``power = 0.5`` its Born probabilities at flag = 0 are ``softmax(s)`` (read them with
  ``q.probabilities``), with success probability ``Σ e^{s − s_max}/L >= 1/L``; with ``power = 1``
  its amplitudes are ``∝ softmax(s)`` (attention's value kernel).
- ``host.qsp_softmax_angles(s) {size, range}``: ``[..., L] -> [..., 2·2**ℓ − 1]`` f64, the
  parameters of the QSP softmax state (``qlower.blocks.softmax_qsp``): the valid entries'
  indicator, then the signal angles of ``a_k = √(clip(1 + (s_k − max s)/range, 0, 1))``.
- ``q.encode.softmax_qsp(angles) {size, phases, range, poly_error, tv_bound}``: ``ℓ`` data qubits
  and two flags (signal, real part); Born probabilities at flags = 0 are softmax(s) within
  ``tv_bound`` in total variation (scores whose range is at most ``range``).
- ``host.qsp_activation_angles(x) {size, bound}``, ``q.encode.qsp_activation(angles) {size,
  phases, function, bound, error}``, ``host.qsp_values(psi) {K, shift, count}``: an activation
  ``f`` as the same QSP circuit on ``a = √((x + B)/(2B))`` (``qlower.blocks.qsp_activation``):
  ``f(x) ≈ K·√n·ψ − shift`` within ``error`` for ``|x| <= bound``.
"""

from __future__ import annotations

import math

import numpy as np

from qlower.blocks.resources import Resources
from qlower.ir.dialects.quantum import QState, _check_size, _f64, _last_dim, _require_float
from qlower.ir.opdef import ABSENT, Attr, OpDef, register_op
from qlower.ir.types import DType, TensorType


@register_op
class SoftmaxAngles(OpDef):
    """Rotation angles of the exact softmax state for the scores on the last axis."""

    name = "host.softmax_angles"
    operands = ("s",)
    attrs = {"size": Attr("int"), "power": Attr("float", ABSENT)}
    # a masked score is -inf: a circuit parameter only where it ends as the angle π
    infinite_inputs = True

    def infer(self, c):
        lead, n = _last_dim(c, 0, "scores")
        _require_float(c, 0, "scores")
        size = c.attr("size")
        _check_size(c, n, size, "scores")
        return [_f64(lead + (max(size, 2),))]

    def evaluate(self, c, s):
        from qlower.blocks.softmax import softmax_angles

        return softmax_angles(s, max(c.attr("size"), 2), c.attr("power", 0.5))


@register_op
class EncodeSoftmax(OpDef):
    """Prepare the exact softmax state from its angles (data: log2 size qubits, one flag)."""

    name = "q.encode.softmax"
    operands = ("angles",)
    # power 1/2: Born probabilities are softmax(s); 1: amplitudes ∝ softmax(s) (attention)
    attrs = {"size": Attr("int"), "power": Attr("float", ABSENT), "extra": Attr("int", ABSENT)}

    def infer(self, c):
        from qlower.blocks.softmax import index_qubits

        lead, k = _last_dim(c, 0, "angles")
        if c.tensor(0).dtype != DType.F64:
            c.fail(f"angles must be f64, got {c.tensor(0).dtype}")
        size = c.attr("size")
        _check_size(c, None, size, "angles")
        if c.attr("power", 0.5) not in (0.5, 1.0):
            c.fail(f"power must be 0.5 or 1.0, got {c.attr('power')}")
        ell = index_qubits(size)
        extra = c.attr("extra", 0)
        if isinstance(k, int) and k != (1 << ell) + extra:
            c.fail(f"size {size} takes {1 << ell} angles"
                   + (f" and {extra} more" if extra else "") + f", got {k}")
        return [QState(tuple(lead), ell, 1)]

    def evaluate(self, c, angles):
        from qlower.blocks.softmax import index_qubits, softmax_amplitudes

        size = max(c.attr("size"), 2)
        return softmax_amplitudes(angles[..., : 1 << index_qubits(size)], size)

    def resources(self, op, weights=None) -> Resources:
        from qlower.blocks.softmax import softmax_resources

        return softmax_resources(op.attr("size"))

    def summary(self, op) -> dict:
        """The cost table's method, success probability (its lower bound) and error."""
        from qlower.blocks.softmax import index_qubits

        return {"method": "softmax-exact",
                "success_probability": 1.0 / (1 << index_qubits(op.attr("size"))),
                "approximation": None}


@register_op
class QspSoftmaxAngles(OpDef):
    """Parameters of the QSP softmax state: indicator angles, then signal angles."""

    name = "host.qsp_softmax_angles"
    operands = ("s",)
    attrs = {"size": Attr("int"), "range": Attr("float")}
    infinite_inputs = True

    def verify(self, c):
        if not (np.isfinite(c.attr("range")) and c.attr("range") > 0):
            c.fail(f"range must be a positive number, got {c.attr('range')!r}")

    def infer(self, c):
        lead, n = _last_dim(c, 0, "scores")
        _require_float(c, 0, "scores")
        size = c.attr("size")
        _check_size(c, n, size, "scores")
        return [_f64(lead + (2 * max(size, 2) - 1,))]

    def evaluate(self, c, s):
        from qlower.blocks.softmax_qsp import qsp_softmax_angles

        return qsp_softmax_angles(s, max(c.attr("size"), 2), c.attr("range"))


@register_op
class EncodeSoftmaxQsp(OpDef):
    """The QSP softmax state: amplitudes ``f_d(a_k)/√n`` at flags = 0, ``f_d`` the polynomial of
    ``phases`` (``qlower.blocks.softmax_qsp``); ``poly_error`` (max |f_d − f|) and ``tv_bound``
    (total variation to softmax, scores within the range) are the plan's figures."""

    name = "q.encode.softmax_qsp"
    operands = ("angles",)
    attrs = {"size": Attr("int"), "phases": Attr("floats"), "range": Attr("float"),
             "poly_error": Attr("float"), "tv_bound": Attr("float"),
             "extra": Attr("int", ABSENT)}

    def verify(self, c):
        if len(c.attr("phases")) < 3 or len(c.attr("phases")) % 2 == 0:
            c.fail(f"phases must be an odd number (an even degree >= 2) of angles, got "
                   f"{len(c.attr('phases'))}")

    def infer(self, c):
        from qlower.blocks.softmax import index_qubits

        lead, k = _last_dim(c, 0, "angles")
        if c.tensor(0).dtype != DType.F64:
            c.fail(f"angles must be f64, got {c.tensor(0).dtype}")
        size = c.attr("size")
        _check_size(c, None, size, "angles")
        ell = index_qubits(size)
        extra = c.attr("extra", 0)
        if isinstance(k, int) and k != 2 * (1 << ell) - 1 + extra:
            c.fail(f"size {size} takes {2 * (1 << ell) - 1} angles"
                   + (f" and {extra} more" if extra else "") + f", got {k}")
        return [QState(tuple(lead), ell, 2)]

    def evaluate(self, c, angles):
        from qlower.blocks.softmax import index_qubits
        from qlower.blocks.softmax_qsp import qsp_softmax_amplitudes

        size = max(c.attr("size"), 2)
        own = 2 * (1 << index_qubits(size)) - 1
        return qsp_softmax_amplitudes(angles[..., :own], size, c.attr("phases"))

    def resources(self, op, weights=None) -> Resources:
        from qlower.blocks.softmax_qsp import qsp_softmax_resources

        return qsp_softmax_resources(op.attr("size"), len(op.attr("phases")) - 1)

    def summary(self, op) -> dict:
        from qlower.blocks.softmax import index_qubits

        c, delta = 0.9, op.attr("poly_error")
        return {"method": "softmax-qsp",
                "success_probability": (c - delta) ** 2 / (1 << index_qubits(op.attr("size"))),
                "approximation": {"degree": len(op.attr("phases")) - 1, "range": op.attr("range"),
                                  "poly_error": delta, "tv_bound": op.attr("tv_bound")}}


@register_op
class QspActivationAngles(OpDef):
    """Parameters of a QSP activation state: the valid entries' indicator, then the signal
    angles of ``a_k = √((clip(x_k, −B, B) + B)/(2B))``."""

    name = "host.qsp_activation_angles"
    operands = ("x",)
    attrs = {"size": Attr("int"), "bound": Attr("float")}

    def verify(self, c):
        if not (np.isfinite(c.attr("bound")) and c.attr("bound") > 0):
            c.fail(f"bound must be a positive number, got {c.attr('bound')!r}")

    def infer(self, c):
        lead, n = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        size = c.attr("size")
        _check_size(c, n, size, "input")
        return [_f64(lead + (2 * max(size, 2) - 1,))]

    def evaluate(self, c, x):
        from qlower.blocks.qsp_activation import signal_values
        from qlower.blocks.softmax_qsp import qsp_diagonal_angles

        size = max(c.attr("size"), 2)
        a = np.zeros(x.shape[:-1] + (size,))
        valid = np.zeros_like(a)
        a[..., : x.shape[-1]] = signal_values(x, c.attr("bound"))
        a[..., : x.shape[-1]] = np.where(np.isnan(x), np.nan, a[..., : x.shape[-1]])
        valid[..., : x.shape[-1]] = 1.0
        return qsp_diagonal_angles(a, valid, size)


@register_op
class EncodeQspActivation(OpDef):
    """A QSP state whose amplitudes at flags = 0 are ``h_d(a_k)/√n``, ``h_d`` the polynomial of
    ``phases`` approximating ``(f(x) + shift)/K`` (``qlower.blocks.qsp_activation``); ``error``
    is the plan's max |f_QSP − f| for inputs within ``bound``."""

    name = "q.encode.qsp_activation"
    operands = ("angles",)
    attrs = {"size": Attr("int"), "phases": Attr("floats"), "function": Attr("str"),
             "bound": Attr("float"), "error": Attr("float")}

    verify = EncodeSoftmaxQsp.verify
    infer = EncodeSoftmaxQsp.infer
    evaluate = EncodeSoftmaxQsp.evaluate
    resources = EncodeSoftmaxQsp.resources

    def summary(self, op) -> dict:
        from qlower.blocks.softmax import index_qubits

        return {"method": "qsp-activation",
                "success_probability": math.nan,  # h_d(a)² averaged: data-dependent
                "approximation": {"degree": len(op.attr("phases")) - 1, "function":
                                  op.attr("function"), "bound": op.attr("bound"),
                                  "error": op.attr("error"),
                                  "index_qubits": index_qubits(op.attr("size"))}}


@register_op
class QspValues(OpDef):
    """``y = K·√count·ψ − shift``: an activation's values from its QSP kernel's read-out."""

    name = "host.qsp_values"
    operands = ("psi",)
    attrs = {"K": Attr("float"), "shift": Attr("float"), "count": Attr("int"),
             "dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        return [TensorType(c.attr("dtype"), c.tensor(0).dims)]

    def _scale(self, op) -> float:
        return op.attr("K") * math.sqrt(op.attr("count"))

    def evaluate(self, c, psi):
        y = psi.astype(np.float64) * self._scale(c.op) - c.attr("shift")
        return y.astype(c.attr("dtype").numpy)

    def std_error(self, op, values, se):
        return se[op.operand(0)] * self._scale(op) if op.operand(0) in se else None


@register_op
class QspNormaliser(OpDef):
    """``Σ_k f_d(a_k) / √n`` per row: the sum of the amplitudes the QSP state gives the ``n``
    valid scores (``f_d`` the polynomial of ``phases``), which normalises attention's output."""

    name = "host.qsp_normaliser"
    operands = ("s",)
    attrs = {"size": Attr("int"), "range": Attr("float"), "phases": Attr("floats")}
    infinite_inputs = True

    def infer(self, c):
        lead, n = _last_dim(c, 0, "scores")
        _require_float(c, 0, "scores")
        _check_size(c, n, c.attr("size"), "scores")
        return [_f64(lead)]

    def evaluate(self, c, s):
        from qlower.blocks.qsp import qsp_value
        from qlower.blocks.softmax_qsp import signal_values

        a, valid = signal_values(s, max(c.attr("size"), 2), c.attr("range"))
        f = qsp_value(np.asarray(c.attr("phases")), np.nan_to_num(a).reshape(-1)).reshape(a.shape)
        count = np.sum(valid, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.sum(np.where(valid > 0, f, 0.0), axis=-1) / np.sqrt(count)
        return np.where(count > 0, total, 0.0)
