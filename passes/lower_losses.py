"""Losses as kernels (``strategy = quantum``; LOWERINGS §5).

``nn.mse_loss(a, t)`` — the residual encoding, no controlled gates: ``u = [a; t]`` is amplitude-
encoded and ``combine([I | −I])`` (one ``Ry`` on the selector qubit, alpha = √2) leaves
``(a − t)/(√2 ‖u‖)`` at flags = 0, so the success probability is ``p = ‖a − t‖² / (2 ‖u‖²)``::

    %u   = host.stack(%a, %t) {size = K}
    %nu  = host.norm(%u)
    %s1  = q.block.combine(q.encode.amplitude(...), [I | −I]) {alpha = 1.4142}
    %p   = q.success(%s1)                                   P(flags = 0), per row
    %y   = host.mse(%p, %nu) {alpha = 1.4142, features = M, reduction = "mean"}

``MSE = Σ_rows α² ‖u‖² p / E``; from S shots per row ``p̂ = n₀/S`` with variance ``p(1 − p)/S``,
so ``Var(MSE) = Σ_rows (α² ‖u‖²/E)² p(1 − p)/S`` (relative error ≈ (pS)^(-1/2)).

``nn.cross_entropy(logits, y)`` — the exact softmax state over the classes (the class axis
moved last; ``passes/lower_softmax.py``), its Born probabilities ``q`` read given the flag, and
``−log q_y`` weighed as ONNX does (``host.nll``). From shots the probabilities are
``(n_c + ½)/(n₀ + C/2)`` (no class is ever estimated at 0), and the error of ``−log q̂_y`` is
``se(q_y)/q_y ≈ √((1 − q_y)/(q_y n₀))`` (the delta method); its bias is about
``(1 − q_y)/(2 q_y n₀)``. ``nn.nll_loss`` of a ``log_softmax`` is the same kernel on the
log-softmax's input.
"""

from __future__ import annotations

from qlower.blocks.layout import ceil_log2
from qlower.blocks.softmax import index_qubits
from qlower.ir import Op
from qlower.passes.lower_quantum import (
    encode_and_block,
    known_sweeps,
    lowering,
    static_size,
    unsupported,
)
from qlower.passes.lower_residual import combination
from qlower.passes.rewrite import Rewriter


def _mse_operands(rw: Rewriter, op: Op, strategy: str, reads: str):
    """``(a, t, M)`` of an MSE loss its kernels apply to (``reads``: what the kernel reads)."""
    a, t = op.operand(0), op.operand(1)
    ta, tt = rw.tensor_type(a), rw.tensor_type(t)
    if op.attr("reduction") == "none":
        raise unsupported(op, strategy, "reduction 'none' asks for every squared error; the "
                          f"{reads} reads their sum per row")
    if ta.dims != tt.dims or ta.rank < 1:
        raise unsupported(op, strategy, f"prediction and target must have one shape of rank "
                          f">= 1 (no broadcasting), got {ta} and {tt}")
    M = static_size(rw, op, strategy, a, "the last axis")
    known_sweeps(rw, op, strategy, a)
    return a, t, M


@lowering("nn.mse_loss", "quantum")
def lower_mse(rw: Rewriter, op: Op, options) -> list[Op]:
    a, t, M = _mse_operands(rw, op, "quantum", "residual encoding")
    out, red = op.result().name, op.attr("reduction")
    K = 1 << ceil_log2(M)
    u = rw.build("host.stack", [a, t], {"size": K}, results=[rw.fresh(f"{out}.stacked")],
                 loc=op.loc)
    ops, state, norm, alpha = encode_and_block(rw, op, u.result().name,
                                               combination(M, (1.0, -1.0)), out, "combine")
    p = rw.build("q.success", [state], results=[rw.fresh(f"{out}.p")], loc=op.loc)
    y = rw.build("host.mse", [p.result().name, norm],
                 {"alpha": float(alpha), "features": M, "reduction": red,
                  "dtype": rw.tensor_type(out).dtype}, results=[out], loc=op.loc)
    return [u, *ops, p, y]


