"""lower-linear: dense layers with constant weights become quantum kernels plus host ops.

Two strategies (amplitude encoding: ``qlower/blocks/amplitude.py``; block encodings:
``qlower/blocks/block_encoding.py``; the README's "Lowering" section):

``block-encoding`` — ``y = x Wᵀ + b`` becomes::

    %xa  = host.augment(%x) {value = 1.0}            (only with a bias: W' = [W | b])
    %t   = host.offset(%xa) {bound = B}              t = B ‖x'‖, B = max_i ‖W'_i‖ / κ
    %xs  = host.append(%xa, %t)                      x'' = [x'; t], W'' = [W' | κ·1], κ = max|W'|
    %nx  = host.norm(%xs)                             ‖x''‖, per batch row
    %ang = host.amplitude_angles(%xs) {size = 2**n}
    %s0  = q.encode.amplitude(%ang) {size = 2**n}
    %s1  = q.block.<method>(%s0, %W'') {alpha = α}
    %psi = q.readout(%s1) {size = M, nonnegative = true}
    %y   = host.rescale(%psi, %nx, %alpha, %t) {shift = κ}     y = α ‖x''‖ ψ − κ t

The offset column makes every output of the circuit non-negative (W''x'' = W'x' + κt ≥ 0), so
a read-out from counts, √(n_i/S), needs no sign: the honest hardware estimator. It costs one
input column and success probability. ``signs=none`` leaves it out (exact read-out only; a shot
run of such a kernel is refused).

``amplitude-encoding`` — each output is a sign-aware overlap (Hadamard test)::

    %ang = host.overlap_angles(%xa, %W') {size = 2**n}   (|0⟩|x̂⟩ + |1⟩|ŵ_i⟩)/√2, per row i
    %s   = q.encode.amplitude(%ang) {size = 2**(n+1)}
    %r   = q.overlap(%s)                                 Re⟨ŵ_i|x̂⟩ = 2 P(top = 0) − 1
    %y   = host.rescale(%r, %nx, %rownorms)              y_i = ‖x'‖ ‖w'_i‖ r_i

Leading (batch) axes of ``x``, symbolic ones included, stay leading axes of every value: a
kernel runs once per batch index, as one parameter sweep.

Which layers, and how: every ``nn.linear`` with a constant weight (and bias, if any) and every
``nn.matmul`` by a constant, as its ``strategy`` and ``method`` attributes say
(``select-strategy`` writes them); a layer without them gets ``select-strategy``'s default
choice (block encoding, ``auto`` method).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from qlower.errors import UnsupportedError
from qlower.ir import Graph, Op
from qlower.ir.dialects.quantum import qubits_for
from qlower.passes.base import PipelineError, TransformPass, register_pass
from qlower.passes.calibration import calibration_option
from qlower.passes.options import option
from qlower.passes.rewrite import Rewriter
from qlower.passes.select_strategy import SelectStrategy, layer_names, selected


def check_sweeps_known(rw: Rewriter, op: Op) -> None:
    """A kernel runs once per index of the input's leading axes: their sizes must be known."""
    t = rw.tensor_type(op.operand(0))
    if any(d is None for d in t.dims[:-1]):
        name = layer_names(op)[0]
        raise UnsupportedError(
            f"node '{name}': the layer's input {t} has a size that nothing determines before "
            f"running; a quantum kernel needs its sweep count (give the model named sizes, or "
            f"--strategy {name}=host)")


