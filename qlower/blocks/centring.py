"""Centring block encoding of a layer norm's matrix ``W = diag(γ)·(I − 1·1ᵀ/N)``, two flags.

A layer norm ``γ ⊙ (x − mean(x)) / sqrt(var(x) + ε) + β`` is, for one input, the linear map W
(centre, then scale by γ) followed by the scalar ``1/sqrt(var + ε)`` and the shift β, which the
host applies. W is N × N (N >= 2), γ any real vector that is not all zero. Its rows are
``γ_i·(e_i − 1/N)``; :func:`ln_gamma` recovers γ from W and refuses a matrix of any other form.

Qubits ``[f, g] + D``: flags f and g, the data register D of ``n = ⌈log₂N⌉`` qubits (input and
output), N valid entries zero-padded to 2^n, D[0] the most significant bit. With u uniform over
the first N entries (zero elsewhere), the centring ``P = I − |u⟩⟨u| = (I + R)/2`` and the
reflection ``R = I − 2|u⟩⟨u| = U_u (I − 2|0⟩⟨0|) U_u†`` for a fixed preparation ``U_u|0⟩ = |u⟩``.
With ``N = m·2^t``, m odd, ``[0, N)`` is ``{x : x >> t < m}``: U_u is the real Möttönen circuit
(``mottonen.py``) of the uniform state over m on the first ``n' = ⌈log₂m⌉`` qubits and
Hadamards on the last t (Hadamards alone when N = 2^n). Time order:

1. ``U_u†`` on D, X on every D qubit;
2. the reflection core on (f, D): f ← f ⊕ [D = 1…1] (below);
3. X on every D qubit, ``U_u`` on D;
4. Ry on g multiplexed by D in Gray-code order (``mux.py``), ``cos(θ_k/2) = γ_k/γ_max``
   (γ_max = max|γ|, γ_k = 0 beyond N), its final CNOT dropped: that leaves
   ``X^{msb(k)} Ry(a_k)`` on g, and ``X Ry(π − θ)|0⟩ = Ry(θ)|0⟩`` since g starts in |0⟩
   (``a_k = π − θ_k`` where D[0] = 1, as in ``amplitude.py``).

At f = g = 0 the block is ``diag(γ/γ_max) · U_u (I − |0⟩⟨0|) U_u† = diag(γ/γ_max) · P``:
**alpha = γ_max**, and ``implemented`` = alpha × that block = diag(γ_pad)·(I − |u⟩⟨u|), which
is W zero-padded (rows beyond N vanish with γ, columns beyond N are untouched by P).

Steps 1–3 are LOWERINGS §6's "H(f), R controlled by f, H(f)" (post-selecting f = 0 gives
(I + R)/2), rewritten: only the reflection about |0…0⟩ needs the control, since U_u and U_u†
cancel when it is off; ``H_f · C_f(I − 2|0⟩⟨0|) · H_f`` is X on f controlled by D = 0…0 (the
multi-controlled Z is symmetric in its qubits); the X's on D turn D = 0…0 into D = 1…1. f
starts in |0⟩ and is read at 0, so the core only has to satisfy ``G|0⟩_f|d⟩ = |0⟩_f|d⟩`` for
d ≠ 1…1 and ``⟨0|_f G |0⟩_f|1…1⟩ = 0``.

The core, exact and without ancillas (decompositions whose CNOTs grow linearly in n; a
Gray-code phase polynomial for the multi-controlled Z would take 2^{n+1} − 2). D splits into
S1 (the first ``k1 = ⌈n/2⌉`` qubits) and S2 (the other ``k2 = ⌊n/2⌋``); ``X_i`` is X on f
controlled by all of S_i, times a diagonal ``Φ_i`` on D alone. In time order

    A†, X1, A, X2, A†, X1†, A, X2†,      A = S·H·T (T acts first), A X A† = H,

for each basis state d of D (``s_i`` = whether S_i is all ones) the product on f is
``|Φ1(d)|²|Φ2(d)|² (X^{s2} A X^{s1} A†)²``: the identity unless both halves are all ones,
where it is ``(X H)² = Ry(π/2)² = Ry(π)``, taking |0⟩ to |1⟩. The ``X_i``:

- ``k = 1``: one CNOT;
- ``k = 2``: the Toffoli without its controlled-S correction on the controls (a diagonal on
  D, which the X_i† cancels): 4 CNOTs, 4 T, 2 H;
- ``k >= 3``: Barenco et al. 1995 Lemma 7.2 with ``k − 2`` dirty ancillas from the other half
  (restored): ``T_t, L, T_t, L†``, ``T_t`` the k = 2 gate onto f (controls: the last control
  and the top ancilla, so its diagonal is on D), the ladder L's ``2k − 5`` Toffolis onto
  ancillas relative-phase ones (Maslov 2016: a Toffoli times a diagonal, 3 CNOTs, 4 T, 2 H);
  L† meets each basis state as L left it, so their diagonals cancel: ``12k − 22`` CNOTs,
  ``16k − 32`` T.

n = 1: the core is one CNOT (D[0] → f). The core has no rotations (A is Clifford + T).

CNOTs (``core_cnots(n)``, ``centring_cnots(n, N)``, exact for every γ)::

    core(n)   = 1 (n = 1);  2·c(⌈n/2⌉) + 2·c(⌊n/2⌋),  c(1) = 1, c(2) = 4, c(k) = 12k − 22
              = 24n − 88 for n >= 6
    centring  = core(n) + (2^n − 1) + 2·(2^{n'} − n' − 1)   (the last term 0 when N = 2^n)

    n                    1  2   3   4   5    6    7    8    9    10
    core                 1  4  10  16  36   56   80  104  128   152
    N = 2^n              2  7  17  31  67  119  207  359  639  1175

e.g. N = 13: 53, N = 48: 121, N = 768 (n' = 2): 1177. Rotations: the multiplexor's non-Clifford
angles (2^n for generic γ) and twice the Möttönen circuit's; ``cost`` counts them on the angle
tables and its depth on the gate list (``centring_gates``), so every count is the circuit's.
"""

