"""``qlower qaoa`` end to end on tiny ONNX models: the written model's weights are exactly ±1
and onnxruntime computes alpha·X w_best + bias with them; the report's numbers against
enumeration; OpenQASM 3 loaded by Qiskit; same input and seed, same bytes; exact errors."""

from __future__ import annotations

import itertools
import json

import cirq
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from util import assert_refused, cli, make_model

from qlower import qaoa

vi = h.make_tensor_value_info


def gemm_model(w, b=None, **attrs) -> onnx.ModelProto:
    """y = Gemm(x, w[, b]) with x: [s, N]."""
    n = w.shape[1] if attrs.get("transB") else w.shape[0]
    m = w.shape[0] if attrs.get("transB") else w.shape[1]
    inits = [nh.from_array(w, "w")] + ([] if b is None else [nh.from_array(b, "b")])
    node = h.make_node("Gemm", ["x", "w"] + ([] if b is None else ["b"]), ["y"], name="fc", **attrs)
    return make_model([node], [vi("x", T.FLOAT, ["s", n])], [vi("y", T.FLOAT, ["s", m])], inits)


def data(seed: int, s: int, n: int, m: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((s, n))
    return x, x @ rng.choice([-1.0, 1.0], (n, m)) + 0.3 * rng.standard_normal((s, m))


def onnxruntime_output(path, x) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.astype(np.float32)})[0].astype(np.float64)


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_json(capsys, *argv) -> dict:
    code, out, err = cli(capsys, "qaoa", *argv, "--json")
    assert (code, err) == (0, ""), err
    return json.loads(out)


@pytest.mark.parametrize("bias, alpha, beta", [(None, 1.0, 1.0), ([0.5, -1.0], 0.5, 2.0)])
def test_gemm_end_to_end(capsys, work, bias, alpha, beta):
    n, m = 5, 2
    w = np.random.default_rng(1).standard_normal((m, n)).astype(np.float32)
    b = None if bias is None else np.array(bias, np.float32)
    onnx.save(gemm_model(w, b, transB=1, alpha=alpha, beta=beta), "m.onnx")
    x, t = data(2, 9, n, m)
    np.savez("d.npz", X=x, t=t)
    doc = run_json(capsys, "m.onnx", "--layer", "fc", "--data", "d.npz", "--p", "2",
                   "--shots", "200", "-o", "out.onnx")
    out = onnx.load("out.onnx")
    stored = nh.to_array(out.graph.initializer[0])
    assert stored.dtype == np.float32 and set(np.unique(stored)) <= {-1.0, 1.0}
    rows = np.array([r["weights"] for r in doc["results"]])
    assert stored.tolist() == rows.tolist()  # transB = 1: stored as [M, N]
    if b is not None:
        assert nh.to_array(out.graph.initializer[1]).tolist() == b.tolist()
    y = onnxruntime_output("out.onnx", x)
    offset = 0.0 if b is None else beta * b.astype(np.float64)
    np.testing.assert_allclose(y, alpha * x @ rows.T + offset, rtol=1e-5, atol=1e-5)
    assert (doc["p"], doc["shots"], doc["seed"], doc["rows"], doc["weights_per_row"]) == \
        (2, 200, 0, m, n)
    ws = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    for r, res in enumerate(doc["results"]):
        target = t[:, r] - offset[r] if b is not None else t[:, r]
        costs = np.sum((alpha * ws @ x.T - target) ** 2, axis=1)  # enumeration
        assert res["best_cost"] == pytest.approx(np.sum((y[:, r] - t[:, r]) ** 2), rel=1e-5)
        assert res["optimum_cost"] == pytest.approx(costs.min(), rel=1e-12)
        assert res["found_optimum"] == bool(np.isclose(res["best_cost"], costs.min(), rtol=1e-9))
        assert 0 < res["p_optimal"] < 1 and 0 < res["approximation_ratio"] < 1
        ratio = (costs.max() - res["expected_cost"]) / (costs.max() - costs.min())
        assert res["approximation_ratio"] == pytest.approx(ratio, rel=1e-9)
        assert (res["qubits"], res["cnots"], res["depth"]) == (5, 2 * 20, 1 + 2 * 17)
        assert len(res["gammas"]) == len(res["betas"]) == 2