@register_pass
@dataclass(frozen=True)
class LowerLinear(TransformPass):
    name = "lower-linear"
    summary = "nn.linear with constant weights to q.* kernels and host.* ops"

    threshold: float = option(0.0, flag="--threshold", metavar="D",
                              help="FABLE compression: drop rotation angles |theta| <= D (default 0)")
    signs: str = option("offset", flag="--signs", choices=("offset", "none"),
                        help="offset: shift outputs to be non-negative so shots can read them "
                        "(default); none: exact read-out only")
    carry: str = option("auto", flag="--carry", choices=("auto", "select", "columns"),
                        help="how a layer's bias and sign offset reach its block: select (a "
                        "selector qubit beside the block of W), columns (input columns [x; 1; "
                        "t]) or auto (the one with fewer CNOTs; default)")
    layers: int = option(0, flag="--layers", metavar="L",
                         help="variational: the ansatz's entangling layers (default 0: the fewest "
                         "up to 12 that reach --min-fidelity)")
    min_fidelity: float = option(0.999, flag="--min-fidelity", metavar="F",
                                 help="variational: the fidelity a fit must reach, else the layer "
                                 "is refused (default 0.999)")
    compose: bool = option(False, flag="--compose",
                           help="consecutive block-encoded layers with nothing between them "
                           "become one kernel (alphas multiply, flags add) instead of one each")
    amplify: str = option("none", flag="--amplify", choices=("none", "fixed-point", "qsvt"),
                          help="amplify each block-encoded kernel's success probability: "
                          "fixed-point (Yoder-Low-Chuang, for --success-bound), qsvt (uniform "
                          "singular-value amplification) or none (default); outputs are read "
                          "against reference rows")
    success_bound: float = option(0.0, flag="--success-bound", metavar="W",
                                  help="amplify: a lower bound on every input's success "
                                  "probability (default 0: the bound the layer guarantees)")
    amplify_error: float = option(0.5, flag="--amplify-error", metavar="D",
                                  help="amplify: fixed-point error delta, success >= 1 - D^2 "
                                  "for every input above the bound (default 0.5)")
    calibration: str = calibration_option()
    prep: str = option("mottonen", flag="--prep", choices=("mottonen", "variational"),
                       help="how a dense layer's kernel loads its input: mottonen (exact "
                       "amplitude encoding; default) or variational (a hardware-efficient "
                       "ansatz fitted to each row on the host, refused below --min-fidelity)")
    prep_layers: int = option(0, flag="--prep-layers", metavar="L",
                              help="variational preparation: entangling layers (default 0: the "
                              "fewest that reach --min-fidelity on the calibration rows, else "
                              "the parameter-count threshold)")

    def __post_init__(self) -> None:
        if self.signs not in ("offset", "none"):
            raise PipelineError(f"lower-linear: signs must be 'offset' or 'none', got '{self.signs}'")
        if not self.threshold >= 0:
            raise PipelineError(f"lower-linear: threshold must be >= 0, got {self.threshold}")
        if self.layers < 0 or self.layers > 64:
            raise PipelineError(f"lower-linear: layers must be in 0..64, got {self.layers}")
        if not 0 < self.min_fidelity <= 1:
            raise PipelineError(f"lower-linear: min-fidelity must be in (0, 1], got "
                                f"{self.min_fidelity}")
        check_variational_options(self)
        if self.carry not in ("auto", "select", "columns"):
            raise PipelineError(f"lower-linear: carry must be 'auto', 'select' or 'columns', "
                                f"got '{self.carry}'")
        check_amplify_options(self)

    def choice(self, rw: Rewriter, op: Op) -> tuple[str, str]:
        """The layer's (strategy, method): what select-strategy wrote on it, else its default
        choice (the same rule, with its default options)."""
        got = selected(op)
        if got is not None:
            return got
        attrs = SelectStrategy().attributes(rw, op) or {"strategy": "host"}
        return attrs["strategy"], attrs.get("method", "")

    def apply(self, graph: Graph) -> Graph:
        object.__setattr__(self, "fit_rows", calibration_rows(self, graph))
        rw = Rewriter(graph)
        if self.compose:
            for chain in self.chains(rw):
                check_sweeps_known(rw, chain[0])
                rw.replace(chain[-1], lower_chain(rw, chain,
                                                  [self.choice(rw, op)[1] for op in chain],
                                                  self.threshold, self.signs))
        for op in list(rw.ops):
            if op is None:
                continue
            if op.name == "nn.linear":
                w = rw.constant(op.operand(1))
                b = rw.constant(op.operand(2)) if op.operand(2) is not None else None
                if w is None or (op.operand(2) is not None and b is None):
                    continue
                new = self.lower(rw, op, w, b)
                if new is not None:
                    rw.replace(op, new)
            elif op.name == "nn.matmul":
                new = self.lower_matmul(rw, op)
                if new is not None:
                    rw.replace(op, new)
        if self.prep == "variational":
            from qlower.passes.variational_prep import variational_prep

            return variational_prep(rw.finish(), self.prep_layers, self.min_fidelity,
                                    self.calibration)
        return rw.finish()

    def _composable(self, rw: Rewriter, op: Op | None) -> bool:
        if op is None or op.name != "nn.linear" or self.choice(rw, op)[0] != "block-encoding":
            return False
        if op.attr("amplify", None) not in (None, "none"):
            return False  # an amplified layer is a kernel of its own
        w = rw.constant(op.operand(1))
        if w is None or w.ndim != 2 or not np.issubdtype(w.dtype, np.floating) or not np.any(w):
            return False
        return op.operand(2) is None or rw.constant(op.operand(2)) is not None

    def chains(self, rw: Rewriter) -> list[list[Op]]:
        """Runs of two or more block-encoded layers, each feeding only the next one."""
        nxt: dict[int, Op] = {}
        has_prev: set[int] = set()
        for op in rw.ops:
            if not self._composable(rw, op):
                continue
            out = op.result().name
            users = rw.users(out)
            if len(users) == 1 and out not in rw.outputs and self._composable(rw, users[0]) \
                    and users[0].operand(0) == out:
                nxt[id(op)] = users[0]
                has_prev.add(id(users[0]))
        chains = []
        for op in rw.ops:
            if op is None or id(op) not in nxt or id(op) in has_prev:
                continue
            chain = [op]
            while id(chain[-1]) in nxt:
                chain.append(nxt[id(chain[-1])])
            chains.append(chain)
        return chains

    def lower(self, rw: Rewriter, op: Op, w: np.ndarray, b: np.ndarray | None) -> list[Op] | None:
        """The ops replacing the dense layer ``op`` (``y = x Wᵀ + b``), or None to keep it."""
        if not np.issubdtype(w.dtype, np.floating) or w.ndim != 2:
            return None
        strategy, method = self.choice(rw, op)
        if strategy == "host":
            return None
        check_sweeps_known(rw, op)
        if strategy == "block-encoding":
            if not np.any(w) and (b is None or not np.any(b)):
                return None  # an all-zero layer has nothing to encode; it stays on the host
            amplify = op.attr("amplify", None) or self.amplify  # the layer's, else everyone's
            if amplify != "none":
                return lower_amplified(rw, op, w, b, method, replace(self, amplify=amplify))
            form = None
            if self.carry != "columns" and self.prep == "mottonen":  # (variational: columns)
                form = select_form(w, b, method, self.threshold, self.signs,
                                   force=self.carry == "select")
            if form is None and self.carry == "select" and (b is not None or self.signs == "offset"):
                raise UnsupportedError(
                    f"node '{layer_names(op)[0]}': --carry select needs a real layer and a "
                    f"method with a selector form (fable, svd, dilation), got method '{method}'")
            if form is not None:
                return lower_select(rw, op, w, b, *form, self.signs)
            return lower_chain(rw, [op], [method], self.threshold, self.signs)
        if strategy == "variational":
            rows = getattr(self, "fit_rows", None) or {}
            return lower_variational(rw, op, w, b, self.signs, self.layers, self.min_fidelity,
                                     rows=rows.get(op.operand(0)))
        return lower_amplitude_encoding(rw, op, w, b)

    def lower_matmul(self, rw: Rewriter, op: Op) -> list[Op] | None:
        """``nn.matmul`` by a constant matrix on either side.

        ``X @ B`` is the layer ``W = Bᵀ``. ``A @ X`` (``X`` of shape ``[..., K, N]``) multiplies
        every column of ``X``: it is lowered as ``(Xᵀ Aᵀ)ᵀ`` — a transpose of the last two axes
        on the host, the layer ``W = A`` on the rows of ``Xᵀ`` (the columns of X), and a
        transpose back.
        """
        a, b = rw.constant(op.operand(0)), rw.constant(op.operand(1))
        x_name = op.operand(0) if b is not None else op.operand(1)
        rank = rw.tensor_type(x_name).rank
        out = op.result().name
        if b is not None and a is None and b.ndim == 2 and rank >= 1:
            w_name = rw.add_constant(np.ascontiguousarray(b.T), f"{op.operand(1)}.T")
            lin = rw.build("nn.linear", [x_name, w_name], _choice_attrs(op), results=[out], loc=op.loc)
            return self.lower(rw, lin, rw.constant(w_name), None)
        if a is not None and b is None and a.ndim == 2 and rank >= 2:
            perm = tuple(range(rank - 2)) + (rank - 1, rank - 2)
            xt = rw.build("nn.transpose", [x_name], {"perm": perm}, results=[rw.fresh(f"{x_name}.T")],
                          loc=op.loc)
            lin = rw.build("nn.linear", [xt.result().name, op.operand(0)], _choice_attrs(op),
                           results=[rw.fresh(f"{out}.T")], loc=op.loc)
            new = self.lower(rw, lin, a, None)
            if new is None:
                return None
            back = rw.build("nn.transpose", [lin.result().name], {"perm": perm}, results=[out],
                            loc=op.loc)
            return [xt, *new, back]
        return None


