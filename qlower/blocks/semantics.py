"""Reference semantics of the amplitude-encoding ``q``/``host`` ops, in numpy, without circuits.

The block encodings' semantics are their registry entries' ``implemented`` matrices
(``qlower.blocks.registry``).

``state_from_angles`` rebuilds the prepared state from the amplitude-encoding angles by the
multiplexor algebra alone (no simulation), so it checks ``encoding_angles`` — and a kernel's
simulation checks both.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.mux import pattern_angles
from qlower.ir.dialects.quantum import qubits_for


def state_from_angles(angles: np.ndarray, size: int) -> np.ndarray:
    """The state (complex, ``[..., 2**n]``) prepared by qlower's amplitude-encoding circuit.

    Level 0 is ``Ry(t)`` on the first qubit. Level ``k >= 1`` is a Gray-code Ry-multiplexor on
    qubit ``k`` controlled by qubits ``0..k-1`` whose final CNOT is dropped, so the target gets
    ``X^msb(p) Ry(a_p)|0⟩`` for control pattern ``p`` (``a = pattern_angles(t)``). The angles
    of level ``k`` are ``angles[..., 2**k - 1 : 2**(k+1) - 1]`` in emission order.
    """
    angles = np.asarray(angles, dtype=np.float64)
    n = qubits_for(size)
    lead = angles.shape[:-1]
    if angles.shape[-1] != (1 << n) - 1:
        raise ValueError(f"size {size} takes {(1 << n) - 1} angles, got {angles.shape[-1]}")
    t0 = angles[..., 0]
    v = np.stack([np.cos(t0 / 2), np.sin(t0 / 2)], axis=-1)
    for k in range(1, n):
        a = pattern_angles(angles[..., (1 << k) - 1 : (1 << (k + 1)) - 1])
        c, s = np.cos(a / 2), np.sin(a / 2)
        msb = (np.arange(1 << k) >> (k - 1)) & 1
        lo = np.where(msb == 1, s, c)
        hi = np.where(msb == 1, c, s)
        v = np.stack([v * lo, v * hi], axis=-1).reshape(*lead, 1 << (k + 1))
    return v.astype(np.complex128)


def encoding_angles(x: np.ndarray, size: int) -> np.ndarray:
    """Angles preparing ``x/‖x‖`` zero-padded to ``size``; zero rows get basis state 0."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    if n > size:
        raise ValueError(f"vector of {n} entries does not fit size {size}")
    padded = np.zeros(x.shape[:-1] + (max(size, 2),), dtype=np.float64)
    padded[..., :n] = x
    zero = ~np.any(padded != 0, axis=-1)
    padded[zero, 0] = 1.0
    from qlower.blocks.amplitude import mottonen_angles

    return np.ascontiguousarray(mottonen_angles(padded), dtype=np.float64)


def overlap_vectors(x: np.ndarray, w: np.ndarray, size: int) -> np.ndarray:
    """``[x̂; ŵ_i] / √2`` for every row ``i`` of ``w``: ``[..., M, 2*size]`` (zero rows → e_0)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    N = x.shape[-1]

    def unit(v):
        nrm = np.linalg.norm(v, axis=-1, keepdims=True)
        out = np.zeros(v.shape[:-1] + (size,), dtype=np.float64)
        out[..., :N] = np.divide(v, nrm, out=np.zeros_like(v), where=nrm > 0)
        out[..., 0] = np.where(nrm[..., 0] > 0, out[..., 0], 1.0)
        return out

    xh = unit(x)[..., None, :]
    wh = unit(w)
    lead = x.shape[:-1]
    xh = np.broadcast_to(xh, lead + wh.shape)
    wh = np.broadcast_to(wh, lead + wh.shape)
    return np.concatenate([xh, wh], axis=-1) / np.sqrt(2.0)
