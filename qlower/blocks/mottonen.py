"""The Möttönen state preparation [Möttönen et al., quant-ph/0407010]: its registry entry,
angles and circuit (see ``amplitude.py``'s module docstring for the construction).

Real x: ``2**n − n − 1`` CNOT and ``2**n − 1`` Ry; complex x: ``2**(n+1) − 2n − 2`` CNOT and
``2**(n+1) − 2`` rotations (Ry and Rz), plus a global phase. Exact for any data (angles that
happen to be Clifford are not counted by ``count_resources``), and the structure depends only
on the size: the one method with a symbolic circuit. Importing this module does not load Cirq.
"""

from __future__ import annotations

import numpy as np

from qlower.blocks.mux import cnot_control_bits, mux_angles
from qlower.blocks.prep_registry import PrepMethod, num_qubits, pad, register_prep
from qlower.blocks.resources import Resources

__all__ = ["Mottonen", "mottonen_angles", "mottonen_cnots", "mottonen_rotations"]


@register_prep
class Mottonen(PrepMethod):
    """Möttönen: one Gray-code Ry multiplexor per level (and an Rz one for complex data)."""

    name = "mottonen"
    summary = ("Möttönen: multiplexed Ry per level (+ Rz for complex); 2^n − n − 1 CNOTs real, "
               "2^(n+1) − 2n − 2 complex; data-independent structure")
    symbolic = True

    def cost(self, n, complex_=False):
        if complex_:
            cnots, rotations = (1 << (n + 1)) - 2 * n - 2, (1 << (n + 1)) - 2
        else:
            cnots, rotations = (1 << n) - n - 1, (1 << n) - 1
        # every gate of a level acts on its target: the levels' gates in series bound the depth
        return Resources(qubits=n, cnots=cnots, rotations=rotations, depth=cnots + rotations,
                         single_qubit=rotations)

    def build(self, x, qubits=None, *, prefix="amp"):
        n = num_qubits(x.shape[0])
        return mottonen_block(x, x.shape[0], n, bool(np.iscomplexobj(x)), qubits, prefix)

    def build_symbolic(self, size, complex_=False, qubits=None, *, prefix="amp"):
        return mottonen_block(None, size, num_qubits(size), bool(complex_), qubits, prefix)


def mottonen_cnots(n: int, complex: bool = False) -> int:
    """CNOTs of the Möttönen circuit on ``n`` qubits (exact, any data)."""
    return Mottonen().cost(n, complex).cnots


def mottonen_rotations(n: int, complex: bool = False) -> int:
    """Rotation gates of the Möttönen circuit (an upper bound on ``Resources.rotations``:
    angles that happen to be Clifford do not count there)."""
    return Mottonen().cost(n, complex).rotations


def mottonen_angles(X) -> np.ndarray:
    """The angles of the real Möttönen circuit preparing each row of ``X[..., N]`` (zero-padded
    to a power of two, rows non-zero), in the order of the symbolic circuit's symbols.

    Vectorised over the leading axes; needs no circuit (the host computes kernel parameters
    with it).
    """
    X = np.asarray(X, dtype=np.float64)
    n = num_qubits(X.shape[-1])
    return _mottonen_angles(pad(X, n), n, False)


def _mottonen_angles(X: np.ndarray, n: int, is_complex: bool) -> np.ndarray:
    """Emission-ordered angles for padded data ``X[..., 2**n]`` (see ``amplitude.py``)."""
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


def _mottonen_ops(qs, angles, is_complex: bool) -> list:
    """The circuit for emission-ordered ``angles`` (floats or symbols)."""
    import cirq
    import sympy

    from qlower.blocks.circuits import fast_op, ry_ops, rz_ops

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


def mottonen_block(x, size, n, is_complex, qubits, prefix):
    """The Möttönen ``AmplitudeEncoding`` of ``x`` (validated, non-zero) or, for ``x = None``,
    the symbolic circuit for vectors of length ``size``."""
    import sympy

    from qlower.blocks.amplitude import AmplitudeEncoding, _qubits, _registers
    from qlower.blocks.circuits import gc_paused, packed_circuit

    qs = _qubits(qubits, n)
    count = mottonen_rotations(n, is_complex) + (1 if is_complex else 0)
    if x is None:
        symbols = tuple(sympy.Symbol(f"{prefix}_{i}") for i in range(count))
        params = symbols
        alpha, state = 1.0, None
    else:
        xp = pad(x, n)
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
