"""Amplitude encoding: a circuit taking |0…0⟩ to x/‖x‖ [Möttönen et al., quant-ph/0407010].

``amplitude_encoding(x)`` prepares a numeric vector; ``amplitude_encoding(size=N)`` builds the
symbolic circuit compiled kernels use, whose angles ``block.angles(X)`` computes for a whole
batch at once. Index convention: big-endian, ``qubits[0]`` holds the most significant bit.

Methods
-------
``"mottonen"`` [Möttönen et al. 2004]. Level ``k = 0 … n-1`` prepares qubit ``q_k`` with a
multiplexed ``Ry`` controlled by ``q_0 … q_{k-1}`` (Gray-code multiplexor, see ``mux.py``).

- Real x: every multiplexor drops its final CNOT (controlled by ``q_0``), which leaves
  ``X^{msb(p)} · Ry(a_p)`` per control pattern ``p``. State preparation absorbs the flip:
  ``X Ry(π − φ)|0⟩ = Ry(φ)|0⟩``, so patterns with ``msb(p) = 1`` use ``a_p = π − φ_p``. The last
  level uses signed angles ``φ = 2·atan2(x_{p1}, x_{p0})``, so no phase gates are needed.
  Cost: ``2**n − n − 1`` CNOT, ``2**n − 1`` Ry.
- Complex x: the same Ry tree on ``|x|``, each level followed by an Rz multiplexor for the
  phases (``β_p = ω(p1) − ω(p0)``, ω = mean phase of a subtree), emitted mirrored so that its
  first CNOT cancels the Ry multiplexor's last; global phase ``e^{iω(root)}`` emitted as a
  ``GlobalPhaseGate``. Cost: ``2**(n+1) − 2n − 2`` CNOT, ``2**(n+1) − 2`` rotations. (Within
  this Ry-block-then-Rz-block scheme this is the minimum: each block must visit all ``2**k``
  parity patterns of its controls, ``2**k − 1`` CNOT steps each.)

``"schmidt"`` [Plesch–Brukner 2011], numeric x only. x as a ``2**a × 2**b`` matrix
(``a = ⌊n/2⌋`` first qubits, ``b`` the rest), SVD ``M = U Σ Vh``: prepare Σ on the first half
(recursively), copy it onto the last ``a`` qubits of the second half with ``a`` CNOTs, then ``U``
on the first half and ``Vhᵀ`` on the second, each by quantum Shannon decomposition (``qsd.py``)
[Shende, Bullock, Markov 2006] with both of its CNOT savings (A.1, A.2). ``U`` is synthesised
only up to a diagonal acting first, which the ``Vhᵀ`` side absorbs (one CNOT less); for real x the
determinants of U and Vh are made +1 through the sign of σ_0 (a real two-qubit orthogonal of
determinant +1 needs 2 CNOTs). Cost for generic data (``schmidt_cnots``): ``prep(a) + a +
(Q(a) − 1) + Q(b)`` CNOT, one less for real x with ``b = 2``, ``Q(m) = (23·4^m − 72·2^m +
64)/48`` (``Q(1) = 0``, ``Q(2) = 3``); structured or real data may need fewer, never more.
More rotations than Möttönen (about 2.5× at n = 8).

``"auto"``: for numeric x, ``"schmidt"`` when it needs fewer CNOTs and (n is even or x is
complex); otherwise, and always for symbolic circuits, ``"mottonen"``.

Symbol and ``angles`` order: emission order, level by level; a complex level lists its Ry
angles, then its Rz angles as emitted (mirrored), and the global phase comes last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cirq
import numpy as np
import sympy

from qlower.blocks.base import Block, Registers
from qlower.blocks.circuits import fast_op, gc_paused, packed_circuit, ry_ops, rz_ops
from qlower.blocks.mux import cnot_control_bits, mux_angles
from qlower.blocks.qsd import qsd, qsd_cnots

__all__ = [
    "ZERO_MESSAGE",
    "AmplitudeEncoding",
    "ZeroVectorError",
    "amplitude_encoding",
    "mottonen_cnots",
    "mottonen_rotations",
    "qsd_cnots",
    "schmidt_cnots",
]

METHODS = ("auto", "mottonen", "schmidt", "ucg")
ZERO_MESSAGE = "amplitude encoding of the zero vector: it has no direction (norm 0)"


class ZeroVectorError(ValueError):
    """Raised when asked to amplitude-encode the zero vector (it has no direction)."""


# --------------------------------------------------------------------------- cost formulas


def mottonen_cnots(n: int, complex: bool = False) -> int:
    """CNOTs of the Möttönen circuit on ``n`` qubits (exact, any data)."""
    return (1 << (n + 1)) - 2 * n - 2 if complex else (1 << n) - n - 1


def mottonen_rotations(n: int, complex: bool = False) -> int:
    """Rotation gates of the Möttönen circuit (an upper bound on ``Resources.rotations``:
    angles that happen to be Clifford do not count there)."""
    return (1 << (n + 1)) - 2 if complex else (1 << n) - 1


def schmidt_cnots(n: int, complex: bool = False) -> int:
    """CNOTs of the Schmidt (Plesch–Brukner) circuit on ``n >= 2`` qubits for generic data
    (structured data may need fewer)."""
    a = n // 2
    b = n - a
    cost = _best_real_cnots(a) + a + qsd_cnots(a, up_to_diagonal=True) + qsd_cnots(b)
    if not complex and b == 2:
        cost -= 1  # a real two-qubit orthogonal of determinant +1 needs 2 CNOTs
    return cost


def _best_real_cnots(n: int) -> int:
    """CNOTs of the ``auto`` preparation of a real vector on ``n`` qubits (generic data)."""
    if _use_schmidt(n, False):
        return schmidt_cnots(n)
    return mottonen_cnots(n)


def _use_schmidt(n: int, complex: bool) -> bool:
    if n < 2 or not (complex or n % 2 == 0):
        return False
    return schmidt_cnots(n, complex) < mottonen_cnots(n, complex)


def _auto_method(n: int, complex: bool) -> str:
    """The method with the fewest CNOTs for generic data (ties: the fewer rotations).

    Real data: Möttönen (2^n − n − 1) or, at even n >= 4, the Schmidt split. Complex data:
    uniformly controlled gates up to a diagonal (also 2^n − n − 1; Möttönen's Ry + Rz
    multiplexors need twice that) or the Schmidt split where it is cheaper (n = 4, 5, 6, 8, ...).
    """
    if not complex:
        return "schmidt" if _use_schmidt(n, False) else "mottonen"
    ucg = (1 << n) - n - 1
    if n >= 2 and schmidt_cnots(n, True) < ucg:
        return "schmidt"
    return "ucg"


def mottonen_angles(X) -> np.ndarray:
    """The angles of the real Möttönen circuit preparing each row of ``X[..., N]`` (zero-padded
    to a power of two, rows non-zero), in the order of the symbolic circuit's symbols.

    Vectorised over the leading axes; needs no circuit (the host computes kernel parameters
    with it).
    """
    X = np.asarray(X, dtype=np.float64)
    n = _num_qubits(X.shape[-1])
    return _mottonen_angles(_pad(X, n), n, False)


# --------------------------------------------------------------------------- the block


@dataclass(frozen=True, eq=False)
class AmplitudeEncoding(Block):
    """A state preparation ``|0…0⟩ → x/‖x‖`` on ``registers.output`` (see the module doc).

    ``alpha`` is ``‖x‖`` (1.0 for a symbolic circuit); ``state`` is the expected final state
    (numeric case, zero-padded to ``2**num_qubits``); ``symbols`` the symbolic angles, bound by
    ``resolver(angles(x))``.
    """

    size: int = 0
    num_qubits: int = 0
    method: str = "mottonen"
    state: np.ndarray | None = None
    is_complex: bool = False

    def angles(self, X) -> np.ndarray:
        """The Möttönen angles for data ``X[..., size]``, in the order of ``symbols``.

        Vectorised over the leading axes. Real blocks take real data, complex blocks real or
        complex data. A zero row raises :class:`ZeroVectorError` naming its index.
        """
        if self.method != "mottonen":
            raise ValueError(f"angles() needs a Möttönen circuit, this one is {self.method!r}")
        X = _as_data(X, batch=True, allow_complex=self.is_complex)
        if X.shape[-1] != self.size:
            raise ValueError(
                f"expected data of size {self.size} on the last axis, got shape {X.shape}"
            )
        _check_nonzero(X)
        return _mottonen_angles(_pad(X, self.num_qubits), self.num_qubits, self.is_complex)


def amplitude_encoding(
    x=None,
    *,
    size: int | None = None,
    complex: bool = False,
    method: str = "auto",
    qubits: Sequence[cirq.Qid] | None = None,
    prefix: str = "amp",
) -> AmplitudeEncoding:
    """Prepare ``x/‖x‖`` (``x`` given) or the symbolic circuit for vectors of length ``size``.

    ``complex=True`` (or complex ``x``) adds the phase multiplexors; ``qubits`` (``n`` of them,
    ``qubits[0]`` most significant) default to ``cirq.LineQubit.range(n)``; symbols are named
    ``f"{prefix}_{i}"``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown amplitude-encoding method {method!r}; expected one of {METHODS}")
    if x is None:
        if size is None:
            raise ValueError("amplitude_encoding needs a vector x or a size")
        size = _check_size(size)
        n = _num_qubits(size)
        if method in ("schmidt", "ucg"):
            raise ValueError(f"the '{method}' method needs numeric data x (no symbolic circuit)")
        qs = _qubits(qubits, n)
        return _mottonen_block(None, size, n, bool(complex), qs, prefix)

    x = _as_data(x, batch=False, allow_complex=True)
    if size is not None:
        size = _check_size(size)
        if size < x.shape[0]:
            raise ValueError(f"size {size} is smaller than the vector's length {x.shape[0]}")
        x = np.concatenate([x, np.zeros(size - x.shape[0], dtype=x.dtype)])
    size = x.shape[0]
    is_complex = bool(complex) or np.iscomplexobj(x)
    if is_complex:
        x = x.astype(np.complex128)
    _check_nonzero(x)
    n = _num_qubits(size)
    qs = _qubits(qubits, n)
    if method == "auto":
        method = _auto_method(n, is_complex)
    if method == "ucg":
        from qlower.blocks.ucg import ucg_state_preparation

        return ucg_state_preparation(x, qubits=qs)
    if method == "schmidt":
        if n < 2:
            raise ValueError(f"the 'schmidt' method needs at least 2 qubits, got {n}")
        return _schmidt_block(x, size, n, is_complex, qs)
    return _mottonen_block(x, size, n, is_complex, qs, prefix)