from __future__ import annotations

import math

import numpy as np

from qlower.blocks.layout import BlockLayout, ceil_log2
from qlower.blocks.mottonen import _mottonen_angles
from qlower.blocks.mux import cnot_control_bits, mux_angles
from qlower.blocks.registry import BlockMethod, register
from qlower.blocks.resources import Resources, non_clifford

__all__ = ["CENTRING_RTOL", "Centring", "centring_block", "centring_cnots", "centring_gates",
           "centring_matrix", "core_cnots", "ln_gamma"]

CENTRING_RTOL = 1e-9  # W must be diag(γ)(I − 11ᵀ/N) to this many times max|W|, entry by entry
_FORM = "diag(γ)·(I − 1·1ᵀ/N)"


# ------------------------------------------------------------------------------ the matrix


def centring_matrix(gamma) -> np.ndarray:
    """``diag(γ)·(I − 1·1ᵀ/N)`` for a real vector γ of length N >= 2 (row i: γ_i(e_i − 1/N))."""
    g = np.asarray(gamma, dtype=np.float64).reshape(-1)
    N = g.shape[0]
    return g[:, None] * (np.eye(N) - 1.0 / N)


def _form_problem(W) -> tuple[str | None, np.ndarray | None]:
    """(None, γ) if W is a layer norm's matrix, else (why not, None)."""
    a = np.asarray(W)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        return (f"centring block-encodes a square matrix {_FORM}; got shape {a.shape}", None)
    N = a.shape[0]
    if N < 2:
        return f"centring needs N >= 2 (a 1x1 matrix centres to 0); got {N}x{N}", None
    if np.iscomplexobj(a):
        if np.any(a.imag):
            return "centring block-encodes a real matrix (a layer norm's γ is real)", None
        a = a.real
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        return "centring needs a finite matrix (got NaN or infinity)", None
    scale = float(np.abs(a).max())
    if scale == 0.0:
        return "centring of the zero matrix: γ is all zero (alpha would be 0)", None
    # row i is γ_i·c_i, c_i = e_i − 1/N, ‖c_i‖² = (N − 1)/N: γ_i = ⟨row_i, c_i⟩ N/(N − 1)
    gamma = (np.diagonal(a) - a.mean(axis=1)) * (N / (N - 1))
    resid = np.abs(a - centring_matrix(gamma)).max(axis=1)
    bad = np.flatnonzero(resid > CENTRING_RTOL * scale)
    if bad.size:
        i = int(bad[0])
        return (f"W is not {_FORM} within relative tolerance {CENTRING_RTOL:g}: row {i} is not "
                f"a multiple of e_{i} − 1/N", None)
    return None, gamma


