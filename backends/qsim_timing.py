"""How long :class:`~qlower.backends.qsim.QsimRunner` takes: a rate model of what it does,
its constants measured on this machine.

One runner call costs

- host work per gate: Cirq → qsim translation, parameter resolution and the checks, all in
  Python and the dominant cost of a deep circuit on few qubits (10–80 µs per gate measured,
  more for symbolic and multi-qubit matrix gates). Per gate *kind* (gate type, qubit count,
  symbolic or not): a part paid once per call and a part paid per resolver (row);
- per simulation (one per row of a sweep, one per ``evolve``): allocating the state and
  handing it back, about proportional to 2^N;
- in qsim's C++: the circuit fused into gates of up to ``max_fused_gate_size`` qubits, each
  fused gate of k qubits costing c(k, N) on a state of N qubits.

The fused gates are estimated by :func:`profile`, a greedy pass over the circuit that gives
within a few per cent the counts qsim reports for fusion sizes 2 and 3 (its fuser works
differently for 4 and more; those are planned as 3). The constants are measured by timing
small synthetic circuits on the runner itself, lazily (only the gate kinds and state sizes a
prediction needs; states up to 24 qubits, twice the time per qubit beyond), each the median
of three (of five rounds for the millisecond host timings, the gate kinds a prediction needs
taking turns), and cached for the process per (threads,
fusion); with ``QLOWER_TIMING_CACHE=FILE`` they are also kept in that JSON file, keyed by
runner, threads, fusion and the versions of qsimcirq and cirq. Nothing here changes what a
run computes: predictions are reported, never acted on.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cirq
import numpy as np
import qsimcirq
import sympy

__all__ = ["CACHE_ENV", "Profile", "QsimRates", "profile", "rates_for"]

CACHE_ENV = "QLOWER_TIMING_CACHE"
PROFILE_LIMIT = 400_000  # operations profiled in full; beyond, evenly spaced windows
TOP = 24  # state sizes measured up to this; past it (a state far beyond the caches) 2x per qubit
HOST_GATES = 64  # copies of a gate in a host-cost calibration circuit
REPEATS = 3
HOST_REPEATS = 5  # the host calibrations take milliseconds: a load spike must not decide them

Kind = tuple[str, int, bool]  # (gate type name, qubits, symbolic)


def _median_time(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """The median of ``repeats`` wall times of ``fn()``: a run on a shared machine meets its
    load as the calibration did (the best of three would predict an idle machine)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# -- what qsim will do with a circuit ---------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """A circuit as the rate model sees it: its operations by kind, and the gates qsim's fuser
    makes of them (``fused[k]``: fused gates on k qubits). ``sampled``: the share of the
    circuit's operations looked at (counts are scaled up from it)."""

    operations: int
    kinds: dict[Kind, float]
    fused: dict[int, float]
    sampled: float = 1.0
    examples: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def fused_gates(self) -> float:
        return float(sum(self.fused.values()))


def _kind_name(op: cirq.Operation) -> str:
    gate = getattr(op, "gate", None)
    return type(gate).__name__ if gate is not None else type(op).__name__


def _plan(ops, index: dict, fusion: int, symbolic: bool, kinds: dict, examples: dict,
          fused: dict) -> int:
    """Greedy fusion of ``ops`` (in time order) into blocks of at most ``fusion`` qubits.

    Each gate joins the most recent block on its qubits when the union still fits (every
    earlier block on its qubits precedes that one, so the order on each qubit is kept), and
    draws in other blocks still open on all their qubits when they fit too; otherwise it
    starts a block. Gates larger than ``fusion`` stay alone (smaller ones inside their qubits
    join them). Counts kinds on the way; returns the operations seen."""
    latest: dict[int, int] = {}
    masks: list[int] = []
    sizes: list[int] = []
    by_type: dict[tuple, int] = {}
    seen = 0
    for op in ops:
        seen += 1
        qs = op.qubits
        gate = getattr(op, "gate", None)
        tkey = (type(gate) if gate is not None else type(op), len(qs),
                symbolic and cirq.is_parameterized(op))
        if tkey in by_type:
            by_type[tkey] += 1
        else:
            by_type[tkey] = 1
            examples[(_kind_name(op), tkey[1], bool(tkey[2]))] = op
        if len(qs) == 1:
            i = index[qs[0]]
            if latest.get(i, -1) >= 0:
                continue  # inside the latest block on its qubit
            masks.append(1 << i)
            sizes.append(1)
            latest[i] = len(masks) - 1
            continue
        if not qs:
            continue
        ids = [index[q] for q in qs]
        b = max(latest.get(i, -1) for i in ids)
        add = 0
        for i in ids:
            add |= 1 << i
        if b >= 0:
            mask = masks[b] | add
            size = mask.bit_count()
            if size <= fusion or size == sizes[b]:
                # draw in the other blocks that are still open on all their qubits
                for i in ids:
                    o = latest.get(i, -1)
                    if o < 0 or o == b:
                        continue
                    merged = mask | masks[o]
                    if merged.bit_count() > max(fusion, size):
                        continue
                    m, j, open_ = masks[o], 0, True
                    while m:
                        if m & 1 and latest.get(j) != o:
                            open_ = False
                            break
                        m >>= 1
                        j += 1
                    if not open_:
                        continue
                    mask = merged
                    m, j = masks[o], 0
                    while m:
                        if m & 1:
                            latest[j] = b
                        m >>= 1
                        j += 1
                    sizes[o] = 0  # absorbed
                masks[b] = mask
                sizes[b] = mask.bit_count()
                for i in ids:
                    latest[i] = b
                continue
        masks.append(add)
        sizes.append(len(ids))
        for i in ids:
            latest[i] = len(masks) - 1
    for (t, q, sym), count in by_type.items():
        key = (t.__name__, q, bool(sym))
        kinds[key] = kinds.get(key, 0) + count
    for s in sizes:
        if s:
            fused[s] = fused.get(s, 0) + 1
    return seen


