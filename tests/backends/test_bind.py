"""``qlower bind`` and ``CompiledProgram.bind``: every kernel's parameter values per row."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from util import assert_refused, cli, mlp_model

import qlower
import qlower.ir.weights as weights_module
from qlower.backends.aer import AerRunner, run_folder
from qlower.backends.qsim import QsimRunner


class Spy(QsimRunner):
    """qsim, recording every parameter set it is handed (by parameter name)."""

    def __init__(self):
        super().__init__(threads=1)
        self.seen: list[list[dict]] = []

    def states(self, circuit, qubits, resolvers=None):
        self.seen.append([{k.name if hasattr(k, "name") else k: v
                           for k, v in r.param_dict.items()} for r in resolvers])
        return super().states(circuit, qubits, resolvers)


@pytest.fixture
def mlp(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    return path, {"x": x}


def test_bind_is_what_the_qsim_runtime_binds(mlp):
    path, inputs = mlp
    program = qlower.compile(path, "cirq", method="dilation")
    bound = program.bind(inputs)
    assert list(bound) == ["k0", "k1"]
    spy = Spy()
    program.run(inputs, backend=spy)
    assert len(spy.seen) == 2
    for kc, seen in zip(program.kernels, spy.seen):
        names = [s.name for s in kc.symbols]
        assert bound.names[kc.name] == names
        got = np.array([[r[n] for n in names] for r in seen])
        assert bound[kc.name].shape == (3, len(names)) and bound[kc.name].dtype == np.float64
        if kc.name == "k0":  # straight from the inputs: the same numbers
            assert np.array_equal(got, bound[kc.name])
        else:  # after k0's read-out, which qsim computes in single precision
            assert np.max(np.abs(got - bound[kc.name])) < 1e-5


def test_cli_bind_writes_every_kernels_parameters(capsys, tmp_path, mlp):
    path, inputs = mlp
    program = qlower.compile(path, "qasm3")
    status, _, err = cli(capsys, "compile", path, "-o", tmp_path / "out")
    assert status == 0, err
    status, out, err = cli(capsys, "bind", tmp_path / "out", "--inputs", tmp_path / "x.npz",
                           "-o", tmp_path / "p.npz")
    assert status == 0, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    k0, k1 = manifest["kernels"]
    assert out == (f"k0: 3 row(s) x {len(k0['parameters']['names'])} parameter(s), bound from "
                   f"%{k0['parameters']['value']}\n"
                   f"k1: 3 row(s) x {len(k1['parameters']['names'])} parameter(s), bound from "
                   f"%{k1['parameters']['value']}\n"
                   f"wrote the parameters of 2 kernel(s) to {tmp_path / 'p.npz'}\n")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as f:
        saved = dict(f)
    assert sorted(saved) == ["k0", "k0.names", "k1", "k1.names"]
    want = program.bind(inputs)  # the same numbers from the folder's program.qir
    for k in manifest["kernels"]:
        assert saved[k["name"] + ".names"].tolist() == k["parameters"]["names"]
        assert np.array_equal(saved[k["name"]], want[k["name"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "out", "p.npz", "x.npz"]


def test_the_aer_runner_gets_the_parameters_bind_gives(tmp_path, mlp, monkeypatch):
    path, inputs = mlp
    qlower.compile(path, "qasm3", method="dilation").write(tmp_path / "out")
    handed = []
    states = AerRunner.states

    def spy(self, circuit, qubits, resolvers):
        handed.append([dict(r) for r in resolvers])
        return states(self, circuit, qubits, resolvers)

    monkeypatch.setattr(AerRunner, "states", spy)
    run_folder(tmp_path / "out", inputs)
    folder = qlower.load_compiled(tmp_path / "out")
    bound = folder.bind(inputs)
    names = folder.parameter_names["k0"]
    assert np.array_equal(np.array([[r[n] for n in names] for r in handed[0]]), bound["k0"])
    names = folder.parameter_names["k1"]
    assert np.max(np.abs(np.array([[r[n] for n in names] for r in handed[1]]) - bound["k1"])) < 1e-9


def test_sweeps_of_a_hadamard_test_are_rows(tmp_path, mlp):
    path, inputs = mlp
    program = qlower.compile(path, "cirq", strategy="amplitude-encoding")
    bound = program.bind(inputs)
    # one Hadamard test per (row, output feature)
    assert [a.shape[0] for a in bound.values()] == [3 * 6, 3 * 3]


def test_bind_replaces_its_file_atomically(capsys, tmp_path, mlp, monkeypatch):
    path, _ = mlp
    qlower.compile(path, "qasm3").write(tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    status, _, err = cli(capsys, "bind", "out", "--inputs", "x.npz")  # default: params.npz
    assert status == 0, err
    before = (tmp_path / "params.npz").read_bytes()

    def broken(file, arrays):
        with open(file, "wb") as f:
            f.write(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(weights_module, "write_npz", broken)
    status, _, err = cli(capsys, "bind", "out", "--inputs", "x.npz")
    assert status == 2 and err == "error: params.npz: cannot write (No space left on device)\n"
    assert (tmp_path / "params.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "out", "params.npz", "x.npz"]


def test_bind_errors(capsys, tmp_path, mlp):
    path, inputs = mlp
    (tmp_path / "empty").mkdir()
    assert_refused(capsys, ["bind", tmp_path / "empty", "--inputs", tmp_path / "x.npz"],
                   f"{tmp_path / 'empty'}: no manifest.json (not a folder qlower compile wrote)")
    assert_refused(capsys, ["bind", tmp_path / "nowhere", "--inputs", tmp_path / "x.npz"],
                   f"{tmp_path / 'nowhere'}: no such folder (give the folder qlower compile wrote)")
    qlower.compile(path, "qasm3").write(tmp_path / "out")
    np.savez(tmp_path / "z.npz", z=inputs["x"])
    assert_refused(capsys, ["bind", tmp_path / "out", "--inputs", tmp_path / "z.npz"],
                   f"{tmp_path / 'z.npz'}: unknown input 'z' (the model takes: x)")
    np.savez(tmp_path / "nan.npz", x=np.full((2, 5), np.nan, np.float32))
    assert_refused(capsys, ["bind", tmp_path / "out", "--inputs", tmp_path / "nan.npz"],
                   f"{tmp_path / 'nan.npz'}: kernel k0 (node 'fc1'): row 0 of the data it encodes "
                   "is not finite (NaN or ±Inf in the inputs, or values beyond float32's range on "
                   "the way); a quantum state holds finite amplitudes only")
