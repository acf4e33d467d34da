"""One layout and one alpha per block-encoding method, and layers with one output or one input.

A one-output layer (a regression head) with FABLE once stopped with ``internal error: block
alpha 5.65 differs from the graph's 8.0``: the IR counted at least one qubit for a register of
one entry, the circuit none, so lowering and the circuit computed different alphas. Now the IR,
lowering, the reference semantics and the builders all ask ``qlower.blocks.layout`` and
``block_alpha``; these tests pin that to the circuits and to onnxruntime.
"""

from __future__ import annotations

import functools
import math
import re

import cirq
import numpy as np
import onnx
import pytest
from util import make_model

import qlower
from qlower.api import onnxruntime_outputs
from qlower.backends import run_graph
from qlower.blocks import block_encoding, readout
from qlower.blocks.block_encoding import block_alpha
from qlower.blocks.layout import block_layout
from qlower.blocks.lcu import pauli_terms
from qlower.blocks.registry import block_method, method_names, plan_block
from qlower.cli import main
from qlower.ir.dialects.quantum import QState

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
METHODS = [m for m in method_names() if block_method(m).general]  # any W
SHAPES = [(1, 1), (1, 2), (2, 1), (1, 5), (5, 1), (1, 8), (3, 7), (4, 4)]
PAULI = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]]),
         "Z": np.diag([1.0, -1.0])}


def qubits(n: int) -> int:
    """⌈log₂ n⌉, written independently of the library (0 for n = 1)."""
    return int(math.ceil(math.log2(n))) if n > 1 else 0


def pauli_l1(W: np.ndarray) -> float:
    """Σ |Tr(P W)| / 2^q over Pauli strings P, by explicit Kronecker products."""
    q = max(qubits(W.shape[0]), qubits(W.shape[1]))
    pad = np.zeros((1 << q, 1 << q))
    pad[: W.shape[0], : W.shape[1]] = W
    total = 0.0
    for letters in np.ndindex(*([4] * q)):
        P = functools.reduce(np.kron, [PAULI["IXYZ"[i]] for i in letters], np.eye(1))
        c = np.trace(P.conj().T @ pad) / (1 << q)
        total += abs(c) if abs(c) > 1e-12 * np.abs(pad).max() else 0.0
    return total


def implemented_block(be) -> np.ndarray:
    """The circuit's block at flags = 0, column j = the output amplitudes from input |j⟩."""
    qs = list(be.qubits)
    sim = cirq.Simulator(dtype=np.complex128)
    inp = list(be.registers.input)
    cols = []
    for j in range(1 << len(inp)):
        index = 0
        for b, q in enumerate(inp):  # input register big-endian
            if (j >> (len(inp) - 1 - b)) & 1:
                index |= 1 << (len(qs) - 1 - qs.index(q))
        final = sim.simulate(be.circuit, qubit_order=qs, initial_state=index).final_state_vector
        cols.append(readout(final, qs, be.registers))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_layout_and_alpha_are_the_circuits(method, shape):
    M, N = shape
    W = np.random.default_rng(M * 10 + N).standard_normal(shape)
    be = block_encoding(W, method)
    terms = len(pauli_terms(W)[1]) if method == "lcu" else None
    layout = block_layout(method, M, N, terms=terms)
    regs = be.registers
    assert (len(regs.input), len(regs.output), len(regs.flags)) == (layout.input, layout.output,
                                                                   layout.flags)
    assert len(be.qubits) == layout.output + layout.flags  # the input is among them
    # one alpha: the plan lowering writes into the IR is the circuit's, bit for bit
    assert block_alpha(W, method) == be.alpha
    assert plan_block(W, method) == (method, plan_block(W, method)[1])
    assert plan_block(W, method)[1]["alpha"] == be.alpha
    want = {"fable": np.abs(W).max() * math.sqrt(2.0 ** (qubits(M) + qubits(N))),
            "dilation": np.linalg.svd(W, compute_uv=False)[0],
            "svd": np.linalg.svd(W, compute_uv=False)[0],
            "lcu": pauli_l1(W)}[method]
    assert be.alpha == pytest.approx(want, rel=1e-12)
    # the whole implemented block, padded rows and columns included, is what the circuit does
    block = implemented_block(be)
    assert block.shape == (1 << layout.output, 1 << layout.input)
    np.testing.assert_allclose(block, be.padded / be.alpha, atol=1e-9)
    np.testing.assert_allclose(block[:M, :N] * be.alpha, W, atol=1e-9)


def test_fable_qubit_count_of_one_row_and_one_column():
    # one output: no output register (a, C); one input: no input register (a, R)
    assert len(block_encoding(np.ones((1, 8)), "fable").qubits) == 1 + 3
    assert len(block_encoding(np.ones((8, 1)), "fable").qubits) == 1 + 3
    assert block_encoding(np.full((1, 6), 2.0), "fable").alpha == 2.0 * math.sqrt(8)


# -- layers end to end ---------------------------------------------------------------------


