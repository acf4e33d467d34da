"""The verifier's messages, exactly: each case is IR text and the one error it must raise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from qlower.ir import (
    Constant,
    ConstRef,
    Dense,
    DialectType,
    DType,
    Graph,
    Op,
    Sym,
    TensorType,
    Value,
    VerifyError,
    parse,
    register_type,
    tensor,
    verify,
    verify_graph,
)


@register_type
@dataclass(frozen=True)
class Flag(DialectType):
    """A registered type whose own check fails when built by hand (the parser checks too)."""

    type_name = "verifier.flag"
    on: bool

    def verify(self) -> None:
        if type(self.on) is not bool:
            raise ValueError(f"!verifier.flag: 'on' must be a bool, got {self.on!r}")


HEAD = "graph @g(%x: tensor<2xf32>, %i: tensor<2xi64>, %s: tensor<(batch)x4xf32>) {\n"


def graph_text(*lines: str, ret: str = "%x") -> str:
    return HEAD + "".join(f"  {line}\n" for line in lines) + f"  return {ret}\n}}\n"


CASES = {
    # SSA structure
    "duplicate result": (
        ["%y = nn.relu(%x) : tensor<2xf32>", "%y = nn.tanh(%x) : tensor<2xf32>"],
        "value %y is defined twice (result of nn.tanh)",
    ),
    "result shadows an input": (
        ["%x = nn.relu(%x) : tensor<2xf32>"],
        "value %x is defined twice (result of nn.relu)",
    ),
    "constant shadows an input": (
        ["const %i: tensor<1xi64> = dense<[1]>"],
        "value %i is defined twice (constant)",
    ),
    "operand never defined": (
        ["%y = nn.relu(%nope) : tensor<2xf32>"],
        "%y = nn.relu: operand %nope is not defined before use",
    ),
    "operand defined later": (
        ["%y = nn.relu(%z) : tensor<2xf32>", "%z = nn.relu(%x) : tensor<2xf32>"],
        "%y = nn.relu: operand %z is not defined before use",
    ),
    "operand is its own result": (
        ["%y = nn.relu(%y) : tensor<2xf32>"],
        "%y = nn.relu: operand %y is not defined before use",
    ),
    "undefined output": ([], "graph output %nope is not defined", "%nope"),
    "output listed twice": ([], "graph @g lists an output twice", "%x, %x"),
    # ops and attributes
    "unknown op": (
        ['%y = nn.frobnicate(%x) : tensor<2xf32> loc("Frob_3")'],
        "%y = nn.frobnicate (node 'Frob_3'): unknown op 'nn.frobnicate'",
    ),
    "unknown attribute": (
        ["%y = nn.relu(%x) {alpha = 0.1} : tensor<2xf32>"],
        "%y = nn.relu: unknown attribute 'alpha'",
    ),
    "missing required attribute": (
        ["%y = nn.transpose(%x) : tensor<2xf32>"],
        "%y = nn.transpose: attribute 'perm' is required",
    ),
    "default left out": (
        ["%y = nn.softmax(%x) : tensor<2xf32>"],
        "%y = nn.softmax: attribute 'axis' is missing (defaults are explicit)",
    ),
    "float for int": (
        ["%y = nn.softmax(%x) {axis = 1.0} : tensor<2xf32>"],
        "%y = nn.softmax: attribute 'axis' must be int, got float 1.0",
    ),
    "bool for int": (
        ["%y = nn.softmax(%x) {axis = true} : tensor<2xf32>"],
        "%y = nn.softmax: attribute 'axis' must be int, got bool True",
    ),
    "list of mixed kinds for ints": (
        ["%y = nn.transpose(%x) {perm = [0, 1.5]} : tensor<2xf32>"],
        "%y = nn.transpose: attribute 'perm' must be ints, got list [0, 1.5]",
    ),
    "string for dtype": (
        ['%y = nn.cast(%x) {to = "f64"} : tensor<2xf64>'],
        "%y = nn.cast: attribute 'to' must be dtype, got str 'f64'",
    ),
    "not in choices": (
        ['%y = nn.mse_loss(%x, %x) {reduction = "avg"} : tensor<f32>'],
        "%y = nn.mse_loss: attribute 'reduction' must be one of 'none', 'sum', 'mean', got 'avg'",
    ),
    "int not in choices": (
        ["%y = onnx.Reshape(%x, %i) {allowzero = 2} : tensor<2xf32>"],
        "%y = onnx.Reshape: attribute 'allowzero' must be one of 0, 1, got 2",
    ),
    "attribute symbol no input defines": (
        ["%y = nn.reshape(%s) {shape = [(n), 4]} : tensor<(n)x4xf32>"],
        "%y = nn.reshape: attribute 'shape' uses size symbol 'n' that no graph input defines",
    ),
    # result types against inference
    "wrong result shape": (
        ["%y = nn.relu(%x) : tensor<3xf32>"],
        "%y = nn.relu: result %y has type tensor<3xf32>, expected tensor<2xf32>",
    ),
    "wrong result dtype": (
        ["%y = nn.relu(%x) : tensor<2xf64>"],
        "%y = nn.relu: result %y has type tensor<2xf64>, expected tensor<2xf32>",
    ),
    "wrong result rank": (
        ["%y = nn.relu(%s) : tensor<(batch)xf32>"],
        "%y = nn.relu: result %y has type tensor<(batch)xf32>, expected tensor<(batch)x4xf32>",
    ),
    "wrong symbolic size": (
        ["%y = nn.relu(%s) : tensor<(2*batch)x4xf32>"],
        "%y = nn.relu: result %y has type tensor<(2*batch)x4xf32>, "
        "expected tensor<(batch)x4xf32>",
    ),
    "result of an unknown dialect type": (
        ["%y = nn.relu(%x) : !test.opaque<n = 1>"],
        "%y: unknown type !test.opaque",
    ),
    "result of a dialect type": (
        ["%y = nn.relu(%x) : !verifier.flag<on = true>"],
        "%y = nn.relu: result %y has type !verifier.flag<on = true>, expected tensor<2xf32>",
    ),

    "inference rejects the operands": (
        ["%y = nn.add(%x, %i) : tensor<2xf32>"],
        "%y = nn.add: operands must have the same element type, got f32, i64",
    ),
    # arity
    "too many operands": (
        ["%y = nn.relu(%x, %x) : tensor<2xf32>"],
        "%y = nn.relu: expects at most 1 operand, got 2",
    ),
    "too few operands": (
        ["%y = nn.add(%x) : tensor<2xf32>"],
        "%y = nn.add: expects at least 2 operands, got 1",
    ),
    "required operand omitted": (
        ["%y = nn.linear(%s, none) : tensor<(batch)x4xf32>"],
        "%y = nn.linear: operand 'weight' is required but omitted",
    ),
    "variadic with none": (
        ["%y = nn.concat() {axis = 0} : tensor<2xf32>"],
        "%y = nn.concat: expects at least 1 operand, got 0",
    ),
    "too many results": (
        ["%y, %z = nn.relu(%x) : tensor<2xf32>, tensor<2xf32>"],
        "%y = nn.relu: expects at most 1 result, got 2",
    ),
    "required result omitted": (
        ["_, %m = onnx.LayerNormalization(%s, %x) {axis = -1, epsilon = 1e-05, stash_type = 1}"
         " : tensor<(batch)x1xf32>"],
        "%m = onnx.LayerNormalization: result 'Y' is required but omitted",
    ),
    # constants
    "symbolic constant with an unknown symbol": (
        ["const %c: tensor<2xi64> = dense<[(batch), (n)]>"],
        "constant %c uses size symbol 'n' that no graph input defines",
    ),
    "reference with a dynamic type": (
        ['const %c: tensor<?xf32> = ref<"sha256:0123456789abcdef">'],
        "constant %c must have a static type",
    ),
    # types
    "unknown dialect type": (
        [],
        "input %o: unknown type !other.thing",
        "%x",
        "graph @g(%o: !other.thing<a = 1>, %x: tensor<2xf32>) {\n",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verifier_message(case: str) -> None:
    lines, message, *rest = CASES[case]
    ret = rest[0] if rest else "%x"
    text = graph_text(*lines, ret=ret)
    if len(rest) > 1:
        text = text.replace(HEAD, rest[1])
    graph = parse(text)
    with pytest.raises(VerifyError) as e:
        verify_graph(graph)
    assert str(e.value) == message


def test_valid_graph_verifies() -> None:
    """Ops like those of the cases above, written correctly, pass."""
    g = parse(graph_text(
        "const %c: tensor<2xi64> = dense<[(batch), 4]>",
        "const %w: tensor<4x4xf32> = dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], "
        "[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]>",
        "%y = nn.relu(%x) : tensor<2xf32>",
        "%r = nn.reshape(%s) {shape = [(batch), 2, 2]} : tensor<(batch)x2x2xf32>",
        "%l = nn.linear(%s, %w, none) : tensor<(batch)x4xf32>",
        "%m = onnx.Reshape(%s, %c) {allowzero = 0} : tensor<(batch)x4xf32>",
        ret="%y, %r, %l, %m",
    ))
    known = verify_graph(g)
    assert known.get("c").tolist() == [Sym.of("batch"), 4]
    assert verify(g) is g


def test_verify_error_detail() -> None:
    """``detail`` is the message without the op's name (for callers that name it themselves)."""
    g = parse(graph_text("%y = nn.add(%x, %i) : tensor<2xf32>"))
    with pytest.raises(VerifyError) as e:
        verify_graph(g)
    assert e.value.detail == "operands must have the same element type, got f32, i64"


