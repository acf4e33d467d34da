"""qlower.qaoa against independent references: the cost by enumeration with numpy, the circuit's
state by a dense numpy construction of e^{-iβB} e^{-iγC} ... |+>, the objectives from their
definitions and their adjoint gradients by central differences, the optimum by itertools, and
the QAOA acceptance criterion (P(optimal) grows with p, above 0.5 at p = 8) measured."""

from __future__ import annotations

import itertools

import cirq
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from util import make_model

from qlower import qaoa
from qlower.errors import QlowerError


def instance(seed: int, n: int = 8, samples: int = 12, noise: float = 0.5):
    """A noisy ±1 layer: X ~ N(0, 1) [samples, n], t = X w* + noise·N(0, 1), w* uniform ±1."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, n))
    return x, x @ rng.choice([-1.0, 1.0], n) + noise * rng.standard_normal(samples)


def enumerated_costs(x, t) -> np.ndarray:
    """||x w - t||^2 for every w in itertools order ((1, ..., 1), (1, ..., -1), ...)."""
    ws = np.array(list(itertools.product((1.0, -1.0), repeat=x.shape[1])))
    return np.sum((ws @ x.T - t) ** 2, axis=1)


# -- the cost -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(1, 11))
def test_ising_energy_is_the_squared_error_for_every_row(n):
    x, t = instance(n, n=n, samples=n + 3)
    ising = qaoa.ising_from_data(x, t)
    want = enumerated_costs(x, t)
    scale = np.max(want)
    # the state-vector order: qubit 0 (weight 0) most significant, bit 0 <-> w = +1 (Z = +1)
    assert np.max(np.abs(ising.diagonal() - want)) <= 1e-12 * scale
    # the formula as written: Tr Q + |t|^2 + sum_{j<k} 2 Q_jk z_j z_k - 2 sum_j h_j z_j
    q, hv = x.T @ x, x.T @ t
    ws = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    formula = (np.trace(q) + t @ t - 2 * ws @ hv
               + sum(2 * q[j, k] * ws[:, j] * ws[:, k] for j in range(n) for k in range(j + 1, n)))
    assert np.max(np.abs(formula - want)) <= 1e-12 * scale
    # the offset is C's mean over uniform rows, sigma its standard deviation
    assert ising.offset == pytest.approx(np.mean(want), rel=1e-12)
    if n > 1 or np.any(ising.fields):
        assert ising.sigma == pytest.approx(np.std(want), rel=1e-10)


def test_spins_and_cost():
    assert qaoa.spins(np.array([0, 1, 6]), 3).tolist() == [[1, 1, 1], [1, 1, -1], [-1, -1, 1]]
    x, t = instance(0, n=4, samples=5)
    w = np.array([1, -1, -1, 1])
    assert qaoa.cost(x, t, w) == pytest.approx(float(np.sum((x @ w - t) ** 2)), rel=1e-15)


# -- the circuit ----------------------------------------------------------------------------


def numpy_qaoa_state(x, t, gammas, betas) -> np.ndarray:
    """e^{-iβ_p B} e^{-iγ_p H} ... |+>^n, H = (C - mean C)/std C, B = sum_j X_j, densely."""
    c = enumerated_costs(x, t)
    hc = (c - c.mean()) / c.std()
    n = x.shape[1]
    psi = np.full(2 ** n, 2 ** (-n / 2), np.complex128)
    for g, b in zip(gammas, betas):
        psi = np.exp(-1j * g * hc) * psi
        rx = np.array([[np.cos(b), -1j * np.sin(b)], [-1j * np.sin(b), np.cos(b)]])
        mixer = np.ones((1, 1))
        for _ in range(n):
            mixer = np.kron(mixer, rx)
        psi = mixer @ psi
    return psi


@pytest.mark.parametrize("n, p", [(2, 1), (5, 3), (6, 2)])
def test_circuit_state_matches_numpy(n, p):
    x, t = instance(10 + n, n=n, samples=7)
    rng = np.random.default_rng(n)
    gammas, betas = rng.uniform(-1, 1, p), rng.uniform(-1, 1, p)
    ising = qaoa.ising_from_data(x, t)
    want = numpy_qaoa_state(x, t, gammas, betas)
    sim = cirq.Simulator(dtype=np.complex128)
    qubits = cirq.LineQubit.range(n)
    for decompose in (True, False):
        c = qaoa.qaoa_circuit(ising, gammas, betas, decompose=decompose)
        got = sim.simulate(c, qubit_order=qubits).final_state_vector
        assert np.max(np.abs(got - want)) <= 1e-10  # the global phase included
    got = qaoa.qaoa_state(ising, gammas, betas)  # qsim, single precision
    assert np.max(np.abs(got - want)) <= 2e-6
    energy = float(np.abs(want) ** 2 @ enumerated_costs(x, t))
    assert qaoa.qaoa_energy(ising, gammas, betas) == pytest.approx(energy, rel=1e-5)


@pytest.mark.parametrize("n", [2, 3, 4, 7, 8])
def test_couplings_in_rounds_and_counts(n):
    x, t = instance(n, n=n, samples=9)
    ising = qaoa.ising_from_data(x, t)
    order = qaoa.coupling_order(ising)
    assert sorted(order) == [(j, k) for j in range(n) for k in range(j + 1, n)]
    m = n + n % 2  # rounds of disjoint pairs: m - 1 rounds of at most m/2 pairs
    rounds = [order[i:i + m // 2] for i in range(0, len(order), m // 2)] if n % 2 == 0 else None
    if rounds:
        assert all(len({q for pair in r for q in pair}) == 2 * len(r) for r in rounds)
    for p in (1, 3):
        counts = qaoa.circuit_counts(ising, p)
        assert (counts.qubits, counts.cnots) == (n, n * (n - 1) * p)
        assert counts.depth == 1 + p * (3 * (m - 1) + 2)


def test_zero_couplings_have_no_gates():
    x = np.eye(4) * [1.0, 2.0, 3.0, 4.0]  # orthogonal columns: Q is diagonal
    ising = qaoa.ising_from_data(x, np.array([1.0, -1.0, 2.0, 0.5]))
    assert qaoa.coupling_order(ising) == []
    assert qaoa.circuit_counts(ising, 2) == qaoa.CircuitCounts(4, 0, 5)


def reference_objective(probs, c, objective, alpha=0.5, eta=10.0):
    """The objectives from their definitions: <C>; -ln <exp(-eta (C - mean)/std)>; the mean of
    the lowest alpha-fraction of the distribution (sorted costs, the boundary state split)."""
    if objective == "energy":
        return float(probs @ c)
    if objective == "gibbs":
        return float(-np.log(probs @ np.exp(-eta * (c - c.mean()) / c.std())))
    order = np.argsort(c)
    mass, total = 0.0, 0.0
    for i in order:
        take = min(probs[i], alpha - mass)
        total += take * c[i]
        mass += take
        if mass >= alpha:
            break
    return total / alpha


@pytest.mark.parametrize("objective", ["energy", "gibbs", "cvar"])
def test_objective_and_its_exact_gradient(objective):
    n, p = 6, 3
    x, t = instance(40, n=n, samples=8)
    ising = qaoa.ising_from_data(x, t)
    d = ising.diagonal()
    c = enumerated_costs(x, t)
    params = np.random.default_rng(1).uniform(-1, 1, 2 * p)

    def ref(z):  # the dense numpy state of this file, the objective from its definition
        psi = numpy_qaoa_state(x, t, z[:p], z[p:])
        return reference_objective(np.abs(psi) ** 2, c, objective)

    psi = qaoa.numpy_state(ising, params[:p], params[p:], d)
    assert np.max(np.abs(psi - numpy_qaoa_state(x, t, params[:p], params[p:]))) <= 1e-12
    assert np.max(np.abs(psi - qaoa.qaoa_state(ising, params[:p], params[p:]))) <= 2e-6  # qsim
    value, grad = qaoa.objective_and_gradient(ising, params, d, objective)
    assert value == pytest.approx(ref(params), rel=1e-10, abs=1e-10)
    eps = 1e-6
    numeric = [(ref(params + eps * e) - ref(params - eps * e)) / (2 * eps) for e in np.eye(2 * p)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5 * np.max(np.abs(grad)))


def test_interp():
    assert qaoa.interp(np.array([0.3])).tolist() == [0.3, 0.3]
    np.testing.assert_allclose(qaoa.interp(np.array([1.0, 3.0])), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(qaoa.interp(np.array([1.0, 2.0, 4.0])),
                               [1.0, 1 / 3 + 4 / 3, 4 / 3 + 4 / 3, 4.0])


# -- read-out -------------------------------------------------------------------------------


def test_brute_force_agrees_with_enumeration():
    for seed in range(5):
        x, t = instance(seed, n=7, samples=9)
        want = enumerated_costs(x, t)
        bf = qaoa.brute_force(qaoa.ising_from_data(x, t))
        best = np.array(list(itertools.product((1, -1), repeat=7)))[np.argmin(want)]
        assert bf.weights.tolist() == best.tolist()
        assert bf.c_min == pytest.approx(want.min(), rel=1e-12)
        assert bf.c_max == pytest.approx(want.max(), rel=1e-12)
        assert bf.optimal.tolist() == [int(np.argmin(want))]
    assert qaoa.brute_force(qaoa.ising_from_data(x, t), limit=6) is None


def test_brute_force_counts_ties():
    x, t = instance(3, n=4, samples=6)
    x[:, 2] = 0.0  # weight 2 is free: two optimal rows
    bf = qaoa.brute_force(qaoa.ising_from_data(x, t))
    assert len(bf.optimal) == 2
    assert qaoa.spins(bf.optimal[0], 4)[[0, 1, 3]].tolist() == \
        qaoa.spins(bf.optimal[1], 4)[[0, 1, 3]].tolist()


def test_sample_is_seeded():
    probs = np.array([0.5, 0.0, 0.25, 0.25])
    a = qaoa.sample(probs, 1000, [7, 0])
    b = qaoa.sample(probs, 1000, [7, 0])
    assert a[0].tolist() == b[0].tolist() == [0, 2, 3] and a[1].tolist() == b[1].tolist()
    assert a[1].sum() == 1000
    assert abs(a[1][0] - 500) < 4 * np.sqrt(250)  # binomial: 4 standard deviations
    assert qaoa.sample(np.eye(8)[5], 10, 0)[0].tolist() == [5]


# -- the acceptance criterion ---------------------------------------------------------------


def p_optimal_by_depth(x, t, p: int, objective: str):
    ising = qaoa.ising_from_data(x, t)
    d = ising.diagonal()
    bf = qaoa.brute_force(ising, d)
    levels = qaoa.optimise(ising, p, d, objective)
    assert [lv.p for lv in levels] == list(range(1, p + 1))
    p_opt, ratio = {}, {}
    for lv in levels:
        probs = qaoa.probabilities(qaoa.qaoa_state(ising, lv.gammas, lv.betas))  # qsim's
        p_opt[lv.p] = float(probs[bf.optimal].sum())
        ratio[lv.p] = (bf.c_max - float(probs @ d)) / (bf.c_max - bf.c_min)
        assert float(probs @ d) == pytest.approx(lv.energy, rel=1e-12)
    return p_opt, ratio, levels


@pytest.mark.parametrize("seed", [0, 1])
def test_probability_of_the_optimum_grows_with_p(seed):
    """Issue 10: on seeded random instances of 8 weights, P(optimal) grows with p and
    exceeds 0.5 by p = 8 (planted instances, the default Gibbs objective; measured here:
    seed 0: .19 .50 .84 .99; seed 1: .05 .12 .45 .84 at p = 1, 2, 4, 8). The 10-instance
    means, and unplanted targets, are bench/qaoa.py's."""
    p_opt, ratio, levels = p_optimal_by_depth(*instance(seed), 8, "gibbs")
    objectives = [lv.objective for lv in levels]  # each level starts where the last ended
    assert all(b <= a + 1e-9 * abs(a) for a, b in zip(objectives, objectives[1:]))
    assert p_opt[1] < p_opt[2] < p_opt[4] < p_opt[8]
    assert ratio[1] < ratio[2] < ratio[4] < ratio[8]
    assert p_opt[8] > 0.5
    assert p_opt[1] > 2 / 256  # above the uniform distribution's 1/2^8 already at p = 1


