"""QAOA for binary weights [Farhi–Goldstone–Gutmann 2014; LOWERINGS §7]: one output row
``w ∈ {±1}^N`` of a linear layer chosen to minimise ``C(w) = ‖X w − t‖²`` over the data.

Ising form (``Q = XᵀX``, ``h = Xᵀt``, ``w_j = ±1`` the eigenvalue of ``Z_j``)::

    C = Tr Q + ‖t‖² + Σ_{j<k} 2 Q_jk Z_j Z_k − 2 Σ_j h_j Z_j

Bit ``b_j = 0`` of a basis state (``Z_j = +1``) is ``w_j = +1``, ``b_j = 1`` is ``w_j = −1``;
qubit ``j`` holds weight ``j`` and is bit ``N−1−j`` of a state-vector index (Cirq's order,
qubit 0 most significant). ``Tr Q + ‖t‖²`` is the mean of ``C`` over uniformly random ``w``
and ``σ = (Σ_{j<k} J_jk² + Σ_j g_j²)^½`` its standard deviation; the circuit applies
``e^{−iγ(C − mean)/σ}`` so that good ``γ`` are of order one whatever the data's scale.

Circuit: ``H^{⊗N}``, then per layer ``l``: ``e^{−iγ_l H_C}`` (an ``Rz`` per field, a
``CNOT·Rz·CNOT`` per coupling, couplings in round-robin order: ``N−1`` rounds of disjoint
pairs) and ``e^{−iβ_l ΣX}`` (``Rx(2β_l)`` on every qubit).

Optimiser: L-BFGS-B (scipy) with exact gradients, from the best point of an 8×8 grid at
``p = 1`` and, from ``p`` to ``p+1``, from the INTERP point of Zhou et al. (2020). The inner
loop simulates the same unitary in float64 numpy (the diagonal phase ``e^{−iγ(C − mean)/σ}`` and
``Rx(2β)`` on every qubit) and differentiates it by the adjoint method (one forward and one
backward sweep per gradient); qsim, single precision, would drown finite differences in
rounding. Every level's reported state, energy and probabilities are qsim's, of the circuit
:func:`qaoa_circuit` builds at the optimised angles (a test checks the two simulations agree).

Objectives (``objective=``), each a function of the measured distribution only (estimable from
samples on hardware; none uses the optimum):

- ``gibbs`` (default): ``−ln ⟨e^{−η (C − mean)/σ}⟩`` [Li et al. 2020, "Quantum optimization
  with a novel Gibbs objective function and ansatz architecture search"], ``η = 10``: low-cost
  rows weigh exponentially more, so the optimiser concentrates the state on the ground state
  instead of trading it for many near-optimal rows, as ``⟨C⟩`` does when the lowest costs lie
  within a fraction of σ of each other (random, unplanted targets).
- ``energy``: ``⟨C⟩`` (standard QAOA).
- ``cvar``: CVaR_α, the mean of the lowest α-fraction of the distribution [Barkoutsos et al.
  2020], ``α = 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cirq
import numpy as np
import qsimcirq
from scipy.optimize import minimize

from qlower.errors import QlowerError, UnsupportedError

MAX_WEIGHTS = 24  # the state vector and the cost diagonal each hold 2^N numbers
BRUTE_FORCE_LIMIT = 20  # rows of more weights get no exhaustive optimum
GRID = 8  # p = 1 starting grid: GRID × GRID points
MAXITER = 1000  # L-BFGS-B iterations per level
RESTARTS, KICK = 0, 0.2  # per level, extra starts: INTERP + KICK·N(0, 1) (seeded), best kept
OBJECTIVES = ("gibbs", "energy", "cvar")
DEFAULT_OBJECTIVE = "gibbs"
GIBBS_ETA = 10.0  # Gibbs inverse temperature, in units of 1/σ
CVAR_ALPHA = 0.5  # CVaR's tail fraction


def optimiser_name(restarts: int = RESTARTS) -> str:
    """The optimiser in words, for reports."""
    extra = (f", plus {restarts} seeded restarts (INTERP + {KICK}·N(0,1)) per level, best kept"
             if restarts else "")
    return (f"L-BFGS-B (scipy) with exact adjoint gradients (float64 state vector) from the best "
            f"of a {GRID}x{GRID} grid at p = 1 and INTERP (Zhou et al. 2020) from p to p+1"
            + extra)


OPTIMISER = optimiser_name()


def objective_name(objective: str = DEFAULT_OBJECTIVE, alpha: float = CVAR_ALPHA,
                   eta: float = GIBBS_ETA) -> str:
    """The objective in words, for reports."""
    if objective == "gibbs":
        return f"Gibbs -ln<exp(-eta (C - mean)/sigma)>, eta {eta:g} (Li et al. 2020)"
    if objective == "cvar":
        return f"CVaR_alpha, alpha {alpha:g} (Barkoutsos et al. 2020)"
    return "energy <C>"


# -- the cost -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ising:
    """``C(z) = offset + Σ_{j<k} couplings[j,k] z_j z_k + Σ_j fields[j] z_j``, ``z_j = ±1``."""

    offset: float
    couplings: np.ndarray  # [N, N], strictly upper triangular
    fields: np.ndarray  # [N]

    @property
    def n(self) -> int:
        return len(self.fields)

    @property
    def sigma(self) -> float:
        """The standard deviation of ``C`` over uniform ``z`` (1 for a constant cost)."""
        s = float(np.sqrt(np.sum(self.couplings ** 2) + np.sum(self.fields ** 2)))
        return s if s > 0 else 1.0

    def energies(self, z: np.ndarray) -> np.ndarray:
        """``C`` of spin vectors ``z`` (``[..., N]`` of ±1)."""
        z = np.asarray(z, np.float64)
        return self.offset + np.einsum("...j,jk,...k->...", z, self.couplings, z) + z @ self.fields

    def diagonal(self, chunk: int = 1 << 16) -> np.ndarray:
        """``C`` of every basis state, in state-vector order (``[2^N]``)."""
        size = 1 << self.n
        out = np.empty(size)
        for start in range(0, size, chunk):
            idx = np.arange(start, min(start + chunk, size))
            out[start:start + len(idx)] = self.energies(spins(idx, self.n))
        return out


def spins(indices: np.ndarray, n: int) -> np.ndarray:
    """The ±1 weights of basis-state indices (``[..., N]``): bit 0 is ``+1``."""
    bits = (np.asarray(indices)[..., None] >> np.arange(n - 1, -1, -1)) & 1
    return (1 - 2 * bits).astype(np.int8)


def ising_from_data(x: np.ndarray, t: np.ndarray) -> Ising:
    """The Ising form of ``‖x w − t‖²`` (``x [S, N]``, ``t [S]``)."""
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    q = x.T @ x
    return Ising(float(np.trace(q) + t @ t), 2 * np.triu(q, 1), -2 * (x.T @ t))


def cost(x: np.ndarray, t: np.ndarray, w: np.ndarray) -> float:
    """``‖x w − t‖²`` computed directly (float64)."""
    r = np.asarray(x, np.float64) @ np.asarray(w, np.float64) - np.asarray(t, np.float64)
    return float(r @ r)


# -- the circuit ----------------------------------------------------------------------------


def coupling_order(ising: Ising) -> list[tuple[int, int]]:
    """The nonzero couplings ``(j, k)``, ``j < k``, in round-robin rounds of disjoint pairs."""
    n = ising.n
    m = n + n % 2
    pairs = []
    for r in range(m - 1):
        rnd = [(r, m - 1)] + [((r + k) % (m - 1), (r - k) % (m - 1)) for k in range(1, m // 2)]
        pairs += [(min(a, b), max(a, b)) for a, b in rnd if max(a, b) < n]
    return [(j, k) for j, k in pairs if ising.couplings[j, k] != 0]


def qaoa_circuit(ising: Ising, gammas, betas, *, decompose: bool = True) -> cirq.Circuit:
    """The depth-``p`` QAOA circuit on ``cirq.LineQubit.range(N)`` (no measurements).

    decompose: each ``e^{−iθ Z_jZ_k/2}`` as ``CNOT·Rz(θ)·CNOT`` (what hardware and OpenQASM 3
        get, and what the counts count); False: as one ``cirq.ZZPowGate`` with global shift
        −½ (the same unitary exactly; fewer gates for qsim).
    """
    if len(gammas) != len(betas) or not len(gammas):
        raise ValueError("gammas and betas must be two lists of the same positive length")
    q = cirq.LineQubit.range(ising.n)
    s = ising.sigma
    order = coupling_order(ising)
    ops: list[cirq.Operation] = [cirq.H(x) for x in q]
    for gamma, beta in zip(map(float, gammas), map(float, betas)):
        ops += [cirq.rz(2 * gamma * g / s).on(q[j]) for j, g in enumerate(ising.fields) if g != 0]
        for j, k in order:
            theta = 2 * gamma * float(ising.couplings[j, k]) / s
            if decompose:
                ops += [cirq.CNOT(q[j], q[k]), cirq.rz(theta).on(q[k]), cirq.CNOT(q[j], q[k])]
            else:
                ops.append(cirq.ZZPowGate(exponent=theta / np.pi, global_shift=-0.5).on(q[j], q[k]))
        ops += [cirq.rx(2 * beta).on(x) for x in q]
    return cirq.Circuit(ops)


@dataclass(frozen=True)
class CircuitCounts:
    qubits: int
    cnots: int
    depth: int  # moments of the decomposed circuit (H, Rz, Rx, CNOT), measurements left out


def circuit_counts(ising: Ising, p: int) -> CircuitCounts:
    c = qaoa_circuit(ising, [0.1] * p, [0.1] * p)
    cnots = sum(1 for op in c.all_operations() if op.gate == cirq.CNOT)
    return CircuitCounts(ising.n, cnots, len(c))


_SIMULATOR = qsimcirq.QSimSimulator(qsim_options=qsimcirq.QSimOptions(cpu_threads=1))


def qaoa_state(ising: Ising, gammas, betas) -> np.ndarray:
    """The final state vector, simulated by qsim (complex64, Cirq's qubit order)."""
    c = qaoa_circuit(ising, gammas, betas, decompose=False)
    qubits = cirq.LineQubit.range(ising.n)
    return _SIMULATOR.simulate(c, qubit_order=qubits).final_state_vector


def probabilities(state: np.ndarray) -> np.ndarray:
    """``|ψ|²`` in float64, normalised (single-precision states drift from norm 1)."""
    p = np.abs(np.asarray(state, np.complex128)) ** 2
    return p / p.sum()


def qaoa_energy(ising: Ising, gammas, betas, diagonal: np.ndarray | None = None) -> float:
    """``⟨C⟩`` in the final state: ``Σ_i |ψ_i|² C_i`` from qsim's state vector."""
    d = ising.diagonal() if diagonal is None else diagonal
    return float(probabilities(qaoa_state(ising, gammas, betas)) @ d)


# -- optimisation ---------------------------------------------------------------------------


def interp(params: np.ndarray) -> np.ndarray:
    """INTERP [Zhou et al. 2020, eq. B1]: ``p`` angles to ``p+1``,
    ``x'_i = (i−1)/p x_{i−1} + (p−i+1)/p x_i`` (``i = 1…p+1``, ``x_0 = x_{p+1} = 0``)."""
    x = np.asarray(params, np.float64)
    p = len(x)
    padded = np.concatenate([[0.0], x, [0.0]])
    i = np.arange(1, p + 2)
    return (i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i]


@dataclass(frozen=True)
class Level:
    p: int
    gammas: tuple[float, ...]
    betas: tuple[float, ...]
    energy: float  # ⟨C⟩ at these angles, from qsim's state
    evaluations: int  # objective + gradient evaluations to reach them (cumulative over levels)
    objective: float = float("nan")  # the optimised objective at these angles (float64 numpy)


def _mixer(psi: np.ndarray, beta: float, n: int) -> np.ndarray:
    """``e^{−iβ ΣX} ψ``: ``Rx(2β)`` on every qubit of a state vector (float64 complex)."""
    c, s = np.cos(beta), -1j * np.sin(beta)
    for q in range(n):
        v = psi.reshape(1 << q, 2, -1)
        a, b = v[:, 0], v[:, 1]
        psi = np.stack((c * a + s * b, s * a + c * b), axis=1).reshape(-1)
    return psi


def _x_sum(psi: np.ndarray, n: int) -> np.ndarray:
    """``ΣX ψ``."""
    out = np.zeros_like(psi)
    for q in range(n):
        out += psi.reshape(1 << q, 2, -1)[:, ::-1].reshape(-1)
    return out


def numpy_state(ising: Ising, gammas, betas, diagonal: np.ndarray | None = None) -> np.ndarray:
    """The final state in float64 numpy (the same unitary as :func:`qaoa_circuit`, exactly)."""
    d = ising.diagonal() if diagonal is None else diagonal
    h = (d - ising.offset) / ising.sigma
    psi = np.full(d.size, d.size ** -0.5, np.complex128)
    for g, b in zip(map(float, gammas), map(float, betas)):
        psi = _mixer(np.exp(-1j * g * h) * psi, b, ising.n)
    return psi


def objective_of(probs: np.ndarray, diagonal: np.ndarray, ising: Ising, objective: str,
                 alpha: float = CVAR_ALPHA, eta: float = GIBBS_ETA,
                 order: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """The objective of a distribution and its derivative in each probability."""
    d = diagonal
    if objective == "energy":
        return float(probs @ d), d
    if objective == "gibbs":
        h = (d - ising.offset) / ising.sigma
        e = np.exp(-eta * (h - h.min()))  # shifted: the same optimiser, no underflow
        z = float(probs @ e)
        return -np.log(z) + eta * float(h.min()), -e / z
    if objective == "cvar":
        order = np.argsort(d, kind="stable") if order is None else order
        ps = probs[order]
        cum = np.cumsum(ps)
        k = min(int(np.searchsorted(cum, alpha)), d.size - 1)  # the state the tail ends in
        dk = d[order[k]]
        head = order[:k]
        value = (ps[:k] @ d[head] + (alpha - (cum[k - 1] if k else 0.0)) * dk) / alpha
        grad = np.zeros_like(d)
        grad[head] = (d[head] - dk) / alpha
        return float(value), grad
    raise ValueError(f"objective {objective!r}: one of {', '.join(OBJECTIVES)}")


def objective_and_gradient(ising: Ising, params: np.ndarray, diagonal: np.ndarray,
                           objective: str = DEFAULT_OBJECTIVE, alpha: float = CVAR_ALPHA,
                           eta: float = GIBBS_ETA, order: np.ndarray | None = None):
    """The objective at ``params = (γ_1…γ_p, β_1…β_p)`` and its exact gradient (adjoint
    method: ``∂f/∂θ = 2 Re ⟨λ|−iG|φ⟩`` at each layer, ``G`` the layer's generator, ``λ`` the
    back-propagated ``∂f/∂ψ*``)."""
    n = ising.n
    p = len(params) // 2
    gammas, betas = params[:p], params[p:]
    h = (diagonal - ising.offset) / ising.sigma
    psi = numpy_state(ising, gammas, betas, diagonal)
    value, dp = objective_of(np.abs(psi) ** 2, diagonal, ising, objective, alpha, eta, order)
    lam, phi = dp * psi, psi
    grad = np.zeros(2 * p)
    for layer in reversed(range(p)):
        grad[p + layer] = 2 * np.real(np.vdot(lam, -1j * _x_sum(phi, n)))
        lam, phi = _mixer(lam, -betas[layer], n), _mixer(phi, -betas[layer], n)
        grad[layer] = 2 * np.real(np.vdot(lam, -1j * h * phi))
        back = np.exp(1j * gammas[layer] * h)
        lam, phi = back * lam, back * phi
    return value, grad


def optimise(ising: Ising, p: int, diagonal: np.ndarray | None = None,
             objective: str = DEFAULT_OBJECTIVE, alpha: float = CVAR_ALPHA,
             eta: float = GIBBS_ETA, restarts: int = RESTARTS) -> list[Level]:
    """Optimised angles for depths ``1…p`` (each level starts from the one below: from the
    INTERP point and ``restarts`` seeded perturbations of it; the lowest objective is kept)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r}: one of {', '.join(OBJECTIVES)}")
    d = ising.diagonal() if diagonal is None else diagonal
    order = np.argsort(d, kind="stable")
    count = [0]

    def f(x: np.ndarray):
        count[0] += 1
        return objective_and_gradient(ising, np.asarray(x, np.float64), d, objective, alpha,
                                      eta, order)

    # gamma > 0 only: (gamma, beta) and (-gamma, -beta) give the same distribution (real C).
    grid = [(g, b) for g in np.pi * np.arange(1, GRID + 1) / (GRID + 1)
            for b in -np.pi / 2 + np.pi * np.arange(GRID) / GRID]
    x = np.array(min(grid, key=lambda gb: f(np.array(gb))[0]))
    levels: list[Level] = []
    for level in range(1, p + 1):
        if level > 1:
            x = np.concatenate([interp(x[:level - 1]), interp(x[level - 1:])])
        rng = np.random.default_rng([level, 2 * level])  # deterministic per level
        starts = [x] + [x + KICK * rng.standard_normal(x.size) for _ in range(restarts)]
        r = min((minimize(f, s, jac=True, method="L-BFGS-B", options={"maxiter": MAXITER})
                 for s in starts), key=lambda res: res.fun)
        x = np.asarray(r.x, np.float64)
        gammas, betas = tuple(map(float, x[:level])), tuple(map(float, x[level:]))
        levels.append(Level(level, gammas, betas, qaoa_energy(ising, gammas, betas, d), count[0],
                            float(r.fun)))
    return levels


# -- read-out -------------------------------------------------------------------------------


def sample(probs: np.ndarray, shots: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """``shots`` measurements of a state with these probabilities: (indices seen, counts)."""
    counts = np.random.default_rng(seed).multinomial(shots, probs)
    seen = np.flatnonzero(counts)
    return seen, counts[seen]


@dataclass(frozen=True)
class BruteForce:
    weights: np.ndarray  # an optimal w (the lowest index among ties)
    c_min: float
    c_max: float
    optimal: np.ndarray  # indices of every optimal basis state


def brute_force(ising: Ising, diagonal: np.ndarray | None = None,
                limit: int = BRUTE_FORCE_LIMIT) -> BruteForce | None:
    """The exact optimum over all ``2^N`` rows (None beyond ``limit`` weights).

    Costs within ``1e-9·(C_max − C_min)`` of ``C_min`` count as optimal (ties come from
    degenerate data: a zero column leaves its weight free)."""
    if ising.n > limit:
        return None
    d = ising.diagonal() if diagonal is None else diagonal
    lo, hi = float(d.min()), float(d.max())
    optimal = np.flatnonzero(d <= lo + 1e-9 * (hi - lo))
    return BruteForce(spins(optimal[0], ising.n), lo, hi, optimal)


@dataclass(frozen=True)
class RowResult:
    weights: np.ndarray  # the best sampled row, ±1 (int8)
    best_cost: float  # its ‖X w − t‖²
    expected_cost: float  # ⟨C⟩ in the final state
    optimum: BruteForce | None
    approximation_ratio: float | None  # (C_max − ⟨C⟩)/(C_max − C_min)
    p_optimal: float | None  # probability of the optimal rows in the final state
    found_optimum: bool | None  # whether the best sample is an optimal row
    levels: list[Level] = field(repr=False)
    counts: CircuitCounts
    shots: int
    distinct: int  # distinct rows among the samples


def solve_row(x: np.ndarray, t: np.ndarray, p: int, shots: int, seed,
              objective: str = DEFAULT_OBJECTIVE, alpha: float = CVAR_ALPHA,
              eta: float = GIBBS_ETA) -> RowResult:
    """QAOA of depth ``p`` for one row: optimise on qsim, sample, keep the best sample."""
    ising = ising_from_data(x, t)
    if ising.n > MAX_WEIGHTS:
        raise UnsupportedError(f"rows of {ising.n} weights: qaoa simulates at most {MAX_WEIGHTS} "
                               "(the state vector holds 2^N amplitudes)")
    d = ising.diagonal()
    levels = optimise(ising, p, d, objective, alpha, eta)
    probs = probabilities(qaoa_state(ising, levels[-1].gammas, levels[-1].betas))
    seen, _ = sample(probs, shots, seed)
    best = int(seen[np.argmin(d[seen])])  # lowest cost; lowest index among equal costs
    w = spins(best, ising.n)
    expected = float(probs @ d)
    opt = brute_force(ising, d)
    ratio = p_opt = found = None
    if opt is not None:
        found = bool(np.isin(best, opt.optimal))
        ratio = 1.0 if opt.c_max == opt.c_min else (opt.c_max - expected) / (opt.c_max - opt.c_min)
        p_opt = float(probs[opt.optimal].sum())
    return RowResult(w, cost(x, t, w), expected, opt, ratio, p_opt, found, levels,
                     circuit_counts(ising, p), shots, len(seen))


# -- the ONNX layer -------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearLayer:
    """A Gemm or MatMul node ``y = alpha · x Wᵀ + bias`` with constant weights."""

    node: str
    op: str
    weight: str  # the tensor's name
    transposed: bool  # stored as [M, N] (Gemm transB=1) rather than [N, M]
    weights: np.ndarray  # W [M, N], float64
    alpha: float
    bias: np.ndarray  # [M], float64 (zeros when the node has none)


def _constants(model) -> dict[str, object]:
    """Constant tensors by name: initializers and Constant nodes' ``value``."""
    out: dict[str, object] = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = a.t
    return out


def find_linear(model, name: str) -> LinearLayer:
    """The Gemm or MatMul node ``name`` of an ONNX model, its weights and bias."""
    from onnx import helper, numpy_helper

    g = model.graph
    nodes = [n for n in g.node if n.name == name]
    linear = [n.name for n in g.node if n.op_type in ("Gemm", "MatMul") and n.name]
    if not nodes:
        raise QlowerError(f"no node named '{name}' (Gemm and MatMul nodes: "
                          f"{', '.join(repr(n) for n in linear) or 'none'})")
    node = nodes[0]
    if node.op_type not in ("Gemm", "MatMul") or node.domain not in ("", "ai.onnx"):
        raise UnsupportedError(f"node '{name}' is {node.op_type}; qaoa binarises the weights of "
                               "Gemm and MatMul nodes")
    consts = _constants(model)
    wname = node.input[1]
    if wname not in consts:
        raise UnsupportedError(f"node '{name}' ({node.op_type}): its weights '{wname}' are not a "
                               "constant (an initializer or a Constant node)")
    users = [n.name or n.op_type for n in g.node if wname in n.input and n is not node]
    if users or list(node.input).count(wname) > 1 or wname in [o.name for o in g.output]:
        raise UnsupportedError(f"node '{name}' ({node.op_type}): its weights '{wname}' are used "
                               "elsewhere too; binarising them would change the other uses")
    stored = numpy_helper.to_array(consts[wname])
    if stored.dtype.kind not in "fi" or stored.ndim not in (1, 2) or stored.size == 0:
        raise UnsupportedError(f"node '{name}' ({node.op_type}): weights '{wname}' of shape "
                               f"{list(stored.shape)} and type {stored.dtype}; qaoa takes a "
                               "non-empty matrix of a signed type")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    transposed = node.op_type == "Gemm" and bool(attrs.get("transB", 0))
    if stored.ndim == 1:
        if node.op_type == "Gemm":
            raise UnsupportedError(f"node '{name}' (Gemm): weights '{wname}' are not a matrix")
        w = stored[None, :]
    else:
        w = stored if transposed else stored.T
    w = w.astype(np.float64)
    m = w.shape[0]
    alpha, bias = 1.0, np.zeros(m)
    if node.op_type == "Gemm":
        alpha = float(attrs.get("alpha", 1.0))
        if len(node.input) > 2 and node.input[2]:
            if node.input[2] not in consts:
                raise UnsupportedError(f"node '{name}' (Gemm): its bias '{node.input[2]}' is not "
                                       "a constant")
            c = numpy_helper.to_array(consts[node.input[2]]).astype(np.float64)
            if c.size not in (1, m) or (c.ndim == 2 and c.shape[0] != 1):
                raise UnsupportedError(f"node '{name}' (Gemm): bias of shape {list(c.shape)}; "
                                       f"qaoa takes one bias per output ([{m}] or a scalar)")
            bias = float(attrs.get("beta", 1.0)) * np.broadcast_to(c.reshape(-1), (m,))
    return LinearLayer(name, node.op_type, wname, transposed, w, alpha, np.array(bias))


def row_problems(layer: LinearLayer, x: np.ndarray, t: np.ndarray):
    """Each output row's ``(X', t')``: ``‖alpha·X w + bias_r − t_r‖² = ‖X' w − t'‖²`` with
    ``X' = alpha·X``, ``t' = t_r − bias_r`` (``x [S, N]``, ``t [S, M]``)."""
    xa = layer.alpha * np.asarray(x, np.float64)
    return [(xa, np.asarray(t, np.float64)[:, r] - layer.bias[r])
            for r in range(layer.weights.shape[0])]


def solve_layer(layer: LinearLayer, x: np.ndarray, t: np.ndarray, p: int, shots: int,
                seed: int, objective: str = DEFAULT_OBJECTIVE, alpha: float = CVAR_ALPHA,
                eta: float = GIBBS_ETA) -> list[RowResult]:
    """:func:`solve_row` for every output row; row ``r`` samples with seed ``[seed, r]``."""
    return [solve_row(xr, tr, p, shots, [seed, r], objective, alpha, eta)
            for r, (xr, tr) in enumerate(row_problems(layer, x, t))]


def binarise_model(model, layer: LinearLayer, rows: np.ndarray):
    """A copy of ``model`` with ``layer``'s weight rows set to ``rows`` (``[M, N]`` of ±1,
    stored exactly, in the weights' own type and layout; no scale, bias and alpha kept)."""
    import onnx
    from onnx import numpy_helper

    rows = np.asarray(rows)
    if rows.shape != layer.weights.shape or not np.all(np.abs(rows) == 1):
        raise ValueError(f"rows must be ±1 of shape {list(layer.weights.shape)}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    tensor = _constants(out)[layer.weight]
    stored = numpy_helper.to_array(tensor)
    new = rows if layer.transposed else rows.T
    new = np.ascontiguousarray(new.reshape(stored.shape).astype(stored.dtype))
    tensor.CopyFrom(numpy_helper.from_array(new, tensor.name))
    return out
