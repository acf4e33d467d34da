"""Attention as kernels: the ``host``/``q`` ops of ``nn.attention``'s quantum lowering.

``q``, ``k`` and ``v`` are activations, so their block encodings are data: a FABLE block whose
angles the host computes per matrix (``qlower.blocks.fable_data``) and which stay circuit
parameters. A kernel's parameters are one host value (``host.concat_params``: the state
preparation's angles, then the block's, repeated for every query row); each ``q`` op reads its
own slice, from entry ``first``.

- ``host.data_fable(A) {offset, shift, transpose}``: ``A`` ``[..., M, N]`` (``transpose``: the
  block encodes ``Aᵀ``) -> ``(angles [..., 2**(m+n)], alpha [...], kappa [...])``. ``offset``
  appends a column ``κ·1`` (``κ = max|A|``; ``[A | κ1]`` on ``[x; t]`` makes every output
  non-negative), ``shift`` adds ``c = max|A|`` to every entry (``(A + c)ᵀ p = Aᵀp + c`` for a
  probability vector ``p``); ``kappa`` is that ``κ`` or ``c`` (0 without either). ``alpha`` is
  the block's scale: its flag-0 block is the encoded matrix over ``alpha``.
- ``host.data_offset(x, A)``: ``x`` ``[..., L, N]``, ``A`` ``[..., M, N]`` -> ``[..., L, 1]``,
  ``t = max_j ‖A_j‖ / max|A| · ‖x‖``: the entry that makes ``[A | κ1][x; t] >= 0``.
- ``host.concat_params(a, b)``: ``a`` ``[..., L, P]``, ``b`` ``[..., Q]`` (its leading axes
  broadcast to ``a``'s without the row axis) -> ``[..., L, P + Q]``.
- ``host.rescale_rows(psi, norm, alpha, kappa?, t?) {dtype}``: ``psi [..., L, M]``,
  ``norm [..., L]``, ``alpha``/``kappa`` per matrix ``[...]`` (broadcast over the rows),
  ``t [..., L, 1]``: ``y = ψ·norm·alpha − kappa·t``.
- ``host.attention_scores(raw, bias?, mask?) {scale, causal, softcap, fill}``: the scores of
  ``nn.attention`` from ``raw = q·kᵀ`` (its module docstring's rule, in float64).
- ``host.softmax_normaliser(s)``: ``Z = Σ_j e^{s_j − max s}`` (0 for a row of ``-inf``).
- ``host.attention_output(phi, z, alpha, c) {size, empty_rows, dtype}``: ``o = alpha·√size·φ/Z
  − c``; a row with ``Z = 0`` (every key excluded) is NaN (``empty_rows = "nan"``) or 0.
- ``q.block.data_fable(state, params) {rows, cols, first}``: the data FABLE block whose angles
  are ``params[..., first : first + 2**(m+n)]``; amplitudes at flags = 0 become the decoded
  ``rows × cols`` block applied to the state's low ``2**n`` amplitudes.
"""

from __future__ import annotations

import math

import numpy as np

from qlower.blocks.resources import Resources
from qlower.ir.dialects.attention import EMPTY_ROWS
from qlower.ir.dialects.quantum import QState, _f64, _last_dim, _qstate, _require_float
from qlower.ir.opdef import Attr, OpDef, register_op
from qlower.ir.types import DType, TensorType


def _matrix_lead(c, i: int, what: str) -> tuple:
    t = c.tensor(i)
    if t.rank < 2:
        c.fail(f"{what} must have rank >= 2, got {t}")
    return t.dims[:-2]


def encoded_shape(M: int, N: int, offset: bool, transpose: bool) -> tuple[int, int]:
    """The rows and columns of the matrix ``host.data_fable`` encodes."""
    rows, cols = (N, M) if transpose else (M, N)
    return rows, cols + int(offset)


