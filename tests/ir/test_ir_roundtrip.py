"""Golden IR text (tests/golden/*.qir): print(parse(t)) == t, byte for byte.

Each golden file is printer output plus whole-line ``//`` comments (the printer writes no
comments). A ``// VERIFY: ok`` line says the graph must verify; ``// VERIFY-ERROR: <message>``
gives the verifier's exact message for files that use unregistered ops or types on purpose.

The test dialect types ``!test.pair`` and ``!test.unit`` are registered here: a new dialect type
is a frozen dataclass plus ``register_type``, with no printer or parser change.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from qlower.ir import (
    ConstRef,
    Dense,
    DialectType,
    DType,
    ParseError,
    Sym,
    TensorType,
    VerifyError,
    checksum,
    parse,
    print_graph,
    referenced_weights,
    register_type,
    verify_graph,
)
from qlower.ir.types import OpaqueType


@register_type
@dataclass(frozen=True)
class Pair(DialectType):
    """A test type with two parameters (printed in field order)."""

    type_name = "test.pair"
    n: int
    label: str

    def verify(self) -> None:
        if type(self.n) is not int or self.n < 1:
            raise ValueError(f"!test.pair: n must be a positive integer, got {self.n!r}")


@register_type
@dataclass(frozen=True)
class Unit(DialectType):
    """A test type without parameters."""

    type_name = "test.unit"


GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FILES = sorted(GOLDEN.glob("*.qir"))
COMMENT_LINE = re.compile(r"^[ \t]*//[^\n]*\n", re.M)

# The arrays behind the golden files' ref<...> constants.
W = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
WEIGHTS = {
    "constants.qir": {"w": W},
    "nn_mlp.qir": {"w1": W},
    "onnx_ops.qir": {"fc.weight": W},
    "dtypes.qir": {
        "k_c64": (np.arange(4) + 1j * np.arange(4)).astype(np.complex64),
        "k_c128": (np.arange(4) - 0.5j).astype(np.complex128),
    },
}


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def body(text: str) -> str:
    """The golden text without its whole-line comments: what the printer must write."""
    return COMMENT_LINE.sub("", text)


def directive(text: str, key: str) -> str | None:
    m = re.search(rf"^// {key}: (.*)$", text, re.M)
    return m.group(1) if m else None


def test_golden_files_exist() -> None:
    assert 6 <= len(FILES) <= 10, [f.name for f in FILES]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_print_parse_is_identity(path: Path) -> None:
    text = read(path)
    assert print_graph(parse(text)) == body(text)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_golden_verifies_as_declared(path: Path) -> None:
    text = read(path)
    ok, error = directive(text, "VERIFY"), directive(text, "VERIFY-ERROR")
    assert (ok == "ok") != (error is not None), "a golden file needs VERIFY: ok or VERIFY-ERROR"
    graph = parse(text)
    if ok:
        verify_graph(graph)
    else:
        with pytest.raises(VerifyError) as e:
            verify_graph(graph)
        assert str(e.value) == error


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_comments_and_whitespace_are_ignored(path: Path) -> None:
    """Comments at the end of every line and extra blank lines change nothing."""
    text = body(read(path))
    noisy = "// leading\n\n" + "".join(
        line + "  // trailing, with \"quotes\" and // slashes\n\n" for line in text.splitlines()
    )
    assert parse(noisy) == parse(text)


SYNTAX = [
    # graph attributes, inputs with static / symbolic / unknown dims, scalars
    " attributes {", "tensor<2x3xf32>", "(2*batch+1)", "x?x", "tensor<f32>", "(-n+4)",
    # every dtype
    *(f"x{d.value}>" for d in DType),
    # names
    '%"onnx::MatMul_1"', '@"model/v1:main"', r'"y\u00e9\u4e2d \ud83d\ude00"', r'"tab\tnew\nline"',
    # constants: inline literals of every kind, symbolic, empty, by reference
    "nan", "inf", "-inf", "-0.0", "1e-07", "true", "false", "dense<[[[1, 2]], [[3, 4]]]>",
    "dense<[]>", "dense<[[], []]>", "dense<[(batch), 2, 2]>", "dense<(2*batch)>", 'ref<"sha256:',
    # ops: omitted operands and results, several results, attributes of every kind
    "none)", "_, %", "%r1, _, %r3 =", "= -7", "= 2.5", r"\"quoted\"", "= f16", "= (batch+1)",
    "[[1, 2], [], [[3]]]", "= []", "= true", "= false",
    # dialect types, registered and opaque; loc with one and several names
    "!test.pair<n = 2, label = \"ab\">", "!test.unit", "!other.qreg<", "!other.plain)",
    'loc("n0")', 'loc("fused/a", "fused/b", "fused/c")',
    # comments
    "// ",
]


@pytest.mark.parametrize("snippet", SYNTAX)
def test_golden_files_cover_the_syntax(snippet: str) -> None:
    assert any(snippet in read(f) for f in FILES), f"no golden file contains {snippet!r}"


def golden(name: str):
    return parse(read(GOLDEN / name))


def test_parsed_values_syntax() -> None:
    g = golden("syntax.qir")
    batch, seq, n = Sym.of("batch"), Sym.of("seq"), Sym.of("n")
    types = [v.type for v in g.inputs]
    assert types == [
        TensorType(DType.F32, (2, 3)),
        TensorType(DType.F32, (batch, 2 * batch + 1, None)),
        TensorType(DType.F32, ()),
        TensorType(DType.I64, (batch * seq - 1, 4 - n, 0)),
        TensorType(DType.BOOL, (None,)),
    ]
    a = g.attrs
    assert a["a_int"] == -7 and type(a["a_int"]) is int
    assert a["c_exp"] == 1e-05 and a["d_big"] == 1e300
    nan, inf, neg_inf, neg_zero, zero = a["e_specials"]
    assert math.isnan(nan) and inf == math.inf and neg_inf == -math.inf
    assert math.copysign(1, neg_zero) == -1 and math.copysign(1, zero) == 1
    assert a["f_str"] == 'tab\there "quoted" back\\slash é 😀 // not a comment'
    assert a["g_true"] is True and a["h_false"] is False
    assert a["i_dtype"] is DType.F16
    assert a["j_sym"] == 2 * batch + 1
    assert a["k_nested"] == ((1, 2), (), ((3,),), ("a", 1.5, False, DType.I8, seq))
    assert a["l_empty"] == () and a["m_empty_str"] == ""
    assert g.outputs == ("x", "y", "s", "t", "u")


def test_parsed_values_constants() -> None:
    g = golden("constants.qir")
    arr = {c.name: c.data.array for c in g.constants if isinstance(c.data, Dense)}
    assert arr["scalar"].shape == () and np.signbit(arr["scalar"])
    f = arr["floats"]
    assert f.dtype == np.float32
    assert f[0] == 0.5 and np.signbit(f[1]) and np.isnan(f[2])
    assert f[3] == np.inf and f[4] == -np.inf and f[5] == np.float32(1e-07)
    assert f[6] == np.finfo(np.float32).max
    assert arr["doubles"][1, 1] == 5e-324
    assert arr["ints"].dtype == np.int32 and arr["ints"][1].tolist() == [2**31 - 1, -(2**31), 0]
    assert arr["bools"].tolist() == [[True, False], [False, True]]
    assert arr["nested"].shape == (2, 1, 2)
    assert arr["int_scalar"].dtype == np.uint8 and arr["int_scalar"] == 255
    assert arr["empty"].shape == (0,)
    assert arr["empty_rows"].shape == (0, 3) and arr["empty_rows"].dtype == np.int64
    assert arr["empty_cols"].shape == (2, 0)
    assert arr["shape"].dtype == object and arr["shape"].tolist() == [Sym.of("batch"), 2, 2]
    assert arr["sym_scalar"][()] == 2 * Sym.of("batch")
    assert g.constant("w").data == ConstRef("sha256:5a068e972b3ae874")


def test_parsed_values_ops() -> None:
    g = golden("ops.qir")
    r0, multi, omit, dotted = g.ops
    assert r0.attrs["m"] == -(2**63) and r0.attrs["u"] == 2**64
    assert r0.attrs["s"] == 'line\nbreak, "quote", \u2603, \x00'
    assert r0.attrs["dims"] == (Sym.of("batch"), 3, 2 * Sym.of("batch"), Sym.of("batch") * Sym.of("batch") - 1)
    assert r0.loc == ("n0",)
    assert multi.operands == ("a", None, "b", None)
    assert [r is None for r in multi.results] == [False, True, False]
    assert multi.loc == ("fused/a", "fused/b", "fused/c")
    assert omit.operands == () and omit.results[0] is None and omit.result(1).name == "r4"
    assert dotted.name == "test.dotted.op_name.v2" and dotted.dialect == "test"


def test_parsed_values_names() -> None:
    g = golden("names.qir")
    assert g.name == "model/v1:main"
    assert g.input_names == ("input:0", "onnx::MatMul_1", "none")
    names = [op.result(0).name for op in g.ops]
    assert names[:3] == ["/fc/MatMul_output_0", "yé中 😀", "tab\tnew\nline"]
    assert names[3:] == ["0", "a.b", "return", "x", "f32"]
    assert g.ops[1].loc == ("/fc/Relu", "/act/Relu", '"quoted"')
    assert g.ops[3].loc == ("",)


def test_dialect_types_need_no_printer_or_parser_change() -> None:
    g = golden("dialect_types.qir")
    p, u, o, v = (x.type for x in g.inputs)
    assert p == Pair(2, "ab") and type(p) is Pair
    assert u == Unit() and type(u) is Unit
    assert type(o) is OpaqueType and o.type_name == "other.qreg"
    assert dict(o.params()) == {
        "data": 3, "dims": (2, Sym.of("batch")), "dtype": DType.F32, "flags": (),
        "name": "reg", "scale": 0.5,
    }
    assert v == OpaqueType("other.plain", ())
    assert g.ops[0].result(0).type == Pair(3, "")
    assert str(p) == '!test.pair<n = 2, label = "ab">'


@pytest.mark.parametrize(
    ("type_text", "message"),
    [
        ("!test.pair<n = 0, label = \"\">",
         "line 1, column 14: !test.pair: n must be a positive integer, got 0"),
        ("!test.pair<n = \"2\", label = \"\">",
         "line 1, column 14: !test.pair: n must be a positive integer, got '2'"),
        ("!test.pair<n = 2>",
         "line 1, column 14: type !test.pair takes parameters ['label', 'n'], got ['n']"),
        ("!test.unit<n = 1>",
         "line 1, column 14: type !test.unit takes parameters [], got ['n']"),
    ],
)
def test_dialect_type_parameters_are_checked(type_text: str, message: str) -> None:
    with pytest.raises(ParseError) as e:
        parse(f"graph @g(%p: {type_text}) {{\n  return %p\n}}\n")
    assert str(e.value) == message


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_references_bind_to_weights(name: str) -> None:
    text = read(GOLDEN / name)
    arrays = WEIGHTS[name]
    unbound = parse(text)
    refs = {c.name: c.data for c in unbound.constants if isinstance(c.data, ConstRef)}
    assert refs == {k: ConstRef(checksum(a)) for k, a in arrays.items()}
    bound = parse(text, arrays)
    for k, a in arrays.items():
        assert bound.constant(k).data == Dense(a)
    assert referenced_weights(bound).keys() == arrays.keys()
    assert print_graph(bound) == body(text)
    assert parse(print_graph(bound), referenced_weights(bound)) == bound
