"""qsim runner: states against Cirq's complex128 simulator, sweep order, seeded sampling."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy

from qlower.backends.qsim import QsimRunner, default_threads, estimate_memory

SYMS = [sympy.Symbol(f"w_{i}") for i in range(3)]


def random_param_circuit(rng, n: int, n_ops: int) -> cirq.Circuit:
    qubits = cirq.LineQubit.range(n)
    ops = []
    for _ in range(n_ops):
        s = SYMS[rng.integers(len(SYMS))]
        angle = float(rng.uniform(-2, 2)) * s + float(rng.uniform(-1, 1))
        kind = rng.integers(7)
        q = [qubits[i] for i in rng.permutation(n)]
        if kind == 0:
            ops.append(cirq.rx(angle).on(q[0]))
        elif kind == 1:
            ops.append(cirq.ry(angle).on(q[0]))
        elif kind == 2:
            ops.append(cirq.ZPowGate(exponent=angle, global_shift=0.3).on(q[0]))
        elif kind == 3:
            ops.append(cirq.H(q[0]))
        elif kind == 4 and n > 1:
            ops.append(cirq.CNOT(q[0], q[1]))
        elif kind == 5 and n > 1:
            ops.append(cirq.CZPowGate(exponent=angle).on(q[0], q[1]))
        elif kind == 6:
            ops.append(cirq.MatrixGate(cirq.testing.random_unitary(2, random_state=int(
                rng.integers(2**31)))).on(q[0]))
    return cirq.Circuit(ops)


def reference(circuit, qubits, resolver) -> np.ndarray:
    sim = cirq.Simulator(dtype=np.complex128)
    return sim.simulate(circuit, resolver, qubit_order=qubits).final_state_vector


def resolvers_for(rng, k: int) -> list[cirq.ParamResolver]:
    return [cirq.ParamResolver({s: float(rng.uniform(-3, 3)) for s in SYMS}) for _ in range(k)]


@pytest.mark.parametrize("seed", range(8))
def test_states_match_cirq(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    circuit = random_param_circuit(rng, n, 40)
    qubits = cirq.LineQubit.range(n)
    rs = resolvers_for(rng, 4)
    got = QsimRunner(threads=2).states(circuit, qubits, rs)
    assert got.dtype == np.complex64 and got.shape == (4, 2**n)
    for row, r in zip(got, rs):
        np.testing.assert_allclose(row, reference(circuit, qubits, r), atol=1e-5, rtol=0)


def test_sweep_order_kept_and_rows_differ():
    rng = np.random.default_rng(1)
    qubits = cirq.LineQubit.range(4)
    circuit = random_param_circuit(rng, 4, 30)
    rs = resolvers_for(rng, 6)
    runner = QsimRunner(threads=1)
    forward = runner.states(circuit, qubits, rs)
    backward = runner.states(circuit, qubits, rs[::-1])
    np.testing.assert_array_equal(forward, backward[::-1])
    for i, r in enumerate(rs):
        np.testing.assert_array_equal(forward[i], runner.states(circuit, qubits, r)[0])
    assert not np.allclose(forward[0], forward[1])


def test_qubit_order_and_idle_qubits():
    q = cirq.LineQubit.range(3)
    extra = cirq.LineQubit(7)
    circuit = cirq.Circuit(cirq.X(q[0]), cirq.H(q[2]), cirq.rx(SYMS[0]).on(q[1]))
    r = cirq.ParamResolver({SYMS[0]: 0.4})
    for order in ([q[2], q[0], q[1]], [extra, q[1], q[0], q[2]]):
        got = QsimRunner().states(circuit, order, [r])[0]
        np.testing.assert_allclose(got, reference(circuit, order, r), atol=1e-6)
    # X on q[0] with q[0] first: every nonzero amplitude has the most significant bit set.
    state = QsimRunner().states(circuit, q, r)[0]
    assert np.allclose(state[: 2**2], 0)


def test_single_resolver_and_no_symbols():
    q = cirq.LineQubit.range(2)
    bell = cirq.Circuit(cirq.H(q[0]), cirq.CNOT(*q))
    for rs in (None, cirq.ParamResolver(), [cirq.ParamResolver()], {}):
        got = QsimRunner().states(bell, q, rs)
        assert got.shape == (1, 4)
        np.testing.assert_allclose(got[0], [2**-0.5, 0, 0, 2**-0.5], atol=1e-7)


def test_errors():
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rx(SYMS[0]).on(q[0]), cirq.CNOT(*q))
    runner = QsimRunner()
    with pytest.raises(ValueError, match=r"^resolver 1 leaves symbols unresolved: w_0$"):
        runner.states(circuit, q, [{SYMS[0]: 1.0}, {SYMS[1]: 1.0}])
    with pytest.raises(ValueError, match=r"^circuit acts on qubits missing from qubits: q\(1\)$"):
        runner.states(circuit, q[:1], {SYMS[0]: 1.0})
    with pytest.raises(ValueError, match=r"^qubits contains duplicates$"):
        runner.sample(circuit, [q[0], q[1], q[0]], {SYMS[0]: 1.0}, 10, seed=0)
    with pytest.raises(ValueError, match=r"measurements"):
        runner.states(circuit + cirq.measure(*q), q, {SYMS[0]: 1.0})
    with pytest.raises(ValueError, match=r"^shots must be >= 1, got 0$"):
        runner.sample(circuit, q, {SYMS[0]: 1.0}, 0, seed=0)
    with pytest.raises(ValueError, match=r"^threads must be >= 1, got 0$"):
        QsimRunner(threads=0)


def test_sampling_frequencies_within_five_standard_errors():
    rng = np.random.default_rng(5)
    n = 4
    qubits = cirq.LineQubit.range(n)
    circuit = random_param_circuit(rng, n, 40)
    rs = resolvers_for(rng, 3)
    shots = 20000
    runner = QsimRunner(threads=2)
    samples = runner.sample(circuit, qubits, rs, shots, seed=123)
    assert samples.shape == (3, shots) and samples.dtype == np.int64
    assert samples.min() >= 0 and samples.max() < 2**n
    for row, r in zip(samples, rs):
        p = np.abs(reference(circuit, qubits, r)) ** 2  # big-endian index, like the samples
        freq = np.bincount(row, minlength=2**n) / shots
        se = np.sqrt(p * (1 - p) / shots)
        assert np.all(np.abs(freq - p) <= 5 * se + 1e-12), (freq, p)


def test_sampling_bit_order_is_big_endian():
    q = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(cirq.X(q[0]), cirq.X(q[2]))  # |101> = 5 with q[0] most significant
    runner = QsimRunner()
    assert set(runner.sample(circuit, q, None, 50, seed=0)[0]) == {5}
    assert set(runner.sample(circuit, q[::-1], None, 50, seed=0)[0]) == {5}
    assert set(runner.sample(circuit, [q[1], q[0], q[2]], None, 50, seed=0)[0]) == {3}


def test_same_seed_same_samples():
    rng = np.random.default_rng(9)
    qubits = cirq.LineQubit.range(5)
    circuit = random_param_circuit(rng, 5, 30)
    rs = resolvers_for(rng, 2)
    runner = QsimRunner(threads=2)
    a = runner.sample(circuit, qubits, rs, 500, seed=42)
    b = QsimRunner(threads=2).sample(circuit, qubits, rs, 500, seed=42)
    c = runner.sample(circuit, qubits, rs, 500, seed=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Shots come back in random order, not sorted (qsim's raw output is sorted).
    assert not np.all(np.diff(a[0]) >= 0)


def test_memory_and_defaults():
    assert estimate_memory(0) == 8
    assert estimate_memory(20) == 8 * 2**20
    assert QsimRunner.estimate_memory(30) == 8 * 2**30
    assert 1 <= default_threads() <= 8
    runner = QsimRunner()
    assert runner.threads == default_threads() and runner.fusion == 3
    assert runner.options.max_fused_gate_size == 3
    assert QsimRunner(threads=3, fusion=2).options.cpu_threads == 3


# -- threads and wait policy ---------------------------------------------------------------


def test_omp_num_threads_is_the_users_choice(monkeypatch):
    from qlower.backends import qsim

    monkeypatch.setattr(qsim, "available_cpus", lambda: 5)
    assert default_threads({"OMP_NUM_THREADS": "3"}) == 3
    assert default_threads({"OMP_NUM_THREADS": "4,2"}) == 4  # nested levels: the outer one
    assert default_threads({"OMP_NUM_THREADS": "0"}) == 5
    assert default_threads({"OMP_NUM_THREADS": "many"}) == 5
    assert default_threads({}) == 5
    monkeypatch.setattr(qsim, "available_cpus", lambda: 64)
    assert default_threads({}) == qsim.MAX_DEFAULT_THREADS == 8
    monkeypatch.setattr(qsim, "PASSIVE_WAIT", False)  # spinning threads: one unless asked
    assert default_threads({}) == 1 and default_threads({"OMP_NUM_THREADS": "2"}) == 2


def test_cgroup_quota(tmp_path):
    from qlower.backends.qsim import cgroup_cpu_limit

    member = tmp_path / "cgroup"
    member.write_text("0::/job/step\n")
    root = tmp_path / "fs"
    (root / "job" / "step").mkdir(parents=True)
    assert cgroup_cpu_limit(root, member) is None
    (root / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(root, member) is None
    (root / "job" / "step" / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(root, member) == 1.5
    (root / "cpu.max").write_text("100000 100000\n")  # the smallest quota wins
    assert cgroup_cpu_limit(root, member) == 1.0
    # cgroup v1: the cpu controller's CFS quota (-1: none)
    member.write_text("4:cpu,cpuacct:/slurm/job1\n3:memory:/x\n")
    v1 = tmp_path / "v1"
    d = v1 / "cpu,cpuacct" / "slurm" / "job1"
    d.mkdir(parents=True)
    (d / "cpu.cfs_period_us").write_text("100000\n")
    (d / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1, member) is None
    (d / "cpu.cfs_quota_us").write_text("250000\n")
    assert cgroup_cpu_limit(v1, member) == 2.5
    assert cgroup_cpu_limit(tmp_path / "none", tmp_path / "missing") is None


def test_available_cpus_rounds_a_quota_down(monkeypatch):
    from qlower.backends import qsim

    monkeypatch.setattr(qsim.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(qsim, "cgroup_cpu_limit", lambda: 2.5)
    assert qsim.available_cpus() == 2
    monkeypatch.setattr(qsim, "cgroup_cpu_limit", lambda: 0.5)
    assert qsim.available_cpus() == 1
    monkeypatch.setattr(qsim, "cgroup_cpu_limit", lambda: None)
    assert qsim.available_cpus() == 4


def test_wait_policy_is_set_before_qsim_loads():
    import os
    import subprocess
    import sys

    probe = ("import os, sys\n{first}import qlower.backends.qsim as q\n"
             "print(os.environ.get('OMP_WAIT_POLICY'), q.PASSIVE_WAIT, q.default_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", probe.format(first="")], env=env, text=True,
                         capture_output=True, check=True).stdout.split()
    assert out[:2] == ["PASSIVE", "True"] and int(out[2]) >= 1
    # qsimcirq imported first: its threads spin, so one thread; a policy the user set is kept
    env["OMP_WAIT_POLICY"] = "active"
    out = subprocess.run([sys.executable, "-c", probe.format(first="import qsimcirq\n")], env=env,
                         text=True, capture_output=True, check=True).stdout.split()
    assert out == ["active", "False", "1"]
