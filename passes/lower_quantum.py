"""lower-quantum: the quantum lowerings of the ops beyond dense layers, one unit each.

A lowering is a function ``(rw, op, options) -> list[Op]`` registered for an op kind and a
strategy with :func:`lowering`; it replaces ``op`` by host and ``q`` ops, or raises
:class:`~qlower.errors.UnsupportedError` with a one-line reason when it cannot apply (the
user asked for it by name: silence would leave the op on the host unnoticed). The op's
``strategy`` attribute (written by ``select-strategy`` from ``--strategy KIND=STRATEGY`` or
``--strategy NODE=STRATEGY``) says which lowering runs; ``host`` or no attribute leaves it.

The lowerings live in their own modules (``lower_softmax``, …), listed in :data:`_MODULES`;
adding one is a new module plus its strategy name in the op's ``strategy`` attribute.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qlower.errors import UnsupportedError
from qlower.ir import Graph, Op
from qlower.passes.base import PipelineError, TransformPass, register_pass
from qlower.passes.calibration import calibration_option
from qlower.passes.options import option
from qlower.passes.rewrite import Rewriter

Lowering = Callable[[Rewriter, Op, "LowerQuantum"], "list[Op]"]

_LOWERINGS: dict[tuple[str, str], Lowering] = {}
# (kind, strategy) -> predicate: which ops of the kind a kind-wide override should lower
_APPLIES: dict[tuple[str, str], Callable[[Rewriter, Op], bool]] = {}
_MODULES = ("lower_softmax", "lower_attention", "lower_layer_norm", "lower_activations",
            "lower_residual", "lower_losses")


def lowering(kind: str, strategy: str, applies: Callable[[Rewriter, Op], bool] | None = None):
    """Register ``fn`` as the ``strategy`` lowering of ops of ``kind``. ``applies(rw, op)``
    picks the ops a kind-wide override (``--strategy nn.add=quantum``) means — a residual add,
    not a bias add; an override naming the node lowers it or says why not."""
    def deco(fn: Lowering) -> Lowering:
        _LOWERINGS[(kind, strategy)] = fn
        if applies is not None:
            _APPLIES[(kind, strategy)] = applies
        return fn
    return deco


def kind_wide_applies(rw: Rewriter, op: Op, strategy: str) -> bool:
    """Whether a kind-wide override of ``strategy`` is meant for ``op``."""
    lowerings()
    check = _APPLIES.get((op.name, strategy))
    return check is None or check(rw, op)


def lowerings() -> dict[tuple[str, str], Lowering]:
    for module in _MODULES:
        importlib.import_module(f"qlower.passes.{module}")
    return dict(_LOWERINGS)


def op_strategies() -> dict[str, tuple[str, ...]]:
    """Op kind → its quantum strategies (``host`` always applies too)."""
    out: dict[str, list[str]] = {}
    for kind, strategy in lowerings():
        out.setdefault(kind, []).append(strategy)
    return {k: tuple(v) for k, v in out.items()}


def unsupported(op: Op, strategy: str, why: str) -> UnsupportedError:
    """The one-line refusal of a lowering that cannot apply to ``op``."""
    name = op.loc[0] if op.loc else f"%{op.result().name}"
    return UnsupportedError(f"node '{name}' ({op.name}): strategy '{strategy}' does not apply: "
                            f"{why} (use --strategy {name}=host to keep it classical)")


def static_size(rw: Rewriter, op: Op, strategy: str, name: str, what: str) -> int:
    """A value's last-axis size, which a register needs at compile time."""
    t = rw.tensor_type(name)
    n = t.dims[-1] if t.rank else None
    if not isinstance(n, int):
        raise unsupported(op, strategy, f"{what} has a size unknown before running ({t})")
    return n


def known_sweeps(rw: Rewriter, op: Op, strategy: str, name: str) -> None:
    """A kernel runs once per index of the leading axes: their sizes must be known."""
    t = rw.tensor_type(name)
    if any(d is None for d in t.dims[:-1]):
        raise unsupported(op, strategy, f"the input {t} has a size that nothing determines "
                          "before running; a kernel needs its sweep count")


