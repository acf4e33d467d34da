"""Convolution: ONNX's ``Conv`` and the patch extraction (im2col) it canonicalises to.

``onnx.Conv(X, W, B?)`` is ONNX's N-D convolution (cross-correlation): X is
``[N, C, D1, …, Dn]``, W is ``[M, C/group, k1, …, kn]``, the result ``[N, M, O1, …, On]``.

``nn.patches(X) {kernel, strides, dilations, pads}`` lays out every window a convolution reads as
one row: ``[N, C, D1, …, Dn]`` → ``[N, O1, …, On, C·k1·…·kn]``, features in the order
``(c, j1, …, jn)``, entry ``X[n, c, o1·s1 + j1·d1 − p1, …]`` (zero outside X). A convolution is
then ``nn.linear`` of the patches with ``W.reshape(M, −1)``, the output positions being leading
(batch) axes, and a transpose back to ``[N, M, O1, …, On]``.

Output sizes: ``O = ⌊(D + p_begin + p_end − e) / s⌋ + 1`` with ``e = (k − 1)·d + 1``
(``auto_pad = VALID``: no padding); ``SAME_UPPER``/``SAME_LOWER`` give ``O = ⌈D / s⌉`` with total
padding ``max(0, (O − 1)·s + e − D)``, the odd one at the end (UPPER) or at the start (LOWER).
A symbolic ``D`` works where these are exact polynomials (stride 1, or ``D`` a known multiple of
the stride); otherwise the op asks for static spatial sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from qlower.ir.dialects.shapes import prod, require_float, same_dtype
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import Dim, exact_div
from qlower.ir.types import TensorType

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")

Fail = Callable[[str], NoReturn]


def _out_size(d: Dim, span: int, stride: int, fail: Fail, axis: int) -> Dim:
    """``⌊(d − span) / stride⌋ + 1`` for a padded size ``d`` and effective kernel ``span``."""
    if d is None:
        return None
    rest = d - span
    if isinstance(rest, int):
        if rest < 0:
            fail(f"spatial axis {axis}: the kernel (extent {span}) is larger than the padded "
                 f"input ({d})")
        return rest // stride + 1
    q = exact_div(rest, stride)
    if q is None:
        fail(f"spatial axis {axis}: the output size floor(({d} - {span}) / {stride}) + 1 is not "
             "known for a symbolic size; give this axis a static size")
    return q + 1


def conv_window(
    spatial: Sequence[Dim],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    pads: Sequence[int] | None,
    auto_pad: str,
    fail: Fail,
) -> tuple[tuple[int, ...], tuple[Dim, ...]]:
    """The explicit pads (ONNX layout: all begins, then all ends) and the output sizes."""
    n = len(spatial)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    if auto_pad in ("NOTSET", "VALID"):
        p = tuple(pads) if pads is not None and auto_pad == "NOTSET" else (0,) * (2 * n)
        out = tuple(
            _out_size(None if d is None else d + p[i] + p[n + i], spans[i], strides[i], fail, i)
            for i, d in enumerate(spatial)
        )
        return p, out
    begins, ends, out = [], [], []
    for i, (d, s, e) in enumerate(zip(spatial, strides, spans)):
        if d is None:
            fail(f"spatial axis {i} has an unknown size, which auto_pad {auto_pad} needs")
        o = -(-d // s) if isinstance(d, int) else exact_div(d, s)
        if o is None:
            fail(f"spatial axis {i}: ceil({d} / {s}) (auto_pad {auto_pad}) is not known for a "
                 "symbolic size; give this axis a static size")
        total = (o - 1) * s + e - d
        if not isinstance(total, int):  # pragma: no cover - o = d / s makes it constant
            fail(f"spatial axis {i}: the padding of auto_pad {auto_pad} depends on its size")
        total = max(total, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
        out.append(o)
    return tuple(begins + ends), tuple(out)


def _check_lengths(c: OpContext, n: int, **lists: Sequence[int] | None) -> None:
    for key, v in lists.items():
        want = 2 * n if key == "pads" else n
        if v is not None and len(v) != want:
            c.fail(f"{key} has {len(v)} entries; {n} spatial axes need {want}")
        if v is None:
            continue
        if key == "pads" and any(p < 0 for p in v):
            c.fail(f"pads must be >= 0, got {list(v)}")
        if key != "pads" and any(p < 1 for p in v):
            c.fail(f"{key} must be >= 1, got {list(v)}")


def _given(c, key: str) -> tuple[int, ...] | None:
    """An optional ints attribute; an empty list counts as absent (ONNX's defaults apply)."""
    v = c.attr(key, None)
    return tuple(v) if v else None


def conv_params(c, x_dims: Sequence[Dim], w_dims: Sequence[Dim]) -> dict:
    """Kernel, strides, dilations, pads and output sizes of an ``onnx.Conv`` (c: Op/EvalContext)."""
    n = len(x_dims) - 2
    kernel = _given(c, "kernel_shape")
    if kernel is None:
        kernel = tuple(w_dims[2:])
        if any(not isinstance(k, int) for k in kernel):
            c.fail(f"the kernel size is not static (W is {list(w_dims)}); give kernel_shape")
    strides = _given(c, "strides") or (1,) * n
    dilations = _given(c, "dilations") or (1,) * n
    pads = _given(c, "pads")
    auto_pad = c.attr("auto_pad")
    if pads is not None and auto_pad != "NOTSET":
        c.fail(f"pads cannot be given together with auto_pad {auto_pad}")
    pads, out = conv_window(x_dims[2:], kernel, strides, dilations, pads, auto_pad, c.fail)
    return {"kernel": kernel, "strides": strides, "dilations": dilations, "pads": pads,
            "out": out}


@register_op
class Conv(OpDef):
    """ONNX N-D convolution with groups, strides, dilations, explicit or automatic padding.

    Conv-11 and Conv-22 (opsets 13 to 28) have the same attributes and semantics; Conv-22 adds
    bfloat16, an element type the importer refuses.
    """

    name = "onnx.Conv"
    operands = ("X", "W", "B?")
    results = ("Y",)
    attrs = {
        "auto_pad": Attr("str", "NOTSET", choices=AUTO_PADS),
        "dilations": Attr("ints", ABSENT),
        "group": Attr("int", 1),
        "kernel_shape": Attr("ints", ABSENT),
        "pads": Attr("ints", ABSENT),
        "strides": Attr("ints", ABSENT),
    }

    def infer(self, c):
        dt = same_dtype(c, 0, 1, 2)
        require_float(c, 0)
        x, w = c.tensor(0), c.tensor(1)
        if x.rank < 3:
            c.fail(f"X must be [N, C, D1, ...] (rank >= 3), got rank {x.rank}")
        if w.rank != x.rank:
            c.fail(f"W must have the rank of X ({x.rank}), got {w.rank}")
        n = x.rank - 2
        g = c.attr("group")
        if g < 1:
            c.fail(f"group must be >= 1, got {g}")
        _check_lengths(c, n, kernel_shape=_given(c, "kernel_shape"), strides=_given(c, "strides"),
                       dilations=_given(c, "dilations"), pads=_given(c, "pads"))
        m, cg = w.dims[0], w.dims[1]
        if isinstance(m, int) and m % g:
            c.fail(f"W's {m} output channels do not split into {g} groups")
        ch = x.dims[1]
        if isinstance(ch, int) and isinstance(cg, int) and ch != cg * g:
            c.fail(f"X has {ch} channels but W expects {cg} x {g} groups = {cg * g}")
        p = conv_params(c, x.dims, w.dims)
        kernel = _given(c, "kernel_shape")
        if kernel is not None and any(isinstance(a, int) and a != k
                                      for a, k in zip(w.dims[2:], kernel)):
            c.fail(f"kernel_shape {list(kernel)} differs from W's spatial shape {list(w.dims[2:])}")
        if c.has(2):
            b = c.tensor(2)
            if b.rank != 1 or (isinstance(b.dims[0], int) and isinstance(m, int) and b.dims[0] != m):
                c.fail(f"B must be [M] = [{m}], got {list(b.dims)}")
        return [TensorType(dt, (x.dims[0], m) + p["out"])]

    def evaluate(self, c, x, w, b=None):
        # Shift and add: one product of the channels per kernel offset (independent of im2col).
        p = conv_params(c, x.shape, w.shape)
        n = x.ndim - 2
        g, m = c.attr("group"), w.shape[0]
        cg, mg = w.shape[1], m // g
        pads = p["pads"]
        xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(pads[i], pads[n + i]) for i in range(n)])
        acc = np.zeros((x.shape[0], m) + tuple(p["out"]), dtype=np.float64)
        for offset in np.ndindex(*p["kernel"]):
            window = tuple(
                slice(j * d, j * d + s * (o - 1) + 1, s)
                for j, d, s, o in zip(offset, p["dilations"], p["strides"], p["out"])
            )
            xs = xp[(slice(None), slice(None)) + window]
            for k in range(g):
                tap = w[(slice(k * mg, (k + 1) * mg), slice(None)) + offset].astype(np.float64)
                acc[:, k * mg:(k + 1) * mg] += np.einsum("nc...,mc->nm...", xs[:, k * cg:(k + 1) * cg], tap)
        if b is not None:
            acc += b.astype(np.float64).reshape((m,) + (1,) * n)
        return acc.astype(x.dtype)


