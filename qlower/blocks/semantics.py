"""Reference semantics of the ``q``/``host`` ops, in numpy, independent of any circuit.

``state_from_angles`` rebuilds the prepared state from the amplitude-encoding angles by the
multiplexor algebra alone (no simulation), so it checks ``encoding_angles`` — and a kernel's
simulation checks both.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

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


@dataclass(frozen=True)
class BlockPlan:
    """What lowering needs to know about a block encoding before building its circuit."""

    method: str
    alpha: float
    input_qubits: int
    attrs: dict


@functools.lru_cache(maxsize=16)
def _cached_block(key: bytes, shape: tuple, dtype: str, method: str, threshold: float):
    from qlower.blocks.block_encoding import block_encoding

    w = np.frombuffer(key, dtype=dtype).reshape(shape)
    return block_encoding(w, method, threshold=threshold)


def cached_block_encoding(w: np.ndarray, method: str, threshold: float = 0.0):
    """``block_encoding(w, method, threshold=...)``, built once per distinct weights: lowering
    (α, flags), the reference semantics (the implemented matrix) and the emitter share it."""
    w = np.ascontiguousarray(w)
    return _cached_block(w.tobytes(), w.shape, w.dtype.str, method, float(threshold))


def block_plan(w: np.ndarray, method: str = "auto", threshold: float = 0.0) -> BlockPlan:
    """The method, alpha, input qubits and op attributes of a block encoding of ``w``.

    Alpha and the registers come from ``block_alpha`` and ``block_layout``, the functions the
    circuit builders use, without building the circuit. ``threshold`` compresses FABLE (the
    other ops take no threshold, so it does not apply to them).
    """
    from qlower.blocks.block_encoding import as_matrix, block_alpha, choose_method
    from qlower.blocks.layout import block_layout

    a = as_matrix(w)
    if method == "auto":
        method = choose_method(a)
    M, N = a.shape
    if method == "fable":
        alpha = block_alpha(a, "fable", threshold=threshold)
        layout = block_layout("fable", M, N)
        return BlockPlan("fable", alpha, layout.input, {"alpha": alpha, "threshold": float(threshold)})
    alpha = block_alpha(a, method)
    attrs: dict = {"alpha": alpha}
    terms = None
    if method == "lcu":
        from qlower.blocks.lcu import pauli_terms

        terms = attrs["terms"] = len(pauli_terms(a)[1])
    return BlockPlan(method, alpha, block_layout(method, M, N, terms=terms).input, attrs)


def implemented_matrix(w: np.ndarray, method: str, threshold: float = 0.0) -> np.ndarray:
    """The matrix a block encoding of ``w`` implements exactly (``w`` unless compressed)."""
    if method != "fable" or threshold <= 0:
        return np.asarray(w)
    return cached_block_encoding(w, method, threshold).matrix


def apply_block(method: str, state: np.ndarray, w: np.ndarray, alpha: float, options: dict) -> np.ndarray:
    """Post-selected amplitudes after a block encoding of ``w``: ``W x̂ / alpha``, padded."""
    from qlower.blocks.layout import block_layout

    M, N = w.shape
    mat = implemented_matrix(w, method, options.get("threshold", 0.0)).astype(np.complex128)
    psi = state[..., :N] @ mat.T / alpha
    out = block_layout(method, M, N, terms=options.get("terms")).output
    res = np.zeros(state.shape[:-1] + (1 << out,), dtype=np.complex128)
    res[..., :M] = psi
    return res
