"""The cost model: for each dense layer, every lowering that applies, built and measured.

``select-strategy`` asks it when the user states a budget (``--max-qubits``, ``--max-depth``,
``--target-error``) or a profile (``--profile nisq|ft``), and ``qlower estimate --explain``
prints what it found. A candidate's figures are not formulas guessed ahead of the lowering:
each candidate (a block-encoding method, amplitude encoding, a variational fit, and the
fixed-point amplification of each block encoding whose success probability is below 0.05) is
lowered —
the layer alone quantum, every other layer on the host — and read off what it became:

- qubits, CNOTs, rotations and depth: counted on the candidate's built circuit (the kernel
  table's closed forms are bounds for the methods synthesised by quantum Shannon
  decomposition); α: the kernel's; T: those rotations synthesised to a total error of 1e-3
  (``Resources.t_estimate``);
- circuits: the kernel runs one input row of the model takes (its sweeps);
- success probability: ``P(flags = 0)`` averaged over the reference rows, from the kernels'
  exact states (qsim measures the same on the same rows);
- standard error: the largest standard error of an entry of the layer's output at one shot,
  the read-out's variance (``backends/readout.py``) at the exact read-out values carried
  through the host's rescaling as a run with shots carries it (``qlower.program.run_host``);
  it shrinks as ``1/√S``; the systematic error: the largest deviation of the lowered layer's
  exact output from the model's (a compressed block, a fit);
- shots: the fewest per circuit that bring the output's error (systematic and statistical
  in quadrature) to ``--target-error`` (default: 1 % of the layer's largest |output| on the
  reference rows); work: circuits × shots × depth.

The reference rows are the ``--calibration`` inputs where given, else four seeded standard
normal rows (integers 0..2 for integer inputs). The ``nisq`` profile (the default) minimises
two-qubit gates × circuits × shots, ``ft`` T gates × circuits × shots. A variational fit is
weighed only against an explicit ``--target-error`` (it is approximate, and its fit takes
seconds). The cheapest candidate that fits every budget wins; when none fits, the layer stays on the
host and the reason names each candidate's first broken budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from qlower.errors import QlowerError

PROFILES = ("nisq", "ft")
# a block's success probability below which amplification is weighed: above it the L queries
# and the reflections cost more than the shots they save (an 8x8 FABLE layer at p = 0.15:
# 900x the CNOTs for 2x fewer shots)
AMPLIFY_BELOW = 0.05
DEFAULT_ERROR = 1e-2  # without --target-error: of the layer's largest |output|
REFERENCE_ROWS = 4


@dataclass(frozen=True)
class Budgets:
    """What a lowering may cost (0: no limit) and what it should minimise."""

    max_qubits: int = 0
    max_depth: int = 0
    target_error: float = 0.0
    shots: int = 0
    profile: str = "nisq"

    def stated(self) -> list[str]:
        """The budgets given, as the flags that gave them."""
        out = []
        if self.max_qubits:
            out.append(f"--max-qubits {self.max_qubits}")
        if self.max_depth:
            out.append(f"--max-depth {self.max_depth}")
        if self.target_error:
            out.append(f"--target-error {self.target_error:g}")
        if self.shots:
            out.append(f"--shots {self.shots}")
        return out


@dataclass(frozen=True)
class Candidate:
    """One lowering of one layer, with what it was measured to cost."""

    strategy: str
    method: str = ""
    qubits: int = 0
    cnots: int = 0
    rotations: int = 0
    t_count: int = 0
    depth: int = 0
    alpha: float | None = None
    success_probability: float = math.nan
    circuits: float = 0.0  # kernel runs per input row of the model
    std_error: float | None = None  # largest output standard error at one shot
    systematic_error: float = 0.0
    shots: int | None = None  # per circuit: for the target error, or the budget's
    error: float | None = None  # the output's error at those shots
    cost: float = math.inf  # the profile's objective
    work: float | None = None  # circuits × shots × depth
    approximation: dict | None = None
    refused: str = ""  # why it could not be built
    violations: tuple[str, ...] = ()  # the budgets it breaks
    # every output entry's standard error at one shot, on the reference rows
    std_errors: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.strategy}:{self.method}" if self.method else self.strategy

    @property
    def feasible(self) -> bool:
        return not self.refused and not self.violations

    def as_dict(self) -> dict:
        out = {"candidate": self.label, "strategy": self.strategy, "method": self.method or None,
               "feasible": self.feasible}
        if self.refused:
            out["refused"] = self.refused
            return out
        out.update(qubits=self.qubits, cnots=self.cnots, rotations=self.rotations,
                   t_estimate=self.t_count, depth=self.depth, alpha=self.alpha,
                   success_probability=self.success_probability, circuits=self.circuits,
                   std_error_one_shot=self.std_error, systematic_error=self.systematic_error,
                   shots=self.shots, error=self.error,
                   cost=None if math.isinf(self.cost) else self.cost, work=self.work,
                   violations=list(self.violations))
        if self.approximation is not None:
            out["approximation"] = dict(self.approximation)
        return out


@dataclass(frozen=True)
class Decision:
    """A layer's candidates, the one chosen and why."""

    node: str  # the layer's name (ONNX node, else its output)
    op: str
    value: str  # the layer's output value: the key its choice is written under
    shape: tuple[int, int]  # [W | b]: outputs x inputs (with the bias column)
    candidates: tuple[Candidate, ...]
    chosen: str  # the candidate's label, or "host"
    reason: str
    overridden: bool = False  # a --strategy override named the layer: it was not the model's

    def as_dict(self) -> dict:
        return {"node": self.node, "op": self.op, "value": self.value, "shape": list(self.shape),
                "chosen": self.chosen, "reason": self.reason, "overridden": self.overridden,
                "candidates": [c.as_dict() for c in self.candidates]}


