"""What a lowered program costs, read off its kernels' ops: no circuit is built.

Each ``q.*`` op states its resources (``resources(op, weights)`` of its op definition in
``qlower.ir.dialects.quantum``; a block asks its registry entry), and a kernel's are their sum
run one after another, with the qubits of its final state type (data and flags). The mean
success probability comes from the blocks' implemented matrices: with ``C`` the product of the
blocks (each reading the low indices of the previous one's output, as the circuit connects
them) on the ``N`` entries the kernel prepares, ``P(flags = 0)`` averaged over unit inputs is
``‖C‖_F² / N``.

Depth is a bound: the parts' depths added (each a bound of its own where the method says so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qlower.blocks.resources import ZERO, Resources
from qlower.ir import Graph
from qlower.ir.dialects.quantum import block_op
from qlower.ir.opdef import op_def


@dataclass(frozen=True)
class KernelEstimate:
    """One kernel's row of ``qlower compile``/``estimate``: its cost and its success probability.

    ``success_probability``: the probability that the flags read 0, averaged over uniformly
    random directions of the vector the kernel prepares (1 for a Hadamard test); for a softmax
    state, its lower bound ``1/L`` (the value where one score dominates).
    """

    kernel: str
    nodes: tuple[str, ...]
    method: str
    resources: Resources
    alpha: float | None
    success_probability: float
    ops: tuple[dict, ...] = ()  # {"op", "node", "strategy"}: the layers the kernel implements
    approximation: dict | None = None  # an approximate lowering's degree and error bound
    amplification: dict | None = None  # amplification_summary of an amplified kernel

    def as_dict(self) -> dict:
        r = self.resources
        out = {"kernel": self.kernel, "nodes": list(self.nodes), "method": self.method,
               "ops": [dict(o) for o in self.ops],
               "strategy": "+".join(dict.fromkeys(o["strategy"] for o in self.ops)) or None,
               "qubits": r.qubits, "cnots": r.cnots, "rotations": r.rotations, "depth": r.depth,
               "t_estimate": r.t_estimate(), "alpha": self.alpha,
               "success_probability": self.success_probability}
        if self.approximation is not None:
            out["approximation"] = dict(self.approximation)
        if self.amplification is not None:
            out["amplification"] = dict(self.amplification)
        return out


@dataclass(frozen=True)
class ProgramEstimate:
    """What a compiled program costs: a row per kernel, the totals, the layers left on the host.

    ``total`` runs the kernels one after another: the most qubits any needs, CNOTs, rotations
    and depths added, and a T count with every rotation of the program synthesised to a total
    error of 1e-3 (``Resources.t_estimate``).
    """

    kernels: tuple[KernelEstimate, ...]
    host: tuple[dict, ...]  # {"op", "node"} of each op left on the host
    decisions: tuple = ()  # the cost model's, per dense layer (``qlower.cost_model.Decision``)

    @property
    def total(self) -> Resources:
        out = ZERO
        for k in self.kernels:
            out = out + k.resources
        return out

    def total_dict(self) -> dict:
        t = self.total
        return {"kernels": len(self.kernels), "max_qubits": t.qubits, "cnots": t.cnots,
                "rotations": t.rotations, "depth": t.depth, "t_estimate": t.t_estimate()}


def _weights(graph: Graph, op) -> np.ndarray | None:
    if len(op.operands) < 2 or (block_op(op) is None
                                and op.name not in ("q.block.select", "q.block.variational")):
        return None  # only a constant block's cost depends on its weights
    d = graph.dense(op.operand(1))
    if d is None:
        raise ValueError(f"{op.label}: its weights %{op.operand(1)} are not a constant with data")
    return np.asarray(d.array)


def kernel_resources(graph: Graph, kernel) -> Resources:
    """The kernel's resources: its ops' in sequence, on the qubits of its final state."""
    total = ZERO
    for op in kernel.ops:
        total = total + op_def(op.name).resources(op, _weights(graph, op))
    final = kernel.ops[-2].result().type if len(kernel.ops) > 1 else kernel.ops[0].result().type
    return Resources(final.qubits, total.cnots, total.rotations, total.depth,
                     total.single_qubit, total.t_gates)


def transfer(graph: Graph, kernel) -> np.ndarray | None:
    """The map from the prepared unit vector to the amplitudes at flags = 0 (None for a
    Hadamard test): the blocks' implemented matrices over their alphas, chained."""
    blocks = [op for op in kernel.ops if block_op(op) is not None]
    if not blocks:
        return None
    from qlower.blocks.registry import as_matrix

    c = None
    for op in blocks:
        d = block_op(op)
        w = _weights(graph, op)
        params = d.op_params(op)
        p = d.entry().implemented(as_matrix(w), params) / params["alpha"]
        if c is None:
            c = p[:, : w.shape[1]]
            continue
        k = min(p.shape[1], c.shape[0])
        c = p[:, :k] @ c[:k]
    return c


