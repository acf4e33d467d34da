"""What every building block returns.

A block is a circuit plus the contract for reading it (the same for every block, so a
kernel is read and rescaled the same way whatever it holds):

- ``registers.input``: the qubits that hold the encoded input vector (big-endian, Cirq order);
  every other qubit starts in |0⟩. Empty for a state preparation.
- ``registers.output``: the qubits whose basis index is the output vector's index.
- ``registers.flags``: every other qubit; the result is valid where they all read 0.
- ``alpha``: the scale κ with ``y = κ · ψ``, ψ the amplitudes at flags = 0 (for a block
  encoding: ``(⟨0_flags| ⊗ I_out) U (|0_anc⟩ ⊗ I_in) = W / alpha``; for an amplitude
  encoding: ``alpha = ‖x‖``).
- ``symbols``: the circuit's free parameters (data-dependent angles), in a fixed order;
  ``resolver(values)`` binds them. A block built from numbers has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cirq
import numpy as np
import sympy

from qlower.blocks.circuits import Resources, count_resources


@dataclass(frozen=True)
class Registers:
    input: tuple[cirq.Qid, ...]
    output: tuple[cirq.Qid, ...]
    flags: tuple[cirq.Qid, ...]

    @property
    def qubits(self) -> tuple[cirq.Qid, ...]:
        """Every qubit of the block, sorted (the order of Cirq's state vectors)."""
        return tuple(sorted(set(self.input) | set(self.output) | set(self.flags)))


@dataclass(frozen=True, eq=False)
class Block:
    circuit: cirq.Circuit
    alpha: float
    registers: Registers
    symbols: tuple[sympy.Symbol, ...] = ()
    _resources: list = field(default_factory=list, repr=False, compare=False)

    @property
    def qubits(self) -> tuple[cirq.Qid, ...]:
        return self.registers.qubits

    def resources(self) -> Resources:
        return self.count()

    def count(self) -> Resources:
        """Resources counted gate by gate on the circuit (once)."""
        if not self._resources:
            self._resources.append(count_resources(self.circuit, self.qubits))
        return self._resources[0]

    def resolver(self, values) -> cirq.ParamResolver:
        """A resolver binding ``symbols`` (in order) to ``values``."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.size != len(self.symbols):
            raise ValueError(f"expected {len(self.symbols)} parameter values, got {values.size}")
        return cirq.ParamResolver(dict(zip(self.symbols, values.tolist())))


def readout(state: np.ndarray, qubits, registers: Registers) -> np.ndarray:
    """Amplitudes of ``state`` (over ``qubits`` in order) at flags = 0, indexed by output.

    Vectorised over leading axes of ``state``. Output index = big-endian integer over
    ``registers.output`` in its listed order.
    """
    qubits = list(qubits)
    n = len(qubits)
    st = np.asarray(state).reshape(*np.shape(state)[:-1], *([2] * n))
    lead = st.ndim - n
    index: list = [slice(None)] * lead + [0] * n
    out_axes = []
    for q in registers.output:
        index[lead + qubits.index(q)] = slice(None)
        out_axes.append(qubits.index(q))
    sub = st[tuple(index)]
    # remaining axes are the output qubits in circuit order; put them in register order
    order = sorted(out_axes)
    perm = [order.index(a) for a in out_axes]
    sub = np.transpose(sub, list(range(lead)) + [lead + p for p in perm])
    return sub.reshape(*np.shape(state)[:-1], 1 << len(registers.output))
