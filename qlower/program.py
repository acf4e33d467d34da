"""Compiled programs: a lowered graph, its kernels as circuits, and the runtime that runs them.

``qlower.compile(model, target="cirq", **options)`` lowers every dense layer it can to a
quantum kernel (see ``passes/lower_linear.py``), partitions the graph into kernels and host
ops, and builds one circuit per kernel. ``CompiledProgram.run(inputs, shots=None)`` executes
host ops with numpy and kernels on qsim (``backend="qsim"``) or with the q ops' reference
semantics (``backend="reference"``):

- exact read-out (``shots=None``): the state vector's amplitudes at flags = 0, rescaled;
- shots: each kernel is sampled ``shots`` times per batch row and read out by an estimator
  (``√(n_i/S)`` for offset block encodings, ``2 n_0/S - 1`` for Hadamard tests), with its
  standard error; standard errors are carried through the linear rescaling analytically, and
  estimated from independent repetitions where an output depends on shot noise through
  anything else (a later layer, an activation).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qlower.backends.reference import initial_values, interpret
from qlower.errors import InputError, OptionError, QlowerError
from qlower.ir import ConstRef, Graph
from qlower.ir.opdef import op_def
from qlower.kernel_costs import ProgramEstimate, program_estimate

if TYPE_CHECKING:
    pass

TARGETS = ("cirq", "qasm3")
DEFAULT_MAX_QUBITS = 26
MIN_USEFUL_SHOTS = 1000  # fewer successful shots per row than this gets a warning
DEFAULT_MAX_WORK = 2e11  # amplitude updates (gates × 2**qubits × sweeps): minutes on 2 cores


class BudgetError(QlowerError):
    """Simulating a kernel would exceed the qubit or work budget."""


@functools.lru_cache(maxsize=1)
def _blas_controller():
    import scipy.linalg  # noqa: F401 - load scipy's BLAS too, so that the limit covers it
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run qlower's own linear algebra with one BLAS thread (the previous limits come back after).

    Its matrices are small (a layer's weights, a 2^q dilation): a second BLAS thread saves
    nothing there, and on a busy machine it waits for a core (an SVD of a 128×128 matrix took
    0.3–0.7 s with two OpenBLAS threads on a loaded 2-core machine, 1.5 ms with one), then spins
    beside qsim's threads. Parallel work pays in the simulator.
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@dataclass
class KernelRun:
    """What one kernel did in a run."""

    name: str
    sweeps: int
    qubits: int
    success_probability: float  # mean over the batch (exact)
    shots: int | None = None
    seconds: float | None = None  # wall time of the kernel's run (runner and read-out)
    predicted_seconds: float | None = None  # the runner's prediction, where it was asked


class RunResult(dict):
    """The outputs (name → array, in the graph's order), plus what the run measured.

    ``std_errors`` (shot mode): name → array of the same shape. ``kernels``: a
    :class:`KernelRun` per kernel run. ``backend``, ``shots``, ``seed``.
    """

    def __init__(self, outputs, std_errors=None, kernels=(), backend="qsim", shots=None, seed=0):
        super().__init__(outputs)
        self.std_errors: dict[str, np.ndarray] = dict(std_errors or {})
        self.kernels: list[KernelRun] = list(kernels)
        self.warnings: list[str] = [
            f"kernel {k.name}: success probability {k.success_probability:.3g} leaves about "
            f"{k.success_probability * shots:.0f} of {shots} shots per row to read the result; "
            "the estimates and their standard errors are unreliable at this count"
            for k in self.kernels
            if shots is not None and k.success_probability * shots < MIN_USEFUL_SHOTS
        ]
        self.backend = backend
        self.shots = shots
        self.seed = seed
        # wall times (never part of the outputs): see CompiledProgram.run(timing=...)
        self.timing: dict = {}


def _sizes(kc, batch: int) -> tuple[int, float]:
    n = len(kc.qubits)
    gates = kc.operation_count
    return n, float(gates) * float(2**n) * batch


def check_budget(kernels, batches: Mapping[str, int], max_qubits: int, max_work: float,
                 predict: Callable[[object, int], float | None] | None = None,
                 runner_label: str | None = None) -> None:
    """Refuse, with what it would take, to simulate beyond the budget.

    The budget is in qubits and amplitude updates (gates × 2^qubits × sweeps: the same
    answer on every machine); the refusal states the time the runner predicts for the kernel
    (``predict(kernel, sweeps)``, from rates measured on this machine), where it predicts."""
    for kc in kernels:
        batch = batches.get(kc.name, 1)
        n, work = _sizes(kc, batch)
        if n > max_qubits or work > max_work:
            state_gib = 8 * 2.0**n / 2**30
            seconds = predict(kc, batch) if predict is not None else None
            label = runner_label or "the runner"
            when = (f"{label} would take about {_duration(seconds)} on this machine, from "
                    "its measured rates" if seconds is not None
                    else f"{label} predicts no time")
            raise BudgetError(
                f"kernel {kc.name} needs {n} qubits ({state_gib:.3g} GiB per state) and "
                f"{work:.3g} amplitude updates over {batch} sweep(s) ({when}); the simulation "
                f"budget is {max_qubits} qubits and {max_work:.3g} updates: raise "
                "max_qubits/max_work (CLI --max-qubits, --max-work) or run it with the "
                "reference backend"
            )


def _chunk_rows(n: int) -> int:
    """Rows simulated at a time on n qubits: at most ~256 MiB of states."""
    return max(1, int((256 << 20) // (8 << n)))


def predict_kernel_seconds(runner, kc, rows: int, shots: int | None = None) -> float | None:
    """Seconds ``runner`` is predicted to take for ``rows`` rows of kernel ``kc`` the way
    :class:`CompiledProgram` runs it (the preparation per row and the parameter-free rest as
    one batch where the runner evolves states; chunks of at most ~256 MiB of states; shots
    drawn from the states), from the runner's ``predict_seconds`` (None where it has none)."""
    from qlower.backends.runner import EVOLVE, STATES, capabilities

    pred = getattr(runner, "predict_seconds", None)
    if pred is None:
        return None
    caps = capabilities(runner)
    rows = int(rows)
    if rows <= 0:
        return 0.0
    n = len(kc.qubits)
    chunk = _chunk_rows(n)
    parts = [chunk] * (rows // chunk) + ([rows % chunk] if rows % chunk else [])
    total = 0.0
    for part in dict.fromkeys(parts):
        times = parts.count(part)
        if STATES not in caps:
            t = pred(kc.circuit, kc.qubits, part, shots)
        elif kc.suffix is not None and EVOLVE in caps:
            t = pred(kc.prefix, kc.qubits, part) + pred(kc.suffix, kc.qubits, part, evolve=True)
        else:
            t = pred(kc.circuit, kc.qubits, part)
        if shots is not None and STATES in caps:
            t += part * _multinomial_seconds(n, shots)
        total += times * t
    return total


@functools.cache
def _multinomial_rate() -> float:
    """Seconds per row and amplitude of drawing shots from states (probabilities, then one
    multinomial draw per row): measured once per process, best of three."""
    rng = np.random.default_rng(0)
    dim = 1 << 12
    states = (rng.standard_normal((4, dim)) + 1j * rng.standard_normal((4, dim))).astype(
        np.complex64)
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        probs = np.abs(states.astype(np.complex128)) ** 2
        probs /= probs.sum(axis=-1, keepdims=True)
        np.stack([rng.multinomial(1000, p) for p in probs])
        best = min(best, time.perf_counter() - t)
    return best / (4 * dim)


def _multinomial_seconds(n: int, shots: int) -> float:
    return _multinomial_rate() * float(1 << n)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.2g} min"
    return f"{seconds / 3600:.2g} h"


@dataclass(eq=False)
class CompiledProgram:
    """A lowered graph plus one circuit per kernel; ``run`` executes it."""

    graph: Graph
    kernels: list  # KernelCircuit, in execution order
    target: str = "cirq"
    options: dict = field(default_factory=dict)
    host_ops: list = field(default_factory=list)  # {"op", "node"} of the ops left classical
    origins: dict = field(default_factory=dict)  # node → {"op", "node", "strategy"} it became
    decisions: tuple = ()  # the cost model's, where a budget or profile was given

    def kernel(self, name: str):
        for k in self.kernels:
            if k.name == name:
                return k
        raise KeyError(name)

    def resources(self) -> dict:
        return {k.name: k.resources() for k in self.kernels}

    def estimate(self) -> ProgramEstimate:
        """Per kernel: resources, alpha and mean success probability; plus the host layers
        (from the kernels' ops and the registry's costs: ``qlower.kernel_costs``)."""
        return program_estimate(self.graph, [k.kernel for k in self.kernels], self.host_ops,
                                self.origins, self.decisions)

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        inputs: Mapping[str, np.ndarray],
        shots: int | None = None,
        *,
        backend="qsim",
        seed: int = 0,
        max_qubits: int = DEFAULT_MAX_QUBITS,
        max_work: float = DEFAULT_MAX_WORK,
        threads: int | None = None,
        repetitions: int = 16,
        timing: bool = False,
    ) -> RunResult:
        """The outputs on ``inputs``: kernels on ``backend`` (``"qsim"``, ``"reference"``,
        ``"aer"``, or a runner object of the protocol in ``qlower.backends.runner`` that takes
        Cirq circuits), host ops with numpy. ``shots`` None: exact read-out.

        Every kernel's wall time is recorded (``result.kernels[i].seconds``); with ``timing``
        the runner also predicts each kernel's time before it runs (``predicted_seconds``; the
        qsim runner from rates it measures on this machine, a fraction of a second once per
        process) and ``result.timing`` sums both. Timing never changes the outputs."""
        from qlower.backends.runner import require, runner_name

        if isinstance(backend, str):
            if backend not in BACKEND_NAMES:
                raise OptionError(f"unknown backend '{backend}' (backends: "
                                  f"{', '.join(BACKEND_NAMES)}, or a runner object)")
            name = backend
        else:
            name = runner_name(backend)
        if shots is not None and (type(shots) is not int or shots < 1):
            raise OptionError(f"shots must be a positive integer, got {shots!r}")
        if shots is not None and backend == "reference":
            raise OptionError("shots need a simulator: use backend='qsim'")
        if backend == "aer":
            return self._run_aer(inputs, shots, seed, max_qubits, max_work, threads, repetitions)
        runner = None if backend == "reference" else self._runner(backend, threads)
        if runner is not None:
            require(runner, shots)
        rt = _Runtime(self, runner, shots, max_qubits, max_work, timing)
        result = run_result(lambda s: rt.execute(inputs, s), seed, shots, repetitions, name)
        result.timing = rt.summary(result.kernels)
        return result

    def predict(self, inputs: Mapping[str, np.ndarray], shots: int | None = None, *,
                backend="qsim", threads: int | None = None) -> dict[str, float | None]:
        """Kernel name → the seconds ``run(inputs, shots, backend=...)`` is predicted to spend
        on it (None for a runner that predicts nothing), without running anything but the
        host graph's sizes and the runner's calibration."""
        runner = self._runner(backend, threads)
        env, _ = initial_values(self.graph, inputs)
        batches = _kernel_batches(self, env)
        return {kc.name: predict_kernel_seconds(runner, kc, batches[kc.name], shots)
                for kc in self.kernels}

    @staticmethod
    def _runner(backend, threads):
        if backend == "qsim":
            from qlower.backends.qsim import QsimRunner

            return QsimRunner(threads=threads)
        if isinstance(backend, str):
            raise OptionError(f"predict needs a runner of Cirq circuits: backend 'qsim' or a "
                              f"runner object, not '{backend}'")
        return backend

    def _run_aer(self, inputs, shots, seed, max_qubits, max_work, threads, repetitions):
        """Write the program as OpenQASM 3 into a temporary folder and run that folder on Qiskit
        Aer (``qlower.backends.aer.run_folder``): the path a hardware user takes."""
        import dataclasses
        import tempfile

        from qlower.backends.aer import AerRunner, run_folder

        runner = AerRunner(threads=threads)  # refuses first when qiskit-aer is missing
        env, _ = initial_values(self.graph, inputs)
        check_budget(self.kernels, _kernel_batches(self, env), max_qubits, max_work,
                     runner_label="runner 'aer'")
        with tempfile.TemporaryDirectory(prefix="qlower-aer-") as tmp:
            folder = Path(tmp) / "program"
            dataclasses.replace(self, target="qasm3").write(folder)
            return run_folder(folder, inputs, shots, seed=seed, runner=runner,
                              repetitions=repetitions)

    def bindings(self) -> list[KernelBinding]:
        """Where each kernel meets the host graph, in execution order."""
        return [KernelBinding.of(kc) for kc in self.kernels]

    def bind(self, inputs: Mapping[str, np.ndarray]) -> Bindings:
        """Every kernel's parameter values per row on ``inputs`` (the host graph on numpy, the
        kernels by their exact semantics): what a device binds to each program's ``input``
        parameters."""
        return bind_parameters(self.graph, self.bindings(), inputs,
                               {kc.name: [s.name for s in kc.symbols] for kc in self.kernels})

    # -- writing ---------------------------------------------------------------------------
    def write(self, directory: str | Path, *, measure: bool = True) -> list[Path]:
        """Write the kernels, the host graph and ``manifest.json`` to ``directory``. With
        ``measure`` (the default) every OpenQASM 3 program ends measuring its read-out and flag
        qubits into ``bit[k] c`` (the manifest's ``measurement`` says which bit is which)."""
        from qlower.backends.manifest import write_program

        return write_program(self, Path(directory), measure=measure)


