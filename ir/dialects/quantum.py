"""The ``q`` dialect: quantum operations on encoded data, and the ``host`` dialect around them.

A ``!q.state<shape = [...], data = n, flags = f>`` value is a quantum register of ``n`` data
qubits and ``f`` flag qubits, one per index of ``shape`` (the leading, batch axes: a kernel is
run once per index, as a parameter sweep). Its reference semantics is the array of its
amplitudes at flags = 0, shape ``shape + [2**n]`` (complex): exactly what a read-out can see.

``host.*`` ops are the classical work around circuits: norms, the data-dependent angles of
state preparations, augmenting an input for a bias, and rescaling read-out amplitudes by
the scale factors (‖x‖, α). Every scale factor is a value in the graph, so a dump shows how
each output is rescaled (``y = α‖x‖ψ``, ψ the amplitudes at flags = 0: the read-out
contract of ``qlower.blocks.base``).

Ops (``...`` is the batch shape):

- ``host.augment(x) {value}``: ``[..., N] -> [..., N+1]``, appends ``value`` (the bias trick:
  ``W' = [W | b/value]``).
- ``host.norm(x)``: ``[..., N] -> [...]`` f64, the Euclidean norm of the last axis.
- ``host.amplitude_angles(x) {size}``: ``[..., N] -> [..., 2**n - 1]`` f64, the rotation
  angles that prepare ``x/‖x‖`` (zero-padded to ``size = 2**n``) with qlower's amplitude
  encoding circuit; a zero row gets the angles of the basis state 0 (its scale ‖x‖ = 0 makes
  the result exact).
- ``host.overlap_angles(x, w) {size}``: ``x: [..., N]``, ``w: [M, N]`` ->
  ``[..., M, 2**(n+1) - 1]``: angles preparing ``(|0⟩|x̂⟩ + |1⟩|ŵ_i⟩)/√2`` for each row ``i``.
- ``host.offset(x) {bound}``: ``[..., N] -> [..., 1]``, ``t = bound·‖x‖``: an entry appended
  to the input so that every output of the block encoding is non-negative (then a read-out
  from counts needs no sign).
- ``host.append(x, t)``: ``[..., N]``, ``[..., 1]`` -> ``[..., N+1]``.
- ``host.cast(x) {dtype}``: a read-out's f64 values in the layer's element type.
- ``host.rescale(psi, scale, alpha, t?, beta?) {dtype, shift}``: ``psi * scale[..., None] *
  alpha - shift * t + beta`` (``alpha`` a scalar or a vector over the last axis, ``beta`` a
  vector over it), cast to ``dtype``.
- ``q.encode.amplitude(angles) {size, extra}``: the state prepared by those angles (the first
  ``2**n - 1``; ``extra`` more after them belong to later ops of the kernel).
- ``q.block.<method>(state, W) {alpha, ...}``, one op per registered block-encoding method
  (``fable``, ``svd``, ``dilation``, ``lcu``: ``qlower.blocks.registry``): apply a block
  encoding of the constant ``W`` (``[M, N]``); post-selected amplitudes become ``W x̂ / alpha``.
  Blocks chain (coherent composition: alphas multiply, flags add); a state with more data
  qubits than the block reads keeps the extra, most significant ones as flags, one with fewer
  gets fresh |0⟩ qubits as the block's high input qubits.
- ``q.readout(state) {size, nonnegative}``: the first ``size`` amplitudes at flags = 0 (real
  part), f64. ``nonnegative`` promises they are >= 0 (an offset made them so): a shot
  read-out then estimates each as ``sqrt(counts / shots)``.
- ``q.probabilities(state) {size, smoothing}``: the Born probabilities of the data register
  given flags = 0, ``P(k | flags = 0)`` for ``k < size``, f64. From shots:
  ``(n_k + s) / (S_0 + size·s)`` (``S_0`` the shots whose flags read 0, ``s`` the smoothing,
  default 0), standard error ``sqrt(p_k (1 - p_k) / S_0)``.
- ``q.success(state)``: ``P(flags = 0)``, f64 ``[...]`` (the squared norm of what the blocks
  made of the prepared unit vector); from shots ``n_0 / S``, standard error
  ``sqrt(p (1 - p) / S)``.
- ``q.encode.pair(angles) {size}``: ``|â⟩ ⊗ |b̂⟩`` on two registers; ``q.swap_test(state)``:
  the destructive swap test, ``F = |⟨a|b⟩|²`` f64 ``[...]``; from shots ``2 n_even/S − 1``,
  standard error ``sqrt((1 − F²)/S)`` (``qlower.blocks.swap_test``).
- ``q.overlap(state)``: Hadamard test on the most significant data qubit of a state
  ``(|0⟩|a⟩ + |1⟩|b⟩)/√2``: ``Re⟨a|b⟩ = 2 P(top = 0) - 1``, f64 ``[...]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qlower.blocks.resources import ZERO, Resources
from qlower.ir.opdef import ABSENT, Attr, OpContext, OpDef, register_op
from qlower.ir.symbolic import Dim
from qlower.ir.types import DialectType, DType, TensorType, register_type


@register_type
@dataclass(frozen=True)
class QState(DialectType):
    """Quantum register: ``data`` qubits carry the value, ``flags`` must read 0."""

    type_name = "q.state"
    shape: tuple
    data: int
    flags: int

    def verify(self) -> None:
        if type(self.shape) is not tuple:
            raise ValueError("!q.state shape must be a list of dimensions")
        if type(self.data) is not int or self.data < 0:
            raise ValueError(f"!q.state data must be a non-negative int, got {self.data!r}")
        if type(self.flags) is not int or self.flags < 0:
            raise ValueError(f"!q.state flags must be a non-negative int, got {self.flags!r}")

    @property
    def qubits(self) -> int:
        return self.data + self.flags


def qubits_for(size: int) -> int:
    """Qubits holding a vector of ``size`` entries (at least one)."""
    return max(1, (int(size) - 1).bit_length())


def _qstate(c: OpContext, i: int) -> QState:
    t = c.types[i] if i < len(c.types) else None
    if not isinstance(t, QState):
        c.fail(f"operand #{i} must be a !q.state, got {t}")
    return t  # type: ignore[return-value]


def _last_dim(c: OpContext, i: int, what: str) -> tuple[tuple, Dim]:
    t = c.tensor(i)
    if t.rank < 1:
        c.fail(f"{what} must have rank >= 1, got {t}")
    return t.dims[:-1], t.dims[-1]


def _f64(dims) -> TensorType:
    return TensorType(DType.F64, tuple(dims))


def _require_float(c: OpContext, i: int, what: str) -> None:
    if not c.tensor(i).dtype.is_float:
        c.fail(f"{what} must be a floating-point tensor, got {c.tensor(i).dtype}")


def _require_finite(c: OpContext, *keys: str) -> None:
    """Scale factors and bounds are numbers: an infinite one is no encoding of anything."""
    for key in keys:
        value = c.attr(key, 0.0)
        if not math.isfinite(value):
            c.fail(f"attribute '{key}' must be finite, got {value!r}")


def _check_size(c: OpContext, n: Dim, size: int, what: str) -> None:
    if size < 1 or size & (size - 1):
        c.fail(f"size must be a power of two, got {size}")
    if isinstance(n, int) and n > size:
        c.fail(f"{what} has {n} entries, more than size {size}")


# ---------------------------------------------------------------------------------- host


@register_op
class Augment(OpDef):
    """Append a constant entry to the last axis (the bias trick)."""

    name = "host.augment"
    operands = ("x",)
    attrs = {"value": Attr("float", 1.0)}

    def verify(self, c):
        _require_finite(c, "value")

    def infer(self, c):
        lead, n = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        return [TensorType(c.tensor(0).dtype, lead + ((n + 1) if n is not None else None,))]

    def evaluate(self, c, x):
        pad = np.full(x.shape[:-1] + (1,), c.attr("value"), dtype=x.dtype)
        return np.concatenate([x, pad], axis=-1)


@register_op
class Norm(OpDef):
    """Euclidean norm of the last axis, in float64."""

    name = "host.norm"
    operands = ("x",)

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        return [_f64(lead)]

    def evaluate(self, c, x):
        return np.linalg.norm(x.astype(np.float64), axis=-1)


@register_op
class AmplitudeAngles(OpDef):
    """Angles of the amplitude-encoding circuit that prepares x/‖x‖ (zero-padded to size)."""

    name = "host.amplitude_angles"
    operands = ("x",)
    attrs = {"size": Attr("int")}

    def infer(self, c):
        lead, n = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        size = c.attr("size")
        _check_size(c, n, size, "input")
        return [_f64(lead + (max(size, 2) - 1,))]

    def evaluate(self, c, x):
        from qlower.blocks.semantics import encoding_angles

        return encoding_angles(x.astype(np.float64), c.attr("size"))


@register_op
class OverlapAngles(OpDef):
    """Angles preparing (|0⟩|x̂⟩ + |1⟩|ŵ_i⟩)/√2 for every row w_i of a constant matrix."""

    name = "host.overlap_angles"
    operands = ("x", "w")
    attrs = {"size": Attr("int")}

    def infer(self, c):
        lead, n = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        w = c.tensor(1)
        if w.rank != 2:
            c.fail(f"w must be a matrix, got {w}")
        if isinstance(n, int) and isinstance(w.dims[1], int) and n != w.dims[1]:
            c.fail(f"x has {n} entries but w has {w.dims[1]} columns")
        size = c.attr("size")
        _check_size(c, n, size, "input")
        return [_f64(lead + (w.dims[0], 2 * size - 1))]

    def evaluate(self, c, x, w):
        from qlower.blocks.semantics import encoding_angles, overlap_vectors

        size = c.attr("size")
        return encoding_angles(overlap_vectors(x, w, size), 2 * size)


@register_op
class Offset(OpDef):
    """t = bound·‖x‖ (last axis kept, size 1): makes every output of the block non-negative."""

    name = "host.offset"
    operands = ("x",)
    attrs = {"bound": Attr("float")}

    def verify(self, c):
        _require_finite(c, "bound")

    def infer(self, c):
        lead, _ = _last_dim(c, 0, "input")
        _require_float(c, 0, "input")
        if not c.attr("bound") >= 0:
            c.fail(f"bound must be >= 0, got {c.attr('bound')}")
        return [TensorType(c.tensor(0).dtype, lead + (1,))]

    def evaluate(self, c, x):
        t = c.attr("bound") * np.linalg.norm(x.astype(np.float64), axis=-1, keepdims=True)
        return t.astype(x.dtype)


@register_op
class Append(OpDef):
    """Concatenate a runtime column: [..., N] and [..., 1] -> [..., N+1]."""

    name = "host.append"
    operands = ("x", "t")

    def infer(self, c):
        lead, n = _last_dim(c, 0, "input")
        t = c.tensor(1)
        if t.dims[-1:] != (1,) or t.rank != c.tensor(0).rank:
            c.fail(f"t must have x's leading shape and a last axis of 1, got {t}")
        if t.dtype != c.tensor(0).dtype:
            c.fail(f"t must have x's element type {c.tensor(0).dtype}, got {t.dtype}")
        return [TensorType(c.tensor(0).dtype, lead + ((n + 1) if n is not None else None,))]

    def evaluate(self, c, x, t):
        return np.concatenate([x, t], axis=-1)


@register_op
class Rescale(OpDef):
    """psi * scale[..., None] * alpha - shift * t: read-out amplitudes back to the layer's values."""

    name = "host.rescale"
    operands = ("psi", "scale", "alpha", "t?", "beta?")
    attrs = {"dtype": Attr("dtype", DType.F32), "shift": Attr("float", 0.0)}

    def verify(self, c):
        _require_finite(c, "shift")

    def infer(self, c):
        lead, n = _last_dim(c, 0, "psi")
        s = c.tensor(1)
        a = c.tensor(2)
        if a.rank > 1:
            c.fail(f"alpha must be a scalar or a vector, got {a}")
        if a.rank == 1 and isinstance(a.dims[0], int) and isinstance(n, int) and a.dims[0] != n:
            c.fail(f"alpha has {a.dims[0]} entries but psi's last axis has {n}")
        if s.rank != len(lead):
            c.fail(f"scale must have psi's leading shape {list(lead)}, got {s}")
        if c.has(3) and (c.tensor(3).rank != len(lead) + 1 or c.tensor(3).dims[-1] != 1):
            c.fail(f"t must have psi's leading shape and a last axis of 1, got {c.tensor(3)}")
        if c.has(4) and (c.tensor(4).rank != 1 or c.tensor(4).dims[0] != n):
            c.fail(f"beta must be a vector over psi's last axis ({n}), got {c.tensor(4)}")
        dtype = c.attr("dtype")
        if not dtype.is_float:
            c.fail(f"dtype must be a float type, got {dtype}")
        return [TensorType(dtype, c.tensor(0).dims)]

    def evaluate(self, c, psi, scale, alpha, t=None, beta=None):
        y = psi.astype(np.float64) * scale.astype(np.float64)[..., None] * alpha.astype(np.float64)
        if t is not None:
            y = y - c.attr("shift") * t.astype(np.float64)
        if beta is not None:
            y = y + beta.astype(np.float64)
        return y.astype(c.attr("dtype").numpy)