def _choice_attrs(op: Op) -> dict:
    """The select-strategy attributes of ``op``, for the layer that replaces it."""
    return {k: op.attrs[k] for k in ("strategy", "method") if k in op.attrs}


def _augmented(rw: Rewriter, op: Op, w: np.ndarray, b: np.ndarray | None):
    x = op.operand(0)
    ops: list[Op] = []
    if b is not None:
        aug = rw.build("host.augment", [x], {"value": 1.0}, results=[rw.fresh(f"{x}.aug")], loc=op.loc)
        ops.append(aug)
        x = aug.result().name
        w = np.concatenate([w, b.reshape(-1, 1).astype(w.dtype)], axis=1)
    return ops, x, w


def lower_chain(rw: Rewriter, chain: list[Op], methods: list[str], threshold: float,
                signs: str) -> list[Op]:
    """Dense layers as one kernel: block encodings applied one after another (one layer: the
    ``block-encoding`` lowering in the module docstring).

    Every layer but the last carries the constant 1 (bias) and the offset t forward in extra
    rows, so all biases and the final sign offset stay exact: intermediate blocks are
    ``[[W_j, b_j, 0], [0, 1, 0], [0, 0, 1]]``, the last ``[W_k | b_k | κ·1]``. The scale is the
    product of the alphas; the flags of all blocks must read 0.
    """
    from qlower.blocks.layout import block_layout
    from qlower.blocks.registry import plan_block

    first, last = chain[0], chain[-1]
    out = last.result().name
    loc = tuple(dict.fromkeys(loc for op in chain for loc in op.loc))
    weights = [rw.constant(op.operand(1)).astype(np.float64) for op in chain]
    biases = [rw.constant(op.operand(2)) if op.operand(2) is not None else None for op in chain]
    aug = any(b is not None for b in biases)
    off = signs == "offset"
    extra = int(aug) + int(off)
    mats = []
    for j, (w, b) in enumerate(zip(weights, biases)):
        M, N = w.shape
        if j < len(chain) - 1:
            a = np.zeros((M + extra, N + extra))
            a[:M, :N] = w
            if aug:
                a[:M, N] = 0.0 if b is None else b
                a[M, N] = 1.0
            if off:
                a[-1, -1] = 1.0
        else:
            a = np.zeros((M, N + extra))
            a[:, :N] = w
            if aug and b is not None:
                a[:, N] = b
        mats.append(a)
    x = first.operand(0)
    ops: list[Op] = []
    if aug:
        op = rw.build("host.augment", [x], {"value": 1.0}, results=[rw.fresh(f"{x}.aug")], loc=loc)
        ops.append(op)
        x = op.result().name
    t = None
    kappa = 0.0
    if off:
        last_w = mats[-1][:, : mats[-1].shape[1] - 1]
        kappa = float(np.max(np.abs(last_w)))
        gain = 1.0  # ‖[y_j; 1]‖ <= gain · ‖[x; 1]‖
        for a in mats[:-1]:
            gain *= float(np.linalg.norm(a[:-1, :-1], 2))
        bound = float(np.max(np.linalg.norm(last_w, axis=1))) * gain / kappa
        mats[-1][:, -1] = kappa
        o = rw.build("host.offset", [x], {"bound": bound}, results=[rw.fresh(f"{out}.offset")], loc=loc)
        t = o.result().name
        app = rw.build("host.append", [x, t], results=[rw.fresh(f"{out}.shifted")], loc=loc)
        ops += [o, app]
        x = app.result().name
    norm = rw.build("host.norm", [x], results=[rw.fresh(f"{x}.norm")], loc=loc)
    ops.append(norm)
    dtype = rw.tensor_type(out).dtype
    plans = [plan_block(a.astype(dtype.numpy), m, threshold) for a, m in zip(mats, methods)]
    first_method, first_attrs = plans[0]
    size = 1 << block_layout(first_method, *mats[0].shape, terms=first_attrs.get("terms")).input
    ang = rw.build("host.amplitude_angles", [x], {"size": size}, results=[rw.fresh(f"{out}.angles")], loc=loc)
    state = rw.build("q.encode.amplitude", [ang.result().name], {"size": size},
                     results=[rw.fresh(f"{out}.state")], loc=loc)
    ops += [ang, state]
    alpha = 1.0
    for op, a, (method, attrs) in zip(chain, mats, plans):
        w_name = rw.add_constant(a.astype(dtype.numpy), f"{op.operand(1)}.block")
        state = rw.build(f"q.block.{method}", [state.result().name, w_name], attrs,
                         results=[rw.fresh(f"{out}.encoded")], loc=op.loc)
        ops.append(state)
        alpha *= attrs["alpha"]
    rd = rw.build("q.readout", [state.result().name],
                  {"size": int(mats[-1].shape[0]), "nonnegative": off},
                  results=[rw.fresh(f"{out}.psi")], loc=loc)
    alpha_c = rw.add_constant(np.array(alpha, dtype=np.float64), f"{out}.alpha")
    y = rw.build("host.rescale", [rd.result().name, norm.result().name, alpha_c] + ([t] if t else []),
                 {"dtype": dtype, "shift": kappa}, results=[out], loc=loc)
    return ops + [rd, y]


