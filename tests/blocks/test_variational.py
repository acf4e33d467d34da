"""Variational lowering (qlower/blocks/variational.py): the numpy HEA against Kronecker products
of scipy's expm and against cirq.unitary, the adjoint gradient against parameter shift and
finite differences, the closed-form resources against the built circuit, the state-preparation
parameter-count threshold, unitary and layer-map fits checked by simulating the circuit in
Cirq, determinism, the layer choice and the error messages."""

from __future__ import annotations

import re

import cirq
import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import minimize_scalar

from qlower.blocks import variational as V
from qlower.blocks.circuits import count_resources

Y = np.array([[0, -1j], [1j, 0]])
Z = np.diag([1.0, -1.0]).astype(complex)
P1 = np.diag([0.0, 1.0])


def on(m, j, q):
    return np.kron(np.kron(np.eye(1 << j), m), np.eye(1 << (q - 1 - j)))


def reference_unitary(a):
    """The ansatz gate by gate from its definition: CZ = 1 − 2|11⟩⟨11|, rotations by expm."""
    q = a.shape[1]
    u = np.eye(1 << q, dtype=complex)
    for layer in range(a.shape[0]):
        if layer:
            for j in range(q - 1):
                u = (np.eye(1 << q) - 2 * on(P1, j, q) @ on(P1, j + 1, q)) @ u
        for j in range(q):
            u = on(expm(-0.5j * a[layer, j, 0] * Y), j, q) @ u
            u = on(expm(-0.5j * a[layer, j, 1] * Z), j, q) @ u
    return u


def random_angles(layers, q, seed):
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (layers + 1, q, 2))


def random_state(d, rng):
    z = rng.normal(size=d) + 1j * rng.normal(size=d)
    return z / np.linalg.norm(z)


