"""T counts by synthesis (qlower/synthesis.py): gridsynth's words against the rotations they
stand for, their T counts against the formula, and the CLI's report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cirq
import numpy as np
import pytest
from util import cli

import qlower
from qlower.blocks.circuits import count_resources
from qlower.synthesis import formula_t, rz_sequence, synthesize_circuit, t_count, word_unitary

MLP = str(Path(__file__).resolve().parents[2] / "examples" / "mlp.onnx")


def phase_distance(u: np.ndarray, v: np.ndarray) -> float:
    """min over global phases of ‖u − e^{iφ}v‖₂."""
    ph = np.vdot(v.ravel(), u.ravel())
    ph = ph / abs(ph) if ph else 1.0
    return float(np.linalg.norm(u - ph * v, 2))


@pytest.mark.parametrize("eps", [1e-2, 1e-4])
@pytest.mark.parametrize("theta", [0.3, -1.1, 2.9, 1e-3])
def test_words_approximate_the_rotation_to_eps(theta, eps):
    rz = np.diag([np.exp(-0.5j * theta), np.exp(0.5j * theta)])
    word = rz_sequence(theta, eps)
    assert set(word) <= set("HSTXWI")
    assert phase_distance(word_unitary(word), rz) <= eps


def test_clifford_angles_cost_nothing_and_ry_costs_what_rz_costs():
    assert t_count(math.pi / 2, 1e-3) == t_count(-math.pi, 1e-3) == 0
    q = cirq.LineQubit(0)
    for gate in (cirq.Rz(rads=0.7), cirq.Ry(rads=0.7), cirq.Rx(rads=0.7)):
        s = synthesize_circuit(cirq.Circuit(gate(q)), 1e-3)
        assert (s.constant, s.symbolic, s.total) == (1, 0, t_count(0.7, 1e-3))


def test_t_counts_follow_three_log_one_over_eps():
    rng = np.random.default_rng(0)
    eps = 1e-4
    counts = [t_count(float(a), eps) for a in rng.uniform(-math.pi, math.pi, 20)]
    assert abs(np.mean(counts) / (3 * math.log2(1 / eps)) - 1) < 0.15


def test_a_kernel_synthesised_counts_the_counters_rotations():
    program = qlower.compile(MLP, "cirq")
    for kc in program.kernels:
        s = synthesize_circuit(kc.circuit, 1e-5)
        assert s.constant + s.symbolic == count_resources(kc.circuit, kc.qubits).rotations
        assert abs(s.total / s.formula() - 1) < 0.2
        assert s.t_symbolic == s.symbolic * formula_t(1e-5)


def test_estimate_reports_synthesised_t(capsys):
    code, out, _ = cli(capsys, "estimate", MLP, "--synthesis", "gridsynth",
                       "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["total"]["t_synthesized"] == sum(k["t_synthesized"] for k in doc["kernels"])
    rotations = sum(k["rotations"] for k in doc["kernels"])
    assert doc["total"]["synthesis_eps_per_rotation"] == pytest.approx(1e-3 / rotations)
    for k in doc["kernels"]:
        assert 0.8 < k["t_synthesized"] / k["t_formula"] < 1.2


def test_bad_synthesis_error_is_refused(capsys):
    code, _, err = cli(capsys, "estimate", MLP, "--synthesis-error", "0")
    assert code == 2 and err == "error: --synthesis-error must be in (0, 1), got 0.0\n"