def _prep_cnots(qubits: int) -> int:
    """CNOTs of the symbolic amplitude encoding on ``qubits`` (``q.encode.amplitude``)."""
    return (1 << qubits) - qubits - 1


def _augmented_matrix(w: np.ndarray, b: np.ndarray | None, off: bool) -> np.ndarray:
    """``[W | b | κ1]`` (the columns present): what the augmented form block-encodes."""
    cols = [w]
    if b is not None:
        cols.append(b.reshape(-1, 1))
    if off:
        kappa = float(np.max(np.abs(np.concatenate(cols, axis=1))))
        cols.append(np.full((w.shape[0], 1), kappa))
    return np.concatenate(cols, axis=1)


def select_form(w: np.ndarray, b: np.ndarray | None, method: str, threshold: float,
                signs: str, force: bool = False) -> tuple[str, dict] | None:
    """``(method, attrs)`` of the selector form (``qlower/blocks/select.py``) when it costs
    fewer CNOTs than the augmented columns, else None (the augmented form).

    The method is the one the augmented matrix gets (``auto`` resolved as before); only
    methods with a selector form (fable; svd and dilation, whose alpha is ‖W‖₂) and real
    weights take it. It wins when ``N`` plus the extra columns crosses a power of two (the
    augmented block then pads to 2N columns); otherwise the extra columns are free and the
    augmented form stays. ``force`` takes it whenever it applies.
    """
    from qlower.blocks.layout import block_layout
    from qlower.blocks.registry import as_matrix, block_method, plan_block
    from qlower.blocks.select import select_constants, select_kind, tail_resources

    off = signs == "offset"
    if b is None and not off:
        return None  # nothing to carry
    if np.iscomplexobj(w) or np.iscomplexobj(b) or not np.any(w):
        return None  # (all-zero weights: the columns form encodes the bias alone)
    W = as_matrix(w.astype(np.float64))
    aug = _augmented_matrix(W, None if b is None else b.astype(np.float64), off)
    try:
        m_aug, attrs_aug = plan_block(aug, method, threshold)
    except ValueError:
        return None
    kind = select_kind(m_aug)
    if kind is None:
        return None
    entry = block_method(m_aug)
    try:
        _, attrs = plan_block(W, m_aug, threshold)
        entry.check_size(*W.shape, attrs)
    except ValueError:
        return None
    lay = block_layout(m_aug, *W.shape, terms=None)
    if kind == "singular" and lay.output < 1:
        return None  # a single output's sign has no tree to carry it
    if lay.input < 1:
        return None  # a one-entry input: the selector's own angle would carry x's sign
    if force:
        return m_aug, attrs
    k = select_constants(W, m_aug, attrs)
    tail = tail_resources(kind, k.in_qubits, k.out_qubits, k.base if kind == "singular" else None)
    lay_aug = block_layout(m_aug, *aug.shape, terms=None)
    cost_aug = entry.cost(aug, attrs_aug).cnots + _prep_cnots(max(1, lay_aug.input))
    cost_sel = entry.cost(W, attrs).cnots + tail.cnots + _prep_cnots(lay.input + 1)
    return (m_aug, attrs) if cost_sel < cost_aug else None