@register_op
class HostCast(OpDef):
    """A read-out's float64 values in the layer's element type."""

    name = "host.cast"
    operands = ("x",)
    attrs = {"dtype": Attr("dtype", DType.F32)}

    def infer(self, c):
        if not c.attr("dtype").is_float:
            c.fail(f"dtype must be a float type, got {c.attr('dtype')}")
        return [TensorType(c.attr("dtype"), c.tensor(0).dims)]

    def evaluate(self, c, x):
        return x.astype(c.attr("dtype").numpy)


# ---------------------------------------------------------------------------------- q


@register_op
class EncodeAmplitude(OpDef):
    """Prepare the state given by amplitude-encoding angles (data = log2 size qubits)."""

    name = "q.encode.amplitude"
    operands = ("angles",)
    # extra: parameters after this op's angles that later ops of the kernel read
    attrs = {"size": Attr("int"), "extra": Attr("int", ABSENT)}

    def infer(self, c):
        lead, k = _last_dim(c, 0, "angles")
        if c.tensor(0).dtype != DType.F64:
            c.fail(f"angles must be f64, got {c.tensor(0).dtype}")
        size = c.attr("size")
        _check_size(c, None, size, "angles")
        want = max(size, 2) - 1
        extra = c.attr("extra", 0)
        if extra < 0:
            c.fail(f"extra must be >= 0, got {extra}")
        if isinstance(k, int) and k != want + extra:
            c.fail(f"size {size} takes {want} angles"
                   + (f" and {extra} more" if extra else "") + f", got {k}")
        return [QState(tuple(lead), qubits_for(size), 0)]

    def evaluate(self, c, angles):
        from qlower.blocks.semantics import state_from_angles

        return state_from_angles(angles[..., : max(c.attr("size"), 2) - 1], c.attr("size"))

    def resources(self, op, weights=None) -> Resources:
        """The symbolic Möttönen circuit: 2^n − 1 rotations and 2^n − n − 1 CNOTs, in series."""
        n = qubits_for(op.attr("size"))
        rotations, cnots = (1 << n) - 1, (1 << n) - n - 1
        return Resources(qubits=n, cnots=cnots, rotations=rotations, depth=rotations + cnots,
                         single_qubit=rotations)


