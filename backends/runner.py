"""The runner protocol: what a simulator or device that runs kernels says it can give.

A runner has a ``name`` (for messages) and ``capabilities``, a set of:

- ``"states"``: ``states(circuit, qubits, resolvers)`` returns the final state vectors of a
  parameter sweep, complex ``[len(resolvers), 2**len(qubits)]``, row r for ``resolvers[r]``.
- ``"samples"``: ``sample(circuit, qubits, resolvers, shots, seed)`` returns ``shots`` measured
  bitstrings per resolver, int64 ``[len(resolvers), shots]`` (what hardware, or a distributed or
  GPU simulator, gives); the same seed gives the same samples.
- ``"evolve"`` (optional, with ``"states"``): ``evolve(circuit, qubits, initial)`` applies a
  parameter-free circuit to each row of ``initial`` in one simulation.

A runner may also predict its wall time: ``predict_seconds(circuit, qubits, rows, shots=None,
*, evolve=False)``, the seconds ``states`` (``rows`` resolvers), ``sample`` (with ``shots``) or
``evolve`` (``rows`` initial states) would take. ``CompiledProgram.run(..., timing=True)``,
``run --json`` and the budget check's refusal report it beside the measured time; a runner
without it gets no prediction. :class:`~qlower.backends.qsim.QsimRunner` predicts from rates it
measures on the machine (:mod:`qlower.backends.qsim_timing`).

Basis indices and bitstrings are big-endian over ``qubits``: ``qubits[0]`` is the most
significant bit. ``circuit``, ``qubits`` and ``resolvers`` are in the runner's own circuit format:
Cirq for :class:`~qlower.backends.qsim.QsimRunner` and any runner given to
``CompiledProgram.run(..., backend=runner)``; Qiskit circuits loaded from a compiled folder's
OpenQASM 3 for :class:`~qlower.backends.aer.AerRunner` and ``run_folder``.

Exact read-out needs ``"states"``; shot read-out needs only ``"samples"`` (a runner with
``"states"`` as well may be sampled from its states). :func:`require` refuses, in one line
naming the runner, a mode its capabilities cannot serve.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from qlower.errors import OptionError

__all__ = ["CAPABILITIES", "EVOLVE", "SAMPLES", "STATES", "Runner", "capabilities", "counts",
           "require", "runner_name", "sampler_seed"]

STATES = "states"
SAMPLES = "samples"
EVOLVE = "evolve"
CAPABILITIES = frozenset({STATES, SAMPLES, EVOLVE})


@runtime_checkable
class Runner(Protocol):
    """A runner declares its name and capabilities; its methods are those its capabilities
    name (see the module docstring)."""

    name: str
    capabilities: frozenset[str]


def runner_name(runner) -> str:
    return str(getattr(runner, "name", None) or type(runner).__name__)


def capabilities(runner) -> frozenset[str]:
    """The capabilities ``runner`` declares, checked: known names, and a method for each."""
    caps = getattr(runner, "capabilities", None)
    if caps is None or isinstance(caps, str):
        raise OptionError(f"runner '{runner_name(runner)}' declares no capabilities (a runner "
                          "gives 'states' and/or 'samples')")
    caps = frozenset(caps)
    unknown = sorted(caps - CAPABILITIES)
    if unknown:
        raise OptionError(f"runner '{runner_name(runner)}' declares unknown capabilities "
                          f"{', '.join(unknown)} (known: evolve, samples, states)")
    if not caps & {STATES, SAMPLES}:
        raise OptionError(f"runner '{runner_name(runner)}' gives neither states nor samples")
    method = {STATES: "states", SAMPLES: "sample", EVOLVE: "evolve"}
    missing = sorted(method[c] for c in caps if not callable(getattr(runner, method[c], None)))
    if missing:
        raise OptionError(f"runner '{runner_name(runner)}' declares {', '.join(sorted(caps))} "
                          f"but has no method {', '.join(missing)}")
    return caps


def require(runner, shots: int | None) -> frozenset[str]:
    """The runner's capabilities, if they serve the read-out: exact (``shots`` None) needs
    states, shots need samples or states. Otherwise a one-line OptionError naming the runner."""
    caps = capabilities(runner)
    if shots is None and STATES not in caps:
        raise OptionError(f"runner '{runner_name(runner)}' gives measurement samples only; exact "
                          "read-out needs final states: give a number of shots (--shots N)")
    return caps


def sampler_seed(seed: int, start: int) -> int:
    """The seed a sampler gets for the rows from ``start`` of a kernel run with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(start)]).generate_state(1)[0])


def counts(bits: np.ndarray, qubits: int) -> np.ndarray:
    """Counts ``[rows, 2**qubits]`` of the bitstrings ``[rows, shots]`` a sampler returned."""
    bits = np.asarray(bits, dtype=np.int64)
    dim = 1 << qubits
    if bits.size and (bits.min() < 0 or bits.max() >= dim):
        raise ValueError(f"sampled bitstrings outside 0..{dim - 1} for {qubits} qubits")
    out = np.zeros((bits.shape[0], dim), dtype=np.int64)
    for i, row in enumerate(bits):
        out[i] = np.bincount(row, minlength=dim)
    return out
