"""A dense layer as a fitted variational circuit: ``q.block.variational``.

- ``q.block.variational(state, angles) {alpha, phase, flags, fidelity}``: the hardware-efficient
  ansatz of ``qlower.blocks.variational`` with the constant fitted ``angles``
  (``[L + 1, q, 2]``, q = flags + data qubits: flags most significant) applied to the state
  (on its low data qubits, flags |0⟩), times ``e^{i·phase}``; the amplitudes at flags = 0 are
  ``≈ W x̂ / alpha`` to the fit's ``fidelity`` (``alpha`` is the fit's scale). Its reference
  semantics apply the fitted circuit exactly (numpy), so a run reports the fit's true error.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.resources import Resources
from qlower.ir.dialects.quantum import QState, _qstate, _require_finite
from qlower.ir.opdef import Attr, OpDef, register_op


@register_op
class BlockVariational(OpDef):
    """A fitted hardware-efficient ansatz standing for a layer's block encoding."""

    name = "q.block.variational"
    operands = ("state", "angles")
    attrs = {"alpha": Attr("float"), "phase": Attr("float", 0.0), "flags": Attr("int", 1),
             "fidelity": Attr("float")}

    def verify(self, c):
        _require_finite(c, "alpha", "phase", "fidelity")
        if not c.attr("alpha") > 0:
            c.fail(f"alpha must be positive, got {c.attr('alpha')}")
        if not 0 <= c.attr("fidelity") <= 1 + 1e-9:
            c.fail(f"fidelity must be in [0, 1], got {c.attr('fidelity')}")
        if c.attr("flags") < 0:
            c.fail(f"flags must be >= 0, got {c.attr('flags')}")

    def infer(self, c):
        s = _qstate(c, 0)
        a = c.tensor(1)
        if a.rank != 3 or not a.is_static or a.dims[2] != 2 or a.dims[0] < 1:
            c.fail(f"angles must be a constant [L + 1, q, 2], got {a}")
        q = a.dims[1]
        data = q - c.attr("flags")
        if data < 1:
            c.fail(f"the ansatz has {q} qubits, no data qubit beside {c.attr('flags')} flags")
        extra = max(0, s.data - data)
        return [QState(s.shape, data, s.flags + c.attr("flags") + extra)]

    def evaluate(self, c, state, angles):
        from qlower.blocks.variational import hea_apply

        q = angles.shape[1]
        data = q - c.attr("flags")
        width = 1 << data
        lead = state.shape[:-1]
        rows = np.zeros((int(np.prod(lead, dtype=np.int64)), 1 << q), dtype=np.complex128)
        k = min(width, state.shape[-1])
        rows[:, :k] = state.reshape(-1, state.shape[-1])[:, :k]
        out = hea_apply(np.asarray(angles, np.float64), rows)[:, :width]
        return (out * np.exp(1j * c.attr("phase"))).reshape(*lead, width)

    def resources(self, op, weights) -> Resources:
        """The ansatz's closed-form count (``hea_resources``) for the angles' shape."""
        from qlower.blocks.variational import hea_resources

        a = np.asarray(weights)
        return hea_resources(int(a.shape[1]), int(a.shape[0]) - 1)


__all__ = ["BlockVariational"]
