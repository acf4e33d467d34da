"""One interpreter: the reference backend, the compiled program's runtime and ``bind`` run graphs
through ``qlower.backends.reference.interpret``, so both resolve symbolic constants and check
every result (a simulator's too) against its declared type."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from util import mlp_model

import qlower
from qlower.backends import reference
from qlower.program import KernelBinding, KernelRun, run_host


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp_model(), path)
    return qlower.compile(path, "cirq")


def inputs(program, rows=3):
    x = program.graph.inputs[0]
    n = x.type.dims[-1]
    return {x.name: np.random.default_rng(0).standard_normal((rows, n)).astype(np.float32)}


def test_the_runtime_without_kernels_is_the_reference_backend(program):
    """Every op by its numpy semantics, through the same interpreter: identical outputs."""
    x = inputs(program)
    host = run_host(program.graph, x, [KernelBinding.of(k) for k in program.kernels])
    ref = qlower.run(program.graph, x)
    assert set(host.outputs) == set(ref)
    for name in ref:
        np.testing.assert_array_equal(host.outputs[name], ref[name])


def test_a_simulators_result_is_checked_against_its_type(program):
    x = inputs(program)
    bindings = [KernelBinding.of(k) for k in program.kernels]

    def wrong_shape(b, params):
        rows = params.reshape(-1, params.shape[-1]).shape[0]
        return np.zeros((rows, 1)), None, KernelRun(b.name, rows, 0, 1.0)

    with pytest.raises(RuntimeError, match=r"result %\S+ has shape \[3, 1\], declared "
                                           r"tensor<\(batch\)x\d+xf64>"):
        run_host(program.graph, x, bindings, wrong_shape)


def test_every_run_goes_through_interpret(program, monkeypatch):
    calls = []
    real = reference.interpret

    def counting(*args, **kwargs):
        calls.append(kwargs.get("dispatch") is not None)
        return real(*args, **kwargs)

    monkeypatch.setattr(reference, "interpret", counting)
    monkeypatch.setattr("qlower.program.interpret", counting)
    x = inputs(program)
    qlower.run(program.graph, x)
    program.run(x)
    program.bind(x)
    assert calls == [False, True, True]
