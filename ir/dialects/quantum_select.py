"""A dense layer's bias and sign offset on a selector qubit: the ``host``/``q`` ops of the
selector form of ``lower-linear`` (``qlower/blocks/select.py`` derives it)::

    %p, %S, %tau = host.select_params(%x, %xi, %rownorms, %base?, %b?)
                       {kind, alpha, offset, size = 2**n, rows = M}
    %s0  = q.encode.amplitude(%p) {size = 2**(n+1), extra = K}
    %s1  = q.block.select(%s0, %W, %p) {method, alpha, threshold, first = 2**(n+1) - 1}
    %psi = q.readout(%s1) {size = M, nonnegative}
    %y   = host.rescale(%psi, %S, %one, %tau) {shift = 1.0}          y = S ψ − τ

- ``host.select_params(x, xi, rownorms, base?, b?) {kind, alpha, offset, size, rows}``: per
  row of ``x`` (``[..., N]``): the parameters ``[..., 2·size − 1 + K]`` (the preparation of
  ``[√(α‖x‖)·x̂ ; √α_c·ξ]``, then the tail's K), the scale ``S = α‖x‖ + α_c`` (``[...]``)
  and the offset ``τ = max(0, max_i(‖W_i‖‖x‖ − b_i))`` (``[..., 1]``; 0 without ``offset``).
  ``xi`` (the second branch's input), ``rownorms`` (‖W_i‖) and ``base`` (column kind: the
  block's column-0 angles) are constants of W; ``b`` the bias. ``rows`` is the output
  register's size ``2**q``.
- ``q.block.select(state, W, params) {method, alpha, threshold, first}``: the block encoding
  of W by ``method`` (fable, svd or dilation; ``alpha`` and ``threshold`` its plan) on the
  state's low ``2**n`` amplitudes, the second branch (the state's top qubit = 1) turned into
  ``c/α_c`` by the tail whose angles are ``params[..., first:]``, and the two branches added
  by undoing the selector's rotation (``params[..., 0]``). The selector and the block's flags
  are flags.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.resources import Resources
from qlower.ir.dialects.quantum import QState, _f64, _last_dim, _qstate, _require_finite
from qlower.ir.opdef import ABSENT, Attr, OpDef, register_op
from qlower.ir.types import TensorType

KIND_CHOICES = ("column", "singular")


@register_op
class SelectParams(OpDef):
    """The selector form's per-row parameters, scale and offset (``qlower.blocks.select``)."""

    name = "host.select_params"
    operands = ("x", "xi", "rownorms", "base?", "b?")
    results = ("params", "scale", "tau")
    attrs = {"kind": Attr("str"), "alpha": Attr("float"), "offset": Attr("bool", False),
             "size": Attr("int"), "rows": Attr("int")}

    def verify(self, c):
        _require_finite(c, "alpha")
        if c.attr("kind") not in KIND_CHOICES:
            c.fail(f"kind must be one of {', '.join(KIND_CHOICES)}, got {c.attr('kind')!r}")

    def tail(self, c) -> int:
        from qlower.blocks.select import tail_size

        rows = c.attr("rows")
        return tail_size(c.attr("kind"), max(0, (rows - 1).bit_length()))

    def infer(self, c):
        lead, n = _last_dim(c, 0, "x")
        size, rows = c.attr("size"), c.attr("rows")
        for key, v in (("size", size), ("rows", rows)):
            if v < 1 or v & (v - 1):
                c.fail(f"{key} must be a power of two, got {v}")
        if isinstance(n, int) and n > size:
            c.fail(f"x has {n} entries, more than size {size}")
        if not c.attr("alpha") > 0:
            c.fail(f"alpha must be positive, got {c.attr('alpha')}")
        xi, rn = c.tensor(1), c.tensor(2)
        if xi.dims != (size,):
            c.fail(f"xi must be a vector of {size} entries, got {xi}")
        if rn.rank != 1:
            c.fail(f"rownorms must be a vector, got {rn}")
        if c.has(3) != (c.attr("kind") == "column"):
            c.fail("base is given for the column kind, and only for it")
        if c.has(3) and c.tensor(3).dims != (rows,):
            c.fail(f"base must be a vector of {rows} entries, got {c.tensor(3)}")
        if c.has(4) and c.tensor(4).dims != rn.dims:
            c.fail(f"b must have rownorms' shape {list(rn.dims)}, got {c.tensor(4)}")
        if isinstance(rn.dims[0], int) and rn.dims[0] > rows:
            c.fail(f"rownorms has {rn.dims[0]} entries, more than rows {rows}")
        k = 2 * size - 1 + self.tail(c)
        return [_f64(lead + (k,)), _f64(lead), TensorType(c.tensor(0).dtype, lead + (1,))]

    def evaluate(self, c, x, xi, rownorms, base=None, b=None):
        from qlower.blocks.select import select_params

        rows = c.attr("rows")
        params, scale, tau = select_params(
            x, np.asarray(xi, np.float64), np.asarray(rownorms, np.float64),
            None if base is None else np.asarray(base, np.float64),
            None if b is None else np.asarray(b, np.float64), kind=c.attr("kind"),
            alpha=c.attr("alpha"), offset=c.attr("offset"), size=c.attr("size"),
            out_qubits=max(0, (rows - 1).bit_length()))
        return params, scale, tau.astype(x.dtype)


