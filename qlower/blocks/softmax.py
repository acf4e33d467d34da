"""Softmax states: a register whose Born probabilities are ``softmax(s)``.

``exact`` (the scores are known to the host, LOWERINGS §4a). ``ℓ`` index qubits in ``|+⟩^ℓ``
and one flag; a Gray-code ``Ry``-multiplexor on the flag, controlled by the index register,
rotates the flag of index ``k`` by ``θ_k`` with ``cos(θ_k/2) = e^{(s_k − s_max)/2}``. At
flag = 0 the amplitude of ``|k⟩`` is ``e^{(s_k − s_max)/2} / √L`` (``L = 2^ℓ``), so::

    P(k | flag = 0) = e^{s_k − s_max} / Σ_j e^{s_j − s_max} = softmax(s)_k      (exactly)
    P(flag = 0)     = Σ_j e^{s_j − s_max} / L  >=  1/L                          (the largest score)

An entry beyond the scores (padding to ``L``) or a masked one (``s_k = −inf``) gets ``θ = π``:
amplitude 0. The multiplexor's final CNOT is dropped: it would only flip the flag for the
patterns whose most significant bit is 1, and those patterns use ``π − θ`` instead
(``X Ry(π − θ)|0⟩ = Ry(θ)|0⟩``, as amplitude encoding does).

Cost: ``2^ℓ − 1`` CNOTs, ``2^ℓ`` ``Ry`` rotations, ``ℓ`` Hadamards; depth ``2^(ℓ+1)`` (the
flag's rotations and CNOTs in series, after one layer of Hadamards).

Angles (circuit parameters, in emission order): the ``2^ℓ`` rotation angles of the multiplexor,
``t = 2^-ℓ (H a)[gray]`` (``qlower.blocks.mux``) of the per-pattern angles ``a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.blocks.mux import cnot_control_bits, mux_angles, pattern_angles
from qlower.blocks.resources import Resources


def index_qubits(size: int) -> int:
    """Index qubits of a softmax state over ``size`` entries (at least one)."""
    return max(1, (int(size) - 1).bit_length())


def _msb(k: int) -> np.ndarray:
    """The most significant bit of each of the ``2**k`` control patterns."""
    return (np.arange(1 << k) >> (k - 1)) & 1


def softmax_thetas(s: np.ndarray, size: int, power: float = 0.5) -> np.ndarray:
    """Per-entry flag angles ``θ`` (``[..., 2**ℓ]``): ``cos(θ_k/2) = e^{power·(s_k - max s)}``,
    ``π`` for padding and for ``-inf``. A row of only ``-inf`` gets ``π`` everywhere (no
    amplitude at flag = 0: its softmax is undefined); NaN or ``+inf`` give NaN. ``power = 1``
    makes the amplitudes, not their squares, proportional to ``softmax(s)``."""
    s = np.asarray(s, dtype=np.float64)
    ell = index_qubits(size)
    L = s.shape[-1]
    if L > 1 << ell:
        raise ValueError(f"{L} scores do not fit size {size}")
    with np.errstate(invalid="ignore"):
        m = np.max(s, axis=-1, keepdims=True) if L else np.zeros(s.shape[:-1] + (1,))
        m = np.where(np.isneginf(m), 0.0, m)
        r = np.exp(2 * power * (s - m))  # in [0, 1]; NaN where s is NaN or +inf
    theta = np.full(s.shape[:-1] + (1 << ell,), np.pi)
    theta[..., :L] = 2 * np.arccos(np.sqrt(np.clip(r, 0.0, 1.0)))
    theta[..., :L] = np.where(np.isnan(r), np.nan, theta[..., :L])
    return theta


def softmax_angles(s: np.ndarray, size: int, power: float = 0.5) -> np.ndarray:
    """The multiplexor's rotation angles for scores ``s[..., L]`` (emission order)."""
    theta = softmax_thetas(s, size, power)
    ell = index_qubits(size)
    a = np.where(_msb(ell) == 1, np.pi - theta, theta)
    return np.ascontiguousarray(mux_angles(a))


def softmax_amplitudes(angles: np.ndarray, size: int) -> np.ndarray:
    """The state's amplitudes at flag = 0 (``[..., 2**ℓ]`` complex) from its angles: the
    multiplexor algebra, no simulation (the reference semantics)."""
    ell = index_qubits(size)
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape[-1] != 1 << ell:
        raise ValueError(f"size {size} takes {1 << ell} angles, got {angles.shape[-1]}")
    a = pattern_angles(angles)
    flag0 = np.where(_msb(ell) == 1, np.sin(a / 2), np.cos(a / 2))
    return (flag0 / np.sqrt(1 << ell)).astype(np.complex128)


def softmax_resources(size: int) -> Resources:
    ell = index_qubits(size)
    L = 1 << ell
    return Resources(qubits=ell + 1, cnots=L - 1, rotations=L, depth=2 * L,
                     single_qubit=L + ell)


@dataclass(frozen=True, eq=False)
class SoftmaxState:
    """The symbolic circuit of a softmax state: ``circuit`` on ``index + (flag,)``,
    ``symbols`` its rotation angles (``softmax_angles`` binds them)."""

    circuit: object
    index: tuple
    flag: object
    symbols: tuple

    @property
    def qubits(self) -> tuple:
        return (*self.index, self.flag)


def softmax_state(size: int, index=None, flag=None, prefix: str = "s") -> SoftmaxState:
    """The circuit (symbols ``{prefix}_0 …``) on ``index`` (``ℓ`` qubits, the first most
    significant; default ``LineQubit(0 … ℓ-1)``) and ``flag`` (default ``LineQubit(ℓ)``)."""
    import cirq
    import sympy

    from qlower.blocks.circuits import fast_op, packed_circuit, ry_ops

    ell = index_qubits(size)
    qs = tuple(index) if index is not None else tuple(cirq.LineQubit.range(ell))
    if len(qs) != ell:
        raise ValueError(f"a softmax state of size {size} needs {ell} index qubits, got {len(qs)}")
    fl = flag if flag is not None else cirq.LineQubit(ell)
    symbols = tuple(sympy.Symbol(f"{prefix}_{i}") for i in range(1 << ell))
    ops = [fast_op(cirq.H, (q,)) for q in qs]
    ry = ry_ops(symbols, fl)
    ctl = [qs[ell - 1 - b] for b in cnot_control_bits(ell).tolist()]
    for i, rot in enumerate(ry):
        ops.append(rot)
        if i < len(ry) - 1:
            ops.append(fast_op(cirq.CNOT, (ctl[i], fl)))
    return SoftmaxState(packed_circuit(ops), qs, fl, symbols)


__all__ = ["SoftmaxState", "index_qubits", "softmax_amplitudes", "softmax_angles",
           "softmax_resources", "softmax_state", "softmax_thetas"]
