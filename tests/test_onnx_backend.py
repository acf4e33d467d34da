"""ONNX's own node-conformance tests, run against ``qlower.backend`` (compile + qsim).

The cases are the ops qlower lowers to quantum kernels: Gemm (every attribute combination ONNX
tests) and MatMul; their weights arrive as inputs and are frozen into constants, so the layers
really run as block-encoding kernels on qsim. ONNX compares with rtol 1e-3, atol 1e-7.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import onnx.backend.test
import pytest
from util import make_model

import qlower.backend

CASES = re.compile(r"^test_(gemm_.*|matmul_2d|relu|softmax_axis_1)_cpu$")

backend_test = onnx.backend.test.BackendTest(qlower.backend, __name__)
backend_test.include(CASES.pattern)
for _name, _case in backend_test.test_cases.items():
    # keep only the selected cases: the suite would otherwise report thousands of skips
    for _attr in [a for a in vars(_case) if a.startswith("test_") and not CASES.match(a)]:
        delattr(_case, _attr)
    if any(a.startswith("test_") for a in vars(_case)):
        globals()[_name] = _case


def test_weights_are_frozen_and_lowered():
    h, vi, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
    node = h.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)
    model = make_model([node], [vi("a", T.FLOAT, [2, 3]), vi("b", T.FLOAT, [4, 3]),
                                vi("c", T.FLOAT, [4])], [vi("y", T.FLOAT, [2, 4])])
    assert qlower.backend.weight_inputs(model) == ["b", "c"]
    rep = qlower.backend.prepare(model)
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (4, 3), (4,)))
    (y,) = rep.run([a, b, c])
    assert np.allclose(y, a @ b.T + c, atol=1e-5)
    program = next(iter(rep._cache.values()))
    assert [k.method for k in program.kernels] == ["dilation"]
    assert qlower.backend.supports_device("CPU") and not qlower.backend.supports_device("CUDA")


def test_run_model_with_shots():
    h, vi, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
    w = onnx.numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    model = make_model([h.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", T.FLOAT, [1, 2])],
                       [vi("y", T.FLOAT, [1, 2])], [w])
    (y,) = qlower.backend.run_model(model, [np.array([[0.6, -0.8]], np.float32)], shots=100_000)
    assert np.allclose(y, [[0.6, -0.8]], atol=0.05)
    with pytest.raises(NotImplementedError):
        qlower.backend.run_node(model.graph.node[0], [])
