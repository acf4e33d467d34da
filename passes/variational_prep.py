"""Variational state preparation (``--prep variational``): a dense layer's kernel loads its
input with a fitted hardware-efficient ansatz instead of the Möttönen amplitude encoding.

Every ``host.amplitude_angles`` → ``q.encode.amplitude`` pair that ``lower-linear`` built
(block encodings, variational layers; not the selector form's preparation, whose parameters
a tail also reads, nor a Hadamard test's) becomes::

    %p, %F = host.hea_angles(%x) {size = 2**n, layers = L, min_fidelity, node}
    %s0    = q.encode.variational(%p) {size = 2**n, layers = L}

The host fits the ansatz to each row at bind time (``qlower.blocks.variational.prep_angles``:
L-BFGS with exact adjoint gradients, up to 4 seeded starts), so the kernel's parameters are
the ansatz's angles (plus one Rz carrying the fit's global phase) and ``%F`` holds each row's
fidelity |⟨x̂|U|0⟩|² (``prep_fidelities`` reads it); a row below ``--min-fidelity`` is refused
in one line. Layers: ``--prep-layers L``, or with ``--calibration`` the fewest L ≤ L* + 1 whose
fits reach ``--min-fidelity`` on the first 16 calibration rows of the kernel's input (refused
when none does), else L* (``state_layers``: where the parameter count reaches a state's 2^{n+1}
− 2 real degrees of freedom; there fits of generic targets reach fidelity 1).
"""

from __future__ import annotations

import numpy as np

from qlower.errors import UnsupportedError
from qlower.ir import Graph, Op
from qlower.ir.dialects.quantum import qubits_for
from qlower.passes.rewrite import Rewriter

MAX_PREP_QUBITS = 5  # a row's fit at L* takes ~0.1 s at n = 4 and seconds at n = 5, per row
CALIBRATION_ROWS = 16  # rows of the calibration run that choose L


def prep_pairs(rw: Rewriter) -> list[tuple[Op, Op]]:
    """The (``host.amplitude_angles``, ``q.encode.amplitude``) pairs that load one vector."""
    out = []
    for op in rw.ops:
        if op is None or op.name != "host.amplitude_angles":
            continue
        users = rw.users(op.result().name)
        if len(users) == 1 and users[0].name == "q.encode.amplitude" \
                and users[0].attr("extra", None) is None and rw.single_use(op.result().name):
            out.append((op, users[0]))
    return out


def _node(op: Op) -> str:
    return op.loc[0] if op.loc else f"%{op.result().name}"


def choose_prep_layers(node: str, rows: np.ndarray | None, n: int, min_fidelity: float) -> int:
    """L for a kernel on n qubits: the fewest L ≤ L* + 1 whose fits reach ``min_fidelity`` on
    ``rows`` (its input's calibration rows, the first ``CALIBRATION_ROWS`` distinct nonzero
    ones), or L* without rows."""
    from qlower.blocks.variational import prep_angles, state_layers

    top = state_layers(n)
    if rows is None:
        return top
    rows = np.unique(rows[np.linalg.norm(rows, axis=1) > 0], axis=0)[:CALIBRATION_ROWS]
    if not rows.shape[0]:
        return top
    worst = 0.0
    for layers in range(0, top + 2):
        _, fid = prep_angles(rows, layers)
        worst = float(fid.min())
        if worst >= min_fidelity:
            return layers
    raise UnsupportedError(
        f"node '{node}': variational state preparation reaches fidelity {worst:.6f} on "
        f"{rows.shape[0]} calibration rows at L = {top + 1}, below --min-fidelity "
        f"{min_fidelity} (use --prep mottonen)")


def variational_prep(graph: Graph, layers: int, min_fidelity: float, calibration: str = ""
                     ) -> Graph:
    """``graph`` with every preparation of ``prep_pairs`` made variational (module docstring)."""
    rw = Rewriter(graph)
    pairs = prep_pairs(rw)
    if not pairs:
        return graph
    values = None
    if calibration and not layers:
        from qlower.passes.calibration import calibration_values

        values = calibration_values(graph, calibration)
    for ang, enc in pairs:
        size = int(enc.attr("size"))
        n = qubits_for(size)
        node = _node(ang)
        if n > MAX_PREP_QUBITS:
            raise UnsupportedError(
                f"node '{node}': a variational state preparation of {size} entries needs {n} "
                f"qubits; its per-row fits are built up to {MAX_PREP_QUBITS} here (use --prep "
                f"mottonen)")
        x = ang.operand(0)
        rows = None
        if values is not None and x in values:
            v = np.asarray(values[x], dtype=np.float64)
            rows = v.reshape(-1, v.shape[-1])
        L = layers or choose_prep_layers(node, rows, n, min_fidelity)
        name = ang.result().name
        hea = rw.build("host.hea_angles", [x], {"size": size, "layers": L,
                                                 "min_fidelity": float(min_fidelity),
                                                 "node": node},
                       results=[name, rw.fresh(f"{name}.fidelity")], loc=ang.loc)
        rw.replace(ang, [hea])
        st = rw.build("q.encode.variational", [name], {"size": size, "layers": L},
                      results=[enc.result().name], loc=enc.loc)
        rw.replace(enc, [st])
    return rw.finish()


def prep_fidelities(graph: Graph, inputs) -> dict[str, np.ndarray]:
    """Node → the fidelity of each row's variational preparation (``host.hea_angles``'s second
    result) on ``inputs``: runs the host graph with the kernels' exact semantics."""
    from qlower.backends.reference import interpret

    ops = [op for op in graph.ops if op.name == "host.hea_angles"]
    if not ops:
        return {}
    _, values = interpret(graph, inputs)
    return {op.attr("node"): values[op.result_names[1]] for op in ops}


__all__ = ["choose_prep_layers", "prep_fidelities", "prep_pairs", "variational_prep"]
