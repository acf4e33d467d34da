"""The cost model (``qlower.cost_model``): every figure it predicts for a candidate is measured
here on what the candidate builds — counts exactly, success probabilities against qsim's on
the same rows, standard errors against the spread of repeated shot runs — and its choice
follows the budgets."""

from __future__ import annotations

import json

import cirq
import numpy as np
import onnx
import pytest
from util import cli, make_model, mlp_model

import qlower
from qlower.blocks.circuits import count_resources
from qlower.cost_model import reference_inputs

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


@pytest.fixture(scope="module")
def gemm(tmp_path_factory):
    """y = x Wᵀ + b, W 8x8, batch 3."""
    rng = np.random.default_rng(3)
    inits = [onnx.numpy_helper.from_array((rng.standard_normal((8, 8)) / 3).astype(np.float32), "w"),
             onnx.numpy_helper.from_array((0.5 * rng.standard_normal(8)).astype(np.float32), "b")]
    node = H.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    model = make_model([node], [VI("x", T.FLOAT, [3, 8])], [VI("y", T.FLOAT, [3, 8])], inits)
    path = tmp_path_factory.mktemp("cost") / "gemm.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def decision(gemm):
    (d,) = qlower.estimate(gemm, profile="nisq").decisions
    object.__setattr__(d, "path", gemm)
    return d


def by_label(d, label):
    found = [c for c in d.candidates if c.label == label]
    if found:
        return found[0]
    # a candidate the model did not weigh here (amplification above p = 0.05): measured alike
    from qlower.cost_model import Budgets, CostModel
    from qlower.passes.lower_linear import LowerLinear

    graph = qlower.to_stage(qlower.load(d.path), "canonical")
    op = next(o for o in graph.ops if o.result().name == d.value)
    return CostModel(graph, LowerLinear(), Budgets()).evaluate(op, *label.split(":"))


def override(c) -> dict:
    return {"strategy": "host", "overrides": {"fc": c.label}}


def test_candidates_and_choice(decision):
    labels = [c.label for c in decision.candidates]
    assert labels == ["block-encoding:fable", "block-encoding:svd", "block-encoding:dilation",
                      "amplitude-encoding", "variational"]  # FABLE's p = 0.15: no amplification
    assert by_label(decision, "variational").refused == \
        "approximate: weighed only against a --target-error"
    fits = [c for c in decision.candidates if c.feasible]
    assert decision.chosen == min(fits, key=lambda c: c.cost).label
    for c in fits:  # cost = CNOTs x circuits x shots, shots for 1 % of max|y|
        assert c.cost == max(c.cnots, 1) * c.circuits * c.shots
        assert c.work == c.circuits * c.shots * c.depth
        assert c.error <= 0.01 * np.max(np.abs(REF["y"])) * (1 + 1e-9)


REF: dict = {}  # the model's outputs on the reference rows


@pytest.fixture(scope="module", autouse=True)
def _reference(gemm):
    from qlower.backends import run_graph

    graph = qlower.load(gemm)
    REF.update(run_graph(graph, reference_inputs(graph)))


@pytest.mark.parametrize("label", ["block-encoding:fable", "block-encoding:svd",
                                   "amplitude-encoding", "block-encoding:fable+fixed-point"])
def test_predicted_counts_and_success_are_the_built_circuits(gemm, decision, label):
    """Qubits, CNOTs, rotations, depth and T as the built circuit counts them; P(flags = 0)
    as qsim measures it on the reference rows."""
    c = by_label(decision, label)
    program = qlower.compile(gemm, "cirq", **override(c))
    (kc,) = program.kernels
    circuit = kc.circuit
    if "+" in label:  # the reflections' multi-controlled phases, as Cirq decomposes them
        circuit = cirq.Circuit(cirq.decompose(circuit, keep=lambda op: len(op.qubits) <= 2 and
                                              not isinstance(op.gate, cirq.ControlledGate)))
    counted = count_resources(circuit, kc.qubits)
    assert (counted.qubits, counted.cnots, counted.rotations) == (c.qubits, c.cnots, c.rotations)
    # the reflections' decomposed depth is added whole: a bound there, the count elsewhere
    assert counted.depth <= c.depth if "+" in label else counted.depth == c.depth
    assert counted.t_estimate() == c.t_count
    assert (kc.resources().cnots >= c.cnots) and (kc.resources().depth >= c.depth)  # bounds
    graph = qlower.load(gemm)
    run = program.run(reference_inputs(graph))
    assert run.kernels[0].success_probability == pytest.approx(c.success_probability, rel=2e-5)
    assert run.kernels[0].sweeps == c.circuits * 3
    assert np.max(np.abs(run["y"] - REF["y"])) <= c.systematic_error + 1e-4 * np.max(np.abs(REF["y"]))


@pytest.mark.parametrize("label", ["block-encoding:svd", "amplitude-encoding"])
def test_predicted_standard_error_is_the_shot_spread(gemm, decision, label):
    c = by_label(decision, label)
    program = qlower.compile(gemm, "cirq", **override(c))
    inputs = reference_inputs(qlower.load(gemm))
    shots = 4000
    runs = np.stack([program.run(inputs, shots=shots, seed=s)["y"] for s in range(40)])
    spread = runs.astype(np.float64).std(axis=0, ddof=1)
    ratio = spread / (c.std_errors / np.sqrt(shots))
    # 40 runs: each entry's spread is itself uncertain by about 11 %
    assert np.median(ratio) == pytest.approx(1.0, abs=0.2)
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.1)
    assert np.all((ratio > 0.6) & (ratio < 1.5)), ratio
    assert c.std_error == pytest.approx(np.max(c.std_errors))


