"""Qiskit Aer: an independent simulator of what ``qlower compile --target qasm3 -o DIR`` writes.

It works from the folder alone, the path a hardware user takes: ``manifest.json`` (kernels,
parameter names, the host values that bind them, read-out rules), the OpenQASM 3 programs
(loaded with ``qiskit.qasm3.loads``) and the host graph ``program.qir``/``program.npz``
(``qlower.load``). :func:`run_folder` runs the host graph with :func:`qlower.program.run_host`
(the public host side every backend shares: it hands each kernel its parameter values per row,
as ``qlower bind`` writes them, and applies the rescaling after it), binds each program's
``input`` parameters per row, and runs it on ``qiskit_aer.AerSimulator``: the statevector
method (``save_statevector``, the final measurements left out) for exact read-out, seeded shots
of the program's own measurements for sampling. The values are read with the manifest's rules
(:class:`~qlower.backends.readout.ReadoutRule`, the estimators qsim's runs use).

Qubit order: Qiskit indexes basis states little-endian (``q[0]`` is the least significant
bit); qlower's manifest and runners big-endian (``q[0]`` the most significant). ``AerRunner``
returns states and bitstrings big-endian over the qubits it is given.

Needs the optional extra ``aer`` (``pip install 'qlower[aer]'``: qiskit-aer and
qiskit-qasm3-import); without it, :class:`AerRunner` refuses with that advice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from qlower.errors import OptionError, QlowerError

__all__ = ["MISSING", "AerRunner", "load_kernel", "require_aer", "run_folder"]

MISSING = ("the aer backend needs qiskit-aer and qiskit-qasm3-import, which are not installed: "
           "pip install 'qlower[aer]'")


def _qiskit():
    try:
        import qiskit
        import qiskit.qasm3
        import qiskit_aer
        import qiskit_qasm3_import  # noqa: F401 - what qiskit.qasm3.loads needs
    except ImportError:
        raise OptionError(MISSING) from None
    return qiskit, qiskit_aer


class AerRunner:
    """Runs Qiskit circuits on ``qiskit_aer.AerSimulator`` (the runner protocol of
    ``qlower.backends.runner``, in Qiskit's circuit format).

    ``qubits``: the circuit's qubits, all of them, in the order of the basis index (the first
    is the most significant bit); ``resolvers``: one ``{parameter name: value}`` per run.
    threads: Aer's ``max_parallel_threads`` (default: Aer's own choice).
    """

    name = "aer"
    capabilities = frozenset({"states", "samples"})

    def __init__(self, threads: int | None = None):
        qiskit, aer = _qiskit()
        self._qiskit = qiskit
        self.threads = None if threads is None else int(threads)
        options = {} if self.threads is None else {"max_parallel_threads": self.threads}
        self._sim = aer.AerSimulator(method="statevector", **options)
        self._transpiled: list = []  # (circuit given, what measurement, transpiled)

    def __repr__(self) -> str:
        return f"AerRunner(threads={self.threads})"

    # -- helpers -------------------------------------------------------------------------------
    def _prepared(self, circuit, kind: str):
        """``circuit`` for a state (no final measurements, ``save_statevector``) or for shots
        (its own measurements; all qubits measured when it has none), transpiled for Aer once."""
        for c, k, t in self._transpiled:
            if c is circuit and k == kind:
                return t
        if kind == "states":
            qc = circuit.remove_final_measurements(inplace=False)
            if any(i.operation.name == "measure" for i in qc.data):
                raise ValueError("circuit measures before its end; a final state needs a unitary "
                                 "circuit")
            qc.save_statevector()
        elif any(i.operation.name == "measure" for i in circuit.data):
            qc = circuit
        else:
            qc = circuit.copy()
            qc.measure_all()
        t = self._qiskit.transpile(qc, self._sim, optimization_level=0)
        self._transpiled.append((circuit, kind, t))
        return t

    @staticmethod
    def _positions(circuit, qubits) -> list[int]:
        positions = [circuit.find_bit(q).index for q in qubits]
        if sorted(positions) != list(range(circuit.num_qubits)):
            raise ValueError(f"qubits must be the circuit's {circuit.num_qubits} qubits, each once")
        return positions

    @staticmethod
    def _binds(circuit, resolvers: Sequence[Mapping[str, float]]):
        """Aer's ``parameter_binds`` for one run per resolver (None: no parameters)."""
        params = list(circuit.parameters)
        if not params:
            return None
        values = {p: [] for p in params}
        for i, r in enumerate(resolvers):
            missing = [p.name for p in params if p.name not in r]
            if missing:
                raise ValueError(f"resolver {i} leaves parameters unbound: {', '.join(missing)}")
            for p in params:
                values[p].append(float(r[p.name]))
        return [values]

    def _run(self, t, resolvers, **options):
        binds = self._binds(t, resolvers)
        if binds is None:  # nothing to bind: one run serves every row
            result = self._sim.run(t, **options).result()
            return [result.data(0) for _ in resolvers], result, [0] * len(resolvers)
        result = self._sim.run(t, parameter_binds=binds, **options).result()
        return [result.data(i) for i in range(len(resolvers))], result, list(range(len(resolvers)))

    # -- the protocol --------------------------------------------------------------------------
    def states(self, circuit, qubits, resolvers: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Final state vectors, complex128 ``[len(resolvers), 2**n]``, big-endian over ``qubits``
        (Aer's statevector method, double precision; final measurements left out)."""
        resolvers = list(resolvers)
        n = circuit.num_qubits
        positions = self._positions(circuit, qubits)
        if not resolvers:
            return np.zeros((0, 1 << n), np.complex128)
        data, _, _ = self._run(self._prepared(circuit, "states"), resolvers, shots=1)
        little = np.stack([np.asarray(d["statevector"], dtype=np.complex128) for d in data])
        # Qiskit's axis a (of n, C order) is qubit n - 1 - a; put qubits[k] on axis k
        axes = [n - 1 - p for p in positions]
        big = little.reshape(len(resolvers), *([2] * n)).transpose(0, *[1 + a for a in axes])
        return big.reshape(len(resolvers), 1 << n)

    def sample(self, circuit, qubits, resolvers: Sequence[Mapping[str, float]], shots: int,
               seed: int) -> np.ndarray:
        """``shots`` shots per resolver of the circuit's measurements (all qubits when it has
        none): int64 ``[len(resolvers), shots]``, each the measured qubits as a big-endian
        integer over ``qubits`` (qubits not measured read 0). Seeded (``seed_simulator``; each
        run gets its own seed from it); each row comes in random (seeded) order."""
        shots = int(shots)
        if shots < 1:
            raise ValueError(f"shots must be >= 1, got {shots}")
        resolvers = list(resolvers)
        n = circuit.num_qubits
        positions = self._positions(circuit, qubits)
        if not resolvers:
            return np.zeros((0, shots), np.int64)
        t = self._prepared(circuit, "samples")
        # clbit index -> weight of the qubit it holds in the big-endian index over ``qubits``
        rank = {p: k for k, p in enumerate(positions)}
        weight = {}
        for inst in t.data:
            if inst.operation.name == "measure":
                q = t.find_bit(inst.qubits[0]).index
                weight[t.find_bit(inst.clbits[0]).index] = 1 << (n - 1 - rank[q])
        _, result, index = self._run(t, resolvers, shots=shots, seed_simulator=int(seed))
        shuffle = np.random.default_rng(int(seed))
        out = np.empty((len(resolvers), shots), dtype=np.int64)
        for r, i in enumerate(index):
            keys, numbers = [], []
            for key, number in result.get_counts(i).items():
                bits = key.replace(" ", "")[::-1]  # clbit 0 first
                keys.append(sum(w for c, w in weight.items() if bits[c] == "1"))
                numbers.append(number)
            out[r] = np.repeat(np.asarray(keys, np.int64), numbers)
            shuffle.shuffle(out[r])
        return out


def load_kernel(path: str | Path, names: Sequence[str]):
    """The Qiskit circuit of a kernel's OpenQASM 3 file, checked against its parameter names."""
    qiskit, _ = _qiskit()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise QlowerError(f"{path}: cannot read ({e})") from None
    try:
        circuit = qiskit.qasm3.loads(text)
    except Exception as e:  # noqa: BLE001 - the importer raises its own exception types
        raise QlowerError(f"{path}: Qiskit cannot load it ({type(e).__name__}: "
                          f"{' '.join(str(e).split())[:200]})") from None
    unknown = sorted({p.name for p in circuit.parameters} - set(names))
    if unknown:
        raise QlowerError(f"{path}: parameters {', '.join(unknown)} are not in manifest.json")
    return circuit


def _register_qubits(circuit) -> list:
    """The qubits of register ``q`` (the manifest's qubit indices), else all in order."""
    for reg in circuit.qregs:
        if reg.name == "q" and len(reg) == circuit.num_qubits:
            return list(reg)
    return list(circuit.qubits)


def run_folder(directory: str | Path, inputs: Mapping[str, np.ndarray], shots: int | None = None,
               *, seed: int = 0, runner=None, repetitions: int = 16):
    """The model's outputs on ``inputs`` from a folder ``qlower compile --target qasm3`` wrote,
    every kernel on ``runner`` (default :class:`AerRunner`; any runner of the protocol that takes
    Qiskit circuits). Returns a :class:`qlower.program.RunResult` (exact, or with shots and
    standard errors as ``CompiledProgram.run`` gives them)."""
    from qlower.backends.manifest import CompiledFolder
    from qlower.backends.runner import require, runner_name
    from qlower.program import run_host, run_result

    if shots is not None and (type(shots) is not int or shots < 1):
        raise OptionError(f"shots must be a positive integer, got {shots!r}")
    runner = AerRunner() if runner is None else runner
    caps = require(runner, shots)
    folder = CompiledFolder(directory)
    if folder.target != "qasm3":
        raise QlowerError(f"{folder.directory}: compiled for target '{folder.target}'; this runner "
                          "reads OpenQASM 3 (compile with --target qasm3)")
    circuits = {}
    for b in folder.kernels:
        circuits[b.name] = load_kernel(folder.kernel_path(b.name), folder.parameter_names[b.name])
        if circuits[b.name].num_qubits != folder.rules[b.name].qubits:
            raise QlowerError(f"{folder.kernel_path(b.name)}: {circuits[b.name].num_qubits} "
                              f"qubits, manifest.json says {folder.rules[b.name].qubits}")

    def execute(s: int):
        seeds = iter(range(s, s + len(folder.kernels) + 1))

        def kernel(b, angles):
            start = time.perf_counter()
            val, err, run = _run_kernel(runner, caps, circuits[b.name], folder.rules[b.name],
                                        folder.parameter_names[b.name], angles, shots,
                                        next(seeds))
            run.seconds = time.perf_counter() - start  # wall time; no prediction for Aer
            return val, err, run

        return run_host(folder.graph, inputs, folder.kernels, kernel)

    result = run_result(execute, seed, shots, repetitions, runner_name(runner))
    result.timing = {"runner": f"runner '{runner_name(runner)}'",
                     "measured_seconds": float(sum(k.seconds or 0.0 for k in result.kernels)),
                     "predicted_seconds": None, "calibration_seconds": None}
    return result


def _run_kernel(runner, caps, circuit, rule, names, angles, shots, seed):
    from qlower.backends.runner import SAMPLES, counts, sampler_seed
    from qlower.program import KernelRun

    lead = angles.shape[:-1]
    rows = np.asarray(angles, dtype=np.float64).reshape(-1, len(names))
    n = rule.qubits
    qubits = _register_qubits(circuit)
    vals, errs, psucc = [], [], []
    chunk = max(1, int((256 << 20) // (16 << n)))  # at most ~256 MiB of states at a time
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        resolvers = [dict(zip(names, row)) for row in part.tolist()]
        if shots is None:
            states = runner.states(circuit, qubits, resolvers)
            vals.append(rule.exact(states))
            psucc.append(rule.success_probability(states))
            continue
        if SAMPLES in caps:
            hist = counts(runner.sample(circuit, qubits, resolvers, shots,
                                        sampler_seed(seed, start)), n)
        else:  # a state-vector runner: shots drawn from its exact distribution
            rng = np.random.default_rng([seed, start])
            probs = np.abs(runner.states(circuit, qubits, resolvers)) ** 2
            probs /= probs.sum(axis=-1, keepdims=True)
            hist = np.stack([rng.multinomial(shots, p) for p in probs])
        try:
            v, e = rule.estimate(hist, shots)
        except ValueError as ex:
            raise QlowerError(str(ex)) from None
        vals.append(v)
        errs.append(e)
        psucc.append(rule.measured_success(hist, shots))
    if not vals:  # an empty batch: outputs of no rows
        none = np.zeros((0, 1 << n))
        vals = [rule.exact(none)]
        errs = [rule.estimate(none, shots)[1]] if shots is not None else []
    val = np.concatenate(vals).reshape(lead + vals[0].shape[1:])
    err = np.concatenate(errs).reshape(val.shape) if errs else None
    p = float(np.mean(np.concatenate(psucc))) if psucc else float("nan")
    return val, err, KernelRun(rule.kernel, len(rows), n, p, shots)


def require_aer() -> None:
    """Refuse, in one line saying what to install, where qiskit-aer is missing."""
    _qiskit()
