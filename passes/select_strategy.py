"""select-strategy: choose each dense layer's lowering, and write it on the layer.

Every ``nn.linear`` with a constant float weight (and a constant bias, if any) and every
``nn.matmul`` by a constant matrix gets two attributes::

    %y = nn.linear(%x, %w, %b) : ...   ⇒   %y = nn.linear(%x, %w, %b) {method = "fable",
                                                                        strategy = "block-encoding"}

``strategy`` is ``block-encoding``, ``amplitude-encoding`` or ``host`` (leave it classical);
``method`` (block encodings only) is a registered block-encoding method
(``qlower.blocks.registry``). ``lower-linear`` then rewrites each layer as its attributes say.
The choice: the override that names the layer (its ONNX node name, its output value, or its op
kind ``nn.linear``/``nn.matmul``), else ``strategy``/``method``; ``auto`` picks the method with
the fewest CNOTs per successful run for the layer's matrix ``[W | b]``
(``qlower.blocks.registry.choose_method``).

Ops with quantum lowerings of their own (``lower-quantum``: ``nn.softmax``, …) get a
``strategy`` attribute only where an override names them (by node, output or op kind:
``--strategy nn.softmax=exact``); without one they stay on the host.

Options are this dataclass's fields; the command line's ``--strategy``/``--method`` and
``qlower.compile``'s keywords are derived from them (``passes/options.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qlower.ir import Graph, Op
from qlower.passes.base import PipelineError, TransformPass, register_pass
from qlower.passes.options import Overrides, option
from qlower.passes.rewrite import Rewriter

STRATEGIES = ("block-encoding", "amplitude-encoding", "variational", "host")


def methods() -> tuple[str, ...]:
    """``auto`` and every general registered block-encoding method (a structured one, such as
    ``combine``, is chosen by the lowering that builds its form)."""
    from qlower.blocks.registry import methods as entries

    return ("auto", *(name for name, e in entries().items() if e.general))


AMPLIFICATIONS = ("fixed-point", "qsvt")


def check_strategy(text: str, where: str) -> tuple[str, str]:
    """``STRATEGY`` or ``block-encoding:METHOD[+AMPLIFY]`` → (strategy, method text or '');
    ``+fixed-point``/``+qsvt`` amplifies that layer's kernel (``split_method``)."""
    strategy, _, method = text.partition(":")
    if strategy not in STRATEGIES:
        raise PipelineError(
            f"{where}: unknown strategy '{strategy}' (strategies: {', '.join(STRATEGIES)})")
    name, plus, amp = method.partition("+")
    if method and (strategy != "block-encoding" or name not in methods()):
        raise PipelineError(
            f"{where}: unknown block-encoding method '{name}' (methods: {', '.join(methods())})")
    if plus and amp not in AMPLIFICATIONS:
        raise PipelineError(f"{where}: unknown amplification '{amp}' (amplifications: "
                            f"{', '.join(AMPLIFICATIONS)})")
    return strategy, method


def split_method(text: str) -> tuple[str, str]:
    """``METHOD[+AMPLIFY]`` → (method, amplification or '')."""
    method, _, amp = text.partition("+")
    return method, amp


DENSE = ("nn.linear", "nn.matmul")


def op_kinds() -> dict[str, tuple[str, ...]]:
    """Op kind → its strategies, for the kinds with quantum lowerings (``lower-quantum``)."""
    from qlower.passes.lower_quantum import op_strategies

    return {k: (*v, "host") for k, v in op_strategies().items()}


def all_op_strategies() -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for v in op_kinds().values() for s in v))


def check_op_strategy(kind: str, text: str, where: str) -> str:
    """A strategy of an op of ``kind`` (``nn.softmax``: ``exact``, ``qsp``, ``host``)."""
    choices = op_kinds()[kind]
    if text not in choices:
        raise PipelineError(f"{where}: {kind} has no strategy '{text}' (strategies: "
                            f"{', '.join(choices)})")
    return text


def layer_names(op: Op) -> list[str]:
    """The names a user can give a layer by: ONNX node names, output name, op kind."""
    return [*op.loc, op.result().name, op.name]