BACKEND_NAMES = ("qsim", "reference", "aer")


# -- the host side of a run: shared by every backend ---------------------------------------------


@dataclass(frozen=True)
class KernelBinding:
    """Where a kernel meets the host graph: the value whose last axis holds its parameters
    (one run per index of the leading axes), the value its read-out defines, and the ONNX
    nodes it came from. ``manifest.json`` states the same per kernel."""

    name: str
    parameters: str
    output: str
    source: tuple[str, ...] = ()

    @classmethod
    def of(cls, kc) -> KernelBinding:
        return cls(kc.name, kc.kernel.parameters, kc.kernel.output, tuple(kc.kernel.source))

    @classmethod
    def from_manifest(cls, entry: Mapping) -> KernelBinding:
        return cls(entry["name"], entry["parameters"]["value"], entry["readout_value"],
                   tuple(entry.get("source_nodes", ())))


# run_kernel(binding, parameters) -> (value, standard error or None, KernelRun)
KernelRunFn = Callable[[KernelBinding, np.ndarray],
                       "tuple[np.ndarray, np.ndarray | None, KernelRun]"]


@dataclass
class HostRun:
    """What :func:`run_host` computed.

    ``std_errors``: carried analytically from shot estimates through ``host.rescale``;
    ``tainted``: outputs that depend on shot noise through anything else (their errors need
    repeated runs, see :func:`run_result`); ``parameters``: each kernel's parameter value as it
    was bound (leading axes kept).
    """

    outputs: dict[str, np.ndarray]
    std_errors: dict[str, np.ndarray]
    tainted: list[str]
    kernels: list[KernelRun]
    parameters: dict[str, np.ndarray]