def ln_gamma(W) -> np.ndarray:
    """γ of ``W = diag(γ)·(I − 1·1ᵀ/N)``; ValueError naming why for a matrix of another form."""
    problem, gamma = _form_problem(W)
    if problem:
        raise ValueError(problem)
    return gamma


# ------------------------------------------------------------------------------- the counts


def _mcx_cnots(k: int) -> int:
    return 1 if k == 1 else 4 if k == 2 else 12 * k - 22


def _mcx_t(k: int) -> int:
    return 0 if k == 1 else 4 if k == 2 else 16 * k - 32


def _mcx_single(k: int) -> int:  # both Toffoli forms: 4 T + 2 H
    return 0 if k == 1 else 6 if k == 2 else 24 * k - 48


def _halves(n: int) -> tuple[int, int]:
    return (n + 1) // 2, n // 2


def core_cnots(n: int) -> int:
    """CNOTs of the reflection core on n data qubits (see the module docstring)."""
    if n < 1:
        raise ValueError(f"the centring core needs n >= 1 data qubits, got {n}")
    if n == 1:
        return 1
    k1, k2 = _halves(n)
    return 2 * _mcx_cnots(k1) + 2 * _mcx_cnots(k2)


def centring_cnots(n: int, N: int) -> int:
    """CNOTs of the centring block of an N × N matrix on n = ⌈log₂N⌉ data qubits."""
    if not (N >= 2 and n == ceil_log2(N)):
        raise ValueError(f"centring of a {N}x{N} matrix has n = ceil(log2 N) >= 1 data qubits, "
                         f"got n = {n}")
    k = _odd_part(N)[1]
    prep = (1 << k) - k - 1 if k else 0
    return core_cnots(n) + 2 * prep + (1 << n) - 1


def _closed_form(n: int, N: int) -> tuple[int, int, int]:
    """(CNOTs, single-qubit gates, T gates) of the whole circuit."""
    k = _odd_part(N)[1]
    prep_single = (n - k) + ((1 << k) - 1 if k else 0)  # Hadamards, Möttönen's Ry
    single = (1 << n) + 2 * prep_single + 2 * n  # multiplexor, U_u and U_u†, X's
    t_gates = 0
    if n >= 2:
        k1, k2 = _halves(n)
        single += 12 + 2 * _mcx_single(k1) + 2 * _mcx_single(k2)
        t_gates = 4 + 2 * _mcx_t(k1) + 2 * _mcx_t(k2)
    return centring_cnots(n, N), single, t_gates


# ---------------------------------------------------------------------------- the gate list
# A gate is (kind, qubits, angle): kind in H X S Sd T Td CX Ry; qubit 0 is f, 1 is g, 2 + i
# is D[i]. Built without Cirq: ``cost`` reads its depth off it, ``build`` converts it.

_DAGGER = {"S": "Sd", "Sd": "S", "T": "Td", "Td": "T"}


def _dagger(gates: list) -> list:
    out = []
    for kind, qs, angle in reversed(gates):
        if kind == "Ry":
            out.append((kind, qs, -angle))
        else:
            out.append((_DAGGER.get(kind, kind), qs, angle))
    return out


def _toffoli_up_to_controls(a: int, b: int, t: int) -> list:
    """The Toffoli times ``diag(1, 1, 1, −i)`` on its controls (a, b): the standard Toffoli
    without its controlled-S correction; 4 CNOTs, 4 T/T†, 2 H."""
    return [("H", (t,), None), ("CX", (b, t), None), ("Td", (t,), None), ("CX", (a, t), None),
            ("T", (t,), None), ("CX", (b, t), None), ("Td", (t,), None), ("CX", (a, t), None),
            ("T", (t,), None), ("H", (t,), None)]


def _relative_toffoli(a: int, b: int, t: int) -> list:
    """The Toffoli times a diagonal on all three qubits (Maslov 2016): 3 CNOTs, 4 T/T†, 2 H."""
    return [("H", (t,), None), ("T", (t,), None), ("CX", (b, t), None), ("Td", (t,), None),
            ("CX", (a, t), None), ("T", (t,), None), ("CX", (b, t), None), ("Td", (t,), None),
            ("H", (t,), None)]


