"""A thin runner over qsimcirq: final state vectors of a parameter sweep, and seeded sampling.

qsim simulates in single precision: states are complex64 and agree with a complex128 reference
to about 1e-6.

Threads. qsim parallelises each gate over OpenMP threads, and an OpenMP thread that waits at
a barrier spins by default: with two threads on two cores of which another process holds one,
every gate waits for the descheduled thread while the other burns its core (measured: the
batched block of a kernel 8–10× slower in wall time, 10× the CPU time). So this module sets
``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep) before it first imports qsimcirq, unless
the variable is set already. The OpenMP runtime reads it once, when it loads: where a program
imported qsimcirq before this module without setting the variable, the threads spin, and
:func:`default_threads` then gives 1 (a lone thread never waits at a barrier) unless
``OMP_NUM_THREADS`` says otherwise.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

# False only where qsimcirq (and its OpenMP runtime) loaded before this module without
# OMP_WAIT_POLICY=PASSIVE: its threads then spin at every barrier.
PASSIVE_WAIT = ("qsimcirq" not in sys.modules
                or os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import cirq  # noqa: E402
import numpy as np  # noqa: E402
import qsimcirq  # noqa: E402
import sympy  # noqa: E402

__all__ = ["MAX_DEFAULT_THREADS", "QsimRunner", "available_cpus", "cgroup_cpu_limit",
           "default_threads", "estimate_memory"]

_MEASURE_KEY = "qlower_qsim_all"
MAX_DEFAULT_THREADS = 8

ResolversLike = cirq.ParamResolverOrSimilarType | Iterable[cirq.ParamResolverOrSimilarType]


def estimate_memory(num_qubits: int) -> int:
    """Bytes of one complex64 state vector on ``num_qubits`` qubits (8 * 2**n)."""
    if num_qubits < 0:
        raise ValueError(f"num_qubits must be >= 0, got {num_qubits}")
    return 8 * (1 << num_qubits)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"),
                     membership: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs a cgroup CPU quota allows this process (e.g. 1.5), or None where there is none.

    cgroup v2: ``cpu.max`` (``"150000 100000"``; ``"max ..."`` is no quota); v1: ``cpu.cfs_quota_us``
    / ``cpu.cfs_period_us`` (−1 is none). Looks in the process's own cgroup (``membership``:
    ``/proc/self/cgroup``) and at the root of the mounted hierarchy (what a container sees),
    and returns the smallest quota found.
    """
    dirs = []
    try:
        for line in membership.read_text().splitlines():
            hier, _, rest = line.partition(":")
            controllers, _, path = rest.partition(":")
            if hier == "0":  # v2, one unified hierarchy
                dirs.append(root / path.lstrip("/"))
            elif "cpu" in controllers.split(","):
                dirs.append(root / controllers / path.lstrip("/"))
    except OSError:
        pass
    dirs += [root, root / "cpu", root / "cpu,cpuacct"]
    found = [q for q in map(_read_quota, dirs) if q is not None]
    return min(found) if found else None


