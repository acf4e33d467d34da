"""Attention as kernels (``nn.attention`` with ``strategy = quantum``).

Per query row ``i`` of every batch index and head, two kernels (``ir/dialects/quantum_attention.py``
for the host ops). ``q``, ``k`` and ``v`` are activations: their block encodings are FABLE
blocks of data (``qlower.blocks.fable_data``) whose angles the host computes per matrix, carried
as circuit parameters beside the state preparation's.

**Scores** ``q_i·k_j``: ``[q_i; t]`` is amplitude-encoded and a data block of ``[K | κ1]``
(``κ = max|K|``, ``t = max_j‖k_j‖/κ · ‖q_i‖``) makes every output non-negative, so shots read it
without signs; ``raw = α_K ‖[q; t]‖ ψ − κ t = K q_i``::

    %t    = host.data_offset(%q, %k)
    %qa   = host.append(%q, %t)
    %nq   = host.norm(%qa)
    %aq   = host.amplitude_angles(%qa) {size = 2**n}
    %fk, %ak, %kk = host.data_fable(%k) {offset = true}
    %pk   = host.concat_params(%aq, %fk)
    %s0   = q.encode.amplitude(%pk) {extra = 2**(m+n'), size = 2**n}
    %s1   = q.block.data_fable(%s0, %pk) {cols = d + 1, first = 2**n - 1, rows = Lk}
    %psi  = q.readout(%s1) {nonnegative = true, size = Lk}
    %raw  = host.rescale_rows(%psi, %nq, %ak, %kk, %t)

**Scores as the op defines them** (scale, soft cap, bias, mask, causal: host elementwise work
on the read-out scores) — ``host.attention_scores``.

**Output** ``o_i = Vᵀ p``: the exact softmax state with ``power = 1`` (flag multiplexor,
``cos(θ_j/2) = e^{s_j − max s}``: amplitudes ``e^{s − max s}/√2^ℓ`` at flag = 0), then a data
block of ``(V + c)ᵀ``, ``c = max|V|``: every entry is non-negative, and since ``Σ p = 1``,
``(V + c)ᵀ p = Vᵀp + c``. With the softmax normaliser ``Z = Σ e^{s − max s}``::

    %as   = host.softmax_angles(%s) {power = 1.0, size = 2**ℓ}
    %z    = host.softmax_normaliser(%s)
    %fv, %av, %cv = host.data_fable(%v) {shift = true, transpose = true}
    %pv   = host.concat_params(%as, %fv)
    %t0   = q.encode.softmax(%pv) {extra = ..., power = 1.0, size = 2**ℓ}
    %t1   = q.block.data_fable(%t0, %pv) {cols = Lk, first = 2**ℓ, rows = dv}
    %phi  = q.readout(%t1) {nonnegative = true, size = dv}
    %o    = host.attention_output(%phi, %z, %av, %cv) {size = 2**ℓ}    o = α_V √2^ℓ φ / Z − c

Every scale factor — ``α_K``, ``κ``, ``t``, ``‖[q; t]‖``, ``Z``, ``α_V``, ``c`` — is a value in
the lowered IR. Key/value heads must equal the query heads or be one shared head.

``qsp`` — the value kernel's state is the QSP softmax state with the amplitude target
``0.9·e^{R(a² − 1)}`` (``u_k = f_d(a_k) ≈ 0.9·e^{s_k − max s}``, ``qlower.blocks.qsp.
attention_qsp_plan``), and ``Z = Σ_k u_k/√n`` (``host.qsp_normaliser``, the polynomial the
phases implement, evaluated by the host) makes ``o = α_V φ/Z − c = Vᵀ(u/Σu)`` exactly: the
kernel's distribution ``u/Σu`` is within ``tv_bound`` (≤ ``--epsilon``) of softmax in total
variation, so every output is within ``2·max|V|·tv_bound`` of attention's (scores spanning at
most ``--score-range``).
"""

from __future__ import annotations

from qlower.blocks.fable_data import data_layout
from qlower.blocks.layout import ceil_log2
from qlower.blocks.softmax import index_qubits
from qlower.ir import Op
from qlower.ir.dialects.quantum_attention import encoded_shape
from qlower.passes.lower_quantum import known_sweeps, lowering, unsupported
from qlower.passes.rewrite import Rewriter


def _static(rw: Rewriter, op: Op, name: str, what: str) -> tuple:
    t = rw.tensor_type(name)
    dims = t.dims[-2:]
    if not all(isinstance(d, int) for d in dims):
        raise unsupported(op, "quantum", f"the {what}'s sequence and head sizes must be known "
                          f"before running, got {t}")
    return dims


@lowering("nn.attention", "quantum")
def lower_attention(rw: Rewriter, op: Op, options) -> list[Op]:
    return _lower(rw, op, options, "quantum")


@lowering("nn.attention", "qsp")
def lower_attention_qsp(rw: Rewriter, op: Op, options) -> list[Op]:
    return _lower(rw, op, options, "qsp")


