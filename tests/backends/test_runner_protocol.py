"""The runner protocol: runners declare ``states``/``samples``; the runtime asks, not guesses."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_aer_runner import gemm_model
from util import make_model

import qlower
from qlower.backends.aer import AerRunner, run_folder
from qlower.backends.qsim import QsimRunner
from qlower.backends.runner import capabilities, counts
from qlower.errors import OptionError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


class Sampler:
    """Measurement samples only, as hardware gives them (qsim's sampler underneath)."""

    name = "fake-sampler"
    capabilities = frozenset({"samples"})

    def __init__(self, inner=None):
        self.inner = inner or QsimRunner(threads=1)
        self.calls = 0

    def sample(self, circuit, qubits, resolvers, shots, seed):
        self.calls += 1
        return self.inner.sample(circuit, qubits, resolvers, shots, seed)


class StatesOnly:
    """Final states only (no batched evolution, no sampler)."""

    name = "states-only"
    capabilities = frozenset({"states"})

    def __init__(self):
        self.inner = QsimRunner(threads=1)

    def states(self, circuit, qubits, resolvers):
        return self.inner.states(circuit, qubits, resolvers)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.onnx"
    onnx.save(gemm_model(), path)
    return path


X = {"x": np.random.default_rng(1).standard_normal((3, 3)).astype(np.float32)}


def test_declared_capabilities():
    assert capabilities(QsimRunner()) == {"states", "samples", "evolve"}
    assert capabilities(AerRunner()) == {"states", "samples"}
    assert capabilities(Sampler()) == {"samples"}


@pytest.mark.parametrize("options", [{"method": "dilation"}, {"strategy": "amplitude-encoding"}],
                         ids=["dilation", "hadamard-test"])
def test_a_samples_only_runner_drives_shot_mode(model, options):
    program = qlower.compile(model, "cirq", **options)
    exact = program.run(X)
    sampler = Sampler()
    est = program.run(X, 20_000, backend=sampler, seed=2)
    assert sampler.calls == len(program.kernels) and est.backend == "fake-sampler"
    z = np.abs(est["y"] - exact["y"]) / est.std_errors["y"]
    assert np.max(z) < 4.5
    # the success probability is the measured fraction of shots with flags 0
    p, p_exact = est.kernels[0].success_probability, exact.kernels[0].success_probability
    assert abs(p - p_exact) < 4 * np.sqrt(p_exact * (1 - p_exact) / (20_000 * 3)) + 1e-12
    again = program.run(X, 20_000, backend=Sampler(), seed=2)
    assert np.array_equal(again["y"], est["y"])


def test_a_samples_only_runner_with_repetitions(tmp_path):
    """An output behind a nonlinearity gets its error from repeated runs: more samples."""
    w = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    nodes = [H.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
             H.make_node("Softmax", ["h"], ["y"], name="sm", axis=-1)]
    onnx.save(make_model(nodes, [VI("x", T.FLOAT, ["batch", 2])], [VI("y", T.FLOAT, None)],
                         [onnx.numpy_helper.from_array(w, "w")]), tmp_path / "s.onnx")
    program = qlower.compile(tmp_path / "s.onnx", "cirq", method="dilation")
    sampler = Sampler()
    x = {"x": np.random.default_rng(2).standard_normal((2, 2)).astype(np.float32)}
    est = program.run(x, 20_000, backend=sampler, repetitions=4)
    assert sampler.calls == 1 + 4
    assert np.max(np.abs(est["y"] - program.run(x)["y"]) / est.std_errors["y"]) < 6


def test_exact_mode_with_a_samples_only_runner_is_refused(model):
    program = qlower.compile(model, "cirq", method="dilation")
    message = ("runner 'fake-sampler' gives measurement samples only; exact read-out needs final "
               "states: give a number of shots (--shots N)")
    with pytest.raises(OptionError) as e:
        program.run(X, backend=Sampler())
    assert str(e.value) == message
    program.write(model.parent / "out")
    with pytest.raises(OptionError) as e:
        run_folder(model.parent / "out", X, runner=Sampler(AerRunner()))
    assert str(e.value) == message


def test_a_samples_only_runner_of_qiskit_circuits_drives_run_folder(model, tmp_path):
    program = qlower.compile(model, "qasm3", method="fable", threshold=0.1)
    program.write(tmp_path / "out")
    sampler = Sampler(AerRunner())
    est = run_folder(tmp_path / "out", X, 20_000, runner=sampler, seed=4)
    assert sampler.calls == 1
    assert np.max(np.abs(est["y"] - program.run(X)["y"]) / est.std_errors["y"]) < 4.5


def test_a_states_only_runner(model):
    program = qlower.compile(model, "cirq", method="fable")
    want = program.run(X)["y"]
    assert np.max(np.abs(program.run(X, backend=StatesOnly())["y"] - want)) < 1e-5 * np.max(np.abs(want))
    est = program.run(X, 20_000, backend=StatesOnly(), seed=1)  # sampled from its states
    assert np.max(np.abs(est["y"] - want) / est.std_errors["y"]) < 4.5


class NoCapabilities:
    name = "bare"


class Unknown:
    name = "odd"
    capabilities = frozenset({"samples", "teleport"})

    def sample(self, *args):
        raise AssertionError


class Missing:
    name = "liar"
    capabilities = frozenset({"states", "samples"})

    def states(self, *args):
        raise AssertionError


@pytest.mark.parametrize(("runner", "message"), [
    (NoCapabilities(), "runner 'bare' declares no capabilities (a runner gives 'states' and/or "
                       "'samples')"),
    (Unknown(), "runner 'odd' declares unknown capabilities teleport (known: evolve, samples, "
                "states)"),
    (Missing(), "runner 'liar' declares samples, states but has no method sample"),
    ("gpu", "unknown backend 'gpu' (backends: qsim, reference, aer, or a runner object)"),
])
def test_bad_runners_are_refused(model, runner, message):
    program = qlower.compile(model, "cirq", method="dilation")
    with pytest.raises(OptionError) as e:
        program.run(X, 100, backend=runner)
    assert str(e.value) == message


def test_counts_of_bitstrings():
    bits = np.array([[0, 3, 3, 1], [2, 2, 2, 2]])
    assert counts(bits, 2).tolist() == [[1, 1, 0, 2], [0, 0, 4, 0]]
    with pytest.raises(ValueError, match=r"outside 0\.\.3 for 2 qubits"):
        counts(np.array([[4]]), 2)
