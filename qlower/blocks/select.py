"""A layer's bias and sign offset beside its block encoding, on one selector qubit.

``y = Wx + b`` read from counts needs every output non-negative, so the lowering adds an offset
``τ·1`` (``τ ≥ max_i (‖W_i‖‖x‖ − b_i)``) and subtracts it on the host. Appending ``b`` and the
offset as input columns (``[W | b | κ1]`` on ``[x; 1; t]``) pads a power-of-two width N to 2N
columns, which doubles every figure of the block. Here the constant vector ``c = b + τ1`` is
instead the second term of a two-term linear combination, selected by one qubit ``s``::

    prepare on (s, input):  √(α‖x‖)·|0⟩|x̂⟩ + √α_c·|1⟩|ξ⟩      (normalised; angle t0 on s)
    U_W                     the block encoding of W alone, on both branches
    tail (controlled by s)  maps the s = 1 branch's flag-0 part U_W|0⟩|ξ⟩ to c/α_c
    Ry(−t0) on s            post-selecting s = 0 adds the branches with weights α‖x‖, α_c

so the amplitudes at flags (s and the block's) = 0 are ``(Wx + c) / S`` with
``S = α‖x‖ + α_c``, and ``y = S·ψ − τ``. The block of W is applied once, uncontrolled: the
circuit costs the block of W alone, one selector qubit, a preparation one qubit wider than x's,
and a tail of O(M) gates. Two kinds of tail, by what the branch ``ξ`` comes out as:

- ``column`` (FABLE; ``ξ = e_0``): U_W's H_C, O_A, H_C leave branch 1 in
  ``Σ_r 2^{−m/2} Ry(a_r)|0⟩_flag|r⟩|+⟩_C`` with ``a_r`` the implemented angle of column 0. The
  tail undoes H_C (n controlled Hadamards, each ``Ry(π/4)·CZ·Ry(−π/4)``) and applies, on the
  flag, a multiplexed ``Ry(φ_r)`` controlled by R and by s (``M(φ/2)·CX(s)·M(−φ/2)·CX(s)``:
  ``2·2^m + 2`` CNOTs) with ``φ_r = 2 arccos(c_r/‖c‖_∞) − a_r``: the flag-0 part becomes
  ``c / (‖c‖_∞ 2^{m/2})``, so ``α_c = ‖c‖_∞·2^{m/2}``.
- ``singular`` (a method with α = ‖W‖₂: svd, dilation; ``ξ = v_1``, W's top right singular
  vector): the block maps it to ``|0⟩_flags|u_1⟩`` exactly (no amplitude leaves flags = 0),
  and the tail is a controlled un-preparation of ``u_1`` and a controlled preparation of
  ``ĉ = c/‖c‖₂`` on the output register (full multiplexors with s as one more control:
  ``2(2^q − 1)`` CNOTs each), so ``α_c = ‖c‖₂``.

The per-row angles (the wide preparation's, then the tail's) are one parameter vector, computed
by ``host.select_params``; the tail's are circuit parameters after the preparation's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from qlower.blocks.mux import cnot_control_bits, mux_angles, pattern_angles
from qlower.blocks.resources import Resources, non_clifford

# method -> tail kind
KINDS = {"fable": "column", "svd": "singular", "dilation": "singular"}


def select_kind(method: str) -> str | None:
    """The tail kind of ``method``, or None when the method has no selector form."""
    return KINDS.get(method)


# -- the plain state-preparation tree (full multiplexors) -------------------------------------


def tree_angles(v: np.ndarray) -> list[np.ndarray]:
    """Per-level, per-pattern Ry angles preparing the real unit vector(s) ``v`` (last axis,
    length 2**q) from |0⟩ with full multiplexors: level k rotates qubit k (qubit 0 most
    significant) by ``a_k[p]`` when qubits 0..k−1 hold p. The last level carries the signs.
    A zero vector gets the angles of e_0 (all zero)."""
    v = np.asarray(v, dtype=np.float64)
    L = v.shape[-1]
    q = L.bit_length() - 1
    lead = v.shape[:-1]
    levels = []
    for k in range(q):
        block = v.reshape(*lead, 1 << k, 2, L >> (k + 1))
        if k == q - 1:
            lo, hi = block[..., 0, 0], block[..., 1, 0]
        else:
            lo = np.linalg.norm(block[..., 0, :], axis=-1)
            hi = np.linalg.norm(block[..., 1, :], axis=-1)
        levels.append(2.0 * np.arctan2(hi, lo))
    return levels


def apply_tree(levels: list[np.ndarray], vec: np.ndarray, inverse: bool = False) -> np.ndarray:
    """The tree's unitary (or its inverse) applied to ``vec`` (last axis), by the multiplexor
    algebra: level k is ``Ry(a_k[p])`` on qubit k for each pattern p of qubits 0..k−1."""
    vec = np.asarray(vec)
    L = vec.shape[-1]
    lead = vec.shape[:-1]
    order = range(len(levels) - 1, -1, -1) if inverse else range(len(levels))
    out = vec.astype(np.complex128 if np.iscomplexobj(vec) else np.float64, copy=True)
    for k in order:
        a = levels[k] * (-1.0 if inverse else 1.0)
        c, s = np.cos(a / 2)[..., None], np.sin(a / 2)[..., None]
        block = out.reshape(*lead, 1 << k, 2, L >> (k + 1))
        v0, v1 = block[..., 0, :].copy(), block[..., 1, :].copy()
        block[..., 0, :] = c * v0 - s * v1
        block[..., 1, :] = s * v0 + c * v1
        out = block.reshape(*lead, L)
    return out


def controlled_tree_params(levels: list[np.ndarray], sign: float = 1.0) -> np.ndarray:
    """Gray-code rotation angles of the tree with one more, most significant control (s):
    level k is a multiplexor on k + 1 controls whose s = 0 half is the identity. Level by
    level, ``2**(k+1)`` angles each: ``2(2**q − 1)`` in all (last axis)."""
    parts = []
    for a in levels:
        a = sign * np.asarray(a, dtype=np.float64)
        table = np.concatenate([np.zeros_like(a), a], axis=-1)
        parts.append(mux_angles(table))
    if not parts:
        return np.zeros((0,))
    return np.concatenate(parts, axis=-1)


# -- what the weights fix -----------------------------------------------------------------------


@dataclass(frozen=True)
class SelectConstants:
    """What W and its method fix: the branch input ``xi`` (length 2**n, on the block's input
    register), ``base`` (column: the implemented Ry angle of column 0 per row, 2**m entries;
    singular: ``u_1`` on the output register) and the output register's qubits."""

    kind: str
    xi: np.ndarray
    base: np.ndarray
    out_qubits: int
    in_qubits: int


