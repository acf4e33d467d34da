"""Build the example models used by the README (needs only onnx and numpy).

    python examples/make_examples.py

Writes examples/mlp.onnx (a classifier: Gemm → Relu → Gemm → Softmax with a symbolic batch)
and examples/mlp_inputs.npz (a batch of two inputs for `qlower run`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).parent


def mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((8, 4)).astype(np.float32) / 2
    b1 = rng.standard_normal(8).astype(np.float32) / 10
    w2 = rng.standard_normal((8, 3)).astype(np.float32) / 2  # [in, out]: a MatMul weight
    b2 = rng.standard_normal(3).astype(np.float32) / 10
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu"),
        helper.make_node("MatMul", ["a", "fc2.weight"], ["z0"], name="fc2"),
        helper.make_node("Add", ["z0", "fc2.bias"], ["logits"], name="fc2_bias"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
        [
            numpy_helper.from_array(w1, "fc1.weight"),
            numpy_helper.from_array(b1, "fc1.bias"),
            numpy_helper.from_array(w2, "fc2.weight"),
            numpy_helper.from_array(b2, "fc2.bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10  # onnxruntime 1.31 reads IR versions up to 13
    model.producer_name = "qlower examples"
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    onnx.save(mlp(), HERE / "mlp.onnx")
    x = np.array([[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 1.0]], dtype=np.float32)
    np.savez(HERE / "mlp_inputs.npz", x=x)
    print("wrote examples/mlp.onnx and examples/mlp_inputs.npz")


if __name__ == "__main__":
    main()
