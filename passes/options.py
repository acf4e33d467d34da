"""Pass options declared once: a pass's fields carry their help, flag and choices, and the
command line's flags and ``qlower.compile``'s keywords are derived from them.

``option(default, flag=..., help=..., choices=...)`` is a dataclass field with that metadata.
:func:`add_flags` adds one argparse flag per field that names a flag; :func:`keywords` lists a
set of passes' options (the keywords ``qlower.compile`` takes); :func:`split_keywords` hands
each keyword to its pass. Structured options (:class:`Overrides`) take their Python value
directly; only a pipeline string spells them as text.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


def option(default: Any, *, help: str = "", flag: str | None = None,  # noqa: A002
           choices: Callable[[], Iterable[str]] | Iterable[str] | None = None,
           metavar: str | None = None) -> Any:
    """A pass option: a dataclass field with its help text and, optionally, its command-line flag."""
    return dataclasses.field(default=default, metadata={
        "help": help, "flag": flag, "choices": choices, "metavar": metavar})


@dataclass(frozen=True)
class Overrides:
    """Per-layer choices, ``NAME → VALUE`` in order; as text ``NAME=VALUE;NAME=VALUE``."""

    items: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: Any) -> Overrides:
        from qlower.passes.base import PipelineError

        if isinstance(value, Overrides):
            return value
        if isinstance(value, Mapping):
            return cls(tuple((str(k), str(v)) for k, v in value.items()))
        if not isinstance(value, str):
            raise PipelineError(f"overrides must be a mapping or NAME=VALUE;... text, got "
                                f"{type(value).__name__}")
        items = []
        for item in filter(None, (s.strip() for s in value.split(";"))):
            name, eq, v = item.partition("=")
            if not eq or not name.strip():
                raise PipelineError(f"strategy override '{item}' must be NAME=STRATEGY")
            items.append((name.strip(), v.strip()))
        return cls(tuple(items))

    def as_dict(self) -> dict[str, str]:
        return dict(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __str__(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.items)


def keywords(pass_classes: Iterable[type]) -> dict[str, type]:
    """Every option of ``pass_classes``: keyword → the pass class that owns it."""
    out: dict[str, type] = {}
    for cls in pass_classes:
        for f in dataclasses.fields(cls):
            out[f.name] = cls
    return out


def split_keywords(pass_classes: Iterable[type], options: Mapping[str, Any],
                   where: str = "compile") -> dict[type, dict[str, Any]]:
    """``options`` handed to their passes; an unknown keyword names the known ones."""
    from qlower.errors import OptionError

    pass_classes = tuple(pass_classes)
    owners = keywords(pass_classes)
    out: dict[type, dict[str, Any]] = {cls: {} for cls in dict.fromkeys(owners.values())}
    for key, value in options.items():
        if key not in owners:
            raise OptionError(f"{where}: unknown option '{key}' (options: {', '.join(owners)})")
        for cls in shared_by(pass_classes, key):  # an option several passes declare: each gets it
            out.setdefault(cls, {})[key] = value
    return out


def shared_by(pass_classes: Iterable[type], key: str) -> list[type]:
    """The passes among ``pass_classes`` that declare the option ``key`` (``--calibration``:
    lower-linear's fits and lower-quantum's activation bounds read the same file)."""
    return [cls for cls in pass_classes if any(f.name == key for f in dataclasses.fields(cls))]


def _choices(f: dataclasses.Field):
    c = f.metadata.get("choices")
    return list(c() if callable(c) else c) if c is not None else None


def add_flags(parser: argparse.ArgumentParser, pass_classes: Iterable[type]) -> None:
    """One flag per option that declares one (``--strategy`` is repeatable: ``[OP=]STRATEGY``).

    A flag the command already has (``qlower run``'s ``--shots`` and ``--max-qubits``) is left
    as the command defines it: its value reaches the option of the same name too. An option
    several passes declare under one flag (``--calibration``) is one flag, the first's help."""
    for cls in pass_classes:
        for f in dataclasses.fields(cls):
            flag = f.metadata.get("flag")
            if not flag or flag in parser._option_string_actions:
                continue
            kwargs: dict[str, Any] = {"help": f.metadata.get("help", ""), "dest": f.name}
            if f.metadata.get("metavar"):
                kwargs["metavar"] = f.metadata["metavar"]
            if f.name == "strategy":  # [OP=]STRATEGY items: the default and the overrides
                kwargs.update(action="append")
            elif f.type in (bool, "bool"):
                kwargs.update(action="store_true")
            else:
                kwargs.update(default=f.default, choices=_choices(f),
                              type={"float": float, "int": int}.get(str(f.type), None))
            parser.add_argument(flag, **{k: v for k, v in kwargs.items() if v is not None})


def options_from_args(args: argparse.Namespace, pass_classes: Iterable[type]) -> dict[str, Any]:
    """The keywords of ``qlower.compile`` given by the parsed flags."""
    from qlower.errors import OptionError

    out: dict[str, Any] = {}
    for cls in pass_classes:
        for f in dataclasses.fields(cls):
            if not f.metadata.get("flag") or not hasattr(args, f.name):
                continue
            value = getattr(args, f.name)
            if f.name == "strategy":
                strategy, overrides = f.default, {}
                for item in value or []:
                    if "=" in item:
                        name, _, v = item.partition("=")
                        if not name or not v:
                            raise OptionError(f"--strategy {item}: expected OP=STRATEGY or STRATEGY")
                        overrides[name] = v
                    else:
                        strategy = item
                out["strategy"] = strategy
                out["overrides"] = overrides
            else:
                out[f.name] = value
    return out


__all__ = ["Overrides", "add_flags", "keywords", "option", "options_from_args", "shared_by",
           "split_keywords"]