def lower_select(rw: Rewriter, op: Op, w: np.ndarray, b: np.ndarray | None, method: str,
                 attrs: dict, signs: str) -> list[Op]:
    """The selector form of ``y = x Wᵀ + b`` (``qlower/blocks/select.py``)::

        %p, %S, %tau = host.select_params(%x, %xi, %rownorms, %base?, %b?) {...}
        %s0  = q.encode.amplitude(%p) {size = 2**(n+1), extra = K}
        %s1  = q.block.select(%s0, %W, %p) {method, alpha, threshold, first}
        %psi = q.readout(%s1) {size = M, nonnegative}
        %y   = host.rescale(%psi, %S, %one, %tau) {shift = 1.0}      y = S ψ − τ
    """
    from qlower.blocks.registry import as_matrix
    from qlower.blocks.select import select_constants, tail_size

    out, loc = op.result().name, op.loc
    off = signs == "offset"
    W = as_matrix(w.astype(np.float64))
    k = select_constants(W, method, attrs)
    size = 1 << k.in_qubits
    rows = 1 << k.out_qubits
    xi = rw.add_constant(k.xi, f"{out}.xi")
    rn = rw.add_constant(np.linalg.norm(W, axis=1), f"{out}.rownorms")
    base = rw.add_constant(k.base, f"{out}.base") if k.kind == "column" else None
    sp = rw.build("host.select_params", [op.operand(0), xi, rn, base,
                                         op.operand(2) if b is not None else None],
                  {"kind": k.kind, "alpha": float(attrs["alpha"]), "offset": off, "size": size,
                   "rows": rows},
                  results=[rw.fresh(f"{out}.params"), rw.fresh(f"{out}.scale"),
                           rw.fresh(f"{out}.tau")], loc=loc)
    params, scale, tau = sp.result_names
    extra = tail_size(k.kind, k.out_qubits)
    s0 = rw.build("q.encode.amplitude", [params], {"size": 2 * size, "extra": extra},
                  results=[rw.fresh(f"{out}.state")], loc=loc)
    block_attrs = {"method": method, "alpha": float(attrs["alpha"])}
    if "threshold" in attrs:
        block_attrs["threshold"] = float(attrs["threshold"])
    block_attrs["first"] = 2 * size - 1
    s1 = rw.build("q.block.select", [s0.result().name, op.operand(1), params], block_attrs,
                  results=[rw.fresh(f"{out}.encoded")], loc=loc)
    rd = rw.build("q.readout", [s1.result().name], {"size": int(W.shape[0]), "nonnegative": off},
                  results=[rw.fresh(f"{out}.psi")], loc=loc)
    one = rw.add_constant(np.array(1.0, dtype=np.float64), f"{out}.one")
    dtype = rw.tensor_type(out).dtype
    y = rw.build("host.rescale", [rd.result().name, scale, one] + ([tau] if off else []),
                 {"dtype": dtype, "shift": 1.0 if off else 0.0}, results=[out], loc=loc)
    return [sp, s0, s1, rd, y]


MAX_VARIATIONAL_QUBITS = 6  # the fit's cost grows as 4^q: beyond this it takes minutes


