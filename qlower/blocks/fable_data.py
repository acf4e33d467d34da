"""FABLE for data matrices: a symbolic circuit whose angles the host computes per matrix.

The circuit is ``fable.py``'s with every rotation kept (no threshold compression) and each
angle a sympy symbol, so its structure depends only on the shape M × N: the block encoding
of an activation (attention's K, Vᵀ) that changes with every row of a batch. Qubits
``[a] + R + C`` with ``(m, n) = data_layout(M, N)`` (output register R, input register C)::

    U = H_C^{⊗n} · O(t) · H_R^{⊗m},   O(t) = Gray-code multiplexed Ry(t_i) on a, controls R + C

For data ``A`` the host computes ``angles, scale = data_fable_angles(A)`` (vectorised over
leading batch axes, no circuit needed) and binds the symbols in order. With ``scale = max|A|``
the block at flags ``(a, *C) = 0`` is ``A / (scale · 2^((m+n)/2))`` zero-padded to
2^m × 2^n: the block ``fable.py`` builds for A with threshold 0, whose
``fable_alpha(A) = max|A| · 2^((m+n)/2)`` is exactly ``scale · 2^((m+n)/2)`` (the same
convention; the data block's ``alpha`` field holds the factor ``2^((m+n)/2)`` and the host
multiplies it by ``scale``). A zero matrix gets ``scale = 0`` and the angles of the zero block
(every entry encoded as 0), so rescaling by 0 is exact and no division by zero happens.

Cost (k = m + n, L = 2^k): ``1 + k`` qubits, L Ry, ``L`` CNOT for k ≥ 1 (the multiplexor's
wrap-around CNOT included; none for a 1 × 1 matrix), ``k + L`` single-qubit gates, depth
``2L + [m = 0 < n]`` (the last CNOT is controlled by the first control, a C qubit when R is
empty, and that qubit's H then follows it), 1 for k = 0. ``fable.py`` drops rotations whose
angle is exactly 0 even at threshold 0; this circuit never does (its angles are unknown when
it is built), so it equals ``fable.py``'s gate for gate whenever no angle vanishes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qlower.blocks.base import Block
from qlower.blocks.layout import ceil_log2
from qlower.blocks.mux import cnot_control_bits, mux_angles, pattern_angles
from qlower.blocks.resources import Resources

__all__ = [
    "DataFable",
    "data_fable_angles",
    "data_fable_circuit",
    "data_fable_matrix",
    "data_fable_resources",
    "data_layout",
]


def _shape(M, N) -> tuple[int, int]:
    if isinstance(M, bool) or isinstance(N, bool) or int(M) != M or int(N) != N:
        raise ValueError(f"data FABLE needs integer dimensions, got {M!r}x{N!r}")
    M, N = int(M), int(N)
    if M < 1 or N < 1:
        raise ValueError(f"data FABLE needs a non-empty matrix, got {M}x{N}")
    return M, N


def data_layout(M: int, N: int) -> tuple[int, int]:
    """``(m, n)``: the qubits of the output register R and the input register C (as
    ``fable.py``: ``ceil(log2 M)`` and ``ceil(log2 N)``, 0 for a dimension of 1)."""
    M, N = _shape(M, N)
    return ceil_log2(M), ceil_log2(N)


def data_fable_angles(A) -> tuple[np.ndarray, np.ndarray]:
    """``(angles [..., 2^(m+n)], scale [...])`` for real data ``A[..., M, N]``.

    ``angles`` are the multiplexor's Ry angles in emission order (the order of the circuit's
    symbols); ``scale = max|A|`` per matrix. The flag-0 block for ``angles`` is
    ``A / (scale · 2^((m+n)/2))`` zero-padded; a zero matrix gets ``scale = 0`` and the zero
    block's angles. Vectorised over the leading axes.
    """
    A = np.asarray(A)
    if np.iscomplexobj(A):
        raise ValueError("data FABLE takes real data, got a complex array")
    if A.ndim < 2:
        raise ValueError(f"data FABLE needs data of shape [..., M, N], got shape {A.shape}")
    A = A.astype(np.float64, copy=False)
    if not np.isfinite(A).all():
        raise ValueError("data FABLE needs finite data")
    M, N = _shape(*A.shape[-2:])
    m, n = ceil_log2(M), ceil_log2(N)
    lead = A.shape[:-2]
    scale = np.abs(A).max(axis=(-2, -1))
    safe = np.where(scale > 0, scale, 1.0)[..., None, None]
    padded = np.zeros((*lead, 1 << m, 1 << n))
    padded[..., :M, :N] = A / safe  # a zero matrix stays 0: encoded as the zero block
    a = 2.0 * np.arccos(np.clip(padded, -1.0, 1.0))
    return mux_angles(a.reshape(*lead, 1 << (m + n))), scale


def data_fable_matrix(angles, M: int, N: int) -> np.ndarray:
    """The flag-0 block ``[..., 2^m, 2^n]`` the circuit implements for ``angles`` (rows on R,
    columns on C), from the inverse transform: ``cos(a_p / 2) / 2^((m+n)/2)`` with ``a`` the
    per-pattern angles. ``data_fable_matrix(angles, M, N) · scale · 2^((m+n)/2)`` is A padded."""
    m, n = data_layout(M, N)
    t = np.asarray(angles, dtype=np.float64)
    L = 1 << (m + n)
    if t.ndim < 1 or t.shape[-1] != L:
        raise ValueError(f"expected {L} angles on the last axis for a {M}x{N} data FABLE, "
                         f"got shape {t.shape}")
    block = np.cos(0.5 * pattern_angles(t)) / math.sqrt(float(L))
    return block.reshape(*t.shape[:-1], 1 << m, 1 << n)


def data_fable_resources(M: int, N: int) -> Resources:
    """The circuit's resources in closed form (see the module docstring)."""
    m, n = data_layout(M, N)
    k = m + n
    L = 1 << k
    if k == 0:
        return Resources(qubits=1, cnots=0, rotations=1, depth=1, single_qubit=1)
    return Resources(qubits=1 + k, cnots=L, rotations=L, depth=2 * L + int(m == 0),
                     single_qubit=k + L)