def _mcx(controls: list, target: int, ancillas: list) -> list:
    """X on ``target`` controlled by all of ``controls``, times a diagonal on the controls and
    ancillas (never the target); ``len(controls) − 2`` dirty ancillas, restored."""
    k = len(controls)
    if k == 1:
        return [("CX", (controls[0], target), None)]
    if k == 2:
        return _toffoli_up_to_controls(controls[0], controls[1], target)
    c, a = controls, ancillas[: k - 2]
    assert len(a) == k - 2
    down = []
    for j in range(k - 2, 1, -1):  # a[j−1] ^= c[j]·a[j−2], from the top ancilla down
        down += _relative_toffoli(c[j], a[j - 2], a[j - 1])
    ladder = down + _relative_toffoli(c[0], c[1], a[0])
    for j in range(2, k - 1):
        ladder += _relative_toffoli(c[j], a[j - 2], a[j - 1])
    top = _toffoli_up_to_controls(c[k - 1], a[k - 3], target)
    return top + ladder + top + _dagger(ladder)


def _core(n: int) -> list:
    """f ← f ⊕ [D = 1…1] on f = |0⟩ (a multi-controlled Ry(π)), exact at f = 0 in and out."""
    D = list(range(2, 2 + n))
    if n == 1:
        return [("CX", (D[0], 0), None)]
    k1, k2 = _halves(n)
    s1, s2 = D[:k1], D[k1:]
    x1, x2 = _mcx(s1, 0, s2), _mcx(s2, 0, s1)
    A = [("T", (0,), None), ("H", (0,), None), ("S", (0,), None)]  # S·H·T: A X A† = H
    Ad = _dagger(A)
    return Ad + x1 + A + x2 + Ad + _dagger(x1) + A + _dagger(x2)


def _mottonen_gates(angles: np.ndarray, n: int) -> list:
    """The real Möttönen circuit (``mottonen._mottonen_ops``) for emission-ordered angles."""
    gates, pos = [], 0
    for k in range(n):
        L = 1 << k
        target = 2 + k
        ctl = [2 + k - 1 - b for b in cnot_control_bits(k).tolist()]
        for i, t in enumerate(angles[pos:pos + L].tolist()):
            gates.append(("Ry", (target,), t))
            if i < L - 1:
                gates.append(("CX", (ctl[i], target), None))
        pos += L
    return gates


def _odd_part(N: int) -> tuple[int, int]:
    """(m, n'): N = m·2^t with m odd, n' = ⌈log₂m⌉ (0 when N is a power of two)."""
    m = N >> ((N & -N).bit_length() - 1)
    return m, ceil_log2(m)


def _prep_angles(N: int) -> np.ndarray | None:
    """The Möttönen angles of the uniform state over the first m entries of n' qubits, N's odd
    part m (None when N is a power of two: Hadamards alone prepare u)."""
    m, k = _odd_part(N)
    if k == 0:
        return None
    v = np.zeros(1 << k)
    v[:m] = 1.0 / math.sqrt(m)
    return _mottonen_angles(v, k, False)


def _prep(N: int, n: int) -> list:
    """U_u: |0⟩ → u. With N = m·2^t, [0, N) is {x : x >> t < m}: the uniform state over m on
    the first n' = n − t qubits (Möttönen), Hadamards on the last t."""
    angles = _prep_angles(N)
    k = _odd_part(N)[1]
    gates = [] if angles is None else _mottonen_gates(angles, k)
    return gates + [("H", (2 + q,), None) for q in range(k, n)]


def _mux_angles(gamma: np.ndarray, n: int) -> np.ndarray:
    """Emission-ordered Ry angles of the γ multiplexor (final CNOT dropped, π − θ on msb = 1)."""
    g = np.zeros(1 << n)
    g[: gamma.shape[0]] = gamma / np.abs(gamma).max()
    a = 2.0 * np.arccos(np.clip(g, -1.0, 1.0))
    half = 1 << (n - 1)
    a[half:] = np.pi - a[half:]
    return mux_angles(a)


def centring_gates(gamma) -> list:
    """The circuit as ``(kind, qubits, angle)`` gates in time order: qubit 0 is f, 1 is g,
    ``2 + i`` is D[i] (kinds H X S Sd T Td CX Ry; the angle is None except for Ry)."""
    gamma = np.asarray(gamma, dtype=np.float64).reshape(-1)
    N = gamma.shape[0]
    n = ceil_log2(N)
    D = list(range(2, 2 + n))
    prep = _prep(N, n)
    flips = [("X", (q,), None) for q in D]
    gates = _dagger(prep) + flips + _core(n) + flips + prep
    t = _mux_angles(gamma, n).tolist()
    bits = cnot_control_bits(n).tolist()
    for i, angle in enumerate(t):
        gates.append(("Ry", (1,), angle))
        if i < len(t) - 1:
            gates.append(("CX", (D[n - 1 - bits[i]], 1), None))
    return gates