def haar(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def hea_matrix(a):
    return V.hea_apply(a, np.eye(1 << a.shape[1])).T  # row b is U e_b


@pytest.mark.parametrize("q,layers", [(1, 0), (1, 2), (2, 1), (3, 2), (4, 3)])
def test_apply_and_circuit_match_the_definition(q, layers):
    a = random_angles(layers, q, seed=10 * q + layers)
    u = reference_unitary(a)
    assert np.abs(hea_matrix(a) - u).max() < 1e-13
    assert np.abs(cirq.unitary(V.hea_circuit(a)) - u).max() < 1e-13
    phased = cirq.unitary(V.hea_circuit(a, global_phase=0.7))
    assert np.abs(phased - np.exp(0.7j) * u).max() < 1e-13
    x = random_state(1 << q, np.random.default_rng(1))
    batch = np.stack([x, np.roll(x, 1), x.conj()])
    assert np.abs(V.hea_apply(a, batch) - batch @ u.T).max() < 1e-13
    assert np.abs(V.hea_apply(a, x) - u @ x).max() < 1e-13  # one state in, one state out


@pytest.mark.parametrize("q", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("layers", [0, 1, 3])
def test_resources_match_the_built_circuit(q, layers):
    circuit = V.hea_circuit(random_angles(layers, q, seed=q))
    res = V.hea_resources(q, layers)
    assert res == count_resources(circuit)
    ops = list(circuit.all_operations())
    assert sum(op.gate == cirq.CZ for op in ops) == res.cnots == layers * (q - 1)
    assert sum(isinstance(op.gate, cirq.Ry) for op in ops) == q * (layers + 1)
    assert sum(isinstance(op.gate, cirq.Rz) for op in ops) == q * (layers + 1)
    assert res.rotations == 2 * q * (layers + 1) and len(ops) == res.rotations + res.cnots
    assert len(circuit) == res.depth
    assert len(cirq.Circuit(ops)) == res.depth  # earliest insertion packs it no shorter


def test_adjoint_gradient_matches_parameter_shift_for_state_fidelity():
    rng = np.random.default_rng(3)
    prob = V.StatePrep(random_state(8, rng))
    a = random_angles(2, 3, seed=4)
    x0 = prob.initial_states()

    def fidelity(angles):  # hea_apply is checked against reference_unitary above
        return abs(np.vdot(prob.target, V.hea_apply(angles, x0)[0])) ** 2

    psi = V.hea_apply(a, x0)
    cost, cot = prob.objective(psi)
    assert abs(cost - (1 - abs(np.vdot(prob.target, reference_unitary(a)[:, 0])) ** 2)) < 1e-13
    shift = V.parameter_shift_gradient(fidelity, a)
    assert np.abs(V.hea_gradient(a, psi, cot) + shift).max() < 1e-12
    assert np.abs(shift).max() > 0.05


def test_adjoint_gradient_matches_parameter_shift_for_unitary_fidelity():
    rng = np.random.default_rng(5)
    v = haar(4, rng)
    prob = V.LayerMap.unitary(v)
    a = random_angles(3, 2, seed=6)

    def fidelity(angles):
        return abs(np.trace(v.conj().T @ hea_matrix(angles))) ** 2 / 16

    psi = V.hea_apply(a, prob.initial_states())
    cost, cot = prob.objective(psi)
    f = abs(np.trace(v.conj().T @ reference_unitary(a))) ** 2 / 16
    assert abs(prob.summary(psi)[0] - f) < 1e-13
    assert abs(cost - 2 * (1 - np.sqrt(f))) < 1e-13  # C = (r−1)² + 2r(1−√F), r = 1
    # dC = −dF/√F
    shift = V.parameter_shift_gradient(fidelity, a)
    assert np.abs(-np.sqrt(f) * V.hea_gradient(a, psi, cot) - shift).max() < 1e-12


def central_differences(f, a, h=1e-6):
    g = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[k] += h
        down[k] -= h
        g[k] = (f(up) - f(down)) / (2 * h)
    return g


def test_adjoint_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    # a layer map with a flag and unnormalised calibration rows, W rectangular (3×4)
    prob = V.LayerMap(rng.normal(size=(3, 4)), rng.normal(size=(5, 4)) * 3.0, n_flags=1)
    x0 = prob.initial_states()
    a = random_angles(2, 3, seed=8)
    psi = V.hea_apply(a, x0)
    grad = V.hea_gradient(a, psi, prob.objective(psi)[1])
    fd = central_differences(lambda t: prob.objective(V.hea_apply(t, x0))[0], a)
    assert np.abs(grad - fd).max() < 1e-7 and np.abs(grad).max() > 0.05
    # any cotangent: C = Re Σ Ḡ0·Ψ has ∂C/∂Ψ̄ = G0/2
    g0 = rng.normal(size=(3, 8)) + 1j * rng.normal(size=(3, 8))
    xs = np.stack([random_state(8, rng) for _ in range(3)])
    grad = V.hea_gradient(a, V.hea_apply(a, xs), g0 / 2)
    fd = central_differences(lambda t: np.vdot(g0, V.hea_apply(t, xs)).real, a)
    assert np.abs(grad - fd).max() < 1e-7


def test_layer_map_cost_and_summary_definitions():
    rng = np.random.default_rng(9)
    w, x = rng.normal(size=(4, 4)), rng.normal(size=(6, 4))
    prob = V.LayerMap(w, x, n_flags=1, alpha=2.5)
    psi = V.hea_apply(random_angles(1, 3, seed=1), prob.initial_states())
    cost, _ = prob.objective(psi)
    fid, phase, scale, err = prob.summary(psi)
    a = psi[:, :4]
    y = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ w.T
    yt = y / 2.5
    def resid(p):
        return np.linalg.norm(np.exp(1j * p) * a - yt) ** 2

    grid = np.linspace(0, 2 * np.pi, 3601)
    p0 = grid[int(np.argmin([resid(p) for p in grid]))]
    best = minimize_scalar(resid, bounds=(p0 - 0.01, p0 + 0.01), method="bounded",
                           options={"xatol": 1e-12}).fun
    assert abs(cost - best / np.linalg.norm(yt) ** 2) < 1e-9
    r = np.linalg.norm(a) / np.linalg.norm(yt)
    assert abs(cost - ((r - 1) ** 2 + 2 * r * (1 - np.sqrt(fid)))) < 1e-13
    na, ny = np.linalg.norm(a), np.linalg.norm(y)
    assert abs(fid - abs(np.vdot(a, y)) ** 2 / (na**2 * ny**2)) < 1e-13
    ls = np.linalg.lstsq(a.reshape(-1, 1), y.reshape(-1), rcond=None)[0][0]  # Y ≈ k·A
    assert abs(scale * np.exp(1j * phase) - ls) < 1e-12
    direct = np.linalg.norm(y - scale * np.exp(1j * phase) * a) / np.linalg.norm(y)
    assert abs(err - direct) < 1e-12 and abs(err - np.sqrt(1 - fid)) < 1e-12


@pytest.mark.parametrize("n,threshold", [(3, 2), (4, 3)])
def test_state_prep_reaches_one_exactly_at_the_parameter_count_threshold(n, threshold):
    # L* = ⌈D/2n⌉ − 1 with D = 2^{n+1} − 2: the first L with P = 2n(L + 1) >= D
    d = (1 << (n + 1)) - 2
    assert 2 * n * (threshold + 1) >= d > 2 * n * threshold
    rng = np.random.default_rng(n)
    for _ in range(3):
        prob = V.StatePrep(random_state(1 << n, rng))
        f = V.fit(prob, threshold, seed=0)
        assert f.fidelity > 1 - 1e-6 and f.error < 1e-3
        state = cirq.final_state_vector(V.hea_circuit(f.angles, global_phase=f.phase),
                                        dtype=np.complex128)
        assert np.abs(state - prob.target).max() < 1e-6
        below = V.fit(prob, threshold - 1, seed=0, n_starts=3)
        assert below.starts == 3 and below.fidelity < 0.995


def test_unitary_fit_n2_threshold_and_circuit():
    rng = np.random.default_rng(0)
    for _ in range(2):
        v = haar(4, rng)
        f = V.fit(V.LayerMap.unitary(v), 3, seed=0)  # P = 16 >= 4^2 − 1 = 15
        assert f.fidelity > 1 - 1e-6
        u = cirq.unitary(V.hea_circuit(f.angles, global_phase=f.phase))
        assert np.abs(u - v).max() < 1e-5
        assert V.fit(V.LayerMap.unitary(v), 2, seed=0, n_starts=2).fidelity < 0.995  # P = 12


def post_selected(circuit, x, n_flags, n_data):
    """Cirq: run |0_f⟩|x̂⟩, keep the flag-0 amplitudes."""
    init = np.zeros(1 << (n_flags + n_data), dtype=complex)
    init[: x.shape[0]] = x / np.linalg.norm(x)
    out = cirq.Simulator(dtype=np.complex128).simulate(circuit, initial_state=init)
    return out.final_state_vector[: 1 << n_data]


def test_layer_map_2x2_with_a_flag_is_exact_on_every_input():
    rng = np.random.default_rng(11)
    w = rng.normal(size=(2, 2))
    f = V.fit(V.LayerMap(w, n_flags=1), 1, seed=0)
    assert f.fidelity > 1 - 1e-9
    assert abs(f.scale / np.linalg.norm(w, 2) - 1) < 1e-5  # the norm term pulls it to α = ‖W‖₂
    circuit = V.hea_circuit(f.angles, global_phase=f.phase)
    for x in rng.normal(size=(3, 2)):
        y = f.scale * np.linalg.norm(x) * post_selected(circuit, x, 1, 1)
        assert np.abs(y - w @ x).max() < 1e-5


def test_layer_map_on_calibration_rows_is_linear_on_their_span():
    rng = np.random.default_rng(12)
    w, x = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)) * np.array([[3.0], [0.5]])
    f = V.fit(V.LayerMap(w, x, n_flags=1), 2, seed=0)
    assert f.fidelity > 1 - 1e-9
    circuit = V.hea_circuit(f.angles, global_phase=f.phase)
    for c in rng.normal(size=(3, 2)):  # new inputs: combinations of the calibration rows
        z = c @ x
        y = f.scale * np.linalg.norm(z) * post_selected(circuit, z, 1, 2)
        assert np.abs(y[:3] - w @ z).max() < 1e-5 * np.linalg.norm(w @ z)
        assert np.abs(y[3]) < 1e-5  # the padded output row stays empty