def layer_matrix(rw: Rewriter, op: Op) -> np.ndarray | None:
    """The layer's matrix ``[W | b]`` (``y = W x + b``) if ``op`` can become a kernel, else None."""
    if op.name == "nn.linear":
        w = rw.constant(op.operand(1))
        b = rw.constant(op.operand(2)) if op.operand(2) is not None else None
        if w is None or (op.operand(2) is not None and b is None):
            return None
    elif op.name == "nn.matmul":
        a, c = rw.constant(op.operand(0)), rw.constant(op.operand(1))
        rank = rw.tensor_type(op.operand(0 if c is not None else 1)).rank
        if c is not None and a is None and c.ndim == 2 and rank >= 1:
            w, b = c.T, None
        elif a is not None and c is None and a.ndim == 2 and rank >= 2:
            w, b = a, None
        else:
            return None
    else:
        return None
    if w.ndim != 2 or not np.issubdtype(w.dtype, np.floating):
        return None
    w = w.astype(np.float64)
    return w if b is None else np.concatenate([w, b.reshape(-1, 1).astype(np.float64)], axis=1)


@register_pass
@dataclass(frozen=True)
class SelectStrategy(TransformPass):
    name = "select-strategy"
    summary = "choose each dense layer's lowering (strategy and method attributes)"

    strategy: str = option("block-encoding", flag="--strategy", metavar="[OP=]STRATEGY",
                           help="block-encoding (default), amplitude-encoding, variational or host, for every "
                           "layer or for one (OP: ONNX node name, output name or op kind like "
                           "nn.linear); block-encoding:METHOD picks the method; repeatable")
    method: str = option("auto", flag="--method", choices=methods,
                         help="block-encoding method (default: auto, the fewest CNOTs per "
                         "successful run)")
    overrides: Overrides = option(Overrides(), help="NAME=STRATEGY[:METHOD] per layer "
                                  "(given through --strategy OP=STRATEGY)")
    max_qubits: int = option(0, flag="--max-qubits", metavar="Q",
                             help="cost model: lower each layer by the cheapest lowering of at "
                             "most Q qubits (a layer nothing fits stays on the host)")
    max_depth: int = option(0, flag="--max-depth", metavar="D",
                            help="cost model: lower each layer by the cheapest lowering of depth (a "
                            "bound) at most D")
    target_error: float = option(0.0, flag="--target-error", metavar="E",
                                 help="cost model: lower each layer by the cheapest lowering whose output, read from shots, has "
                                 "an error (systematic and standard, in quadrature) of at most E "
                                 "on the reference rows; sets each candidate's shots")
    shots: int = option(0, flag="--shots", metavar="N",
                        help="cost model: shots per circuit available (with --target-error: a "
                        "budget; alone: the shots the figures assume)")
    profile: str = option("", flag="--profile", choices=("nisq", "ft"),
                          help="cost model: minimise two-qubit gates x shots (nisq, the default "
                          "once a budget is given) or T gates x shots (ft)")

    def __post_init__(self) -> None:
        for name in ("max_qubits", "max_depth", "shots", "target_error"):
            value = getattr(self, name)
            if value is None:  # `qlower run` leaves its own --max-qubits/--shots unset
                object.__setattr__(self, name, 0)
            elif not (value >= 0 and math.isfinite(value)):
                raise PipelineError(f"select-strategy: {name.replace('_', '-')} must be a "
                                    f"finite number >= 0, got {value!r}")
        if self.profile not in ("", "nisq", "ft"):
            raise PipelineError(f"select-strategy: profile must be nisq or ft, got "
                                f"'{self.profile}'")
        strategy, method = check_strategy(self.strategy, "select-strategy")
        if "+" in method:
            raise PipelineError(f"select-strategy: '+{split_method(method)[1]}' amplifies one "
                                "layer (--strategy NODE=block-encoding:METHOD+AMPLIFY); for "
                                "every layer use --amplify")
        if method:  # "block-encoding:fable" as the default strategy
            object.__setattr__(self, "strategy", strategy)
            object.__setattr__(self, "method", method)
        if self.method not in methods():
            raise PipelineError(f"select-strategy: unknown method '{self.method}' (methods: "
                                f"{', '.join(methods())})")
        if not isinstance(self.overrides, Overrides):
            object.__setattr__(self, "overrides", Overrides.parse(self.overrides))
        kinds = op_kinds()
        for name, text in self.overrides.items:
            where = f"override '{name}={text}'"
            if name in kinds:
                check_op_strategy(name, text, where)
            elif name in DENSE or text not in all_op_strategies():
                check_strategy(text, where)  # a dense layer's, or no op's: say which there are

    @property
    def budgeted(self) -> bool:
        """Whether the cost model chooses (a budget or a profile was given)."""
        return bool(self.max_qubits or self.max_depth or self.target_error or self.profile)

    def budgets(self):
        from qlower.cost_model import Budgets

        return Budgets(int(self.max_qubits), int(self.max_depth), float(self.target_error),
                       int(self.shots), self.profile or "nisq")

    def override_of(self, op: Op) -> str | None:
        """The user's override that names ``op`` (its text), or None."""
        table = dict(self.overrides.items)
        return next((table[n] for n in layer_names(op) if n in table), None)

    def deciding(self, decisions) -> SelectStrategy:
        """This pass with the cost model's choices written in as overrides of the layers no
        user override names (keyed by their unique output value)."""
        from dataclasses import replace

        chosen = tuple((d.value, d.chosen) for d in decisions if not d.overridden)
        out = replace(self, overrides=Overrides(self.overrides.items + chosen))
        object.__setattr__(out, "decided", tuple(decisions))
        return out

    def op_choice(self, rw: Rewriter, op: Op) -> str | None:
        """The strategy an override gives a non-dense op (``op`` of a kind with quantum
        lowerings), or None. An override by op kind skips the ops its lowering is not meant
        for (``nn.add=quantum``: residual adds, not bias adds); one naming the node does not."""
        from qlower.passes.lower_quantum import kind_wide_applies

        table = dict(self.overrides.items)
        for name in layer_names(op):
            if name in table:
                strategy = check_op_strategy(op.name, table[name], f"override '{name}={table[name]}'")
                if name == op.name and not kind_wide_applies(rw, op, strategy):
                    return None
                return strategy
        return None

    def choice(self, op: Op) -> tuple[str, str]:
        """(strategy, method) for ``op`` from the overrides and the defaults (method unresolved)."""
        table = dict(self.overrides.items)
        for name in layer_names(op):
            if name in table:
                strategy, method = check_strategy(table[name], f"override '{name}'")
                return strategy, method or self.method
        return self.strategy, self.method

    def attributes(self, rw: Rewriter, op: Op) -> dict | None:
        """The attributes ``op`` gets (None: it cannot become a kernel)."""
        from qlower.blocks.registry import choose_method

        m = layer_matrix(rw, op)
        if m is None:
            return None
        strategy, method = self.choice(op)
        if strategy != "block-encoding":
            return {"strategy": strategy}
        method, amp = split_method(method)
        if method == "auto":
            method = choose_method(m) if np.any(m) else "fable"
        return {"strategy": strategy, "method": method, **({"amplify": amp} if amp else {})}

    def apply(self, graph: Graph) -> Graph:
        if self.budgeted and getattr(self, "decided", None) is None:
            # run alone (a pipeline's select-strategy): the candidates are lowered with
            # lower-linear's defaults (``qlower.compile`` hands the cost model its own)
            from qlower.cost_model import decide_all
            from qlower.passes.lower_linear import LowerLinear

            return self.deciding(decide_all(graph, self, LowerLinear())).apply(graph)
        rw = Rewriter(graph)
        kinds = op_kinds()
        for op in list(rw.ops):
            if op is not None and op.name in kinds:
                strategy = self.op_choice(rw, op)
                if strategy is not None and op.attr("strategy", None) != strategy:
                    rw.replace(op, [op.with_(attrs={**op.attrs, "strategy": strategy})])
                continue
            if op is None or op.name not in DENSE:
                continue
            attrs = self.attributes(rw, op)
            if attrs is not None and any(op.attr(k, None) != v for k, v in attrs.items()):
                rw.replace(op, [op.with_(attrs={**op.attrs, **attrs})])
        return rw.finish()


def selected(op: Op) -> tuple[str, str] | None:
    """The (strategy, method) ``select-strategy`` wrote on ``op``, or None."""
    strategy = op.attr("strategy", None)
    return None if strategy is None else (strategy, op.attr("method", None) or "auto")


__all__ = ["AMPLIFICATIONS", "DENSE", "STRATEGIES", "SelectStrategy", "check_op_strategy", "check_strategy", "layer_matrix", "layer_names",
           "methods", "selected", "split_method"]
