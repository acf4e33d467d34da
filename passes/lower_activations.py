"""Activations as QSP polynomials (``nn.gelu``/``nn.relu``/``nn.tanh``/``nn.sigmoid`` with
``strategy = qsvt``; ``qlower.blocks.qsp_activation``).

Each input ``x`` (per row of its last axis) enters as signal rotations ``W(a_k)`` with
``a_k = √((x_k + B)/(2B))``: ``a²`` is affine in ``x``, so ``f`` becomes an even function of ``a``
and one symmetric phase sequence computes it — the circuit of the QSP softmax
(``qlower.blocks.softmax_qsp``) with other phases. Its amplitudes at flags = 0 are
``h_d(a_k)/√N ≈ (f(x_k) + shift)/(K √N)``, non-negative (a shot read-out needs no sign)::

    %ang = host.qsp_activation_angles(%x) {bound = B, size = 2**ℓ}
    %st  = q.encode.qsp_activation(%ang) {bound = B, error = e, function = "gelu", phases = [...]}
    %psi = q.readout(%st) {nonnegative = true, size = N}
    %y   = host.qsp_values(%psi) {K = K, count = N, shift = s}      f(x) ≈ K √N ψ − s

The degree is the least even one whose error ``max|f_QSP − f|`` over ``[−B, B]`` is at most
``--epsilon`` times ``max|f|`` there. ``B`` is ``--activation-bound`` or, with ``--calibration``,
1.25 × the largest ``|x|`` of the calibration run; inputs beyond it are clipped to it.
"""

from __future__ import annotations

from qlower.blocks.softmax import index_qubits
from qlower.ir import Op
from qlower.passes.lower_quantum import known_sweeps, lowering, static_size, unsupported
from qlower.passes.rewrite import Rewriter

MARGIN = 1.25  # a calibrated bound: the largest |x| seen, with room for inputs not seen


def _function(op: Op) -> str:
    if op.name == "nn.gelu":
        return "gelu_tanh" if op.attr("approximate") == "tanh" else "gelu"
    return op.name.removeprefix("nn.")


def lower_activation(rw: Rewriter, op: Op, options) -> list[Op]:
    from qlower.blocks.qsp_activation import activation_plan

    x, out = op.operand(0), op.result().name
    if rw.tensor_type(x).rank < 1:
        raise unsupported(op, "qsvt", "a scalar input has no register to encode")
    N = static_size(rw, op, "qsvt", x, "the last axis")
    known_sweeps(rw, op, "qsvt", x)
    bound = options.activation_bound
    if not bound:
        seen = options.ranges.get(x)
        if seen is None:
            raise unsupported(op, "qsvt", "its input range is unknown: give --activation-bound B "
                              "or --calibration X.npz")
        bound = MARGIN * seen if seen > 0 else 1.0
    try:
        plan = activation_plan(_function(op), bound, options.epsilon)
    except ValueError as e:
        raise unsupported(op, "qsvt", str(e)) from None
    size = 1 << index_qubits(N)
    ang = rw.build("host.qsp_activation_angles", [x], {"size": size, "bound": float(bound)},
                   results=[rw.fresh(f"{out}.angles")], loc=op.loc)
    st = rw.build("q.encode.qsp_activation", [ang.result().name],
                  {"size": size, "phases": tuple(plan.phases), "function": plan.name,
                   "bound": float(bound), "error": float(plan.error)},
                  results=[rw.fresh(f"{out}.state")], loc=op.loc)
    psi = rw.build("q.readout", [st.result().name], {"size": N, "nonnegative": True},
                   results=[rw.fresh(f"{out}.psi")], loc=op.loc)
    y = rw.build("host.qsp_values", [psi.result().name],
                 {"K": float(plan.K), "shift": float(plan.shift), "count": N,
                  "dtype": rw.tensor_type(out).dtype}, results=[out], loc=op.loc)
    return [ang, st, psi, y]


for _kind in ("nn.gelu", "nn.relu", "nn.tanh", "nn.sigmoid"):
    lowering(_kind, "qsvt")(lower_activation)