def test_fit_is_deterministic_for_a_seed():
    prob = V.StatePrep(random_state(8, np.random.default_rng(13)))
    a, b, c = (V.fit(prob, 1, seed=s, n_starts=2) for s in (5, 5, 6))
    assert np.array_equal(a.angles, b.angles) and a.fidelity == b.fidelity
    assert not np.allclose(a.angles, c.angles)


def test_choose_layers_stops_at_the_first_l_that_reaches_the_fidelity():
    prob = V.StatePrep(random_state(8, np.random.default_rng(14)))
    angles, layers, fid, history = V.choose_layers(prob, min_fidelity=1 - 1e-8, max_layers=4)
    assert layers == 2 and angles.shape == (3, 3, 2) and fid >= 1 - 1e-8
    assert [h.layers for h in history] == [1, 2] and history[0].fidelity < 0.995
    assert abs(abs(np.vdot(prob.target, reference_unitary(angles)[:, 0])) ** 2 - fid) < 1e-12
    best = V.fit(prob, 1, seed=0, stop_fidelity=1 - 1e-8).fidelity
    msg = (f"choose_layers: fidelity {1 - 1e-8} not reached with L <= 1 layers; "
           f"best {best:.6f} at L = 1")
    with pytest.raises(ValueError, match=re.escape(msg) + "$"):
        V.choose_layers(prob, min_fidelity=1 - 1e-8, max_layers=1)


