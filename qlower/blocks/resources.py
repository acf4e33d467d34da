"""What a circuit costs: qubits, CNOT equivalents, rotations, depth, T gates (numpy-free).

Counted on a built circuit by ``qlower.blocks.circuits.count_resources``, or composed from the
closed forms of the registered methods (``qlower.blocks.registry``) without building one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Resources:
    """What a circuit costs.

    ``cnots`` counts two-qubit gates as CNOT equivalents (CNOT, CZ and their powers at ±1
    count 1 each; any other two-qubit gate counts 3, its KAK bound). ``rotations`` counts
    non-Clifford single-qubit rotation angles (a general single-qubit unitary counts its
    non-Clifford Euler angles). ``t_estimate`` is the T count after synthesising every
    rotation to precision ``eps / rotations`` (3·log2(1/ε) T gates each [Ross–Selinger]),
    plus explicit T gates.
    """

    qubits: int
    cnots: int
    rotations: int
    depth: int
    single_qubit: int
    t_gates: int = 0

    def t_estimate(self, eps: float = 1e-3) -> int:
        if self.rotations == 0:
            return self.t_gates
        per = 3.0 * math.log2(self.rotations / eps)
        return self.t_gates + int(math.ceil(self.rotations * per))

    def as_dict(self, eps: float = 1e-3) -> dict:
        return {
            "qubits": self.qubits,
            "cnots": self.cnots,
            "rotations": self.rotations,
            "depth": self.depth,
            "single_qubit": self.single_qubit,
            "t_estimate": self.t_estimate(eps),
        }

    def __add__(self, other: Resources) -> Resources:
        """Resources of running ``self`` then ``other`` on the same register (depth adds)."""
        return Resources(
            qubits=max(self.qubits, other.qubits),
            cnots=self.cnots + other.cnots,
            rotations=self.rotations + other.rotations,
            depth=self.depth + other.depth,
            single_qubit=self.single_qubit + other.single_qubit,
            t_gates=self.t_gates + other.t_gates,
        )


ZERO = Resources(qubits=0, cnots=0, rotations=0, depth=0, single_qubit=0)



CLIFFORD_TOL = 1e-12  # an angle within this many quarter turns of a multiple of π/2 is Clifford


def non_clifford(angles) -> int:
    """How many of ``angles`` (radians) are not multiples of π/2: the rotations that count."""
    import numpy as np

    r = np.asarray(angles, dtype=np.float64) / (math.pi / 2)
    return int(np.count_nonzero(np.abs(r - np.round(r)) >= CLIFFORD_TOL))


_POPCOUNT16 = None


def popcount(a):
    """Set bits of each entry of a non-negative integer array (a 16-bit table, 4 lookups)."""
    import numpy as np

    global _POPCOUNT16
    if _POPCOUNT16 is None:
        table = np.zeros(1 << 16, dtype=np.int64)
        for b in range(16):
            table[1 << b:1 << (b + 1)] = table[:1 << b] + 1
        _POPCOUNT16 = table
    a = np.asarray(a, dtype=np.int64)
    n = np.zeros(a.shape, dtype=np.int64)
    for shift in (0, 16, 32, 48):
        n += _POPCOUNT16[(a >> shift) & 0xFFFF]
    return n


__all__ = ["CLIFFORD_TOL", "ZERO", "Resources", "non_clifford", "popcount"]