_PROFILES: dict[tuple, tuple] = {}
_PROFILES_LOCK = threading.Lock()


def profile(circuit: cirq.AbstractCircuit, qubits: Sequence[cirq.Qid], fusion: int, *,
            symbolic: bool = True, limit: int = PROFILE_LIMIT) -> Profile:
    """The :class:`Profile` of ``circuit`` on ``qubits`` for qsim's ``max_fused_gate_size``
    ``fusion``. ``symbolic`` False skips the per-operation parameter test (a circuit known
    to have no parameters). Past ``limit`` operations, 16 evenly spaced runs of moments
    holding about ``limit`` operations in all are looked at and the counts scaled. Cached per
    circuit object (for as long as it lives)."""
    key = (id(circuit), tuple(qubits), min(fusion, 3), symbolic, limit)
    with _PROFILES_LOCK:
        hit = _PROFILES.get(key)
    if hit is not None and hit[0]() is circuit:
        return hit[1]
    if isinstance(circuit, cirq.Circuit):
        # Cirq computes a moment's qubits on first use (~15 us each) and the runner's checks
        # ask for them: fill that cache here, so a run after a prediction does not pay it
        circuit.all_qubits()
    index = {q: i for i, q in enumerate(qubits)}
    moments = list(circuit.moments) if isinstance(circuit, cirq.Circuit) else list(circuit)
    lengths = np.fromiter((len(m) for m in moments), dtype=np.int64, count=len(moments))
    total = int(lengths.sum())
    kinds: dict[Kind, float] = {}
    fused: dict[int, float] = {}
    examples: dict = {}
    fusion = min(int(fusion), 3)
    if total <= limit:
        _plan((op for m in moments for op in m), index, fusion, symbolic, kinds, examples, fused)
        share = 1.0
    else:
        runs, per = 16, max(1, limit // 16)
        ends = np.cumsum(lengths)
        seen = 0
        for r in range(runs):
            start = int(np.searchsorted(ends, total * r / runs, side="right"))
            before = int(ends[start] - lengths[start])
            stop = int(np.searchsorted(ends, before + per, side="left")) + 1
            ops = (op for m in moments[start:stop] for op in m)
            seen += _plan(ops, index, fusion, symbolic, kinds, examples, fused)
        share = seen / total
        kinds = {k: v / share for k, v in kinds.items()}
        fused = {k: v / share for k, v in fused.items()}
    prof = Profile(total, kinds, fused, share, examples)
    try:
        ref = weakref.ref(circuit)
    except TypeError:
        return prof
    with _PROFILES_LOCK:
        if len(_PROFILES) > 256:
            _PROFILES.clear()
        _PROFILES[key] = (ref, prof)
    return prof


# -- the rates -------------------------------------------------------------------------------


def _versions() -> str:
    return f"qsimcirq={getattr(qsimcirq, '__version__', '?')} cirq={cirq.__version__}"


class QsimRates:
    """The measured constants of one (threads, fusion) configuration, filled in lazily.

    ``host[kind]``: seconds per gate (once per ``states`` call, per row of it, per ``evolve``);
    ``gate[(k, N)]``: seconds per fused gate of k qubits on N qubits in qsim;
    ``call[N]`` / ``evolve_call[N]``: seconds of a ``states`` row / an ``evolve`` call on N
    qubits beyond its gates; ``shot``: seconds per sampled shot.
    ``calibration_seconds``: time spent measuring (in this process).
    """

    def __init__(self, threads: int, fusion: int, cache: str | os.PathLike | None = None):
        from qlower.backends.qsim import QsimRunner

        self.threads = int(threads)
        self.fusion = int(fusion)
        self.runner = QsimRunner(threads=self.threads, fusion=self.fusion)
        self.host: dict[Kind, tuple[float, float, float]] = {}
        self.gate: dict[tuple[int, int], float] = {}
        self.call: dict[int, float] = {}
        self.evolve_call: dict[int, float] = {}
        self.shot: float | None = None
        self.calibration_seconds = 0.0
        self.key = f"qsim threads={self.threads} fusion={self.fusion} {_versions()}"
        self.cache = Path(cache) if cache else None
        self._lock = threading.RLock()
        self._load()

    # -- the cache file -----------------------------------------------------------------------
    def _load(self) -> None:
        if self.cache is None:
            return
        try:
            doc = json.loads(self.cache.read_text()).get(self.key, {})
        except (OSError, ValueError, AttributeError):
            return
        try:
            for k, v in doc.get("host", {}).items():
                name, q, s = k.split("/")
                self.host[(name, int(q), s == "symbolic")] = tuple(float(x) for x in v[:3])
            for k, v in doc.get("gate", {}).items():
                a, b = k.split("/")
                self.gate[(int(a), int(b))] = float(v)
            self.call.update({int(k): float(v) for k, v in doc.get("call", {}).items()})
            self.evolve_call.update({int(k): float(v)
                                     for k, v in doc.get("evolve_call", {}).items()})
            if doc.get("shot") is not None:
                self.shot = float(doc["shot"])
        except (ValueError, TypeError, IndexError):
            return

    def _save(self) -> None:
        if self.cache is None:
            return
        try:
            whole = json.loads(self.cache.read_text()) if self.cache.exists() else {}
            if not isinstance(whole, dict):
                whole = {}
        except (OSError, ValueError):
            whole = {}
        whole[self.key] = {
            "host": {f"{n}/{q}/{'symbolic' if s else 'fixed'}": list(v)
                     for (n, q, s), v in self.host.items()},
            "gate": {f"{k}/{n}": v for (k, n), v in self.gate.items()},
            "call": {str(n): v for n, v in self.call.items()},
            "evolve_call": {str(n): v for n, v in self.evolve_call.items()},
            "shot": self.shot,
        }
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache.with_name(self.cache.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(whole, indent=1, sort_keys=True))
            os.replace(tmp, self.cache)
        except OSError:
            pass

    def _measured(self, fn: Callable[[], float]) -> float:
        t = time.perf_counter()
        value = fn()
        self.calibration_seconds += time.perf_counter() - t
        return value

    # -- measurements -------------------------------------------------------------------------
    def _options(self, fusion: int) -> dict:
        opts = qsimcirq.QSimOptions(cpu_threads=self.threads,
                                    max_fused_gate_size=fusion).as_dict()
        opts["s"] = 0
        return opts

    def _c_time(self, circuit: cirq.Circuit, qubits, fusion: int) -> float:
        """Median seconds of qsim's own simulation of ``circuit`` (translated once, untimed)."""
        translated, _ = qsimcirq.QSimCircuit(circuit).translate_cirq_to_qsim(qubits)
        opts = self._options(fusion)
        opts["c"] = translated
        return _median_time(lambda: qsimcirq.qsim.qsim_simulate_fullstate(opts, 0))

    def _measure_gate(self, k: int, n: int) -> float:
        """Seconds per fused gate of k qubits on n qubits: k-qubit gates on windows that step
        by one qubit, simulated with fusion k (so none fuse), less an empty circuit."""
        rng = np.random.default_rng(k * 100 + n)
        qs = cirq.LineQubit.range(n)
        d = 1 << k
        z = rng.standard_normal((d, d)) + 1j * rng.standard_normal((d, d))
        u, _ = np.linalg.qr(z)
        gate = cirq.MatrixGate(u)
        count = int(min(256, max(8, 2 ** (25 - n))))  # gates well above the empty run
        span = n - k + 1
        c = cirq.Circuit(gate.on(*qs[s % span: s % span + k]) for s in range(count))
        empty = cirq.Circuit(cirq.I(q) for q in qs[:1])
        t = self._c_time(c, qs, k) - self._c_time(empty, qs, k)
        return max(t, 1e-9) / count

    def _host_probe(self, op: cirq.Operation, symbolic: bool):
        """What measures ``op``'s kind: copies of it on a small register through the runner's
        own ``states`` with 1 and 4 rows, and its ``evolve``; returns (the three timed calls,
        the register size)."""
        k = len(op.qubits)
        size = max(2, k + 1)
        reg = cirq.LineQubit.range(size)
        span = size - k + 1
        ops = [op.with_qubits(*reg[s % span: s % span + k]) for s in range(HOST_GATES)]
        if symbolic:  # each copy its own symbols, as each gate of a loading circuit has
            own = sorted(cirq.parameter_names(op))
            ops = [cirq.resolve_parameters(o, {a: sympy.Symbol(f"{a}_{i}") for a in own})
                   for i, o in enumerate(ops)]
        # a symbolic marker makes every row's circuit differ, as the rows of a data sweep do
        # (qsimcirq translates a resolved circuit again unless it equals an earlier one);
        # one operation per moment, as in the kernels' circuits (about 1.3 there)
        row = sympy.Symbol("__qlower_row")
        c = cirq.Circuit(cirq.Moment(o) for o in [*ops, cirq.ry(row).on(reg[0])])
        names = sorted(cirq.parameter_names(c) - {row.name})

        def resolvers(count):
            return [cirq.ParamResolver({**{a: 0.25 for a in names}, row: 0.1 * (i + 1)})
                    for i in range(count)]

        one, four = resolvers(1), resolvers(4)
        calls = [lambda: self.runner.states(c, reg, one), lambda: self.runner.states(c, reg, four)]
        if not symbolic:  # evolve: translated once, nothing to resolve
            fixed = cirq.Circuit(cirq.Moment(o) for o in ops)
            init = np.zeros((1, 1 << size), np.complex64)
            init[0, 0] = 1
            calls.append(lambda: self.runner.evolve(fixed, reg, init))
        return calls, size

    def _measure_hosts(self, examples: dict) -> None:
        """Per-gate host seconds of each kind in ``examples`` (kind → an operation): once per
        ``states`` call, per row of it, per ``evolve`` call. The kinds' probes take turns,
        HOST_REPEATS rounds, and each time is the median of its rounds: a burst of the
        machine's load falls on every kind alike rather than on the one measured then."""
        probes = {kind: self._host_probe(op, kind[2]) for kind, op in examples.items()}
        times: dict = {kind: [[] for _ in calls] for kind, (calls, _) in probes.items()}
        for _ in range(HOST_REPEATS):
            for kind, (calls, _) in probes.items():
                for i, call in enumerate(calls):
                    t = time.perf_counter()
                    call()
                    times[kind][i].append(time.perf_counter() - t)
        for kind, (_calls, size) in probes.items():
            t1, t4, *te = (statistics.median(ts) for ts in times[kind])
            call = self.call_seconds(size)
            per_row = max((t4 - t1) / 3 - call, 0.0) / HOST_GATES
            once = max(t1 - call - per_row * HOST_GATES, 0.0) / HOST_GATES
            if per_row == 0.0:  # a noisy difference: split the one-row time evenly
                per_row = once = max(t1 - call, 0.0) / (2 * HOST_GATES)
            evolve = once + per_row
            if te:
                evolve = max(te[0] - self.evolve_call_seconds(size), 0.0) / HOST_GATES
            self.host[kind] = (once, per_row, evolve)

    def _measure_call(self, n: int) -> float:
        qs = cirq.LineQubit.range(n)
        empty = cirq.Circuit()
        return _median_time(lambda: self.runner.states(empty, qs, [cirq.ParamResolver()] * 2)) / 2

    def _measure_evolve_call(self, n: int) -> float:
        qs = cirq.LineQubit.range(max(n - 1, 1))
        rows = 2 if n > 1 else 1
        init = np.zeros((rows, 1 << len(qs)), np.complex64)
        init[:, 0] = 1
        empty = cirq.Circuit()
        return _median_time(lambda: self.runner.evolve(empty, qs, init))

    def _measure_shot(self) -> float:
        qs = cirq.LineQubit.range(4)
        c = cirq.Circuit(cirq.H.on_each(*qs))
        few = _median_time(lambda: self.runner.sample(c, qs, None, 10, 0))
        many = _median_time(lambda: self.runner.sample(c, qs, None, 20010, 0))
        return max(many - few, 0.0) / 20000

    # -- lookups (measuring what is missing) --------------------------------------------------
    def _sized(self, table: dict, n: int, measure: Callable[[int], float], k: int | None = None):
        """``table`` at state size n: measured up to TOP qubits, twice as much per qubit
        beyond (memory-bound: the work and the bytes both double)."""
        def at(m):
            key = m if k is None else (k, m)
            if key not in table:
                with self._lock:
                    if key not in table:
                        table[key] = self._measured(lambda: measure(m))
                        self._save()
            return table[key]

        if n > TOP:
            return at(TOP) * 2.0 ** (n - TOP)
        return at(max(n, 1))

    def call_seconds(self, n: int) -> float:
        return self._sized(self.call, n, self._measure_call)

    def evolve_call_seconds(self, n: int) -> float:
        return self._sized(self.evolve_call, n, self._measure_evolve_call)

    def gate_seconds(self, k: int, n: int) -> float:
        """One fused gate of k qubits (1..6) on a state of n qubits."""
        k = max(1, min(int(k), 6, n))
        return self._sized(self.gate, n, lambda m: self._measure_gate(min(k, m), m), k)

    def host_seconds(self, kind: Kind, example: cirq.Operation) -> tuple[float, float, float]:
        if kind not in self.host:
            self.measure_hosts({kind: example})
        return self.host[kind]

    def measure_hosts(self, examples: dict) -> None:
        """Measure the host rates of the kinds in ``examples`` (kind → an operation) not
        measured yet, together."""
        missing = {k: op for k, op in examples.items() if k not in self.host}
        if not missing:
            return
        with self._lock:
            missing = {k: op for k, op in missing.items() if k not in self.host}
            if missing:
                for size in {max(2, k[1] + 1) for k in missing}:  # outside the turns
                    self.call_seconds(size)
                    self.evolve_call_seconds(size)
                self._measured(lambda: self._measure_hosts(missing))
                self._save()

    def shot_seconds(self) -> float:
        if self.shot is None:
            with self._lock:
                if self.shot is None:
                    self.shot = self._measured(self._measure_shot)
                    self._save()
        return self.shot

    # -- predictions --------------------------------------------------------------------------
    def simulation_seconds(self, prof: Profile, n: int) -> float:
        """qsim's C++ part: every fused gate on a state of n qubits. Sizes below the most
        common one that make under a tenth of the fused gates are costed as that size (an
        upper bound that spares measuring them)."""
        total = prof.fused_gates
        if not total:
            return 0.0
        main = max(prof.fused, key=lambda k: (prof.fused[k], k))
        return sum(count * self.gate_seconds(main if k < main and count < 0.1 * total else k, n)
                   for k, count in prof.fused.items())

    def host_work(self, prof: Profile) -> tuple[float, float, float]:
        """Host seconds on ``prof``'s gates: (once per ``states`` call, per row, per
        ``evolve``)."""
        self.measure_hosts(prof.examples)
        once = row = evolve = 0.0
        for kind, count in prof.kinds.items():
            a, b, e = self.host_seconds(kind, prof.examples[kind])
            once += count * a
            row += count * b
            evolve += count * e
        return once, row, evolve

    def predict(self, circuit, qubits, rows: int, *, shots: int | None = None,
                evolve: bool = False) -> float:
        """Seconds of ``states`` (``rows`` resolvers), ``sample`` (with ``shots``) or
        ``evolve`` (``rows`` initial states) of ``circuit`` on ``qubits``."""
        rows = int(rows)
        if rows <= 0:
            return 0.0
        n = len(qubits)
        prof = profile(circuit, qubits, self.fusion, symbolic=not evolve)
        once, row, whole = self.host_work(prof)
        if evolve:
            big = n + max(0, (rows - 1).bit_length())
            return whole + self.evolve_call_seconds(big) + self.simulation_seconds(prof, big)
        seconds = once + rows * (row + self.call_seconds(n) + self.simulation_seconds(prof, n))
        if shots is not None:
            seconds += rows * int(shots) * self.shot_seconds()
        return seconds


_RATES: dict[tuple[int, int, str | None], QsimRates] = {}
_RATES_LOCK = threading.Lock()


def rates_for(threads: int, fusion: int) -> QsimRates:
    """The process's :class:`QsimRates` for (threads, fusion), made on first use (and read
    from ``$QLOWER_TIMING_CACHE`` where that is set)."""
    cache = os.environ.get(CACHE_ENV) or None
    key = (int(threads), int(fusion), cache)
    with _RATES_LOCK:
        rates = _RATES.get(key)
        if rates is None:
            rates = _RATES[key] = QsimRates(threads, fusion, cache)
    return rates