def patches(x: np.ndarray, kernel, strides, dilations, pads) -> np.ndarray:
    """``nn.patches`` on an array (see the module docstring)."""
    n = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[n + i]) for i in range(n)])
    spans = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    axes = tuple(range(2, 2 + n))
    view = sliding_window_view(xp, spans, axis=axes)  # [N, C, D'1..D'n, e1..en]
    view = view[(Ellipsis,) + tuple(slice(None, None, s) for s in strides)
                + tuple(slice(None, None, d) for d in dilations)]
    # [N, C, O..., k...] -> [N, O..., C, k...]
    perm = (0,) + tuple(range(2, 2 + n)) + (1,) + tuple(range(2 + n, 2 + 2 * n))
    view = np.transpose(view, perm)
    return np.ascontiguousarray(view).reshape(view.shape[: 1 + n] + (-1,))


@register_op
class NNPatches(OpDef):
    """Patch extraction (im2col): ``[N, C, D...]`` → ``[N, O..., C·k1·…·kn]`` (see the module)."""

    name = "nn.patches"
    operands = ("input",)
    attrs = {"kernel": Attr("ints"), "strides": Attr("ints"), "dilations": Attr("ints"),
             "pads": Attr("ints")}

    def infer(self, c):
        x = c.tensor(0)
        kernel = c.attr("kernel")
        n = len(kernel)
        if n < 1 or x.rank != n + 2:
            c.fail(f"a {n}-D kernel needs an input [N, C, D1..D{n}] of rank {n + 2}, got rank {x.rank}")
        _check_lengths(c, n, kernel=kernel, strides=c.attr("strides"),
                       dilations=c.attr("dilations"), pads=c.attr("pads"))
        _, out = conv_window(x.dims[2:], kernel, c.attr("strides"), c.attr("dilations"),
                             c.attr("pads"), "NOTSET", c.fail)
        features = prod([x.dims[1], *kernel])
        return [TensorType(x.dtype, (x.dims[0],) + out + (features,))]

    def evaluate(self, c, x):
        a = c.op.attrs
        return patches(x, a["kernel"], a["strides"], a["dilations"], a["pads"])


__all__ = ["AUTO_PADS", "conv_params", "conv_window", "patches"]
