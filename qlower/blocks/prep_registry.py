"""The state-preparation methods: one entry per method, the one place that says what it is.

An entry (a :class:`PrepMethod`) states, for a vector x of length ``size`` on ``n`` qubits:

- ``qubits(size)``: its register (``n = max(1, ⌈log₂ size⌉)``);
- ``cost(n, complex_)``: its :class:`Resources` for generic real or complex data, from closed
  forms (no circuit built); ``counts_exact(n, complex_)`` says whether the counts are exact
  for generic data or upper bounds (the qubits are always exact);
- ``state(x)``: the reference semantics, ``x/‖x‖`` zero-padded to ``2**n`` (complex128);
- ``build(x, qubits)``: its circuit, a :class:`qlower.blocks.amplitude.AmplitudeEncoding`
  (the only part that loads Cirq); ``symbolic`` entries also build the data-independent
  circuit (``build_symbolic``);
- ``auto_candidate(n, complex_)``: whether ``auto`` weighs it.

``amplitude_encoding(x, method=...)``, its ``auto`` choice (:func:`choose_prep`), its method
list and the count functions (``mottonen_cnots``, ``schmidt_cnots``, ``ucg_cnots``, …) all ask
the entries. A new method is one module that defines an entry and calls :func:`register_prep`,
plus its line in ``_MODULES`` below.

Importing this module (and the entries) loads numpy, not Cirq. It also holds the data checks
every entry shares (numpy only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from qlower.blocks.entries import Entries
from qlower.blocks.resources import Resources

if TYPE_CHECKING:
    import cirq

    from qlower.blocks.amplitude import AmplitudeEncoding

# The modules that define the entries, in the order the method list (and ``auto``'s ties) use.
_MODULES = ("mottonen", "schmidt", "ucg")

ZERO_MESSAGE = "amplitude encoding of the zero vector: it has no direction (norm 0)"


class ZeroVectorError(ValueError):
    """Raised when asked to amplitude-encode the zero vector (it has no direction)."""


class PrepMethod:
    """A state-preparation method (subclass it once per method; see the module docstring).

    Class attributes: ``name`` (``amplitude_encoding``'s ``method``), ``summary`` (one line),
    ``symbolic`` (whether it builds a data-independent circuit with symbols), ``min_qubits``
    (the fewest qubits it builds).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    symbolic: ClassVar[bool] = False
    min_qubits: ClassVar[int] = 1

    # -- what subclasses define -------------------------------------------------------------
    def cost(self, n: int, complex_: bool = False) -> Resources:
        raise NotImplementedError

    def build(self, x: np.ndarray, qubits: Sequence[cirq.Qid] | None = None, *,
              prefix: str = "amp") -> AmplitudeEncoding:
        """The circuit preparing ``x/‖x‖`` (``x`` validated, non-zero, complex128 when the
        preparation is complex)."""
        raise NotImplementedError

    def build_symbolic(self, size: int, complex_: bool = False,
                       qubits: Sequence[cirq.Qid] | None = None, *,
                       prefix: str = "amp") -> AmplitudeEncoding:
        raise ValueError(f"the '{self.name}' method needs numeric data x (no symbolic circuit)")

    def counts_exact(self, n: int, complex_: bool = False) -> bool:
        """Whether ``cost`` counts every gate of ``build``'s circuit for generic data."""
        return True

    def auto_candidate(self, n: int, complex_: bool = False) -> bool:
        """Whether ``auto`` weighs this method on ``n`` qubits (default: wherever it builds)."""
        return n >= self.min_qubits

    # -- shared ------------------------------------------------------------------------------
    def qubits(self, size: int) -> int:
        return num_qubits(check_size(size))

    def check_qubits(self, n: int) -> None:
        if n < self.min_qubits:
            raise ValueError(f"the '{self.name}' method needs at least {self.min_qubits} qubits, "
                             f"got {n}")

    def state(self, x) -> np.ndarray:
        """``x/‖x‖`` zero-padded to ``2**n`` (complex128): what ``build``'s circuit prepares."""
        x = as_data(x, batch=False, allow_complex=True)
        check_nonzero(x)
        xp = pad(x, num_qubits(x.shape[0]))
        return (xp / np.linalg.norm(x)).astype(np.complex128)


_ENTRIES = Entries("amplitude-encoding", _MODULES, registered_as="state-preparation",
                   reserved=("auto",))


def register_prep(cls: type[PrepMethod]) -> type[PrepMethod]:
    """Class decorator: add an entry (one per name)."""
    return _ENTRIES.register(cls)


def prep_methods() -> dict[str, PrepMethod]:
    """Every entry, name → method, in ``_MODULES`` order."""
    return _ENTRIES.all()


def prep_method_names() -> tuple[str, ...]:
    return _ENTRIES.names()


def prep_method(name: str) -> PrepMethod:
    """The entry called ``name``; ValueError naming the choices otherwise."""
    return _ENTRIES.get(name)


def choose_prep(n: int, complex_: bool = False) -> str:
    """The method ``auto`` uses on ``n`` qubits: among the candidates, the fewest CNOTs for
    generic data, ties to the fewer rotations, then the fewer single-qubit gates, then the
    method listed first."""
    best, best_key = None, None
    for name, entry in prep_methods().items():
        if not entry.auto_candidate(n, complex_):
            continue
        c = entry.cost(n, complex_)
        key = (c.cnots, c.rotations, c.single_qubit)
        if best_key is None or key < best_key:
            best, best_key = name, key
    if best is None:
        raise ValueError(f"no state-preparation method builds {n} qubits")
    return best


# --------------------------------------------------------------------------- data checks


def check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return int(size)


def num_qubits(size: int) -> int:
    return max(1, (size - 1).bit_length())


def as_data(x, *, batch: bool, allow_complex: bool) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"amplitude encoding needs a numeric vector: {e}") from None
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"amplitude encoding needs numeric data, got dtype {arr.dtype}")
    if batch:
        if arr.ndim < 1:
            raise ValueError(f"expected data of shape [..., size], got a scalar {arr!r}")
    elif arr.ndim != 1:
        raise ValueError(f"amplitude encoding needs a 1-D vector, got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError("amplitude encoding needs a vector of length >= 1, got length 0")
    if np.iscomplexobj(arr):
        if not allow_complex:
            raise ValueError("this amplitude encoding is real; got complex data "
                             "(build it with complex=True)")
        arr = arr.astype(np.complex128)
    else:
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("amplitude encoding needs finite data; got NaN or infinity")
    return arr


def check_nonzero(X: np.ndarray) -> None:
    zero = ~np.any(X != 0, axis=-1)
    if X.ndim == 1:
        if zero:
            raise ZeroVectorError(ZERO_MESSAGE)
    elif zero.any():
        idx = tuple(int(i) for i in np.argwhere(zero)[0])
        where = idx[0] if len(idx) == 1 else idx
        raise ZeroVectorError(f"{ZERO_MESSAGE}: row {where}")


def pad(X: np.ndarray, n: int) -> np.ndarray:
    N = 1 << n
    if X.shape[-1] == N:
        return X
    widths = [(0, 0)] * (X.ndim - 1) + [(0, N - X.shape[-1])]
    return np.pad(X, widths)


__all__ = ["ZERO_MESSAGE", "PrepMethod", "Resources", "ZeroVectorError", "as_data",
           "check_nonzero", "check_size", "choose_prep", "num_qubits", "pad", "prep_method",
           "prep_method_names", "prep_methods", "register_prep"]
