"""Amplification of a block-encoded kernel's success probability (pure numpy, Cirq at the edge).

A kernel is ``A = U_W·U_x``: the preparation of x̂ then the block of W/α; its success
probability is ``p(x) = ‖Π A|0⟩‖² = ‖W x̂‖²/α²`` (Π: flags = 0, the good subspace). Write
``A|0⟩ = √p|g⟩ + √(1−p)|b⟩``. Every sequence below applies, with phases ``(φ_g, φ_0)`` per
round::

    A, then per round j = 1..l:  S_g(φ_g,j) · A† · S_0(φ_0,j) · A     (right to left: S_g first)

``S_g(φ)`` multiplies the good subspace (flags = 0) by ``e^{iφ}``; ``S_0(φ)`` multiplies
``|0…0⟩`` of all the kernel's qubits by ``e^{iφ}``. ``A S_0 A†`` is ``I + (e^{iφ}−1)|s⟩⟨s|``
(s = A|0⟩), so the state never leaves ``span{|g⟩, |b⟩}``: the good part stays ``c(p)·|g⟩``, the
post-selected DIRECTION is preserved exactly (up to the phase of ``c``) and only its norm
changes, ``|c(p)|² = P(p)`` (:func:`sequence_amplitude` is this 2×2 algebra). ``L = 2l + 1``
applications of A (or A†): the depth factor.

Fixed-point amplitude amplification [Yoder–Low–Chuang 2014, arXiv 1409.3305]. For error δ and
length L (odd): ``γ⁻¹ = T_{1/L}(1/δ) = cosh(acosh(1/δ)/L)``,
``P_L(p) = 1 − δ²·T_L(T_{1/L}(1/δ)·√(1−p))²`` and, with their ``S_s(α) = I − (1 − e^{−iα})|s⟩⟨s|``,
``S_t(β) = I − (1 − e^{iβ})|t⟩⟨t|``, ``α_j = −β_{l−j+1} = 2·cot⁻¹(tan(2πj/L)·√(1−γ²))`` (the
branch of cot⁻¹ does not matter: it moves 2cot⁻¹ by 2π). Here ``φ_g,j = β_j``, ``φ_0,j = −α_j``.
``P_L(p) ≥ 1 − δ²`` exactly when ``|T_L(γ⁻¹√(1−p))| ≤ 1``, i.e. ``γ⁻¹√(1−p) ≤ 1``, i.e.
``p ≥ w_L = 1 − γ²``. So the exact rule for a declared lower bound w is the smallest odd
``L ≥ acosh(1/δ)/atanh(√w)`` (``fixed_point_length``); since ``acosh(y) ≤ ln(2y)`` and
``atanh(u) ≥ u`` it never exceeds Yoder's ``L ≥ ln(2/δ)/√w``.

Uniform singular-value amplification [Gilyén et al. 2019, Thm 17 and §4.2]: an odd polynomial
``f(σ) ≈ γσ`` on ``[0, σ_max]`` (γ = 1/(σ_max(1+δ)), i.e. ``W/α → W/α′`` with ``α′ =
α·σ_max·(1+δ) = ‖W‖₂(1+δ)`` where ``σ_max = ‖W‖₂/α``), ``|f| ≤ 1`` on [−1, 1]
(:func:`qsvt_polynomial`, degree by :func:`qsvt_degree`), phases by :func:`solve_odd_phases`
(symmetric, Wx convention, ``Re P = f``) and :func:`qsvt_sequence` (the same rounds as above).
The kernel is a rank-one block (one singular value, σ = √p), so its success probability is
``|P(σ)|²`` with ``Re P = f``: at least ``p·γ²`` (what a linear read-back ``y = α′‖x‖ψ`` would
need alone: for Gaussian W at N = 64 its mean is at most ``‖W‖_F²/(N‖W‖₂²) ≈ 0.25``), and more
where ``Im P`` adds to it. Read against reference rows, neither part changes the outputs; but
its degree grows as ``log(1/ε)/(δσ_max)``, so it takes many more queries than fixed-point
amplification for the same success (``bench/amplify.py``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from qlower.blocks.resources import Resources

KINDS = ("none", "fixed-point", "qsvt")
MAX_QUERIES = 100001  # a sequence longer than this is refused (its bound is too small)


def _check_delta(delta: float) -> float:
    if not (isinstance(delta, (int, float, np.floating)) and 0 < float(delta) < 1):
        raise ValueError(f"amplification error delta must lie in (0, 1), got {delta!r}")
    return float(delta)


def _check_bound(w: float) -> float:
    if not (isinstance(w, (int, float, np.floating)) and 0 < float(w) <= 1):
        raise ValueError(f"success-probability bound must lie in (0, 1], got {w!r}")
    return float(w)


# -- fixed-point amplitude amplification ------------------------------------------------------


def chebyshev_t(L: float, x) -> np.ndarray:
    """``T_L(x) = cos(L·acos x)`` for x ≤ 1 (x ≥ −1), ``cosh(L·acosh x)`` for x > 1 (real L)."""
    x = np.asarray(x, dtype=np.float64)
    inside = np.cos(L * np.arccos(np.clip(x, -1.0, 1.0)))
    outside = np.cosh(L * np.arccosh(np.maximum(x, 1.0)))
    return np.where(x <= 1.0, inside, outside)


def fixed_point_gamma(L: int, delta: float) -> float:
    """``γ = 1/T_{1/L}(1/δ)``."""
    delta = _check_delta(delta)
    return 1.0 / math.cosh(math.acosh(1.0 / delta) / L)


def fixed_point_bound(L: int, delta: float) -> float:
    """``w_L = 1 − γ²``: the smallest p with ``P_L(p) ≥ 1 − δ²``."""
    g = fixed_point_gamma(L, delta)
    return 1.0 - g * g


def fixed_point_length(w: float, delta: float) -> int:
    """The smallest odd L with ``P_L(p) ≥ 1 − δ²`` for every ``p ≥ w``:
    ``L ≥ acosh(1/δ)/atanh(√w)`` (1 when w is 1)."""
    w, delta = _check_bound(w), _check_delta(delta)
    if w >= 1.0:
        return 1
    need = math.acosh(1.0 / delta) / math.atanh(math.sqrt(w))
    L = max(1, math.ceil(need - 1e-12))
    L += 1 - L % 2
    while fixed_point_bound(L, delta) > w:  # guard the rounding at the boundary
        L += 2
    if L > MAX_QUERIES:
        raise ValueError(f"fixed-point amplification of p >= {w:.3g} to error {delta:g} needs "
                         f"{L} queries, more than {MAX_QUERIES}")
    return L


def fixed_point_success(p, L: int, delta: float) -> np.ndarray:
    """``P_L(p) = 1 − δ²·T_L(T_{1/L}(1/δ)·√(1−p))²`` (Yoder et al., eq. 1)."""
    g = fixed_point_gamma(L, delta)
    p = np.asarray(p, dtype=np.float64)
    return 1.0 - delta ** 2 * chebyshev_t(L, np.sqrt(np.clip(1.0 - p, 0.0, 1.0)) / g) ** 2


def fixed_point_phases(L: int, delta: float) -> np.ndarray:
    """``[l, 2]``: per round j = 1..l the phases ``(φ_g, φ_0) = (β_j, −α_j)`` of the sequence in
    the module docstring, ``α_j = 2cot⁻¹(tan(2πj/L)√(1−γ²))``, ``β_j = −α_{l−j+1}``."""
    if L < 1 or L % 2 != 1:
        raise ValueError(f"the sequence length L must be odd and >= 1, got {L}")
    rounds = (L - 1) // 2
    g = fixed_point_gamma(L, delta)
    j = np.arange(1, rounds + 1)
    t = np.tan(2 * np.pi * j / L) * math.sqrt(max(0.0, 1.0 - g * g))
    alpha = 2 * np.arctan2(1.0, t)  # 2 cot⁻¹(t), on the branch (0, 2π)
    beta = -alpha[::-1]
    return np.stack([beta, -alpha], axis=1) if rounds else np.zeros((0, 2))


# -- the sequence in span{|g>, |b>} -----------------------------------------------------------


def sequence_amplitude(phases, p) -> np.ndarray:
    """The good part's coefficient ``c(p)`` after the sequence: ``Π·(result) = c(p)·|g⟩``, per
    entry of ``p`` (complex). ``|c|²`` is the new success probability; ``c/√p`` multiplies the
    post-selected amplitudes."""
    phases = np.asarray(phases, dtype=np.float64).reshape(-1, 2)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    s = np.stack([np.sqrt(p), np.sqrt(1.0 - p)], axis=-1).astype(np.complex128)
    v = s.copy()
    for fg, f0 in phases:
        v[..., 0] *= np.exp(1j * fg)
        proj = np.sum(np.conj(s) * v, axis=-1, keepdims=True)  # ⟨s|v⟩
        v = v + (np.exp(1j * f0) - 1.0) * proj * s
    return v[..., 0]


def amplified_success(phases, p) -> np.ndarray:
    """``|c(p)|²``: the success probability after the sequence."""
    return np.abs(sequence_amplitude(phases, p)) ** 2


# -- uniform singular-value amplification (QSVT) ----------------------------------------------


def qsvt_target(sigma_max: float, delta: float, epsilon: float):
    """The odd function the QSVT polynomial approximates, and γ: ``γσ`` on ``[0, σ_max]``
    (γ = 1/(σ_max(1+δ))) times an erf window centred at ``σ_max(1 + δ/2)`` that is within ε
    of 1 below σ_max and of 0 above ``σ_max(1+δ)`` (``erfc(k·δσ_max/2) ≤ ε``), divided by
    ``1 + ε`` so that the polynomial stays within 1 [Gilyén et al., Lemma 29]."""
    from scipy.special import erf, erfcinv

    gamma = 1.0 / (sigma_max * (1.0 + delta))
    c = sigma_max * (1.0 + delta / 2)
    k = float(erfcinv(epsilon)) / (delta * sigma_max / 2)

    def f(x):
        x = np.asarray(x, dtype=np.float64)
        return gamma * x * 0.5 * (erf(k * (x + c)) - erf(k * (x - c))) / (1.0 + epsilon)

    return f, gamma


def qsvt_polynomial(sigma_max: float, delta: float, degree: int,
                    epsilon: float = 1e-3) -> np.ndarray:
    """Chebyshev coefficients of the odd interpolant (degree ``degree``, odd) of
    :func:`qsvt_target` at the zeros of ``T_{degree+1}``."""
    if degree < 1 or degree % 2 != 1:
        raise ValueError(f"the QSVT degree must be odd and >= 1, got {degree}")
    f, _ = qsvt_target(sigma_max, delta, epsilon)
    coef = _cheb.chebinterpolate(f, degree)
    coef[::2] = 0.0  # odd (the even coefficients of an odd f's interpolant are rounding)
    return coef


def qsvt_error(sigma_max: float, delta: float, degree: int, epsilon: float = 1e-3,
               grid: int = 2001) -> tuple[float, float]:
    """``(ε', sup)``: the polynomial's largest relative deviation from ``γσ`` on
    ``(0, σ_max]`` and its largest ``|P|`` on [−1, 1] (both on uniform grids)."""
    coef = qsvt_polynomial(sigma_max, delta, degree, epsilon)
    _, gamma = qsvt_target(sigma_max, delta, epsilon)
    s = np.linspace(sigma_max / grid, sigma_max, grid)
    eps = float(np.max(np.abs(_cheb.chebval(s, coef) / (gamma * s) - 1.0)))
    x = np.linspace(-1.0, 1.0, 4 * grid + 1)
    return eps, float(np.max(np.abs(_cheb.chebval(x, coef))))


def qsvt_degree(sigma_max: float, delta: float, epsilon: float, max_degree: int = 8191) -> int:
    """The smallest odd degree whose polynomial is within relative ε of ``γσ`` on
    ``(0, σ_max]`` and bounded by 1 on [−1, 1] (doubling, then bisection on odd degrees);
    it grows as ``log(1/ε)/(δσ_max)`` [Gilyén et al., Thm 17]."""
    if not 0 < sigma_max <= 1:
        raise ValueError(f"sigma_max must lie in (0, 1], got {sigma_max!r}")
    _check_delta(delta)

    def ok(d):
        eps, sup = qsvt_error(sigma_max, delta, d, epsilon / 2)
        return eps <= epsilon and sup <= 1.0

    lo, hi = 1, 3
    while not ok(hi):
        lo, hi = hi, 2 * hi + 1
        if hi > max_degree:
            raise ValueError(f"no odd degree <= {max_degree} amplifies sigma_max "
                             f"{sigma_max:.3g} to relative error {epsilon:g}")
    while hi - lo > 2:
        mid = (lo + hi) // 2
        mid += 1 - mid % 2
        if mid >= hi:
            break
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


QSVT_EPSILON = 1e-2  # the QSVT polynomial's relative error: only its success probability sees it


def solve_odd_phases(f, d: int, max_iter: int = 60, tol: float = 1e-12) -> np.ndarray:
    """Symmetric Wx-convention phases ``Φ`` (``φ_j = φ_{d−j}``, d odd) with ``Re⟨0|U_Φ(x)|0⟩
    = f(x)`` for an odd polynomial f of degree d, ``|f| < 1`` (``qlower.blocks.qsp``'s
    convention and Newton iteration, on the (d+1)/2 positive zeros of ``T_{d+1}``)."""
    from qlower.blocks.qsp import _rows_and_columns

    if d < 1 or d % 2 != 1:
        raise ValueError(f"the degree must be odd and >= 1, got {d}")
    h = (d + 1) // 2
    x = np.cos((2 * np.arange(1, h + 1) - 1) * np.pi / (4 * h))
    fx = np.asarray(f(x), dtype=np.float64)
    theta = np.zeros(h)
    theta[0] = np.pi / 4
    res = np.inf
    for _ in range(max_iter):
        phases = np.concatenate([theta, theta[::-1]])
        left, right, e = _rows_and_columns(phases, x)
        g = (left[0] * e[0] * right[0]).sum(-1).real
        res = float(np.max(np.abs(g - fx)))
        if res <= tol:
            return phases
        dp = (1j * left * e[:, None, :] * np.array([1.0, -1.0]) * right).sum(-1).real
        jac = dp[:h] + dp[::-1][:h]  # θ_j moves φ_j and φ_{d−j}
        try:
            theta = theta - np.linalg.solve(jac.T, g - fx)
        except np.linalg.LinAlgError:
            break
    raise ValueError(f"QSVT phases did not converge at degree {d}: residual {res:.3e}")


def qsvt_sequence(wx_phases: np.ndarray) -> np.ndarray:
    """The ``[l, 2]`` rounds ``(φ_g, φ_0)`` of this module's sequence that realise the Wx
    phases ``φ_0..φ_d`` (d = 2l + 1) on the kernel: ``W(σ) = i·e^{−iπ/4 Z}R(σ)e^{−iπ/4 Z}``
    with ``R(σ)`` the reflection A (and A†) is in ``span{|0⟩, A†|b⟩} → span{|g⟩, |b⟩}``, so
    the reflection phases are ``φ'_j = φ_j − π/2`` (0 < j < d, the ends shift by −π/4); a
    projector phase ``e^{iφ(2Π−I)}`` is ``e^{2iφ}`` on the projector's range up to a global
    phase. Round j takes ``(2φ'_{d−2j+1}, 2φ'_{d−2j})``; the last ``φ'_0`` is a phase of the
    good part alone and is left out (probabilities do not see it), as is ``φ'_d`` (a global
    phase of the input |0⟩). ``|sequence_amplitude(·, σ²)| = |⟨0|U_Φ(σ)|0⟩|``."""
    ph = np.asarray(wx_phases, dtype=np.float64)
    d = len(ph) - 1
    pr = ph - np.pi / 2
    rounds = (d - 1) // 2
    return np.array([[2 * pr[d - 2 * j + 1], 2 * pr[d - 2 * j]] for j in range(1, rounds + 1)]
                    ).reshape(-1, 2)


def qsvt_phases(sigma_max: float, delta: float, epsilon: float = QSVT_EPSILON) -> np.ndarray:
    """The rounds of uniform singular-value amplification by ``1/(σ_max(1+δ))`` to relative
    error ε (:func:`qsvt_degree`, :func:`qsvt_polynomial`, :func:`solve_odd_phases`)."""
    d = qsvt_degree(sigma_max, delta, epsilon)
    coef = qsvt_polynomial(sigma_max, delta, d, epsilon / 2)
    return qsvt_sequence(solve_odd_phases(lambda x: _cheb.chebval(x, coef), d))


# -- figures for the cost model ---------------------------------------------------------------


def amplification_figures(kind: str, p_mean: float, p_min_bound: float, delta: float,
                          sigma_max: float | None = None, epsilon: float = 1e-3) -> dict:
    """What amplifying a kernel of mean success probability ``p_mean`` gives.

    ``fixed-point``: L from ``(p_min_bound, δ)`` (:func:`fixed_point_length`),
    ``success_probability = P_L(p_mean)``, ``error = δ²`` (the worst failure probability over
    every p ≥ the bound). ``qsvt``: the degree for ``(σ_max, δ, ε)`` (σ_max = ‖C‖₂, the largest
    success amplitude), ``success_probability = p_mean·γ²``, ``error = ε`` (the polynomial's
    relative deviation from linear, what a linear read-back would see). ``none``: 1 query.
    ``depth_factor`` is the number of queries (A or A†); the reflections come on top
    (:func:`reflection_resources`).
    """
    if kind == "none":
        return {"kind": kind, "queries": 1, "depth_factor": 1, "success_probability": p_mean,
                "error": 0.0}
    if kind == "fixed-point":
        L = fixed_point_length(p_min_bound, delta)
        return {"kind": kind, "queries": L, "depth_factor": L,
                "success_probability": float(fixed_point_success(p_mean, L, delta)),
                "error": delta ** 2, "bound": p_min_bound, "delta": delta}
    if kind == "qsvt":
        if sigma_max is None:
            raise ValueError("qsvt figures need sigma_max")
        d = qsvt_degree(sigma_max, delta, epsilon)
        gamma = 1.0 / (sigma_max * (1.0 + delta))
        return {"kind": kind, "queries": d, "depth_factor": d,
                "success_probability": p_mean * gamma ** 2, "error": epsilon,
                "delta": delta, "sigma_max": sigma_max}
    raise ValueError(f"amplification kind must be one of {', '.join(KINDS)}, got {kind!r}")


# -- reflections ------------------------------------------------------------------------------


def reflection_ops(qubits, phase: float) -> list:
    """``e^{i·phase}`` on ``|0…0⟩`` of ``qubits``: X on each, a phase gate controlled by all but
    the last, X on each (2m + 1 operations on m qubits)."""
    import cirq

    qubits = list(qubits)
    x = [cirq.X(q) for q in qubits]
    gate = cirq.ZPowGate(exponent=float(phase) / math.pi)
    if len(qubits) > 1:
        gate = gate.controlled(len(qubits) - 1)
    return x + [gate.on(*qubits)] + x


def reflection_count(m: int) -> int:
    """Operations of :func:`reflection_ops` on m qubits."""
    return 2 * m + 1


@functools.lru_cache(maxsize=64)
def reflection_resources(m: int) -> Resources:
    """A phase on ``|0…0⟩`` of m qubits as Cirq decomposes it to CNOTs and one-qubit gates
    (ancilla-free; the count grows as m²), the X gates included."""
    import cirq

    from qlower.blocks.circuits import count_resources

    qs = cirq.LineQubit.range(m)
    ops = reflection_ops(qs, 0.3)  # a generic angle: the count does not depend on it
    flat = cirq.decompose(ops, keep=lambda op: len(op.qubits) <= 2
                          and not isinstance(op.gate, cirq.ControlledGate))
    return count_resources(cirq.Circuit(flat), qs)


# -- the circuit transformation ---------------------------------------------------------------


def inverse_table(table):
    """The operation table of ``U†`` for the table of U (``qlower.blocks.optable``): rows in
    reverse order, each inverted. H, CX, CZ are their own inverses; RY/RZ angles change sign;
    a symbolic RY/RZ becomes an operation row of the negated symbol; a PhasedXZ(x, z, a)
    becomes PhasedXZ(−x, −z, a + z); any other operation is ``cirq.inverse`` of it."""
    import cirq

    from qlower.blocks import optable as ot
    from qlower.blocks.circuits import fast_op

    n = len(table)
    rows = np.arange(n - 1, -1, -1)
    kind = table.kind[rows].copy()
    value = -table.value[rows]
    ref = table.ref[rows].copy()
    q0, q1 = table.q0[rows].copy(), table.q1[rows].copy()
    pxz = table.pxz.copy()
    if len(pxz):
        pxz = np.stack([-table.pxz[:, 0], -table.pxz[:, 1], table.pxz[:, 2] + table.pxz[:, 1]], 1)
    objects = [(cirq.inverse(op), ids) for op, ids in table.objects]
    sym = (kind == ot.RY_SYM) | (kind == ot.RZ_SYM)
    for i in np.flatnonzero(sym).tolist():
        s = table.symbols[int(ref[i])]
        gate = cirq.Ry(rads=-s) if kind[i] == ot.RY_SYM else cirq.Rz(rads=-s)
        q = table.qubits[int(q0[i])]
        ref[i] = len(objects)
        objects.append((fast_op(gate, (q,)), (int(q0[i]),)))
        kind[i] = ot.OP
        q0[i] = -1
    return ot.OpTable(table.qubits, kind, q0, q1, value, ref, pxz, table.symbols, tuple(objects))


def amplified_table(u, flags, qubits, phases):
    """The table of the sequence in the module docstring for the table ``u`` of A: A, then per
    round ``S_g(φ_g)`` on ``flags`` (phase on flags = 0), A†, ``S_0(φ_0)`` on ``qubits``, A.
    Its length is ``(2l + 1)·len(u) + l·(reflection_count(len(flags)) +
    reflection_count(len(qubits)))``."""
    from qlower.blocks import optable as ot

    phases = np.asarray(phases, dtype=np.float64).reshape(-1, 2)
    if not len(phases):
        return u
    inv = inverse_table(u)
    parts = [u]
    for fg, f0 in phases.tolist():
        parts.append(ot.OpTable.from_operations(reflection_ops(flags, fg)))
        parts.append(inv)
        parts.append(ot.OpTable.from_operations(reflection_ops(qubits, f0)))
        parts.append(u)
    return ot.OpTable.concat(parts)


def amplified_count(u_rows: int, rounds: int, flags: int, qubits: int) -> int:
    """Operations of :func:`amplified_table`: ``(2l+1)·|U| + l·((2f+1) + (2m+1))``."""
    return (2 * rounds + 1) * u_rows + rounds * (reflection_count(flags) + reflection_count(qubits))


def amplified_resources(u: Resources, rounds: int, flags: int, qubits: int) -> Resources:
    """Resources of the sequence: ``2l + 1`` times those of A (depth too: the copies run one
    after another) plus ``l`` reflections on the flags and ``l`` on all qubits."""
    L = 2 * rounds + 1
    out = Resources(u.qubits, L * u.cnots, L * u.rotations, L * u.depth, L * u.single_qubit,
                    L * u.t_gates)
    if rounds:
        rf, r0 = reflection_resources(max(flags, 1)), reflection_resources(qubits)
        for r in (rf, r0):
            out = out + Resources(0, rounds * r.cnots, rounds * r.rotations, rounds * r.depth,
                                  rounds * r.single_qubit, rounds * r.t_gates)
    return out


# -- the reference rows and their read-back ---------------------------------------------------


def reference_rows(M: int) -> int:
    """Reference rows appended below M output rows: the padding up to the next power of two
    above M (at least one row), so they cost no output qubit beyond the one a full register
    would need."""
    if M < 1:
        raise ValueError(f"a layer needs at least one output row, got {M}")
    return (1 << M.bit_length()) - M


def reference_readback(p: np.ndarray, t: np.ndarray, rows: int, scale: float) -> np.ndarray:
    """``y_i = κ·t·(√(R·p_i/P_ref) − 1)`` for ``i < rows`` from the conditional probabilities
    ``p`` (``[..., rows + R]``) of the outputs of ``W‴ = [[W', κ1], [0, κ1_R]]`` on ``[x'; t]``:
    ``p_i ∝ (W'x' + κt)_i²`` and every reference row reads ``κt``."""
    p = np.asarray(p, dtype=np.float64)
    R = p.shape[-1] - rows
    pref = np.sum(p[..., rows:], axis=-1, keepdims=True)
    t = np.asarray(t, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sqrt(R * np.clip(p[..., :rows], 0.0, None) / pref)
    y = scale * t * (r - 1.0)
    return np.where(t > 0, y, 0.0)


def reference_std_error(p: np.ndarray, se: np.ndarray, t: np.ndarray, rows: int,
                        scale: float) -> np.ndarray:
    """Standard errors of :func:`reference_readback` by the delta method:
    ``y_i + κt = κt·√(R p_i/P)``, so ``SE = ½κt√(R/P)·√(se_i²/p_i + p_i·se_P²/P²)`` with
    ``se_P² = Σ_ref se_j²`` (the estimates taken independent: for a multinomial the exact
    variance ``¼(κt)²(R/P)(1/S₀ + p_i/(S₀P))`` differs by a fraction p_i)."""
    p = np.asarray(p, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    R = p.shape[-1] - rows
    pref = np.sum(p[..., rows:], axis=-1, keepdims=True)
    se_ref2 = np.sum(se[..., rows:] ** 2, axis=-1, keepdims=True)
    pi, si = p[..., :rows], se[..., :rows]
    # se_i²/p_i = (1 − p_i)/S₀: where p_i is 0, take S₀ from the reference's own estimate
    with np.errstate(invalid="ignore", divide="ignore"):
        s0 = np.where(se_ref2 > 0, (pref - np.sum(p[..., rows:] ** 2, -1, keepdims=True))
                      / se_ref2, np.inf)
        first = np.where(pi > 0, si ** 2 / np.where(pi > 0, pi, 1.0), 1.0 / s0)
        out = 0.5 * scale * np.asarray(t, np.float64) * np.sqrt(R / pref) \
            * np.sqrt(first + pi * se_ref2 / pref ** 2)
    return np.where(np.asarray(t) > 0, out, 0.0)


def success_lower_bound(w_aug: np.ndarray, kappa: float, bound: float, alpha: float,
                        R: int) -> float:
    """A lower bound on ``p(x)`` over every input for the block ``W‴/α`` on ``[x'; t]``,
    ``t = B‖x'‖`` (B = ``bound``): ``‖W‴x″‖² ≥ (max(0, κB√M − ‖W'‖₂))²‖x'‖² + Rκ²t²``
    (triangle inequality on the offset rows ``κt·1 + W'x'``, plus the R reference rows), and
    ``‖x″‖² = (1 + B²)‖x'‖²``."""
    M = w_aug.shape[0]
    s = float(np.linalg.norm(w_aug, 2)) if w_aug.size else 0.0
    rows = max(0.0, kappa * bound * math.sqrt(M) - s) ** 2
    return (rows + R * (kappa * bound) ** 2) / (alpha ** 2 * (1.0 + bound ** 2))


__all__ = ["KINDS", "QSVT_EPSILON", "qsvt_phases", "qsvt_sequence", "solve_odd_phases", "amplification_figures", "amplified_count", "amplified_resources",
           "amplified_success", "amplified_table", "chebyshev_t", "fixed_point_bound",
           "fixed_point_gamma", "fixed_point_length", "fixed_point_phases",
           "fixed_point_success", "inverse_table", "qsvt_degree", "qsvt_error",
           "qsvt_polynomial", "qsvt_target", "reference_readback", "reference_rows",
           "reference_std_error", "reflection_count", "reflection_ops", "reflection_resources",
           "sequence_amplitude", "success_lower_bound"]