def test_choice_flips_where_a_budget_crosses_the_winners_figure(gemm, decision):
    win = by_label(decision, decision.chosen)
    (same,) = qlower.estimate(gemm, max_qubits=win.qubits).decisions
    assert same.chosen == decision.chosen
    (other,) = qlower.estimate(gemm, max_qubits=win.qubits - 1).decisions
    fits = [c for c in decision.candidates if c.feasible and c.qubits < win.qubits]
    assert other.chosen == (min(fits, key=lambda c: c.cost).label if fits else "host")
    (same,) = qlower.estimate(gemm, max_depth=win.depth).decisions
    assert same.chosen == decision.chosen
    (other,) = qlower.estimate(gemm, max_depth=win.depth - 1).decisions
    assert other.chosen != decision.chosen
    # a target error sets the shots: 4x fewer for twice the error
    (loose,) = qlower.estimate(gemm, target_error=0.2).decisions
    (tight,) = qlower.estimate(gemm, target_error=0.1).decisions
    a, b = by_label(loose, "block-encoding:svd"), by_label(tight, "block-encoding:svd")
    assert b.shots == pytest.approx(4 * a.shots, rel=1e-3)


def test_nothing_fits_so_the_layer_stays_on_the_host(gemm):
    est = qlower.estimate(gemm, max_qubits=3)
    (d,) = est.decisions
    assert d.chosen == "host" and not est.kernels
    assert d.reason.startswith("no lowering fits (block-encoding:fable: 8 qubits > "
                               "--max-qubits 3; block-encoding:svd: 5 qubits > --max-qubits 3;")
    assert [h["node"] for h in est.host] == ["fc"]


def test_a_user_override_wins(gemm):
    est = qlower.estimate(gemm, max_qubits=4, overrides={"fc": "block-encoding:fable"})
    (d,) = est.decisions
    assert d.overridden and d.chosen == "block-encoding:fable"
    assert est.kernels[0].method == "fable-select" and est.kernels[0].resources.qubits == 8


def test_explain_cli(capsys, gemm):
    status, out, _ = cli(capsys, "estimate", gemm, "--explain", "--max-qubits", "5")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("cost model: profile nisq, --max-qubits 5, target error 0.01")
    assert lines[2] == "nn.linear 'fc' -> %y ([W|b] 8x9): amplitude-encoding"
    row = next(x for x in lines if x.strip().startswith("block-encoding:fable"))
    assert row.endswith("over budget")
    assert any(x.startswith("  why: fewest two-qubit gates x circuits x shots (nisq)")
               for x in lines)
    status, out, _ = cli(capsys, "estimate", gemm, "--explain", "--json", "--profile", "ft")
    doc = json.loads(out)
    (choice,) = doc["choices"]
    assert choice["chosen"] == doc["kernels"][0]["ops"][0]["strategy"]
    assert {c["candidate"] for c in choice["candidates"]} >= {"block-encoding:svd"}


def test_budgets_change_the_mlp_and_every_choice_checks(capsys, tmp_path):
    """Only the budgets change, the strategies do, and each choice passes run --check."""
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    status, out, err = cli(capsys, "estimate", path, "--json", "--explain")
    shots = [next(c["shots"] for c in d["candidates"] if c["candidate"] == d["chosen"])
             for d in json.loads(out)["choices"]]
    assert shots[0] != shots[1]  # a shot budget between them moves one layer only
    chosen = []
    for budget in ([], ["--shots", str(min(shots))], ["--max-qubits", "3"]):
        status, out, err = cli(capsys, "estimate", path, "--json", "--explain", *budget)
        assert status == 0, err
        chosen.append(tuple(c["chosen"] for c in json.loads(out)["choices"]))
        status, out, err = cli(capsys, "run", path, "--inputs", tmp_path / "x.npz",
                               "--backend", "qsim", "--check", "--profile", "nisq", *budget)
        assert status == 0, out + err
    assert len(set(chosen)) == 3 and chosen[2] == ("host", "host"), chosen
    assert chosen[1][int(np.argmax(shots))] == "host"


def test_bad_budgets_are_refused_in_one_line(capsys, gemm):
    status, _, err = cli(capsys, "estimate", gemm, "--target-error", "-1")
    assert status == 2
    assert err == "error: select-strategy: target-error must be a finite number >= 0, got -1.0\n"


def test_a_qubit_budget_moves_a_torch_encoder_layer_and_it_still_checks(capsys, tmp_path):
    from pathlib import Path

    path = Path(__file__).parent.parent / "models" / "torch2.15" / "encoder_dynamo_opset18.onnx"
    chosen = []
    for budget in ([], ["--max-qubits", "5"]):
        status, out, err = cli(capsys, "estimate", path, "--json", "--explain", *budget)
        assert status == 0, err
        chosen.append({c["value"]: c["chosen"] for c in json.loads(out)["choices"]})
    moved = {v for v in chosen[0] if chosen[0][v] != chosen[1][v]}
    assert moved and all(chosen[1][v] == "host" for v in moved)
    np.savez(tmp_path / "src.npz",
             src=np.random.default_rng(0).standard_normal((2, 4, 8)).astype(np.float32))
    status, out, err = cli(capsys, "run", path, "--inputs", tmp_path / "src.npz",
                           "--backend", "qsim", "--check", "--max-qubits", "5")
    assert status == 0, out + err
