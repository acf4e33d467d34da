"""Read-out rules: how a kernel's final state, or measurement counts of it, give its value.

One rule per kernel, stated by qubit indices (big-endian: qubit 0 is the most significant bit of
a basis index), so it reads the same from a :class:`~qlower.backends.cirq_emitter.KernelCircuit`
as from the ``readout`` entry of ``manifest.json``; every simulator (qsim, Aer, a device) reads
out through it.

- ``"amplitudes"`` (block encodings): ``psi_i`` = amplitude of |flags = 0, output = i⟩,
  ``i < size``; from shots (only for ``nonnegative`` outputs) ``psi_i = sqrt(n_i / S)``, standard
  error ``sqrt((1 - p_i) / (4 S))``.
- ``"probabilities"`` (softmax states): ``p_i = P(output = i | flags = 0)``, ``i < size``; from
  shots ``p_i = (n_i + s) / (S_0 + size·s)`` (``S_0`` the shots whose flags read 0, ``s`` the
  smoothing, 0 unless a loss asks for ½), standard error ``sqrt(p_i (1 - p_i) / S_0)``; NaN
  where no shot passed.
- ``"success"`` (a squared norm): ``P(flags = 0)``, summed over the output qubits; from shots
  (of the flags alone) ``n_0 / S``, standard error ``sqrt(p (1 - p) / S)``.
- ``"swap-test"`` (destructive): ``F = 2 P(Σ_i a_i b_i even) − 1`` over the qubit pairs
  ``(output[i], flags[i])`` of the two registers; from shots ``2 n_even / S − 1``, standard
  error ``sqrt((1 − F²) / S)``.
- ``"hadamard-test"``: ``2 P(q[measure_qubit] = 0) - 1``; from shots ``2 n_0 / S - 1``,
  standard error ``2 sqrt(p_0 (1 - p_0) / S)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.blocks.base import Registers, readout

__all__ = ["ReadoutRule"]


@dataclass(frozen=True)
class ReadoutRule:
    """A kernel's read-out over ``qubits`` qubits, by qubit index.

    ``output``/``flags``: the output and flag qubits of an ``"amplitudes"`` rule (output listed
    most significant first); ``measure_qubit``: the qubit of a ``"hadamard-test"``.
    """

    kernel: str
    rule: str
    qubits: int
    output: tuple[int, ...] = ()
    flags: tuple[int, ...] = ()
    size: int = 1
    nonnegative: bool = False
    measure_qubit: int = 0
    smoothing: float = 0.0  # "probabilities": shots estimate (n_k + s) / (n_0 + size·s)

    @classmethod
    def from_manifest(cls, entry: dict) -> ReadoutRule:
        """The rule of one kernel entry of ``manifest.json``."""
        doc = entry["readout"]
        n = int(entry["qubits"])
        if doc["rule"] == "hadamard-test":
            return cls(entry["name"], "hadamard-test", n, measure_qubit=int(doc["measure_qubit"]))
        if doc["rule"] == "swap-test":
            return cls(entry["name"], "swap-test", n, tuple(map(int, doc["first_register"])),
                       tuple(map(int, doc["second_register"])))
        if doc["rule"] == "success":
            return cls(entry["name"], "success", n, tuple(map(int, doc["output_qubits"])),
                       tuple(map(int, doc["flag_qubits"])))
        if doc["rule"] == "probabilities":
            return cls(entry["name"], "probabilities", n, tuple(map(int, doc["output_qubits"])),
                       tuple(map(int, doc["flag_qubits"])), int(doc["size"]), True,
                       smoothing=float(doc.get("smoothing", 0.0)))
        if doc["rule"] != "amplitudes":
            raise ValueError(f"kernel {entry['name']}: unknown read-out rule {doc['rule']!r}")
        return cls(entry["name"], doc["rule"], n, tuple(map(int, doc["output_qubits"])),
                   tuple(map(int, doc["flag_qubits"])), int(doc["size"]), bool(doc["nonnegative"]))

    @property
    def measured(self) -> tuple[int, ...]:
        """The qubits a shot read-out measures: output then flag qubits (a Hadamard test: its
        one qubit). Bit k of a program's measurement register holds qubit ``measured[k]``."""
        if self.rule == "hadamard-test":
            return (self.measure_qubit,)
        if self.rule == "success":
            return self.flags
        return self.output + self.flags  # a swap test: both registers

    def _even(self, weights: np.ndarray) -> np.ndarray:
        """Total weight of the outcomes whose pairs (output[i], flags[i]) have an even number
        of (1, 1): ``(1 + F)/2`` of a swap test."""
        idx = np.arange(1 << self.qubits)
        parity = np.zeros_like(idx)
        for qa, qb in zip(self.output, self.flags):
            sa, sb = self.qubits - 1 - qa, self.qubits - 1 - qb
            parity ^= ((idx >> sa) & 1) & ((idx >> sb) & 1)
        return np.sum(np.asarray(weights)[..., parity == 0], axis=-1, dtype=np.float64)

    def _amplitudes(self, states: np.ndarray) -> np.ndarray:
        return readout(states, range(self.qubits), Registers((), self.output, self.flags))

    def _p0(self, weights: np.ndarray) -> np.ndarray:
        """Total weight of the basis states with q[measure_qubit] = 0, per row."""
        lead = np.shape(weights)[:-1]
        m = self.measure_qubit
        st = np.asarray(weights).reshape(*lead, 1 << m, 2, 1 << (self.qubits - 1 - m))
        return np.sum(st[..., 0, :].reshape(*lead, 1 << (self.qubits - 1)), axis=-1, dtype=np.float64)

    def exact(self, states: np.ndarray) -> np.ndarray:
        """The read-out value from final state vectors ``[..., 2**qubits]`` (float64)."""
        if self.rule == "hadamard-test":
            return 2 * self._p0(np.abs(states) ** 2) - 1
        if self.rule == "success":
            return self.success_probability(states)
        if self.rule == "swap-test":
            return 2 * self._even(np.abs(states) ** 2) - 1
        amps = self._amplitudes(states)
        if self.rule == "probabilities":
            return self._conditional(np.abs(amps.astype(np.complex128)) ** 2)[0]
        return np.ascontiguousarray(amps[..., : self.size].real, dtype=np.float64)

    def _conditional(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``weights`` of the output indices at flags = 0 normalised to probabilities (first
        ``size``), and their total (NaN probabilities where it is 0)."""
        total = np.sum(weights, axis=-1, keepdims=True, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = weights[..., : self.size] / total
        return np.ascontiguousarray(p, dtype=np.float64), total[..., 0]

    def success_probability(self, states: np.ndarray) -> np.ndarray:
        """Probability that the flags read 0 (1 for a Hadamard test), per state."""
        if self.rule in ("hadamard-test", "swap-test"):
            return np.ones(np.shape(states)[:-1])
        return np.sum(np.abs(self._amplitudes(states)) ** 2, axis=-1, dtype=np.float64)

    def estimate(self, counts: np.ndarray, shots: int) -> tuple[np.ndarray, np.ndarray]:
        """Estimates and standard errors from counts ``[batch, 2**qubits]`` of ``shots`` shots
        per row (basis index big-endian over all qubits; unmeasured qubits count as 0)."""
        counts = np.asarray(counts, dtype=np.float64)
        if self.rule == "hadamard-test":
            p0 = self._p0(counts) / shots
            return 2 * p0 - 1, 2 * np.sqrt(p0 * (1 - p0) / shots)
        if self.rule == "success":
            p = self.success_probability(np.sqrt(counts / shots))
            return p, np.sqrt(p * (1 - p) / shots)
        if self.rule == "swap-test":
            F = 2 * self._even(counts) / shots - 1
            return F, np.sqrt(np.clip(1 - F ** 2, 0, None) / shots)
        if self.rule == "probabilities":
            n = self._amplitudes(counts).real[..., : self.size]
            passed = np.sum(self._amplitudes(counts).real, axis=-1)
            s = self.smoothing
            with np.errstate(invalid="ignore", divide="ignore"):
                p = (n + s) / (passed[..., None] + self.size * s)
                return p, np.sqrt(p * (1 - p) / passed[..., None])
        if not self.nonnegative:
            raise ValueError(
                f"kernel {self.kernel}: its outputs have signs a shot read-out cannot see; "
                "lower it with signs=offset (the default; a layer norm's centring kernel has "
                "no offset) or run without shots"
            )
        p = self._amplitudes(counts).real[..., : self.size] / shots
        return np.sqrt(p), np.sqrt((1 - p) / (4 * shots))

    def measured_success(self, counts: np.ndarray, shots: int) -> np.ndarray:
        """The fraction of shots whose flags read 0, per row (1 for a Hadamard test)."""
        return self.success_probability(np.sqrt(np.asarray(counts, dtype=np.float64) / shots))