def _key(W: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(W, dtype=np.float64).tobytes()
                        + repr(W.shape).encode()).hexdigest()


_CACHE: dict = {}


def select_constants(W: np.ndarray, method: str, params: dict) -> SelectConstants:
    """The constants of the selector form of ``method``'s block of the real matrix ``W``
    (cached by W's bytes: the lowering, the semantics and the emitter all ask)."""
    key = (_key(W), method, float(params.get("threshold", 0.0)))
    got = _CACHE.get(key)
    if got is not None:
        return got
    from qlower.blocks.registry import block_method

    kind = select_kind(method)
    if kind is None:
        raise ValueError(f"method {method!r} has no selector form (fable, svd and dilation have)")
    if np.iscomplexobj(W):
        raise ValueError("the selector form takes a real matrix")
    M, N = W.shape
    lay = block_method(method).layout(M, N, params)
    n, q = lay.input, lay.output
    if kind == "column":
        from qlower.blocks.fable import Multiplexors

        mx = Multiplexors(W, float(params.get("threshold", 0.0)))
        base = pattern_angles(mx.ty_kept).reshape(1 << mx.m, 1 << mx.n)[:, 0].copy()
        xi = np.zeros(1 << n)
        xi[0] = 1.0
    else:
        u, s, vt = np.linalg.svd(W.astype(np.float64))
        xi = np.zeros(1 << n)
        xi[:N] = vt[0]
        base = np.zeros(1 << q)
        base[:M] = W.astype(np.float64) @ vt[0] / s[0]
    out = SelectConstants(kind, xi, base, q, n)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = out
    return out


def tail_size(kind: str, out_qubits: int) -> int:
    """How many per-row tail parameters follow the preparation's."""
    if kind == "column":
        return 1 << out_qubits
    return 2 * ((1 << out_qubits) - 1)


# -- the host's per-row work ------------------------------------------------------------------


