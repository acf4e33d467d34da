"""split-linear: a selection of a linear layer's output features becomes its own linear layer.

torch's ``nn.MultiheadAttention`` computes q, k and v with one packed ``[3E, E]`` projection and
picks them apart with reshapes, transposes and gathers. When a gather/slice/split picks exactly
a contiguous block of output features ``s:e`` (in their original order), it equals
``nn.linear(x, W[s:e], b[s:e])`` (plus a reshape when the layout differs), so q, k and v become
three projections::

    %qkv = nn.linear(%x, %w, %b)            %q = nn.linear(%x, %w.rows_0_8, %b.rows_0_8)
    %t = nn.reshape(%qkv) {...}        ⇒    ...
    %q = nn.gather(%t, %zero) {axis = 0}

Which elements a selection picks is found by running the relayout chain on an array of element
indices (symbols bound to two different sizes), so no case analysis of reshapes is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.ir import EvaluationError, Graph, Op, TensorType, evaluate_op
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, apply_patterns

RELAYOUT = ("nn.reshape", "nn.transpose")
SELECT = ("nn.gather", "nn.slice", "nn.split")
PROBE_SIZES = (2, 3)  # values tried for each size symbol
MAX_PROBE = 1 << 22  # elements; larger layers are left alone


def _chain_to_linear(rw: Rewriter, value: str) -> tuple[Op, list[Op]] | None:
    """The nn.linear whose output reaches ``value`` through reshapes/transposes, and that chain."""
    chain: list[Op] = []
    op = rw.producer(value)
    while op is not None and op.name in RELAYOUT:
        chain.append(op)
        op = rw.producer(op.operands[0])
    if op is None or op.name != "nn.linear":
        return None
    return op, chain[::-1]


def _feature_block(linear: Op, chain: list[Op], select: Op, index: int, rw: Rewriter, env) -> tuple | None:
    """(start, stop) if result ``index`` of ``select`` is output features start:stop of ``linear``."""
    y = linear.result().type
    assert isinstance(y, TensorType)
    try:
        shape = [d.evaluate(env) if not isinstance(d, int) else d for d in y.dims]
    except (AttributeError, KeyError):
        return None
    total = int(np.prod(shape))
    if total > MAX_PROBE or total == 0:
        return None
    ids = np.arange(total, dtype=np.int64).reshape(shape)
    args = [rw.constant(o) for o in select.operands[1:]]
    if any(a is None for a in args):
        return None
    try:
        value = ids
        for op in chain:
            value = evaluate_op(op, [value], env)[0]
        picked = evaluate_op(select, [value, *args], env)[index]
    except (EvaluationError, ValueError, IndexError):
        return None  # the selection cannot run on these sizes (an index out of range): not a block
    n = shape[-1]
    features = picked % n
    if picked.size == 0:
        return None
    start, stop = int(features.min()), int(features.max()) + 1
    expected = ids[..., start:stop]
    if picked.size != expected.size or not np.array_equal(picked.ravel(), expected.ravel()):
        return None
    return start, stop


@dataclass(frozen=True)
class SplitSelectedFeatures:
    """A gather/slice/split of a packed linear's output → one linear per selected block."""

    roots: tuple[str, ...] = SELECT

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        found = _chain_to_linear(rw, op.operands[0])
        if found is None:
            return False
        linear, chain = found
        weight, bias = rw.constant(linear.operands[1]), rw.constant(linear.operand(2))
        if weight is None or (linear.operand(2) is not None and bias is None):
            return False
        symbols = sorted({s for t in (linear.result().type,) if isinstance(t, TensorType) for s in t.symbols})
        blocks = []
        for i, r in enumerate(op.results):
            if r is None:
                blocks.append(None)
                continue
            found_blocks = {
                _feature_block(linear, chain, op, i, rw, {s: size for s in symbols})
                for size in PROBE_SIZES
            }
            if len(found_blocks) != 1 or None in found_blocks:
                return False
            blocks.append(found_blocks.pop())
        if all(b == (0, weight.shape[0]) for b in blocks if b is not None):
            return False  # selects everything: nothing to split
        new_ops = []
        for r, block in zip(op.results, blocks):
            if r is None:
                continue
            new_ops += self._block_linear(rw, linear, r, block, weight, bias, op.loc)
        rw.replace(op, new_ops)
        return True

    def _block_linear(self, rw: Rewriter, linear: Op, result, block, weight, bias, loc) -> list[Op]:
        start, stop = block
        w_name = rw.add_constant(weight[start:stop], f"{linear.operands[1]}.rows_{start}_{stop}")
        operands = [linear.operands[0], w_name]
        if bias is not None:
            operands.append(rw.add_constant(bias[start:stop], f"{linear.operands[2]}.rows_{start}_{stop}"))
        loc = tuple(dict.fromkeys(linear.loc + tuple(loc)))
        out_type = result.type
        lin_type = rw.build("nn.linear", operands, {}, results=["_probe"]).result().type
        rw.taken.discard("_probe")
        if lin_type == out_type:
            return [rw.build("nn.linear", operands, {}, results=[result.name], loc=loc)]
        tmp = rw.fresh(f"{result.name}.linear")
        first = rw.build("nn.linear", operands, {}, results=[tmp], loc=loc)
        reshape = rw.build("nn.reshape", [tmp], {"shape": out_type.dims}, results=[result.name], loc=loc)
        return [first, reshape]


@register_pass
@dataclass(frozen=True)
class SplitLinear(TransformPass):
    name = "split-linear"
    summary = "turn selections of a packed linear's output features (q/k/v) into linears"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(graph, [SplitSelectedFeatures()])
