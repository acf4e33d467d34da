"""fuse-linear: dense layers with constant weights become ``nn.linear(x, weight, bias?)``.

``onnx.Gemm`` with any attributes, ``MatMul`` by a constant 2-D matrix, and an ``Add`` of a
constant row onto a single-use ``nn.linear`` fold into one ``nn.linear`` whose weight is
``[out, in]`` and whose bias is ``[out]``; transposes and alpha/beta are folded into new
constants named after the originals (``<w>.T``, ``<w>.scaled``, ``<b>.row``, ``<b>.sum``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qlower.ir import Graph, Op
from qlower.passes.base import TransformPass, register_pass
from qlower.passes.rewrite import Rewriter, apply_patterns
from qlower.passes.spellings import MATMUL, TRANSPOSE


def derived_constant(rw: Rewriter, array: np.ndarray, base: str) -> str:
    """A constant named ``base`` holding ``array``: reused when it already holds that data."""
    existing = rw.constant(base)
    if (
        existing is not None
        and existing.dtype == array.dtype
        and existing.shape == array.shape
        and existing.tobytes() == np.ascontiguousarray(array).tobytes()
    ):
        return base
    return rw.add_constant(array, base)


def scaled(arr: np.ndarray, factor: float) -> np.ndarray:
    """``factor * arr`` in ``arr``'s dtype."""
    return (arr * arr.dtype.type(factor)).astype(arr.dtype)


def row_of(arr: np.ndarray, n: int, out_rank: int) -> np.ndarray | None:
    """``arr`` as a bias ``[n]`` if adding it to a ``[..., n]`` tensor of rank ``out_rank``
    adds the same row everywhere and keeps the shape; else None."""
    if arr.dtype == object or arr.ndim > out_rank or any(d != 1 for d in arr.shape[:-1]):
        return None
    if arr.ndim and arr.shape[-1] not in (1, n):
        return None
    flat = arr.reshape(arr.shape[-1:]) if arr.ndim else arr
    return np.broadcast_to(flat, (n,)).copy()




def constant_matrix(rw: Rewriter, name: str | None) -> tuple[np.ndarray, str, bool] | None:
    """The value of ``name`` if it is a constant, or a 2-D transpose of one:
    ``(value, source constant, whether value is the source transposed)``.

    Exporters write ``MatMul(x, Transpose(W))``; fold-constants folds that only below its size
    limit, so the transpose is looked through here and cancels against the one a linear needs.
    """
    arr = rw.constant(name)
    if arr is not None:
        return (arr, name, False) if arr.dtype != object else None
    op = rw.producer_of(name, *TRANSPOSE)
    if op is None or tuple(op.attr("perm")) != (1, 0):
        return None
    src = rw.constant(op.operands[0])
    if src is None or src.dtype == object or src.ndim != 2:
        return None
    return src.T, op.operands[0], True


def weight_constant(rw: Rewriter, weight: np.ndarray, source: str, transposed: bool) -> str:
    """The constant for ``weight``: ``source`` itself when it holds that data, else ``<source>.T``."""
    return derived_constant(rw, np.ascontiguousarray(weight), source + (".T" if transposed else ""))


def _is_float(rw: Rewriter, name: str) -> bool:
    return rw.tensor_type(name).dtype.is_float


