"""Run a pipeline of passes: verify after each one, dump after the ones asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qlower.errors import QlowerError
from qlower.ir import Graph, VerifyError, verify_graph
from qlower.ir.verifier import nonfinite_weight
from qlower.passes.base import (
    Pass,
    PipelineError,
    option_text,
    parse_pipeline,
    registered_passes,
)


class PassFailure(RuntimeError):
    """A pass raised, or produced a graph that does not verify; names the pass."""

    def __init__(self, pass_name: str, message: str) -> None:
        super().__init__(f"pass '{pass_name}' {message}")
        self.pass_name = pass_name


@dataclass
class PassManager:
    passes: Sequence[Pass]
    verify_each: bool = True
    dump_after: frozenset[str] = frozenset()
    on_dump: Callable[[Pass, Graph], None] | None = None
    history: list[tuple[str, Graph]] = field(default_factory=list)

    @staticmethod
    def from_text(text: str, **kw) -> PassManager:
        return PassManager(parse_pipeline(text), **kw)

    def run(self, graph: Graph) -> Graph:
        unknown = set(self.dump_after) - {p.name for p in self.passes} - {"all"}
        if unknown:
            names = ", ".join(sorted(unknown))
            in_pipeline = ", ".join(p.name for p in self.passes) or "none"
            raise PipelineError(
                f"--dump-after {names}: not in the pipeline (passes: {in_pipeline})"
            )
        for p in self.passes:
            previous = graph  # keeps the old constants alive: their ids stay theirs
            before = {id(c.data) for c in previous.constants}
            try:
                with np.errstate(all="ignore"):  # what they compute is checked below
                    graph = p.run(graph)
            except VerifyError as e:
                raise PassFailure(p.name, f"built an invalid op: {e}") from e
            new = frozenset(c.name for c in graph.constants if id(c.data) not in before)
            problem = nonfinite_weight(graph, new, p.name)
            if problem:
                raise QlowerError(problem)  # the model's numbers, not the pass, are at fault
            if self.verify_each:
                try:
                    verify_graph(graph)
                except VerifyError as e:
                    raise PassFailure(p.name, f"produced an invalid graph: {e}") from None
            self.history.append((p.name, graph))
            if self.on_dump is not None and (p.name in self.dump_after or "all" in self.dump_after):
                self.on_dump(p, graph)
        return graph


def run_pipeline(graph: Graph, pipeline: str | Iterable[Pass], **kw) -> Graph:
    passes = parse_pipeline(pipeline) if isinstance(pipeline, str) else list(pipeline)
    return PassManager(passes, **kw).run(graph)


def describe_passes() -> list[tuple[str, str]]:
    """(pipeline spec with default options, summary) of every registered pass."""
    out = []
    for name, cls in registered_passes().items():
        opts = ",".join(f"{k}={option_text(v.default)}" for k, v in cls.options().items())
        out.append((name + ("{" + opts + "}" if opts else ""), cls.summary))
    return out