def reference_inputs(graph, calibration: str = "", rows: int = REFERENCE_ROWS
                     ) -> dict[str, np.ndarray]:
    """The rows the figures are measured on: the calibration file's arrays, else seeded ones
    (standard normal floats, integers 0..2, booleans), ``rows`` along each free size."""
    if calibration:
        from qlower.api import load_inputs

        return dict(load_inputs(calibration))
    from qlower.ir import DType, Sym

    rng = np.random.default_rng(0)
    out = {}
    for v in graph.inputs:
        t = v.type
        shape = [rows if (isinstance(d, Sym) or d is None) else int(d) for d in t.dims]
        if t.dtype == DType.BOOL:
            out[v.name] = rng.random(shape) > 0.5
        elif t.dtype.is_int:
            out[v.name] = rng.integers(0, 3, size=shape).astype(t.dtype.numpy)
        else:
            out[v.name] = rng.standard_normal(shape).astype(t.dtype.numpy)
    return out


def _one_shot_error(readout, value: np.ndarray, state: np.ndarray | None) -> np.ndarray | None:
    """The standard error of each read-out entry at one shot (``backends/readout.py``'s
    variances at the exact value); None for a read-out shots cannot give (signed amplitudes)."""
    v = np.asarray(value, dtype=np.float64)
    if readout.name == "q.readout":
        if not readout.attr("nonnegative", False):
            return None
        return np.sqrt(np.clip(1 - v * v, 0, None) / 4)
    if readout.name in ("q.overlap", "q.swap_test"):
        return np.sqrt(np.clip(1 - v * v, 0, None))
    if readout.name == "q.success":
        return np.sqrt(np.clip(v * (1 - v), 0, None))
    if readout.name == "q.probabilities" and state is not None:
        passed = np.sum(np.abs(state) ** 2, axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.clip(v * (1 - v), 0, None) / passed)
    return None


