"""Qiskit Aer, from the compiled folder alone, against qsim: every kernel kind, exact and shots.

Aer is an independent simulator (its own QASM 3 importer, gates, little-endian qubit order); it
runs what ``qlower compile --target qasm3`` writes, binds the parameters that the host graph of
``program.qir`` computes, and reads out with the manifest's rules.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import pytest
from util import assert_refused, cli, make_model

import qlower
from qlower.backends.aer import AerRunner, load_kernel, run_folder
from qlower.backends.qsim import QsimRunner
from qlower.errors import QlowerError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def gemm_model(n_in=3, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    nodes = [H.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)]
    return make_model(nodes, [VI("x", T.FLOAT, ["batch", n_in])], [VI("y", T.FLOAT, None)],
                      [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")])


def pauli_model():
    """W = Z⊗Z + 0.5 X⊗I - 0.25 I⊗X: real, Pauli-sparse (LCU), not symmetric under a qubit swap."""
    Z, X, I2 = np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]]), np.eye(2)
    w = (np.kron(Z, Z) + 0.5 * np.kron(X, I2) - 0.25 * np.kron(I2, X)).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    return make_model(nodes, [VI("x", T.FLOAT, ["batch", 4])], [VI("y", T.FLOAT, None)],
                      [onnx.numpy_helper.from_array(np.ascontiguousarray(w.T), "w")])


def chain_model(sizes=(3, 4, 2)):
    """x -> Gemm -> Gemm with nothing between them (one kernel with compose=True)."""
    rng = np.random.default_rng(11)
    nodes, inits, cur = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        inits += [onnx.numpy_helper.from_array(rng.standard_normal((n_out, n_in)).astype(np.float32), f"w{i}"),
                  onnx.numpy_helper.from_array(rng.standard_normal(n_out).astype(np.float32), f"b{i}")]
        nodes.append(H.make_node("Gemm", [cur, f"w{i}", f"b{i}"], [f"h{i}"], name=f"fc{i}", transB=1))
        cur = f"h{i}"
    nodes.append(H.make_node("Identity", [cur], ["y"], name="out"))
    return make_model(nodes, [VI("x", T.FLOAT, ["batch", sizes[0]])], [VI("y", T.FLOAT, None)], inits)


KINDS = {
    "fable": (gemm_model, {"method": "fable", "carry": "columns"}, "fable"),
    "dilation": (gemm_model, {"method": "dilation", "carry": "columns"}, "dilation"),
    # 3 inputs + bias + offset cross 4: the selector qubit carries them (qlower/blocks/select.py)
    "fable-select": (gemm_model, {"method": "fable"}, "fable-select"),
    "svd-select": (gemm_model, {"method": "svd"}, "svd-select"),
    "lcu": (pauli_model, {"method": "lcu"}, "lcu"),
    "composed": (chain_model, {"method": "dilation", "compose": True}, "dilation"),
    "hadamard-test": (gemm_model, {"strategy": "amplitude-encoding"}, "hadamard-test"),
    "compressed-fable": (gemm_model, {"method": "fable", "threshold": 0.2, "carry": "columns"},
                         "fable"),
}


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """Per kind: the model, its program (target qasm3) and inputs of 2 rows (compiled once)."""
    out = {}
    for kind, (make, options, _) in KINDS.items():
        path = tmp_path_factory.mktemp(kind) / "m.onnx"
        onnx.save(make(), path)
        program = qlower.compile(path, "qasm3", **options)
        n_in = program.graph.inputs[0].type.dims[-1]
        x = np.random.default_rng(5).standard_normal((2, n_in)).astype(np.float32)
        out[kind] = (path, program, {"x": x})
    return out


def relative_error(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("kind", list(KINDS))
def test_aer_agrees_with_qsim_exact_and_with_shots(programs, kind):
    path, program, inputs = programs[kind]
    assert [k.method for k in program.kernels] == [KINDS[kind][2]]
    if kind == "composed":
        assert sum(op.name.startswith("q.block.") for op in program.graph.ops) == 2
    if kind == "compressed-fable":  # some rotations were dropped
        full = qlower.compile(path, "cirq", method="fable", carry="columns")
        assert program.kernels[0].resources().rotations < full.kernels[0].resources().rotations
    qsim = program.run(inputs)
    aer = program.run(inputs, backend="aer")
    assert aer.backend == "aer" and aer["y"].dtype == qsim["y"].dtype
    assert relative_error(aer["y"], qsim["y"]) < 1e-5
    assert aer.kernels[0].success_probability == pytest.approx(qsim.kernels[0].success_probability,
                                                               rel=1e-5)
    # shots: Aer samples the programs' own measurements; both estimates lie within a few
    # standard errors of the exact value and of each other
    est = program.run(inputs, 20_000, backend="aer", seed=3)
    ref = program.run(inputs, 20_000, seed=3)
    se = est.std_errors["y"]
    assert np.all(se > 0) and est.shots == 20_000
    assert np.max(np.abs(est["y"] - qsim["y"]) / se) < 4.5
    assert np.max(np.abs(est["y"] - ref["y"]) / np.hypot(se, ref.std_errors["y"])) < 4.5
    assert np.all(np.abs(se / ref.std_errors["y"] - 1) < 0.25)  # the same estimator's errors


def test_qubit_order_is_big_endian(programs, tmp_path):
    """Qiskit's q[0] is the least significant bit; the runner must hand back qlower's order. On
    this kernel the reversed order gives a different state and a different value."""
    _, program, inputs = programs["lcu"]
    program.write(tmp_path / "out")
    folder = qlower.load_compiled(tmp_path / "out")
    (kc,) = program.kernels
    rows = folder.bind(inputs)["k0"]
    circuit = load_kernel(tmp_path / "out" / "k0.qasm", folder.parameter_names["k0"])
    resolvers = [dict(zip(folder.parameter_names["k0"], r)) for r in rows]
    got = AerRunner().states(circuit, list(circuit.qubits), resolvers)
    want = QsimRunner().states(kc.circuit, kc.qubits, kc.resolvers(rows))
    assert np.max(np.abs(got - want)) < 1e-5
    flipped = AerRunner().states(circuit, list(circuit.qubits)[::-1], resolvers)
    assert np.max(np.abs(flipped - want)) > 0.1
    assert np.max(np.abs(kc.exact(flipped) - kc.exact(want))) > 0.01
    # samples: bitstrings in the same order (the read-out qubits' marginals)
    bits = AerRunner().sample(circuit, list(circuit.qubits), resolvers[:1], 20_000, seed=1)
    probs = np.bincount(bits[0], minlength=1 << len(kc.qubits)) / 20_000
    assert np.max(np.abs(probs - np.abs(want[0]) ** 2)) < 0.02


def test_two_kernels_with_a_host_op_between(tmp_path):
    """A model with a host op between kernels: the second kernel's parameters come from the
    first kernel's Aer read-out through the host graph."""
    from util import mlp_model

    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    program = qlower.compile(path, "cirq", method="dilation")
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    qsim, aer = program.run({"x": x}), program.run({"x": x}, backend="aer")
    assert [k.name for k in aer.kernels] == ["k0", "k1"]
    assert relative_error(aer["y"], qsim["y"]) < 1e-5


