"""Amplification (qlower/blocks/amplify.py) against independent references: Yoder et al.'s
closed form, a complex128 simulation of the built sequence, Chebyshev error on a grid, a
multinomial Monte Carlo of the reference-row read-back."""

from __future__ import annotations

import math

import cirq
import numpy as np
import pytest
import sympy

from qlower.blocks import amplify as am
from qlower.blocks.optable import OpTable


@pytest.mark.parametrize("w,delta", [(0.01, 0.5), (0.05, 0.3), (0.2, 0.1), (0.004, 0.7)])
def test_fixed_point_phases_reproduce_yoder_bound(w, delta):
    L = am.fixed_point_length(w, delta)
    phases = am.fixed_point_phases(L, delta)
    p = np.linspace(1e-4, 1.0, 3001)
    # the 2x2 algebra of the sequence with these phases is Yoder's P_L(p)
    assert np.max(np.abs(am.amplified_success(phases, p) - am.fixed_point_success(p, L, delta))) < 1e-12
    # P_L >= 1 - delta^2 exactly from the bound w_L <= w up
    assert np.min(am.fixed_point_success(p[p >= w], L, delta)) >= 1 - delta ** 2 - 1e-12
    assert am.fixed_point_bound(L, delta) <= w
    # L is the shortest: two queries fewer leave some p >= w below 1 - delta^2
    if L > 1:
        assert am.fixed_point_bound(L - 2, delta) > w
    # the exact rule never asks more than Yoder's L >= ln(2/delta)/sqrt(w), rounded up to odd
    yoder = math.ceil(math.log(2 / delta) / math.sqrt(w))
    assert L <= yoder + 1 - yoder % 2


def test_fixed_point_refuses_bad_inputs():
    with pytest.raises(ValueError, match="delta must lie in"):
        am.fixed_point_length(0.1, 1.5)
    with pytest.raises(ValueError, match="bound must lie in"):
        am.fixed_point_length(0.0, 0.5)
    assert am.fixed_point_length(1.0, 0.5) == 1


def _kernel_like(theta: float):
    """A small 'kernel': a symbolic rotation (the data), a PhasedXZ, H, CZ, CX, a constant Ry
    and a three-qubit gate; qubit 0 is the flag."""
    q = cirq.LineQubit.range(3)
    s = sympy.Symbol("k_theta_0")
    ops = [cirq.Ry(rads=theta).on(q[0]), cirq.Ry(rads=s).on(q[1]), cirq.H(q[2]),
           cirq.CZ(q[1], q[2]),
           cirq.PhasedXZGate(x_exponent=0.31, z_exponent=0.7, axis_phase_exponent=-0.2).on(q[2]),
           cirq.CNOT(q[1], q[2]), cirq.CCX(q[1], q[2], q[0]), cirq.Rz(rads=s).on(q[0])]
    return OpTable.from_operations(ops, q), q, s


def _unitary(table, s, value):
    c = cirq.Circuit(table.operations())
    return cirq.unitary(cirq.resolve_parameters(c, {s: value}))


def test_inverse_table_is_the_inverse():
    t, q, s = _kernel_like(0.8)
    u = _unitary(t, s, 0.37)
    ui = _unitary(am.inverse_table(t), s, 0.37)
    assert np.max(np.abs(ui @ u - np.eye(8))) < 1e-12


@pytest.mark.parametrize("theta", [2.6, 2.9])
def test_sequence_on_a_circuit_matches_formula_and_keeps_direction(theta):
    t, q, s = _kernel_like(theta)
    value = 0.37
    u = _unitary(t, s, value)
    s0 = u[:, 0]
    good = s0.reshape(2, 4)[0]  # flag q0 = 0
    p = float(np.sum(np.abs(good) ** 2))
    assert 0.01 < p < 0.2
    delta = 0.5
    L = am.fixed_point_length(p * 0.9, delta)
    phases = am.fixed_point_phases(L, delta)
    amp = am.amplified_table(t, (q[0],), tuple(q), phases)
    c = cirq.resolve_parameters(cirq.Circuit(amp.operations()), {s: value})
    final = cirq.Simulator(dtype=np.complex128).simulate(c, qubit_order=q).final_state_vector
    g = final.reshape(2, 4)[0]
    P = float(np.sum(np.abs(g) ** 2))
    assert P == pytest.approx(float(am.fixed_point_success(p, L, delta)), abs=1e-10)
    assert P >= 1 - delta ** 2
    # the post-selected direction is preserved up to one global phase: g = c(p)/sqrt(p) good
    k = am.sequence_amplitude(phases, p) / math.sqrt(p)
    assert np.max(np.abs(g - k * good)) < 1e-10
    # exact operation count: (2l + 1)|U| + l((2f + 1) + (2m + 1))
    rounds = len(phases)
    assert len(amp) == am.amplified_count(len(t), rounds, 1, 3) == \
        (2 * rounds + 1) * len(t) + rounds * (3 + 7)
    assert len(list(c.all_operations())) == len(amp)


