"""Block encodings of a matrix W: FABLE, Pauli LCU, unitary dilation.

``block_encoding(W)`` returns a :class:`BlockEncoding`: a circuit ``U`` with
``(⟨0_flags| ⊗ I_out) U (|0⟩ ⊗ I_in) = W / alpha`` on the first M outputs and N inputs, the
register map of :class:`qlower.blocks.base.Block`, and the matrix the circuit implements
exactly (``matrix``) with its distance to W (``error``). Each method is one entry of
``qlower.blocks.registry`` (``fable.py``, ``svd.py``, ``dilation.py``, ``lcu.py``): its layout,
alpha, implemented matrix, cost and circuit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cirq
import numpy as np

from qlower.blocks.base import Block
from qlower.blocks.lcu import PAULI_TOL
from qlower.blocks.registry import block_method, cost_per_success, methods

# choose_method considers LCU only where W has at most this many Pauli terms per dimension
# (2**q terms for a 2**q square): beyond that its SELECT outgrows every other method.
LCU_TERMS_PER_DIM = 1


@dataclass(frozen=True, eq=False, kw_only=True)
class BlockEncoding(Block):
    """A block encoding of an M×N matrix (the :class:`Block` contract, plus what it encodes).

    ``padded`` is ``alpha`` times the whole block the circuit implements at flags = 0 (every
    basis state of the output register by every basis state of the input register:
    ``2**layout.output`` × ``2**layout.input``), computed classically from the emitted gates;
    ``matrix`` is its top-left M×N corner; ``target`` is W. ``error`` is the spectral norm of
    ``padded`` minus W over all output rows and the first N columns, so for FABLE it also counts
    amplitude leaking into padded output rows (see ``fable.py``); it is computed on first use
    (an SVD: a compiled kernel never needs it).
    """

    method: str
    shape: tuple[int, int]
    padded: np.ndarray
    target: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        M, N = self.shape
        return self.padded[:M, :N]

    @functools.cached_property
    def error(self) -> float:
        M, N = self.shape
        diff = np.array(self.padded[:, :N], copy=True)
        diff[:M] -= self.target
        return spectral_norm(diff)


def as_matrix(W) -> np.ndarray:
    """``W`` as a finite, nonzero 2-D float64 or complex128 array; ValueError otherwise."""
    try:
        a = np.asarray(W)
        if a.dtype == object or not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
            raise TypeError
        a = a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"block encoding needs a numeric matrix, got {type(W).__name__}") from None
    if a.ndim != 2:
        raise ValueError(f"block encoding needs a 2-D matrix, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"block encoding needs a non-empty matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("block encoding needs a finite matrix (got NaN or infinity)")
    if not np.any(a):
        raise ValueError("cannot block-encode an all-zero matrix (alpha would be 0)")
    if np.iscomplexobj(a) and not np.any(a.imag):
        a = np.ascontiguousarray(a.real)
    return a


def resolve_qubits(qubits, count: int, layout: str) -> list[cirq.Qid]:
    """``qubits`` (or ``LineQubit.range(count)``), checked to be ``count`` distinct qubits."""
    if qubits is None:
        return list(cirq.LineQubit.range(count))
    qubits = list(qubits)
    if len(qubits) != count or len(set(qubits)) != count:
        raise ValueError(
            f"expected {count} distinct qubits ({layout}), got {len(qubits)} "
            f"({len(set(qubits))} distinct)"
        )
    return qubits


def spectral_norm(a: np.ndarray) -> float:
    return float(np.linalg.norm(a, 2)) if a.size else 0.0


def block_alpha(W, method: str, *, threshold: float = 0.0) -> float:
    """The alpha of ``block_encoding(W, method, threshold=threshold)``, without its circuit."""
    entry = block_method(method)
    return entry.plan(as_matrix(W), threshold if entry.uses_threshold else 0.0)["alpha"]


def candidates(a: np.ndarray) -> list[str]:
    """The methods ``auto`` weighs for the validated matrix ``a``: every method that builds a
    block of its size, LCU only where ``a`` is Pauli-sparse."""
    from qlower.blocks.lcu import pauli_coefficients

    out = []
    for name, entry in methods().items():
        params = {}
        if name == "lcu":
            mag = np.abs(pauli_coefficients(a))
            terms = int(np.count_nonzero(mag > PAULI_TOL * mag.max()))
            if terms > LCU_TERMS_PER_DIM * mag.shape[0]:
                continue
            params = {"terms": terms}
        try:
            entry.check_size(*a.shape, params)
        except ValueError:
            continue
        out.append(name)
    return out


def choose_method(W) -> str:
    """The method ``block_encoding(W, "auto")`` uses: the fewest CNOTs per successful run.

    Among :func:`candidates`, the method minimising ``CNOTs / p``, ``p`` its success probability
    averaged over unit inputs (``‖W‖_F² / (N α²)``): a result takes ``1/p`` runs on average
    (:func:`qlower.blocks.registry.cost_per_success`). Ties go to the method listed first.
    """
    a = as_matrix(W)
    best, best_cost = None, math.inf
    for name in candidates(a):
        entry = block_method(name)
        cost = cost_per_success(entry, a, entry.plan(a))
        if cost < best_cost:
            best, best_cost = name, cost
    if best is None:
        raise ValueError(f"no block-encoding method builds a {a.shape[0]}x{a.shape[1]} block")
    return best


def block_encoding(W, method: str = "auto", *, threshold: float = 0.0, qubits=None) -> BlockEncoding:
    """Block-encode the M×N matrix ``W`` (real or complex) with ``method``.

    Args:
        W: a finite, nonzero 2-D array; rectangular and non-power-of-two sizes are padded
            with zeros.
        method: a registered method (``qlower.blocks.registry.method_names()``: ``fable``,
            ``svd``, ``dilation``, ``lcu``) or ``"auto"`` (:func:`choose_method`).
        threshold: FABLE drops multiplexor angles with ``|θ| <= threshold``; LCU drops Pauli
            terms with ``|c| <= threshold``; ignored by the exact methods. ``matrix`` and
            ``error`` report what the circuit then implements.
        qubits: the block's qubits in the method's documented order (default LineQubits):
            fable ``[a] + R + C``; svd and dilation ``[flag] + D``; lcu ``index + ancillas + D``.

    Returns:
        a :class:`BlockEncoding`.
    """
    a = as_matrix(W)
    if method == "auto":
        method = choose_method(a)
    entry = block_method(method)
    threshold = float(threshold)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold}")
    if method == "lcu" and threshold:
        from qlower.blocks.lcu import lcu_block

        return lcu_block(a, threshold=threshold, qubits=qubits)
    params = entry.plan(a, threshold if entry.uses_threshold else 0.0)
    return entry.build(a, params, qubits)
