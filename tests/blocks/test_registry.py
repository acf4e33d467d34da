"""The block-encoding registry: every entry's statements agree with the circuit it builds.

For every registered method and a spread of shapes (rectangular, one row, one column, complex,
compressed), the entry's layout, alpha, implemented matrix and cost (computed without a
circuit) are checked against the built circuit: its registers, its alpha, its block simulated
column by column, and its gates counted one by one.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
from test_quantum_layouts import implemented_block

from qlower.blocks.block_encoding import as_matrix
from qlower.blocks.circuits import count_resources
from qlower.blocks.registry import block_method, method_names, methods, plan_block
from qlower.ir.opdef import op_def

SHAPES = [(1, 1), (1, 4), (4, 1), (3, 5), (4, 4), (8, 8), (5, 16)]


def weights(shape, complex_=False, seed=0):
    rng = np.random.default_rng(seed + 7 * shape[0] + shape[1])
    W = rng.standard_normal(shape)
    if complex_:
        W = W + 1j * rng.standard_normal(shape)
    return W


def pauli_sparse(shape):
    n = max(1, int(np.ceil(np.log2(max(shape)))))
    X = np.array([[0, 1], [1, 0]])
    Z = np.diag([1.0, -1.0])
    P = np.eye(1)
    for i in range(n):
        P = np.kron(P, X if i % 2 else Z)
    W = 0.7 * P + 0.2 * np.eye(1 << n)
    return W[: shape[0], : shape[1]]


def matrix_for(name, shape, complex_):
    """The test's matrix for ``name``: a random one, Pauli-sparse for LCU, or the entry's own
    example where a random one is not of the form it encodes (``centring``); None where no
    matrix of this shape and kind is."""
    if name == "lcu":
        return pauli_sparse(shape)
    W = weights(shape, complex_)
    entry = block_method(name)
    if entry.applies(as_matrix(W)):
        return W
    return entry.example(*shape, complex_=complex_, rng=7 * shape[0] + shape[1])


def cases():
    for name in method_names():
        if not block_method(name).general:
            continue  # a structured method has tests of its own (test_combine.py, ...)
        for shape in SHAPES:
            for complex_ in (False, True):
                if matrix_for(name, shape, complex_) is not None:
                    yield name, shape, complex_, 0.0
        if block_method(name).uses_threshold:
            yield name, (8, 8), False, 0.05
            yield name, (4, 8), True, 0.05


@pytest.mark.parametrize("name, shape, complex_, threshold", list(cases()),
                         ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_entry_states_what_its_circuit_does(name, shape, complex_, threshold):
    entry = block_method(name)
    W = as_matrix(matrix_for(name, shape, complex_))
    assert entry.applies(W)
    method, params = plan_block(W, name, threshold)
    assert method == name
    entry.check_size(*shape, params)  # every method builds every shape listed
    be = entry.build(W, params)
    lay = entry.layout(*shape, params)
    regs = be.registers
    assert (len(regs.input), len(regs.output), len(regs.flags)) == (lay.input, lay.output, lay.flags)
    assert len(be.qubits) == entry.qubits(*shape, params)
    assert params["alpha"] == be.alpha
    # the reference semantics is what the circuit does, padded rows and columns included
    block = implemented_block(be)  # by cirq's simulator, column by column
    np.testing.assert_allclose(block * be.alpha, entry.implemented(W, params), atol=1e-9 * be.alpha)
    # the cost, computed without a circuit, is the count of the built circuit's gates
    want = count_resources(be.circuit, be.qubits)
    got = entry.cost(W, params)
    assert (got.qubits, got.t_gates) == (want.qubits, want.t_gates)
    counts = lambda r: (r.cnots, r.rotations, r.single_qubit)  # noqa: E731
    if entry.counts_exact(W):
        assert counts(got) == counts(want)
    else:  # structured data: the closed forms are upper bounds
        assert all(g >= w for g, w in zip(counts(got), counts(want))), (got, want)
    if name == "fable":  # FABLE's depth is exact; the others' a bound
        assert got.depth == want.depth
    assert want.depth <= got.depth <= 2 * want.depth + 2
    # the mean success probability is the one of the simulated block
    p = np.sum(np.abs(block[:, : shape[1]]) ** 2) / shape[1]
    assert entry.mean_success_probability(W, params) == pytest.approx(p, rel=1e-9)


def test_every_entry_is_an_op_with_its_parameters():
    for name, entry in methods().items():
        d = op_def(f"q.block.{name}")
        assert d is not None, name
        assert set(d.attrs) == {"alpha", *entry.params}
        assert entry.summary in (d.__doc__ or "")


def test_command_line_methods_are_the_registry():
    from qlower.cli import add_compile_options

    p = argparse.ArgumentParser()
    add_compile_options(p)
    (method,) = [a for a in p._actions if a.dest == "method"]
    general = [m for m in method_names() if block_method(m).general]
    assert tuple(method.choices) == ("auto", *general) and "combine" not in general


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown block-encoding method 'qsvt'; use one of "
                       + ", ".join(method_names()) + " or 'auto'"):
        block_method("qsvt")
