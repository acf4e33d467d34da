"""Variational lowering: a hardware-efficient ansatz (HEA) fitted at compile time (numpy + scipy).

Ansatz (LOWERINGS §7) on q qubits, ``L`` entangler chains between ``L + 1`` rotation layers::

    U(θ) = R_L · E · R_{L−1} · E ··· E · R_0,    R_l = ⊗_j Rz(θ[l, j, 1]) · Ry(θ[l, j, 0]),
    E = Π_j CZ(q_j, q_{j+1})   (a line: q − 1 CZ, all diagonal, so they commute).

``layers`` is always L, the number of CZ chains; angles have shape ``(L + 1, q, 2)``
(``[..., 0]`` Ry, ``[..., 1]`` Rz), P = 2q(L + 1). Each qubit gets Ry first and Rz second: a
leading Rz on |0⟩ would be a phase, so with this order none of the P angles is idle for state
preparation. ``Ry(t) = exp(−itY/2)``, ``Rz(t) = exp(−itZ/2)`` (Cirq's), q[0] = most significant.

Gradients: the adjoint method [Jones–Gacon]. For C(Ψ) with Ψ = U(θ)X (a batch of states) and
the cotangent G = ∂C/∂Ψ̄, dC/dθ_k = Im⟨λ_k|P_k|ψ_k⟩ (ψ_k the states after gate k, λ_k = the
gates after k, inverted, applied to G). One forward sweep, then one backward sweep that
un-applies each gate to ψ and λ: O(P) gate applications for all P derivatives, memory
O(B·2^q) (no stored intermediate states); the backward sweep takes 3–5 forward sweeps' time
(q = 4…8, P = 70…112: 40× faster than parameter shift). Parameter shift,
[C(θ + π/2 e_k) − C(θ − π/2 e_k)]/2 (exact for these gates when C is an expectation value),
needs 2P circuit evaluations; it is what hardware uses, since it needs only measured
expectation values, while the adjoint sweep needs the amplitudes a simulator holds. Finite
differences cost P + 1 evaluations and are inexact.

Objectives (cost, minimised by L-BFGS with ``jac=True``, seeded multi-start):

* ``StatePrep(t)``: C = 1 − F, fidelity F = |⟨t|U|0⟩|².
* ``LayerMap(W, inputs, n_flags, alpha)``: flags are q[0 … f−1], data the last n qubits. Inputs
  x̂_b = x_b/‖x_b‖ (calibration rows; none: the basis vectors, i.e. a Frobenius fit of the whole
  block), A_b = ⟨0_f|U|0_f, x̂_b⟩ (the post-selected outputs), Y_b = W x̂_b, Ỹ = Y/α. Cost
  C = min_φ ‖e^{iφ}A − Ỹ‖²_F / ‖Ỹ‖²_F = (r − 1)² + 2r(1 − √F), with r = ‖A‖_F/‖Ỹ‖_F and the
  fidelity F = |⟨A, Y⟩|²/(‖A‖²_F‖Y‖²_F) of the stacked outputs Σ_b|b⟩A_b and Σ_b|b⟩Y_b: a
  direction term plus a norm-match term that pulls the scale to α. One phase and one scale for
  the whole batch, so F = 1 means U's block is W/α_eff on the span of the inputs, linear
  combinations included. (A per-row fidelity Σ_b|⟨ŷ_b|A_b⟩|² would leave one free phase and
  one free norm per row: it does not fix a linear map.) ``LayerMap.unitary(V)`` (no flags,
  α = 1, basis inputs) gives F = |Tr V†U|²/d².

``Fit.scale`` and ``Fit.phase``: Y ≈ scale·e^{i·phase}·A (least squares), so the read-out is
y = scale·‖x‖·ψ with the circuit's global phase set to ``phase``; ``Fit.error`` = √(1 − F) is
the relative output error ‖Y − scale·e^{i·phase}A‖_F/‖Y‖_F on the inputs (√C is the same
error when the read-out uses the nominal α). For state preparation scale = 1 and
error = ‖e^{i·phase}U|0⟩ − t‖ = √(2 − 2√F).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from qlower.blocks.resources import Resources

__all__ = ["Fit", "LayerMap", "StatePrep", "choose_layers", "fit", "hea_apply", "hea_circuit",
           "hea_gradient", "hea_resources", "parameter_shift_gradient", "prep_angles",
           "prep_apply", "prep_circuit", "prep_resources", "state_layers"]


def _angles(angles) -> np.ndarray:
    a = np.asarray(angles, dtype=float)
    if a.ndim != 3 or a.shape[0] < 1 or a.shape[1] < 1 or a.shape[2] != 2:
        raise ValueError(f"HEA angles must have shape (L + 1, n_qubits, 2), got {a.shape}")
    return a


def _cz_chain(q: int) -> np.ndarray:
    """Diagonal of the CZ line on q qubits: (−1)^{Σ_j b_j b_{j+1}}."""
    bits = (np.arange(1 << q)[:, None] >> (q - 1 - np.arange(q))) & 1
    return 1.0 - 2.0 * (np.sum(bits[:, :-1] & bits[:, 1:], axis=1) & 1)


def _layer_mats(a: np.ndarray) -> np.ndarray:
    """Rz(φ)·Ry(θ) for every (layer, qubit): shape (L + 1, q, 2, 2)."""
    c, s = np.cos(a[..., 0] / 2), np.sin(a[..., 0] / 2)
    e = np.exp(-0.5j * a[..., 1])
    m = np.empty(a.shape[:2] + (2, 2), dtype=complex)
    m[..., 0, 0], m[..., 0, 1] = e * c, -e * s
    m[..., 1, 0], m[..., 1, 1] = e.conj() * s, e.conj() * c
    return m


def _apply_1q(psi: np.ndarray, m: np.ndarray, j: int, q: int) -> np.ndarray:
    b = psi.shape[0]
    return np.matmul(m, psi.reshape(b, 1 << j, 2, 1 << (q - 1 - j))).reshape(b, -1)


def _states(states, q: int) -> np.ndarray:
    psi = np.array(states, dtype=complex, ndmin=2)
    if psi.ndim != 2 or psi.shape[1] != 1 << q:
        raise ValueError(f"states must have shape [B, {1 << q}] for {q} qubits, got "
                         f"{np.shape(states)}")
    return psi


def hea_apply(angles, states) -> np.ndarray:
    """U(angles) applied to each row of ``states`` ([B, 2^q], or one state [2^q])."""
    a = _angles(angles)
    q = a.shape[1]
    psi = _states(states, q)
    mats, chain = _layer_mats(a), _cz_chain(q)
    for layer in range(a.shape[0]):
        if layer:
            psi = psi * chain
        for j in range(q):
            psi = _apply_1q(psi, mats[layer, j], j, q)
    return psi[0] if np.ndim(states) == 1 else psi


def hea_gradient(angles, out_states, cotangent) -> np.ndarray:
    """dC/dθ, shape of ``angles``, by one adjoint sweep, for a real C(Ψ) of Ψ = U(θ)X.

    Args:
        out_states: Ψ = ``hea_apply(angles, X)``, [B, 2^q].
        cotangent: G = ∂C/∂Ψ̄ (so dC = 2 Re Σ Ḡ·dΨ), same shape.
    """
    a = _angles(angles)
    q = a.shape[1]
    psi, lam = _states(out_states, q), _states(cotangent, q)
    mats, chain = _layer_mats(a), _cz_chain(q)
    rz_y = np.exp(-1j * a[..., 1])  # Rz(φ)·Y·Rz(φ)† = [[0, −i·e^{−iφ}], [i·e^{iφ}, 0]]
    grad = np.zeros_like(a)
    b = psi.shape[0]
    for layer in reversed(range(a.shape[0])):
        for j in range(q):
            shape = (b, 1 << j, 2, 1 << (q - 1 - j))
            rho = np.einsum("apir,apkr->ik", lam.reshape(shape).conj(), psi.reshape(shape))
            grad[layer, j, 1] = (rho[0, 0] - rho[1, 1]).imag
            e = rz_y[layer, j]
            grad[layer, j, 0] = (-1j * e * rho[0, 1] + 1j * e.conjugate() * rho[1, 0]).imag
            inv = mats[layer, j].conj().T
            psi, lam = _apply_1q(psi, inv, j, q), _apply_1q(lam, inv, j, q)
        if layer:
            psi, lam = psi * chain, lam * chain
    return grad


def parameter_shift_gradient(f: Callable[[np.ndarray], float], angles) -> np.ndarray:
    """[f(θ + π/2·e_k) − f(θ − π/2·e_k)]/2 for every angle: 2P evaluations of ``f``, exact when
    f is an expectation value (every gate is exp(−iθP/2) with P² = 1)."""
    a = _angles(angles)
    grad = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[k] += np.pi / 2
        down[k] -= np.pi / 2
        grad[k] = (f(up) - f(down)) / 2
    return grad


def hea_resources(n_qubits: int, layers: int) -> Resources:
    """Closed-form cost of the HEA as ``hea_circuit`` builds it.

    CZ count as CNOT equivalents: L(q − 1). Rotations: 2q(L + 1) (every angle counted, an upper
    bound on ``count_resources``, which skips Clifford angles). Depth in moments: 2 per rotation
    layer, and per CZ line 1 (q = 2) or 2 (q ≥ 3: even pairs, then odd pairs).
    """
    if n_qubits < 1 or layers < 0:
        raise ValueError(f"HEA needs n_qubits >= 1 and layers >= 0, got {n_qubits}, {layers}")
    rot = 2 * n_qubits * (layers + 1)
    chain_depth = min(n_qubits - 1, 2)
    return Resources(qubits=n_qubits, cnots=layers * (n_qubits - 1), rotations=rot,
                     depth=2 * (layers + 1) + layers * chain_depth, single_qubit=rot)


def hea_circuit(angles, qubits=None, *, global_phase: float = 0.0):
    """The HEA as a ``cirq.Circuit`` with float angles, moment by moment (see ``hea_resources``);
    ``global_phase`` (radians) multiplies it by e^{i·global_phase}, e.g. ``Fit.phase``."""
    import cirq

    a = _angles(angles)
    q = a.shape[1]
    qubits = list(cirq.LineQubit.range(q) if qubits is None else qubits)
    if len(qubits) != q:
        raise ValueError(f"angles are for {q} qubits, got {len(qubits)} qubits")
    moments = []
    for layer in range(a.shape[0]):
        if layer:
            for start in (0, 1):
                pairs = [cirq.CZ(qubits[j], qubits[j + 1]) for j in range(start, q - 1, 2)]
                if pairs:
                    moments.append(cirq.Moment(pairs))
        moments.append(cirq.Moment(cirq.ry(float(t)).on(u) for t, u in zip(a[layer, :, 0], qubits)))
        moments.append(cirq.Moment(cirq.rz(float(t)).on(u) for t, u in zip(a[layer, :, 1], qubits)))
    if global_phase:
        moments[-1] = moments[-1].with_operation(cirq.global_phase_operation(
            complex(np.exp(1j * global_phase))))
    return cirq.Circuit(moments)


def state_layers(n_qubits: int) -> int:
    """L* = ⌈D/2n⌉ − 1 with D = 2^{n+1} − 2 (a state up to its phase): the fewest layers whose
    P = 2n(L + 1) angles can reach every state of n qubits (LOWERINGS §7)."""
    if n_qubits < 1:
        raise ValueError(f"state_layers: needs n_qubits >= 1, got {n_qubits}")
    return max(0, -(-((1 << (n_qubits + 1)) - 2) // (2 * n_qubits)) - 1)


def prep_circuit(n_qubits: int, layers: int, qubits=None, *, prefix: str = "theta"):
    """The variational state preparation with symbolic angles: ``(circuit, qubits, symbols)``.

    ``symbols[0]`` is an Rz on ``qubits[0]`` while it is still |0⟩ (Rz(θ)|0⟩ = e^{−iθ/2}|0⟩: the
    fit's global phase, which a read-out of real amplitudes needs, for one rotation and no
    entangler), then the HEA of ``hea_circuit`` whose angle ``angles[l, j, k]`` is
    ``symbols[1 + 2(l·n + j) + k]`` (``angles.ravel()`` order): ``prep_angles`` gives the values.
    """
    import cirq
    import sympy

    if n_qubits < 1 or layers < 0:
        raise ValueError(f"prep_circuit: needs n_qubits >= 1 and layers >= 0, got {n_qubits}, "
                         f"{layers}")
    qubits = list(cirq.LineQubit.range(n_qubits) if qubits is None else qubits)
    if len(qubits) != n_qubits:
        raise ValueError(f"prep_circuit: {n_qubits} qubits, got {len(qubits)}")
    syms = [sympy.Symbol(f"{prefix}_{i}") for i in range(1 + 2 * n_qubits * (layers + 1))]
    grid = np.array(syms[1:], dtype=object).reshape(layers + 1, n_qubits, 2)
    moments = [cirq.Moment([cirq.rz(syms[0]).on(qubits[0])])]
    for layer in range(layers + 1):
        if layer:
            for start in (0, 1):
                pairs = [cirq.CZ(qubits[j], qubits[j + 1]) for j in range(start, n_qubits - 1, 2)]
                if pairs:
                    moments.append(cirq.Moment(pairs))
        moments.append(cirq.Moment(cirq.ry(t).on(u) for t, u in zip(grid[layer, :, 0], qubits)))
        moments.append(cirq.Moment(cirq.rz(t).on(u) for t, u in zip(grid[layer, :, 1], qubits)))
    return cirq.Circuit(moments), tuple(qubits), tuple(syms)


def prep_resources(n_qubits: int, layers: int) -> Resources:
    """``prep_circuit``'s cost: the HEA's (``hea_resources``) plus the phase rotation."""
    r = hea_resources(n_qubits, layers)
    return Resources(qubits=r.qubits, cnots=r.cnots, rotations=r.rotations + 1,
                     depth=r.depth + 1, single_qubit=r.single_qubit + 1)


def prep_apply(params, n_qubits: int) -> np.ndarray:
    """The states ``prep_circuit`` prepares from |0…0⟩ for each row of ``params``
    (``[..., 1 + P]``): ``[..., 2^n]`` complex128."""
    p = np.asarray(params, dtype=np.float64)
    lead = p.shape[:-1]
    rows = p.reshape(-1, p.shape[-1])
    layers = (rows.shape[1] - 1) // (2 * n_qubits) - 1
    out = np.empty((rows.shape[0], 1 << n_qubits), dtype=np.complex128)
    zero = np.zeros((1, 1 << n_qubits), dtype=np.complex128)
    zero[0, 0] = 1.0
    for i, r in enumerate(rows):
        a = r[1:].reshape(layers + 1, n_qubits, 2)
        out[i] = hea_apply(a, zero)[0] * np.exp(-0.5j * r[0])
    return out.reshape(*lead, 1 << n_qubits)


def prep_angles(x, layers: int, *, n_starts: int = 4, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``prep_circuit`` to every row of ``x`` (``[..., N]``, real or complex; zero-padded to
    2^n, n = max(1, ⌈log₂ N⌉)): ``(params [..., 1 + P], fidelity [...])``.

    Each row's target is x̂ = x/‖x‖; ``fit(StatePrep(x̂), layers)`` (L-BFGS, adjoint gradients,
    up to ``n_starts`` seeded starts) gives the HEA angles and the phase φ with
    e^{iφ}U|0⟩ ≈ x̂, so ``params = [−2φ, angles.ravel()]`` and the circuit prepares
    e^{iφ}U|0⟩ itself; ``fidelity`` = |⟨x̂|U|0⟩|² (the state error is √(2 − 2√F)). A zero row
    gets zero angles (the state |0⟩: its scale ‖x‖ = 0 makes the result exact) and fidelity 1;
    repeated rows are fitted once. Deterministic for given arguments.
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"prep_angles: x must have a last axis, got shape {x.shape}")
    n = max(1, (x.shape[-1] - 1).bit_length())
    lead = x.shape[:-1]
    rows = x.reshape(-1, x.shape[-1])
    width = 1 + 2 * n * (layers + 1)
    params = np.zeros((rows.shape[0], width))
    fid = np.ones(rows.shape[0])
    done: dict[bytes, int] = {}
    for i, row in enumerate(rows):
        key = row.tobytes()
        if key in done:
            params[i], fid[i] = params[done[key]], fid[done[key]]
            continue
        done[key] = i
        if not np.any(row):
            continue
        t = np.zeros(1 << n, dtype=complex)
        t[: row.shape[0]] = row
        f = fit(StatePrep(t), layers, seed=seed, n_starts=n_starts)
        params[i, 0] = -2.0 * f.phase
        params[i, 1:] = f.angles.ravel()
        fid[i] = f.fidelity
    return params.reshape(*lead, width), fid.reshape(lead)


@dataclass(frozen=True, eq=False)
class StatePrep:
    """Prepare ``target`` (normalised here) from |0…0⟩."""

    target: np.ndarray

    def __post_init__(self):
        t = np.asarray(self.target, dtype=complex).ravel()
        n = t.shape[0]
        if n < 2 or n & (n - 1):
            raise ValueError(f"StatePrep: target length must be a power of two >= 2, got {n}")
        norm = np.linalg.norm(t)
        if norm == 0:
            raise ValueError("StatePrep: target is the zero vector")
        object.__setattr__(self, "target", t / norm)

    @property
    def n_qubits(self) -> int:
        return self.target.shape[0].bit_length() - 1

    def initial_states(self) -> np.ndarray:
        x = np.zeros((1, self.target.shape[0]), dtype=complex)
        x[0, 0] = 1.0
        return x

    def objective(self, psi: np.ndarray) -> tuple[float, np.ndarray]:
        o = np.vdot(self.target, psi[0])
        return 1.0 - abs(o) ** 2, -o * self.target[None, :]

    def summary(self, psi: np.ndarray) -> tuple[float, float, float, float]:
        """(fidelity, phase, scale, error) of the outputs ``psi``."""
        o = np.vdot(self.target, psi[0])
        fid = min(abs(o) ** 2, 1.0)
        return fid, float(-np.angle(o)), 1.0, math.sqrt(max(2.0 - 2.0 * math.sqrt(fid), 0.0))


@dataclass(frozen=True, eq=False)
class LayerMap:
    """Fit ⟨0_f|U|0_f⟩ ≈ W/α on unit-norm inputs (see the module docstring).

    Args:
        weight: W, M×N. Data qubits n = ⌈log₂ max(M, N)⌉ (at least 1), zero-padded.
        inputs: calibration rows x_b [B, N] (normalised here); None: the N basis vectors.
        n_flags: flag qubits f (q[0 … f−1]); 0 makes U itself the fitted map.
        alpha: the nominal scale; None: ‖W‖₂, the smallest α a block encoding can have.
    """

    weight: np.ndarray
    inputs: np.ndarray | None = None
    n_flags: int = 1
    alpha: float | None = None
    n_data: int = field(init=False)
    _x: np.ndarray = field(init=False, repr=False)
    _y: np.ndarray = field(init=False, repr=False)

    @classmethod
    def unitary(cls, v) -> LayerMap:
        """U ≈ V up to a global phase: F = |Tr V†U|²/d²."""
        return cls(v, None, n_flags=0, alpha=1.0)

    def __post_init__(self):
        w = np.asarray(self.weight)
        if w.ndim != 2 or w.size == 0:
            raise ValueError(f"LayerMap: weight must be a non-empty matrix, got shape {w.shape}")
        if self.n_flags < 0:
            raise ValueError(f"LayerMap: n_flags must be >= 0, got {self.n_flags}")
        m, n_in = w.shape
        x = np.eye(n_in) if self.inputs is None else np.asarray(self.inputs)
        if x.ndim != 2 or x.shape[1] != n_in or x.shape[0] == 0:
            raise ValueError(f"LayerMap: inputs must have shape [B, {n_in}], got {x.shape}")
        norms = np.linalg.norm(x, axis=1)
        if np.any(norms == 0):
            raise ValueError(f"LayerMap: input row {int(np.argmin(norms))} is zero")
        x = x / norms[:, None]
        y = x @ w.T
        if not np.any(y):
            raise ValueError("LayerMap: W maps every input to zero")
        alpha = float(np.linalg.norm(w, 2)) if self.alpha is None else float(self.alpha)
        if not alpha > 0:
            raise ValueError(f"LayerMap: alpha must be > 0, got {self.alpha}")
        n = max(1, (max(m, n_in) - 1).bit_length())
        xs = np.zeros((x.shape[0], 1 << (n + self.n_flags)), dtype=complex)
        xs[:, :n_in] = x
        ys = np.zeros((x.shape[0], 1 << n), dtype=complex)
        ys[:, :m] = y
        for name, value in (("weight", w), ("alpha", alpha), ("n_data", n), ("_x", xs),
                            ("_y", ys)):
            object.__setattr__(self, name, value)

    @property
    def n_qubits(self) -> int:
        return self.n_data + self.n_flags

    def initial_states(self) -> np.ndarray:
        """|0_f⟩|x̂_b⟩ for every input row: [B, 2^q]."""
        return self._x

    def _parts(self, psi):
        a = psi[:, : self._y.shape[1]]
        s = np.vdot(self._y, a)  # ⟨Y, A⟩
        return a, s, np.vdot(a, a).real, np.vdot(self._y, self._y).real

    def objective(self, psi: np.ndarray) -> tuple[float, np.ndarray]:
        a, s, aa, yy = self._parts(psi)
        al = self.alpha
        u = s / abs(s) if s != 0 else 1.0
        cost = (aa + yy / al**2 - 2 * abs(s) / al) / (yy / al**2)
        g = np.zeros_like(psi)
        g[:, : a.shape[1]] = (a - u * self._y / al) / (yy / al**2)
        return float(cost), g

    def summary(self, psi: np.ndarray) -> tuple[float, float, float, float]:
        """(fidelity, phase, scale, error): Y ≈ scale·e^{i·phase}·A, error = √(1 − F)."""
        a, s, aa, yy = self._parts(psi)
        if aa == 0:
            return 0.0, 0.0, math.inf, 1.0
        fid = min(abs(s) ** 2 / (aa * yy), 1.0)
        k = np.conj(s) / aa  # ⟨A, Y⟩/‖A‖²
        return fid, float(np.angle(k)), float(abs(k)), math.sqrt(1.0 - fid)


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted HEA: ``angles`` (L + 1, q, 2) and what it achieves (see the module docstring)."""

    angles: np.ndarray
    layers: int
    fidelity: float
    cost: float
    phase: float
    scale: float
    error: float
    starts: int
    evaluations: int
    seconds: float


