"""Uniformly controlled (multiplexed) rotations in Gray-code order [Möttönen et al. 2004].

A multiplexed rotation with ``k`` controls applies ``R(a_p)`` to the target when the controls
hold the pattern ``p`` (an integer whose most significant bit is the first control, Cirq's
big-endian convention). It is emitted as ``2**k`` rotations interleaved with CNOTs::

    R(t_0) CX(c_0) R(t_1) CX(c_1) ... R(t_{L-1}) CX(c_{L-1})        L = 2**k

where CNOT ``j`` is controlled by the bit ``ctz(j+1)`` (the last one by the most significant
bit) and the rotation angles are ``t_i = 2**-k (H a)[g_i]``, ``g_i = i ^ (i >> 1)``, ``H`` the
Walsh–Hadamard transform. ``X R(t) X = R(-t)`` for ``R`` in {Ry, Rz}, which is why this works.

Dropping the final CNOT leaves ``X^msb(p) · R(a_p)`` per pattern (the X acts last); callers
that can absorb that flip (state preparation, see ``amplitude.py``) save one CNOT per
multiplexor.
"""

from __future__ import annotations

import numpy as np


def fwht(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Unnormalised Walsh–Hadamard transform along ``axis`` (length a power of two).

    ``fwht(a)[p] = sum_i (-1)^popcount(i & p) a[i]``; vectorised over every other axis.
    """
    a = np.moveaxis(np.array(a, dtype=np.result_type(a, np.float64), copy=True), axis, -1)
    n = a.shape[-1]
    if n & (n - 1):
        raise ValueError(f"Walsh-Hadamard transform needs a power-of-two length, got {n}")
    lead = a.shape[:-1]
    h = 1
    while h < n:
        v = a.reshape(*lead, n // (2 * h), 2, h)
        x = v[..., 0, :].copy()
        y = v[..., 1, :]
        v[..., 0, :] = x + y
        v[..., 1, :] = x - y
        h *= 2
    return np.moveaxis(a, -1, axis)


def gray_code(k: int) -> np.ndarray:
    i = np.arange(1 << k)
    return i ^ (i >> 1)


def cnot_control_bits(k: int) -> np.ndarray:
    """For each of the ``2**k`` CNOTs of a ``k``-control multiplexor, the pattern bit it reads.

    Bit ``b`` is control ``k - 1 - b`` in the controls list (bit ``k-1`` is the first control).
    """
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    j = np.arange(1, (1 << k) + 1)
    bits = np.zeros_like(j)
    # count trailing zeros of j
    v = j.copy()
    while True:
        even = (v & 1) == 0
        if not even.any():
            break
        bits[even] += 1
        v[even] >>= 1
    bits[-1] = k - 1  # the wrap-around CNOT returns the last Gray code to 0: the MSB
    return bits


def mux_angles(a: np.ndarray) -> np.ndarray:
    """Rotation angles ``t`` in emission order for per-pattern angles ``a`` (last axis).

    Vectorised over leading axes.
    """
    a = np.asarray(a, dtype=np.float64)
    L = a.shape[-1]
    k = L.bit_length() - 1
    out = fwht(a)[..., gray_code(k)]
    out /= L
    return out


def pattern_angles(t: np.ndarray) -> np.ndarray:
    """Inverse of :func:`mux_angles`: the per-pattern angles a Gray-code list implements."""
    t = np.asarray(t, dtype=np.float64)
    L = t.shape[-1]
    k = L.bit_length() - 1
    tp = np.empty_like(t)
    tp[..., gray_code(k)] = t
    return fwht(tp)
