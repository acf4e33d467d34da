"""A dense layer as a fitted variational circuit: ``q.block.variational``.

- ``q.block.variational(state, angles) {alpha, phase, flags, fidelity}``: the hardware-efficient
  ansatz of ``qlower.blocks.variational`` with the constant fitted ``angles``
  (``[L + 1, q, 2]``, q = flags + data qubits: flags most significant) applied to the state
  (on its low data qubits, flags |0⟩), times ``e^{i·phase}``; the amplitudes at flags = 0 are
  ``≈ W x̂ / alpha`` to the fit's ``fidelity`` (``alpha`` is the fit's scale). Its reference
  semantics apply the fitted circuit exactly (numpy), so a run reports the fit's true error.
  ``rows`` (absent: the basis inputs) says how many calibration rows it was fitted on and
  ``held_out`` the fidelity on the held-out ones (absent: none were held out).

Variational state preparation (``--prep variational``, ``passes/variational_prep.py``)::

    %p, %F = host.hea_angles(%x) {size = 2**n, layers = L, min_fidelity, node}
    %s0    = q.encode.variational(%p) {size = 2**n, layers = L}

- ``host.hea_angles(x) {size, layers, min_fidelity, node}``: ``[..., N]`` -> the parameters
  ``[..., 1 + 2n(L + 1)]`` of ``prep_circuit`` fitted to each row's x/‖x‖ (zero-padded to
  ``size``; ``qlower.blocks.variational.prep_angles``) and each row's fidelity ``[...]``. A row
  whose fit stays below ``min_fidelity`` is refused in one line naming ``node`` and the row.
- ``q.encode.variational(params) {size, layers}``: the state ``prep_circuit`` prepares with
  those parameters (n data qubits, no flags); its semantics apply them exactly (numpy), so a
  reference run shows the fit's true error.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.resources import Resources
from qlower.ir.dialects.quantum import (
    QState,
    _check_size,
    _f64,
    _last_dim,
    _qstate,
    _require_finite,
    _require_float,
    qubits_for,
)
from qlower.ir.opdef import ABSENT, Attr, OpDef, register_op


@register_op
class BlockVariational(OpDef):
    """A fitted hardware-efficient ansatz standing for a layer's block encoding."""

    name = "q.block.variational"
    operands = ("state", "angles")
    attrs = {"alpha": Attr("float"), "phase": Attr("float", 0.0), "flags": Attr("int", 1),
             "fidelity": Attr("float"), "rows": Attr("int", ABSENT),
             "held_out": Attr("float", ABSENT)}

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


@register_op
class HeaAngles(OpDef):
    """Per row: the fitted parameters of the variational preparation, and its fidelity."""

    name = "host.hea_angles"
    operands = ("x",)
    results = ("params", "fidelity")
    attrs = {"size": Attr("int"), "layers": Attr("int"), "min_fidelity": Attr("float", 0.0),
             "node": Attr("str", "")}

    def verify(self, c):
        _require_finite(c, "min_fidelity")
        if c.attr("layers") < 0:
            c.fail(f"layers must be >= 0, got {c.attr('layers')}")

    def infer(self, c):
        lead, n = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        _check_size(c, n, c.attr("size"), "input")
        q = qubits_for(c.attr("size"))
        return [_f64(lead + (1 + 2 * q * (c.attr("layers") + 1),)), _f64(lead)]

    def evaluate(self, c, x):
        from qlower.blocks.variational import prep_angles

        size, layers = c.attr("size"), c.attr("layers")
        xs = np.zeros(x.shape[:-1] + (size,), dtype=np.float64)
        xs[..., : x.shape[-1]] = x
        params, fid = prep_angles(xs, layers)
        floor = c.attr("min_fidelity")
        bad = np.flatnonzero(fid.ravel() < floor)
        if bad.size:
            i = int(bad[np.argmin(fid.ravel()[bad])])
            raise ValueError(
                f"variational state preparation of row {i} reaches "
                f"fidelity {fid.ravel()[i]:.6f} at L = {layers}, below --min-fidelity {floor} "
                f"({bad.size} of {fid.size} rows; use --prep-layers {layers + 1} or --prep "
                f"mottonen)")
        return params, fid


@register_op
class EncodeVariational(OpDef):
    """The state a fitted hardware-efficient ansatz prepares from |0…0⟩ (one row per sweep)."""

    name = "q.encode.variational"
    operands = ("params",)
    attrs = {"size": Attr("int"), "layers": Attr("int")}

    def infer(self, c):
        lead, k = _last_dim(c, 0, "params")
        size = c.attr("size")
        _check_size(c, None, size, "params")
        q = qubits_for(size)
        want = 1 + 2 * q * (c.attr("layers") + 1)
        if isinstance(k, int) and k != want:
            c.fail(f"size {size} with {c.attr('layers')} layers takes {want} parameters, got {k}")
        return [QState(tuple(lead), q, 0)]

    def evaluate(self, c, params):
        from qlower.blocks.variational import prep_apply

        return prep_apply(params, qubits_for(c.attr("size")))

    def resources(self, op, weights=None) -> Resources:
        from qlower.blocks.variational import prep_resources

        return prep_resources(qubits_for(op.attr("size")), int(op.attr("layers")))


__all__ = ["BlockVariational", "EncodeVariational", "HeaAngles"]