def run_host(
    graph: Graph,
    inputs: Mapping[str, np.ndarray],
    kernels: Sequence[KernelBinding],
    run_kernel: KernelRunFn | None = None,
    *,
    before: Callable[[dict, dict], None] | None = None,
    check_finite: bool = True,
) -> HostRun:
    """Run a lowered graph: host ops with numpy, each kernel through ``run_kernel``.

    ``run_kernel(binding, parameters)`` gets the kernel's parameter value (finite: NaN or ±Inf
    reaching a kernel is refused) and returns ``(value, std_error, KernelRun)``; the kernel's
    other q ops are not evaluated. Without ``run_kernel`` every op, the q ops too, runs by its
    numpy semantics (the exact values). The rescaling after a kernel (``host.rescale``) and
    everything after it is the graph's own host work, so every backend gives the model's
    outputs the same way. ``before(env, values)`` is called once the inputs are bound;
    ``check_finite`` (without ``run_kernel``) refuses non-finite parameters too.
    """
    by_output = {b.output: b for b in kernels}
    se: dict[str, np.ndarray] = {}
    tainted: set[str] = set()
    runs: list[KernelRun] = []
    bound: dict[str, np.ndarray] = {}

    def dispatch(op, values, env):
        if op.dialect != "q" or run_kernel is None:
            return None  # the op's own semantics
        b = by_output.get(op.result().name)
        if b is None:
            return []  # inside a kernel: the runner computes it
        check_kernel_data(graph, b, values)
        bound[b.name] = values[b.parameters]
        val, err, run = run_kernel(b, values[b.parameters])
        values[b.output] = val
        if err is not None:
            se[b.output] = err
        runs.append(run)
        return [b.output]

    def after(op, values, env):
        if op.dialect == "q" and run_kernel is not None:
            return
        noisy = [o for o in op.present_operands if o in se or o in tainted]
        if not noisy:
            return
        carry = getattr(op_def(op.name), "std_error", None)
        if op.name == "host.cast" and op.operand(0) in se:
            se[op.result().name] = se[op.operand(0)]
        elif carry is not None and noisy == [op.operand(0)]:
            err = carry(op, values, se)
            if err is None:
                tainted.update(op.result_names)
            else:
                se[op.result().name] = err
        elif op.name == "host.rescale" and noisy == [op.operand(0)] and op.operand(0) in se:
            scale = values[op.operand(1)].astype(np.float64)[..., None]
            alpha = values[op.operand(2)].astype(np.float64)
            se[op.result().name] = np.abs(se[op.operand(0)] * scale * alpha)
        else:
            tainted.update(op.result_names)

    env, values = interpret(graph, inputs, dispatch=dispatch, after=after, before=before)
    if run_kernel is None:
        for b in kernels:
            if b.parameters in values:
                if check_finite:
                    check_kernel_data(graph, b, values)
                bound[b.name] = values[b.parameters]
    outputs = {name: values[name] for name in graph.outputs}
    return HostRun(outputs, se, [n for n in graph.outputs if n in tainted], runs, bound)