@register_op
class BlockSelect(OpDef):
    """The block of W beside a second branch that the tail turns into ``c/α_c``."""

    name = "q.block.select"
    operands = ("state", "W", "params")
    attrs = {"method": Attr("str"), "alpha": Attr("float"), "threshold": Attr("float", ABSENT),
             "first": Attr("int")}

    def entry(self, c_or_op):
        from qlower.blocks.registry import block_method

        return block_method(c_or_op.attr("method"))

    def op_params(self, op) -> dict:
        out = {"alpha": op.attr("alpha")}
        if op.attr("method") == "fable":
            out["threshold"] = op.attr("threshold", 0.0)
        return out

    def verify(self, c):
        from qlower.blocks.select import select_kind

        _require_finite(c, "alpha", "threshold")
        if select_kind(c.attr("method")) is None:
            c.fail(f"method {c.attr('method')!r} has no selector form (fable, svd, dilation)")
        if c.attr("threshold", 0.0) < 0:
            c.fail(f"threshold must be >= 0, got {c.attr('threshold')}")

    def infer(self, c):
        from qlower.blocks.select import select_kind, tail_size

        s = _qstate(c, 0)
        w = c.tensor(1)
        if w.rank != 2 or not w.is_static:
            c.fail(f"W must be a constant matrix of static shape, got {w}")
        if not c.attr("alpha") > 0:
            c.fail(f"alpha must be positive, got {c.attr('alpha')}")
        M, N = w.dims
        try:
            lay = self.entry(c).layout(M, N, self.op_params(c))
        except ValueError as e:
            c.fail(str(e))
        if s.data != lay.input + 1:
            c.fail(f"the state must have the block's {lay.input} input qubits and the "
                   f"selector ({lay.input + 1}), has {s.data}")
        lead, k = _last_dim(c, 2, "params")
        if tuple(lead) != tuple(s.shape):
            c.fail(f"params must have the state's sweep shape {list(s.shape)}, got {c.tensor(2)}")
        need = c.attr("first") + tail_size(select_kind(c.attr("method")), lay.output)
        if isinstance(k, int) and k < need:
            c.fail(f"params has {k} entries; the tail reads up to entry {need - 1}")
        return [QState(s.shape, lay.output, s.flags + lay.flags + 1)]

    def evaluate(self, c, state, w, params):
        from qlower.blocks.select import select_apply

        return select_apply(state, np.asarray(w, np.float64), c.attr("method"), self.op_params(c),
                            np.asarray(params, np.float64), c.attr("first"))

    def resources(self, op, weights) -> Resources:
        """The block of W (its registry entry's cost) and the tail with the selector's final
        rotation; the wide preparation is counted by ``q.encode.amplitude``."""
        from qlower.blocks.registry import as_matrix
        from qlower.blocks.select import select_constants, tail_resources

        W = as_matrix(weights)
        params = self.op_params(op)
        k = select_constants(W, op.attr("method"), params)
        block = self.entry(op).cost(W, params)
        tail = tail_resources(k.kind, k.in_qubits, k.out_qubits,
                              k.base if k.kind == "singular" else None)
        return Resources(block.qubits + 1, block.cnots + tail.cnots,
                         block.rotations + tail.rotations, block.depth + tail.depth,
                         block.single_qubit + tail.single_qubit, block.t_gates)


__all__ = ["BlockSelect", "SelectParams"]
