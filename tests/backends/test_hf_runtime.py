"""The compiled program's runtime evaluates host ops as the reference interpreter does.

Before, ``CompiledProgram.run`` copied constants without resolving symbolic sizes, so a host op
reading a folded shape value (``dense<[(seq)]>``, as a Hugging Face model's position-ids
``Slice`` does) failed on qsim only, with "symbolic size seq used where a number is needed".
"""

from __future__ import annotations

import numpy as np

from qlower.backends import run_graph
from qlower.ir import parse
from qlower.program import CompiledProgram

SLICE_BY_SEQ = """
graph @positions(%x: tensor<(batch)x(seq)xf32>) {
  const %buf: tensor<1x8xf32> = dense<[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]>
  const %start: tensor<1xi64> = dense<[0]>
  const %end: tensor<1xi64> = dense<[(seq)]>
  const %axis: tensor<1xi64> = dense<[1]>
  %pos = onnx.Slice(%buf, %start, %end, %axis) : tensor<1x?xf32>
  %y = onnx.Add(%x, %pos) : tensor<(batch)x(seq)xf32>
  return %y
}
"""


def test_host_ops_resolve_symbolic_constants_like_the_reference_backend():
    graph = parse(SLICE_BY_SEQ)
    program = CompiledProgram(graph, [])
    for batch, seq in ((1, 3), (2, 5)):
        x = np.arange(batch * seq, dtype=np.float32).reshape(batch, seq)
        expected = x + np.arange(seq, dtype=np.float32)
        assert np.array_equal(run_graph(graph, {"x": x})["y"], expected)
        for backend in ("qsim", "reference"):
            out = program.run({"x": x}, backend=backend)
            assert np.array_equal(out["y"], expected), backend