def run_result(execute: Callable[[int], HostRun], seed: int, shots: int | None,
               repetitions: int, backend: str) -> RunResult:
    """A :class:`RunResult` from ``execute(seed)`` (a :func:`run_host`); with shots, outputs
    whose errors are not analytic get them from ``repetitions`` further runs with other
    seeds (the sample standard deviation)."""
    run = execute(seed)
    se = dict(run.std_errors)
    if shots is not None and run.tainted:
        reps = [execute(seed + 7919 * r).outputs for r in range(1, repetitions + 1)]
        for name in run.tainted:
            stack = np.stack([o[name].astype(np.float64) for o in reps])
            with np.errstate(invalid="ignore", over="ignore"):  # infinite outputs: NaN spread
                se[name] = stack.std(axis=0, ddof=1)
    std = {n: se[n] for n in run.outputs if n in se} if shots is not None else {}
    return RunResult(run.outputs, std, run.kernels, backend, shots, seed)


def check_kernel_data(graph: Graph, binding: KernelBinding, values: Mapping) -> None:
    """A circuit encodes finite numbers only: NaN or ±Inf reaching a kernel is refused."""
    producer = graph.producer(binding.parameters)
    data = [values[o] for o in producer.present_operands] if producer is not None else []
    if producer is not None and getattr(op_def(producer.name), "infinite_inputs", False):
        data = []  # -inf is data there (a masked score); its angles are still checked
    for arr in [*data, values[binding.parameters]]:
        arr = np.asarray(arr)
        if arr.dtype.kind not in "fc" or arr.ndim == 0 or np.isfinite(arr).all():
            continue
        bad = ~np.isfinite(arr).all(axis=-1)
        index = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        row = str(index[0]) if len(index) == 1 else str(index)
        nodes = ", ".join(f"'{n}'" for n in binding.source)
        where = f" (node{'s' if len(binding.source) > 1 else ''} {nodes})" if nodes else ""
        raise InputError(f"kernel {binding.name}{where}: row {row} of the data it encodes is not "
                         f"finite (NaN or ±Inf in the inputs, or values beyond {arr.dtype}'s "
                         "range on the way); a quantum state holds finite amplitudes only")