def test_matmul_one_row_with_flat_targets(capsys, work):
    n = 4
    w = np.array([[0.3], [-1.2], [0.8], [2.0]], np.float32)  # [N, 1]
    onnx.save(make_model([h.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                         [vi("x", T.FLOAT, ["s", n])], [vi("y", T.FLOAT, ["s", 1])],
                         [nh.from_array(w, "w")]), "m.onnx")
    x, t = data(4, 7, n, 1)
    np.savez("d.npz", X=x, t=t[:, 0])
    doc = run_json(capsys, "m.onnx", "--layer", "mm", "--data", "d.npz", "--p", "3", "-o",
                   "out.onnx")
    row = doc["results"][0]["weights"]
    assert nh.to_array(onnx.load("out.onnx").graph.initializer[0]).tolist() == [[v] for v in row]
    y = onnxruntime_output("out.onnx", x)
    np.testing.assert_allclose(y[:, 0], x @ np.array(row, np.float64), rtol=1e-5, atol=1e-5)
    assert doc["results"][0]["found_optimum"] is True  # 16 rows and 1024 shots


def test_text_report_and_same_bytes(capsys, work):
    w = np.random.default_rng(5).standard_normal((2, 4)).astype(np.float32)
    onnx.save(gemm_model(w, transB=1), "m.onnx")
    x, t = data(6, 8, 4, 2)
    np.savez("d.npz", X=x, t=t)
    outs = []
    for k in range(2):
        code, out, err = cli(capsys, "qaoa", "m.onnx", "--layer", "fc", "--data", "d.npz",
                             "--p", "2", "--seed", "3", "--qasm", f"c{k}.qasm", "-o", f"o{k}.onnx")
        assert (code, err) == (0, "")
        outs.append(out.replace(f"o{k}.onnx", "OUT"))
    assert outs[0] == outs[1]
    for a, b in (("o0.onnx", "o1.onnx"), ("c0.row0.qasm", "c1.row0.qasm"),
                 ("c0.row1.qasm", "c1.row1.qasm")):
        assert (work / a).read_bytes() == (work / b).read_bytes()
    lines = outs[0].splitlines()
    assert lines[0] == ("layer 'fc' (Gemm): 2 row(s) of 4 weights; QAOA depth p = 2, 1024 shots, "
                        "seed 3")
    assert lines[1] == f"optimiser: {qaoa.OPTIMISER}; objective: {qaoa.objective_name()}"
    assert [ln.split(":")[0] for ln in lines[2:4]] == ["row 0", "row 1"]
    assert lines[2].endswith("; 4 qubits, 24 CNOTs, depth 23")  # n(n-1)p; 1 + p(3(n-1) + 2)
    assert lines[-1] == ("wrote OUT: weights 'w' of node 'fc' set to the best sampled rows, "
                         "exactly +-1 (no scale; alpha and bias unchanged)")


def test_qasm_program_is_the_circuit(capsys, work):
    import openqasm3
    import qiskit.qasm3
    from qiskit.quantum_info import Statevector

    n = 4
    w = np.random.default_rng(7).standard_normal((1, n)).astype(np.float32)
    onnx.save(gemm_model(w, transB=1), "m.onnx")
    x, t = data(8, 6, n, 1)
    np.savez("d.npz", X=x, t=t)
    doc = run_json(capsys, "m.onnx", "--layer", "fc", "--data", "d.npz", "--p", "2", "--qasm",
                   "c.qasm", "-o", "out.onnx")
    assert doc["qasm"] == ["c.qasm"]
    text = (work / "c.qasm").read_text()
    openqasm3.parse(text)
    qc = qiskit.qasm3.loads(text)
    assert qc.count_ops()["cx"] == doc["results"][0]["cnots"] == 2 * 6 * 2
    qc.remove_final_measurements()
    got = np.asarray(Statevector(qc).data).reshape([2] * n).transpose(range(n)[::-1]).reshape(-1)
    res = doc["results"][0]
    ising = qaoa.ising_from_data(x, t[:, 0])
    want = cirq.Simulator(dtype=np.complex128).simulate(
        qaoa.qaoa_circuit(ising, res["gammas"], res["betas"]),
        qubit_order=cirq.LineQubit.range(n)).final_state_vector
    assert np.max(np.abs(got - want)) <= 1e-9


# -- errors ---------------------------------------------------------------------------------


@pytest.fixture
def ok(work):
    """m.onnx: Gemm 'fc' (2 rows of 3 weights) and d.npz with X [4, 3], t [4, 2]."""
    onnx.save(gemm_model(np.ones((2, 3), np.float32), transB=1), "m.onnx")
    x, t = data(0, 4, 3, 2)
    np.savez("d.npz", X=x, t=t)
    return work


def refused(capsys, message, *extra, model="m.onnx", layer="fc", data="d.npz", out="o.onnx"):
    assert_refused(capsys, ["qaoa", model, "--layer", layer, "--data", data, "-o", out, *extra],
                   message)


def test_model_errors(capsys, ok):
    refused(capsys, "m.onnx: no node named 'nope' (Gemm and MatMul nodes: 'fc')", layer="nope")
    refused(capsys, "x.onnx: no such model file", model="x.onnx")
    (ok / "g.qir").write_text("graph @g(%x: tensor<2xf32>) {\n  return %x\n}\n")
    refused(capsys, "g.qir: qaoa needs an ONNX model, not IR text", model="g.qir")
    onnx.save(make_model([h.make_node("Relu", ["x"], ["y"], name="r")],
                         [vi("x", T.FLOAT, [2])], [vi("y", T.FLOAT, [2])]), "r.onnx")
    refused(capsys, "r.onnx: node 'r' is Relu; qaoa binarises the weights of Gemm and MatMul "
            "nodes", model="r.onnx", layer="r")
    onnx.save(make_model([h.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                         [vi("x", T.FLOAT, [4, 3]), vi("w", T.FLOAT, [3, 2])],
                         [vi("y", T.FLOAT, [4, 2])]), "v.onnx")
    refused(capsys, "v.onnx: node 'mm' (MatMul): its weights 'w' are not a constant (an "
            "initializer or a Constant node)", model="v.onnx", layer="mm")
    two = make_model([h.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1),
                      h.make_node("Gemm", ["x", "w"], ["z"], name="fc2", transB=1)],
                     [vi("x", T.FLOAT, ["s", 3])],
                     [vi("y", T.FLOAT, ["s", 2]), vi("z", T.FLOAT, ["s", 2])],
                     [nh.from_array(np.ones((2, 3), np.float32), "w")])
    onnx.save(two, "two.onnx")
    refused(capsys, "two.onnx: node 'fc' (Gemm): its weights 'w' are used elsewhere too; "
            "binarising them would change the other uses", model="two.onnx")
    onnx.save(gemm_model(np.ones((1, 25), np.float32), transB=1), "big.onnx")
    refused(capsys, "big.onnx: node 'fc' has rows of 25 weights; qaoa simulates at most 24 "
            "(2^N amplitudes)", model="big.onnx")
    assert not (ok / "o.onnx").exists()


def test_data_errors(capsys, ok):
    x, t = data(0, 4, 3, 2)
    refused(capsys, "none.npz: no such data file", data="none.npz")
    cases = [
        ({"t": t}, "e.npz: no array 'X' (the layer's inputs, [S, 3])"),
        ({"X": x}, "e.npz: no array 't' (the targets, [S, 2])"),
        ({"X": x, "t": t, "y": t}, "e.npz: unexpected array 'y' (the data file holds X, the "
         "layer's inputs, and t, its targets)"),
        ({"X": x[:, :2], "t": t}, "e.npz: X has shape [4, 2]; node 'fc' takes [S, 3] with S >= 1"),
        ({"X": x, "t": t[:3]}, "e.npz: t has shape [3, 2]; expected [4, 2] (one target per "
         "sample of X and output of node 'fc')"),
        ({"X": x, "t": t[:, 0]}, "e.npz: t has shape [4]; expected [4, 2] (one target per "
         "sample of X and output of node 'fc')"),
        ({"X": np.where(x > 1, np.nan, x), "t": t}, "e.npz: array 'X' holds a non-finite value"),
        ({"X": x, "t": t.astype(np.complex128)}, "e.npz: array 't' has type complex128; "
         "expected real numbers"),
    ]
    for arrays, message in cases:
        np.savez("e.npz", **arrays)
        refused(capsys, message, data="e.npz")
    assert not (ok / "o.onnx").exists()


def test_option_and_write_errors(capsys, ok):
    refused(capsys, "--qasm o.onnx: the same file as -o", "--qasm", "o.onnx")
    refused(capsys, "--alpha 1.5: CVaR's tail fraction must lie in (0, 1]", "--objective", "cvar",
            "--alpha", "1.5")
    refused(capsys, "--alpha 0: CVaR's tail fraction must lie in (0, 1]", "--alpha", "0")
    refused(capsys, "--eta -1: the Gibbs inverse temperature must be positive", "--eta", "-1")
    refused(capsys, "--eta nan: the Gibbs inverse temperature must be positive", "--eta", "nan")
    refused(capsys, "nodir/o.onnx: cannot write (No such file or directory)", out="nodir/o.onnx")
    refused(capsys, "--qasm nodir/c.row0.qasm: cannot write (No such file or directory)",
            "--qasm", "nodir/c.qasm")
    (ok / "c.row1.qasm").mkdir()
    refused(capsys, "--qasm c.row1.qasm: cannot write (Is a directory)", "--qasm", "c.qasm")
    (ok / "c.row1.qasm").rmdir()
    assert sorted(p.name for p in ok.iterdir()) == ["d.npz", "m.onnx"]  # nothing half-written
    with pytest.raises(SystemExit) as exc:  # argparse's own usage error
        cli(capsys, "qaoa", "m.onnx", "--layer", "fc", "--data", "d.npz", "-o", "o.onnx", "--p", "0")
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("argument --p: must be >= 1, got 0")
