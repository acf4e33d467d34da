"""Amplified kernels: ``q.amplify`` and the reference-row read-back ``host.reference_rescale``
(``qlower/blocks/amplify.py`` derives both; ``lower-linear --amplify`` builds them)::

    %t   = host.offset(%xa) {bound = B}                  t = B‖x'‖
    %xs  = host.append(%xa, %t)                          x″ = [x'; t]
    %ang = host.amplitude_angles(%xs) {size = 2**n}
    %s0  = q.encode.amplitude(%ang) {size = 2**n}
    %s1  = q.block.<method>(%s0, %W3) {alpha}            W‴ = [[W', κ1], [0, κ1_R]]
    %s2  = q.amplify(%s1) {kind, phases, bound, delta}
    %p   = q.probabilities(%s2) {size = M + R}
    %y   = host.reference_rescale(%p, %t) {rows = M, scale = κ}   y = κt(√(R p_i/P_ref) − 1)

- ``q.amplify(state) {kind, phases, bound, delta}``: the sequence of ``qlower.blocks.amplify``
  (A; per round ``S_g(φ_g)``, A†, ``S_0(φ_0)``, A — A being every op of the kernel before
  this one, preparation included) with ``phases = (φ_g,1, φ_0,1, φ_g,2, …)``; ``kind`` says
  where they came from (``fixed-point``: Yoder–Low–Chuang for a success probability of at
  least ``bound`` to error ``delta``; ``qsvt``). Semantics: the amplitudes at flags = 0
  times ``c(p)/√p`` (``p`` their squared norm, ``c`` the 2×2 algebra of
  ``sequence_amplitude``): same direction, new norm ``√P(p)``. Its resources are the
  reflections; ``qlower.kernel_costs.amplified_kernel_resources`` counts the ``2l + 1``
  copies of A.
- ``host.reference_rescale(p, t) {rows, scale, dtype}``: ``p`` the conditional probabilities
  of all ``rows + R`` outputs, ``t`` the offset (``[..., 1]``): ``y_i = κt(√(R·p_i/P_ref) −
  1)`` for ``i < rows``, ``P_ref`` the total of the last R. The ratio needs neither ‖x″‖ nor
  the success probability, so it reads an amplified kernel whose norm amplification has
  changed; standard errors by the delta method (``reference_std_error``).
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.resources import ZERO, Resources
from qlower.ir.dialects.quantum import _last_dim, _qstate, _require_finite
from qlower.ir.opdef import Attr, OpDef, register_op
from qlower.ir.types import DType, TensorType

AMPLIFY_KINDS = ("fixed-point", "qsvt")


@register_op
class Amplify(OpDef):
    """Amplitude amplification of the kernel so far: same post-selected direction, new norm."""

    name = "q.amplify"
    operands = ("state",)
    attrs = {"kind": Attr("str", choices=AMPLIFY_KINDS), "phases": Attr("floats"),
             "bound": Attr("float", 0.0), "delta": Attr("float", 0.0)}

    def verify(self, c):
        _require_finite(c, "bound", "delta")
        ph = c.attr("phases")
        if len(ph) % 2:
            c.fail(f"phases must come in (good, zero) pairs, got {len(ph)} numbers")
        if not all(np.isfinite(ph)):
            c.fail("phases must be finite")
        if not 0 <= c.attr("bound") <= 1:
            c.fail(f"bound must lie in [0, 1], got {c.attr('bound')}")

    def infer(self, c):
        s = _qstate(c, 0)
        if s.flags < 1:
            c.fail("an amplified state needs flags (a good subspace to amplify)")
        return [s]

    def rounds(self, op) -> int:
        return len(op.attr("phases")) // 2

    def evaluate(self, c, state):
        from qlower.blocks.amplify import sequence_amplitude

        psi = np.asarray(state, dtype=np.complex128)
        p = np.sum(np.abs(psi) ** 2, axis=-1)
        amp = sequence_amplitude(np.reshape(c.attr("phases"), (-1, 2)), p)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = np.where(p > 0, amp / np.sqrt(np.where(p > 0, p, 1.0)), 0.0)
        return psi * k[..., None]

    def resources(self, op, weights=None) -> Resources:
        """The l reflections on the flags and the l on every qubit (the copies of A are the
        kernel's: ``qlower.kernel_costs.amplified_kernel_resources``)."""
        from qlower.blocks.amplify import amplified_resources

        s = op.result().type
        r = amplified_resources(ZERO, self.rounds(op), s.flags, s.qubits)
        return Resources(s.qubits, r.cnots, r.rotations, r.depth, r.single_qubit, r.t_gates)


@register_op
class ReferenceRescale(OpDef):
    """y = κt(√(R p_i / P_ref) − 1): outputs from their ratio to R reference rows reading κt."""

    name = "host.reference_rescale"
    operands = ("p", "t")
    attrs = {"rows": Attr("int"), "scale": Attr("float"), "dtype": Attr("dtype", DType.F32)}

    def verify(self, c):
        _require_finite(c, "scale")
        if not c.attr("scale") > 0:
            c.fail(f"scale must be positive, got {c.attr('scale')}")
        if c.attr("rows") < 1:
            c.fail(f"rows must be >= 1, got {c.attr('rows')}")

    def infer(self, c):
        lead, k = _last_dim(c, 0, "p")
        rows = c.attr("rows")
        if isinstance(k, int) and k <= rows:
            c.fail(f"p has {k} entries: no reference row after the {rows} outputs")
        t = c.tensor(1)
        if t.rank != len(lead) + 1 or t.dims[-1] != 1:
            c.fail(f"t must have p's leading shape and a last axis of 1, got {t}")
        if not c.attr("dtype").is_float:
            c.fail(f"dtype must be a float type, got {c.attr('dtype')}")
        return [TensorType(c.attr("dtype"), tuple(lead) + (rows,))]

    def evaluate(self, c, p, t):
        from qlower.blocks.amplify import reference_readback

        y = reference_readback(p, t, c.attr("rows"), c.attr("scale"))
        return y.astype(c.attr("dtype").numpy)

    def std_error(self, op, values, se):
        """The delta method on the ratio (``qlower.blocks.amplify.reference_std_error``)."""
        from qlower.blocks.amplify import reference_std_error

        if op.operand(0) not in se:
            return None
        return reference_std_error(values[op.operand(0)], se[op.operand(0)],
                                   values[op.operand(1)], op.attr("rows"), op.attr("scale"))


__all__ = ["AMPLIFY_KINDS", "Amplify", "ReferenceRescale"]