class Bindings(dict):
    """Kernel name → its parameter values, float64 ``[rows, parameters]`` (rows: the leading
    axes of the parameter value, flattened in C order); ``names``: kernel → parameter names."""

    def __init__(self, arrays: Mapping[str, np.ndarray], names: Mapping[str, Sequence[str]]):
        super().__init__(arrays)
        self.names: dict[str, list[str]] = {k: list(v) for k, v in names.items()}

    def arrays(self) -> dict[str, np.ndarray]:
        """What :meth:`save` writes: ``K`` (the values) and ``K.names`` (strings) per kernel."""
        out: dict[str, np.ndarray] = {}
        for k, arr in self.items():
            out[k] = arr
            out[f"{k}.names"] = np.array(self.names[k], dtype=str)
        return out

    def save(self, path: str | Path) -> None:
        """Write :meth:`arrays` to an ``.npz`` atomically (a temporary file, then a rename)."""
        from qlower.ir.weights import save_weights

        save_weights(path, self.arrays())


def bind_parameters(graph: Graph, kernels: Sequence[KernelBinding],
                    inputs: Mapping[str, np.ndarray],
                    names: Mapping[str, Sequence[str]]) -> Bindings:
    """Each kernel's parameter values on ``inputs``: :func:`run_host` without a runner (the
    kernels by their exact semantics), the values reshaped to ``[rows, parameters]``."""
    with one_blas_thread():
        run = run_host(graph, inputs, kernels)
    arrays = {}
    for b in kernels:
        p = len(names[b.name])
        arrays[b.name] = np.asarray(run.parameters[b.name], dtype=np.float64).reshape(-1, p)
    return Bindings(arrays, {b.name: names[b.name] for b in kernels})


def _kernel_batches(program: CompiledProgram, env: Mapping) -> dict[str, int]:
    """Runs per kernel: the product of its parameter value's leading sizes."""
    batches = {}
    for kc in program.kernels:
        t = program.graph.type_of(kc.kernel.parameters)
        total = 1
        for d in t.dims[:-1]:
            total *= d if isinstance(d, int) else d.evaluate(env)
        batches[kc.name] = total
    return batches