@dataclass(frozen=True, eq=False, kw_only=True)
class DataFable(Block):
    """The symbolic FABLE circuit for M × N data (the :class:`Block` contract).

    ``alpha`` is ``2^((m+n)/2)``: the block for data A is ``A / (scale · alpha)`` with
    ``scale`` from :func:`data_fable_angles`; ``resolver(angles)`` binds the symbols.
    """

    shape: tuple[int, int]
    m: int
    n: int

    def angles(self, A) -> tuple[np.ndarray, np.ndarray]:
        """:func:`data_fable_angles` for data ``A[..., M, N]`` of this block's shape."""
        A = np.asarray(A)
        if A.shape[-2:] != self.shape:
            raise ValueError(f"expected data of shape [..., {self.shape[0]}, {self.shape[1]}], "
                             f"got shape {A.shape}")
        return data_fable_angles(A)

    def resources(self) -> Resources:
        return data_fable_resources(*self.shape)


def data_fable_circuit(M: int, N: int, prefix: str = "v", qubits=None) -> DataFable:
    """The symbolic FABLE circuit for M × N data on ``qubits`` (``[a] + R + C``, default
    ``LineQubit.range(1 + m + n)``); symbol ``f"{prefix}_{i}"`` is the i-th rotation."""
    import cirq
    import sympy

    from qlower.blocks.base import Registers
    from qlower.blocks.block_encoding import resolve_qubits
    from qlower.blocks.circuits import fast_op, gc_paused, packed_circuit

    M, N = _shape(M, N)
    m, n = ceil_log2(M), ceil_log2(N)
    k = m + n
    L = 1 << k
    qs = resolve_qubits(qubits, 1 + k, f"data fable: [a] + R ({m}) + C ({n})")
    a, R, C = qs[0], tuple(qs[1:1 + m]), tuple(qs[1 + m:])
    controls = R + C  # pattern bit b is controls[k - 1 - b]
    symbols = tuple(sympy.Symbol(f"{prefix}_{i}") for i in range(L))
    with gc_paused():
        cx = [fast_op(cirq.CNOT, (controls[k - 1 - b], a)) for b in range(k)]
        ops = [fast_op(cirq.H, (q,)) for q in R]
        after = cnot_control_bits(k).tolist()  # the CNOT after rotation i (none for k = 0)
        for i, s in enumerate(symbols):
            ops.append(fast_op(cirq.Ry(rads=s), (a,)))
            if k:
                ops.append(cx[after[i]])
        ops += [fast_op(cirq.H, (q,)) for q in C]
        circuit = packed_circuit(ops)
    return DataFable(
        circuit=circuit,
        alpha=math.sqrt(float(L)),
        registers=Registers(input=C, output=R, flags=(a, *C)),
        symbols=symbols,
        shape=(M, N),
        m=m,
        n=n,
    )