@register_op
class DataFable(OpDef):
    """FABLE angles, scale and offset of data matrices (the last two axes)."""

    name = "host.data_fable"
    operands = ("A",)
    results = ("angles", "alpha", "kappa")
    attrs = {"offset": Attr("bool", False), "shift": Attr("bool", False),
             "transpose": Attr("bool", False)}

    def infer(self, c):
        from qlower.blocks.fable_data import data_layout

        lead = _matrix_lead(c, 0, "A")
        _require_float(c, 0, "A")
        M, N = c.tensor(0).dims[-2:]
        if not (isinstance(M, int) and isinstance(N, int)):
            c.fail(f"A's matrix shape must be known, got {c.tensor(0)}")
        if c.attr("offset") and c.attr("shift"):
            c.fail("offset and shift are two ways to one end: choose one")
        m, n = data_layout(*encoded_shape(M, N, c.attr("offset"), c.attr("transpose")))
        return [_f64(lead + (1 << (m + n),)), _f64(lead), _f64(lead)]

    def evaluate(self, c, a):
        from qlower.blocks.fable_data import data_fable_angles, data_layout

        a = a.astype(np.float64)
        if c.attr("transpose"):
            a = np.swapaxes(a, -1, -2)
        top = np.max(np.abs(a), axis=(-2, -1)) if a.size else np.zeros(a.shape[:-2])
        kappa = np.zeros(a.shape[:-2])
        if c.attr("offset"):
            kappa = top
            a = np.concatenate([a, np.broadcast_to(top[..., None, None], a.shape[:-1] + (1,))], -1)
        elif c.attr("shift"):
            kappa = top
            a = a + top[..., None, None]
        angles, scale = data_fable_angles(a)
        m, n = data_layout(*a.shape[-2:])
        return angles, scale * 2.0 ** ((m + n) / 2), kappa


