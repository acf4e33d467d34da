"""Passes: small frozen dataclasses with a kebab-case name and options as fields.

A :class:`TransformPass` rewrites a graph (``apply(graph) -> graph``); an :class:`AnalysisPass`
only reads it and returns its findings (``analyze(graph) -> result``) and leaves the graph as is.
Passes register by name; a pipeline is text such as
``"fold-constants,fuse-linear,dce"`` or ``"fold-constants{max-elements=1000}"``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any, ClassVar

from qlower.ir import Graph


class PipelineError(ValueError):
    """A pipeline string is malformed or names an unknown pass or option."""


@dataclasses.dataclass(frozen=True)
class Pass:
    """Base of all passes. ``name`` is the kebab-case name used in pipelines."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, graph: Graph) -> Graph:
        raise NotImplementedError

    @classmethod
    def options(cls) -> dict[str, dataclasses.Field]:
        return {f.name.replace("_", "-"): f for f in dataclasses.fields(cls)}

    def spec(self) -> str:
        """The pipeline text that recreates this pass with its options."""
        opts = []
        for key, f in self.options().items():
            value = getattr(self, f.name)
            if value != f.default:
                opts.append(f"{key}={option_text(value)}")
        return self.name + ("{" + ",".join(opts) + "}" if opts else "")


@dataclasses.dataclass(frozen=True)
class TransformPass(Pass):
    def apply(self, graph: Graph) -> Graph:
        raise NotImplementedError

    def run(self, graph: Graph) -> Graph:
        return self.apply(graph)


@dataclasses.dataclass(frozen=True)
class AnalysisPass(Pass):
    def analyze(self, graph: Graph) -> Any:
        raise NotImplementedError

    def run(self, graph: Graph) -> Graph:
        self.analyze(graph)
        return graph


_REGISTRY: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    if not cls.name or cls.name != cls.name.lower() or " " in cls.name:
        raise ValueError(f"{cls.__name__}: pass names are kebab-case, got {cls.name!r}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"pass {cls.name} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registered_passes() -> dict[str, type[Pass]]:
    import qlower.passes  # noqa: F401  (registers the built-in passes)

    return dict(sorted(_REGISTRY.items()))


def option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _convert(raw: str, annotation: Any, where: str) -> Any:
    if hasattr(annotation, "parse"):  # a structured option (passes/options.py): its own text form
        return annotation.parse(raw)
    kind = annotation if isinstance(annotation, type) else {
        "int": int, "float": float, "bool": bool, "str": str
    }.get(str(annotation))
    try:
        if kind is bool:
            if raw.lower() in ("true", "1", "yes"):
                return True
            if raw.lower() in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        if kind in (int, float, str):
            return kind(raw)
    except ValueError:
        raise PipelineError(f"{where}: {raw!r} is not a valid {kind.__name__}") from None
    raise PipelineError(f"{where}: unsupported option type {annotation}")


def make_pass(name: str, options: dict[str, str] | None = None) -> Pass:
    passes = registered_passes()
    cls = passes.get(name)
    if cls is None:
        known = ", ".join(passes)
        raise PipelineError(f"unknown pass '{name}' (known passes: {known})")
    fields = cls.options()
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, raw in (options or {}).items():
        f = fields.get(key)
        if f is None:
            choices = ", ".join(fields) or "none"
            raise PipelineError(f"pass '{name}' has no option '{key}' (options: {choices})")
        kwargs[f.name] = _convert(raw, hints.get(f.name, f.type), f"option '{key}' of '{name}'")
    return cls(**kwargs)


def parse_pipeline(text: str) -> list[Pass]:
    """``"a,b{k=v,k2=v2},c"`` → passes. Whitespace is ignored; an empty string is no passes."""
    out: list[Pass] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n,":
            i += 1
        if i >= n:
            break
        j = i
        while j < n and text[j] not in ",{":
            j += 1
        name = text[i:j].strip()
        options: dict[str, str] = {}
        if j < n and text[j] == "{":
            k = text.find("}", j)
            if k < 0:
                raise PipelineError(f"pipeline: '{{' after '{name}' is never closed")
            for item in filter(None, (s.strip() for s in text[j + 1 : k].split(","))):
                if "=" not in item:
                    raise PipelineError(f"pipeline: option '{item}' of '{name}' needs key=value")
                key, _, value = item.partition("=")
                options[key.strip()] = value.strip()
            j = k + 1
        if not name:
            raise PipelineError(f"pipeline: empty pass name at position {i}")
        out.append(make_pass(name, options))
        i = j
    return out


def pipeline_text(passes: list[Pass]) -> str:
    return ",".join(p.spec() for p in passes)


PassCallback = Callable[[Pass, Graph], None]