@pytest.mark.parametrize("call,msg", [
    (lambda: V.hea_apply(np.zeros((2, 3)), np.ones(8)),
     "HEA angles must have shape (L + 1, n_qubits, 2), got (2, 3)"),
    (lambda: V.hea_apply(np.zeros((2, 3, 2)), np.ones(4)),
     "states must have shape [B, 8] for 3 qubits, got (4,)"),
    (lambda: V.hea_circuit(np.zeros((1, 2, 2)), cirq.LineQubit.range(3)),
     "angles are for 2 qubits, got 3 qubits"),
    (lambda: V.hea_resources(0, 1), "HEA needs n_qubits >= 1 and layers >= 0, got 0, 1"),
    (lambda: V.StatePrep(np.ones(3)),
     "StatePrep: target length must be a power of two >= 2, got 3"),
    (lambda: V.StatePrep(np.zeros(4)), "StatePrep: target is the zero vector"),
    (lambda: V.LayerMap(np.ones(4)), "LayerMap: weight must be a non-empty matrix, got shape (4,)"),
    (lambda: V.LayerMap(np.eye(2), n_flags=-1), "LayerMap: n_flags must be >= 0, got -1"),
    (lambda: V.LayerMap(np.eye(2), np.ones((2, 3))),
     "LayerMap: inputs must have shape [B, 2], got (2, 3)"),
    (lambda: V.LayerMap(np.eye(2), np.array([[1.0, 0.0], [0.0, 0.0]])),
     "LayerMap: input row 1 is zero"),
    (lambda: V.LayerMap(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])),
     "LayerMap: W maps every input to zero"),
    (lambda: V.LayerMap(np.eye(2), alpha=0.0), "LayerMap: alpha must be > 0, got 0.0"),
    (lambda: V.fit(V.StatePrep(np.ones(4)), -1),
     "fit: needs layers >= 0 and n_starts >= 1, got -1, 4"),
    (lambda: V.choose_layers(V.StatePrep(np.ones(4)), min_fidelity=0.9, max_layers=1,
                             min_layers=2),
     "choose_layers: needs 0 <= min_layers <= max_layers, got 2, 1"),
])
def test_error_messages(call, msg):
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        call()
