"""Every success probability that ``compile`` and ``estimate`` print, against qsim and the formula.

The printed ``p_succ`` of a kernel is the probability that its flags read 0, averaged over unit
vectors drawn uniformly from the sphere of the ``N`` entries the kernel prepares (a lowered
layer's input with its bias and offset entries). With ``C`` the kernel's map from that vector
to the amplitudes at flags = 0, ``P(x̂) = ‖C x̂‖²`` and ``E[x̂ x̂ᵀ] = I/N``, so the average is
``‖C‖_F² / N`` — and also exactly the mean of ``P`` over the N basis vectors. The tests compare
like with like: qsim run on the kernel's own circuit with those inputs (basis vectors: exact up
to single precision; random unit vectors: within 5 standard errors), and ``‖C‖_F² / N`` written
here from the lowered graph's block matrices and alphas (a composed chain's whole product; the
table once took the first block alone: 0.0056 where qsim measured 0.0079).
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from util import make_model

import qlower
from qlower.backends.qsim import QsimRunner
from qlower.blocks.semantics import encoding_angles
from qlower.cli import main

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def chain(sizes, bias=True, relu=False, seed=0) -> onnx.ModelProto:
    """Gemm layers (with a Relu between them if ``relu``)."""
    rng = np.random.default_rng(seed)
    nodes, inits, cur = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        inits.append(onnx.numpy_helper.from_array(
            rng.standard_normal((n_out, n_in)).astype(np.float32), f"w{i}"))
        ins = [cur, f"w{i}"]
        if bias:
            inits.append(onnx.numpy_helper.from_array(
                rng.standard_normal(n_out).astype(np.float32), f"b{i}"))
            ins.append(f"b{i}")
        last = i == len(sizes) - 2
        nodes.append(H.make_node("Gemm", ins, ["y" if last and not relu else f"h{i}"],
                                 name=f"fc{i}", transB=1))
        cur = f"h{i}"
        if relu and not last:
            nodes.append(H.make_node("Relu", [cur], [f"r{i}"], name=f"relu{i}"))
            cur = f"r{i}"
        elif relu:
            nodes.append(H.make_node("Identity", [cur], ["y"], name="out"))
    return make_model(nodes, [VI("x", T.FLOAT, ["batch", sizes[0]])], [VI("y", T.FLOAT, None)],
                      inits)


# (model, options): every method, both strategies, composed and not, signs, compression
CASES = {
    "mlp-auto": (lambda: chain((5, 7, 3), relu=True), {}),
    "mlp-fable": (lambda: chain((5, 7, 3), relu=True), {"method": "fable"}),
    "mlp-lcu": (lambda: chain((3, 3, 2), relu=True), {"method": "lcu"}),
    "mlp-dilation-nosigns": (lambda: chain((5, 7, 3), relu=True),
                             {"method": "dilation", "signs": "none"}),
    "mlp-fable-compressed": (lambda: chain((5, 7, 3), relu=True),
                             {"method": "fable", "threshold": 0.05}),
    "mlp-amplitude": (lambda: chain((5, 7, 3), relu=True), {"strategy": "amplitude-encoding"}),
    "compose-fable": (lambda: chain((5, 6, 4, 3)), {"method": "fable", "compose": True}),
    "compose-dilation": (lambda: chain((5, 6, 4, 3)), {"method": "dilation", "compose": True}),
    "compose-lcu-nosigns": (lambda: chain((3, 2, 2), bias=False),
                            {"method": "lcu", "compose": True, "signs": "none"}),
    "compose-auto-nobias": (lambda: chain((6, 5, 3), bias=False), {"compose": True}),
    "compose-fable-compressed": (lambda: chain((5, 6, 3)),
                                 {"method": "fable", "compose": True, "threshold": 0.05}),
}


def cli_args(options: dict) -> list[str]:
    args = []
    for key, value in options.items():
        if key == "compose":
            args.append("--compose")
        else:
            args += [f"--{key}", str(value)]
    return args


def printed(capsys, tmp_path, path, options) -> tuple[list[float], list[str]]:
    """The success probabilities of ``estimate --json`` and the p_succ column of ``compile``."""
    assert main(["estimate", str(path), "--json", *cli_args(options)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), *cli_args(options)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    column = [line.split()[header.index("p_succ")] for line in lines[1: 1 + len(doc["kernels"])]]
    assert main(["estimate", str(path), *cli_args(options)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines[1: 1 + len(doc["kernels"])]] == column
    return [k["success_probability"] for k in doc["kernels"]], column


def formula(program, kc) -> float | None:
    """‖C‖_F² / N from the lowered graph (None where the blocks are compressed: their
    matrix is not W)."""
    c = chain_matrix(program, kc)
    return None if c is None else float(np.sum(c**2) / c.shape[1])


def chain_matrix(program, kc) -> np.ndarray | None:
    """C = Π W_j/α_j from the lowered graph, each block reading the first rows of the last."""
    blocks = kc.kernel.ops[1:-1]
    if any(b.attr("threshold", 0.0) > 0 for b in blocks):
        return None
    c = None
    for b in blocks:
        w = np.asarray(program.graph.dense(b.operand(1)).array, dtype=np.float64)
        w = w / b.attr("alpha")
        if c is None:
            c = w
        else:
            k = min(w.shape[1], c.shape[0])
            c = w[:, :k] @ c[:k]
    return c


def select_angles(program, kc, vectors: np.ndarray) -> np.ndarray:
    """The parameters ``host.select_params`` computes for layer inputs ``vectors`` (a selector
    kernel's preparation loads the input and a second branch, not the input alone)."""
    from qlower.blocks.select import select_params

    (op,) = [o for o in program.graph.ops if o.name == "host.select_params"
             and o.result_names[0] == kc.kernel.parameters]
    const = [None if o is None else np.asarray(program.graph.dense(o).array, np.float64)
             for o in op.operands[1:]] + [None] * (5 - len(op.operands))
    xi, rownorms, base, b = const[:4]
    rows = op.attr("rows")
    params, _, _ = select_params(vectors, xi, rownorms, base, b, kind=op.attr("kind"),
                                 alpha=op.attr("alpha"), offset=op.attr("offset"),
                                 size=op.attr("size"), out_qubits=(rows - 1).bit_length())
    return params


def measured(kc, vectors: np.ndarray, program=None) -> np.ndarray:
    """qsim's P(flags = 0) for the kernel's circuit prepared with each row of ``vectors``."""
    runner = QsimRunner()
    if kc.method.endswith("-select"):
        angles = select_angles(program, kc, vectors)
        return kc.success_probability(runner.states(kc.circuit, kc.qubits, kc.resolvers(angles)))
    angles = encoding_angles(vectors, int(kc.kernel.encode.attr("size")))
    # as the runtime does it: the preparation per input, then the constant blocks for all
    prepared = runner.states(kc.prefix, kc.qubits, kc.resolvers(angles))
    return kc.success_probability(runner.evolve(kc.suffix, kc.qubits, prepared))


@pytest.mark.parametrize("name", sorted(CASES))
def test_printed_success_probability_is_what_qsim_measures(capsys, tmp_path, name):
    make, options = CASES[name]
    path = tmp_path / "m.onnx"
    onnx.save(make(), path)
    values, column = printed(capsys, tmp_path, path, options)
    program = qlower.compile(path, "cirq", **options)
    assert len(values) == len(program.kernels) >= 1
    if options.get("compose"):
        assert len(program.kernels) == 1 and len(program.kernels[0].kernel.ops) >= 4
    rng = np.random.default_rng(5)
    for p, cell, kc in zip(values, column, program.kernels):
        assert cell == f"{p:.3g}"
        if kc.readout == "overlap":  # a Hadamard test post-selects nothing
            assert p == 1.0
            continue
        N = kc.input_size
        if kc.method.endswith("-select"):
            # the average over unit layer inputs: the offset depends on ‖x‖ only, so random
            # unit vectors, not the basis, sample it (qlower.blocks.select.mean_success)
            N = [o for o in program.graph.ops if o.name == "host.select_params"
                 and o.result_names[0] == kc.kernel.parameters][0]
            N = program.graph.type_of(N.operand(0)).dims[-1]
            x = rng.standard_normal((400, N))
            x /= np.linalg.norm(x, axis=-1, keepdims=True)
            sample = measured(kc, x, program)
            err = sample.std(ddof=1) / math.sqrt(len(sample))
            assert abs(sample.mean() - p) <= 5 * err + 1e-6
            continue
        exact = formula(program, kc)
        if exact is not None:
            assert p == pytest.approx(exact, rel=1e-9)
        # the exact average over directions: the mean over the basis vectors (complex64 states)
        assert float(np.mean(measured(kc, np.eye(N)))) == pytest.approx(p, rel=2e-5, abs=1e-7)
        # random unit inputs: the sample mean lies within 5 standard errors
        sample = measured(kc, rng.standard_normal((200, N)))
        err = sample.std(ddof=1) / math.sqrt(len(sample))
        assert abs(sample.mean() - p) <= 5 * err + 1e-6


def test_composed_chain_counts_every_block(tmp_path):
    """A composed kernel's figure is the whole product's, far from the first block's alone."""
    path = tmp_path / "m.onnx"
    onnx.save(chain((5, 6, 4, 3)), path)
    program = qlower.compile(path, "cirq", method="fable", compose=True)
    (kc,) = program.kernels
    p = program.estimate().kernels[0].success_probability
    first = kc.kernel.ops[1]
    w = np.asarray(program.graph.dense(first.operand(1)).array, dtype=np.float64)
    first_only = float(np.sum(w**2) / (w.shape[1] * first.attr("alpha") ** 2))
    assert p == pytest.approx(formula(program, kc), rel=1e-9)
    assert abs(p - first_only) > 0.1 * p


def test_run_measures_the_printed_average_on_direction_uniform_inputs(capsys, tmp_path):
    """Without bias and offset a kernel prepares x/‖x‖ itself: Gaussian inputs are uniform
    directions, so the mean that ``run --json`` reports estimates the printed figure."""
    path = tmp_path / "m.onnx"
    onnx.save(chain((6, 5, 3), bias=False), path)
    options = ["--method", "fable", "--compose", "--signs", "none"]
    assert main(["estimate", str(path), "--json", *options]) == 0
    p = json.loads(capsys.readouterr().out)["kernels"][0]["success_probability"]
    x = np.random.default_rng(11).standard_normal((400, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    assert main(["run", str(path), "--inputs", str(tmp_path / "x.npz"), "--backend", "qsim",
                 "--json", *options]) == 0
    got = json.loads(capsys.readouterr().out)["kernels"][0]["success_probability"]
    # standard error of the mean of P(x̂) = x̂ᵀGx̂ over uniform directions, G = CᵀC
    program = qlower.compile(path, "cirq", method="fable", compose=True, signs="none")
    c = chain_matrix(program, program.kernels[0])
    g = c.T @ c
    n = g.shape[0]
    var = 2 * (n * np.trace(g @ g) - np.trace(g) ** 2) / (n**2 * (n + 2))
    assert abs(got - p) <= 5 * math.sqrt(var / len(x)) + 1e-6