class _Block(OpDef):
    """``q.block.<method>``: one op per entry of the block-encoding registry
    (``qlower.blocks.registry``), whose layout, parameters and implemented matrix it asks."""

    operands = ("state", "W")
    method: str = ""

    def entry(self):
        from qlower.blocks.registry import block_method

        return block_method(self.method)

    def params(self, c) -> dict:
        return {key: c.attr(key, None) for key in self.attrs}

    def verify(self, c):
        _require_finite(c, "alpha")
        problem = self.entry().check_params(self.params(c))
        if problem:
            c.fail(problem)

    def infer(self, c):
        s = _qstate(c, 0)
        w = c.tensor(1)
        if w.rank != 2 or not w.is_static:
            c.fail(f"W must be a constant matrix of static shape, got {w}")
        M, N = w.dims
        layout = self.layout(c, M, N)
        if not c.attr("alpha") > 0:
            c.fail(f"alpha must be positive, got {c.attr('alpha')}")
        # The block reads the low ``layout.input`` qubits, where the vector lives: a wider input
        # (a previous block's padded output) keeps its extra, most significant qubits as flags;
        # a narrower one gets fresh |0⟩ qubits as the high qubits of the block's input.
        extra = max(0, s.data - layout.input)
        return [QState(s.shape, layout.output, s.flags + layout.flags + extra)]

    def layout(self, c, M, N):
        """The block's registers, as its circuit has them (the registry entry's layout)."""
        try:
            return self.entry().layout(M, N, self.params(c))
        except ValueError as e:
            c.fail(str(e))

    def evaluate(self, c, state, w):
        from qlower.blocks.registry import apply_block

        return apply_block(self.method, state, w, self.params(c))

    def op_params(self, op) -> dict:
        return {key: op.attr(key, None) for key in self.attrs}

    def resources(self, op, weights) -> Resources:
        """The registry entry's cost of a block of ``weights`` (no circuit is built)."""
        from qlower.blocks.registry import as_matrix

        return self.entry().cost(as_matrix(weights), self.op_params(op))


