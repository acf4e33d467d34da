"""Parser error messages, exactly: syntax errors name the line, column, what was found and what
was expected (in words, never lark's terminal names); semantic errors name the constant or the
position; weights that do not fit the dump are refused."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlower.ir import ParseError, checksum, parse

G = "graph @g(%x: tensor<2xf32>) {\n"


def body(*lines: str, ret: str = "%x") -> str:
    return G + "".join(f"  {line}\n" for line in lines) + f"  return {ret}\n}}\n"


def const(decl: str) -> str:
    return body(f"const %c: {decl}")


SYNTAX = [
    # (text, message)
    ("", "line 1, column 1: unexpected end of input (expected 'graph')"),
    ("graph", "line 1, column 6: unexpected end of input (expected '@')"),
    (G + "  return %x\n", "line 3, column 1: unexpected end of input (expected ',', '}')"),
    ("graph @g(%x: tensor<2xq32>) {\n  return %x\n}\n",
     "line 1, column 23: unexpected 'q32' (expected '(', '?', dtype, integer)"),
    ("graph @g(%x: tensor<2x>) {\n  return %x\n}\n",
     "line 1, column 23: unexpected '>' (expected '(', '?', dtype, integer)"),
    ("graph @g(%x: tensor<(a+)xf32>) {\n  return %x\n}\n",
     "line 1, column 24: unexpected ')' (expected identifier, integer)"),
    ("graph @g(%x: f32) {\n  return %x\n}\n",
     "line 1, column 14: unexpected 'f32' (expected '!', 'tensor')"),
    (body("%y = relu(%x) : tensor<2xf32>"),
     "line 2, column 8: unexpected 'relu' (expected dialect.name)"),
    (body("%y = nn.relu(%x) : tensor<2xf32"),
     "line 3, column 3: unexpected 'return' (expected '>')"),
    (body("%y = nn.relu(%x) :"), "line 3, column 3: unexpected 'return' (expected '!', 'tensor')"),
    (body('%y = nn.relu(%x) : tensor<2xf32> loc("a"'),
     "line 3, column 3: unexpected 'return' (expected ')', ',')"),
    (body("%y = nn.relu(%x) {a = } : tensor<2xf32>"),
     "line 2, column 25: unexpected '}' (expected '(', '[', 'false', 'true', dtype, float, integer,"
     " string)"),
    (body("%y = nn.relu(%x) {a = 1} : tensor<2xf32> $"),
     "line 2, column 44: unexpected character '$' (expected '%', ',', '_', 'loc', 'return')"),
    (body("%y = nn.relu(%x) {1 = 1} : tensor<2xf32>"),
     "line 2, column 21: unexpected '1' (expected '}', identifier)"),
    (body("%y = nn.relu(%, %x) : tensor<2xf32>"),
     "line 2, column 17: unexpected ',' (expected name, string)"),
    (body("// a comment\n  const %c: tensor<2xf32> = dense[1.0]"),
     "line 3, column 34: unexpected '[' (expected '<')"),
    (G + "  return\n}\n", "line 3, column 1: unexpected '}' (expected '%')"),
    ('graph @g(%x: tensor<2xf32>) {\n  return %x\n}\n"', "line 4, column 1: unexpected character"
     " '\"' (expected end of input)"),
]


@pytest.mark.parametrize(("text", "message"), SYNTAX, ids=[m for _, m in SYNTAX])
def test_syntax_error(text: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(text)
    assert str(e.value) == message


SEMANTIC = [
    # duplicate keys, wherever attributes are
    (body("%y = nn.relu(%x) {a = 1, b = 2, a = 3} : tensor<2xf32>"),
     "line 2, column 21: attribute 'a' is given twice"),
    ("graph @g(%x: tensor<2xf32>) attributes {k = 1, k = 1} {\n  return %x\n}\n",
     "line 1, column 41: attribute 'k' is given twice"),
    ("graph @g(%x: !a.b<p = 1, p = 2>) {\n  return %x\n}\n",
     "line 1, column 19: attribute 'p' is given twice"),
    # names, results, sizes
    ('graph @g(%"": tensor<2xf32>) {\n  return %x\n}\n', "line 1, column 11: a name cannot be empty"),
    (body("%y, %z = a.b(%x) : tensor<2xf32>"),
     "line 2, column 3: op a.b has 2 named results but 1 result type"),
    (body("_ = a.b(%x) : tensor<2xf32>"),
     "line 2, column 3: op a.b has 0 named results but 1 result type"),
    ("graph @g(%x: tensor<(-2)xf32>) {\n  return %x\n}\n", "line 1, column 21: negative size -2"),
    # constants: literal against type
    (const("tensor<2xf32> = dense<[1.0]>"), "constant %c: literal has shape [1], type says [2]"),
    (const("tensor<2xf32> = dense<1.0>"), "constant %c: literal has shape [], type says [2]"),
    (const("tensor<f32> = dense<[1.0]>"), "constant %c: literal has shape [1], type says []"),
    (const("tensor<0x3xf32> = dense<[[]]>"),
     "constant %c: literal has shape [1, 0], type says [0, 3]"),
    (const("tensor<2x2xf32> = dense<[[1.0], [2.0, 3.0]]>"),
     "constant %c: the literal's rows have different shapes"),
    (const("tensor<2xf32> = dense<[[1.0], 2.0]>"),
     "constant %c: the literal's rows have different shapes"),
    (const("tensor<99999999999x99999999999xi64> = dense<[(a)]>"),
     "constant %c: literal has shape [1], type says [99999999999, 99999999999]"),
    (const("tensor<?xf32> = dense<[1.0]>"),
     "constant %c must have a static type, got tensor<?xf32>"),
    (const("tensor<2xi8> = dense<[1, 300]>"), "constant %c: 300 is out of range for i8"),
    (const("tensor<u8> = dense<-1>"), "constant %c: -1 is out of range for u8"),
    (const("tensor<2xi8> = dense<[1, 2.5]>"), "constant %c: 2.5 is not an integer"),
    (const("tensor<2xi32> = dense<[1, true]>"), "constant %c: True is not an integer"),
    (const("tensor<2xf32> = dense<[1.0, true]>"), "constant %c: True is not a number"),
    (const("tensor<2xbool> = dense<[1, 0]>"), "constant %c: 1 is not a bool"),
    (const("tensor<1xc64> = dense<[1.0]>"), "constant %c: complex constants have no text form"),
    (const("tensor<1xf32> = dense<[(a)]>"),
     "constant %c: symbolic entries need an integer dtype"),
    (const("tensor<2xi64> = dense<[(a), 1.5]>"), "constant %c: bad symbolic entry 1.5"),
    (const("!a.b<n = 1> = dense<[1]>"), "constant %c must be a tensor, got !a.b<n = 1>"),
    # references
    (const('tensor<2xf32> = ref<"md5:abc">'),
     "constant %c: bad checksum 'md5:abc' (expected 'sha256:' and 16 hex digits)"),
    (const('tensor<2xf32> = ref<"sha256:0123">'),
     "constant %c: bad checksum 'sha256:0123' (expected 'sha256:' and 16 hex digits)"),
]


@pytest.mark.parametrize(("text", "message"), SEMANTIC, ids=[m for _, m in SEMANTIC])
def test_semantic_error(text: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(text)
    assert str(e.value) == message


def test_deep_nesting() -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(ParseError) as e:
        parse(f"graph @g() attributes {{a = {deep}}} {{\n  return %x\n}}\n")
    assert str(e.value) == "the text nests lists or expressions too deeply"
    shallow = "[" * 50 + "]" * 50
    expected: tuple = ()
    for _ in range(49):
        expected = (expected,)
    g = parse(f"graph @g() attributes {{a = {shallow}}} {{\n  return %x\n}}\n")
    assert g.attrs["a"] == expected


# -- weights ----------------------------------------------------------------------------------

W = np.arange(6, dtype=np.float32).reshape(2, 3)
DUMP = body(f'const %w: tensor<2x3xf32> = ref<"{checksum(W)}">')


def test_weights_bind() -> None:
    g = parse(DUMP, {"w": W, "unused": np.zeros(1)})
    assert np.array_equal(g.dense("w").array, W)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({}, "the weights file has no array for constant %w"),
        ({"v": W}, "the weights file has no array for constant %w"),
        ({"w": W.reshape(3, 2)},
         "weights for %w have shape [3, 2] and dtype f32, the dump says tensor<2x3xf32>"),
        ({"w": W.astype(np.float64)},
         "weights for %w have shape [2, 3] and dtype f64, the dump says tensor<2x3xf32>"),
        ({"w": np.array([["a", "b", "c"], ["d", "e", "f"]])},
         "weights for %w have shape [2, 3] and dtype <U1, the dump says tensor<2x3xf32>"),
        ({"w": W + 1},
         f"weights for %w do not match the dump ({checksum(W + 1)} vs {checksum(W)})"),
    ],
)
def test_weights_that_do_not_fit(weights, message: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(DUMP, weights)
    assert str(e.value) == message


def test_weights_for_a_dynamic_reference() -> None:
    text = const('tensor<?xf32> = ref<"sha256:0123456789abcdef">')
    parse(text)  # without weights: the verifier reports it (test_verifier.py)
    with pytest.raises(ParseError) as e:
        parse(text, {"c": np.zeros(2, np.float32)})
    assert str(e.value) == "constant %c must have a static type, got tensor<?xf32>"


# -- every message, for any broken text --------------------------------------------------------

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "golden").glob("*.qir"))
WORDS = r"'[^']+'|integer|float|string|name|identifier|dialect\.name|dtype|end of input"
SYNTAX_MESSAGE = re.compile(
    rf"line \d+, column \d+: unexpected (?:'.*'|character '.*'|\".*\"|end of input)"
    rf"(?: \(expected (?:{WORDS})(?:, (?:{WORDS}))*\))?",
    re.S,
)


@settings(max_examples=150)
@given(
    st.sampled_from(GOLDEN).map(lambda p: p.read_text(encoding="utf-8")),
    st.data(),
)
def test_broken_text_gives_a_readable_error(text: str, data) -> None:
    """Cut, corrupt or splice a golden file: the parser raises ParseError or succeeds, and a
    syntax error lists what it expected in words (no 'QMARK', 'uint', '__ANON_0')."""
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, min(len(text), i + 3)))
    junk = data.draw(st.sampled_from(["", "x", "(", "%", "1", "\"", ",", "@", "}", "\n", "é"]))
    broken = text[:i] + junk + text[j:]
    try:
        parse(broken)
    except ParseError as e:
        message = str(e)
        if ": unexpected " in message:
            assert SYNTAX_MESSAGE.fullmatch(message), message
