"""The JSON and DOT views of a graph: documented structure, every op present, deterministic."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from qlower.ir import Constant, Dense, Graph, Sym, Value, parse, tensor
from qlower.ir.dot import build_digraph, graph_to_dot
from qlower.ir.json_format import array_to_json, dumps, graph_to_json

TEXT = """\
graph @g(%x: tensor<(batch)x4xf32>, %"odd name": tensor<i64>) attributes {opset = 18, producer = "t"} {
  const %w: tensor<3x4xf32> = dense<[[0.1, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]]>
  const %shape: tensor<2xi64> = dense<[(batch), 3]>
  const %unused: tensor<f32> = dense<1.5>
  const %big: tensor<4x8xf32> = ref<"sha256:0123456789abcdef">
  %y = onnx.Gemm(%x, %w, none) {alpha = 1.0, beta = 1.0, transA = 0, transB = 1} : tensor<(batch)x3xf32> loc("fc")
  %z, _ = onnx.Split(%y) {axis = 1, split_names = "a \\"quoted\\" string that is long"} : tensor<(batch)x2xf32>
  %m = onnx.Mul(%z, %z) : tensor<(batch)x2xf32> loc("sq", "extra")
  %t = onnx.Transpose(%big) {perm = [1, 0]} : tensor<8x4xf32>
  return %m, %y
}
"""


@pytest.fixture
def graph() -> Graph:
    return parse(TEXT)


def test_json_structure(graph):
    doc = graph_to_json(graph)
    assert sorted(doc) == ["attrs", "constants", "inputs", "name", "ops", "outputs"]
    assert doc["name"] == "g"
    assert doc["attrs"] == {"opset": 18, "producer": "t"}
    assert doc["inputs"] == [{"name": "x", "type": "tensor<(batch)x4xf32>"},
                             {"name": "odd name", "type": "tensor<i64>"}]
    assert doc["constants"] == [
        {"name": "w", "type": "tensor<3x4xf32>", "data": [[0.1, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0],
                                                         [1.0, 2.0, 3.0, 4.0]]},
        {"name": "shape", "type": "tensor<2xi64>", "data": ["(batch)", 3]},
        {"name": "unused", "type": "tensor<f32>", "data": 1.5},
        {"name": "big", "type": "tensor<4x8xf32>", "data": {"ref": "sha256:0123456789abcdef"}},
    ]
    assert doc["ops"][0] == {
        "op": "onnx.Gemm", "results": [{"name": "y", "type": "tensor<(batch)x3xf32>"}],
        "operands": ["x", "w", None],
        "attrs": {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}, "loc": ["fc"],
    }
    assert doc["ops"][1]["results"] == [{"name": "z", "type": "tensor<(batch)x2xf32>"}, None]
    assert doc["ops"][2]["loc"] == ["sq", "extra"]
    assert doc["outputs"] == ["m", "y"]


def test_json_inline_limit_matches_the_text_printer(graph):
    doc = graph_to_json(graph, inline_limit=4)
    data = {c["name"]: c["data"] for c in doc["constants"]}
    assert data["w"] == {"ref": Dense(np.asarray(graph.dense("w").array)).checksum}
    assert data["shape"] == ["(batch)", 3]  # symbolic constants are always inline
    assert data["unused"] == 1.5


def test_json_is_deterministic_and_strict(graph):
    text = dumps(graph_to_json(graph))
    assert text == dumps(graph_to_json(parse(TEXT)))
    assert json.loads(text) == graph_to_json(graph)
    assert text.endswith("}\n") and '\n  "attrs": {' in text  # sorted keys, indent 2


def test_json_numbers():
    f32 = np.array([0.1, np.nan, np.inf, -np.inf], np.float32)
    assert array_to_json(f32) == [0.1, "NaN", "Infinity", "-Infinity"]
    assert array_to_json(np.array([[True, False]])) == [[True, False]]
    assert array_to_json(np.array(7, np.uint64)) == 7
    assert array_to_json(np.zeros((2, 0, 3), np.float32)) == [[], []]
    assert array_to_json(np.float64(1) / 3 * np.ones(1)) == [1 / 3]
    g = Graph("n", (), (Constant(Value("c", tensor("f32", 2)), Dense(f32[1:3])),), (), ("c",))
    assert graph_to_json(g)["constants"][0]["data"] == ["NaN", "Infinity"]
    dumps(graph_to_json(g))  # valid JSON: would raise on a float NaN


def test_json_of_symbolic_scalar():
    arr = np.empty((2,), dtype=object)
    arr[:] = [Sym.of("n") * 2, 4]
    assert array_to_json(arr) == ["(2*n)", 4]


def test_dot_contains_every_op_and_edge(graph):
    dot = graph_to_dot(graph)
    for op in graph.ops:
        assert f'label="{op.name}' in dot
    op_nodes = re.findall(r"^  (op\d+) \[", dot, re.M)
    assert op_nodes == [f"op{i}" for i in range(len(graph.ops))]
    assert '  in1 [label="%\\"odd name\\"\\ntensor<i64>", shape="ellipse"];' in dot
    assert "unused" not in dot and "%shape" not in dot  # constants no op uses are left out
    assert '  c3 -> op3 [label="%big\\ntensor<4x8xf32>"];' in dot
    assert '  op0 -> op1 [label="%y\\ntensor<(batch)x3xf32>"];' in dot
    assert '  op0 -> out1 [label="%y\\ntensor<(batch)x3xf32>"];' in dot
    assert '  op1 -> op2 [label="%z\\ntensor<(batch)x2xf32>"];' in dot  # %z twice: one edge
    assert "transA = 0" in dot and "split_names = ..." in dot
    for line in dot.splitlines()[1:-1]:
        assert re.fullmatch(r'  (\w+( -> \w+)? \[.*\];|(node|edge) \[.*\];)', line), line


def test_dot_is_deterministic(graph):
    dot = graph_to_dot(graph)
    assert dot == graph_to_dot(parse(TEXT)) and dot.endswith("}\n")
    assert dot.startswith('digraph "g" {\n')
    g = build_digraph(graph)
    assert list(g.nodes) == ["in0", "in1", "c0", "c3", "op0", "op1", "op2", "op3", "out0",
                             "out1"]
