"""Activations as QSP polynomials (qlower/blocks/qsp_activation.py): the QSP unitary's values
against the activation on dense grids (within the reported error, which is tight), the
degrees against numpy's Chebyshev interpolants in x (and LOWERINGS §6's table), relu's 1/ε
growth, monotonicity in ε, clipping, and the error messages."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
from numpy.polynomial import chebyshev as C
from scipy.optimize import minimize_scalar
from scipy.special import erf, expit

from qlower.blocks import qsp_activation as A

NAMES = ["gelu", "gelu_tanh", "relu", "tanh", "sigmoid"]
REFERENCE = {  # independent definitions
    "gelu": lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
    "gelu_tanh": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "sigmoid": expit,
}
# least even degree in a for relative error 1e-2 / 1e-3. LOWERINGS §6 (degrees in x): GELU on
# [-4, 4] 8/12, on [-16, 16] 18/34; tanh on [-4, 4] 13/19; in a each is exactly twice that.
DEGREES = {
    ("gelu", 4): (16, 24), ("gelu", 16): (36, 68),
    ("gelu_tanh", 4): (16, 24), ("gelu_tanh", 16): (36, 68),
    ("relu", 4): (60, 596), ("relu", 16): (60, 596),
    ("tanh", 4): (26, 38), ("tanh", 16): (98, 146),
    ("sigmoid", 4): (10, 18), ("sigmoid", 16): (42, 66),
}
LOWERINGS_X = {("gelu", 4): (8, 12), ("gelu", 16): (18, 34), ("tanh", 4): (13, 19)}


def _plan(name, B, eps, **kw):
    # relu at 1e-3 needs degree 596 (above the default cap of 400)
    return A.activation_plan(name, B, eps, max_degree=600 if name == "relu" else 400, **kw)


def _dense(B, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([np.linspace(-B, B, 20001), rng.uniform(-B, B, 20000), [0.0, -B, B]])


@pytest.mark.parametrize("name", NAMES)
def test_activations_match_independent_definitions(name):
    x = np.linspace(-20, 20, 4001)
    assert np.max(np.abs(A.ACTIVATIONS[name](x) - REFERENCE[name](x))) <= 1e-13
    assert A.ACTIVATIONS[name](x.astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("B", [4, 16])
@pytest.mark.parametrize("name", NAMES)
def test_target_is_nonnegative_with_peak_0_9(name, B):
    h, K, shift = A.activation_target(name, B)
    x = np.linspace(-B, B, 1_000_001)
    fx = REFERENCE[name](x)
    inner = minimize_scalar(REFERENCE[name], bounds=(-B, B), method="bounded",
                            options={"xatol": 1e-10}).fun     # gelu's interior minimum
    assert shift == pytest.approx(max(0.0, -min(fx.min(), inner)), abs=1e-12)
    assert K == pytest.approx((fx.max() + shift) / 0.9, rel=1e-12)
    a = np.sqrt((x + B) / (2 * B))
    ha = h(a)
    assert np.max(np.abs(ha - (fx + shift) / K)) <= 1e-12
    assert ha.min() >= -1e-12 and ha.max() == pytest.approx(0.9, abs=1e-12)
    if fx.min() < 0:                                # gelu, tanh: the minimum touches 0
        assert ha.min() <= 1e-10                     # (the grid misses the minimum by ~3e-12)


@pytest.mark.parametrize("eps", [1e-2, 1e-3])
@pytest.mark.parametrize("B", [4, 16])
@pytest.mark.parametrize("name", NAMES)
def test_qsp_values_within_the_reported_error(name, B, eps):
    plan = _plan(name, B, eps)
    x = _dense(B)
    fx = REFERENCE[name](x)
    measured = np.max(np.abs(A.qsp_activation_values(plan, x) - fx))
    assert measured <= plan.error * (1 + 1e-9)
    assert plan.error <= 1.5 * measured             # tight
    fmax = np.max(np.abs(fx))
    assert plan.relative_error == pytest.approx(plan.error / fmax, rel=1e-9)
    assert plan.relative_error <= eps
    assert plan.error == pytest.approx(plan.K * plan.poly_error, rel=1e-12)
    assert len(plan.phases) == plan.degree + 1
    assert np.allclose(plan.phases, plan.phases[::-1], rtol=0, atol=0)


@pytest.mark.parametrize("B", [4, 16])
@pytest.mark.parametrize("name", NAMES)
def test_degrees_are_the_least_and_twice_the_x_interpolant(name, B):
    """The degree-d polynomial in a is the degree-d/2 Chebyshev interpolant of f in x (numpy's
    chebinterpolate); d is the least with relative error ≤ eps, and d − 2 is not enough."""
    t = np.linspace(-1, 1, 40001)
    f = REFERENCE[name]
    fmax = np.max(np.abs(f(B * t)))

    def rel_err(m):
        return np.max(np.abs(C.chebval(t, C.chebinterpolate(lambda u: f(B * u), m)) - f(B * t))) / fmax

    for eps, want in zip((1e-2, 1e-3), DEGREES[name, B]):
        plan = _plan(name, B, eps)
        assert plan.degree == want
        m = plan.degree // 2
        cx = C.chebinterpolate(lambda u: f(B * u), m)
        assert np.max(np.abs(A.qsp_activation_values(plan, B * t) - C.chebval(t, cx))) <= 1e-10 * plan.K
        assert rel_err(m) <= eps < rel_err(m - 1)
        if (name, B) in LOWERINGS_X:
            assert plan.degree == 2 * LOWERINGS_X[name, B][(1e-2, 1e-3).index(eps)]


def test_relu_degree_grows_like_one_over_eps():
    eps = [4e-2, 2e-2, 1e-2, 4e-3, 2e-3, 1e-3]
    d = np.array([_plan("relu", 4, e).degree for e in eps])
    prod = d * np.array(eps)
    assert prod.max() / prod.min() <= 1.3, dict(zip(eps, d))
    assert d[-1] / d[2] >= 8                        # 10× smaller ε: ≈ 10× the degree
    # relu(Bx) = B·relu(x): the relative problem does not depend on B
    for e in (2e-2, 2e-3):
        p4, p16 = _plan("relu", 4, e), _plan("relu", 16, e)
        assert p4.degree == p16.degree
        assert p4.relative_error == pytest.approx(p16.relative_error, rel=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_smaller_epsilon_never_gives_a_smaller_degree(name):
    eps = np.geomspace(1e-1, 1e-3, 25)
    d = [_plan(name, 4, e).degree for e in eps]
    assert d == sorted(d) and d[-1] > d[0], d


def test_absolute_epsilon():
    plan = A.activation_plan("gelu", 16, 1e-2, relative=False)
    assert plan.error <= 1e-2
    assert plan.degree == A.activation_plan("gelu", 16, 1e-2 / 16).degree   # max|gelu| = 16
    assert A.activation_plan("gelu", 16, 1e-2, relative=False, max_degree=plan.degree).degree \
        == plan.degree
    with pytest.raises(ValueError):
        A.activation_plan("gelu", 16, 1e-2, relative=False, max_degree=plan.degree - 2)
    # relu on [-16, 16]: max|f| = 16, so absolute 16·eps is relative eps
    assert A.activation_plan("relu", 16, 0.16, relative=False).degree == \
        A.activation_plan("relu", 16, 0.01).degree == 60


@pytest.mark.parametrize("name", NAMES)
def test_inputs_beyond_the_bound_are_clipped(name):
    B = 4
    plan = _plan(name, B, 1e-2)
    lo, hi = A.qsp_activation_values(plan, np.array([-B, B]))
    x = np.array([[-B - 1e-3, -2 * B, -1e6], [B + 1e-3, 3 * B, np.inf]])
    v = A.qsp_activation_values(plan, x)
    assert v.shape == (2, 3)
    assert np.array_equal(v[0], np.full(3, lo)) and np.array_equal(v[1], np.full(3, hi))
    assert np.array_equal(A.signal_values(x, B), [[0.0] * 3, [1.0] * 3])
    assert abs(hi - REFERENCE[name](B)) <= plan.error and abs(lo - REFERENCE[name](-B)) <= plan.error


def test_values_are_the_unitary_by_plain_matrix_products():
    plan = A.activation_plan("tanh", 4, 1e-3)
    x = np.array([-3.7, -0.2, 0.0, 1.3, 3.99])
    got = A.qsp_activation_values(plan, x)
    Z = np.diag([1.0, -1.0])
    for xi, g in zip(x, got):
        a = math.sqrt((xi + 4) / 8)
        s = math.sqrt(1 - a * a)
        W = np.array([[a, s], [-s, a]])
        U = np.diag(np.exp(1j * plan.phases[0] * np.diag(Z)))
        for p in plan.phases[1:]:
            U = U @ W @ np.diag(np.exp(1j * p * np.diag(Z)))
        assert plan.K * U[0, 0].real - plan.shift == pytest.approx(g, abs=1e-12)


def test_plan_is_frozen():
    plan = A.activation_plan("sigmoid", 4, 1e-2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.degree = 2
    assert (plan.name, plan.bound, plan.shift) == ("sigmoid", 4.0, 0.0)


def test_error_messages():
    with pytest.raises(ValueError) as e:
        A.activation_plan("swish", 4, 1e-2)
    assert str(e.value) == "unknown activation 'swish'; known: gelu, gelu_tanh, relu, tanh, sigmoid"
    with pytest.raises(ValueError) as e:
        A.activation_target("Gelu", 4)
    assert str(e.value).startswith("unknown activation 'Gelu'")
    for B in (0, -1.0, float("nan")):
        with pytest.raises(ValueError) as e:
            A.activation_plan("gelu", B, 1e-2)
        assert str(e.value) == f"bound B must be a finite number > 0, got {B!r}"
    with pytest.raises(ValueError) as e:
        A.signal_values(np.zeros(3), 0)
    assert str(e.value) == "bound B must be a finite number > 0, got 0"
    for eps in (0, -1e-3):
        with pytest.raises(ValueError) as e:
            A.activation_plan("gelu", 4, eps)
        assert str(e.value) == f"epsilon must be > 0, got {eps!r}"
    with pytest.raises(ValueError) as e:
        A.activation_plan("relu", 4, 1e-3)
    assert re.fullmatch(r"relu on \[-4, 4\] needs a degree above 400 for relative error 0\.001 "
                        r"\(reaches 1\.4\d\de-03 at degree 400\)", str(e.value)), str(e.value)
    with pytest.raises(ValueError) as e:
        A.activation_plan("tanh", 16, 1e-2, max_degree=50)
    assert re.fullmatch(r"tanh on \[-16, 16\] needs a degree above 50 for relative error 0\.01 "
                        r"\(reaches \d\.\d{3}e-0\d at degree 50\)", str(e.value)), str(e.value)
    with pytest.raises(ValueError) as e:
        A.activation_plan("gelu", 16, 1e-6, relative=False, max_degree=101)
    assert re.fullmatch(r"gelu on \[-16, 16\] needs a degree above 101 for absolute error 1e-06 "
                        r"\(reaches \d\.\d{3}e-\d\d at degree 100\)", str(e.value)), str(e.value)