def lower_variational(rw: Rewriter, op: Op, w: np.ndarray, b: np.ndarray | None, signs: str,
                      layers: int, min_fidelity: float, rows: np.ndarray | None = None
                      ) -> list[Op]:
    """``y = x Wᵀ + b`` by a fitted hardware-efficient ansatz (``qlower.blocks.variational``)::

        (the columns form's host ops: [x; 1; t], its norm and amplitude angles)
        %s0  = q.encode.amplitude(%ang) {size = 2**n}
        %s1  = q.block.variational(%s0, %angles) {alpha = scale, phase, flags = 1, fidelity}
        %psi = q.readout(%s1) {size = M, nonnegative}
        %y   = host.rescale(%psi, %norm, %alpha, %t) {shift = κ}

    The ansatz (one flag, n data qubits) is fitted to ``W'' = [W | b | κ1]`` over the whole
    block (the basis inputs: exact on every input when the fidelity is 1), or with ``rows``
    (the layer's input on the calibration inputs, ``[B, N]``) on their augmented rows
    ``[x; 1; t]`` (``fit_calibrated``), by L-BFGS with adjoint gradients; ``layers`` fixes L,
    0 takes the fewest up to 12 that reach ``min_fidelity``. A fit that does not reach it is
    refused in one line.
    """
    from qlower.blocks.variational import LayerMap, choose_layers, fit

    name = layer_names(op)[0]
    out, loc = op.result().name, op.loc
    off = signs == "offset"
    W = _augmented_matrix(w.astype(np.float64), None if b is None else b.astype(np.float64), off)
    kappa = float(W[0, -1]) if off else 0.0
    M, N = W.shape
    n = max(1, (max(M, N) - 1).bit_length())
    if n + 1 > MAX_VARIATIONAL_QUBITS:
        raise UnsupportedError(
            f"node '{name}': a variational fit of a {M}x{N} block needs {n + 1} qubits; fits "
            f"are built up to {MAX_VARIATIONAL_QUBITS} here (use block-encoding)")
    info: dict = {}
    if rows is not None:
        bound = float(np.max(np.linalg.norm(W[:, :-1], axis=1))) / kappa if off else 0.0
        f, info = fit_calibrated(name, W, augmented_rows(rows, b is not None, off, bound),
                                 layers, min_fidelity)
    else:
        problem = LayerMap(W, None, n_flags=1)
        try:
            if layers:
                f = fit(problem, layers)
                if f.fidelity < min_fidelity:
                    raise ValueError(f"fidelity {f.fidelity:.6f} at L = {layers} is below "
                                     f"--min-fidelity {min_fidelity}")
            else:
                _, L, _, history = choose_layers(problem, min_fidelity=min_fidelity,
                                                 max_layers=12)
                f = history[-1]
        except ValueError as e:
            raise UnsupportedError(f"node '{name}': variational fit: {e}") from None
    ops: list[Op] = []
    x = op.operand(0)
    if b is not None:
        aug = rw.build("host.augment", [x], {"value": 1.0}, results=[rw.fresh(f"{x}.aug")], loc=loc)
        ops.append(aug)
        x = aug.result().name
    t = None
    if off:
        bound = float(np.max(np.linalg.norm(W[:, :-1], axis=1))) / kappa
        o = rw.build("host.offset", [x], {"bound": bound}, results=[rw.fresh(f"{out}.offset")],
                     loc=loc)
        t = o.result().name
        app = rw.build("host.append", [x, t], results=[rw.fresh(f"{out}.shifted")], loc=loc)
        ops += [o, app]
        x = app.result().name
    norm = rw.build("host.norm", [x], results=[rw.fresh(f"{x}.norm")], loc=loc)
    size = 1 << n
    ang = rw.build("host.amplitude_angles", [x], {"size": size}, results=[rw.fresh(f"{out}.angles")],
                   loc=loc)
    state = rw.build("q.encode.amplitude", [ang.result().name], {"size": size},
                     results=[rw.fresh(f"{out}.state")], loc=loc)
    angles = rw.add_constant(np.asarray(f.angles, dtype=np.float64), f"{out}.ansatz")
    block = rw.build("q.block.variational", [state.result().name, angles],
                     {"alpha": float(f.scale), "phase": float(f.phase), "flags": 1,
                      "fidelity": float(min(1.0, f.fidelity)), **info},
                     results=[rw.fresh(f"{out}.encoded")], loc=loc)
    rd = rw.build("q.readout", [block.result().name], {"size": int(M), "nonnegative": off},
                  results=[rw.fresh(f"{out}.psi")], loc=loc)
    alpha_c = rw.add_constant(np.array(f.scale, dtype=np.float64), f"{out}.alpha")
    dtype = rw.tensor_type(out).dtype
    y = rw.build("host.rescale", [rd.result().name, norm.result().name, alpha_c] + ([t] if t else []),
                 {"dtype": dtype, "shift": kappa}, results=[out], loc=loc)
    return ops + [norm, ang, state, block, rd, y]


def check_amplify_options(p: LowerLinear) -> None:
    """The amplification options of ``lower-linear`` (``lower_amplified``), checked."""
    if p.amplify not in ("none", "fixed-point", "qsvt"):
        raise PipelineError(f"lower-linear: amplify must be 'none', 'fixed-point' or 'qsvt', "
                            f"got '{p.amplify}'")
    if not 0 <= p.success_bound <= 1:
        raise PipelineError(f"lower-linear: success-bound must be in [0, 1], got "
                            f"{p.success_bound}")
    if not 0 < p.amplify_error < 1:
        raise PipelineError(f"lower-linear: amplify-error must be in (0, 1), got "
                            f"{p.amplify_error}")
    if p.amplify != "none" and p.signs != "offset":
        raise PipelineError("lower-linear: --amplify reads outputs against reference rows of "
                            "the offset column; it needs --signs offset")
    if p.amplify != "none" and p.compose:
        raise PipelineError("lower-linear: --amplify amplifies one layer's kernel; it does not "
                            "combine with --compose")