def test_qsvt_polynomial_error_and_degree():
    sm, delta, eps = 0.5, 0.2, 1e-2
    d = am.qsvt_degree(sm, delta, eps)
    assert d % 2 == 1
    coef = am.qsvt_polynomial(sm, delta, d, eps / 2)
    assert np.all(coef[::2] == 0)  # odd
    gamma = 1 / (sm * (1 + delta))
    s = np.linspace(1e-3, sm, 5001)  # a finer grid than the one the degree was chosen on
    P = np.polynomial.chebyshev.chebval(s, coef)
    assert np.max(np.abs(P / (gamma * s) - 1)) <= eps * 1.01
    x = np.linspace(-1, 1, 20001)
    assert np.max(np.abs(np.polynomial.chebyshev.chebval(x, coef))) <= 1.0
    # two degrees fewer miss the target
    err, sup = am.qsvt_error(sm, delta, d - 2, eps / 2)
    assert err > eps or sup > 1
    f = am.amplification_figures("qsvt", 0.1, 0.05, delta, sigma_max=sm, epsilon=eps)
    assert f["queries"] == d and f["success_probability"] == pytest.approx(0.1 * gamma ** 2)


def test_figures_fixed_point():
    f = am.amplification_figures("fixed-point", 0.0068, 0.0055, 0.5)
    L = am.fixed_point_length(0.0055, 0.5)
    assert f["queries"] == f["depth_factor"] == L
    assert f["success_probability"] == pytest.approx(float(am.fixed_point_success(0.0068, L, 0.5)))
    assert f["success_probability"] >= 0.75 and f["error"] == 0.25
    assert am.amplification_figures("none", 0.1, 0.1, 0.5)["queries"] == 1


def test_reference_readback_and_its_standard_error():
    rng = np.random.default_rng(4)
    M, R, kappa, t = 6, 2, 1.5, 2.0
    y = rng.uniform(-2.5, 2.5, M)
    amps = np.concatenate([y + kappa * t, np.full(R, kappa * t)])
    p = amps ** 2 / np.sum(amps ** 2)
    T = np.array([t])
    assert np.max(np.abs(am.reference_readback(p, T, M, kappa) - y)) < 1e-12
    S = 20000
    draws = rng.multinomial(S, p, size=4000) / S
    est = am.reference_readback(draws, np.full((4000, 1), t), M, kappa)
    se = np.sqrt(p * (1 - p) / S)
    pred = am.reference_std_error(p, se, T, M, kappa)
    assert np.max(np.abs(est.std(axis=0) / pred - 1)) < 0.1


def test_reference_rows_and_bound():
    assert [am.reference_rows(M) for M in (1, 2, 3, 4, 10, 63, 64)] == [1, 2, 1, 4, 6, 1, 64]
    rng = np.random.default_rng(2)
    W = rng.standard_normal((5, 4))
    kappa = float(np.max(np.abs(W)))
    B = float(np.max(np.linalg.norm(W, axis=1))) / kappa
    R = am.reference_rows(5)
    W3 = np.zeros((5 + R, 5))
    W3[:5, :4] = W
    W3[:, 4] = kappa
    alpha = 40.0
    w = am.success_lower_bound(W, kappa, B, alpha, R)
    x = rng.standard_normal((20000, 4))
    xs = np.concatenate([x, B * np.linalg.norm(x, axis=1, keepdims=True)], 1)
    p = np.sum((xs @ W3.T) ** 2, 1) / (alpha ** 2 * np.sum(xs ** 2, 1))
    assert w <= p.min() and w > 0.5 * p.min()


def test_qsvt_phases_realise_the_polynomial_on_the_sequence():
    sm, delta, eps = 0.5, 0.2, 1e-2
    d = am.qsvt_degree(sm, delta, eps)
    coef = am.qsvt_polynomial(sm, delta, d, eps / 2)
    wx = am.solve_odd_phases(lambda x: np.polynomial.chebyshev.chebval(x, coef), d)
    s = np.linspace(0.01, 0.99, 97)
    from qlower.blocks.qsp import qsp_matrix, qsp_value

    # Re<0|U_Phi|0> is the polynomial (Wx convention, qlower.blocks.qsp)
    assert np.max(np.abs(qsp_value(wx, s) - np.polynomial.chebyshev.chebval(s, coef))) < 1e-11
    # the kernel's sequence with the converted rounds has |amplitude| = |P(sigma)|, sigma = sqrt p
    rounds = am.qsvt_sequence(wx)
    assert len(rounds) == (d - 1) // 2
    amp = am.sequence_amplitude(rounds, s ** 2)
    assert np.max(np.abs(np.abs(amp) - np.abs(qsp_matrix(wx, s)[:, 0, 0]))) < 1e-11
    # its success probability is at least the linear part's (gamma sigma)^2 below sigma_max
    gamma = 1 / (sm * (1 + delta))
    low = s[s <= sm]
    assert np.all(np.abs(am.sequence_amplitude(rounds, low ** 2)) ** 2
                  >= (gamma * low) ** 2 * (1 - eps) ** 2)