def _lower(rw: Rewriter, op: Op, options, strategy: str) -> list[Op]:
    q, k, v = op.operand(0), op.operand(1), op.operand(2)
    bias, mask = op.operand(3), op.operand(4)
    out = op.result().name
    tq, tk = rw.tensor_type(q), rw.tensor_type(k)
    dtype = tq.dtype
    if tq.rank == 4 and tk.dims[1] not in (1, tq.dims[1]):
        raise unsupported(op, strategy, f"grouped-query attention ({tq.dims[1]} query heads "
                          f"on {tk.dims[1]} key heads) is not lowered; repeat the key/value heads")
    Lq, d = _static(rw, op, q, "query")
    Lk, _ = _static(rw, op, k, "key")
    _, dv = _static(rw, op, v, "value")
    known_sweeps(rw, op, "quantum", q)
    loc = op.loc

    def build(name, operands, attrs=None, base=None, results=None):
        res = results or [rw.fresh(f"{out}.{base}")]
        return rw.build(name, operands, attrs or {}, results=res, loc=loc)

    # -- scores: K q per query row, on [q; t] and [K | κ1]
    t = build("host.data_offset", [q, k], base="t")
    qa = build("host.append", [q, t.result().name], base="qt")
    nq = build("host.norm", [qa.result().name], base="qt.norm")
    size_q = 1 << max(1, ceil_log2(d + 1))
    aq = build("host.amplitude_angles", [qa.result().name], {"size": size_q}, base="q.angles")
    fk = build("host.data_fable", [k], {"offset": True}, results=[
        rw.fresh(f"{out}.k.angles"), rw.fresh(f"{out}.k.alpha"), rw.fresh(f"{out}.k.kappa")])
    mk, nk = data_layout(*encoded_shape(Lk, d, True, False))
    pk = build("host.concat_params", [aq.result().name, fk.result_names[0]], base="k.params")
    s0 = build("q.encode.amplitude", [pk.result().name],
               {"size": size_q, "extra": 1 << (mk + nk)}, base="k.state")
    s1 = build("q.block.data_fable", [s0.result().name, pk.result().name],
               {"rows": Lk, "cols": d + 1, "first": size_q - 1}, base="k.encoded")
    psi = build("q.readout", [s1.result().name], {"size": Lk, "nonnegative": True}, base="k.psi")
    raw = build("host.rescale_rows", [psi.result().name, nq.result().name, fk.result_names[1],
                                      fk.result_names[2], t.result().name],
                {"dtype": dtype}, base="qk")
    # -- the scores as nn.attention defines them
    terms = [raw.result().name, bias, mask]
    while terms[-1] is None:
        terms.pop()
    s = build("host.attention_scores", terms,
              {"scale": op.attr("scale"), "causal": op.attr("causal"),
               "softcap": op.attr("softcap"), "fill": op.attr("fill")}, base="scores")
    # -- output: the softmax state (amplitudes ∝ p) and a data block of (V + c)ᵀ
    ell = index_qubits(Lk)
    size_s = 1 << ell
    fv = build("host.data_fable", [v], {"shift": True, "transpose": True}, results=[
        rw.fresh(f"{out}.v.angles"), rw.fresh(f"{out}.v.alpha"), rw.fresh(f"{out}.v.shift")])
    mv, nv = data_layout(*encoded_shape(Lk, dv, False, True))
    extra = 1 << (mv + nv)
    if strategy == "qsp":
        from qlower.blocks.qsp import attention_qsp_plan

        try:
            plan = attention_qsp_plan(options.score_range, options.epsilon, Lk)
        except ValueError as e:
            raise unsupported(op, strategy, str(e)) from None
        phases = tuple(float(p) for p in plan.phases)
        ang = build("host.qsp_softmax_angles", [s.result().name],
                    {"size": size_s, "range": plan.R}, base="p.angles")
        z = build("host.qsp_normaliser", [s.result().name],
                  {"size": size_s, "range": plan.R, "phases": phases}, base="z")
        own, scale = 2 * size_s - 1, 1
        prep = ("q.encode.softmax_qsp", {"size": size_s, "phases": phases, "range": plan.R,
                                         "poly_error": float(plan.poly_error),
                                         "tv_bound": float(plan.tv_bound), "extra": extra})
    else:
        ang = build("host.softmax_angles", [s.result().name], {"size": size_s, "power": 1.0},
                    base="p.angles")
        z = build("host.softmax_normaliser", [s.result().name], base="z")
        own, scale = size_s, size_s
        prep = ("q.encode.softmax", {"size": size_s, "power": 1.0, "extra": extra})
    pv = build("host.concat_params", [ang.result().name, fv.result_names[0]], base="v.params")
    t0 = build(prep[0], [pv.result().name], prep[1], base="p.state")
    t1 = build("q.block.data_fable", [t0.result().name, pv.result().name],
               {"rows": dv, "cols": Lk, "first": own}, base="v.encoded")
    phi = build("q.readout", [t1.result().name], {"size": dv, "nonnegative": True}, base="v.psi")
    o = rw.build("host.attention_output", [phi.result().name, z.result().name,
                                           fv.result_names[1], fv.result_names[2]],
                 {"size": scale, "empty_rows": op.attr("empty_rows"), "dtype": dtype},
                 results=[out], loc=loc)
    return [t, qa, nq, aq, fk, pk, s0, s1, psi, raw, s, ang, z, fv, pv, t0, t1, phi, o]


__all__ = ["lower_attention"]