def lower_amplified(rw: Rewriter, op: Op, w: np.ndarray, b: np.ndarray | None, method: str,
                    p: LowerLinear) -> list[Op]:
    """``y = x Wᵀ + b`` as an amplified kernel read against reference rows
    (``qlower/ir/dialects/quantum_amplify.py``, ``qlower/blocks/amplify.py``)::

        %xa  = host.augment(%x) {value = 1.0}              (only with a bias: W' = [W | b])
        %t   = host.offset(%xa) {bound = B}                t = B‖x'‖, B = max_i ‖W'_i‖/κ
        %xs  = host.append(%xa, %t)
        %ang = host.amplitude_angles(%xs) {size = 2**n}
        %s0  = q.encode.amplitude(%ang) {size = 2**n}
        %s1  = q.block.<method>(%s0, %W3) {alpha}          W‴ = [[W', κ1], [0, κ1_R]]
        %s2  = q.amplify(%s1) {kind, phases, bound = w, delta}
        %p   = q.probabilities(%s2) {size = M + R}
        %y   = host.reference_rescale(%p, %t) {rows = M, scale = κ}

    ``fixed-point``: Yoder–Low–Chuang for ``p ≥ w`` to error δ = ``--amplify-error``.
    ``qsvt``: uniform singular-value amplification by ``1/(σ_max(1+δ))``, σ_max = ‖W‴‖₂/α,
    δ = ``--amplify-error`` its margin, relative error ``QSVT_EPSILON``.

    κ = max|W'|. The R reference rows (the padding of M up to the next power of two above it)
    each read ``κt``, host-known, as big as the largest entry of the block (so α does not grow)
    and about as big as an offset output ``(W'x')_i + κt`` (so they hold about R/(M+R) of the
    post-selected shots: about half). Amplification keeps the post-selected direction, so the
    ratio to them gives y whatever the new norm. The bound w is ``--success-bound`` or, by
    default, ``success_lower_bound`` (what the offset and reference rows guarantee for every
    input).
    """
    from qlower.blocks.amplify import (
        fixed_point_length,
        fixed_point_phases,
        qsvt_phases,
        reference_rows,
        success_lower_bound,
    )
    from qlower.blocks.layout import block_layout
    from qlower.blocks.registry import plan_block

    name = layer_names(op)[0]
    out, loc = op.result().name, op.loc
    W = w.astype(np.float64)
    if b is not None:
        W = np.concatenate([W, b.reshape(-1, 1).astype(np.float64)], axis=1)
    M, N = W.shape
    kappa = float(np.max(np.abs(W)))
    bound = float(np.max(np.linalg.norm(W, axis=1))) / kappa
    R = reference_rows(M)
    W3 = np.zeros((M + R, N + 1))
    W3[:M, :N] = W
    W3[:, N] = kappa
    dtype = rw.tensor_type(out).dtype
    m, attrs = plan_block(W3.astype(dtype.numpy), method, p.threshold)
    size = 1 << block_layout(m, *W3.shape, terms=attrs.get("terms")).input
    w_min = p.success_bound or success_lower_bound(W, kappa, bound, attrs["alpha"], R)
    try:
        if p.amplify == "qsvt":  # W/α → W/α′, α′ = ‖W‴‖₂(1 + δ)
            sigma_max = min(1.0, float(np.linalg.norm(W3, 2)) / attrs["alpha"])
            phases = qsvt_phases(sigma_max, p.amplify_error)
        else:
            L = fixed_point_length(min(1.0, w_min), p.amplify_error)
            phases = fixed_point_phases(L, p.amplify_error)
    except ValueError as e:
        raise UnsupportedError(f"node '{name}': {e} (give a larger --success-bound or "
                               f"--amplify-error)") from None
    ops: list[Op] = []
    x = op.operand(0)
    if b is not None:
        aug = rw.build("host.augment", [x], {"value": 1.0}, results=[rw.fresh(f"{x}.aug")],
                       loc=loc)
        ops.append(aug)
        x = aug.result().name
    o = rw.build("host.offset", [x], {"bound": bound}, results=[rw.fresh(f"{out}.offset")],
                 loc=loc)
    t = o.result().name
    app = rw.build("host.append", [x, t], results=[rw.fresh(f"{out}.shifted")], loc=loc)
    ang = rw.build("host.amplitude_angles", [app.result().name], {"size": size},
                   results=[rw.fresh(f"{out}.angles")], loc=loc)
    state = rw.build("q.encode.amplitude", [ang.result().name], {"size": size},
                     results=[rw.fresh(f"{out}.state")], loc=loc)
    w_name = rw.add_constant(W3.astype(dtype.numpy), f"{op.operand(1)}.block")
    block = rw.build(f"q.block.{m}", [state.result().name, w_name], attrs,
                     results=[rw.fresh(f"{out}.encoded")], loc=loc)
    amp = rw.build("q.amplify", [block.result().name],
                   {"kind": p.amplify, "phases": tuple(float(v) for v in phases.reshape(-1)),
                    "bound": float(min(1.0, w_min)), "delta": float(p.amplify_error)},
                   results=[rw.fresh(f"{out}.amplified")], loc=loc)
    pr = rw.build("q.probabilities", [amp.result().name], {"size": M + R},
                  results=[rw.fresh(f"{out}.p")], loc=loc)
    y = rw.build("host.reference_rescale", [pr.result().name, t],
                 {"rows": M, "scale": kappa, "dtype": dtype}, results=[out], loc=loc)
    return ops + [o, app, ang, state, block, amp, pr, y]
def check_variational_options(p: LowerLinear) -> None:
    """The options of the calibrated fit and the variational preparation."""
    if p.prep not in ("mottonen", "variational"):
        raise PipelineError(f"lower-linear: prep must be 'mottonen' or 'variational', got "
                            f"'{p.prep}'")
    if p.prep == "variational" and p.carry == "select":
        raise PipelineError("lower-linear: --prep variational loads a layer's input as columns "
                            "[x; 1; t]; it does not combine with --carry select (whose "
                            "preparation a tail reads too)")
    if p.prep_layers < 0 or p.prep_layers > 64:
        raise PipelineError(f"lower-linear: prep-layers must be in 0..64, got {p.prep_layers}")


def calibration_rows(p: LowerLinear, graph: Graph) -> dict[str, np.ndarray] | None:
    """The calibration run's values of the inputs of the layers lowered variationally (name →
    ``[B, N]`` rows), when ``--calibration`` is given; None otherwise. A layer whose input the
    run does not hold (``A @ X``: its rows are X's transposed columns) is fitted on the block."""
    if not p.calibration:
        return None
    layers = [op for op in graph.ops if op.name in ("nn.linear", "nn.matmul")
              and "strategy" in op.attrs and op.attr("strategy", None) == "variational"]
    if not layers:
        return None
    from qlower.passes.calibration import calibration_values, layer_rows

    values = calibration_values(graph, p.calibration)
    out = {}
    for op in layers:
        if op.name == "nn.matmul" and graph.dense(op.operand(0)) is not None:
            continue  # A @ X
        x = op.operand(0)
        t = graph.type_of(x)
        width = t.dims[-1] if t.rank else None
        rows = layer_rows(values, x, width) if isinstance(width, int) else None
        if rows is not None:
            out[x] = rows
    return out