def fit(problem, layers: int, *, seed: int = 0, n_starts: int = 4,
        stop_fidelity: float = 1.0 - 1e-10, maxiter: int = 5000) -> Fit:
    """Fit an L-layer HEA to ``problem`` (``StatePrep`` or ``LayerMap``) by L-BFGS.

    Starts: angles uniform in [0, 2π) from ``np.random.default_rng([seed, layers])``, run one
    after another until one reaches ``stop_fidelity`` or ``n_starts`` have run; the start of
    least cost is returned. The same arguments give the same result. Runs with one BLAS thread:
    the arrays are tiny, and a second thread only waits for a core (10× slower on a busy one).
    """
    if layers < 0 or n_starts < 1:
        raise ValueError(f"fit: needs layers >= 0 and n_starts >= 1, got {layers}, {n_starts}")
    shape = (layers + 1, problem.n_qubits, 2)
    x0s = problem.initial_states()
    rng = np.random.default_rng([seed, layers])
    evals = 0

    def fun(flat):
        nonlocal evals
        evals += 1
        a = flat.reshape(shape)
        psi = hea_apply(a, x0s)
        cost, cot = problem.objective(psi)
        return cost, hea_gradient(a, psi, cot).ravel()

    t0 = time.perf_counter()
    best, starts = None, 0
    with threadpool_limits(limits=1, user_api="blas"):
        while starts < n_starts and (best is None or best[2][0] < stop_fidelity):
            starts += 1
            res = minimize(fun, rng.uniform(0.0, 2 * np.pi, math.prod(shape)), jac=True,
                           method="L-BFGS-B", options={"maxiter": maxiter, "maxcor": 30,
                                                       "ftol": 1e-13, "gtol": 1e-9})
            if best is None or res.fun < best[0]:
                angles = res.x.reshape(shape)
                best = (float(res.fun), angles, problem.summary(hea_apply(angles, x0s)))
    cost, angles, (fid, phase, scale, err) = best
    return Fit(angles=angles, layers=layers, fidelity=fid, cost=cost, phase=phase, scale=scale,
               error=err, starts=starts, evaluations=evals, seconds=time.perf_counter() - t0)


def choose_layers(problem, *, min_fidelity: float, max_layers: int, min_layers: int = 1,
                  seed: int = 0, n_starts: int = 4) -> tuple[np.ndarray, int, float, list[Fit]]:
    """Fit L = min_layers, min_layers + 1, … until the fidelity reaches ``min_fidelity``.

    Returns ``(angles, L, fidelity, history)``, history the ``Fit`` of every L tried. Raises
    ValueError naming the best fidelity reached when no L ≤ ``max_layers`` reaches it.
    """
    if not 0 <= min_layers <= max_layers:
        raise ValueError(f"choose_layers: needs 0 <= min_layers <= max_layers, got "
                         f"{min_layers}, {max_layers}")
    history = []
    for layers in range(min_layers, max_layers + 1):
        f = fit(problem, layers, seed=seed, n_starts=n_starts, stop_fidelity=min_fidelity)
        history.append(f)
        if f.fidelity >= min_fidelity:
            return f.angles, layers, f.fidelity, history
    top = max(history, key=lambda h: h.fidelity)
    raise ValueError(f"choose_layers: fidelity {min_fidelity} not reached with L <= {max_layers} "
                     f"layers; best {top.fidelity:.6f} at L = {top.layers}")