def block_op(op) -> _Block | None:
    """The definition of ``op`` if it applies a block encoding (its ``method`` and ``entry()``
    say which), else None: what callers ask instead of reading op names."""
    from qlower.ir.opdef import op_def

    d = op_def(op.name)
    return d if isinstance(d, _Block) else None


def _register_blocks() -> None:
    """One ``q.block.<name>`` op per registered method, its attributes alpha and the entry's."""
    from qlower.blocks.registry import methods

    for name, entry in methods().items():
        attrs = {"alpha": Attr("float")}
        for key, (kind, default) in entry.params.items():
            attrs[key] = Attr(kind) if default is None else Attr(kind, default)
        cls = type(f"Block_{name}", (_Block,), {
            "name": f"q.block.{name}", "method": name, "attrs": attrs,
            "__doc__": f"{entry.summary}. Qubits {entry.qubit_order}.",
        })
        register_op(cls)


_register_blocks()


@register_op
class Readout(OpDef):
    """Amplitudes at flags = 0, first ``size`` entries, real part (f64)."""

    name = "q.readout"
    operands = ("state",)
    attrs = {"size": Attr("int"), "nonnegative": Attr("bool", False)}

    def infer(self, c):
        s = _qstate(c, 0)
        size = c.attr("size")
        if not 1 <= size <= 1 << s.data:
            c.fail(f"size {size} does not fit {s.data} data qubits")
        return [_f64(s.shape + (size,))]

    def evaluate(self, c, state):
        return np.ascontiguousarray(state[..., : c.attr("size")].real)

    def resources(self, op, weights=None) -> Resources:
        return ZERO  # a measurement of every qubit


