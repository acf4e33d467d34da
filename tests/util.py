"""Helpers shared by the tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx

from qlower.backends import run_graph
from qlower.ir import DType, Graph, Sym, TensorType, parse, verify_graph
from qlower.passes import run_pipeline


def random_inputs(
    graph: Graph, seed: int = 0, sizes: Mapping[str, int] | None = None, default_size: int = 3
) -> dict[str, np.ndarray]:
    """Random arrays matching the graph's inputs; every size symbol gets ``sizes`` or 3."""
    rng = np.random.default_rng(seed)
    env = dict(sizes or {})
    out = {}
    for v in graph.inputs:
        t = v.type
        assert isinstance(t, TensorType)
        shape = []
        for d in t.dims:
            if isinstance(d, Sym):
                for s in d.symbols:
                    env.setdefault(s, default_size)
                shape.append(d.evaluate(env))
            elif d is None:
                shape.append(default_size)
            else:
                shape.append(d)
        out[v.name] = random_array(rng, t.dtype, shape)
    return out


def random_array(rng: np.random.Generator, dtype: DType, shape) -> np.ndarray:
    if dtype == DType.BOOL:
        return rng.random(shape) > 0.5
    if dtype.is_int:
        return rng.integers(0, 3, size=shape).astype(dtype.numpy)
    return rng.standard_normal(shape).astype(dtype.numpy)


def assert_same_outputs(before: Graph, after: Graph, seed: int = 0, rtol: float = 1e-5) -> None:
    """``after`` computes what ``before`` computes, on random inputs (relative to max |value|)."""
    inputs = random_inputs(before, seed)
    a = run_graph(before, inputs)
    b = run_graph(after, inputs)
    assert list(a) == list(b), (list(a), list(b))
    for name in a:
        assert a[name].shape == b[name].shape, name
        assert a[name].dtype == b[name].dtype, name
        scale = max(float(np.max(np.abs(a[name]))), 1e-30) if a[name].size else 1.0
        err = float(np.max(np.abs(a[name].astype(np.float64) - b[name]))) if a[name].size else 0.0
        assert err <= rtol * scale, f"{name}: max error {err} vs scale {scale}"


def op_counts(graph: Graph) -> dict[str, int]:
    """How many ops of each name the graph has."""
    return dict(Counter(op.name for op in graph.ops))


def valid_golden_cases(folder: Path) -> set[str]:
    """Names of the golden files in ``folder`` that are not expected to fail (no ``// ERROR:``)."""
    return {p.stem for p in folder.glob("*.qir") if "// ERROR:" not in p.read_text()}


def check_golden(
    folder: Path, case: str, pipeline: str, expected_ops: Mapping[str, int], seeds=(0, 1)
) -> tuple[Graph, Graph]:
    """Run ``pipeline`` on golden file ``case``: the input verifies, the result has exactly
    ``expected_ops``, and computes what the input computes for each seed. Returns both graphs."""
    before = parse((folder / f"{case}.qir").read_text())
    verify_graph(before)
    after = run_pipeline(before, pipeline)
    verify_graph(after)
    assert op_counts(after) == dict(expected_ops)
    for seed in seeds:
        assert_same_outputs(before, after, seed=seed)
    return before, after


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 18) -> onnx.ModelProto:
    """An ONNX model for onnxruntime 1.31 (IR version 10)."""
    g = onnx.helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    m = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def save_biased_gemm(path: Path, rng: np.random.Generator, M: int, N: int, batch: int) -> Path:
    """Save ``y = x Wᵀ + b`` (Gemm node ``fc``, x: [batch, N]) with W then b drawn from ``rng``
    (standard normal): the caller draws its inputs from the same stream after."""
    h, vi, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((M, N)).astype(np.float32), "w"),
             onnx.numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b")]
    node = h.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    onnx.save(make_model([node], [vi("x", T.FLOAT, [batch, N])], [vi("y", T.FLOAT, [batch, M])],
                         inits), path)
    return path


def mlp_model() -> onnx.ModelProto:
    """y = relu(x @ w1.T + b1) @ w2.T + b2 with x: [batch, 5] (two Gemms, seeded weights)."""
    h, vi, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
    rng = np.random.default_rng(1)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("w1", (6, 5)), ("b1", (6,)), ("w2", (3, 6)), ("b2", (3,)))]
    nodes = [h.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             h.make_node("Relu", ["h"], ["r"], name="relu"),
             h.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2", transB=1)]
    return make_model(nodes, [vi("x", T.FLOAT, ["batch", 5])], [vi("y", T.FLOAT, ["batch", 3])],
                      inits)


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run ``qlower argv`` in-process; returns (status, stdout, stderr)."""
    from qlower.cli import main

    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_refused(capsys, argv, message: str) -> None:
    """``qlower argv`` exits 2 with exactly the one line ``error: message``."""
    status, _, err = cli(capsys, *argv)
    assert (status, err) == (2, f"error: {message}\n"), argv


def qasm_state_error(text: str, kc, rows) -> tuple[float, int]:
    """How far Qiskit's state of an OpenQASM 3 kernel is from qsim's, over ``rows`` of its
    parameters: the text must parse with ``openqasm3`` and load with ``qiskit.qasm3``; its
    final measurements are removed and each ``input`` is bound by the index its name ends in.
    Returns (the largest amplitude difference, the program's parameter count)."""
    import openqasm3
    import qiskit.qasm3
    from qiskit.quantum_info import Statevector

    from qlower.backends.qsim import QsimRunner

    openqasm3.parse(text)
    qc = qiskit.qasm3.loads(text)
    qc.remove_final_measurements()
    want = QsimRunner().states(kc.circuit, kc.qubits, kc.resolvers(rows))
    n = len(kc.qubits)
    worst = 0.0
    for row, w in zip(rows, want):
        values = {p: float(row[int(p.name.split("_")[-1])]) for p in qc.parameters}
        got = np.asarray(Statevector(qc.assign_parameters(values)).data)
        # Qiskit's q[0] is the least significant bit; Cirq's first qubit the most
        got = got.reshape([2] * n).transpose(range(n)[::-1]).reshape(-1)
        worst = max(worst, float(np.max(np.abs(got - w))))
    return worst, len(qc.parameters)