@dataclass
class Measured:
    """What a lowered graph's kernels give on the reference rows (exact states)."""

    values: dict[str, np.ndarray]
    std_errors: dict[str, np.ndarray]  # at one shot per circuit
    success: dict[str, float]  # kernel → mean P(flags = 0)
    sweeps: dict[str, int]  # kernel → runs over the reference rows
    tainted: list[str] = field(default_factory=list)


def measure(lowered, kernels: Sequence, inputs: Mapping[str, np.ndarray]) -> Measured:
    """Run ``lowered`` exactly on ``inputs``, then once more with every kernel's one-shot
    standard errors, carried to the outputs the way a run with shots carries them."""
    from qlower.backends.reference import interpret
    from qlower.program import KernelBinding, KernelRun, run_host

    _, values = interpret(lowered, inputs)
    bindings = [KernelBinding(k.name, k.parameters, k.output, tuple(k.source)) for k in kernels]
    by_name = {k.name: k for k in kernels}
    success, sweeps = {}, {}
    for k in kernels:
        state = values.get(k.readout.operand(0))
        sweeps[k.name] = int(np.prod(values[k.parameters].shape[:-1], dtype=np.int64))
        if state is not None and k.readout.name not in ("q.overlap", "q.swap_test"):
            p = np.sum(np.abs(state) ** 2, axis=-1)
            success[k.name] = float(np.mean(p)) if p.size else math.nan
        else:
            success[k.name] = 1.0

    def run_kernel(b, params):
        k = by_name[b.name]
        val = values[b.output]
        err = _one_shot_error(k.readout, val, values.get(k.readout.operand(0)))
        return val, err, KernelRun(b.name, sweeps[b.name], 0, success[b.name], 1)

    run = run_host(lowered, inputs, bindings, run_kernel)
    return Measured(values, dict(run.std_errors), success, sweeps, list(run.tainted))


def _largest(a: np.ndarray | None) -> float | None:
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    return float(np.nanmax(a)) if a.size else 0.0


def _rows(inputs: Mapping[str, np.ndarray]) -> int:
    """The model's input rows: the leading size of its first input (1 for a scalar)."""
    first = next(iter(inputs.values()), None)
    return int(first.shape[0]) if first is not None and np.ndim(first) else 1