@register_op
class Probabilities(OpDef):
    """Born probabilities of the data register given flags = 0, first ``size`` entries (f64)."""

    name = "q.probabilities"
    operands = ("state",)
    # smoothing s: a shot read-out estimates (n_k + s)/(n_0 + size·s) (no class read as 0)
    attrs = {"size": Attr("int"), "smoothing": Attr("float", ABSENT)}

    def verify(self, c):
        if not (0 <= c.attr("smoothing", 0.0) < math.inf):
            c.fail(f"smoothing must be a finite number >= 0, got {c.attr('smoothing')!r}")

    def infer(self, c):
        s = _qstate(c, 0)
        size = c.attr("size")
        if not 1 <= size <= 1 << s.data:
            c.fail(f"size {size} does not fit {s.data} data qubits")
        return [_f64(s.shape + (size,))]

    def evaluate(self, c, state):
        w = np.abs(state) ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            p = w / np.sum(w, axis=-1, keepdims=True)  # NaN where nothing reads flags = 0
        return np.ascontiguousarray(p[..., : c.attr("size")], dtype=np.float64)

    def resources(self, op, weights=None) -> Resources:
        return ZERO  # a measurement of every qubit


@register_op
class Success(OpDef):
    """The probability that the flags read 0 (f64, one per sweep): a squared norm, read
    without signs (a residual's ‖r‖², for a loss)."""

    name = "q.success"
    operands = ("state",)

    def infer(self, c):
        s = _qstate(c, 0)
        if s.flags < 1:
            c.fail("the state has no flag qubits to read")
        return [_f64(s.shape)]

    def evaluate(self, c, state):
        return np.sum(np.abs(state) ** 2, axis=-1, dtype=np.float64)

    def resources(self, op, weights=None) -> Resources:
        return ZERO  # a measurement of the flags