class _Runtime:
    def __init__(self, program: CompiledProgram, runner, shots, max_qubits, max_work,
                 timing: bool = False):
        from qlower.backends.runner import capabilities

        self.p = program
        self.runner = runner
        self.caps = capabilities(runner) if runner is not None else frozenset()
        self.shots = shots
        self.max_qubits = max_qubits
        self.max_work = max_work
        self.timing = timing
        self.predicted: dict[str, float | None] = {}
        self.bindings = program.bindings()
        self.cache: dict = {}

    def execute(self, inputs, seed) -> HostRun:
        with one_blas_thread():
            return self._execute(inputs, seed)

    def _execute(self, inputs, seed) -> HostRun:
        # host ops run exactly as on the reference interpreter (symbolic constants resolved,
        # results checked against their types)
        if self.runner is None:
            return run_host(self.p.graph, inputs, self.bindings, check_finite=False)
        seeds = iter(range(seed, seed + len(self.bindings) + 1))

        def kernel(b: KernelBinding, angles: np.ndarray):
            start = time.perf_counter()
            val, err, run = self._run_kernel(self.p.kernel(b.name), angles, next(seeds))
            run.seconds = time.perf_counter() - start
            run.predicted_seconds = self.predicted.get(b.name)
            return val, err, run

        return run_host(self.p.graph, inputs, self.bindings, kernel, before=self._check_budget)

    def _predict(self, kc, rows: int) -> float | None:
        return predict_kernel_seconds(self.runner, kc, rows, self.shots)

    def _label(self) -> str:
        from qlower.backends.runner import runner_name

        threads = getattr(self.runner, "threads", None)
        return f"runner '{runner_name(self.runner)}'" + (
            f" ({threads} thread{'s' if threads != 1 else ''})" if threads else "")

    def _check_budget(self, env, values):
        batches = _kernel_batches(self.p, env)
        check_budget(self.p.kernels, batches, self.max_qubits, self.max_work, self._predict,
                     self._label())
        if self.timing and not self.predicted:
            for kc in self.p.kernels:
                self.predicted[kc.name] = self._predict(kc, batches.get(kc.name, 1))

    def summary(self, runs: Sequence[KernelRun]) -> dict:
        """``RunResult.timing``: the runner, each kernel's measured and predicted seconds in
        total (predicted None unless every kernel has a prediction), and the seconds this
        process has spent measuring the runner's rates."""
        if self.runner is None:
            return {}
        measured = [r.seconds for r in runs if r.seconds is not None]
        predicted = [r.predicted_seconds for r in runs]
        rates = getattr(self.runner, "rates", None) if self.timing else None
        return {
            "runner": self._label(),
            "measured_seconds": float(sum(measured)),
            "predicted_seconds": (float(sum(predicted)) if runs and
                                  all(p is not None for p in predicted) else None),
            "calibration_seconds": (float(rates.calibration_seconds)
                                    if rates is not None else None),
        }

    def _states(self, kc, part):
        from qlower.backends.runner import EVOLVE

        if kc.suffix is not None and EVOLVE in self.caps:
            # the preparation per row, then the constant block for all rows at once
            prepared = self.runner.states(kc.prefix, kc.qubits, kc.resolvers(part))
            return self.runner.evolve(kc.suffix, kc.qubits, prepared)
        return self.runner.states(kc.circuit, kc.qubits, kc.resolvers(part))

    def _run_kernel(self, kc, angles, seed):
        from qlower.backends.runner import STATES, counts, sampler_seed

        lead = angles.shape[:-1]
        rows = angles.reshape(-1, angles.shape[-1])
        n = len(kc.qubits)
        if not len(rows):  # an empty batch: nothing to simulate, outputs of no rows
            none = np.zeros((0, 1 << n), np.complex64)
            val = kc.exact(none)
            err = kc.estimate(np.zeros((0, 1 << n)), self.shots)[1] if self.shots else None
            val = val.reshape(lead + val.shape[1:])
            return val, None if err is None else err.reshape(val.shape), \
                KernelRun(kc.name, 0, n, math.nan, self.shots)
        chunk = _chunk_rows(n)
        vals, errs, psucc = [], [], []
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            if STATES not in self.caps:
                # a sampler only (hardware, a distributed simulator): its shots, counted
                bits = self.runner.sample(kc.circuit, kc.qubits, kc.resolvers(part), self.shots,
                                          sampler_seed(seed, start))
                hist = counts(bits, n)
                psucc.append(kc.rule.measured_success(hist, self.shots))
                try:
                    v, e = kc.estimate(hist, self.shots)
                except ValueError as ex:
                    raise QlowerError(str(ex)) from None
                vals.append(v)
                errs.append(e)
                continue
            key = (kc.name, part.tobytes())
            states = self.cache.get(key)
            if states is None:
                states = self._states(kc, part)
                if self.shots is not None:
                    self.cache[key] = states  # repetitions resample the same states
            psucc.append(kc.success_probability(states))
            if self.shots is None:
                vals.append(kc.exact(states))
            else:
                # Shots of a terminal measurement of all qubits: a multinomial draw from the
                # exact distribution |amplitude|², per batch row.
                rng = np.random.default_rng([seed, start])
                probs = np.abs(states.astype(np.complex128)) ** 2
                probs /= probs.sum(axis=-1, keepdims=True)
                hist = np.stack([rng.multinomial(self.shots, p) for p in probs])
                try:
                    v, e = kc.estimate(hist, self.shots)
                except ValueError as ex:
                    raise QlowerError(str(ex)) from None
                vals.append(v)
                errs.append(e)
        val = np.concatenate(vals).reshape(lead + vals[0].shape[1:])
        err = np.concatenate(errs).reshape(val.shape) if errs else None
        p = float(np.mean(np.concatenate(psucc))) if psucc else math.nan
        return val, err, KernelRun(kc.name, len(rows), n, p, self.shots)