class CostModel:
    """Lowers one layer at a time by each candidate and measures it (see the module doc)."""

    def __init__(self, canonical, lower, budgets: Budgets, calibration: str = ""):
        from qlower.backends.reference import interpret

        self.graph = canonical
        self.lower = lower
        self.budgets = budgets
        self.inputs = reference_inputs(canonical, calibration)
        try:
            _, self.reference = interpret(canonical, self.inputs)
        except QlowerError as e:
            raise QlowerError(f"cost model: the reference rows do not run through the model "
                              f"({e})") from None
        self.rows = _rows(self.inputs)

    # -- candidates --------------------------------------------------------------------------

    def applicable(self, matrix: np.ndarray) -> list[tuple[str, str]]:
        from qlower.blocks.registry import as_matrix, candidates

        out = [("block-encoding", m) for m in candidates(as_matrix(matrix))] if np.any(matrix) \
            else []
        out.append(("amplitude-encoding", ""))
        out.append(("variational", ""))
        return out

    def _only(self, op, strategy: str, method: str):
        """The canonical graph with ``op`` lowered by (strategy, method), every other dense
        layer on the host."""
        from qlower.passes.rewrite import Rewriter
        from qlower.passes.select_strategy import DENSE

        rw = Rewriter(self.graph)
        for o in list(rw.ops):
            if o is None or o.name not in DENSE:
                continue
            if o.result().name == op.result().name:
                attrs = {**o.attrs, "strategy": strategy}
                name, _, amp = method.partition("+")
                if name:
                    attrs["method"] = name
                if amp:
                    attrs["amplify"] = amp
            else:
                attrs = {**o.attrs, "strategy": "host"}
            rw.replace(o, [o.with_(attrs=attrs)])
        return rw.finish()

    def evaluate(self, op, strategy: str, method: str) -> Candidate:
        from qlower.kernel_costs import kernel_estimate
        from qlower.passes.dce import DeadCodeElimination
        from qlower.passes.manager import PassManager
        from qlower.passes.partition import partition

        base = Candidate(strategy, method)
        if strategy == "variational" and not self.budgets.target_error:
            return replace(base, refused="approximate: weighed only against a --target-error")
        if strategy == "variational":
            qubits = _variational_qubits(op, self.graph)
            from qlower.passes.lower_linear import MAX_VARIATIONAL_QUBITS

            limit = min(MAX_VARIATIONAL_QUBITS, VARIATIONAL_WEIGHED_QUBITS)
            if qubits > limit:
                return replace(base, refused=f"a fit on {qubits} qubits is not weighed (up to "
                               f"{limit}: a larger fit takes minutes; ask for it with "
                               "--strategy NODE=variational)")
        try:
            lowered = PassManager([self.lower, DeadCodeElimination()], True).run(
                self._only(op, strategy, method))
            kernels = partition(lowered)
        except QlowerError as e:
            return replace(base, refused=str(e))
        mine = [k for k in kernels if set(k.source) & set(op.loc)] or list(kernels)
        if not mine:
            return replace(base, refused="no kernel was built (the layer stayed on the host)")
        rows = [kernel_estimate(lowered, k) for k in mine]
        try:
            m = measure(lowered, kernels, self.inputs)
        except QlowerError as e:
            return replace(base, refused=f"its kernels do not run on the reference rows ({e})")
        out = op.result().name
        exact = np.asarray(self.reference[out], dtype=np.float64)
        scale = float(np.max(np.abs(exact))) if exact.size else 0.0
        got = np.asarray(m.values[out], dtype=np.float64)
        systematic = float(np.max(np.abs(got - exact))) if exact.size else 0.0
        se1 = None if out in m.tainted else _largest(m.std_errors.get(out))
        alpha = rows[0].alpha if len(rows) == 1 else None
        approx = next((r.approximation for r in rows if r.approximation), None)
        counted = [counted_resources(lowered, k) for k in mine]
        total = counted[0]
        for r in counted[1:]:
            total = total + r
        cand = replace(
            base, qubits=max(r.qubits for r in counted), cnots=total.cnots,
            rotations=total.rotations, t_count=total.t_estimate(), depth=total.depth,
            alpha=alpha, success_probability=float(min(m.success[k.name] for k in mine)),
            circuits=sum(m.sweeps[k.name] for k in mine) / max(self.rows, 1),
            std_error=se1, systematic_error=systematic, approximation=approx,
            std_errors=None if se1 is None else np.asarray(m.std_errors[out], np.float64))
        return self.priced(cand, scale)

    def priced(self, c: Candidate, scale: float) -> Candidate:
        """The candidate's shots, error, work and cost under the budgets, and the budgets it
        breaks (``scale``: the layer's largest |output|, what "exact" is relative to)."""
        b = self.budgets
        shots, error, broken = None, None, []
        target = b.target_error or DEFAULT_ERROR * scale
        flag = f"--target-error {b.target_error:g}" if b.target_error else \
            f"the default target error {target:.3g} ({DEFAULT_ERROR:g} of the largest |output|)"
        if c.std_error is None:
            broken.append("its output's shot error is not analytic (a signed read-out)")
        else:
            room = target ** 2 - c.systematic_error ** 2
            if room <= 0:
                broken.append(f"its systematic error {c.systematic_error:.3g} exceeds {flag}")
            else:
                shots = max(1, math.ceil(c.std_error ** 2 / room))
                if b.shots and shots > b.shots:
                    broken.append(f"it needs {shots} shots > --shots {b.shots}")
                    shots = b.shots
        if shots is not None and c.std_error is not None:
            error = math.sqrt(c.systematic_error ** 2 + c.std_error ** 2 / shots)
        if b.max_qubits and c.qubits > b.max_qubits:
            broken.insert(0, f"{c.qubits} qubits > --max-qubits {b.max_qubits}")
        if b.max_depth and c.depth > b.max_depth:
            broken.insert(0 if not b.max_qubits else 1,
                          f"depth {c.depth} > --max-depth {b.max_depth}")
        gates = max(c.cnots, 1) if b.profile == "nisq" else max(c.t_count, 1)
        cost = gates * c.circuits * shots if shots is not None else math.inf
        work = c.circuits * shots * c.depth if shots is not None else None
        return replace(c, shots=shots, error=error, cost=cost, work=work,
                       violations=tuple(broken))

    # -- the choice --------------------------------------------------------------------------

    def decide(self, op, overridden: str | None = None) -> Decision:
        """Every applicable candidate of ``op`` measured, and the cheapest feasible one (or
        ``host`` with the reason); ``overridden``: the user's choice, which stands."""
        from qlower.passes.rewrite import Rewriter
        from qlower.passes.select_strategy import layer_matrix, layer_names

        matrix = layer_matrix(Rewriter(self.graph), op)
        cands = [self.evaluate(op, s, m) for s, m in self.applicable(matrix)]
        if self.lower.signs == "offset" and not self.lower.compose:
            # fixed-point amplification, where a block-encoded kernel mostly fails
            cands += [self.evaluate(op, c.strategy, f"{c.method}+fixed-point") for c in cands
                      if c.strategy == "block-encoding" and not c.refused
                      and c.success_probability < AMPLIFY_BELOW]
        cands = tuple(cands)
        node = layer_names(op)[0]
        what = "two-qubit gates" if self.budgets.profile == "nisq" else "T gates"
        fits = [c for c in cands if c.feasible]
        if overridden is not None:
            return Decision(node, op.name, op.result().name, matrix.shape, cands, overridden,
                            "a --strategy override names this layer", True)
        if not fits:
            why = "; ".join(f"{c.label}: {c.refused or c.violations[0]}" for c in cands)
            return Decision(node, op.name, op.result().name, matrix.shape, cands, "host",
                            f"no lowering fits ({why})")
        best = min(fits, key=lambda c: c.cost)  # min keeps the first of equal costs
        others = [c for c in cands if c is not best]
        why = f"fewest {what} x circuits x shots ({self.budgets.profile}): {best.cost:.4g}"
        if others:
            why += "; " + "; ".join(
                f"{c.label}: {c.refused or (c.violations[0] if c.violations else f'{c.cost:.4g}')}"
                for c in others)
        return Decision(node, op.name, op.result().name, matrix.shape, cands, best.label, why)


