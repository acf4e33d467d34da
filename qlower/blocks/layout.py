"""Register layout of each block-encoding method: the one place these sizes are stated.

The circuit builders (``fable.py``, ``lcu.py``, ``dilation.py``) size their registers with
:func:`block_layout`, and the type inference of the ``q.block.*`` ops, the lowering plans and the
reference semantics ask it too, so a block's qubits cannot disagree between the IR and its
circuit. Numbers only: importing this module loads neither Cirq nor the circuit builders.

Registers hold a vector of ``n`` entries in ``ceil_log2(n)`` qubits, which is 0 for ``n = 1``:
a one-row FABLE block has no output register (its single output is the amplitude at
flags = 0), and a 1×1 dilation or LCU block acts on its flag qubits alone.
"""

from __future__ import annotations

from dataclasses import dataclass

METHODS = ("fable", "lcu", "dilation")


def ceil_log2(n: int) -> int:
    """Qubits needed to index ``n`` items (0 for ``n = 1``)."""
    return max(0, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class BlockLayout:
    """The registers of a block encoding of an M×N matrix, in qubits.

    ``input``: the register the block reads (the vector sits on its low ``N`` indices);
    ``output``: the register whose basis index is the output index (first ``M`` indices);
    ``flags``: the block's qubits that must read 0 afterwards (they may include the input
    register, as in FABLE). The block adds ``output + flags - input`` qubits to a state.
    """

    input: int
    output: int
    flags: int


def lcu_index_qubits(shape: tuple[int, int], terms: int) -> int:
    """Index qubits of a Pauli LCU with ``terms`` terms (a 1×1 block still gets one)."""
    return ceil_log2(terms) if max(ceil_log2(shape[0]), ceil_log2(shape[1])) else 1


def block_layout(method: str, M: int, N: int, *, terms: int | None = None) -> BlockLayout:
    """The registers of ``method``'s block encoding of an ``M``×``N`` matrix.

    - ``fable``: flag ``a``, output R (``ceil_log2 M``), input C (``ceil_log2 N``); the flags
      are ``a`` and C.
    - ``dilation``: one flag plus D (``q = max(ceil_log2 M, ceil_log2 N)``) for input and output.
    - ``lcu``: D as for the dilation; flags are ``L`` index qubits
      (:func:`lcu_index_qubits`, needs ``terms``) and ``L - 1`` ancillas of the SELECT.
    """
    M, N = int(M), int(N)
    if M < 1 or N < 1:
        raise ValueError(f"a block encoding needs a non-empty matrix, got {M}x{N}")
    m, n = ceil_log2(M), ceil_log2(N)
    if method == "fable":
        return BlockLayout(input=n, output=m, flags=1 + n)
    q = max(m, n)
    if method == "dilation":
        return BlockLayout(input=q, output=q, flags=1)
    if method == "lcu":
        if terms is None or int(terms) < 1:
            raise ValueError(f"terms must be >= 1, got {terms}")
        L = lcu_index_qubits((M, N), int(terms))
        return BlockLayout(input=q, output=q, flags=L + max(L - 1, 0))
    raise ValueError(f"unknown block-encoding method {method!r}; use one of {METHODS}")


__all__ = ["METHODS", "BlockLayout", "block_layout", "ceil_log2", "lcu_index_qubits"]