def test_measurements_in_the_programs_and_the_manifest(capsys, tmp_path, programs):
    path, program, _ = programs["fable"]
    status, _, err = cli(capsys, "compile", path, "-o", tmp_path / "m")
    assert status == 0, err
    doc = json.loads((tmp_path / "m" / "manifest.json").read_text())["kernels"][0]
    measurement, readout = doc["measurement"], doc["readout"]
    assert measurement["qubits"] == readout["output_qubits"] + readout["flag_qubits"]
    n_out = len(readout["output_qubits"])
    assert measurement["output_bits"] == list(range(n_out))
    assert measurement["flag_bits"] == list(range(n_out, doc["qubits"]))
    lines = (tmp_path / "m" / "k0.qasm").read_text().splitlines()
    k = len(measurement["qubits"])
    assert lines[-k - 1:] == [f"bit[{k}] c;"] + [f"c[{b}] = measure q[{q}];"
                                                 for b, q in enumerate(measurement["qubits"])]
    status, _, err = cli(capsys, "compile", path, "-o", tmp_path / "u", "--no-measure")
    assert status == 0, err
    text = (tmp_path / "u" / "k0.qasm").read_text()
    assert not [line for line in text.splitlines() if "measure q" in line or line.startswith("bit[")]
    assert json.loads((tmp_path / "u" / "manifest.json").read_text())["kernels"][0]["measurement"] is None
    # the unmeasured program is the measured one without its last k + 1 lines
    assert text.splitlines() == lines[: -k - 1]
    # a Hadamard test measures its one qubit
    hpath, hprog, _ = programs["hadamard-test"]
    hprog.write(tmp_path / "h")
    hdoc = json.loads((tmp_path / "h" / "manifest.json").read_text())["kernels"][0]
    assert hdoc["measurement"]["qubits"] == [hdoc["readout"]["measure_qubit"]]
    assert (tmp_path / "h" / "k0.qasm").read_text().endswith(
        f"bit[1] c;\nc[0] = measure q[{hdoc['readout']['measure_qubit']}];\n")