def counted_resources(lowered, kernel):
    """The kernel's circuit built and its gates counted (the estimate's closed forms are
    bounds for the methods synthesised by quantum Shannon decomposition). A multi-controlled
    gate (an amplification's reflection) counts as Cirq decomposes it, ancilla-free, into one-
    and two-qubit gates (``qlower.blocks.amplify.reflection_resources``, the same numbers as
    decomposing every copy) and adds its decomposed depth: the depth is then a bound."""
    import cirq

    from qlower.backends.cirq_emitter import build_kernel
    from qlower.blocks.amplify import reflection_resources
    from qlower.blocks.circuits import count_resources
    from qlower.blocks.resources import Resources

    kc = build_kernel(lowered, kernel)
    circuit = kc.circuit
    wide = [op for op in circuit.all_operations() if len(op.qubits) > 2]
    if not wide:
        return count_resources(circuit, kc.qubits)
    rest = count_resources(cirq.Circuit(op for op in circuit.all_operations()
                                        if len(op.qubits) <= 2), kc.qubits)
    parts = [reflection_resources(len(op.qubits)) for op in wide]
    x_gates = 2 * sum(len(op.qubits) for op in wide)  # the reflections' X gates, counted in both
    return Resources(len(kc.qubits), rest.cnots + sum(r.cnots for r in parts),
                     rest.rotations + sum(r.rotations for r in parts),
                     rest.depth + sum(r.depth for r in parts),
                     rest.single_qubit + sum(r.single_qubit for r in parts) - x_gates,
                     rest.t_gates + sum(r.t_gates for r in parts))