# -- compile -----------------------------------------------------------------------------------


def check_compilable(graph: Graph) -> None:
    """What compiling needs of the graph it is given (a dump may lack it): the data of every
    constant, and blocks whose alpha is the alpha of their weights' encoding."""
    from qlower.blocks.registry import plan_block

    for c in graph.constants:
        if isinstance(c.data, ConstRef):
            raise QlowerError(f"constant %{c.name} has no data (the dump was read without its "
                              "weights .npz)")
    from qlower.ir.dialects.quantum import block_op

    for op in graph.ops:
        if op.name == "q.block.data_fable":
            check_data_block(graph, op)
        if op.name == "q.block.select":
            check_select_block(graph, op)
        d = block_op(op)
        if d is None:
            continue
        method, name = d.method, op.operand(1)
        data = graph.dense(name)
        if data is None:
            raise QlowerError(f"{op.label}: its weights %{name} are not a constant")
        if not np.any(data.array):
            raise QlowerError(f"{op.label}: its weights %{name} are all zero (a block encoding "
                              "needs a nonzero matrix)")
        try:
            _, attrs = plan_block(data.array, method, float(op.attr("threshold", 0.0)))
        except ValueError as e:
            raise QlowerError(f"{op.label}: {e}") from None
        for key, value in attrs.items():
            given = op.attr(key, None)
            same = given == value if not isinstance(value, float) else (
                given is not None and np.isclose(given, value, rtol=1e-9))
            if not same:
                raise QlowerError(f"{op.label}: {key} {given!r} is not the {key} of the {method} "
                                  f"encoding of its weights %{name} ({value!r})")


def check_data_block(graph: Graph, op) -> None:
    """A data block reads the parameters after its kernel's preparation's own, all the rest:
    the two slices of one parameter vector may not overlap (their symbols would clash)."""
    from qlower.blocks.fable_data import data_layout

    params = op.operand(1)
    encodes = [u for u in graph.users.get(params, ()) if u.name.startswith("q.encode.")]
    t = graph.type_of(params)
    total = t.dims[-1] if t is not None and getattr(t, "rank", 0) else None
    if len(encodes) != 1 or not isinstance(total, int):
        raise QlowerError(f"{op.label}: its parameters %{params} are not those of one state "
                          "preparation")
    own = total - int(encodes[0].attr("extra", 0))
    m, n = data_layout(op.attr("rows"), op.attr("cols"))
    if op.attr("first") != own or own + (1 << (m + n)) != total:
        raise QlowerError(f"{op.label}: reads entries {op.attr('first')}..."
                          f"{op.attr('first') + (1 << (m + n)) - 1} of %{params}, but "
                          f"{encodes[0].name} uses the first {own} of its {total}")


def check_select_block(graph: Graph, op) -> None:
    """A selector block's alpha is its method's alpha of W, and its tail reads the
    parameters right after its preparation's own."""
    from qlower.blocks.registry import plan_block

    data = graph.dense(op.operand(1))
    if data is None:
        raise QlowerError(f"{op.label}: its weights %{op.operand(1)} are not a constant")
    if not np.any(data.array):
        raise QlowerError(f"{op.label}: its weights %{op.operand(1)} are all zero (a block "
                          "encoding needs a nonzero matrix)")
    method = op.attr("method")
    try:
        _, attrs = plan_block(data.array, method, float(op.attr("threshold", 0.0)))
    except ValueError as e:
        raise QlowerError(f"{op.label}: {e}") from None
    if not np.isclose(op.attr("alpha"), attrs["alpha"], rtol=1e-9):
        raise QlowerError(f"{op.label}: alpha {op.attr('alpha')!r} is not the alpha of the "
                          f"{method} encoding of its weights %{op.operand(1)} "
                          f"({attrs['alpha']!r})")
    encodes = [u for u in graph.users.get(op.operand(2), ()) if u.name == "q.encode.amplitude"]
    if len(encodes) != 1:
        raise QlowerError(f"{op.label}: its parameters %{op.operand(2)} are not those of one "
                          "state preparation")
    own = max(int(encodes[0].attr("size")), 2) - 1
    if op.attr("first") != own:
        raise QlowerError(f"{op.label}: its tail reads from entry {op.attr('first')}, but "
                          f"{encodes[0].name} uses the first {own} entries")