def kernel_estimate(graph: Graph, kernel, origins: Mapping[str, dict] | None = None
                    ) -> KernelEstimate:
    """A kernel's row: method(s), resources, alpha (the product of its blocks') and mean
    success probability; ``origins`` (node name → ``{"op", "node", "strategy"}``) names the
    layers it implements."""
    blocks = [op for op in kernel.ops if block_op(op) is not None]
    approx = None
    summary = getattr(op_def(kernel.encode.name), "summary", None)
    data = [op for op in kernel.ops if op.name == "q.block.data_fable"]
    select = [op for op in kernel.ops if op.name == "q.block.select"]
    fitted = [op for op in kernel.ops if op.name == "q.block.variational"]
    if select:
        method, alpha, p = select_summary(graph, select[0])
    elif fitted:
        method, alpha, p, approx = variational_summary(graph, fitted[0], kernel)
    elif data:
        # a block of data (attention's K or V): its scale and success probability depend on
        # the activations, so the table has none to state
        doc = summary(kernel.encode) if summary is not None else {"method": "amplitude",
                                                                   "approximation": None}
        method, alpha, p = f"{doc['method']}+data-fable", None, math.nan
        approx = doc["approximation"]
    elif summary is not None and not blocks:
        # a preparation with flags of its own states its method and its worst-case success
        doc = summary(kernel.encode)
        method, p, approx = doc["method"], doc["success_probability"], doc["approximation"]
        alpha = None
    elif blocks:
        method = "+".join(dict.fromkeys(block_op(op).method for op in blocks))
        alpha = float(np.prod([op.attr("alpha") for op in blocks]))
        c = transfer(graph, kernel)
        p = float(np.sum(np.abs(c) ** 2) / c.shape[1])
    else:
        method, alpha, p = "hadamard-test", None, 1.0
    ops = tuple(origins[n] for n in kernel.source if origins and n in origins)
    amp = amplification_summary(graph, kernel)
    if amp is not None:
        p = amp["success_probability"]
    return KernelEstimate(kernel.name, tuple(kernel.source), method,
                          amplified_kernel_resources(graph, kernel), alpha, p, ops, approx, amp)


def variational_summary(graph: Graph, op, kernel) -> tuple[str, float, float, dict]:
    """A fitted ansatz's method, scale, success probability averaged over unit inputs (its
    flag-0 block's ‖·‖_F²/N on the N entries the kernel prepares) and its fit."""
    from qlower.blocks.variational import hea_apply

    angles = _weights(graph, op).astype(np.float64)
    q = angles.shape[1]
    data = q - int(op.attr("flags"))
    # the entries the kernel prepares: the width of the vector its angles encode
    producer = next(u for u in graph.ops if kernel.parameters in u.result_names)
    N = min(int(graph.type_of(producer.operand(0)).dims[-1]), 1 << data)
    basis = np.zeros((N, 1 << q), dtype=np.complex128)
    basis[np.arange(N), np.arange(N)] = 1.0
    block = hea_apply(angles, basis)[:, : 1 << data]
    p = float(np.sum(np.abs(block) ** 2) / N)
    fid = float(op.attr("fidelity"))
    approx = {"kind": "variational", "layers": int(angles.shape[0]) - 1,
              "fidelity": fid, "error": math.sqrt(max(0.0, 1.0 - fid))}
    for key, name in (("rows", "rows"), ("held_out", "held_out_fidelity")):  # calibrated fits
        if op.attr(key, None) is not None:
            approx[name] = op.attr(key)
    return "variational", float(op.attr("alpha")), p, approx