def select_params(x: np.ndarray, xi: np.ndarray, rownorms: np.ndarray, base: np.ndarray | None,
                  b: np.ndarray | None, *, kind: str, alpha: float, offset: bool, size: int,
                  out_qubits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``x`` (last axis): the parameter vector (the wide preparation's
    ``2·size − 1`` angles, then the tail's), the scale ``S = α‖x‖ + α_c`` and the offset τ
    (``[..., 1]``; 0 without ``offset``)."""
    x = np.asarray(x, dtype=np.float64)
    lead = x.shape[:-1]
    N = x.shape[-1]
    Mp = 1 << out_qubits
    nx = np.linalg.norm(x, axis=-1)
    M = rownorms.shape[-1]
    bias = np.zeros(M) if b is None else np.asarray(b, dtype=np.float64)
    if offset:
        tau = np.maximum(0.0, np.max(rownorms[None, :] * nx.reshape(-1, 1) - bias[None, :],
                                     axis=-1)).reshape(lead)
    else:
        tau = np.zeros(lead)
    c = np.zeros(lead + (Mp,))
    c[..., :M] = bias + tau[..., None]
    if kind == "column":
        cmax = np.max(np.abs(c), axis=-1)
        alpha_c = cmax * math.sqrt(Mp)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(cmax[..., None] > 0, c / np.where(cmax > 0, cmax, 1.0)[..., None], 0.0)
        phi = 2.0 * np.arccos(np.clip(d, -1.0, 1.0)) - base
        tail = mux_angles(phi / 2.0)
    else:
        cn = np.linalg.norm(c, axis=-1)
        alpha_c = cn
        with np.errstate(invalid="ignore", divide="ignore"):
            chat = np.where(cn[..., None] > 0, c / np.where(cn > 0, cn, 1.0)[..., None], 0.0)
        chat[..., 0] = np.where(cn > 0, chat[..., 0], 1.0)
        tail = controlled_tree_params(tree_angles(chat)) if out_qubits else np.zeros(lead + (0,))
    scale = alpha * nx + alpha_c
    v = np.zeros(lead + (2 * size,))
    with np.errstate(invalid="ignore", divide="ignore"):
        w0 = np.where(nx > 0, np.sqrt(alpha * nx) / np.where(nx > 0, nx, 1.0), 0.0)
    v[..., :N] = x * w0[..., None]
    v[..., size:] = np.sqrt(alpha_c)[..., None] * xi
    from qlower.blocks.semantics import encoding_angles

    prep = encoding_angles(v, 2 * size)
    params = np.concatenate([prep, np.broadcast_to(tail, lead + tail.shape[-1:])], axis=-1)
    return np.ascontiguousarray(params), scale, tau[..., None]


# -- the reference semantics ------------------------------------------------------------------


def select_apply(state: np.ndarray, W: np.ndarray, method: str, params: dict,
                 angles: np.ndarray, first: int) -> np.ndarray:
    """Amplitudes at flags = 0 after the whole selector form, from the prepared state
    (``[..., 2**(n+1)]``, s most significant) and the kernel's parameter vector ``angles``
    (``angles[..., 0]`` is the selector's rotation, the tail's from ``first``)."""
    from qlower.blocks.registry import block_method

    k = select_constants(W, method, params)
    block = block_method(method).implemented(W, params) / params["alpha"]
    half = 1 << k.in_qubits
    state = np.asarray(state)
    t0 = angles[..., 0]
    c0, c1 = np.cos(t0 / 2), np.sin(t0 / 2)
    branch0 = state[..., :half] @ block.T
    tail = angles[..., first: first + tail_size(k.kind, k.out_qubits)]
    if k.kind == "column":
        # FABLE's flag rotation a_r on column 0 plus the tail's φ_r, seen at flag 0
        phi = 2.0 * pattern_angles(tail)
        d = np.cos((k.base + phi) / 2) / math.sqrt(1 << k.out_qubits)
        branch1 = state[..., half, None] * d
    else:
        # the block maps the branch's input to its flag-0 part; V = P_ĉ P_u1† acts on it
        y = state[..., half:] @ block.T
        levels_u = tree_angles(k.base)
        y = apply_tree(levels_u, y, inverse=True)
        levels_c = _levels_from_controlled(tail, k.out_qubits)
        branch1 = apply_tree(levels_c, y)
    return c0[..., None] * branch0 + c1[..., None] * branch1


def _levels_from_controlled(tail: np.ndarray, q: int) -> list[np.ndarray]:
    """The per-pattern angles of the s = 1 half of each level of a controlled tree."""
    levels, start = [], 0
    for k in range(q):
        width = 1 << (k + 1)
        a = pattern_angles(tail[..., start: start + width])
        levels.append(a[..., 1 << k:])
        start += width
    return levels


# -- cost and circuit -------------------------------------------------------------------------


def tail_resources(kind: str, in_qubits: int, out_qubits: int,
                   base: np.ndarray | None = None) -> Resources:
    """The tail and the selector's final rotation (the block and the preparation are counted
    by their own ops)."""
    Mp = 1 << out_qubits
    if kind == "column":
        mux_cnots = Mp if out_qubits else 0
        cnots = in_qubits + 2 * mux_cnots + 2
        rotations = 2 * in_qubits + 2 * Mp + 1
        depth = 3 * in_qubits + 2 * (Mp + mux_cnots) + 2 + 1
        return Resources(qubits=0, cnots=cnots, rotations=rotations, depth=depth,
                         single_qubit=rotations)
    per = 2 * (Mp - 1)
    const = per if base is None else non_clifford(
        controlled_tree_params(tree_angles(base), sign=-1.0))
    cnots = 2 * per
    rotations = const + per + 1
    return Resources(qubits=0, cnots=cnots, rotations=rotations, depth=2 * per + 2 * per + 1,
                     single_qubit=2 * per + 1)


def _mux_ops(target, controls, angles) -> list:
    """A Gray-code Ry multiplexor: ``angles`` (numbers or sympy expressions) in emission
    order, control ``controls[k-1-b]`` for pattern bit b (``controls[0]`` most significant)."""
    import cirq

    from qlower.blocks.circuits import fast_op

    k = len(controls)
    bits = cnot_control_bits(k).tolist()
    ops = []
    for i, t in enumerate(angles):
        ops.append(fast_op(cirq.Ry(rads=t), (target,)))
        if k:
            ops.append(fast_op(cirq.CNOT, (controls[k - 1 - bits[i]], target)))
    return ops


def tail_ops(k: SelectConstants, s, flag, out, inp, symbols, theta0) -> list:
    """The tail's operations and the selector's final ``Ry(−t0)``: ``s`` the selector,
    ``flag`` FABLE's flag (column kind), ``out``/``inp`` the block's registers, ``symbols``
    the tail's parameters, ``theta0`` the preparation's first (the selector's) parameter."""
    import cirq

    from qlower.blocks.circuits import fast_op

    ops: list = []
    if k.kind == "column":
        for c in inp:  # controlled H: Ry(π/4)·CZ·Ry(−π/4)
            ops += [fast_op(cirq.Ry(rads=-math.pi / 4), (c,)), fast_op(cirq.CZ, (s, c)),
                    fast_op(cirq.Ry(rads=math.pi / 4), (c,))]
        ops += _mux_ops(flag, tuple(out), list(symbols))
        ops.append(fast_op(cirq.CNOT, (s, flag)))
        ops += _mux_ops(flag, tuple(out), [-t for t in symbols])
        ops.append(fast_op(cirq.CNOT, (s, flag)))
    else:
        unprep = controlled_tree_params(tree_angles(k.base), sign=-1.0)
        q = len(out)
        start = 0
        chunks = []
        for j in range(q):
            width = 1 << (j + 1)
            chunks.append((j, start, width))
            start += width
        for j, st, width in reversed(chunks):  # P_u1†: the levels in reverse, angles negated
            ops += _mux_ops(out[j], (s, *out[:j]), unprep[st: st + width].tolist())
        for j, st, width in chunks:
            ops += _mux_ops(out[j], (s, *out[:j]), list(symbols[st: st + width]))
    ops.append(fast_op(cirq.Ry(rads=-theta0), (s,)))
    return ops


def offset_at(rownorms: np.ndarray, b: np.ndarray | None, norm: float, offset: bool) -> float:
    """τ for an input of norm ``norm``: ``max(0, max_i(‖W_i‖·norm − b_i))`` (0 without offset)."""
    if not offset:
        return 0.0
    bias = np.zeros_like(rownorms) if b is None else b
    return float(max(0.0, np.max(rownorms * norm - bias)))


def mean_success(W: np.ndarray, method: str, params: dict, b: np.ndarray | None,
                 offset: bool) -> float:
    """``P(flags = 0)`` averaged over unit inputs: ``(‖B‖_F²/N + ‖c‖²)/S²`` with ``B`` the
    implemented block (times alpha), ``c = b + τ1`` and ``S = α + α_c`` at ``‖x‖ = 1`` (the
    cross term averages to 0)."""
    from qlower.blocks.registry import block_method

    k = select_constants(W, method, params)
    M, N = W.shape
    B = block_method(method).implemented(W, params)[:, :N]
    rownorms = np.linalg.norm(W, axis=1)
    tau = offset_at(rownorms, b, 1.0, offset)
    c = np.zeros(1 << k.out_qubits)
    c[:M] = (0.0 if b is None else b) + tau
    alpha_c = (float(np.max(np.abs(c))) * math.sqrt(c.size) if k.kind == "column"
               else float(np.linalg.norm(c)))
    S = params["alpha"] + alpha_c
    return float((np.sum(np.abs(B) ** 2) / N + np.sum(c ** 2)) / S ** 2)


__all__ = ["KINDS", "SelectConstants", "apply_tree", "controlled_tree_params", "mean_success", "offset_at", "select_apply",
           "select_constants", "select_kind", "select_params", "tail_ops", "tail_resources",
           "tail_size", "tree_angles"]
