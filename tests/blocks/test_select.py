"""The selector form of a dense layer's bias and sign offset (qlower/blocks/select.py).

Checked against numpy linear algebra (y = Wx + b), against the circuits Cirq simulates, and
for its costs against the gates of the built circuits.
"""

from __future__ import annotations

import numpy as np
import pytest

from qlower.blocks.mux import pattern_angles
from qlower.blocks.registry import block_method, plan_block
from qlower.blocks.select import (
    apply_tree,
    controlled_tree_params,
    mean_success,
    select_apply,
    select_constants,
    select_params,
    tail_size,
    tree_angles,
)
from qlower.blocks.semantics import state_from_angles


@pytest.mark.parametrize("q", [1, 2, 3, 5])
def test_tree_prepares_the_vector_and_its_inverse_undoes_it(q):
    rng = np.random.default_rng(q)
    v = rng.standard_normal((3, 1 << q))
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    e0 = np.zeros((3, 1 << q))
    e0[:, 0] = 1
    levels = tree_angles(v)
    assert np.allclose(apply_tree(levels, e0), v, atol=1e-13)
    assert np.allclose(apply_tree(levels, v, inverse=True), e0, atol=1e-13)


def test_controlled_tree_is_the_identity_when_the_selector_is_0():
    rng = np.random.default_rng(1)
    levels = tree_angles(rng.standard_normal(8))
    t = controlled_tree_params(levels)
    assert t.shape == (2 * (8 - 1),)
    start = 0
    for k, a in enumerate(levels):
        table = pattern_angles(t[start: start + (2 << k)])
        assert np.allclose(table[: 1 << k], 0.0, atol=1e-13)
        assert np.allclose(table[1 << k:], a, atol=1e-13)
        start += 2 << k


CASES = [("fable", 8, 8), ("fable", 4, 8), ("fable", 8, 4), ("fable", 1, 4), ("svd", 8, 8),
         ("svd", 4, 8), ("svd", 8, 4), ("dilation", 8, 8), ("dilation", 16, 16)]


def _run(method, M, N, bias, offset, rng, batch=5):
    W = rng.standard_normal((M, N))
    b = rng.standard_normal(M) if bias else None
    _, attrs = plan_block(W, method)
    k = select_constants(W, method, attrs)
    x = rng.standard_normal((batch, N))
    size = 1 << k.in_qubits
    params, S, tau = select_params(
        x, k.xi, np.linalg.norm(W, axis=1), k.base if k.kind == "column" else None, b,
        kind=k.kind, alpha=attrs["alpha"], offset=offset, size=size, out_qubits=k.out_qubits)
    assert params.shape == (batch, 2 * size - 1 + tail_size(k.kind, k.out_qubits))
    state = state_from_angles(params[:, : 2 * size - 1], 2 * size)
    psi = select_apply(state, W, method, attrs, params, 2 * size - 1)
    return W, b, x, psi, S, tau


@pytest.mark.parametrize("method,M,N", CASES)
@pytest.mark.parametrize("bias,offset", [(True, True), (True, False), (False, True)])
def test_semantics_give_the_affine_layer(method, M, N, bias, offset):
    rng = np.random.default_rng(M * 100 + N)
    W, b, x, psi, S, tau = _run(method, M, N, bias, offset, rng)
    y = (S[:, None] * psi[:, :M].real) - tau
    want = x @ W.T + (0 if b is None else b)
    assert np.max(np.abs(y - want)) < 1e-11 * max(1.0, np.max(np.abs(want)))
    assert np.max(np.abs(psi.imag)) < 1e-14
    if offset:
        assert np.min(psi.real) > -1e-14  # non-negative: counts can read it
    # padded output rows read nothing
    assert psi.shape[1] == M or np.max(np.abs(psi[:, M:])) < 1e-12


@pytest.mark.parametrize("method", ["fable", "svd"])
def test_mean_success_is_the_average_over_unit_inputs(method):
    rng = np.random.default_rng(7)
    W = rng.standard_normal((8, 8))
    b = rng.standard_normal(8)
    _, attrs = plan_block(W, method)
    k = select_constants(W, method, attrs)
    x = rng.standard_normal((20000, 8))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    params, S, tau = select_params(x, k.xi, np.linalg.norm(W, axis=1),
                                   k.base if k.kind == "column" else None, b, kind=k.kind,
                                   alpha=attrs["alpha"], offset=True, size=8,
                                   out_qubits=k.out_qubits)
    psi = select_apply(state_from_angles(params[:, :15], 16), W, method, attrs, params, 15)
    p = np.sum(np.abs(psi) ** 2, axis=-1)
    want = mean_success(W, method, attrs, b, True)
    assert abs(p.mean() - want) < 4 * p.std() / np.sqrt(len(p))


def test_svd_constants_map_the_top_singular_vector_without_leaving_flags_0():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((8, 8))
    _, attrs = plan_block(W, "svd")
    k = select_constants(W, "svd", attrs)
    block = block_method("svd").implemented(W, attrs) / attrs["alpha"]
    assert np.allclose(block @ k.xi, k.base, atol=1e-12)
    assert abs(np.linalg.norm(k.base) - 1) < 1e-12
