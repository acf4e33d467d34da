"""IR text parser (lark grammar shipped as package data: ``grammar.lark``).

``parse(text)`` is syntax-level: it builds the graph exactly as written, including ops and
types of unregistered dialects (kept so that text round-trips); ``verify`` judges it.
Constants printed by reference stay references unless ``weights`` supplies their data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError
from lark.lexer import PatternStr

from qlower.ir.attributes import ConstRef, Dense, checksum
from qlower.ir.graph import Constant, Graph, Value
from qlower.ir.parse_tree import SemanticError, TreeBuilder, dense_array
from qlower.ir.types import DType, TensorType


class ParseError(ValueError):
    """The text is not valid IR; the message gives line and column."""


@cache
def grammar_text() -> str:
    return resources.files("qlower.ir").joinpath("grammar.lark").read_text(encoding="utf-8")


@cache
def _parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        maybe_placeholders=False,
        propagate_positions=True,
    )


@cache
def _fast_parser() -> Lark:
    """The same grammar with the tree builder run inside the parser (no parse tree is built):
    about twice as fast, but an error has no rule positions, so errors are reported by a
    second parse with ``_parser`` (the text is then wrong anyway)."""
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        maybe_placeholders=False,
        transformer=TreeBuilder(),
    )


def lark_grammar() -> Lark:
    """The grammar as a Lark object (``hypothesis.extra.lark.from_lark`` generates from it)."""
    return _parser()


def parse(text: str, weights: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Parse IR text. With ``weights``, constants printed by reference get their data."""
    try:
        parts = _fast_parser().parse(text)
    except Exception:  # noqa: BLE001 - the slow parse below reports it, with its position
        parts = None
    try:
        if parts is None:
            parts = TreeBuilder().transform(_parser().parse(text))
        name, inputs, consts, ops, outputs, attrs = parts
        constants = []
        for _, cname, ctype, (kind, payload) in consts:
            if not isinstance(ctype, TensorType):
                raise SemanticError(f"constant %{cname} must be a tensor, got {ctype}")
            if kind == "dense":
                data: Any = Dense(dense_array(payload, ctype, cname))
            else:
                data = _bind_weight(cname, ctype, payload, weights)
            constants.append(Constant(Value(cname, ctype), data))
        return Graph(name, tuple(inputs), tuple(constants), tuple(ops), tuple(outputs), attrs)
    except UnexpectedInput as e:
        raise ParseError(_describe_unexpected(e, text)) from None
    except VisitError as e:
        orig = e.orig_exc
        if isinstance(orig, (SemanticError, ValueError, ArithmeticError)):
            raise ParseError(_where(e.obj) + str(orig)) from None
        raise
    except SemanticError as e:
        raise ParseError(str(e)) from None
    except RecursionError:
        raise ParseError("the text nests lists or expressions too deeply") from None


_CHECKSUM = re.compile(r"sha256:[0-9a-f]{16}")


def _bind_weight(name: str, t: TensorType, digest: str, weights) -> Any:
    if not _CHECKSUM.fullmatch(digest):
        raise SemanticError(
            f"constant %{name}: bad checksum {digest!r} (expected 'sha256:' and 16 hex digits)"
        )
    if weights is None or name not in weights:
        if weights is not None:
            raise SemanticError(f"the weights file has no array for constant %{name}")
        return ConstRef(digest)
    if not t.is_static:
        raise SemanticError(f"constant %{name} must have a static type, got {t}")
    arr = np.asarray(weights[name])
    try:
        dtype: Any = DType.from_numpy(arr.dtype)
    except ValueError:
        dtype = arr.dtype
    if tuple(arr.shape) != t.static_shape or dtype != t.dtype:
        raise SemanticError(
            f"weights for %{name} have shape {list(arr.shape)} and dtype {dtype}, "
            f"the dump says {t}"
        )
    got = checksum(arr)
    if got != digest:
        raise SemanticError(f"weights for %{name} do not match the dump ({got} vs {digest})")
    return Dense(arr)


def _describe_unexpected(e: UnexpectedInput, text: str) -> str:
    tok = getattr(e, "token", None)
    at_end = isinstance(e, UnexpectedEOF) or (tok is not None and tok.type == "$END")
    if at_end:
        lines = text.split("\n")
        where = f"line {len(lines)}, column {len(lines[-1]) + 1}"
    else:
        where = f"line {e.line}, column {e.column}"
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else ""
        got = f"character {ch!r}"
        ip = getattr(e, "interactive_parser", None)
        expected = (ip.accepts() if ip is not None else None) or e.allowed or ()
    else:
        got = "end of input" if at_end else repr(str(tok))
        expected = getattr(e, "accepts", None) or getattr(e, "expected", None) or ()
    shown = sorted({_pretty_terminal(x) for x in expected if x != "$END"} - {""})
    if "$END" in expected:
        shown.append("end of input")
    return f"{where}: unexpected {got}" + (f" (expected {', '.join(shown)})" if shown else "")


_TERMINAL_WORDS = {
    "UINT": "integer",
    "INT": "integer",
    "FLOAT": "float",
    "STRING": "string",
    "BARE": "name",
    "IDENT": "identifier",
    "QNAME": "dialect.name",
    "DTYPE": "dtype",
}


@cache
def _terminal_texts() -> dict[str, str]:
    """Terminal name → how messages show it: ``'('`` for fixed strings, a word otherwise."""
    out = {}
    for t in _parser().terminals:
        if isinstance(t.pattern, PatternStr):
            out[t.name] = f"'{t.pattern.value}'"
        else:
            out[t.name] = _TERMINAL_WORDS.get(t.name, t.name.lower())
    return out


def _pretty_terminal(name: str) -> str:
    if name in ("WS", "COMMENT"):
        return ""
    return _terminal_texts().get(name, name.lower())


def _where(tree: Any) -> str:
    meta = getattr(tree, "meta", None)
    if meta is None or getattr(meta, "empty", True):
        return ""
    return f"line {meta.line}, column {meta.column}: "
