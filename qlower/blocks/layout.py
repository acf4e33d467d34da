"""Register layouts of block encodings: :class:`BlockLayout` and :func:`block_layout`.

Each method states its layout in its registry entry (``qlower.blocks.registry``);
:func:`block_layout` asks it. The circuit builders, the type inference of the ``q.block.*`` ops,
the lowering plans and the reference semantics all read that one statement, so a block's
qubits cannot disagree between the IR and its circuit. Numbers only: importing this module
loads neither Cirq nor the circuit builders.

Registers hold a vector of ``n`` entries in ``ceil_log2(n)`` qubits, which is 0 for ``n = 1``:
a one-row FABLE block has no output register (its single output is the amplitude at
flags = 0), and a 1×1 dilation or LCU block acts on its flag qubits alone.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    """The registers of ``method``'s block encoding of an ``M``×``N`` matrix (its registry
    entry's ``layout``; ``terms`` is the LCU's term count)."""
    from qlower.blocks.registry import block_method

    M, N = int(M), int(N)
    if M < 1 or N < 1:
        raise ValueError(f"a block encoding needs a non-empty matrix, got {M}x{N}")
    return block_method(method).layout(M, N, {"terms": terms})


__all__ = ["BlockLayout", "block_layout", "ceil_log2", "lcu_index_qubits"]