def _class_probabilities(rw: Rewriter, op: Op, logits: str, out: str) -> tuple[list[Op], str]:
    """The exact softmax kernel over axis 1 of ``logits``, its probabilities with the class
    axis last (``[N, d…, C]``)."""
    t = rw.tensor_type(logits)
    if t.rank < 2:
        raise unsupported(op, "quantum", f"the scores must be [N, C, ...], got {t}")
    C = t.dims[1]
    if not isinstance(C, int):
        raise unsupported(op, "quantum", f"the class count is unknown before running ({t})")
    ops: list[Op] = []
    x = logits
    if t.rank > 2:
        perm = (0, *range(2, t.rank), 1)
        tr = rw.build("nn.transpose", [x], {"perm": perm}, results=[rw.fresh(f"{x}.classes_last")],
                      loc=op.loc)
        ops.append(tr)
        x = tr.result().name
    known_sweeps(rw, op, "quantum", x)
    size = 1 << index_qubits(C)
    ang = rw.build("host.softmax_angles", [x], {"size": size}, results=[rw.fresh(f"{out}.angles")],
                   loc=op.loc)
    st = rw.build("q.encode.softmax", [ang.result().name], {"size": size},
                  results=[rw.fresh(f"{out}.state")], loc=op.loc)
    p = rw.build("q.probabilities", [st.result().name], {"size": C, "smoothing": 0.5},
                 results=[rw.fresh(f"{out}.q")], loc=op.loc)
    return [*ops, ang, st, p], p.result().name


def _nll(rw: Rewriter, op: Op, logits: str) -> list[Op]:
    out = op.result().name
    ops, q = _class_probabilities(rw, op, logits, out)
    attrs = {"reduction": op.attr("reduction"), "dtype": rw.tensor_type(out).dtype}
    if op.attr("ignore_index", None) is not None:
        attrs["ignore_index"] = op.attr("ignore_index")
    operands = [q, op.operand(1)] + ([op.operand(2)] if op.operand(2) is not None else [])
    y = rw.build("host.nll", operands, attrs, results=[out], loc=op.loc)
    return [*ops, y]


@lowering("nn.cross_entropy", "quantum")
def lower_cross_entropy(rw: Rewriter, op: Op, options) -> list[Op]:
    return _nll(rw, op, op.operand(0))


@lowering("nn.nll_loss", "quantum")
def lower_nll(rw: Rewriter, op: Op, options) -> list[Op]:
    src = rw.producer(op.operand(0))
    rank = rw.tensor_type(op.operand(0)).rank
    if src is None or src.name != "nn.log_softmax" or src.attr("axis") % max(rank, 1) != 1:
        raise unsupported(op, "quantum", "its input is not a log_softmax over the classes: the "
                          "Born probabilities of a softmax state are exp(input) only for "
                          "normalised log-probabilities")
    return _nll(rw, op, src.operand(0))




@lowering("nn.mse_loss", "swap-test")
def lower_mse_swap(rw: Rewriter, op: Op, options) -> list[Op]:
    """MSE by the destructive swap test (``qlower.blocks.swap_test``): ``a`` and ``t`` shifted
    by one ``c = max(|a|, |t|)`` (their difference unchanged, their overlap non-negative),
    prepared on two registers; ``‖a − t‖² = ‖a'‖² + ‖t'‖² − 2‖a'‖‖t'‖√F``. No flag, no
    controlled gate; ``Var(F̂) = (1 − F²)/S``, large relative errors where ``F`` is near 1
    (``a ≈ t``, or the shift dominates)."""
    a, t, M = _mse_operands(rw, op, "swap-test", "swap test")
    out, red = op.result().name, op.attr("reduction")
    size = 1 << max(1, ceil_log2(M))
    ang = rw.build("host.pair_angles", [a, t], {"size": size}, results=[rw.fresh(f"{out}.angles")],
                   loc=op.loc)
    norms = rw.build("host.pair_norms", [a, t], results=[rw.fresh(f"{out}.norms")], loc=op.loc)
    st = rw.build("q.encode.pair", [ang.result().name], {"size": size},
                  results=[rw.fresh(f"{out}.state")], loc=op.loc)
    f = rw.build("q.swap_test", [st.result().name], results=[rw.fresh(f"{out}.F")], loc=op.loc)
    y = rw.build("host.mse_swap", [f.result().name, norms.result().name],
                 {"features": M, "reduction": red, "dtype": rw.tensor_type(out).dtype},
                 results=[out], loc=op.loc)
    return [ang, norms, st, f, y]


__all__ = ["lower_cross_entropy", "lower_mse", "lower_mse_swap", "lower_nll"]
