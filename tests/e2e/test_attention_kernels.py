"""nn.attention as kernels (``--strategy nn.attention=quantum``): per attention a scores kernel
(amplitude encoding of ``[q; t]``, a data FABLE block of ``[K | κ1]``) and a value kernel (the
exact softmax state, a data FABLE block of ``(V + c)ᵀ``), swept over the query rows. The q ops'
semantics, qsim and onnxruntime agree on the torch exports and on hand-built graphs; shots land
within four standard errors; the QASM 3 kernels give qsim's states in Qiskit; the estimate's
CNOTs are the closed forms; grouped-query attention is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from test_quantum_pipeline import save, three_way
from util import cli, make_model

import qlower
from qlower.api import onnxruntime_outputs
from qlower.backends import run_graph
from qlower.errors import QlowerError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
MODELS = Path(__file__).resolve().parents[1] / "models"
QUANTUM = {"nn.attention": "quantum"}
SCORES, VALUES = "amplitude+data-fable", "softmax-exact+data-fable"  # KernelCircuit.method of the two


# -- models ---------------------------------------------------------------------------------------


def attention_op(q, k, v, mask=None, causal=0, heads=None, scale=None, softcap=None, name="att"):
    """ONNX ``Attention`` (opset 23) on inputs q, k, v and, with ``mask = (shape, dtype)``, an
    ``attn_mask`` input m; ``heads = (q_num_heads, kv_num_heads)`` for 3-D inputs."""
    ins = [VI("q", T.FLOAT, list(q)), VI("k", T.FLOAT, list(k)), VI("v", T.FLOAT, list(v))]
    names = ["q", "k", "v"]
    if mask is not None:
        shape, dt = mask
        ins.append(VI("m", T.BOOL if dt is bool else T.FLOAT, list(shape)))
        names.append("m")
    attrs = {"is_causal": causal}
    if heads:
        attrs.update(q_num_heads=heads[0], kv_num_heads=heads[1])
    if scale is not None:
        attrs["scale"] = scale
    if softcap is not None:
        attrs["softcap"] = softcap
    node = H.make_node("Attention", names, ["y"], name=name, **attrs)
    return make_model([node], ins, [VI("y", T.FLOAT, None)], opset=23)


def expanded(q, k, v, scale=0.5, bias=None, mask=None, fill=-np.inf, causal=False):
    """``softmax(where(m, q kᵀ · scale + b [+ causal], fill)) v`` spelled out: Transpose,
    MatMul, Mul, Add, Where, Softmax, MatMul (``b``, ``m`` inputs of the given shapes)."""
    r = len(k)
    perm = [*range(r - 2), r - 1, r - 2]
    ins = [VI("q", T.FLOAT, list(q)), VI("k", T.FLOAT, list(k)), VI("v", T.FLOAT, list(v))]
    inits = [onnx.numpy_helper.from_array(np.array(scale, np.float32), "scale")]
    nodes = [H.make_node("Transpose", ["k"], ["kt"], name="kt", perm=perm),
             H.make_node("MatMul", ["q", "kt"], ["qk"], name="qk"),
             H.make_node("Mul", ["qk", "scale"], ["s"], name="mul")]
    cur = "s"
    if bias is not None:
        ins.append(VI("b", T.FLOAT, list(bias)))
        nodes.append(H.make_node("Add", [cur, "b"], ["sb"], name="bias"))
        cur = "sb"
    if causal:
        lq, lk = q[-2], k[-2]
        tri = np.where(np.arange(lk)[None, :] <= np.arange(lq)[:, None], 0, -np.inf)
        inits.append(onnx.numpy_helper.from_array(tri.astype(np.float32), "tri"))
        nodes.append(H.make_node("Add", [cur, "tri"], ["sc"], name="causal"))
        cur = "sc"
    if mask is not None:
        ins.append(VI("m", T.BOOL, list(mask)))
        inits.append(onnx.numpy_helper.from_array(np.array(fill, np.float32), "fill"))
        nodes.append(H.make_node("Where", ["m", cur, "fill"], ["sm"], name="where"))
        cur = "sm"
    nodes += [H.make_node("Softmax", [cur], ["p"], name="softmax", axis=-1),
              H.make_node("MatMul", ["p", "v"], ["y"], name="pv")]
    return make_model(nodes, ins, [VI("y", T.FLOAT, None)], inits)


def feeds_for(model: onnx.ModelProto, seed=0, batch=2, masks=None) -> dict:
    """Random inputs by the model's declared shapes (a symbolic dim is ``batch``); bool inputs
    from ``masks`` or random with every row keeping a key."""
    rng = np.random.default_rng(seed)
    out = {}
    for vi in model.graph.input:
        t = vi.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else batch for d in t.shape.dim]
        if t.elem_type == T.BOOL:
            m = rng.random(shape) > 0.4
            m[..., 0] = True
            out[vi.name] = (masks or {}).get(vi.name, m)
        else:
            out[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def attention_kernels(program):
    """(scores kernel, value kernel) pairs, in order."""
    ks = [kc for kc in program.kernels if kc.method in (SCORES, VALUES)]
    assert [kc.method for kc in ks] == [SCORES, VALUES] * (len(ks) // 2)
    return list(zip(ks[::2], ks[1::2]))


def agree(path, feeds, rtol=1e-4, **options):
    """three_way, with NaN rows allowed: NaN exactly where onnxruntime has NaN."""
    program = qlower.compile(path, "cirq", **options)
    ref, sim, ort = run_graph(program.graph, feeds), program.run(feeds), onnxruntime_outputs(path, feeds)
    for name, want in ort.items():
        nan = np.isnan(want)
        assert sim[name].shape == want.shape and sim[name].dtype == want.dtype
        assert np.array_equal(np.isnan(ref[name]), nan) and np.array_equal(np.isnan(sim[name]), nan)
        scale = float(np.max(np.abs(want[~nan])))
        assert np.max(np.abs(ref[name] - want)[~nan]) <= 2e-6 * scale
        assert np.max(np.abs(sim[name] - want)[~nan]) <= rtol * scale
    return program


# -- 1. the torch exports -------------------------------------------------------------------------

TORCH = sorted(p for v in ("torch2.13", "torch2.15") for p in (MODELS / v).glob("*.onnx")
               if p.name.startswith(("mha_", "sdpa_", "encoder_")))


def test_the_torch_attention_models_are_all_there():
    assert len(TORCH) == 48


def rows_of(op) -> int:
    """Query rows of an ``nn.attention`` (every axis of its result but the last; symbols = 2)."""
    dims = op.result().tensor_type.dims[:-1]
    return int(np.prod([d if isinstance(d, int) else d.evaluate(dict.fromkeys(d.symbols, 2))
                        for d in dims]))


@pytest.mark.parametrize("path", TORCH, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_torch_attention_three_way(path):
    feeds = feeds_for(onnx.load(path), seed=len(path.stem))
    program = three_way(path, feeds, overrides=QUANTUM)
    (att,) = [op for op in qlower.to_stage(qlower.load(path), "canonical").ops
              if op.name == "nn.attention"]
    # one attention: a scores and a value kernel, both from its node, swept over its query rows
    ((ks, kv),) = attention_kernels(program)
    assert ks.kernel.source == kv.kernel.source == tuple(att.loc)
    sweeps = {k.name: k.sweeps for k in program.run(feeds).kernels}
    assert sweeps[ks.name] == sweeps[kv.name] == rows_of(att)
    # everything else that became a kernel is a dense layer (nn.linear), never the attention
    # (the projections of width d = 2^k carry their bias and offset on a selector qubit)
    assert {kc.method for kc in program.kernels} - {SCORES, VALUES} <= {"svd", "svd-select"}


# -- 2. hand-built graphs: bias, masks, causal, empty rows, 3-D, odd sizes ------------------------

Lq, Lk, D, DV = 3, 5, 3, 2  # odd sizes throughout


def four_d(b, h=2):
    return dict(q=(b, h, Lq, D), k=(b, h, Lk, D), v=(b, h, Lk, DV))


def three_d(b):
    return dict(q=(b, Lq, D), k=(b, Lk, D), v=(b, Lk, DV))


CASES = {
    # ONNX Attention: a float mask is an additive bias; size-1 axes broadcast
    "op-plain": lambda b: attention_op(**four_d(b)),
    "op-bias-1x1xLqxLk": lambda b: attention_op(**four_d(b), mask=((1, 1, Lq, Lk), float)),
    "op-bias-1xHxLqxLk": lambda b: attention_op(**four_d(b), mask=((1, 2, Lq, Lk), float)),
    "op-bias-LqxLk": lambda b: attention_op(**four_d(b), mask=((Lq, Lk), float)),
    "op-bool-mask": lambda b: attention_op(**four_d(b), mask=((b, 1, Lq, Lk), bool)),
    "op-causal": lambda b: attention_op(**four_d(b), causal=1),
    "op-causal-bool-mask": lambda b: attention_op(**four_d(b), mask=((Lq, Lk), bool), causal=1),
    "op-scale-softcap": lambda b: attention_op(**four_d(b), scale=0.8, softcap=1.5),
    "op-3d-one-head": lambda b: attention_op(**three_d(b), heads=(1, 1)),
    "op-3d-two-heads": lambda b: attention_op(q=(b, Lq, 2 * D), k=(b, Lk, 2 * D),
                                              v=(b, Lk, 2 * DV), heads=(2, 2)),
    "op-shared-kv-head": lambda b: attention_op(q=(b, 2, Lq, D), k=(b, 1, Lk, D), v=(b, 1, Lk, DV)),
    # spelled out: MatMul / Softmax / MatMul
    "expanded-3d": lambda b: expanded(**three_d(b)),
    "expanded-bias-Bx1x1xLk": lambda b: expanded(**four_d(b), bias=(b, 1, 1, Lk)),
    "expanded-bias-1x1xLqx1": lambda b: expanded(**four_d(b), bias=(1, 1, Lq, 1)),
    "expanded-bool-mask": lambda b: expanded(**three_d(b), mask=(b, Lq, Lk)),
    "expanded-bool-mask-finite-fill": lambda b: expanded(**four_d(b), mask=(1, 1, Lq, Lk), fill=-1e4),
    "expanded-causal": lambda b: expanded(**three_d(b), causal=True),
}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", CASES)
def test_hand_built_attention_three_way(tmp_path, case, batch):
    path = save(CASES[case](batch), tmp_path)
    canon = qlower.to_stage(qlower.load(path), "canonical")
    (att,) = [op for op in canon.ops if op.name == "nn.attention"]  # matched, not left as it is
    feeds = feeds_for(onnx.load(path), seed=batch)
    program = three_way(path, feeds, overrides=QUANTUM)
    ((ks, kv),) = attention_kernels(program)
    assert len(program.kernels) == 2  # nothing else in these graphs is a kernel
    sweeps = [k.sweeps for k in program.run(feeds).kernels]
    assert sweeps == [rows_of(att)] * 2


def test_attention_by_node_name(tmp_path):
    path = save(attention_op(**four_d(2), mask=((1, 1, Lq, Lk), float)), tmp_path)
    feeds = feeds_for(onnx.load(path), seed=5)
    program = three_way(path, feeds, overrides={"att": "quantum"})
    assert [kc.method for kc in program.kernels] == [SCORES, VALUES]
    assert [kc.kernel.source for kc in program.kernels] == [("att",), ("att",)]


@pytest.mark.parametrize("q,k,v", [((1, 2, 4, 7), (1, 2, 8, 7), (1, 2, 8, 5)),  # d + 1 = Lk = 8
                                   ((2, 1, 1, 1), (2, 1, 9, 1), (2, 1, 9, 1)),  # 9 keys, d = 1
                                   ((2, 2, 3, 3), (2, 2, 1, 3), (2, 2, 1, 2))],  # one key
                         ids=["powers-of-two", "nine-keys", "one-key"])
def test_sizes_at_the_register_boundaries(tmp_path, q, k, v):
    path = save(attention_op(q=q, k=k, v=v), tmp_path)
    program = three_way(path, feeds_for(onnx.load(path), seed=q[-1]), overrides=QUANTUM)
    assert [kc.method for kc in program.kernels] == [SCORES, VALUES]


def test_zero_keys_values_and_query_rows(tmp_path):
    # K = 0 (κ = 0, t = 0), V = 0 (c = 0: a zero block), a zero query row (‖[q; t]‖ = 0)
    path = save(attention_op(**four_d(2)), tmp_path)
    feeds = feeds_for(onnx.load(path), seed=10)
    feeds["k"][1] = 0
    feeds["v"][0] = 0
    feeds["q"][0, 1, 2] = 0
    program = three_way(path, feeds, overrides=QUANTUM)
    y = program.run(feeds)["y"]
    assert np.all(y[0] == 0) and np.all(np.isfinite(y))
    # zero keys: uniform weights, every row the mean of the values
    assert np.allclose(y[1], feeds["v"][1].mean(axis=-2, keepdims=True), atol=1e-5)

def empty_row_mask(shape):
    m = np.ones(shape, dtype=bool)
    m[..., 1, :] = False  # query row 1: every key excluded
    m[..., 0, 2] = False
    return m


def test_fully_masked_row_of_onnx_attention_is_zero(tmp_path):
    path = save(attention_op(**four_d(2), mask=((2, 1, Lq, Lk), bool)), tmp_path)
    feeds = feeds_for(onnx.load(path), seed=6, masks={"m": empty_row_mask((2, 1, Lq, Lk))})
    (att,) = [op for op in qlower.to_stage(qlower.load(path), "canonical").ops
              if op.name == "nn.attention"]
    assert att.attr("empty_rows") == "zero"
    program = agree(path, feeds, overrides=QUANTUM)
    y = program.run(feeds)["y"]
    assert np.all(y[:, :, 1] == 0) and np.all(np.abs(y[:, :, 0]) > 0)
    assert np.all(onnxruntime_outputs(path, feeds)["y"][:, :, 1] == 0)


def test_fully_masked_row_of_expanded_attention_is_nan(tmp_path):
    path = save(expanded(**three_d(2), mask=(2, Lq, Lk)), tmp_path)
    feeds = feeds_for(onnx.load(path), seed=7, masks={"m": empty_row_mask((2, Lq, Lk))})
    (att,) = [op for op in qlower.to_stage(qlower.load(path), "canonical").ops
              if op.name == "nn.attention"]
    assert att.attr("empty_rows") == "nan"
    y = agree(path, feeds, overrides=QUANTUM).run(feeds)["y"]
    assert np.all(np.isnan(y[:, 1])) and not np.any(np.isnan(y[:, [0, 2]]))


# -- 3. shots -------------------------------------------------------------------------------------


def test_shots_land_within_four_standard_errors(tmp_path):
    path = save(attention_op(**four_d(2), mask=((1, 2, Lq, Lk), float)), tmp_path)
    feeds = feeds_for(onnx.load(path), seed=8)
    program = qlower.compile(path, "cirq", overrides=QUANTUM)
    exact = program.run(feeds)["y"]
    S = 200_000
    est = program.run(feeds, shots=S, seed=3)
    # the output depends on shot noise through host.attention_scores/softmax (not analytic):
    # its errors are the spread of repeated runs with other seeds
    se = est.std_errors["y"]
    assert set(est.std_errors) == {"y"} and se.shape == exact.shape and np.all(se > 0)
    assert np.all(np.abs(est["y"] - exact) <= 4 * se)
    assert not np.array_equal(est["y"], exact)
    # ~1/sqrt(shots): ten times fewer shots, about sqrt(10) = 3.16 times the error
    coarse = program.run(feeds, shots=S // 10, seed=3).std_errors["y"]
    assert 2.4 <= np.mean(coarse) / np.mean(se) <= 4.2
    # and the stated errors are the spread of independent runs (20 seeds, on average)
    runs = np.stack([program.run(feeds, shots=S, seed=50 + s, repetitions=2)["y"] for s in range(20)])
    assert 0.6 <= np.mean(runs.std(axis=0, ddof=1)) / np.mean(se) <= 1.6


# -- 4. OpenQASM 3: the two kernels in Qiskit ----------------------------------------------------


def test_qasm3_attention_kernels_in_qiskit_equal_qsim(tmp_path):
    from util import qasm_state_error

    path = save(attention_op(**four_d(1), mask=((1, 2, Lq, Lk), float)), tmp_path)
    feeds = feeds_for(onnx.load(path), seed=9)
    program = qlower.compile(path, "qasm3", overrides=QUANTUM)
    program.write(tmp_path / "out")
    bound_rows = program.bind(feeds)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    entries = {k["name"]: k for k in manifest["kernels"]}
    ((ks, kv),) = attention_kernels(program)
    for kc in (ks, kv):
        text = (tmp_path / "out" / f"{kc.name}.qasm").read_text()
        rows = bound_rows[kc.name]
        assert rows.shape == (2 * Lq, len(kc.symbols))  # heads x query rows, then the parameters
        err, count = qasm_state_error(text, kc, rows)
        assert count == len(kc.symbols) and err < 1e-5
        params = entries[kc.name]["parameters"]
        assert " = host.concat_params(" in params["computed_by"]
        assert params["names"] == [s.name for s in kc.symbols]
        assert entries[kc.name]["source_nodes"] == ["att"]


# -- 5. the estimate: CNOTs are the closed forms ---------------------------------------------------


def clog2(n: int) -> int:
    return max(0, (n - 1).bit_length())


@pytest.mark.parametrize("model", ["hand-built", "torch2.15/mha_dynamo_opset23"])
def test_estimate_counts_are_the_closed_forms(tmp_path, capsys, model):
    from qlower.blocks.fable_data import data_fable_resources

    if model == "hand-built":
        path = save(attention_op(**four_d(2), mask=((Lq, Lk), bool)), tmp_path)
    else:
        path = MODELS / f"{model}.onnx"
    canon = qlower.to_stage(qlower.load(path), "canonical")
    (att,) = [op for op in canon.ops if op.name == "nn.attention"]
    node = att.loc[0] if len(att.loc) == 1 else None
    d = canon.type_of(att.operand(0)).dims[-1]
    lk = canon.type_of(att.operand(1)).dims[-2]
    dv = canon.type_of(att.operand(2)).dims[-1]
    code, out, _ = cli(capsys, "estimate", path, "--strategy", "nn.attention=quantum", "--json")
    assert code == 0
    doc = json.loads(out)
    ks, kv = [k for k in doc["kernels"] if k["ops"] and k["ops"][0]["op"] == "nn.attention"]
    for k in (ks, kv):
        assert k["ops"] == [{"op": "nn.attention", "node": k["ops"][0]["node"], "strategy": "quantum"}]
        assert k["strategy"] == "quantum" and k["alpha"] is None
        if node is not None:
            assert k["ops"][0]["node"] == node
    # scores: amplitude encoding of [q; t] (d + 1 entries in 2^n), data FABLE of [K | κ1]
    n = max(1, clog2(d + 1))
    fable_k = data_fable_resources(lk, d + 1)
    assert fable_k.cnots == 2 ** (clog2(lk) + clog2(d + 1))  # uncompressed: one CNOT per angle
    assert ks["cnots"] == (2 ** n - n - 1) + fable_k.cnots
    assert ks["rotations"] == (2 ** n - 1) + fable_k.rotations
    # value: the exact softmax state over 2^ℓ keys, data FABLE of (V + c)ᵀ (dv x Lk)
    ell = max(1, clog2(lk))
    fable_v = data_fable_resources(dv, lk)
    assert fable_v.cnots == 2 ** (clog2(dv) + clog2(lk))
    assert kv["cnots"] == (2 ** ell - 1) + fable_v.cnots
    assert kv["rotations"] == 2 ** ell + fable_v.rotations
    assert ks["method"] == "amplitude+data-fable" and kv["method"] == VALUES


def test_kernel_method_is_the_estimates(tmp_path):
    path = save(attention_op(**four_d(1)), tmp_path)
    program = qlower.compile(path, "cirq", overrides=QUANTUM)
    est = qlower.estimate(path, overrides=QUANTUM)
    assert [kc.method for kc in program.kernels] == [k.method for k in est.kernels]


# -- 6. what is refused ---------------------------------------------------------------------------


def test_grouped_query_attention_is_refused(tmp_path):
    path = save(attention_op(q=(1, 4, 3, 2), k=(1, 2, 3, 2), v=(1, 2, 3, 2), scale=0.5), tmp_path)
    with pytest.raises(QlowerError) as e:
        qlower.compile(path, "cirq", overrides={"att": "quantum"})
    assert str(e.value) == (
        f"{path}: node 'att' (nn.attention): strategy 'quantum' does not apply: grouped-query "
        "attention (4 query heads on 2 key heads) is not lowered; repeat the key/value heads "
        "(use --strategy att=host to keep it classical)")
    assert qlower.compile(path, "cirq", overrides={"att": "host"}).kernels == []  # host: fine


def test_a_dump_whose_data_block_overlaps_the_preparation_is_refused(tmp_path, capsys):
    """A data block reads the parameters after its preparation's own: in a dump that says
    otherwise, the two slices would share circuit symbols (found by mutating dumps)."""
    from util import cli

    path = save(attention_op(**four_d(1)), tmp_path)
    code, _, _ = cli(capsys, "inspect", str(path), "--stage", "lowered", "--strategy",
                     "nn.attention=quantum", "-o", str(tmp_path / "low.qir"), "--save-weights")
    assert code == 0
    text = (tmp_path / "low.qir").read_text()
    first = re.search(r"q\.block\.data_fable\(%[\w.]+, %[\w.]+\) \{cols = \d+, first = (\d+)", text)
    bad = text[:first.start(1)] + "2" + text[first.end(1):]
    (tmp_path / "bad.qir").write_text(bad)
    (tmp_path / "bad.npz").write_bytes((tmp_path / "low.npz").read_bytes())
    code, out, err = cli(capsys, "compile", str(tmp_path / "bad.qir"), "-o", str(tmp_path / "o"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "q.block.data_fable (node 'att'): reads entries 2..." in err
    assert "uses the first" in err