def augmented_rows(rows: np.ndarray, bias: bool, offset: bool, bound: float) -> np.ndarray:
    """The rows ``[x; 1; t]`` (t = bound·‖[x; 1]‖) the kernel prepares, as its host ops make
    them from the layer's input rows ``x``."""
    x = np.asarray(rows, dtype=np.float64)
    if bias:
        x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    if offset:
        x = np.concatenate([x, bound * np.linalg.norm(x, axis=1, keepdims=True)], axis=1)
    return x


def held_out_split(rows: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(fit rows, held-out rows)``: every fourth row is held out when at least ``2·width``
    rows are given (then the fit rows still span as many directions as the block has inputs
    when the data does); fewer rows are all fitted and none held out."""
    if rows.shape[0] >= 2 * width:
        keep = np.arange(rows.shape[0]) % 4 != 3
        return rows[keep], rows[~keep]
    return rows, None


def map_fidelity(W: np.ndarray, rows: np.ndarray, f) -> float:
    """1 − e², e = ‖Y − scale·e^{i·phase}·A‖_F/‖Y‖_F on ``rows`` (normalised) with the fit's own
    scale and phase: the read-out's relative error there, which predicts a run's."""
    from qlower.blocks.variational import LayerMap, hea_apply

    prob = LayerMap(W, rows, n_flags=1)
    a = hea_apply(f.angles, prob.initial_states())[:, : prob._y.shape[1]]
    y = prob._y
    r = y - f.scale * np.exp(1j * f.phase) * a
    return float(1.0 - np.vdot(r, r).real / np.vdot(y, y).real)


def fit_calibrated(name: str, W: np.ndarray, rows: np.ndarray, layers: int,
                   min_fidelity: float):
    """Fit ``LayerMap(W, rows)`` (the stacked objective of ``qlower.blocks.variational``: one
    scale and phase for all rows, so F = 1 fixes the map on their span) on the rows kept by
    ``held_out_split``; ``layers`` fixes L, 0 tries L = 1…12 until the fit rows and the
    held-out rows both reach ``min_fidelity``. Returns ``(Fit, attrs)`` with attrs ``rows``
    (fitted) and ``held_out`` (their fidelity, ``map_fidelity``), or raises the one-line
    refusal."""
    from qlower.blocks.variational import LayerMap, fit

    rows = rows[np.linalg.norm(rows, axis=1) > 0]
    if not rows.shape[0]:
        raise UnsupportedError(f"node '{name}': variational fit: every calibration row of the "
                               "layer's input is zero")
    fit_rows, held = held_out_split(rows, W.shape[1])
    try:
        problem = LayerMap(W, fit_rows, n_flags=1)
    except ValueError as e:
        raise UnsupportedError(f"node '{name}': variational fit: {e}") from None
    best = None
    for L in ([layers] if layers else range(1, 13)):
        f = fit(problem, L, stop_fidelity=min_fidelity if not layers else 1.0 - 1e-10)
        h = map_fidelity(W, held, f) if held is not None else None
        worst = min(f.fidelity, h if h is not None else 1.0)
        if best is None or worst > best[2]:
            best = (f, h, worst)
        if worst >= min_fidelity:
            break
    f, h, worst = best
    where = f"{fit_rows.shape[0]} calibration rows" + (
        f", {h:.6f} on {held.shape[0]} held-out rows" if h is not None else "")
    if worst < min_fidelity:
        at = f"L = {layers}" if layers else "L <= 12"
        raise UnsupportedError(
            f"node '{name}': variational fit: fidelity {f.fidelity:.6f} on {where} at "
            f"{at} (best L = {f.layers}) is below --min-fidelity {min_fidelity}")
    info = {"rows": int(fit_rows.shape[0])}
    if h is not None:
        info["held_out"] = float(min(1.0, max(0.0, h)))
    return f, info


def lower_amplitude_encoding(rw: Rewriter, op: Op, w: np.ndarray, b: np.ndarray | None) -> list[Op]:
    out = op.result().name
    loc = op.loc
    ops, x, wa = _augmented(rw, op, w, b)
    norm = rw.build("host.norm", [x], results=[rw.fresh(f"{x}.norm")], loc=loc)
    ops.append(norm)
    nx = norm.result().name
    size = 1 << qubits_for(wa.shape[1])
    w_name = rw.add_constant(wa, f"{op.operand(1)}.rows")
    ang = rw.build("host.overlap_angles", [x, w_name], {"size": size},
                   results=[rw.fresh(f"{out}.angles")], loc=loc)
    enc = rw.build("q.encode.amplitude", [ang.result().name], {"size": 2 * size},
                   results=[rw.fresh(f"{out}.state")], loc=loc)
    ov = rw.build("q.overlap", [enc.result().name], results=[rw.fresh(f"{out}.overlap")], loc=loc)
    norms = np.linalg.norm(wa.astype(np.float64), axis=1)
    nw = rw.add_constant(norms, f"{out}.row_norms")
    dtype = rw.tensor_type(out).dtype
    y = rw.build("host.rescale", [ov.result().name, nx, nw], {"dtype": dtype}, results=[out], loc=loc)
    return ops + [ang, enc, ov, y]


__all__ = ["LowerLinear", "augmented_rows", "fit_calibrated", "held_out_split", "map_fidelity"]