def compile_graph(
    graph: Graph,
    target: str = "cirq",
    *,
    progress: Callable[[int, int, str], None] | None = None,
    **options,
) -> CompiledProgram:
    """Lower ``graph`` with ``options`` (the options of ``select-strategy`` and ``lower-linear``:
    ``strategy``, ``method``, ``overrides``, ``threshold``, ``signs``, ``compose``) and build
    one circuit per kernel."""
    with one_blas_thread():
        return _compile(graph, target, options, progress)


def lowering_passes() -> tuple[type, ...]:
    from qlower.passes.lower_linear import LowerLinear
    from qlower.passes.lower_quantum import LowerQuantum
    from qlower.passes.select_strategy import SelectStrategy

    return (SelectStrategy, LowerLinear, LowerQuantum)


def lower_graph(graph: Graph, **options):
    """The lowered graph, its kernels and the layers left on the host: what ``compile`` builds
    circuits from, and all that ``estimate`` needs. ``options`` go to the passes that own them
    (the lowered stage's pipeline: canonical, ``select-strategy``, ``lower-linear``, ``dce``)."""
    from qlower.api import to_stage
    from qlower.passes import CANONICAL
    from qlower.passes.base import PipelineError
    from qlower.passes.dce import DeadCodeElimination
    from qlower.passes.manager import PassManager
    from qlower.passes.options import split_keywords
    from qlower.passes.partition import PartitionError, partition

    check_compilable(graph)
    classes = lowering_passes()
    try:
        passes = [cls(**kw) for cls, kw in split_keywords(classes, options).items()]
    except PipelineError as e:
        raise OptionError(str(e)) from None
    except TypeError as e:
        raise OptionError(f"compile: {e}") from None
    canonical = to_stage(graph, pipeline=CANONICAL)
    select, decisions = passes[0], ()
    if select.budgeted:  # the cost model lowers each candidate as lower-linear is set to
        from qlower.cost_model import decide_all

        decisions = tuple(decide_all(canonical, select, passes[1], passes[2].calibration))
        select = select.deciding(decisions)
    selected = PassManager([select], True).run(canonical)  # select-strategy
    origins = layer_origins(selected)
    lowered = PassManager([*passes[1:], DeadCodeElimination()], True).run(selected)
    try:
        kernels = partition(lowered)
    except PartitionError as e:
        raise QlowerError(str(e)) from None
    host = [{"op": op.name, "node": op.loc[0] if op.loc else f"%{op.result().name}"}
            for op in lowered.ops if op.dialect == "nn"]
    return lowered, kernels, host, origins, decisions


def layer_origins(graph: Graph) -> dict[str, dict]:
    """ONNX node name → the layer it became and its chosen strategy (``{"op", "node",
    "strategy"}``), from the graph ``select-strategy`` wrote: what a kernel's row lists."""
    out: dict[str, dict] = {}
    for op in graph.ops:
        strategy = op.attr("strategy", None) if "strategy" in op.attrs else None
        if strategy is None or strategy == "host":
            continue
        if op.attr("method", None):
            strategy = f"{strategy}:{op.attr('method')}"
        for node in op.loc:
            out.setdefault(node, {"op": op.name, "node": node, "strategy": strategy})
    return out


def estimate_graph(graph: Graph, **options) -> ProgramEstimate:
    """What compiling ``graph`` with ``options`` would cost, per kernel and in total, without
    building a circuit (``qlower.estimate``)."""
    with one_blas_thread():
        lowered, kernels, host, origins, decisions = lower_graph(graph, **options)
        return program_estimate(lowered, kernels, host, origins, decisions)


def _compile(graph, target, options, progress) -> CompiledProgram:
    from qlower.backends.cirq_emitter import build_kernel

    if target not in TARGETS:
        raise OptionError(f"unknown target '{target}' (targets: {', '.join(TARGETS)})")
    lowered, kernels, host, origins, decisions = lower_graph(graph, **options)
    built = []
    for i, k in enumerate(kernels):
        if progress is not None:
            progress(i, len(kernels), k.name)
        built.append(build_kernel(lowered, k))
    if progress is not None:
        progress(len(kernels), len(kernels), "")
    return CompiledProgram(lowered, built, target, full_options(options), host, origins,
                           decisions)


def full_options(options: Mapping) -> dict:
    """Every lowering option, given or default (overrides as a dict): what the manifest records."""
    import dataclasses

    from qlower.passes.options import Overrides

    out = {}
    for cls in lowering_passes():
        for f in dataclasses.fields(cls):
            value = options.get(f.name, f.default)
            out[f.name] = Overrides.parse(value).as_dict() if f.name == "overrides" else value
    return out
