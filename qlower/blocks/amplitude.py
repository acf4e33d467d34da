"""Amplitude encoding: a circuit taking |0…0⟩ to x/‖x‖ [Möttönen et al., quant-ph/0407010].

``amplitude_encoding(x)`` prepares a numeric vector; ``amplitude_encoding(size=N)`` builds the
symbolic circuit compiled kernels use, whose angles ``block.angles(X)`` computes for a whole
batch at once. Index convention: big-endian, ``qubits[0]`` holds the most significant bit.

Methods
-------
``"mottonen"`` [Möttönen et al. 2004]. Level ``k = 0 … n-1`` prepares qubit ``q_k`` with a
multiplexed ``Ry`` controlled by ``q_0 … q_{k-1}`` (Gray-code multiplexor, see ``mux.py``).

- Real x: every multiplexor drops its final CNOT (controlled by ``q_0``), which leaves
  ``X^{msb(p)} · Ry(a_p)`` per control pattern ``p``. State preparation absorbs the flip:
  ``X Ry(π − φ)|0⟩ = Ry(φ)|0⟩``, so patterns with ``msb(p) = 1`` use ``a_p = π − φ_p``. The last
  level uses signed angles ``φ = 2·atan2(x_{p1}, x_{p0})``, so no phase gates are needed.
  Cost: ``2**n − n − 1`` CNOT, ``2**n − 1`` Ry.
- Complex x: the same Ry tree on ``|x|``, each level followed by an Rz multiplexor for the
  phases (``β_p = ω(p1) − ω(p0)``, ω = mean phase of a subtree), emitted mirrored so that its
  first CNOT cancels the Ry multiplexor's last; global phase ``e^{iω(root)}`` emitted as a
  ``GlobalPhaseGate``. Cost: ``2**(n+1) − 2n − 2`` CNOT, ``2**(n+1) − 2`` rotations. (Within
  this Ry-block-then-Rz-block scheme this is the minimum: each block must visit all ``2**k``
  parity patterns of its controls, ``2**k − 1`` CNOT steps each.)

``"schmidt"`` [Plesch–Brukner 2011], numeric x only. x as a ``2**a × 2**b`` matrix
(``a = ⌊n/2⌋`` first qubits, ``b`` the rest), SVD ``M = U Σ Vh``: prepare Σ on the first half
(recursively), copy it onto the last ``a`` qubits of the second half with ``a`` CNOTs, then ``U``
on the first half and ``Vhᵀ`` on the second, each by quantum Shannon decomposition (``qsd.py``)
[Shende, Bullock, Markov 2006] with both of its CNOT savings (A.1, A.2). ``U`` is synthesised
only up to a diagonal acting first, which the ``Vhᵀ`` side absorbs (one CNOT less); for real x the
determinants of U and Vh are made +1 through the sign of σ_0 (a real two-qubit orthogonal of
determinant +1 needs 2 CNOTs). Cost for generic data (``schmidt_cnots``): ``prep(a) + a +
(Q(a) − 1) + Q(b)`` CNOT, one less for real x with ``b = 2``, ``Q(m) = (23·4^m − 72·2^m +
64)/48`` (``Q(1) = 0``, ``Q(2) = 3``); structured or real data may need fewer, never more.
More rotations than Möttönen (about 2.5× at n = 8).

``"ucg"`` (``ucg.py``) [Bergholm et al. 2005; Iten et al. 2016], numeric x only:
uniformly controlled gates up to a diagonal, ``2**n − n − 1`` CNOT for complex data too.

Each method is an entry of ``qlower.blocks.prep_registry`` (``mottonen.py``, ``schmidt.py``,
``ucg.py``): its cost in closed form, its reference state and its builder. ``"auto"``
(``choose_prep``): the fewest CNOTs for generic data, ties to the fewer rotations (then
one-qubit gates), among the entries it weighs: real data Möttönen, or Schmidt at even
n >= 4; complex data ucg, or Schmidt where cheaper (n = 4, 5, 6, 8, ...). Symbolic circuits
are always Möttönen.

Symbol and ``angles`` order: emission order, level by level; a complex level lists its Ry
angles, then its Rz angles as emitted (mirrored), and the global phase comes last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cirq
import numpy as np

from qlower.blocks.base import Block, Registers
from qlower.blocks.mottonen import (
    _mottonen_angles,
    mottonen_angles,  # noqa: F401 - re-exported
    mottonen_cnots,
    mottonen_rotations,
)
from qlower.blocks.prep_registry import (
    ZERO_MESSAGE,
    ZeroVectorError,
    as_data,
    check_nonzero,
    check_size,
    choose_prep,
    num_qubits,
    pad,
    prep_method,
    prep_method_names,
    prep_methods,
)
from qlower.blocks.qsd import qsd_cnots
from qlower.blocks.schmidt import schmidt_cnots

__all__ = [
    "ZERO_MESSAGE",
    "AmplitudeEncoding",
    "ZeroVectorError",
    "amplitude_encoding",
    "mottonen_cnots",
    "mottonen_rotations",
    "qsd_cnots",
    "schmidt_cnots",
]

METHODS = ("auto", *prep_method_names())


def _auto_method(n: int, complex: bool) -> str:
    """The method ``auto`` picks on ``n`` qubits (``prep_registry.choose_prep``)."""
    return choose_prep(n, complex)


# --------------------------------------------------------------------------- the block


@dataclass(frozen=True, eq=False)
class AmplitudeEncoding(Block):
    """A state preparation ``|0…0⟩ → x/‖x‖`` on ``registers.output`` (see the module doc).

    ``alpha`` is ``‖x‖`` (1.0 for a symbolic circuit); ``state`` is the expected final state
    (numeric case, zero-padded to ``2**num_qubits``); ``symbols`` the symbolic angles, bound by
    ``resolver(angles(x))``.
    """

    size: int = 0
    num_qubits: int = 0
    method: str = "mottonen"
    state: np.ndarray | None = None
    is_complex: bool = False

    def angles(self, X) -> np.ndarray:
        """The Möttönen angles for data ``X[..., size]``, in the order of ``symbols``.

        Vectorised over the leading axes. Real blocks take real data, complex blocks real or
        complex data. A zero row raises :class:`ZeroVectorError` naming its index.
        """
        if self.method != "mottonen":
            raise ValueError(f"angles() needs a Möttönen circuit, this one is {self.method!r}")
        X = as_data(X, batch=True, allow_complex=self.is_complex)
        if X.shape[-1] != self.size:
            raise ValueError(
                f"expected data of size {self.size} on the last axis, got shape {X.shape}"
            )
        check_nonzero(X)
        return _mottonen_angles(pad(X, self.num_qubits), self.num_qubits, self.is_complex)


def amplitude_encoding(
    x=None,
    *,
    size: int | None = None,
    complex: bool = False,
    method: str = "auto",
    qubits: Sequence[cirq.Qid] | None = None,
    prefix: str = "amp",
) -> AmplitudeEncoding:
    """Prepare ``x/‖x‖`` (``x`` given) or the symbolic circuit for vectors of length ``size``.

    ``complex=True`` (or complex ``x``) adds the phase multiplexors; ``qubits`` (``n`` of them,
    ``qubits[0]`` most significant) default to ``cirq.LineQubit.range(n)``; symbols are named
    ``f"{prefix}_{i}"``. ``method``: ``"auto"`` or an entry of ``prep_registry``.
    """
    entry = None if method == "auto" else prep_method(method)
    if x is None:
        if size is None:
            raise ValueError("amplitude_encoding needs a vector x or a size")
        size = check_size(size)
        if entry is None:
            entry = next(e for e in prep_methods().values() if e.symbolic)
        return entry.build_symbolic(size, bool(complex), _qubits(qubits, num_qubits(size)),
                                    prefix=prefix)

    x = as_data(x, batch=False, allow_complex=True)
    if size is not None:
        size = check_size(size)
        if size < x.shape[0]:
            raise ValueError(f"size {size} is smaller than the vector's length {x.shape[0]}")
        x = np.concatenate([x, np.zeros(size - x.shape[0], dtype=x.dtype)])
    is_complex = bool(complex) or np.iscomplexobj(x)
    if is_complex:
        x = x.astype(np.complex128)
    check_nonzero(x)
    n = num_qubits(x.shape[0])
    qs = _qubits(qubits, n)
    if entry is None:
        entry = prep_method(choose_prep(n, is_complex))
    return entry.build(x, qs, prefix=prefix)


# --------------------------------------------------------------------------- helpers


def _qubits(qubits, n: int) -> tuple[cirq.Qid, ...]:
    if qubits is None:
        return tuple(cirq.LineQubit.range(n))
    qs = tuple(qubits)
    if len(qs) != n:
        raise ValueError(f"amplitude encoding of this size needs {n} qubits, got {len(qs)}")
    if len(set(qs)) != n:
        raise ValueError(f"amplitude-encoding qubits must be distinct, got {qs}")
    return qs


def _registers(qs) -> Registers:
    return Registers(input=(), output=tuple(qs), flags=())
