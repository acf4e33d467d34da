"""onnx-to-nn: convert ``onnx.*`` ops to their ``nn.*`` forms with static attributes.

ONNX passes shape parameters as tensors; ``nn`` ops hold them as attributes, so an op converts
only when those operands are constants (or, for reshape-like ops, when its result type is fully
known). Anything else stays in the onnx dialect. Converted ops keep their result names and
``loc``. ``onnx.Attention``, ``onnx.SoftmaxCrossEntropyLoss``, ``onnx.Shape`` and
``onnx.ConstantOfShape`` are left to the passes that own them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qlower.ir import Graph, Op, Sym, Value, VerifyError, build_op, infer_types, types_compatible
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, apply_patterns

# -- helpers ----------------------------------------------------------------------------------


def convert(
    rw: Rewriter, old: Op, name: str, operands: Sequence[str | None], attrs: Mapping[str, Any]
) -> Op | None:
    """``name`` built to replace ``old`` (its result name, loc and declared type), or None.

    None when the new op does not build, or infers a type that contradicts (or is more
    precise than) what ``old`` declared, which could invalidate the ops that use it.
    """
    try:
        new = rw.build(name, operands, attrs, results=[old.result().name], loc=old.loc)
    except VerifyError:
        return None
    declared, inferred = old.result().type, new.result().type
    if not types_compatible(declared, inferred):
        return None
    return new.with_(results=(Value(new.result().name, declared),))


def swap(rw: Rewriter, old: Op, new: Op | None) -> bool:
    """Replace ``old`` with ``new`` when there is one."""
    if new is None:
        return False
    rw.replace(old, [new])
    return True


def forward(rw: Rewriter, op: Op, src: str) -> bool:
    """Remove ``op``, its only result now being ``src`` (types must agree)."""
    if not types_compatible(op.result().type, rw.type_of(src)):
        return False
    rw.replace(op, [], {op.result().name: src})
    return True


def norm_axis(axis: int, rank: int) -> int | None:
    return axis % rank if -rank <= axis < rank else None


def const_ints(rw: Rewriter, name: str | None) -> list[int] | None:
    """A constant 1-D integer vector (no symbolic entries) as a list, else None."""
    arr = rw.constant(name)
    if arr is None or arr.ndim != 1:
        return None
    items = arr.tolist()
    if arr.dtype.kind not in "iuO" or not all(type(x) is int for x in items):
        return None
    return items


def rank_of(rw: Rewriter, name: str | None) -> int:
    return rw.tensor_type(name).rank


# -- patterns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rename:
    """``onnx.X(...)`` → ``nn.x(...)``: same operands, same attributes."""

    source: str
    target: str

    @property
    def roots(self) -> tuple[str, ...]:
        return (self.source,)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        return swap(rw, op, convert(rw, op, self.target, op.operands, dict(op.attrs)))


@dataclass(frozen=True)
class NormAxis(Rename):
    """Like :class:`Rename`, with the ``axis`` attribute made non-negative."""

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        axis = norm_axis(op.attr("axis"), rank_of(rw, op.operands[0]))
        if axis is None:
            return False
        attrs = {**op.attrs, "axis": axis}
        return swap(rw, op, convert(rw, op, self.target, op.operands, attrs))


@dataclass(frozen=True)
class ShapeFromResult(Rename):
    """Reshape-like ops → ``nn.reshape``/``nn.expand`` {shape = the result's dims} when known."""

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        dims = rw.tensor_type(op.result().name).dims
        if any(d is None for d in dims):
            return False
        return swap(rw, op, convert(rw, op, self.target, [op.operands[0]], {"shape": dims}))


@dataclass(frozen=True)
class DropIdentity:
    """``onnx.Identity(x)`` → ``x``."""

    roots: tuple[str, ...] = ("onnx.Identity",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        return forward(rw, op, op.operands[0])


@dataclass(frozen=True)
class GemmToNN:
    """``onnx.Gemm(A, B, C?)`` → ``nn.transpose``s, ``nn.matmul``, ``nn.mul`` by alpha,
    ``nn.add`` of beta·C; the last op carries the Gemm's result."""

    roots: tuple[str, ...] = ("onnx.Gemm",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        a, b, c = op.operand(0), op.operand(1), op.operand(2)
        y = op.result().name
        dtype = rw.tensor_type(a).dtype.numpy
        ops: list[Op] = []

        def emit(name: str, operands: list, tag: str, attrs=None) -> str:
            ops.append(rw.build(name, operands, attrs, results=[rw.fresh(f"{y}_{tag}")],
                                loc=op.loc))
            return ops[-1].result().name

        def scale(x: str, factor: float, tag: str) -> str:
            k = rw.add_constant(np.array(factor, dtype=dtype), f"{y}_{tag}")
            return emit("nn.mul", [x, k], f"{tag}_scaled")

        try:
            if op.attr("transA"):
                a = emit("nn.transpose", [a], "at", {"perm": [1, 0]})
            if op.attr("transB"):
                b = emit("nn.transpose", [b], "bt", {"perm": [1, 0]})
            out = emit("nn.matmul", [a, b], "matmul")
            if op.attr("alpha") != 1.0:
                out = scale(out, op.attr("alpha"), "alpha")
            if c is not None:
                if op.attr("beta") != 1.0:
                    c = scale(c, op.attr("beta"), "beta")
                emit("nn.add", [out, c], "add")
        except VerifyError:
            return False
        last = convert(rw, op, ops[-1].name, ops[-1].operands, dict(ops[-1].attrs))
        if last is None:
            return False
        rw.replace(op, ops[:-1] + [last])
        return True


@dataclass(frozen=True)
class SplitToNN:
    """``onnx.Split`` → ``nn.split{axis, sizes}`` when every result's size is known."""

    roots: tuple[str, ...] = ("onnx.Split",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        axis = norm_axis(op.attr("axis"), rank_of(rw, op.operands[0]))
        if axis is None:
            return False
        types = [rw.tensor_type(name) for name in op.result_names]
        sizes = [t.dims[axis] for t in types]
        if any(s is None for s in sizes):
            return False
        # build_op infers on an op without results, which nn.split cannot do: declare the
        # Split's own result types and check them against inference on the complete op.
        x = op.operands[0]
        attrs = {"axis": axis, "sizes": sizes}
        try:
            new = build_op("nn.split", [x], op.result_names, attrs, op.loc, result_types=types)
            inferred = infer_types(new, [rw.type_of(x)])
        except VerifyError:
            return False
        return all(map(types_compatible, types, inferred)) and swap(rw, op, new)


@dataclass(frozen=True)
class SliceToNN:
    """``onnx.Slice`` with constant bounds → ``nn.slice`` with explicit, normalised axes/steps.

    On a static dimension with a positive step, start and end are clamped the way Python's
    ``slice.indices`` does (ONNX agrees there; for negative steps the two differ).
    """

    roots: tuple[str, ...] = ("onnx.Slice",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        starts, ends = const_ints(rw, op.operand(1)), const_ints(rw, op.operand(2))
        if starts is None or ends is None:
            return False
        n = len(starts)
        axes = const_ints(rw, op.operand(3)) if op.operand(3) else list(range(n))
        steps = const_ints(rw, op.operand(4)) if op.operand(4) else [1] * n
        if axes is None or steps is None or not len(ends) == len(axes) == len(steps) == n:
            return False
        dims = rw.tensor_type(op.operands[0]).dims
        axes = [norm_axis(a, len(dims)) for a in axes]
        if None in axes:
            return False
        for i, (a, step) in enumerate(zip(axes, steps)):
            if isinstance(dims[a], int) and step > 0:
                starts[i], ends[i], _ = slice(starts[i], ends[i], step).indices(dims[a])
        attrs = {"starts": starts, "ends": ends, "axes": axes, "steps": steps}
        return swap(rw, op, convert(rw, op, "nn.slice", [op.operands[0]], attrs))


@dataclass(frozen=True)
class ReduceToNN(Rename):
    """``onnx.ReduceMean/ReduceSum`` with constant or absent axes → ``nn.reduce_*``.

    Empty axes reduce over everything, or are the identity with ``noop_with_empty_axes``.
    """

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        x = op.operands[0]
        rank = rank_of(rw, x)
        axes = const_ints(rw, op.operand(1)) if op.operand(1) else []
        if axes is None:
            return False
        if not axes and not op.attr("noop_with_empty_axes"):
            axes = list(range(rank))
        if not axes:
            return forward(rw, op, x)
        normed = [norm_axis(a, rank) for a in axes]
        if None in normed:
            return False
        attrs = {"axes": sorted(normed), "keepdims": bool(op.attr("keepdims"))}
        return swap(rw, op, convert(rw, op, self.target, [x], attrs))


@dataclass(frozen=True)
class LayerNormToNN:
    """``onnx.LayerNormalization`` whose Mean/InvStdDev are absent or unused → ``nn.layer_norm``."""

    roots: tuple[str, ...] = ("onnx.LayerNormalization",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        if op.results[0] is None or any(rw.use_count(n) for n in op.result_names[1:]):
            return False
        axis = norm_axis(op.attr("axis"), rank_of(rw, op.operands[0]))
        if axis is None:
            return False
        operands = list(op.operands[:3])
        while operands[-1] is None:
            operands.pop()
        attrs = {"axis": axis, "epsilon": op.attr("epsilon")}
        return swap(rw, op, convert(rw, op, "nn.layer_norm", operands, attrs))


RENAMED = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Mod": "mod", "Pow": "pow", "Sqrt": "sqrt",
    "Neg": "neg", "Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Erf": "erf",
    "Gelu": "gelu", "Where": "where", "Cast": "cast", "MatMul": "matmul",
    "Transpose": "transpose", "NegativeLogLikelihoodLoss": "nll_loss", "Equal": "equal",
}


@dataclass(frozen=True)
class TriluToNN:
    """``onnx.Trilu(x, k?)`` with a constant (or absent) k → ``nn.trilu {upper, k}``."""

    roots: tuple[str, ...] = ("onnx.Trilu",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        k = 0
        if op.operand(1) is not None:
            value = rw.constant(op.operands[1])
            if value is None or value.dtype == object:
                return False
            k = int(value)
        attrs = {"upper": bool(op.attr("upper")), "k": k}
        return swap(rw, op, convert(rw, op, "nn.trilu", [op.operands[0]], attrs))

# -- the ops of Hugging Face exports (mask construction, buffers, dropout) ------------------

HF_RENAMED = {
    "Greater": "greater", "GreaterOrEqual": "greater_equal", "Less": "less",
    "LessOrEqual": "less_equal", "And": "and", "Or": "or", "Xor": "xor", "Not": "not",
    "IsNaN": "isnan", "IsInf": "isinf", "Max": "max", "Min": "min", "Sum": "sum",
    "Mean": "mean", "GatherND": "gather_nd",
}


def const_scalar(rw: Rewriter, name: str | None):
    """A constant holding one number (not a symbolic size) as a Python scalar, else None."""
    arr = rw.constant(name)
    if arr is None or arr.size != 1 or arr.dtype == object:
        return None
    return arr.reshape(()).item()


@dataclass(frozen=True)
class RangeToNN:
    """``onnx.Range(start, limit, delta)`` with constant start and delta and a known length
    (``limit`` may be a symbolic size) → ``nn.range {start, delta, size, dtype}``."""

    roots: tuple[str, ...] = ("onnx.Range",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        start, delta = const_scalar(rw, op.operands[0]), const_scalar(rw, op.operands[2])
        t = rw.tensor_type(op.result().name)
        if start is None or delta is None or t.dims[0] is None:
            return False
        attrs = {"start": start, "delta": delta, "size": t.dims[0], "dtype": t.dtype}
        return swap(rw, op, convert(rw, op, "nn.range", [], attrs))


@dataclass(frozen=True)
class CumSumToNN:
    """``onnx.CumSum(x, axis)`` with a constant axis → ``nn.cumsum {axis, exclusive, reverse}``."""

    roots: tuple[str, ...] = ("onnx.CumSum",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        axis = const_scalar(rw, op.operands[1])
        if axis is None or norm_axis(int(axis), rank_of(rw, op.operands[0])) is None:
            return False
        attrs = {"axis": norm_axis(int(axis), rank_of(rw, op.operands[0])),
                 "exclusive": bool(op.attr("exclusive")), "reverse": bool(op.attr("reverse"))}
        return swap(rw, op, convert(rw, op, "nn.cumsum", [op.operands[0]], attrs))


@dataclass(frozen=True)
class DropoutToNN:
    """``onnx.Dropout`` (inference) → its input; a used mask → ``nn.expand`` of ``true``."""

    roots: tuple[str, ...] = ("onnx.Dropout",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        x = op.operands[0]
        new: list[Op] = []
        mapping = {op.result_names[0]: x} if op.results[0] is not None else {}
        if len(op.results) > 1 and op.results[1] is not None and rw.use_count(op.results[1].name):
            dims = rw.tensor_type(x).dims
            if any(d is None for d in dims):
                return False
            true = rw.add_constant(np.array(True), f"{op.results[1].name}_true")
            new.append(rw.build("nn.expand", [true], {"shape": dims},
                                results=[op.results[1].name], loc=op.loc))
        if op.results[0] is not None and not types_compatible(op.results[0].type, rw.type_of(x)):
            return False
        rw.replace(op, new, mapping)
        return True


@dataclass(frozen=True)
class SymbolicSliceToNN:
    """``onnx.Slice`` whose constant bounds hold symbolic sizes (``x[:, :seq]``) →
    ``nn.slice`` with those sizes as attributes; axes and steps must be plain constants."""

    roots: tuple[str, ...] = ("onnx.Slice",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        bounds = [rw.constant(op.operand(i)) for i in (1, 2)]
        if any(b is None or b.ndim != 1 for b in bounds):
            return False
        starts, ends = ([x if isinstance(x, Sym) else int(x) for x in b.tolist()] for b in bounds)
        n = len(starts)
        axes = const_ints(rw, op.operand(3)) if op.operand(3) else list(range(n))
        steps = const_ints(rw, op.operand(4)) if op.operand(4) else [1] * n
        if axes is None or steps is None or not len(ends) == len(axes) == len(steps) == n:
            return False
        axes = [norm_axis(a, rank_of(rw, op.operands[0])) for a in axes]
        if None in axes:
            return False
        attrs = {"starts": starts, "ends": ends, "axes": axes, "steps": steps}
        return swap(rw, op, convert(rw, op, "nn.slice", [op.operands[0]], attrs))


HF_PATTERNS = (
    *(Rename(f"onnx.{k}", f"nn.{v}") for k, v in HF_RENAMED.items()),
    NormAxis("onnx.GatherElements", "nn.gather_elements"),
    RangeToNN(),
    CumSumToNN(),
    DropoutToNN(),
    SymbolicSliceToNN(),
)

PATTERNS = (
    *(Rename(f"onnx.{k}", f"nn.{v}") for k, v in RENAMED.items()),
    NormAxis("onnx.Softmax", "nn.softmax"),
    NormAxis("onnx.LogSoftmax", "nn.log_softmax"),
    NormAxis("onnx.Concat", "nn.concat"),
    NormAxis("onnx.Gather", "nn.gather"),
    *(ShapeFromResult(f"onnx.{k}", "nn.reshape")
      for k in ("Reshape", "Flatten", "Squeeze", "Unsqueeze")),
    ShapeFromResult("onnx.Expand", "nn.expand"),
    ReduceToNN("onnx.ReduceMean", "nn.reduce_mean"),
    ReduceToNN("onnx.ReduceSum", "nn.reduce_sum"),
    DropIdentity(),
    GemmToNN(),
    SplitToNN(),
    SliceToNN(),
    LayerNormToNN(),
    TriluToNN(),
    *HF_PATTERNS,
)


@register_pass
@dataclass(frozen=True)
class OnnxToNN(TransformPass):
    name = "onnx-to-nn"
    summary = "convert onnx ops to nn ops where their shape parameters are static"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(graph, PATTERNS)