def test_run_folder_reads_a_users_compile(capsys, tmp_path, programs):
    """What a hardware user has: the folder and inputs; shots use the files' measurements."""
    path, program, inputs = programs["dilation"]
    cli(capsys, "compile", path, "-o", tmp_path / "out")
    exact = run_folder(tmp_path / "out", inputs)
    assert relative_error(exact["y"], program.run(inputs)["y"]) < 1e-5
    shots = run_folder(tmp_path / "out", inputs, 20_000, seed=1)
    assert np.max(np.abs(shots["y"] - exact["y"]) / shots.std_errors["y"]) < 4.5
    again = run_folder(tmp_path / "out", inputs, 20_000, seed=1)
    assert np.array_equal(again["y"], shots["y"])  # seeded


def test_cli_run_backend_aer(capsys, tmp_path, programs):
    path, program, inputs = programs["dilation"]
    np.savez(tmp_path / "x.npz", **inputs)
    status, out, err = cli(capsys, "run", path, "--inputs", tmp_path / "x.npz", "--backend", "aer",
                           "--check", "--json")
    assert status == 0, err
    doc = json.loads(out)
    assert doc["backend"] == "aer" and doc["check"]["y"]["ok"] and doc["shots"] is None
    assert [k["name"] for k in doc["kernels"]] == ["k0"]
    status, out, err = cli(capsys, "run", path, "--inputs", tmp_path / "x.npz", "--backend", "aer",
                           "--shots", "5000", "--check", "--json")
    assert status == 0, err
    doc = json.loads(out)
    assert doc["shots"] == 5000 and np.all(np.array(doc["std_errors"]["y"]) > 0)


def test_missing_qiskit_aer_is_one_line(capsys, tmp_path, programs, monkeypatch):
    path, _, inputs = programs["dilation"]
    np.savez(tmp_path / "x.npz", **inputs)
    monkeypatch.setitem(sys.modules, "qiskit_aer", None)  # import qiskit_aer raises ImportError
    assert_refused(capsys, ["run", path, "--inputs", tmp_path / "x.npz", "--backend", "aer"],
                   "the aer backend needs qiskit-aer and qiskit-qasm3-import, which are not "
                   "installed: pip install 'qlower[aer]'")


def test_refusals(capsys, tmp_path, programs):
    path, program, inputs = programs["fable"]
    assert_refused(capsys, ["compile", path, "-o", tmp_path / "c", "--target", "cirq",
                            "--no-measure"],
                   "--no-measure applies to --target qasm3 (--target cirq kernels carry no "
                   "measurements)")
    qlower.compile(path, "cirq", method="fable").write(tmp_path / "cirq")
    with pytest.raises(QlowerError, match=r"compiled for target 'cirq'; this runner "
                       r"reads OpenQASM 3 \(compile with --target qasm3\)$"):
        run_folder(tmp_path / "cirq", inputs)
    lpath, _, linputs = programs["lcu"]
    signless = qlower.compile(lpath, "cirq", method="lcu", signs="none")
    with pytest.raises(QlowerError, match=r"^kernel k0: its outputs have signs a shot read-out "
                       r"cannot see"):
        signless.run(linputs, 100, backend="aer")
