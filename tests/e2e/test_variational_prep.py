"""--prep variational: a kernel loads its input with a hardware-efficient ansatz fitted to each
row on the host (exact adjoint gradients), instead of the Möttönen amplitude encoding. The
fit core's threshold (fidelity 1 at L* = 2 for n = 3, 3 for n = 4, below with one layer
fewer) is tests/blocks/test_variational.py's; here: the circuit, its counts against
Möttönen's, a run against onnxruntime, the per-row fidelities, and the refusals."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
from util import assert_refused, cli, save_biased_gemm

import qlower
from qlower.api import onnxruntime_outputs
from qlower.blocks import variational as V
from qlower.blocks.amplitude import amplitude_encoding
from qlower.blocks.circuits import count_resources
from qlower.passes.variational_prep import prep_fidelities


def gemm(tmp_path, M, N, batch, seed=2):
    rng = np.random.default_rng(seed)
    path = save_biased_gemm(tmp_path / "p.onnx", rng, M, N, batch)
    return path, {"x": rng.standard_normal((batch, N)).astype(np.float32)}


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_prep_circuit_counts_and_cnots_against_mottonen(n):
    """The built circuit's counts are ``prep_resources``'; L* = ``state_layers`` is the
    threshold the fit-core test checks (n = 3: 2, n = 4: 3). CZs L*(n − 1) against the
    symbolic Möttönen circuit's 2^n − n − 1 CNOTs: 1/1, 4/4, 9/11, 24/26."""
    L = V.state_layers(n)
    assert L == {2: 1, 3: 2, 4: 3, 5: 6}[n]
    circuit, qubits, syms = V.prep_circuit(n, L)
    got, want = count_resources(circuit, qubits), V.prep_resources(n, L)
    assert (got.qubits, got.cnots, got.rotations) == (want.qubits, want.cnots, want.rotations)
    assert len(syms) == 1 + 2 * n * (L + 1) == want.rotations
    mot = amplitude_encoding(size=1 << n)
    assert count_resources(mot.circuit, mot.qubits).cnots == (1 << n) - n - 1
    assert want.cnots == L * (n - 1) == {2: 1, 3: 4, 4: 9, 5: 24}[n]


def test_prep_angles_prepare_each_row_with_its_phase():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7))
    x[1] = 0.0
    params, fid = V.prep_angles(x, 2)
    circuit, qubits, syms = V.prep_circuit(3, 2)
    for row, p, f in zip(x, params, fid):
        target = np.zeros(8)
        target[:7] = row
        target = target / np.linalg.norm(target) if np.any(row) else np.eye(8)[0]
        state = cirq.Simulator(dtype=np.complex128).simulate(
            circuit, dict(zip(syms, p)), qubit_order=qubits).final_state_vector
        assert f > 1 - 1e-9 and np.abs(state - target).max() < 1e-4  # the phase included
        assert np.abs(V.prep_apply(p, 3) - state).max() < 1e-12


def test_a_variational_prep_kernel_computes_the_layer(tmp_path):
    """2x7 with a bias: [x; 1; t] has 9 entries, n = 4, L* = 3: 9 CZ instead of Möttönen's 11
    CNOTs, the rest of the kernel unchanged; qsim's outputs are onnxruntime's, and the
    OpenQASM 3 program takes the 1 + 2·4·4 fitted angles as its inputs."""
    path, x = gemm(tmp_path, 2, 7, batch=3)
    base = qlower.compile(path, "cirq", method="fable", carry="columns")
    program = qlower.compile(path, "cirq", method="fable", prep="variational")
    (kb,), (kv,) = base.kernels, program.kernels
    got = count_resources(kv.circuit, kv.qubits)
    assert (got.qubits, got.cnots) == (kv.resources().qubits, kv.resources().cnots)
    assert kb.resources().cnots - kv.resources().cnots == 11 - 9
    assert len(kv.symbols) == 33
    ort = onnxruntime_outputs(path, x)["y"]
    assert np.abs(program.run(x)["y"] - ort).max() < 1e-4 * np.abs(ort).max()
    (fid,) = prep_fidelities(program.graph, x).values()
    assert fid.shape == (3,) and fid.min() > 1 - 1e-9
    qasm = qlower.compile(path, "qasm3", method="fable", prep="variational")
    qasm.write(tmp_path / "out")
    (text,) = [f.read_text() for f in (tmp_path / "out").glob("*.qasm")]
    assert text.count("input float[64] ") == 33


def test_a_row_below_min_fidelity_is_refused_at_run_time(tmp_path, capsys):
    """One layer fewer than L* = 2 (n = 3): the rows' fits stay below 0.999."""
    path, x = gemm(tmp_path, 2, 3, batch=4)
    np.savez(tmp_path / "x.npz", **x)
    code, _, err = cli(capsys, "run", path, "--inputs", tmp_path / "x.npz", "--backend", "qsim",
                       "--prep", "variational", "--prep-layers", "1", "--method", "fable")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {path}: evaluating %y.angles = host.hea_angles (node 'fc'): "
                          "variational state preparation of row ")
    assert err.endswith(" at L = 1, below --min-fidelity 0.999 (4 of 4 rows; use --prep-layers "
                        "2 or --prep mottonen)\n")


def test_prep_variational_does_not_take_the_selector_form(capsys, tmp_path):
    path, _ = gemm(tmp_path, 2, 3, batch=4)
    assert_refused(capsys, ["estimate", path, "--prep", "variational", "--carry", "select"],
                   "lower-linear: --prep variational loads a layer's input as columns [x; 1; "
                   "t]; it does not combine with --carry select (whose preparation a tail reads "
                   "too)")
