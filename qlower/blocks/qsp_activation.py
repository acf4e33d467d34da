"""Elementwise activations as QSP polynomials (pure numpy).

An activation f on inputs ``x ∈ [−B, B]`` (B a declared bound) enters as the signal value
``a = √((x + B)/(2B)) ∈ [0, 1]``. Since ``x = B(2a² − 1)`` is affine in a², every f becomes an
even function of a (one parity, no LCU of even and odd parts)::

    h(a) = (f(B(2a² − 1)) + shift) / K,   shift = max(0, −min f),   K = (max f + shift) / 0.9

(min and max over [−B, B]), so ``0 ≤ h ≤ 0.9``: a read-out from counts needs no sign, and QSP's
``|h| ≤ 1`` holds with margin. The symmetric phases of ``qlower.blocks.qsp`` implement
``h_d``, the even Chebyshev interpolant of degree d, and ``f(x) ≈ K·h_d(a) − shift`` with
error ``K·δ``, ``δ = max |h_d − h|``.

Degrees: ``T_{2m}(a) = T_m(2a² − 1)`` and the solver's nodes (positive zeros of ``T_{2m+2}``) map to
the zeros of ``T_{m+1}`` in ``x/B``, so ``h_d`` is exactly the degree-``m = d/2`` Chebyshev
interpolant of f in x: the degree in a is twice the usual one in x (for odd f such as tanh
too, whose x-interpolants need not be odd here). The degree search takes the interpolant's
max over the union of 8193 points uniform in a and 8193 uniform in x (x = 0, relu's kink,
among them); the plan's δ is that of the solved unitary (``qsp_value``) on the same grid,
refined across each local maximum (a plain grid misses the sup by a few 1e-6, relative).

Least degrees (in a) for relative error 1e-2 / 1e-3 on [−4, 4] and [−16, 16]: gelu and
gelu_tanh 16/24 and 36/68, tanh 26/38 and 98/146, sigmoid 10/18 and 42/66, relu 60/596 on
both (relu(Bx) = B·relu(x); the kink makes the degree ∝ 1/ε, so 1e-3 is above the default
``max_degree`` of 400). The phase solver converges in 6 Newton steps up to degree 600.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from qlower.blocks.qsp import even_interpolant, qsp_value, solve_phases
from qlower.ir.dialects.kernels import gelu as _gelu
from qlower.ir.dialects.kernels import sigmoid as _sigmoid

PEAK = 0.9          # max h
_GRID = 8193


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


ACTIVATIONS = {
    "gelu": lambda x: _gelu(_f64(x), "none"),
    "gelu_tanh": lambda x: _gelu(_f64(x), "tanh"),
    "relu": lambda x: np.maximum(_f64(x), 0.0),
    "tanh": lambda x: np.tanh(_f64(x)),
    "sigmoid": lambda x: _sigmoid(_f64(x)),
}


def _check_bound(B) -> float:
    if isinstance(B, bool) or not isinstance(B, (int, float, np.integer, np.floating)) \
            or not np.isfinite(B) or B <= 0:
        raise ValueError(f"bound B must be a finite number > 0, got {B!r}")
    return float(B)


def _check(name: str, B) -> tuple[str, float]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return name, _check_bound(B)


@cache
def _range(name: str, B: float) -> tuple[float, float]:
    """(min f, max f) on [−B, B]: a 100001-point grid, each refined around its grid extremum."""
    f = ACTIVATIONS[name]
    x = np.linspace(-B, B, 100001)
    fx = f(x)
    out = []
    for i, sign in ((int(np.argmin(fx)), -1.0), (int(np.argmax(fx)), 1.0)):
        fine = f(np.linspace(x[max(i - 1, 0)], x[min(i + 1, len(x) - 1)], 2001))
        out.append(float(sign * np.max(sign * fine)))
    return out[0], out[1]


def activation_target(name: str, B: float):
    """``(h, K, shift)``: the even target on [0, 1] and its scale and shift (module docstring)."""
    name, B = _check(name, B)
    fmin, fmax = _range(name, B)
    shift = max(0.0, -fmin)
    K = (fmax + shift) / PEAK
    f = ACTIVATIONS[name]
    return (lambda a: (f(B * (2.0 * np.square(_f64(a)) - 1.0)) + shift) / K), K, shift


@cache
def _grid(name: str, B: float):
    a = np.unique(np.concatenate([np.linspace(0.0, 1.0, _GRID),
                                  np.sqrt(np.linspace(0.0, 1.0, _GRID))]))
    h = activation_target(name, B)[0]
    return a, h(a)


@cache
def _delta(name: str, B: float, d: int) -> float:
    """``max |h_d − h|`` of the even interpolant on the evaluation grid."""
    a, ha = _grid(name, B)
    h = activation_target(name, B)[0]
    return float(np.max(np.abs(_cheb.chebval(a, even_interpolant(h, d)) - ha)))


def _sup(g, h, a: np.ndarray, ha: np.ndarray) -> float:
    """``max |g − h|`` on the grid, refined on 65 points across each grid-local maximum."""
    e = np.abs(g(a) - ha)
    n = len(a)
    i = np.flatnonzero((e >= np.r_[0.0, e[:-1]]) & (e >= np.r_[e[1:], 0.0]) & (e >= 0.5 * e.max()))
    t = np.linspace(0.0, 1.0, 65)
    fine = (a[np.maximum(i - 1, 0), None] * (1 - t) + a[np.minimum(i + 1, n - 1), None] * t).ravel()
    return float(max(e.max(), np.max(np.abs(g(fine) - h(fine)))))


@dataclass(frozen=True)
class ActivationPlan:
    name: str
    bound: float
    degree: int
    phases: tuple[float, ...]
    K: float
    shift: float
    poly_error: float       # δ = max |h_d − h| on [0, 1]
    error: float            # K·δ: max |f_QSP − f| on [−B, B]
    relative_error: float   # error / max |f| on [−B, B]


def activation_plan(name: str, B: float, epsilon: float, relative: bool = True,
                    max_degree: int = 400) -> ActivationPlan:
    """The least even degree whose error on [−B, B] is ≤ epsilon (relative to max |f| there
    if ``relative``, else absolute), with its phases."""
    name, B = _check(name, B)
    if not np.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    h, K, shift = activation_target(name, B)
    fmin, fmax = _range(name, B)
    scale = K / max(abs(fmin), abs(fmax)) if relative else K     # error per unit of δ
    kind = "relative" if relative else "absolute"
    err, d = np.inf, 0
    for d in range(2, int(max_degree) + 1, 2):
        err = scale * _delta(name, B, d)
        if err > epsilon:
            continue
        phases = solve_phases(h, d)
        delta = _sup(partial(qsp_value, phases), h, *_grid(name, B))
        err = scale * delta
        if err <= epsilon:      # the refined sup can sit a hair above the grid's max
            error = K * delta
            return ActivationPlan(name, B, d, tuple(float(p) for p in phases), K, shift, delta,
                                  error, error / max(abs(fmin), abs(fmax)))
    raise ValueError(f"{name} on [-{B:g}, {B:g}] needs a degree above {max_degree} for "
                     f"{kind} error {epsilon:g} (reaches {err:.3e} at degree {d})")


def signal_values(x, B: float) -> np.ndarray:
    """``a = √((x + B)/(2B))``, clipped to [0, 1] (inputs beyond the bound read as the bound)."""
    B = _check_bound(B)
    return np.sqrt(np.clip((_f64(x) + B) / (2.0 * B), 0.0, 1.0))


def qsp_activation_values(plan: ActivationPlan, x) -> np.ndarray:
    """``K·Re⟨0|U_Φ(a)|0⟩ − shift`` at ``a = signal_values(x, B)``, from the QSP unitary."""
    a = signal_values(x, plan.bound)
    return plan.K * qsp_value(plan.phases, a.reshape(-1)).reshape(a.shape) - plan.shift