@register_op
class EncodePair(OpDef):
    """Two amplitude encodings side by side: ``|â⟩ ⊗ |b̂⟩`` on ``2n`` data qubits (the first
    register most significant), from ``2(size − 1)`` angles (``host.pair_angles``)."""

    name = "q.encode.pair"
    operands = ("angles",)
    attrs = {"size": Attr("int")}

    def infer(self, c):
        lead, k = _last_dim(c, 0, "angles")
        if c.tensor(0).dtype != DType.F64:
            c.fail(f"angles must be f64, got {c.tensor(0).dtype}")
        size = c.attr("size")
        _check_size(c, None, size, "angles")
        want = 2 * (max(size, 2) - 1)
        if isinstance(k, int) and k != want:
            c.fail(f"size {size} takes {want} angles (two preparations), got {k}")
        return [QState(tuple(lead), 2 * qubits_for(size), 0)]

    def evaluate(self, c, angles):
        from qlower.blocks.swap_test import pair_state

        return pair_state(angles, max(c.attr("size"), 2))

    def resources(self, op, weights=None) -> Resources:
        """The two preparations and the swap test's CNOT and Hadamard per qubit pair (the
        test always follows: ``q.swap_test`` adds nothing)."""
        from qlower.blocks.swap_test import swap_test_resources

        return swap_test_resources(op.attr("size"))

    def summary(self, op) -> dict:
        return {"method": "swap-test", "success_probability": 1.0, "approximation": None}


@register_op
class SwapTest(OpDef):
    """The destructive swap test on a pair state: ``F = |⟨a|b⟩|² = 2 P(Σ a_i b_i even) − 1``."""

    name = "q.swap_test"
    operands = ("state",)

    def infer(self, c):
        s = _qstate(c, 0)
        if s.data < 2 or s.data % 2 or s.flags:
            c.fail(f"the state must be two equal registers without flags, has {s.data} data "
                   f"qubits and {s.flags} flags")
        return [_f64(s.shape)]

    def evaluate(self, c, state):
        from qlower.blocks.swap_test import swap_expectation

        return swap_expectation(state)

    def resources(self, op, weights=None) -> Resources:
        return ZERO  # counted with the pair's preparation (q.encode.pair)


@register_op
class Overlap(OpDef):
    """Hadamard test on the top data qubit: Re⟨a|b⟩ of (|0⟩|a⟩ + |1⟩|b⟩)/√2."""

    name = "q.overlap"
    operands = ("state",)

    def infer(self, c):
        s = _qstate(c, 0)
        if s.data < 2:
            c.fail(f"the state needs at least 2 data qubits, has {s.data}")
        return [_f64(s.shape)]

    def evaluate(self, c, state):
        half = state.shape[-1] // 2
        a, b = state[..., :half], state[..., half:]
        p0 = np.sum(np.abs(a + b) ** 2, axis=-1) / 2
        return 2 * p0 - 1

    def resources(self, op, weights=None) -> Resources:
        """One Hadamard on the top data qubit before the measurement."""
        return Resources(qubits=0, cnots=0, rotations=0, depth=1, single_qubit=1)
