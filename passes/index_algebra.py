"""Index algebra for ``simplify``: values affine in their own indices, with symbolic sizes.

Exported transformers build their attention masks from index grids: ``range(seq)`` reshaped to
``[1, 1, seq, 1]``, compared with other grids, used as GatherND indices into the mask input.
With a symbolic batch and sequence none of that is a constant, but each such value is
``v[j] = offset + Σₖ coeffs[k]·j[k]`` over its type's shape. :func:`affine_of` derives that form
through ranges, reshapes, broadcasts, slices, concatenation, integer arithmetic, casts, running
sums and gathers; the patterns below then replace

- a value that is the same everywhere (``range(seq) >= 0``) by ``nn.expand`` of a scalar;
- a comparison of two grids that is a triangle (``k <= q``) by ``nn.trilu`` of ``true``;
- a gather whose indices are grids of the data's own axes (GatherND at ``[b, k]``, Gather of a
  flattened tensor at ``b·seq + k``) by a reshape and broadcast of the data;
- ``x and true``, ``x or false`` by ``x`` (broadcast where needed), and ``where`` on a
  condition that is the same everywhere by the branch it takes (where that value was computed:
  constant masks are left to match-attention).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np

from qlower.ir import Op, TensorType
from qlower.ir.symbolic import Sym, SymbolicError, decide_equal
from qlower.ir.types import DType
from qlower.passes.rewrite import Rewriter

COMPARISONS = ("nn.greater", "nn.greater_equal", "nn.less", "nn.less_equal", "nn.equal")
LOGIC = ("nn.and", "nn.or", "nn.xor", "nn.not")
ARITH = ("nn.add", "nn.sub", "nn.mul", "nn.neg")
STRUCTURE = ("nn.reshape", "nn.expand", "nn.slice", "nn.concat", "nn.identity", "nn.cast")
GATHERS = ("nn.gather", "nn.gather_nd", "nn.gather_elements")
ANALYSED = COMPARISONS + LOGIC + ARITH + STRUCTURE + GATHERS + ("nn.range", "nn.cumsum")
MAX_DEPTH = 64


@dataclass(frozen=True)
class Affine:
    """``value[j] = offset + Σ coeffs[k]·j[k]`` over ``dims`` (bools: uniform only)."""

    dims: tuple
    coeffs: tuple
    offset: object

    @property
    def uniform(self) -> bool:
        return all(_zero(c) for c in self.coeffs)

    def at(self, rank: int) -> Affine:
        """Broadcast to ``rank`` axes (leading axes of size 1)."""
        pad = rank - len(self.dims)
        return Affine((1,) * pad + self.dims, (0,) * pad + self.coeffs, self.offset)


def _zero(c) -> bool:
    return not isinstance(c, Sym) and c == 0


def _same(a, b) -> bool:
    if a is None or b is None:
        return False
    try:
        return decide_equal(a, b)
    except SymbolicError:
        return False


def _make(dims, coeffs, offset) -> Affine:
    """Coefficients of size-1 axes are irrelevant (their index is 0): keep them 0."""
    return Affine(tuple(dims), tuple(0 if d == 1 else c for d, c in zip(dims, coeffs)), offset)


def _uniform(dims, value) -> Affine:
    return Affine(tuple(dims), (0,) * len(dims), value)


def value_range(a: Affine):
    """(lowest, highest) value over the index box, or None where sizes do not decide it."""
    lo = hi = a.offset
    try:
        for c, d in zip(a.coeffs, a.dims):
            if _zero(c):
                continue
            if d is None:
                return None
            span = c * (d - 1)
            if c > 0:
                hi = hi + span
            else:
                lo = lo + span
    except (SymbolicError, TypeError):
        return None
    return lo, hi


def _decide(fn, *args):
    try:
        return fn(*args)
    except (SymbolicError, TypeError):
        return None


# -- derivation ---------------------------------------------------------------------------------


def affine_of(rw: Rewriter, name: str | None, depth: int = 0) -> Affine | None:
    """The affine form of ``name`` (an integer or bool tensor), or None."""
    if name is None or depth > MAX_DEPTH:
        return None
    t = rw.type_of(name)
    if not isinstance(t, TensorType) or not (t.dtype.is_int or t.dtype == DType.BOOL):
        return None
    if rw.constant(name) is not None:
        return _constant(rw.constant(name), t)
    op = rw.producer(name)
    if op is None or op.name not in ANALYSED or len(op.results) != 1:
        return None
    try:
        return _derive(rw, op, t, depth + 1)
    except (SymbolicError, TypeError, ZeroDivisionError):
        return None


def _constant(arr: np.ndarray, t: TensorType) -> Affine | None:
    flat = arr.ravel().tolist()
    if not flat:
        return None
    if arr.dtype == object or arr.dtype == bool:
        return _uniform(t.dims, flat[0]) if all(x == flat[0] for x in flat) else None
    base = arr.reshape(-1)[0]
    coeffs = []
    for k, n in enumerate(arr.shape):
        step = [0] * arr.ndim
        step[k] = 1 if n > 1 else 0
        coeffs.append(int(arr[tuple(step)] - base) if n > 1 else 0)
    grid = np.indices(arr.shape).reshape(arr.ndim, -1) if arr.ndim else np.zeros((0, 1), int)
    predicted = int(base) + np.asarray(coeffs, dtype=np.int64) @ grid
    if not np.array_equal(predicted, arr.reshape(-1)):
        return None
    return _make(t.dims, [int(c) for c in coeffs], int(base))


def _derive(rw: Rewriter, op: Op, t: TensorType, depth: int) -> Affine | None:
    dims, rank = t.dims, t.rank

    def of(i: int) -> Affine | None:
        return affine_of(rw, op.operand(i), depth)

    n = op.name
    if n == "nn.range":
        if not t.dtype.is_int:
            return None
        return _make(dims, [op.attr("delta")], op.attr("start"))
    if n in ("nn.identity", "nn.expand"):
        a = of(0)
        return None if a is None else _make(dims, a.at(rank).coeffs, a.offset)
    if n == "nn.cast":
        a = of(0)
        if a is None:
            return None
        src = rw.tensor_type(op.operands[0]).dtype
        if src.is_int and t.dtype.is_int:
            return a
        if a.uniform and t.dtype.is_int:
            return _uniform(dims, int(a.offset)) if src == DType.BOOL else None
        if a.uniform and t.dtype == DType.BOOL:
            return _uniform(dims, not decide_equal(a.offset, 0))
        return None
    if n == "nn.reshape":
        return _reshape(of(0), rw.tensor_type(op.operands[0]).dims, dims)
    if n == "nn.slice":
        return _slice(op, of(0), rw.tensor_type(op.operands[0]).dims, dims)
    if n == "nn.concat":
        return _concat(op, [affine_of(rw, o, depth) for o in op.operands], rw, dims)
    if n in ARITH:
        return _arith(n, [of(i) for i in range(len(op.operands))], dims)
    if n == "nn.cumsum":
        return _cumsum(op, of(0), dims)
    if n in COMPARISONS or n in LOGIC:
        return _predicate(rw, op, dims, depth)
    if n == "nn.gather_elements":
        a = of(0)
        return _uniform(dims, a.offset) if a is not None and a.uniform else None
    if n == "nn.gather_nd" and op.attr("batch_dims") == 0:
        comps = components(rw, op.operands[1], depth)
        return _compose(of(0), comps, dims)
    if n == "nn.gather":
        return _gather(op, of(0), of(1), dims)
    return None


def _reshape(a: Affine | None, src: tuple, dims: tuple) -> Affine | None:
    if a is None:
        return None
    if a.uniform:
        return _uniform(dims, a.offset)
    kept = [k for k, d in enumerate(src) if d != 1]
    placed = [k for k, d in enumerate(dims) if d != 1]
    if len(kept) != len(placed) or not all(_same(src[i], dims[j]) for i, j in zip(kept, placed)):
        return None
    coeffs = [0] * len(dims)
    for i, j in zip(kept, placed):
        coeffs[j] = a.coeffs[i]
    return _make(dims, coeffs, a.offset)


def _slice(op: Op, a: Affine | None, src: tuple, dims: tuple) -> Affine | None:
    if a is None:
        return None
    if a.uniform:
        return _uniform(dims, a.offset)
    coeffs, offset = list(a.coeffs), a.offset
    for s, axis, step in zip(op.attr("starts"), op.attr("axes"), op.attr("steps")):
        if step <= 0 or _zero(coeffs[axis]):
            if step <= 0 and not _zero(coeffs[axis]):
                return None
            continue
        if s < 0:  # counts from the end
            if src[axis] is None:
                return None
            s = src[axis] + s
        offset = offset + coeffs[axis] * s
        coeffs[axis] = coeffs[axis] * step
    return _make(dims, coeffs, offset)


def _concat(op: Op, parts: list, rw: Rewriter, dims: tuple) -> Affine | None:
    if any(p is None for p in parts):
        return None
    axis = op.attr("axis")
    lengths = [rw.tensor_type(o).dims[axis] for o in op.operands]
    if any(n is None for n in lengths):
        return None
    step = next((p.coeffs[axis] for p, n in zip(parts, lengths) if n != 1), None)
    if step is None:
        step = parts[1].offset - parts[0].offset if len(parts) > 1 else 0
    coeffs = list(parts[0].coeffs)
    coeffs[axis] = step
    position = 0
    for p, n in zip(parts, lengths):
        others = [c for k, c in enumerate(p.coeffs) if k != axis]
        if not all(map(_equal_value, others, [c for k, c in enumerate(coeffs) if k != axis])):
            return None
        if n != 1 and not _equal_value(p.coeffs[axis], step):
            return None
        if not _equal_value(p.offset, parts[0].offset + step * position):
            return None
        position = position + n
    return _make(dims, coeffs, parts[0].offset)


def _equal_value(a, b) -> bool:
    return (not isinstance(a, Sym) and not isinstance(b, Sym) and a == b) or _same(a, b)


def _arith(n: str, parts: list, dims: tuple) -> Affine | None:
    if any(p is None for p in parts):
        return None
    rank = len(dims)
    ps = [p.at(rank) for p in parts]
    if n == "nn.neg":
        return _make(dims, [-c for c in ps[0].coeffs], -ps[0].offset)
    a, b = ps
    if n in ("nn.add", "nn.sub"):
        f = operator.add if n == "nn.add" else operator.sub
        return _make(dims, [f(x, y) for x, y in zip(a.coeffs, b.coeffs)], f(a.offset, b.offset))
    if b.uniform:
        a, b = b, a
    if not a.uniform:
        return None
    return _make(dims, [a.offset * c for c in b.coeffs], a.offset * b.offset)


def _cumsum(op: Op, a: Affine | None, dims: tuple) -> Affine | None:
    if a is None or not a.uniform:
        return None
    c, axis = a.offset, op.attr("axis")
    if _zero(c):
        return _uniform(dims, 0)
    coeffs = [0] * len(dims)
    exclusive = op.attr("exclusive")
    if not op.attr("reverse"):
        coeffs[axis] = c
        return _make(dims, coeffs, 0 if exclusive else c)
    if dims[axis] is None:
        return None
    coeffs[axis] = -c
    return _make(dims, coeffs, c * (dims[axis] - 1) if exclusive else c * dims[axis])


def normalised_comparison(rw: Rewriter, op: Op, depth: int = 0) -> Affine | None:
    """For ``A > B``, ``A >= B``, ``A < B``, ``A <= B`` of grids: E with ``op ⇔ E >= 0``."""
    t = rw.tensor_type(op.result().name)
    a, b = (affine_of(rw, o, depth) for o in op.operands)
    if a is None or b is None or rw.tensor_type(op.operands[0]).dtype == DType.BOOL:
        return None
    diff = _arith("nn.sub", [a, b], t.dims)
    shift = {"nn.greater": (1, -1), "nn.greater_equal": (1, 0),
             "nn.less": (-1, -1), "nn.less_equal": (-1, 0)}.get(op.name)
    if diff is None or shift is None:
        return None
    sign, extra = shift
    return _make(t.dims, [sign * c for c in diff.coeffs], sign * diff.offset + extra)


def _predicate(rw: Rewriter, op: Op, dims: tuple, depth: int) -> Affine | None:
    n = op.name
    parts = [affine_of(rw, o, depth) for o in op.operands]
    bools = all(rw.tensor_type(o).dtype == DType.BOOL for o in op.operands)
    if n in LOGIC or (n == "nn.equal" and bools):
        known = [p.offset for p in parts if p is not None and p.uniform]
        if n == "nn.and" and False in known:
            return _uniform(dims, False)
        if n == "nn.or" and True in known:
            return _uniform(dims, True)
        if len(known) != len(parts):
            return None
        fn = {"nn.and": operator.and_, "nn.or": operator.or_, "nn.xor": operator.xor,
              "nn.equal": operator.eq, "nn.not": operator.not_}[n]
        return _uniform(dims, bool(fn(*known)))
    if n == "nn.equal":
        if any(p is None for p in parts):
            return None
        r = value_range(_arith("nn.sub", parts, dims))
        if r is None:
            return None
        lo, hi = r
        if _decide(lambda: lo > 0 or hi < 0):
            return _uniform(dims, False)
        if _decide(lambda: _zero(lo) and _zero(hi)):
            return _uniform(dims, True)
        return None
    e = normalised_comparison(rw, op, depth)
    r = value_range(e) if e is not None else None
    if r is None:
        return None
    if _decide(lambda: r[0] >= 0):
        return _uniform(dims, True)
    if _decide(lambda: r[1] < 0):
        return _uniform(dims, False)
    return None


def components(rw: Rewriter, name: str, depth: int = 0) -> list[Affine] | None:
    """The index tuples of a GatherND ``indices`` operand, one affine form per entry."""
    t = rw.tensor_type(name)
    m = t.dims[-1]
    if not isinstance(m, int):
        return None
    cat = rw.producer_of(name, "nn.concat")
    if cat is not None and cat.attr("axis") == t.rank - 1:
        out: list[Affine] = []
        for o in cat.operands:
            out += components(rw, o, depth + 1) or [None]
        return None if None in out else out
    a = affine_of(rw, name, depth)
    if a is None:
        return None
    return [Affine(a.dims[:-1], a.coeffs[:-1], a.offset + a.coeffs[-1] * k) for k in range(m)]


def _nonnegative(a: Affine) -> bool:
    r = value_range(a)
    return r is not None and bool(_decide(lambda: r[0] >= 0))


def _compose(data: Affine | None, comps, dims: tuple) -> Affine | None:
    if data is None or comps is None or not all(_nonnegative(c) for c in comps):
        return None
    lead = len(dims) - (len(data.dims) - len(comps))
    coeffs = [0] * lead
    offset = data.offset
    for dc, comp in zip(data.coeffs, comps):
        offset = offset + dc * comp.offset
        for k, c in enumerate(comp.at(lead).coeffs):
            coeffs[k] = coeffs[k] + dc * c
    return _make(dims, coeffs + list(data.coeffs[len(comps):]), offset)


def _gather(op: Op, data: Affine | None, idx: Affine | None, dims: tuple) -> Affine | None:
    if data is None or idx is None or not _nonnegative(idx):
        return None
    axis = op.attr("axis")
    c = data.coeffs[axis]
    coeffs = list(data.coeffs[:axis]) + [c * x for x in idx.coeffs] + list(data.coeffs[axis + 1:])
    return _make(dims, coeffs, data.offset + c * idx.offset)


# -- rewrites -------------------------------------------------------------------------------------


def _static_dims(rw: Rewriter, name: str) -> tuple | None:
    dims = rw.tensor_type(name).dims
    return None if any(d is None for d in dims) else dims


def _broadcast_to(rw: Rewriter, op: Op, src: str) -> bool:
    """Replace ``op`` by ``src``, through ``nn.expand`` when the result is larger."""
    t = rw.tensor_type(op.result().name)
    if rw.type_of(src) == t:
        rw.replace(op, [], {op.result().name: src})
        return True
    dims = _static_dims(rw, op.result().name)
    if dims is None:
        return False
    new = rw.build("nn.expand", [src], {"shape": dims}, results=[op.result().name], loc=op.loc)
    if new.result().type != t:
        return False
    rw.replace(op, [new])
    return True


@dataclass(frozen=True)
class FoldUniform:
    """A grid value that is the same everywhere → ``nn.expand`` of a scalar constant.

    ``nn.greater_equal(nn.reshape(nn.range {size = (seq)}), 0)`` ⇒ ``nn.expand(true)``.
    """

    roots: tuple[str, ...] = tuple(n for n in ANALYSED if n != "nn.range")

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        if len(op.results) != 1 or op.results[0] is None:
            return False
        if op.name == "nn.expand" and rw.constant(op.operands[0]) is not None:
            return False
        name = op.result().name
        a = affine_of(rw, name)
        dims = _static_dims(rw, name)
        if a is None or not a.uniform or dims is None:
            return False
        dtype = rw.tensor_type(name).dtype
        value = np.array(a.offset, dtype=object if isinstance(a.offset, Sym) else dtype.numpy)
        k = rw.add_constant(value, f"{name}_value")
        return _broadcast_to(rw, op, k)


@dataclass(frozen=True)
class TriangleCompare:
    """A comparison of a query grid with a key grid on the last two axes → a causal triangle.

    ``nn.less_equal(k: [1, 1, 1, (seq)], q: [1, 1, (seq), 1])`` ⇒
    ``nn.trilu(nn.expand(true) {shape = [1, 1, (seq), (seq)]}) {upper = false, k = 0}``.
    """

    roots: tuple[str, ...] = COMPARISONS[:4]

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        e = normalised_comparison(rw, op)
        dims = _static_dims(rw, op.result().name)
        if e is None or dims is None or len(dims) < 2 or not isinstance(e.offset, int):
            return False
        if any(not _zero(c) for c in e.coeffs[:-2]):
            return False
        row, col = e.coeffs[-2:]
        if (row, col) == (1, -1):  # i - j + c >= 0: j - i <= c
            upper, k = False, e.offset
        elif (row, col) == (-1, 1):  # j - i + c >= 0: j - i >= -c
            upper, k = True, -e.offset
        else:
            return False
        true = rw.add_constant(np.array(True), f"{op.result().name}_true")
        ones = rw.build("nn.expand", [true], {"shape": dims}, loc=op.loc)
        tri = rw.build("nn.trilu", [ones.result().name], {"upper": upper, "k": k},
                       results=[op.result().name], loc=op.loc)
        rw.replace(op, [ones, tri])
        return True


def _placement(rw: Rewriter, op: Op, x: str, axes: list[int], lead: tuple, tail: tuple) -> bool:
    """``op``'s result is ``x`` with its first ``len(axes)`` axes laid on ``axes`` of ``lead``
    (other axes broadcast), followed by ``tail``: emit reshape (+ expand, + reshape)."""
    xd = rw.tensor_type(x).dims
    m = len(axes)
    if axes != sorted(set(axes)) or not all(_same(lead[p], xd[k]) for k, p in enumerate(axes)):
        return False
    placed = [1] * len(lead)
    for k, p in enumerate(axes):
        placed[p] = xd[k]
    steps = (("nn.reshape", tuple(placed) + xd[m:]), ("nn.expand", tuple(lead) + xd[m:]),
             ("nn.reshape", tuple(lead) + tuple(tail)))
    ops: list[Op] = []
    cur = x
    for kind, shape in steps:
        if tuple(rw.tensor_type(cur).dims) != shape:
            ops.append(rw.build(kind, [cur], {"shape": shape}, loc=op.loc))
            cur = ops[-1].result().name
    if not ops or rw.type_of(cur) != op.result().type:
        return False
    last = ops[-1]
    ops[-1] = rw.build(last.name, last.operands, last.attrs, results=[op.result().name],
                       loc=op.loc)
    rw.replace(op, ops)
    return True


def _identity_axes(comps: list[Affine], lead: tuple) -> list[int] | None:
    axes = []
    for c in comps:
        nonzero = [k for k, x in enumerate(c.at(len(lead)).coeffs) if not _zero(x)]
        if len(nonzero) != 1 or c.at(len(lead)).coeffs[nonzero[0]] != 1 or not _zero(c.offset):
            return None
        axes.append(nonzero[0])
    return axes


@dataclass(frozen=True)
class GatherPlacement:
    """Gathers at index grids of the data's own axes → reshape and broadcast of the data.

    ``nn.gather_nd(m: [(batch), (seq)], [b: [(batch),1,1,1], k: [1,1,1,(seq)]])`` ⇒
    ``nn.reshape(m) {shape = [(batch), 1, 1, (seq)]}``; ``nn.gather(nn.reshape(m) {shape =
    [(batch*seq), 1]}, b·seq + k)`` likewise.
    """

    roots: tuple[str, ...] = ("nn.gather_nd", "nn.gather")

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        data, idx = op.operands
        if affine_of(rw, data) is not None:
            return False  # the result is itself a grid: FoldUniform and friends take it
        out = rw.tensor_type(op.result().name).dims
        if op.name == "nn.gather_nd":
            comps = components(rw, idx)
            lead = rw.tensor_type(idx).dims[:-1]
            if op.attr("batch_dims") or comps is None or any(d is None for d in lead):
                return False
            axes = _identity_axes(comps, lead)
            return axes is not None and _placement(rw, op, data, axes, lead, out[len(lead):])
        flat = rw.producer_of(data, "nn.reshape")
        a = affine_of(rw, idx)
        lead = rw.tensor_type(idx).dims
        if op.attr("axis") != 0 or flat is None or a is None or any(d is None for d in lead):
            return False
        x = flat.operands[0]
        xd = rw.tensor_type(x).dims
        rows = rw.tensor_type(data).dims[0]
        for m in range(1, len(xd) + 1):
            if _same(functools.reduce(operator.mul, xd[:m], 1), rows):
                break
        else:
            return False
        strides = [functools.reduce(operator.mul, xd[k + 1:m], 1) for k in range(m)]
        axes = []
        for s in strides:
            hits = [p for p, c in enumerate(a.coeffs) if not _zero(c) and _same(c, s)]
            if len(hits) != 1:
                return False
            axes.append(hits[0])
        if len([c for c in a.coeffs if not _zero(c)]) != m or not _zero(a.offset):
            return False
        return _placement(rw, op, x, axes, lead, out[len(lead):])


@dataclass(frozen=True)
class DropNeutralLogic:
    """``x and true`` → ``x``, ``x or false`` → ``x`` (broadcast to the result's shape)."""

    roots: tuple[str, ...] = ("nn.and", "nn.or")

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        neutral = op.name == "nn.and"
        for i in (0, 1):
            if rw.constant(op.operands[i]) is not None:
                continue  # a constant mask is match-attention's to read, not ours to drop
            a = affine_of(rw, op.operands[i])
            if a is not None and a.uniform and a.offset is neutral:
                return _broadcast_to(rw, op, op.operands[1 - i])
        return False


@dataclass(frozen=True)
class UniformWhere:
    """``where(c, x, y)`` whose condition is the same everywhere → ``x`` or ``y`` (broadcast):
    the padding mask of a model exported without ``attention_mask`` is all true."""

    roots: tuple[str, ...] = ("nn.where",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        if rw.constant(op.operands[0]) is not None:
            return False  # a constant mask is match-attention's to read, not ours to drop
        a = affine_of(rw, op.operands[0])
        if a is None or not a.uniform or type(a.offset) is not bool:
            return False
        return _broadcast_to(rw, op, op.operands[1] if a.offset else op.operands[2])


PATTERNS = (FoldUniform(), TriangleCompare(), GatherPlacement(), DropNeutralLogic(),
            UniformWhere())