@register_op
class DataOffset(OpDef):
    """``t = max_j ‖A_j‖ / max|A| · ‖x‖`` per row of ``x``: makes ``[A | κ1][x; t] >= 0``."""

    name = "host.data_offset"
    operands = ("x", "A")

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "x")
        _matrix_lead(c, 1, "A")
        return [TensorType(c.tensor(0).dtype, lead + (1,))]

    def evaluate(self, c, x, a):
        a = a.astype(np.float64)
        top = np.max(np.abs(a), axis=(-2, -1))
        rows = np.max(np.linalg.norm(a, axis=-1), axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            bound = np.where(top > 0, rows / np.where(top > 0, top, 1), 0.0)
        t = bound[..., None, None] * np.linalg.norm(x.astype(np.float64), axis=-1, keepdims=True)
        return t.astype(x.dtype)


@register_op
class ConcatParams(OpDef):
    """Per-row parameters ``a`` followed by per-matrix parameters ``b`` (repeated per row)."""

    name = "host.concat_params"
    operands = ("a", "b")

    def infer(self, c):
        lead, p = _last_dim(c, 0, "a")
        blead, q = _last_dim(c, 1, "b")
        for t, what in ((c.tensor(0), "a"), (c.tensor(1), "b")):
            if t.dtype != DType.F64:
                c.fail(f"{what} must be f64 angles, got {t.dtype}")
        if len(blead) != len(lead) - 1:
            c.fail(f"b must have a's leading axes without the row axis, got {c.tensor(1)} for "
                   f"{c.tensor(0)}")
        size = p + q if isinstance(p, int) and isinstance(q, int) else None
        return [_f64(lead + (size,))]

    def evaluate(self, c, a, b):
        b = np.broadcast_to(b[..., None, :], a.shape[:-1] + (b.shape[-1],))
        return np.ascontiguousarray(np.concatenate([a, b], axis=-1))


@register_op
class RescaleRows(OpDef):
    """``ψ·norm·alpha − kappa·t`` with a scale per matrix broadcast over its rows."""

    name = "host.rescale_rows"
    operands = ("psi", "norm", "alpha", "kappa?", "t?")
    attrs = {"dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "psi")
        if c.tensor(1).rank != len(lead):
            c.fail(f"norm must have psi's leading shape, got {c.tensor(1)}")
        for i in (2, 3):
            if c.has(i) and c.tensor(i).rank != len(lead) - 1:
                c.fail(f"operand #{i} must have one entry per matrix (rank {len(lead) - 1}), "
                       f"got {c.tensor(i)}")
        if c.has(3) != c.has(4):
            c.fail("kappa and t come together")
        return [TensorType(c.attr("dtype"), c.tensor(0).dims)]

    def evaluate(self, c, psi, norm, alpha, kappa=None, t=None):
        y = psi.astype(np.float64) * norm.astype(np.float64)[..., None] * alpha[..., None, None]
        if kappa is not None:
            y = y - kappa[..., None, None] * t.astype(np.float64)
        return y.astype(c.attr("dtype").numpy)


@register_op
class AttentionScores(OpDef):
    """The scores of ``nn.attention`` from ``raw = q·kᵀ``: scale, soft cap, bias, mask, causal."""

    name = "host.attention_scores"
    operands = ("raw", "bias?", "mask?")
    attrs = {"scale": Attr("float"), "causal": Attr("bool", False),
             "softcap": Attr("float", 0.0), "fill": Attr("float", -math.inf)}

    def infer(self, c):
        _require_float(c, 0, "raw")
        return [c.tensor(0)]

    def evaluate(self, c, raw, bias=None, mask=None):
        dt = raw.dtype
        with np.errstate(all="ignore"):
            s = raw.astype(np.float64) * abs(c.attr("scale"))
            if c.attr("scale") < 0:
                s = -s
            if c.attr("softcap") > 0:
                s = np.tanh(s / c.attr("softcap")) * c.attr("softcap")
            if bias is not None:
                s = s + bias
            if mask is not None:
                s = np.where(mask, s, c.attr("fill"))
            if c.attr("causal"):
                lq, lk = s.shape[-2:]
                allowed = np.arange(lk)[None, :] <= np.arange(lq)[:, None]
                s = s + np.where(allowed, 0.0, -np.inf)
        return s.astype(dt)


@register_op
class SoftmaxNormaliser(OpDef):
    """``Z = Σ_j e^{s_j − max s}`` per row (0 where every score is ``-inf``)."""

    name = "host.softmax_normaliser"
    operands = ("s",)
    infinite_inputs = True

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "scores")
        return [_f64(lead)]

    def evaluate(self, c, s):
        s = s.astype(np.float64)
        with np.errstate(invalid="ignore"):
            m = np.max(s, axis=-1, keepdims=True)
            m = np.where(np.isneginf(m), 0.0, m)
            return np.sum(np.exp(s - m), axis=-1)


@register_op
class AttentionOutput(OpDef):
    """``o = alpha·√size·φ / Z − c``: the attention output from the value kernel's read-out."""

    name = "host.attention_output"
    operands = ("phi", "z", "alpha", "c")
    attrs = {"size": Attr("int"), "empty_rows": Attr("str", "nan", choices=EMPTY_ROWS),
             "dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "phi")
        if c.tensor(1).rank != len(lead):
            c.fail(f"z must have phi's leading shape, got {c.tensor(1)}")
        return [TensorType(c.attr("dtype"), c.tensor(0).dims)]

    def evaluate(self, c, phi, z, alpha, shift):
        a = alpha[..., None, None] * math.sqrt(c.attr("size"))
        with np.errstate(invalid="ignore", divide="ignore"):
            o = phi.astype(np.float64) * a / z[..., None] - shift[..., None, None]
        empty = (z == 0)[..., None]
        o = np.where(empty, np.nan if c.attr("empty_rows") == "nan" else 0.0, o)
        return o.astype(c.attr("dtype").numpy)

    def std_error(self, op, values, se):
        if op.operand(0) not in se:
            return None
        alpha, z = values[op.operand(2)], values[op.operand(1)]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.abs(se[op.operand(0)] * alpha[..., None, None]
                          * math.sqrt(op.attr("size")) / z[..., None])


@register_op
class BlockDataFable(OpDef):
    """A FABLE block whose angles are data: ``params[..., first : first + 2**(m+n)]``."""

    name = "q.block.data_fable"
    operands = ("state", "params")
    attrs = {"rows": Attr("int"), "cols": Attr("int"), "first": Attr("int", 0)}

    def layout(self, c):
        from qlower.blocks.fable_data import data_layout

        if c.attr("rows") < 1 or c.attr("cols") < 1:
            c.fail(f"rows and cols must be >= 1, got {c.attr('rows')}x{c.attr('cols')}")
        return data_layout(c.attr("rows"), c.attr("cols"))

    def infer(self, c):
        s = _qstate(c, 0)
        lead, k = _last_dim(c, 1, "params")
        m, n = self.layout(c)
        if tuple(lead) != tuple(s.shape):
            c.fail(f"params must have the state's sweep shape {list(s.shape)}, got {c.tensor(1)}")
        if isinstance(k, int) and k < c.attr("first") + (1 << (m + n)):
            c.fail(f"params has {k} entries; the block reads {1 << (m + n)} from entry "
                   f"{c.attr('first')}")
        # as a constant block: extra input qubits stay flags, the flag and C register are flags
        extra = max(0, s.data - n)
        return [QState(s.shape, m, s.flags + extra + 1 + n)]

    def evaluate(self, c, state, params):
        from qlower.blocks.fable_data import data_fable_matrix, data_layout

        M, N = c.attr("rows"), c.attr("cols")
        m, n = data_layout(M, N)
        first = c.attr("first")
        block = data_fable_matrix(params[..., first: first + (1 << (m + n))], M, N)
        width = 1 << n
        if state.shape[-1] < width:
            state = np.concatenate(
                [state, np.zeros(state.shape[:-1] + (width - state.shape[-1],), state.dtype)], -1)
        return np.einsum("...ij,...j->...i", block, state[..., :width])

    def resources(self, op, weights=None) -> Resources:
        from qlower.blocks.fable_data import data_fable_resources

        return data_fable_resources(op.attr("rows"), op.attr("cols"))
