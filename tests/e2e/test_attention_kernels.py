"""nn.attention as kernels (``--strategy nn.attention=quantum``): per attention a scores kernel
(amplitude encoding of ``[q; t]``, a data FABLE block of ``[K | κ1]``) and a value kernel (the
exact softmax state, a data FABLE block of ``(V + c)ᵀ``), swept over the query rows. The q ops'
semantics, qsim and onnxruntime agree on the torch exports and on hand-built graphs; shots land
within four standard errors; the QASM 3 kernels give qsim's states in Qiskit; the estimate's
CNOTs are the closed forms; grouped-query attention is refused."""

from __future__ import annotations

import json
import time
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
SCORES, VALUES = "data-fable", "softmax-exact+data-fable"  # KernelCircuit.method of the two


# -- models ---------------------------------------------------------------------------------------


def attention_op(q, k, v, mask=None, causal=0, heads=None, scale=None, name="att"):
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


@pytest.mark.parametrize("path", TORCH, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_torch_attention_three_way(path):
    model = onnx.load(path)
    feeds = feeds_for(model, seed=len(path.stem))
    program = three_way(path, feeds, overrides=QUANTUM)
    pairs = attention_kernels(program)
    assert len(pairs) == (2 if path.name.startswith("encoder_") or True else 1) or pairs
    # one attention per model: its two kernels sweep batch x heads x query rows
    assert len(pairs) == 1
    canon = qlower.to_stage(qlower.load(path), "canonical")
    (att,) = [op for op in canon.ops if op.name == "nn.attention"]
    qt = canon.tensor_type(att.operand(0))
    rows = int(np.prod([2 if not isinstance(d, int) else d for d in qt.dims[:-1]]))
    run = program.run(feeds)
    by_name = {k.name: k for k in run.kernels}
    assert [by_name[kc.name].sweeps for kc in pairs[0]] == [rows, rows]
