"""A thin runner over qsimcirq: final state vectors of a parameter sweep, and seeded sampling.

qsim simulates in single precision: states are complex64 and agree with a complex128 reference
to about 1e-6.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import cirq
import numpy as np
import qsimcirq
import sympy

__all__ = ["QsimRunner", "default_threads", "estimate_memory"]

_MEASURE_KEY = "qlower_qsim_all"

ResolversLike = cirq.ParamResolverOrSimilarType | Iterable[cirq.ParamResolverOrSimilarType]


def estimate_memory(num_qubits: int) -> int:
    """Bytes of one complex64 state vector on ``num_qubits`` qubits (8 * 2**n)."""
    if num_qubits < 0:
        raise ValueError(f"num_qubits must be >= 0, got {num_qubits}")
    return 8 * (1 << num_qubits)


def default_threads() -> int:
    """``min(cores available to this process, 8)``.

    qsim's gate application is memory-bandwidth bound: past a handful of threads the state
    vector streams no faster and extra threads only add synchronisation (the project's notes
    record ``cpu_threads=2`` as fastest for 2000 gates on 24 qubits on the machine measured).
    Capping at 8 also keeps a test run or several workers from oversubscribing a big shared
    machine. The cap is a reasoned default, not a tuned one: pass ``threads`` to tune. Cores
    come from the process's CPU affinity where the OS reports it (containers, taskset), else
    ``os.cpu_count()``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _as_resolvers(resolvers: ResolversLike | None) -> list[cirq.ParamResolver]:
    """A single resolver (or dict, or None) becomes a one-element list; a sequence is kept."""
    if resolvers is None or isinstance(resolvers, (cirq.ParamResolver, dict)):
        return [cirq.ParamResolver(resolvers)]
    return [cirq.ParamResolver(r) for r in resolvers]


class QsimRunner:
    """Runs Cirq circuits on qsim (CPU).

    threads: qsim ``cpu_threads``; default ``default_threads()`` = min(available cores, 8),
        because state-vector simulation is memory-bandwidth bound (more threads stop helping)
        and a cap keeps parallel test workers from oversubscribing the machine.
    fusion: qsim ``max_fused_gate_size`` (gates are fused into blocks of up to this many
        qubits; 3 was fastest in the project's measurements, 2000 gates on 24 qubits).
    """

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
