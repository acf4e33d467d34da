"""The ``combine`` block (qlower.blocks.combine): PREP† on the selector leaves Σ c_j v̂_j/‖c‖ at
flags = 0, it costs the preparation of c on the selector, and auto never proposes it (the
lowerings that build its form ask for it)."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from qlower.blocks.base import readout
from qlower.blocks.circuits import count_resources
from qlower.blocks.registry import block_method, choose_method, cost_per_success, plan_block
from qlower.passes.lower_residual import combination


@pytest.mark.parametrize("M", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("c", [(1.0, 1.0), (1.0, -1.0), (0.5, 2.0, -1.5), (1.0, 1.0, 1.0, 0.25)])
def test_block_computes_the_combination(M, c):
    W = combination(M, c)
    method, params = plan_block(W, "combine")
    assert np.isclose(params["alpha"], np.linalg.norm(c))
    # auto weighs general methods only (the lowerings ask for combine by name); where the
    # general one needs CNOTs, combine is cheaper per successful run
    auto, auto_params = plan_block(W)
    assert auto != "combine"
    if block_method(auto).cost(W, auto_params).cnots > 1:
        assert cost_per_success(block_method("combine"), W, params) < \
            cost_per_success(block_method(auto), W, auto_params)
    be = block_method("combine").build(W, params)
    rng = np.random.default_rng(M)
    u = rng.standard_normal(W.shape[1])
    dim = 1 << len(be.registers.input)
    v = np.zeros(dim)
    v[: len(u)] = u / np.linalg.norm(u)
    qs = be.qubits
    psi = cirq.Simulator(dtype=np.complex128).simulate(
        cirq.Circuit(be.circuit, cirq.IdentityGate(len(qs)).on(*qs)), initial_state=v,
        qubit_order=qs).final_state_vector
    out = readout(psi, qs, be.registers)[:M].real
    assert np.allclose(out * params["alpha"] * np.linalg.norm(u), W @ u, atol=1e-12)
    counted = count_resources(be.circuit, qs)
    stated = block_method("combine").cost(W, params)
    assert (counted.cnots, counted.rotations, counted.single_qubit) == (
        stated.cnots, stated.rotations, stated.single_qubit)
    s = max(1, (len(c) - 1).bit_length())
    assert stated.cnots == (1 << s) - s - 1  # two branches: one Ry, no CNOT


def test_auto_never_picks_it_for_other_matrices():
    rng = np.random.default_rng(0)
    for shape in [(3, 8), (4, 8), (2, 4), (5, 16)]:
        W = rng.standard_normal(shape)
        assert not block_method("combine").applies(W)
        assert choose_method(W) != "combine"
    with pytest.raises(ValueError, match=r"combine: the matrix is not \[c_0 I \| c_1 I"):
        block_method("combine").plan(rng.standard_normal((4, 8)))