def _read_quota(d: Path) -> float | None:
    try:
        fields = (d / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max":
            return float(fields[0]) / float(fields[1])
        return None
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:
        quota = int((d / "cpu.cfs_quota_us").read_text())
        period = int((d / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus() -> int:
    """CPUs this process may use: its affinity (``taskset``, a container's or a batch job's
    cpuset), limited by a cgroup CPU quota rounded down (a quota of 1.5 CPUs gives 1: a second
    thread would only get the process throttled), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def _omp_num_threads(env: Mapping[str, str]) -> int | None:
    """The first entry of ``OMP_NUM_THREADS`` (``"4"``, ``"4,2"``) if it is a positive integer."""
    first = env.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else None


def default_threads(env: Mapping[str, str] | None = None) -> int:
    """qsim's thread count when none is given.

    ``OMP_NUM_THREADS`` when it is set (the user's choice, as for any OpenMP program), else
    ``min(available_cpus(), 8)`` (1 where the threads spin, see the module docstring). The cap: gate application is memory-bandwidth bound, so past
    a handful of threads the state streams no faster, and a cap keeps parallel workers from
    oversubscribing a big machine. With waiting threads asleep (``OMP_WAIT_POLICY=PASSIVE``,
    see the module docstring) a thread whose core is busy costs the others no CPU, so the count
    does not have to guess the machine's load.
    """
    explicit = _omp_num_threads(os.environ if env is None else env)
    if explicit is not None:
        return explicit
    if not PASSIVE_WAIT:
        return 1  # spinning threads: a second one can only slow a busy machine down
    return max(1, min(available_cpus(), MAX_DEFAULT_THREADS))


def _as_resolvers(resolvers: ResolversLike | None) -> list[cirq.ParamResolver]:
    """A single resolver (or dict, or None) becomes a one-element list; a sequence is kept."""
    if resolvers is None or isinstance(resolvers, (cirq.ParamResolver, dict)):
        return [cirq.ParamResolver(resolvers)]
    return [cirq.ParamResolver(r) for r in resolvers]


class QsimRunner:
    """Runs Cirq circuits on qsim (CPU).

    threads: qsim ``cpu_threads``; default :func:`default_threads` (``OMP_NUM_THREADS`` if
        set, else the CPUs available to the process, at most 8).
    fusion: qsim ``max_fused_gate_size`` (gates are fused into blocks of up to this many
        qubits; 3 was fastest in the project's measurements, 2000 gates on 24 qubits).
    """

    name = "qsim"
    # the runner protocol (qlower.backends.runner): final states, samples, and batched evolution
    capabilities = frozenset({"states", "samples", "evolve"})

    def __init__(self, threads: int | None = None, fusion: int = 3):
        threads = default_threads() if threads is None else int(threads)
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if not 1 <= int(fusion) <= 6:
            raise ValueError(f"fusion (max_fused_gate_size) must be in 1..6, got {fusion}")
        self.threads = threads
        self.fusion = int(fusion)
        self.options = qsimcirq.QSimOptions(cpu_threads=threads, max_fused_gate_size=self.fusion)

    def __repr__(self) -> str:
        return f"QsimRunner(threads={self.threads}, fusion={self.fusion})"

    estimate_memory = staticmethod(estimate_memory)

    # -- time -----------------------------------------------------------------------------------
    @property
    def rates(self):
        """The measured rates of this runner's (threads, fusion): a
        :class:`~qlower.backends.qsim_timing.QsimRates`, shared by the process."""
        from qlower.backends.qsim_timing import rates_for

        return rates_for(self.threads, self.fusion)

    def predict_seconds(self, circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid],
                        rows: int, shots: int | None = None, *, evolve: bool = False) -> float:
        """Predicted wall seconds of ``states(circuit, qubits, rows resolvers)``, of ``sample``
        with ``shots`` per row, or (``evolve``) of ``evolve`` on ``rows`` initial states: the
        rate model of :mod:`qlower.backends.qsim_timing`, its constants measured on this
        machine with this runner's threads and fusion (a fraction of a second, once per process
        and configuration, more for states above 20 qubits)."""
        return self.rates.predict(circuit, qubits, rows, shots=shots, evolve=evolve)

    # -- checks ---------------------------------------------------------------------------------
    @staticmethod
    def _check(circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid],
               resolvers: list[cirq.ParamResolver]) -> list[cirq.Qid]:
        qubits = list(qubits)
        if len(set(qubits)) != len(qubits):
            raise ValueError("qubits contains duplicates")
        missing = circuit.all_qubits() - set(qubits)
        if missing:
            raise ValueError(
                "circuit acts on qubits missing from qubits: "
                + ", ".join(str(q) for q in sorted(missing))
            )
        if circuit.has_measurements():
            raise ValueError("circuit contains measurements; QsimRunner expects a unitary circuit")
        names = sorted(cirq.parameter_names(circuit))
        for i, r in enumerate(resolvers):
            unresolved = [
                n for n in names if cirq.is_parameterized(r.value_of(sympy.Symbol(n)))
            ]
            if unresolved:
                raise ValueError(
                    f"resolver {i} leaves symbols unresolved: " + ", ".join(unresolved)
                )
        return qubits

    # -- states ---------------------------------------------------------------------------------
    def states(self, circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid],
               resolvers: ResolversLike | None = None) -> np.ndarray:
        """Final state vectors, complex64 ``[len(resolvers), 2**n]``, in sweep order.

        Row r is the state of ``circuit`` resolved by ``resolvers[r]`` from |0...0>, with
        ``qubits[0]`` the most significant bit of the index (Cirq's order). Qubits in
        ``qubits`` that the circuit does not touch stay |0>.

        Memory: the result array plus one transient state: qsimcirq's ``simulate_sweep_iter``
        (the circuit is wrapped for qsim once per sweep, not once per resolver) yields one state
        at a time, copied straight into its row.
        """
        rs = _as_resolvers(resolvers)
        qubits = self._check(circuit, qubits, rs)
        out = np.empty((len(rs), 1 << len(qubits)), dtype=np.complex64)
        sim = qsimcirq.QSimSimulator(qsim_options=self.options)
        program = cirq.Circuit(circuit) if not isinstance(circuit, cirq.Circuit) else circuit
        results = sim.simulate_sweep_iter(program, rs, qubit_order=qubits)
        for i, result in enumerate(results):
            out[i] = result.final_state_vector
        return out

    def evolve(self, circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid],
               initial: np.ndarray) -> np.ndarray:
        """Apply a parameter-free ``circuit`` to each row of ``initial`` ``[B, 2**n]``.

        The rows run as one simulation: the batch index becomes ``ceil(log2 B)`` extra qubits
        in front of ``qubits`` (the circuit does not touch them), so qsim translates and fuses
        the circuit once, whatever B is (qsimcirq otherwise re-translates the whole circuit for
        every state). The amplitude updates are those of B separate runs. complex64.
        """
        qubits = self._check(circuit, qubits, [cirq.ParamResolver()])
        if cirq.is_parameterized(circuit):
            raise ValueError("evolve needs a circuit without parameters")
        initial = np.asarray(initial, dtype=np.complex64)
        rows, dim = initial.shape
        if dim != 1 << len(qubits):
            raise ValueError(f"initial states have {dim} amplitudes; {len(qubits)} qubits need {1 << len(qubits)}")
        k = max(0, (rows - 1).bit_length())
        batch = [cirq.NamedQubit(f"__batch_{i}") for i in range(k)]
        taken = set(qubits)
        if any(q in taken for q in batch):
            raise ValueError("qubit names clash with the batch register")
        # one normalised state over batch + qubits; each row keeps its own norm up to 1/√rows
        scale = np.float32(np.sqrt(rows))
        state = np.zeros((1 << k, dim), dtype=np.complex64)
        state[:rows] = initial / scale
        sim = qsimcirq.QSimSimulator(qsim_options=self.options)
        program = cirq.Circuit(circuit) if not isinstance(circuit, cirq.Circuit) else circuit
        result = sim.simulate(program, qubit_order=batch + qubits,
                              initial_state=state.reshape(-1))
        final = np.asarray(result.final_state_vector, dtype=np.complex64).reshape(1 << k, dim)
        return final[:rows] * scale

    # -- sampling -------------------------------------------------------------------------------
    def sample(self, circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid],
               resolvers: ResolversLike | None, shots: int, seed: int) -> np.ndarray:
        """Measure all ``qubits`` ``shots`` times per resolver: int64 ``[len(resolvers), shots]``.

        Each entry is the measured bitstring as an integer, big-endian (``qubits[0]`` is the
        most significant bit), the same indexing as ``states``. Samples come from qsim's own
        sampler (``QSimSimulator(seed=seed).run_sweep`` on the circuit plus one terminal
        measurement of ``qubits``): qsim computes the final state once per resolver and draws
        all shots from it, so memory stays at one state. The same seed gives the same samples
        (for the same circuit, resolvers and thread count); resolvers get successive seeds
        drawn from ``seed``. qsim hands the shots back sorted; each row is shuffled with
        ``numpy.random.default_rng(seed)`` so the order carries no information.
        """
        shots = int(shots)
        if shots < 1:
            raise ValueError(f"shots must be >= 1, got {shots}")
        rs = _as_resolvers(resolvers)
        qubits = self._check(circuit, qubits, rs)
        n = len(qubits)
        if n > 62:
            raise ValueError(f"cannot pack {n} qubits into int64 bitstrings")
        if n == 0:
            return np.zeros((len(rs), shots), dtype=np.int64)
        program = cirq.Circuit(circuit)
        program.append(cirq.measure(*qubits, key=_MEASURE_KEY), strategy=cirq.InsertStrategy.NEW)
        sim = qsimcirq.QSimSimulator(qsim_options=self.options, seed=int(seed))
        weights = np.left_shift(1, np.arange(n - 1, -1, -1, dtype=np.int64))
        shuffle = np.random.default_rng(int(seed))
        out = np.empty((len(rs), shots), dtype=np.int64)
        for i, result in enumerate(sim.run_sweep(program, rs, repetitions=shots)):
            bits = result.measurements[_MEASURE_KEY]  # [shots, n], qubits[0] first
            out[i] = bits.astype(np.int64) @ weights
            # qsim returns the shots sorted by bitstring; put them in random (seeded) order so
            # that any prefix of a row is itself a fair sample.
            shuffle.shuffle(out[i])
        return out
