"""``qlower compile``, ``qlower estimate`` and ``qlower run --backend qsim`` from the command line."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from util import cli, mlp_model


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    return path


def test_compile_qasm3_table_and_files(capsys, tmp_path, model):
    status, out, err = cli(capsys, "compile", model, "--target", "qasm3", "-o", tmp_path / "k")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["kernel", "nodes", "method", "qubits", "CNOTs", "rotations",
                                "depth", "alpha", "p_succ"]
    assert lines[1].split()[:2] == ["k0", "fc1"] and lines[2].split()[:2] == ["k1", "fc2"]
    assert "on the host: nn.relu 'relu'" in out
    manifest = json.loads((tmp_path / "k" / "manifest.json").read_text())
    assert [k["file"] for k in manifest["kernels"]] == ["k0.qasm", "k1.qasm"]
    k0 = manifest["kernels"][0]
    assert k0["parameters"]["computed_by"].startswith("%h.angles = host.amplitude_angles(")
    assert len(k0["parameters"]["names"]) == 7 and k0["readout"]["rule"] == "amplitudes"
    assert k0["scale"]["rescale"].startswith("%h = host.rescale(")
    qasm = (tmp_path / "k" / "k0.qasm").read_text()
    assert "input float[64] k0_theta_0;" in qasm
    # same input and options: byte-identical files
    cli(capsys, "compile", model, "--target", "qasm3", "-o", tmp_path / "k2")
    for f in (tmp_path / "k").iterdir():
        assert f.read_bytes() == (tmp_path / "k2" / f.name).read_bytes(), f.name


def test_compile_strategy_overrides(capsys, tmp_path, model):
    status, out, _ = cli(capsys, "compile", model, "--target", "cirq", "-o", tmp_path / "c",
                         "--strategy", "fc1=amplitude-encoding", "--strategy", "fc2=host")
    assert status == 0
    assert out.splitlines()[1].split()[:3] == ["k0", "fc1", "hadamard-test"]
    assert "nn.linear 'fc2'" in out and len(out.splitlines()) == 4
    import cirq

    circuit = cirq.read_json(tmp_path / "c" / "k0.json")
    assert isinstance(circuit, cirq.Circuit) and cirq.is_parameterized(circuit)


def test_estimate_json(capsys, model):
    status, out, _ = cli(capsys, "estimate", model, "--json", "--method", "fable")
    assert status == 0
    doc = json.loads(out)
    rows = doc["kernels"]
    assert [r["nodes"] for r in rows] == [["fc1"], ["fc2"]]
    # FABLE on W'' = [W | b | kappa]: 6x7 pads to 8x8 -> 64 CNOTs; state prep of 8: 2^3 - 3 - 1
    assert rows[0]["qubits"] == 3 + 3 + 1 and rows[0]["cnots"] == 64 + 4
    assert doc["total"]["cnots"] == sum(r["cnots"] for r in rows)
    assert doc["host"] == [{"op": "nn.relu", "node": "relu"}]
    # each kernel names the layer it implements and the strategy chosen for it
    assert rows[0]["ops"] == [{"op": "nn.linear", "node": "fc1", "strategy": "block-encoding:fable"}]
    assert rows[1]["strategy"] == "block-encoding:fable"


def test_estimate_text(capsys, model):
    status, out, _ = cli(capsys, "estimate", model)
    assert status == 0 and out.splitlines()[-1].startswith("total: 2 kernel(s), at most ")


def test_run_qsim_check_json(capsys, tmp_path, model):
    status, out, err = cli(capsys, "run", model, "--inputs", tmp_path / "x.npz", "--backend",
                           "qsim", "--check", "--rtol", "1e-4", "--json")
    assert status == 0, err
    doc = json.loads(out)
    assert doc["check"]["y"]["ok"] and doc["std_errors"] == {} and doc["shots"] is None
    assert [k["name"] for k in doc["kernels"]] == ["k0", "k1"]


def test_run_qsim_shots_json(capsys, tmp_path, model):
    status, out, err = cli(capsys, "run", model, "--inputs", tmp_path / "x.npz", "--backend",
                           "qsim", "--shots", "4000", "--strategy", "amplitude-encoding", "--json")
    assert status == 0, err
    doc = json.loads(out)
    y, se = np.array(doc["outputs"]["y"]), np.array(doc["std_errors"]["y"])
    assert y.shape == se.shape == (3, 3) and np.all(se > 0)


@pytest.mark.parametrize(("argv", "message"), [
    (["--strategy", "teleport"], "error: select-strategy: unknown strategy 'teleport' (strategies: block-encoding, amplitude-encoding, variational, host)"),
    (["--strategy", "fc1=block-encoding:qsvt"], "error: override 'fc1=block-encoding:qsvt': unknown block-encoding method 'qsvt' (methods: auto, fable, svd, dilation, lcu)"),
    (["--shots", "10"], "error: --shots needs --backend qsim or aer (the reference backend is exact)"),
    # an override stands against the qubit budget, which then refuses the simulation
    (["--backend", "qsim", "--max-qubits", "2", "--strategy", "nn.linear=block-encoding:fable"],
     "error: {model}: kernel k0 needs"),
])
def test_run_errors(capsys, tmp_path, model, argv, message):
    base = ["run", model, "--inputs", tmp_path / "x.npz"]
    if "--backend" not in argv and "--shots" not in argv:
        base += ["--backend", "qsim"]
    status, out, err = cli(capsys, *base, *argv)
    assert status == 2 and out == ""
    assert err.startswith(message.format(model=model)) and err.count("\n") == 1


def test_a_qubit_budget_nothing_fits_leaves_the_layer_on_the_host(capsys, tmp_path, model):
    status, out, err = cli(capsys, "run", model, "--inputs", tmp_path / "x.npz", "--backend",
                           "qsim", "--max-qubits", "2", "--check")
    assert status == 0 and "ok" in out
    assert err.startswith("warning: nn.linear 'fc1' stays on the host: no lowering fits "
                          "(block-encoding:fable: ")


def test_compile_to_a_file_is_refused(capsys, tmp_path, model):
    target = tmp_path / "file"
    target.write_text("x")
    status, _, err = cli(capsys, "compile", model, "-o", target)
    assert status == 2 and err.startswith(f"error: {target}: cannot write")


def test_run_warns_when_few_shots_succeed(capsys, tmp_path, model):
    status, _, err = cli(capsys, "run", model, "--inputs", tmp_path / "x.npz", "--backend", "qsim",
                         "--shots", "50", "--method", "fable")
    assert status == 0
    assert err.startswith("warning: kernel k0: success probability ")
    assert "of 50 shots per row to read the result" in err


def test_run_qsim_json_timing(capsys, tmp_path, model):
    argv = ["run", model, "--inputs", tmp_path / "x.npz", "--backend", "qsim", "--json"]
    status, out, err = cli(capsys, *argv)
    assert status == 0, err
    doc = json.loads(out)
    timing = doc.pop("timing")
    assert timing["runner"].startswith("runner 'qsim' (")
    rows = timing["kernels"]
    assert [r["name"] for r in rows] == ["k0", "k1"]
    for r in rows:
        assert r["predicted_s"] > 0 and r["measured_s"] > 0
        assert r["measured_over_predicted"] == pytest.approx(r["measured_s"] / r["predicted_s"],
                                                             rel=1e-3)
    assert timing["predicted_s"] == pytest.approx(sum(r["predicted_s"] for r in rows), abs=1e-5)
    assert timing["measured_s"] == pytest.approx(sum(r["measured_s"] for r in rows), abs=1e-5)
    assert timing["calibration_s"] >= 0
    # everything else is the same on a second run: the wall times are all that differ
    again = json.loads(cli(capsys, *argv)[1])
    again.pop("timing")
    assert again == doc