def gemm_model(M: int, N: int, bias: bool, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((M, N)).astype(np.float32), "w")]
    ins = ["x", "w"]
    if bias:
        inits.append(onnx.numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b"))
        ins.append("b")
    nodes = [H.make_node("Gemm", ins, ["y"], name="head", transB=1)]
    return make_model(nodes, [VI("x", T.FLOAT, ["batch", N])], [VI("y", T.FLOAT, None)], inits)


def matmul_column_model(N: int) -> onnx.ModelProto:
    w = np.random.default_rng(3).standard_normal((N, 1)).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    return make_model(nodes, [VI("x", T.FLOAT, ["batch", N])], [VI("y", T.FLOAT, None)],
                      [onnx.numpy_helper.from_array(w, "w")])


def chain_model(sizes, bias: bool) -> onnx.ModelProto:
    """Gemm layers back to back (nothing between them), so --compose makes them one kernel."""
    rng = np.random.default_rng(7)
    nodes, inits, cur = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        inits.append(onnx.numpy_helper.from_array(
            rng.standard_normal((n_out, n_in)).astype(np.float32), f"w{i}"))
        ins = [cur, f"w{i}"]
        if bias:
            inits.append(onnx.numpy_helper.from_array(
                rng.standard_normal(n_out).astype(np.float32), f"b{i}"))
            ins.append(f"b{i}")
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        nodes.append(H.make_node("Gemm", ins, [out], name=f"fc{i}", transB=1))
        cur = out
    return make_model(nodes, [VI("x", T.FLOAT, ["batch", sizes[0]])], [VI("y", T.FLOAT, None)],
                      inits)


MODELS = {
    "1x5-bias": lambda: gemm_model(1, 5, True),
    "1x5": lambda: gemm_model(1, 5, False),
    "5x1-bias": lambda: gemm_model(5, 1, True),
    "5x1": lambda: gemm_model(5, 1, False),
    "1x1-bias": lambda: gemm_model(1, 1, True),
    "1x1": lambda: gemm_model(1, 1, False),
    "matmul-5x1": lambda: matmul_column_model(5),
    "chain-5-1-3": lambda: chain_model((5, 1, 3), False),
    "chain-5-1-3-bias": lambda: chain_model((5, 1, 3), True),
}


def check_layout_of_kernels(program) -> None:
    """The IR's !q.state of each kernel's last block is the circuit's register map."""
    for kc in program.kernels:
        t = program.graph.type_of(kc.kernel.ops[-2].result().name)
        assert isinstance(t, QState)
        assert t.data == len(kc.registers.output)
        assert t.data + t.flags == len(kc.qubits)


@pytest.mark.parametrize("signs", ["offset", "none"])
@pytest.mark.parametrize("method", ["fable", "lcu", "dilation", "auto"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_one_output_and_one_input_layers_on_qsim(tmp_path, name, method, signs):
    path = tmp_path / f"{name}.onnx"
    onnx.save(MODELS[name](), path)
    n_in = onnx.load(path).graph.input[0].type.tensor_type.shape.dim[1].dim_value
    x = np.random.default_rng(1).standard_normal((4, n_in)).astype(np.float32)
    x[2] *= -3.0  # a negative scalar input too, where n_in = 1
    program = qlower.compile(path, "cirq", method=method, signs=signs,
                             compose=name.startswith("chain"))
    assert program.kernels
    check_layout_of_kernels(program)
    ort = onnxruntime_outputs(path, {"x": x})["y"]
    sim = program.run({"x": x})["y"]
    ref = run_graph(program.graph, {"x": x})["y"]
    scale = float(np.max(np.abs(ort)))
    assert sim.shape == ort.shape and sim.dtype == ort.dtype
    assert np.max(np.abs(ref - ort)) <= 2e-6 * scale
    assert np.max(np.abs(sim - ort)) <= 1e-4 * scale


def test_regression_head_compiles_from_the_command_line(tmp_path, capsys):
    # the report of the issue: Gemm 5 -> 1, --method fable, was exit 3
    path = tmp_path / "head.onnx"
    onnx.save(gemm_model(1, 5, True), path)
    status = main(["compile", str(path), "--method", "fable", "-o", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert status == 0, err
    row = out.splitlines()[1].split()
    # W'' = [W | b | κ·1] is 1×7: an input register of 3 qubits, no output register, flag a
    assert row[:4] == ["k0", "head", "fable", "4"]
    init = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    kappa = float(np.abs(np.concatenate([init["w"].ravel(), init["b"]])).max())
    assert row[7] == f"{kappa * 2 ** 1.5:.6g}"


def test_wrong_alpha_in_a_dump_is_the_inputs_fault(tmp_path, capsys):
    path = tmp_path / "head.onnx"
    onnx.save(gemm_model(1, 5, True), path)
    dump = tmp_path / "low.qir"
    assert main(["inspect", str(path), "--stage", "lowered", "-o", str(dump), "--save-weights"]) == 0
    capsys.readouterr()
    text = dump.read_text()
    text, n = re.subn(r"alpha = [0-9.e+-]+", "alpha = 3.5", text)
    assert n == 1
    dump.write_text(text)
    status = main(["compile", str(dump), "-o", str(tmp_path / "out")])
    _, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1
    assert re.search(r"alpha 3\.5 is not the alpha of the (fable|svd|dilation|lcu) encoding of its "
                     r"weights", err), err


def test_layout_loads_without_cirq_and_the_api_names_stay_functions():
    import subprocess
    import sys

    probe = ("import sys\nimport qlower.blocks.layout\nprint('cirq' in sys.modules)\n"
             "import qlower.blocks.block_encoding\nfrom qlower.blocks import block_encoding\n"
             "print(callable(block_encoding), block_encoding.__module__)")
    out = subprocess.run([sys.executable, "-c", probe], text=True, capture_output=True,
                         check=True).stdout.split()
    assert out == ["False", "True", "qlower.blocks.block_encoding"]