class GemmToLinear:
    """``Gemm(A, B, C?) {alpha, beta, transA, transB}``, B constant ⇒ ``nn.linear`` (+ add).

    C broadcastable to a row ``[N]`` becomes the bias; a C that varies by row (or is not a
    constant) is added after the linear.
    """

    roots = ("onnx.Gemm",)

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        a, c_name = op.operand(0), op.operand(2)
        found = constant_matrix(rw, op.operand(1))
        if found is None or not _is_float(rw, a):
            return False
        b, source, b_is_transposed = found
        alpha, beta = op.attr("alpha"), op.attr("beta")
        weight = b if op.attr("transB") else b.T
        transposed = bool(op.attr("transB")) == b_is_transposed  # weight vs. source's layout
        if alpha != 1.0:
            weight = scaled(weight, alpha)
            w_name = derived_constant(rw, np.ascontiguousarray(weight),
                                      source + (".T" if transposed else "") + ".scaled")
        else:
            w_name = weight_constant(rw, weight, source, transposed)
        new: list[Op] = []
        if op.attr("transA"):
            t = rw.build("nn.transpose", [a], {"perm": [1, 0]}, results=[rw.fresh(f"{a}.T")],
                         loc=op.loc)
            new.append(t)
            a = t.result().name
        y, n = op.result().name, weight.shape[0]
        c = rw.constant(c_name)
        row = row_of(c, n, 2) if c is not None else None
        if c_name is None or row is not None:
            bias = c_name
            if row is not None and (beta != 1.0 or c.shape != (n,)):
                bias = derived_constant(rw, scaled(row, beta), _bias_name(c_name, c, n, beta))
            operands = [a, w_name] + ([bias] if bias is not None else [])
            new.append(rw.build("nn.linear", operands, results=[y], loc=op.loc))
        else:
            lin = rw.build("nn.linear", [a, w_name], results=[rw.fresh(f"{y}.linear")], loc=op.loc)
            addend = c_name
            if beta != 1.0 and c is not None:
                addend = derived_constant(rw, scaled(c, beta), f"{c_name}.scaled")
            elif beta != 1.0:
                dtype = rw.tensor_type(c_name).dtype.numpy
                factor = derived_constant(rw, np.array(beta, dtype=dtype), f"{y}.beta")
                new.append(rw.build("nn.mul", [c_name, factor],
                                    results=[rw.fresh(f"{c_name}.scaled")], loc=op.loc))
                addend = new[-1].result().name
            new += [lin, rw.build("nn.add", [lin.result().name, addend], results=[y], loc=op.loc)]
        rw.replace(op, new)
        return True


def _bias_name(c_name: str, c: np.ndarray, n: int, beta: float) -> str:
    return c_name + (".row" if c.shape != (n,) else "") + (".scaled" if beta != 1.0 else "")


class MatMulToLinear:
    """``MatMul(x, W)`` with W a constant ``[K, N]`` (or the transpose of one) ⇒
    ``nn.linear(x, W.T)``."""

    roots = MATMUL

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        x = op.operand(0)
        found = constant_matrix(rw, op.operand(1))
        if found is None or found[0].ndim != 2 or not _is_float(rw, x):
            return False
        w, source, w_is_transposed = found
        weight = weight_constant(rw, w.T, source, not w_is_transposed)
        rw.replace(op, [rw.build("nn.linear", [x, weight], results=[op.result().name], loc=op.loc)])
        return True


class AddBias:
    """``Add(nn.linear(x, W, b?), c)`` (either order), c a constant row ``[N]`` and the linear
    used only here ⇒ ``nn.linear(x, W, b + c)``.

    A ``MatMul`` by a constant becomes ``nn.linear`` first (same fixpoint), so MatMul + Add
    fuses too.
    """

    roots = ("onnx.Add", "nn.add")

    def rewrite(self, op: Op, rw: Rewriter) -> bool:
        for lin_name, c_name in (op.operands, op.operands[::-1]):
            lin = rw.producer_of(lin_name, "nn.linear")
            c = rw.constant(c_name)
            if lin is None or c is None or not rw.single_use(lin_name):
                continue
            x, w_name, b_name = lin.operand(0), lin.operand(1), lin.operand(2)
            n = rw.tensor_type(w_name).dims[0]
            row = row_of(c, n, rw.tensor_type(lin_name).rank)
            if row is None or row.dtype != rw.tensor_type(lin_name).dtype.numpy:
                continue
            if b_name is None:
                bias = c_name if c.shape == (n,) else derived_constant(rw, row, f"{c_name}.row")
            else:
                old = rw.constant(b_name)
                if old is None:
                    continue
                bias = derived_constant(rw, (old + row).astype(old.dtype), f"{b_name}.sum")
            loc = tuple(dict.fromkeys(lin.loc + op.loc))
            new = rw.build("nn.linear", [x, w_name, bias], results=[op.result().name], loc=loc)
            rw.replace(op, [new])
            return True
        return False


PATTERNS = (GemmToLinear(), MatMulToLinear(), AddBias())


@register_pass
@dataclass(frozen=True)
class FuseLinear(TransformPass):
    name = "fuse-linear"
    summary = "Gemm, MatMul and MatMul+Add with constant weights to nn.linear"

    def apply(self, graph: Graph) -> Graph:
        return apply_patterns(graph, PATTERNS)