def select_summary(graph: Graph, op) -> tuple[str, float, float]:
    """The selector form's method name, the alpha of its block of W and its success
    probability averaged over unit inputs (``qlower.blocks.select.mean_success``)."""
    from qlower.blocks.registry import as_matrix
    from qlower.blocks.select import mean_success

    W = as_matrix(_weights(graph, op))
    params = op_def(op.name).op_params(op)
    b = None
    offset = False
    for u in graph.ops:
        if u.name == "host.select_params" and u.result_names[0] == op.operand(2):
            offset = bool(u.attr("offset"))
            if u.operand(4) is not None:
                d = graph.dense(u.operand(4))
                b = None if d is None else np.asarray(d.array, dtype=np.float64)
    p = mean_success(W, op.attr("method"), params, b, offset)
    return f"{op.attr('method')}-select", float(op.attr("alpha")), p


def _amplify_op(kernel):
    return next((op for op in kernel.ops if op.name == "q.amplify"), None)


def amplified_kernel_resources(graph: Graph, kernel) -> Resources:
    """The kernel's resources with its amplification counted (``kernel_resources`` when it has
    none): the ops before ``q.amplify`` (A) ``2l + 1`` times, the ``2l`` reflections, the rest
    (``qlower.blocks.amplify.amplified_resources``)."""
    amp = _amplify_op(kernel)
    if amp is None:
        return kernel_resources(graph, kernel)
    from qlower.blocks.amplify import amplified_resources

    k = kernel.ops.index(amp)
    base = ZERO
    for op in kernel.ops[:k]:
        base = base + op_def(op.name).resources(op, _weights(graph, op))
    s = amp.result().type
    total = amplified_resources(base, op_def(amp.name).rounds(amp), s.flags, s.qubits)
    for op in kernel.ops[k + 1:]:
        total = total + op_def(op.name).resources(op, _weights(graph, op))
    final = kernel.ops[-2].result().type
    return Resources(final.qubits, total.cnots, total.rotations, total.depth,
                     total.single_qubit, total.t_gates)


def amplification_summary(graph: Graph, kernel) -> dict | None:
    """An amplified kernel's ``{kind, queries, depth_factor, success_probability, error, bound,
    delta, p_before}`` (None for any other kernel).

    ``p_before`` is the mean success probability before amplification over inputs whose
    direction x̂' is uniformly random, with the offset ``t = B‖x'‖`` they get:
    ``(‖C_x‖_F²/N' + B²‖c_t‖²)/(1 + B²)`` (C = ``transfer``, c_t its offset column, C_x the
    rest); ``success_probability`` is the sequence's ``P(p_before)`` (``amplified_success``);
    ``error`` is the fixed-point guarantee's failure bound ``δ²`` (every input with
    ``p ≥ bound`` succeeds with probability at least ``1 − δ²``), or QSVT's relative
    amplitude error ε (read against reference rows, neither changes the outputs)."""
    amp = _amplify_op(kernel)
    if amp is None:
        return None
    from qlower.blocks.amplify import amplified_success

    c = transfer(graph, kernel)
    B = 0.0
    for u in graph.ops:  # the offset the read-back reads: its bound B
        if u.name == "host.reference_rescale" and u.operand(0) == kernel.output:
            off = next(v for v in graph.ops if u.operand(1) in v.result_names)
            B = float(off.attr("bound"))
    n = c.shape[1] - 1
    p0 = (float(np.sum(np.abs(c[:, :-1]) ** 2)) / max(n, 1)
          + B * B * float(np.sum(np.abs(c[:, -1]) ** 2))) / (1.0 + B * B)
    phases = np.reshape(amp.attr("phases"), (-1, 2))
    L = 2 * len(phases) + 1
    delta = float(amp.attr("delta"))
    from qlower.blocks.amplify import QSVT_EPSILON

    return {"kind": amp.attr("kind"), "queries": L, "depth_factor": L,
            "success_probability": float(amplified_success(phases, p0)),
            "error": delta ** 2 if amp.attr("kind") == "fixed-point" else QSVT_EPSILON,
            "bound": float(amp.attr("bound")), "delta": delta, "p_before": p0}


def program_estimate(graph: Graph, kernels: Sequence, host: Sequence[dict],
                     origins: Mapping[str, dict] | None = None,
                     decisions: Sequence = ()) -> ProgramEstimate:
    return ProgramEstimate(tuple(kernel_estimate(graph, k, origins) for k in kernels),
                           tuple(dict(h) for h in host), tuple(decisions))


__all__ = ["KernelEstimate", "ProgramEstimate", "amplification_summary",
           "amplified_kernel_resources", "kernel_estimate", "kernel_resources",
           "program_estimate", "transfer"]