@pytest.mark.parametrize("seed", [0, 2])
def test_gibbs_objective_concentrates_more_than_the_energy(seed):
    """Unplanted targets (bench/qaoa.py --targets gaussian, instance seed): the lowest costs
    lie within a fraction of sigma, and minimising <C> spreads the state over them; the Gibbs
    objective puts more probability on the optimum at p = 8 for the same depth, while its
    approximation ratio stays within 2 % of the energy-optimised one (measured: P(optimal)
    seed 0: .29 vs .26, seed 2: .46 vs .31; ratio .977 vs .982, .964 vs .980)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((12, 8))
    t = np.sqrt(8) * rng.standard_normal(12)
    gibbs, g_ratio, _ = p_optimal_by_depth(x, t, 8, "gibbs")
    energy, e_ratio, _ = p_optimal_by_depth(x, t, 8, "energy")
    assert gibbs[8] > energy[8]
    assert g_ratio[8] > 0.98 * e_ratio[8]
    assert gibbs[1] < gibbs[2] < gibbs[4] < gibbs[8]


# -- the ONNX layer -------------------------------------------------------------------------

vi = h.make_tensor_value_info


def gemm(w, b=None, **attrs) -> onnx.ModelProto:
    n = w.shape[1] if attrs.get("transB") else w.shape[0]
    m = w.shape[0] if attrs.get("transB") else w.shape[1]
    inits = [nh.from_array(w, "w")] + ([] if b is None else [nh.from_array(b, "b")])
    node = h.make_node("Gemm", ["x", "w"] + ([] if b is None else ["b"]), ["y"], name="fc", **attrs)
    return make_model([node], [vi("x", T.FLOAT, ["s", n])], [vi("y", T.FLOAT, ["s", m])], inits)


def test_find_linear_reads_gemm_and_matmul():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    layer = qaoa.find_linear(gemm(w, np.array([1.0, 2.0], np.float32), transB=1, alpha=0.5,
                                  beta=2.0), "fc")
    assert (layer.op, layer.weight, layer.transposed, layer.alpha) == ("Gemm", "w", True, 0.5)
    assert layer.weights.tolist() == w.tolist() and layer.bias.tolist() == [2.0, 4.0]
    layer = qaoa.find_linear(gemm(w.T.copy(), np.array([3.0], np.float32)), "fc")
    assert layer.weights.tolist() == w.tolist() and layer.bias.tolist() == [3.0, 3.0]
    mm = make_model([h.make_node("Constant", [], ["w"], value=nh.from_array(w.T.copy())),
                     h.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                    [vi("x", T.FLOAT, [4, 3])], [vi("y", T.FLOAT, [4, 2])])
    layer = qaoa.find_linear(mm, "mm")
    assert (layer.op, layer.transposed) == ("MatMul", False)
    assert layer.weights.tolist() == w.tolist() and layer.bias.tolist() == [0.0, 0.0]


def test_binarise_model_writes_exact_signs():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    for model in (gemm(w, np.array([1.0, 2.0], np.float32), transB=1), gemm(w.T.copy())):
        layer = qaoa.find_linear(model, "fc")
        rows = np.array([[1, -1, 1], [-1, -1, 1]], np.int8)
        out = qaoa.binarise_model(model, layer, rows)
        stored = nh.to_array(out.graph.initializer[0])
        assert stored.dtype == np.float32
        assert qaoa.find_linear(out, "fc").weights.tolist() == rows.tolist()
        assert [nh.to_array(i).tolist() for i in out.graph.initializer[1:]] == \
            [nh.to_array(i).tolist() for i in model.graph.initializer[1:]]  # bias untouched
        assert nh.to_array(model.graph.initializer[0]).tolist() == \
            (w if layer.transposed else w.T).tolist()  # the input model is left as it was
    mm = make_model([h.make_node("Constant", [], ["c"], value=nh.from_array(w.T.copy())),
                     h.make_node("MatMul", ["x", "c"], ["y"], name="mm")],
                    [vi("x", T.FLOAT, [4, 3])], [vi("y", T.FLOAT, [4, 2])])
    out = qaoa.binarise_model(mm, qaoa.find_linear(mm, "mm"), -rows)
    assert qaoa.find_linear(out, "mm").weights.tolist() == (-rows).tolist()
    onnx.checker.check_model(out, full_check=True)


def test_find_linear_refusals():
    w = np.ones((2, 3), np.float32)
    relu = make_model([h.make_node("Relu", ["x"], ["y"], name="r")],
                      [vi("x", T.FLOAT, [2])], [vi("y", T.FLOAT, [2])])
    with pytest.raises(QlowerError, match=r"^no node named 'fc' \(Gemm and MatMul nodes: none\)$"):
        qaoa.find_linear(relu, "fc")
    with pytest.raises(QlowerError, match="^node 'r' is Relu; qaoa binarises the weights of Gemm "
                       "and MatMul nodes$"):
        qaoa.find_linear(relu, "r")
    bias = gemm(w, np.ones((2, 2), np.float32), transB=1)
    with pytest.raises(QlowerError, match=r"^node 'fc' \(Gemm\): bias of shape \[2, 2\]; qaoa "
                       r"takes one bias per output \(\[2\] or a scalar\)$"):
        qaoa.find_linear(bias, "fc")
