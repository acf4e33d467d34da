"""Block encodings of a matrix W: FABLE, Pauli LCU, unitary dilation.

``block_encoding(W)`` returns a :class:`BlockEncoding`: a circuit ``U`` with
``(⟨0_flags| ⊗ I_out) U (|0⟩ ⊗ I_in) = W / alpha`` on the first M outputs and N inputs, the
register map of :class:`qlower.blocks.base.Block`, and the matrix the circuit implements
exactly (``matrix``) with its distance to W (``error``). The methods live in ``fable.py``,
``lcu.py`` and ``dilation.py``; their register sizes in ``layout.py``, their alpha in
:func:`block_alpha` (the builders use both, and so do lowering and the IR).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cirq
import numpy as np

from qlower.blocks.base import Block
from qlower.blocks.layout import METHODS, block_layout

# choose_method's numbers (see its docstring).
DILATION_AUTO_MAX_Q = 3  # 1 + 3 qubits: QSD uses (23/48)4^4 - (3/2)2^4 + 4/3 = 100 CNOTs
PAULI_TOL = 1e-12  # Pauli coefficients with |c| <= PAULI_TOL * max|c| count as zero


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
    """The alpha of ``block_encoding(W, method, threshold=threshold)``, without its circuit.

    The builders compute their alpha with this same function: ``fable`` ``max|W_ij| ·
    2^((m+n)/2)`` (any threshold), ``dilation`` ``‖W‖₂``, ``lcu`` ``Σ|c_k|`` over the Pauli terms
    kept at ``threshold``.
    """
    a = as_matrix(W)
    if method == "fable":
        from qlower.blocks.fable import fable_alpha

        return fable_alpha(a)
    if method == "dilation":
        return spectral_norm(a)
    if method == "lcu":
        from qlower.blocks.lcu import lcu_alpha, pauli_terms

        return lcu_alpha(pauli_terms(a, threshold)[1])
    raise ValueError(f"unknown block-encoding method {method!r}; use one of {METHODS}")


def choose_method(W) -> str:
    """The method ``block_encoding(W, "auto")`` uses.

    With ``q = max(ceil(log2 M), ceil(log2 N))`` (the padded square size is ``2**q``):

    1. ``"dilation"`` if ``q <= 3``: one flag and the optimal ``alpha = ‖W‖₂`` for at most
       (23/48)4^4 − (3/2)2^4 + 4/3 = 100 CNOTs (4 qubits; 20 at q = 2, 3 at q = 1). FABLE
       would use 64 CNOTs at 8×8 but has alpha = 8·max|W_ij|, 2–4× ‖W‖₂ on random data, so
       4–16× fewer post-selection successes.
    2. ``"lcu"`` if W is Pauli-sparse, i.e. it has at most ``2**q`` Pauli coefficients with
       ``|c| > 1e-12·max|c|``, *and* the LCU costs less than FABLE, cost = CNOTs × alpha²
       (the expected CNOTs per post-selection success, success probability ∝ 1/alpha²). The
       LCU's CNOTs are counted on its circuit; FABLE's are 2^(m+n) (real) or 2^(m+n+1) − 2
       (complex), with alpha from :func:`block_alpha`.
    3. ``"fable"`` otherwise.
    """
    return _choose(as_matrix(W))[0]


def _choose(a: np.ndarray) -> tuple[str, BlockEncoding | None]:
    """choose_method on a validated matrix, plus the LCU block when it built one."""
    from qlower.blocks.lcu import lcu_block, pauli_coefficients

    M, N = a.shape
    q = block_layout("dilation", M, N).input
    if q <= DILATION_AUTO_MAX_Q:
        return "dilation", None
    mag = np.abs(pauli_coefficients(a))
    if np.count_nonzero(mag > PAULI_TOL * mag.max()) <= (1 << q):
        block = lcu_block(a)
        fable = block_layout("fable", M, N)
        k = fable.input + fable.output  # FABLE's multiplexor has 2^k patterns
        fable_cnots = (1 << k) if not np.iscomplexobj(a) else (1 << (k + 1)) - 2
        fable_cost = fable_cnots * block_alpha(a, "fable") ** 2
        if block.resources().cnots * block.alpha**2 < fable_cost:
            return "lcu", block
    return "fable", None


def block_encoding(W, method: str = "auto", *, threshold: float = 0.0, qubits=None) -> BlockEncoding:
    """Block-encode the M×N matrix ``W`` (real or complex) with ``method``.

    Args:
        W: a finite, nonzero 2-D array; rectangular and non-power-of-two sizes are padded
            with zeros.
        method: ``"fable"``, ``"lcu"``, ``"dilation"`` or ``"auto"`` (:func:`choose_method`).
        threshold: FABLE drops multiplexor angles with ``|θ| <= threshold``; LCU drops Pauli
            terms with ``|c| <= threshold``; ignored by the (exact) dilation. ``matrix`` and
            ``error`` report what the circuit then implements.
        qubits: the block's qubits in the method's documented order (default LineQubits):
            fable ``[a] + R + C``; dilation ``[flag] + D``; lcu ``index + ancillas + D``.

    Returns:
        a :class:`BlockEncoding`.
    """
    a = as_matrix(W)
    if method == "auto":
        method, built = _choose(a)
        if built is not None and threshold == 0 and qubits is None:
            return built
    if method not in METHODS:
        raise ValueError(f"unknown block-encoding method {method!r}; use one of {METHODS} or 'auto'")
    threshold = float(threshold)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold}")
    # the method modules import this one (BlockEncoding), hence the local imports
    if method == "fable":
        from qlower.blocks.fable import fable_block

        return fable_block(a, threshold=threshold, qubits=qubits)
    if method == "lcu":
        from qlower.blocks.lcu import lcu_block

        return lcu_block(a, threshold=threshold, qubits=qubits)
    from qlower.blocks.dilation import dilation_block

    return dilation_block(a, qubits=qubits)
