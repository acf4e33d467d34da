"""The block-encoding methods: one entry per method, the one place that says what it is.

An entry (a :class:`BlockMethod`) states, for an M×N matrix W:

- ``layout(M, N, params)``: its registers in qubits (:class:`qlower.blocks.layout.BlockLayout`);
- ``plan(W, threshold)``: the op attributes of its ``q.block.<name>`` op, alpha first (alpha is
  the scale: the block at flags = 0 is W/alpha);
- ``implemented(W, params)``: alpha times the whole block its circuit implements at flags = 0,
  ``2**output × 2**input`` (W zero-padded, unless compressed): the reference semantics;
- ``cost(W, params)``: its :class:`Resources`, from closed forms or from its angle tables,
  without building a circuit;
- ``build(W, params, qubits)``: its circuit, a :class:`qlower.blocks.block_encoding.BlockEncoding`
  (the only part that loads Cirq); ``build_table`` the same operations as a table
  (:class:`qlower.blocks.optable.TableBlock`), which the kernel builder places;
- ``applies(W)``: whether it encodes W at all (default: every matrix; ``centring`` only a layer
  norm's); ``auto`` weighs only the entries that apply, and ``example(M, N)`` gives tests a
  matrix of the form an entry encodes.

Everything else asks the entry: the type inference of the ``q.block.*`` ops (one op per entry,
``qlower.ir.dialects.quantum``), lowering (``passes/lower_linear.py``), the emitter, ``estimate``,
the command line's ``--method`` choices and ``block_encoding()``. A new method is one module that
defines an entry and calls :func:`register`, plus its line in ``_MODULES`` below.

Importing this module loads numpy and the method modules' numerics, not Cirq.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from qlower.blocks.entries import Entries
from qlower.blocks.layout import BlockLayout, ceil_log2
from qlower.blocks.resources import Resources

# The modules that define the entries, in the order the command line lists them.
_MODULES = ("fable", "svd", "dilation", "lcu", "combine", "centring")
# choose_method considers LCU only where W has at most this many Pauli terms per dimension
# (2**q terms for a 2**q square): beyond that its SELECT outgrows every other method.
LCU_TERMS_PER_DIM = 1
LCU_MAX_QUBITS = 8  # and only up to 2**8 squares (its coefficients take O(q 4^q) work)


class BlockMethod:
    """A block-encoding method (subclass it once per method; see the module docstring).

    Class attributes: ``name`` (the op is ``q.block.<name>``), ``summary`` (one line, shown by
    ``qlower ops`` and the command line), ``qubit_order`` (the order of ``build``'s qubits),
    ``params`` (the op's attributes besides alpha: name → (kind, default), kind as
    :class:`qlower.ir.opdef.Attr` takes it; default ``None`` means required), ``max_qubits``
    (the most qubits it builds, or None), ``uses_threshold`` (whether ``threshold`` changes it),
    ``general`` (False for a structured method: ``applies`` says which matrices it takes).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    qubit_order: ClassVar[str] = ""
    params: ClassVar[dict[str, tuple[str, object]]] = {}
    max_qubits: ClassVar[int | None] = None
    uses_threshold: ClassVar[bool] = False
    # False for a structured method, which encodes only matrices of its own form (``applies``)
    general: ClassVar[bool] = True

    # -- what subclasses define -------------------------------------------------------------
    def layout(self, M: int, N: int, params: dict) -> BlockLayout:
        raise NotImplementedError

    def plan(self, W: np.ndarray, threshold: float = 0.0) -> dict:
        raise NotImplementedError

    def implemented(self, W: np.ndarray, params: dict) -> np.ndarray:
        """Alpha times the flag-0 block, ``2**output × 2**input`` (default: W zero-padded)."""
        lay = self.layout(*W.shape, params)
        out = np.zeros((1 << lay.output, 1 << lay.input), dtype=np.result_type(W, np.float64))
        out[: W.shape[0], : W.shape[1]] = W
        return out

    def cost(self, W: np.ndarray, params: dict) -> Resources:
        raise NotImplementedError

    def build(self, W: np.ndarray, params: dict, qubits=None):
        raise NotImplementedError

    def build_table(self, W: np.ndarray, params: dict, qubits=None):
        """The block as a :class:`qlower.blocks.optable.TableBlock`: ``build``'s circuit as an
        operation table by default; a method with angle tables fills it without Cirq objects
        (the kernel builder places blocks this way)."""
        from qlower.blocks.optable import OpTable, TableBlock

        be = self.build(W, params, qubits)
        return TableBlock(OpTable.from_operations(be.circuit.all_operations(), be.qubits),
                          be.alpha, be.registers, be.method, be.shape)

    def counts_exact(self, W: np.ndarray) -> bool:
        """Whether ``cost`` counts every gate of ``build``'s circuit for this W (else its counts
        are upper bounds; the qubits are always exact)."""
        return True

    def check_params(self, params: dict) -> str | None:
        """A message if ``params`` (the op's attributes) are not valid for this method."""
        return None

    def applies(self, W: np.ndarray) -> bool:
        """Whether the method encodes ``W`` (a validated matrix) at all: a method for matrices
        of one form (``centring``: a layer norm's; ``combine``) says False for the others.
        Default: every matrix."""
        return True

    def example(self, M: int, N: int, complex_: bool = False, rng=None) -> np.ndarray | None:
        """An M×N matrix (complex if ``complex_``) that the method encodes, for tests and
        documentation; None if it encodes none of that shape and kind. Default (a method for
        every matrix): a standard Gaussian one from ``numpy.random.default_rng(rng)``."""
        rng = np.random.default_rng(rng)
        W = rng.standard_normal((M, N))
        return W + 1j * rng.standard_normal((M, N)) if complex_ else W

    # -- shared ------------------------------------------------------------------------------
    def qubits(self, M: int, N: int, params: dict) -> int:
        """All the block's qubits: its output register and its flags (which hold the rest)."""
        lay = self.layout(M, N, params)
        return lay.output + lay.flags

    def check_size(self, M: int, N: int, params: dict) -> None:
        """ValueError if the method does not build a block of this size."""
        if self.max_qubits is None:
            return
        n = self.qubits(M, N, params)
        if n > self.max_qubits:
            raise ValueError(f"a {M}x{N} {self.name} block needs {n} qubits; the {self.name} "
                             f"synthesis is limited to {self.max_qubits} here")

    def mean_success_probability(self, W: np.ndarray, params: dict) -> float:
        """``P(flags = 0)`` averaged over unit inputs: ‖implemented‖_F² / (N α²)."""
        block = self.implemented(W, params)[:, : W.shape[1]]
        return float(np.sum(np.abs(block) ** 2) / (W.shape[1] * params["alpha"] ** 2))


_ENTRIES = Entries("block-encoding", _MODULES)


def register(cls: type[BlockMethod]) -> type[BlockMethod]:
    """Class decorator: add an entry (one per name)."""
    return _ENTRIES.register(cls)


def methods() -> dict[str, BlockMethod]:
    """Every entry, name → method, in the command line's order."""
    return _ENTRIES.all()


def method_names() -> tuple[str, ...]:
    return _ENTRIES.names()


def block_method(name: str) -> BlockMethod:
    """The entry called ``name``; ValueError naming the choices otherwise."""
    return _ENTRIES.get(name)


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


def candidates(a: np.ndarray) -> list[str]:
    """The methods ``auto`` weighs for the validated matrix ``a``: every general method that
    builds a block of its size, LCU only where ``a`` is Pauli-sparse."""
    from qlower.blocks.lcu import PAULI_TOL, pauli_coefficients

    out = []
    for name, entry in methods().items():
        if not entry.general or not entry.applies(a):
            continue  # a structured method is chosen by the lowering that builds its form
        params = {}
        if name == "lcu" and max(a.shape) > 1 << LCU_MAX_QUBITS:
            continue
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


def plan_block(W: np.ndarray, method: str = "auto", threshold: float = 0.0) -> tuple[str, dict]:
    """The method (``auto`` resolved) and the op attributes of a block encoding of ``W``.

    ``threshold`` compresses the methods that take one (FABLE); the others ignore it.
    """
    a = as_matrix(W)
    if method == "auto":
        method = choose_method(a)
    entry = block_method(method)
    return method, entry.plan(a, float(threshold) if entry.uses_threshold else 0.0)


def apply_block(method: str, state: np.ndarray, W: np.ndarray, params: dict) -> np.ndarray:
    """Amplitudes at flags = 0 after the block: ``implemented · ψ / alpha`` (the reference
    semantics of ``q.block.<method>``). The block reads the low ``2**input`` amplitudes of
    ``state`` (a wider state's extra, most significant qubits are flags)."""
    entry = block_method(method)
    block = entry.implemented(np.asarray(W), params).astype(np.complex128)
    width = block.shape[1]
    if state.shape[-1] < width:  # fresh |0⟩ qubits above a narrower state
        state = np.concatenate(
            [state, np.zeros(state.shape[:-1] + (width - state.shape[-1],), state.dtype)], -1)
    return state[..., :width] @ block.T / params["alpha"]


def cost_per_success(method: BlockMethod, W: np.ndarray, params: dict) -> float:
    """CNOTs per successful run: the method's CNOTs over its mean success probability.

    What ``auto`` minimises: a run succeeds (the flags read 0) with probability ``p``, so a
    result costs ``1/p`` runs on average.
    """
    p = method.mean_success_probability(W, params)
    return math.inf if p <= 0 else max(method.cost(W, params).cnots, 1) / p


__all__ = ["BlockLayout", "BlockMethod", "Resources", "apply_block", "as_matrix", "block_method",
           "candidates", "ceil_log2", "choose_method", "cost_per_success", "method_names",
           "methods", "plan_block", "register"]