# -- graphs the text form cannot express ------------------------------------------------------

X = Value("x", tensor("f32", 2))


def check(graph: Graph, message: str) -> None:
    with pytest.raises(VerifyError) as e:
        verify_graph(graph)
    assert str(e.value) == message


def test_no_outputs() -> None:
    check(Graph("g", (X,)), "graph @g has no outputs")


@pytest.mark.parametrize(
    ("results", "message"),
    [((), "nn.relu: expects at least 1 result, got 0"),
     ((None,), "nn.relu: result 'Y' is required but omitted")],
)
def test_op_without_results(results, message) -> None:
    check(Graph("g", (X,), ops=(Op("nn.relu", ("x",), results),), outputs=("x",)), message)


@pytest.mark.parametrize(
    ("t", "data", "message"),
    [
        (tensor("f32", 3), np.zeros(2, np.float32), "constant %c: data has shape [2], type says [3]"),
        (tensor("f32", 2), np.zeros(2, np.float64), "constant %c: data has dtype f64, type says f32"),
        (tensor("f32", None), np.zeros(2, np.float32),
         "constant %c: constant type tensor<?xf32> must have static dims"),
        (tensor("f32", 1), np.array([Sym.of("batch")], dtype=object),
         "constant %c: symbolic constant must have an integer dtype, not f32"),
    ],
)
def test_constant_data_must_match_type(t: TensorType, data: np.ndarray, message: str) -> None:
    g = Graph("g", (Value("s", tensor("f32", Sym.of("batch"))),),
              (Constant(Value("c", t), Dense(data)),), outputs=("c",))
    check(g, message)


def test_constant_of_dialect_type() -> None:
    from qlower.ir.types import OpaqueType

    t = OpaqueType("other.thing", (("a", 1),))
    g = Graph("g", constants=(Constant(Value("c", t), ConstRef("sha256:0123456789abcdef")),),
              outputs=("c",))
    check(g, "constant %c must be a tensor, got !other.thing<a = 1>")


def test_types_print_as_ir_text() -> None:
    """Types print in messages as IR text, so messages can be pasted back into IR."""
    assert str(TensorType(DType.F32, (Sym.of("b") * 2 + 1, None, 3))) == "tensor<(2*b+1)x?x3xf32>"


def test_dialect_type_check_runs() -> None:
    """The parser checks a dialect type's parameters; the verifier checks hand-built ones."""
    check(Graph("g", (Value("f", Flag(1)),), outputs=("f",)),
          "input %f: !verifier.flag: 'on' must be a bool, got 1")
    verify_graph(Graph("g", (Value("f", Flag(True)),), outputs=("f",)))