def _depth(gates: list, nqubits: int) -> int:
    """Moments of ``packed_circuit`` (each gate in the earliest moment its qubits allow)."""
    frontier = [0] * nqubits
    for _, qs, _ in gates:
        at = max(frontier[q] for q in qs) + 1
        for q in qs:
            frontier[q] = at
    return max(frontier)


# ------------------------------------------------------------------------------ the entry


@register
class Centring(BlockMethod):
    """Layer norm's diag(γ)(I − 11ᵀ/N): a reflection on one flag, γ on another; alpha = max|γ|."""

    name = "centring"
    general = False  # the layer-norm lowering asks for it by name
    summary = ("centring: layer norm diag(γ)(I − 11ᵀ/N), a reflection about the uniform state "
               "on flag f and a γ multiplexor on flag g; alpha = max|γ|")
    qubit_order = "[f, g] + D (n)"

    def layout(self, M, N, params):
        if M != N or N < 2:
            raise ValueError(f"centring block-encodes an N x N matrix with N >= 2, got {M}x{N}")
        n = ceil_log2(N)
        return BlockLayout(input=n, output=n, flags=2)

    def applies(self, W):
        return _form_problem(W)[0] is None

    def example(self, M, N, complex_=False, rng=None):
        if M != N or N < 2 or complex_:
            return None
        rng = np.random.default_rng(rng)
        return centring_matrix(rng.standard_normal(N))

    def plan(self, W, threshold=0.0):
        return {"alpha": float(np.abs(ln_gamma(W)).max())}

    def implemented(self, W, params):
        gamma = ln_gamma(W)
        N = gamma.shape[0]
        size = 1 << ceil_log2(N)
        u = np.zeros(size)
        u[:N] = 1.0 / math.sqrt(N)
        g = np.zeros(size)
        g[:N] = gamma
        return g[:, None] * (np.eye(size) - np.outer(u, u))

    def cost(self, W, params):
        gamma = ln_gamma(W)
        N = gamma.shape[0]
        n = ceil_log2(N)
        cnots, single, t_gates = _closed_form(n, N)
        rotations = non_clifford(_mux_angles(gamma, n))
        prep_angles = _prep_angles(N)
        if prep_angles is not None:
            rotations += 2 * non_clifford(prep_angles)
        return Resources(qubits=2 + n, cnots=cnots, rotations=rotations,
                         depth=_depth(centring_gates(gamma), 2 + n), single_qubit=single,
                         t_gates=t_gates)

    def build(self, W, params=None, qubits=None):
        from qlower.blocks.circuits import gc_paused

        with gc_paused():
            return _build(W, qubits)


def centring_block(W, *, qubits=None):
    """The centring block encoding of ``W = diag(γ)(I − 11ᵀ/N)`` (a BlockEncoding)."""
    return Centring().build(W, None, qubits)


def _build(W, qubits):
    import cirq

    from qlower.blocks.base import Registers
    from qlower.blocks.block_encoding import BlockEncoding, resolve_qubits
    from qlower.blocks.circuits import fast_op, packed_circuit

    gamma = ln_gamma(W)
    N = gamma.shape[0]
    n = ceil_log2(N)
    qs = resolve_qubits(qubits, 2 + n, f"centring: [f, g] + D ({n})")
    fixed = {"H": cirq.H, "X": cirq.X, "S": cirq.S, "Sd": cirq.S**-1, "T": cirq.T,
             "Td": cirq.T**-1, "CX": cirq.CNOT}
    ops = []
    for kind, idx, angle in centring_gates(gamma):
        gate = cirq.Ry(rads=angle) if kind == "Ry" else fixed[kind]
        ops.append(fast_op(gate, tuple(qs[i] for i in idx)))
    entry = Centring()
    a = np.asarray(W, dtype=np.float64) if not np.iscomplexobj(W) else np.asarray(W).real
    params = entry.plan(a)
    return BlockEncoding(
        circuit=packed_circuit(ops),
        alpha=params["alpha"],
        registers=Registers(input=tuple(qs[2:]), output=tuple(qs[2:]), flags=(qs[0], qs[1])),
        method="centring",
        shape=(N, N),
        padded=entry.implemented(a, params),
        target=a,
        params=params,
    )