VARIATIONAL_WEIGHED_QUBITS = 4  # a fit on more qubits takes seconds to minutes per layer


def _variational_qubits(op, graph) -> int:
    """The qubits a variational lowering of ``op`` takes: its augmented block's width (bias
    and offset columns) and one flag."""
    from qlower.passes.rewrite import Rewriter
    from qlower.passes.select_strategy import layer_matrix

    m = layer_matrix(Rewriter(graph), op)
    cols = m.shape[1] + 1  # the offset column
    n = max(1, (max(m.shape[0], cols) - 1).bit_length())
    return n + 1


def decide_all(canonical, select, lower, calibration: str = "") -> list[Decision]:
    """The decision for every dense layer ``select-strategy`` would lower (the user's
    overrides stand, but their layers' candidates are measured too)."""
    from qlower.passes.rewrite import Rewriter
    from qlower.passes.select_strategy import DENSE, layer_matrix

    model = CostModel(canonical, lower, select.budgets(), calibration)
    rw = Rewriter(canonical)
    out = []
    for op in canonical.ops:
        if op.name not in DENSE or layer_matrix(rw, op) is None:
            continue
        named = select.override_of(op)
        out.append(model.decide(op, overridden=None if named is None else named))
    return out


def format_explain(decisions: Sequence[Decision], budgets: Budgets) -> str:
    """``qlower estimate --explain``: per layer, every candidate's figures and the choice."""
    stated = budgets.stated()
    if not budgets.target_error:
        stated.append(f"target error {DEFAULT_ERROR:g} x each layer's largest |output| (default)")
    lines = [f"cost model: profile {budgets.profile}, " + ", ".join(stated)
             + f"; figures on {REFERENCE_ROWS} reference rows unless --calibration gives them"]
    head = ["candidate", "qubits", "CNOTs", "T", "depth", "alpha", "p_succ", "circuits",
            "SE(1 shot)", "shots", "error", "cost", ""]
    for d in decisions:
        lines.append("")
        lines.append(f"{d.op} '{d.node}' -> %{d.value} ([W|b] {d.shape[0]}x{d.shape[1]}): "
                     f"{d.chosen}")
        body = []
        for c in d.candidates:
            mark = "*" if c.label == d.chosen else ""
            if c.refused:
                body.append([c.label, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                             "refused"])
                continue
            body.append([
                c.label, str(c.qubits), str(c.cnots), str(c.t_count), str(c.depth),
                "-" if c.alpha is None else f"{c.alpha:.4g}", f"{c.success_probability:.3g}",
                f"{c.circuits:g}", "-" if c.std_error is None else f"{c.std_error:.3g}",
                "-" if c.shots is None else str(c.shots),
                "-" if c.error is None else f"{c.error:.3g}",
                "-" if math.isinf(c.cost) else f"{c.cost:.4g}",
                mark or ("over budget" if c.violations else "")])
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
        lines.append("  " + "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
        lines += ["  " + "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in body]
        lines.append(f"  why: {d.reason}")
        for c in d.candidates:
            if c.refused and c.refused not in d.reason:  # (the reason names it already)
                lines.append(f"  {c.label} refused: {c.refused}")
    return "\n".join(lines) + "\n"


__all__ = ["Budgets", "Candidate", "CostModel", "Decision", "PROFILES", "decide_all",
           "format_explain", "measure", "reference_inputs"]
