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
from dataclasses import dataclass, field

import cirq
import numpy as np

from qlower.blocks.base import Block
from qlower.blocks.lcu import PAULI_TOL  # noqa: F401 - re-exported
from qlower.blocks.registry import (  # noqa: F401 - re-exported
    LCU_TERMS_PER_DIM,
    as_matrix,
    block_method,
    candidates,
    choose_method,
)


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
    params: dict = field(default_factory=dict)  # the op attributes (registry entry's plan)

    def resources(self):
        """The registry entry's cost (no gate is counted); a block built without its entry's
        parameters is counted on its circuit."""
        if not self.params:
            return self.count()
        return block_method(self.method).cost(self.target, self.params)

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


def block_encoding(W, method: str = "auto", *, threshold: float = 0.0, qubits=None) -> BlockEncoding:
    """Block-encode the M×N matrix ``W`` (real or complex) with ``method``.

    Args:
        W: a finite, nonzero 2-D array; rectangular and non-power-of-two sizes are padded
            with zeros.
        method: a registered method (``qlower.blocks.registry.method_names()``: ``fable``,
            ``svd``, ``dilation``, ``lcu``, ``centring`` for a layer norm's matrix only) or
            ``"auto"`` (:func:`choose_method`).
        threshold: FABLE drops multiplexor angles with ``|θ| <= threshold``; LCU drops Pauli
            terms with ``|c| <= threshold``; ignored by the exact methods. ``matrix`` and
            ``error`` report what the circuit then implements.
        qubits: the block's qubits in the method's documented order (default LineQubits):
            fable ``[a] + R + C``; svd and dilation ``[flag] + D``; lcu ``index + ancillas + D``;
            centring ``[f, g] + D``.

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