def encode_and_block(rw: Rewriter, op: Op, x: str, W: np.ndarray, out: str, method: str = "auto"):
    """Amplitude-encode ``x`` (last axis) and apply a block encoding of the constant ``W``:
    ``(ops, state, norm, alpha)`` with ``y = alpha · norm · ψ`` for ψ read at flags = 0."""
    from qlower.blocks.layout import block_layout
    from qlower.blocks.registry import plan_block

    method, attrs = plan_block(W, method)
    size = 1 << block_layout(method, *W.shape, terms=attrs.get("terms")).input
    norm = rw.build("host.norm", [x], results=[rw.fresh(f"{x}.norm")], loc=op.loc)
    ang = rw.build("host.amplitude_angles", [x], {"size": size},
                   results=[rw.fresh(f"{out}.angles")], loc=op.loc)
    st = rw.build("q.encode.amplitude", [ang.result().name], {"size": size},
                  results=[rw.fresh(f"{out}.state")], loc=op.loc)
    w_name = rw.add_constant(W.astype(np.float64), f"{out}.block")
    blk = rw.build(f"q.block.{method}", [st.result().name, w_name], attrs,
                   results=[rw.fresh(f"{out}.encoded")], loc=op.loc)
    return [norm, ang, st, blk], blk.result().name, norm.result().name, attrs["alpha"]


@register_pass
@dataclass(frozen=True)
class LowerQuantum(TransformPass):
    name = "lower-quantum"
    summary = "softmax, attention, layer norm, activations, residual adds and losses to q.* kernels"

    epsilon: float = option(1e-3, flag="--epsilon", metavar="E",
                            help="error budget of approximate lowerings (qsp softmax: the total-"
                            "variation distance to softmax; default 1e-3)")
    score_range: float = option(16.0, flag="--score-range", metavar="R",
                                help="declared range max(s) - min(s) of the scores a qsp softmax "
                                "sees (default 16); scores further below the maximum are clipped")

    activation_bound: float = option(0.0, flag="--activation-bound", metavar="B",
                                     help="declared bound |x| <= B of the inputs of qsvt "
                                     "activations (default: from --calibration)")
    calibration: str = calibration_option()

    def __post_init__(self) -> None:
        if not self.activation_bound >= 0:
            raise PipelineError(f"lower-quantum: activation bound must be >= 0, got "
                                f"{self.activation_bound}")
        if not 0 < self.epsilon < 1:
            raise PipelineError(f"lower-quantum: epsilon must be in (0, 1), got {self.epsilon}")
        if not self.score_range > 0:
            raise PipelineError(f"lower-quantum: score range must be > 0, got {self.score_range}")

    def calibrated(self, graph: Graph, names: list[str]) -> dict[str, float]:
        """The largest |value| of each of ``names`` over the calibration inputs' run."""
        if not self.calibration or not names:
            return {}
        from qlower.passes.calibration import calibration_values

        values = calibration_values(graph, self.calibration)
        return {n: float(np.nanmax(np.abs(values[n]))) if np.size(values[n]) else 0.0
                for n in names}

    def apply(self, graph: Graph) -> Graph:
        table = lowerings()
        wanted = [op.operand(0) for op in graph.ops if op.attr("strategy", None) == "qsvt"] \
            if any("strategy" in op.attrs for op in graph.ops) else []
        object.__setattr__(self, "ranges", self.calibrated(graph, wanted))
        rw = Rewriter(graph)
        for op in list(rw.ops):
            if op is None:
                continue
            strategy = op.attr("strategy", None) if "strategy" in op.attrs else None
            if not strategy or strategy == "host" or op.dialect != "nn":
                continue
            fn = table.get((op.name, strategy))
            if fn is None:
                raise unsupported(op, strategy, "no such lowering is built")
            rw.replace(op, fn(rw, op, self))
        return rw.finish()


__all__ = ["LowerQuantum", "lowering", "lowerings", "op_strategies", "unsupported"]