# --------------------------------------------------------------------------- validation


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return int(size)


def _num_qubits(size: int) -> int:
    return max(1, (size - 1).bit_length())


def _as_data(x, *, batch: bool, allow_complex: bool) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise ValueError(f"amplitude encoding needs a numeric vector: {e}") from None
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"amplitude encoding needs numeric data, got dtype {arr.dtype}")
    if batch:
        if arr.ndim < 1:
            raise ValueError(f"expected data of shape [..., size], got a scalar {arr!r}")
    elif arr.ndim != 1:
        raise ValueError(f"amplitude encoding needs a 1-D vector, got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError("amplitude encoding needs a vector of length >= 1, got length 0")
    if np.iscomplexobj(arr):
        if not allow_complex:
            raise ValueError("this amplitude encoding is real; got complex data "
                             "(build it with complex=True)")
        arr = arr.astype(np.complex128)
    else:
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("amplitude encoding needs finite data; got NaN or infinity")
    return arr


def _check_nonzero(X: np.ndarray) -> None:
    zero = ~np.any(X != 0, axis=-1)
    if X.ndim == 1:
        if zero:
            raise ZeroVectorError(ZERO_MESSAGE)
    elif zero.any():
        idx = tuple(int(i) for i in np.argwhere(zero)[0])
        where = idx[0] if len(idx) == 1 else idx
        raise ZeroVectorError(f"{ZERO_MESSAGE}: row {where}")


def _qubits(qubits, n: int) -> tuple[cirq.Qid, ...]:
    if qubits is None:
        return tuple(cirq.LineQubit.range(n))
    qs = tuple(qubits)
    if len(qs) != n:
        raise ValueError(f"amplitude encoding of this size needs {n} qubits, got {len(qs)}")
    if len(set(qs)) != n:
        raise ValueError(f"amplitude-encoding qubits must be distinct, got {qs}")
    return qs


def _pad(X: np.ndarray, n: int) -> np.ndarray:
    N = 1 << n
    if X.shape[-1] == N:
        return X
    pad = [(0, 0)] * (X.ndim - 1) + [(0, N - X.shape[-1])]
    return np.pad(X, pad)


def _registers(qs) -> Registers:
    return Registers(input=(), output=tuple(qs), flags=())


# --------------------------------------------------------------------------- Möttönen


def _mottonen_angles(X: np.ndarray, n: int, is_complex: bool) -> np.ndarray:
    """Emission-ordered angles for padded data ``X[..., 2**n]`` (see module doc)."""
    lead = X.shape[:-1]
    mag2 = np.abs(X) ** 2 if is_complex else X * X
    # sums[k]: |x|² summed over each subtree of depth k (length 2**k)
    sums = [None] * (n + 1)
    sums[n] = mag2
    for k in range(n - 1, -1, -1):
        sums[k] = sums[k + 1].reshape(*lead, 1 << k, 2).sum(axis=-1)
    if is_complex:
        phase = np.angle(X)
        omegas = [None] * (n + 1)
        omegas[n] = phase
        for k in range(n - 1, -1, -1):
            omegas[k] = omegas[k + 1].reshape(*lead, 1 << k, 2).mean(axis=-1)
    out = []
    for k in range(n):
        if k == n - 1 and not is_complex:
            pair = X.reshape(*lead, 1 << k, 2)
        else:
            pair = np.sqrt(sums[k + 1]).reshape(*lead, 1 << k, 2)
        phi = 2.0 * np.arctan2(pair[..., 1], pair[..., 0])
        if is_complex:
            out.append(mux_angles(phi))
            om = omegas[k + 1].reshape(*lead, 1 << k, 2)
            beta = om[..., 1] - om[..., 0]
            out.append(mux_angles(beta)[..., ::-1])  # mirrored Rz multiplexor
        else:
            if k >= 1:
                half = 1 << (k - 1)
                phi[..., half:] = np.pi - phi[..., half:]
            out.append(mux_angles(phi))
    if is_complex:
        out.append(omegas[0])  # global phase (length 1)
    return np.concatenate(out, axis=-1)


def _mottonen_ops(qs, angles, is_complex: bool) -> list[cirq.Operation]:
    """The circuit for emission-ordered ``angles`` (floats or symbols)."""
    n = len(qs)
    ops: list[cirq.Operation] = []
    pos = 0
    cx = cirq.CNOT
    for k in range(n):
        L = 1 << k
        target = qs[k]
        ry = ry_ops(angles[pos:pos + L], target)
        pos += L
        ctl = [qs[k - 1 - b] for b in cnot_control_bits(k).tolist()]
        cnots = [fast_op(cx, (c, target)) for c in ctl[:-1]]
        level: list = [None] * (2 * L - 1)
        level[0::2] = ry
        level[1::2] = cnots
        ops.extend(level)
        if is_complex:
            level = [None] * (2 * L - 1)
            level[0::2] = rz_ops(angles[pos:pos + L], target)  # s_{L-1}, …, s_0
            level[1::2] = cnots[::-1]
            pos += L
            ops.extend(level)
    if is_complex:
        w = angles[pos]
        coeff = sympy.exp(sympy.I * w) if isinstance(w, sympy.Basic) else np.exp(1j * w)
        ops.append(fast_op(cirq.GlobalPhaseGate(coeff), ()))
    return ops


def _mottonen_block(x, size, n, is_complex, qs, prefix) -> AmplitudeEncoding:
    count = mottonen_rotations(n, is_complex) + (1 if is_complex else 0)
    if x is None:
        symbols = tuple(sympy.Symbol(f"{prefix}_{i}") for i in range(count))
        params = symbols
        alpha, state = 1.0, None
    else:
        xp = _pad(x, n)
        params = _mottonen_angles(xp, n, is_complex).tolist()
        symbols = ()
        alpha = float(np.linalg.norm(x))
        state = (xp / alpha).astype(np.complex128)
    with gc_paused():
        circuit = packed_circuit(_mottonen_ops(qs, params, is_complex))
    return AmplitudeEncoding(
        circuit=circuit,
        alpha=alpha,
        registers=_registers(qs),
        symbols=symbols,
        size=size,
        num_qubits=n,
        method="mottonen",
        state=state,
        is_complex=is_complex,
    )


# --------------------------------------------------------------------------- Schmidt


def _schmidt_block(x, size, n, is_complex, qs) -> AmplitudeEncoding:
    with gc_paused():
        return _schmidt_build(x, size, n, is_complex, qs)


def _schmidt_build(x, size, n, is_complex, qs) -> AmplitudeEncoding:
    a = n // 2
    b = n - a
    first, second = qs[:a], qs[a:]
    xp = _pad(x, n)
    alpha = float(np.linalg.norm(x))
    M = xp.reshape(1 << a, 1 << b) / alpha
    U, s, Vh = np.linalg.svd(M)
    if not is_complex:
        # A real two-qubit orthogonal of determinant +1 needs 2 CNOTs, not 3: move a -1
        # determinant into the sign of σ_0 (signs cost nothing in the real Σ preparation).
        if np.linalg.det(U) < 0:
            U[:, 0] *= -1
            s[0] = -s[0]
        if np.linalg.det(Vh) < 0:
            Vh[0, :] *= -1
            s[0] = -s[0]
    ops: list[cirq.Operation] = []
    # Σ on the first half (real); its global phase, if it has one, is part of its circuit
    sigma = amplitude_encoding(s, qubits=first, method="auto")
    ops.extend(sigma.circuit.all_operations())
    # copy |k⟩ onto the last a qubits of the second half
    ops.extend(fast_op(cirq.CNOT, (first[i], second[b - a + i])) for i in range(a))
    # U on the first half up to a diagonal D acting first: U = e^{iγ} O D
    u_ops, gamma, d = qsd(first, U, up_to_diagonal=True)
    # second half: Vhᵀ|k⟩ = row k of Vh; absorb D and γ: Σ σ_k O|k⟩ ⊗ e^{iγ} e^{iδ_k} Vhᵀ|k⟩
    W = Vh.T.astype(np.complex128)
    if d is not None:
        delta = np.tile(d, (1 << a) // 4)  # δ_k depends on the last two bits of k
        W[:, : 1 << a] *= delta[None, :]
    v_ops, gamma2, _ = qsd(second, W, up_to_diagonal=False)
    ops.extend(u_ops)
    ops.extend(v_ops)
    phase = np.exp(1j * (gamma + gamma2))
    if abs(phase - 1.0) > 1e-14:
        ops.append(fast_op(cirq.GlobalPhaseGate(phase), ()))
    return AmplitudeEncoding(
        circuit=packed_circuit(ops),
        alpha=alpha,
        registers=_registers(qs),
        symbols=(),
        size=size,
        num_qubits=n,
        method="schmidt",
        state=(xp / alpha).astype(np.complex128),
        is_complex=is_complex,
    )
