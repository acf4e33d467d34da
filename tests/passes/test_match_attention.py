"""match-attention: expanded attention and ONNX's Attention op become ``nn.attention``.

    %kt = Transpose(%k); %s = MatMul(Mul(%q, c), Mul(%kt, c))
    %p = Softmax(%s + %mask); %y = MatMul(%p, %v)       ⇒   %y = nn.attention(%q, %k, %v, %mask)
                                                             {scale = c * c, causal, softcap = 0.0}
    %y = Attention(%q, %k, %v, %mask) {...}              ⇒   %y = nn.attention(...) {...}

Every model runs through the canonical pipeline; the result must compute what the imported
graph computes and what onnxruntime computes (floats within 1e-5 of the largest |value|).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import ONNX_REF, ORT, assert_close_to_one, reference_candidates
from util import assert_same_outputs, make_model

from qlower.backends import run_graph
from qlower.frontend import import_model, load_model
from qlower.ir import Graph
from qlower.passes import STAGES, run_pipeline

F32 = TensorProto.FLOAT
NEG = float(np.finfo(np.float32).min)  # torch's causal fill at opset 18
C8 = np.float32(1 / math.sqrt(math.sqrt(8)))  # torch splits 1/sqrt(8) over q and kᵀ


def vi(name: str, shape, dtype: int = F32) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def node(op: str, inputs, output: str, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, list(inputs), [output], name=f"n_{output}", **attrs)


def qkv(q, k, v=None):
    return [vi("q", q), vi("k", k), vi("v", v or k)]


def expanded(mask_nodes=(), scores="s", extra_inputs=(), inits=(), outputs=("y",)):
    """torch's opset-18 attention on q, k, v [2, 2, 3|5, 8], with ``mask_nodes`` after the scores."""
    nodes = [
        node("Transpose", ["k"], "kt", perm=[0, 1, 3, 2]),
        node("Mul", ["q", "c"], "qs"),
        node("Mul", ["kt", "c"], "ks"),
        node("MatMul", ["qs", "ks"], "s"),
        *mask_nodes,
        node("Softmax", [scores], "p", axis=-1),
        node("MatMul", ["p", "v"], "y"),
    ]
    ins = qkv([2, 2, 3, 8], [2, 2, 5, 8]) + list(extra_inputs)
    outs = [vi(o, None) for o in outputs]
    return make_model(nodes, ins, outs, [const("c", [C8]), *inits], opset=18)


def native(ins, inputs=("q", "k", "v"), outputs=("y",), inits=(), **attrs):
    n = helper.make_node("Attention", list(inputs), list(outputs), name="attn", **attrs)
    return make_model([n], ins, [vi(o, None) for o in outputs if o], inits, opset=23)


@dataclass(frozen=True)
class Expect:
    """The nn.attention the pipeline must produce (``None`` in CASES: no nn.attention at all).

    ``bias``/``mask`` name the operand; ``where(m)`` means a bias made by ``nn.where(m, 0, -inf)``
    from the bool mask ``m`` (ONNX's Attention adds its bool mask that way)."""

    scale: float
    causal: bool = False
    softcap: float = 0.0
    bias: str | None = None
    mask: str | None = None
    fill: float = -math.inf
    empty_rows: str = "nan"


def Native(scale, causal=False, softcap=0.0, bias=None):  # noqa: N802 - reads like Expect
    return Expect(scale, causal, softcap, bias, empty_rows="zero")


Q4, K4 = [2, 2, 3, 8], [2, 2, 5, 8]
CASES = {
    "torch_4d": (expanded(), Expect(1 / math.sqrt(8))),
    "scale_after_div_3d": (make_model(
        [node("Transpose", ["k"], "kt", perm=[0, 2, 1]), node("MatMul", ["q", "kt"], "s"),
         node("Div", ["s", "d"], "ss"), node("Softmax", ["ss"], "p", axis=2),
         node("MatMul", ["p", "v"], "y")],
        qkv([2, 3, 4], [2, 5, 4], [2, 5, 6]), [vi("y", None)], [const("d", np.float32(2))]),
        Expect(0.5)),
    "runtime_mask": (expanded([node("Add", ["m", "s"], "sm")], "sm",
                              extra_inputs=[vi("m", [1, 1, 3, 5])]),
                     Expect(1 / math.sqrt(8), bias="m")),
    "causal_constant": (expanded(
        [node("Add", ["s", "bias"], "sm")], "sm",
        inits=[const("bias", np.triu(np.full((3, 5), -np.inf, np.float32), 1))]),
        Expect(1 / math.sqrt(8), causal=True)),
    "causal_finite_fill_is_a_bias": (expanded(
        [node("Add", ["s", "bias"], "sm")], "sm",
        inits=[const("bias", np.triu(np.full((3, 5), NEG, np.float32), 1))]),
        Expect(1 / math.sqrt(8), bias="bias")),
    "where_mask": (expanded(
        [node("Where", ["b", "s", "ninf"], "sm")], "sm", extra_inputs=[vi("b", [2, 1, 3, 5],
                                                                          TensorProto.BOOL)],
        inits=[const("ninf", np.float32(-np.inf))]), Expect(1 / math.sqrt(8), mask="b")),
    "where_causal_constant": (expanded(
        [node("Where", ["tri", "s", "ninf"], "sm")], "sm",
        inits=[const("tri", np.tri(3, 5, dtype=bool)), const("ninf", np.float32(-np.inf))]),
        Expect(1 / math.sqrt(8), mask="tri")),
    "shared_kv_head": (make_model(
        [node("Transpose", ["k"], "kt", perm=[0, 1, 3, 2]), node("MatMul", ["q", "kt"], "s"),
         node("Softmax", ["s"], "p", axis=-1), node("MatMul", ["p", "v"], "y")],
        qkv([2, 4, 3, 8], [2, 1, 5, 8]), [vi("y", None)]), Expect(1.0)),
    "weights_returned": (expanded(outputs=("y", "p")), None),
    # kᵀ has another user: it stays, and the key is kᵀ transposed back
    "transposed_k_reused": (expanded(outputs=("y", "kt")), Expect(1 / math.sqrt(8))),
    "scores_reused": (expanded(outputs=("y", "s")), None),
    "native_4d": (native(qkv(Q4, K4)), Native(1 / math.sqrt(8))),
    "native_bool_mask_gqa": (native(
        qkv([2, 4, 3, 8], [2, 2, 5, 8], [2, 2, 5, 6]) + [vi("m", [2, 1, 3, 5], TensorProto.BOOL)],
        ("q", "k", "v", "m"), scale=0.25, softcap=3.0), Native(0.25, softcap=3.0, bias="where(m)")),
    "native_float_mask_causal": (native(qkv(Q4, K4) + [vi("m", [3, 5])], ("q", "k", "v", "m"),
                                        is_causal=1), Native(1 / math.sqrt(8), True, bias="m")),
    "native_3d_gqa_causal": (native(qkv([2, 3, 16], [2, 5, 8]), q_num_heads=4, kv_num_heads=2,
                                    is_causal=1), Native(0.5, causal=True)),
    "native_3d_mask_scale": (native(qkv([2, 3, 8], [2, 5, 8], [2, 5, 6]) + [vi("m", [3, 5])],
                                    ("q", "k", "v", "m"), q_num_heads=2, kv_num_heads=2,
                                    scale=0.3), Native(0.3, bias="m")),
    "native_constant_causal": (native(
        qkv([2, 2, 4, 8], [2, 2, 4, 8]), ("q", "k", "v", "tri"),
        inits=[const("tri", np.tril(np.ones((1, 4, 4), bool)))]), Native(1 / math.sqrt(8), True)),
    "native_past_key": (native(
        qkv([1, 2, 1, 8], [1, 2, 1, 8]) + [vi("pk", [1, 2, 3, 8]), vi("pv", [1, 2, 3, 8])],
        ("q", "k", "v", "", "pk", "pv")), None),
    "native_short_mask": (native(qkv(Q4, K4) + [vi("m", [3, 3])], ("q", "k", "v", "m")), None),
    "native_one_key_mask": (native(qkv(Q4, K4) + [vi("m", [3, 1])], ("q", "k", "v", "m")), None),
    "native_present_used": (native(qkv(Q4, K4), outputs=("y", "present_k")), None),
    "native_double_softmax": (native(qkv(Q4, K4), softmax_precision=TensorProto.DOUBLE), None),
}

# onnxruntime 1.31 wants a mask as long as the keys; ONNX pads a shorter one (it does not
# broadcast a last axis of 1), which nn.attention cannot say.
# It also wants present_key/present_value whenever past_key is given.
ORT_REJECTS = {"native_short_mask", "native_one_key_mask", "native_past_key"}


def feeds_for(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs; bool masks allow key 0 for every query (no row is fully masked)."""
    rng = np.random.default_rng(seed)
    out = {}
    for v in model.graph.input:
        shape = [d.dim_value or 2 for d in v.type.tensor_type.shape.dim]
        if v.type.tensor_type.elem_type == TensorProto.BOOL:
            arr = rng.random(shape) < 0.6
            arr[..., 0] = True
        else:
            arr = rng.standard_normal(shape).astype(np.float32)
        out[v.name] = arr
    return out


def assert_close(got: dict, want: dict, names) -> None:
    for n in names:
        assert got[n].shape == want[n].shape, n
        scale = max(float(np.max(np.abs(want[n]))), 1e-30)
        err = float(np.max(np.abs(got[n].astype(np.float64) - want[n])))
        assert err <= 1e-5 * scale, f"{n}: max error {err} vs scale {scale}"


def check_numerics(model: onnx.ModelProto, before: Graph, after: Graph, reference=False) -> None:
    """The canonical graph matches onnxruntime (or ONNX's reference evaluator where onnxruntime
    lacks a feature; see tests/onnx_cases.py for older onnxruntime releases) and the import."""
    feeds = feeds_for(model)
    names = [o.name for o in model.graph.output]
    candidates = reference_candidates(model, feeds, ONNX_REF if reference else ORT)
    got = run_graph(after, feeds)
    for n in names:
        assert_close_to_one(n, got[n], candidates)
    assert_close(run_graph(after, feeds), run_graph(before, feeds), names)
    if not any(v.type.tensor_type.elem_type == TensorProto.BOOL for v in model.graph.input):
        assert_same_outputs(before, after)  # random bool masks may hide whole rows


def attentions(graph: Graph) -> list:
    return [op for op in graph.ops if op.name == "nn.attention"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_case(case: str) -> None:
    model, expect = CASES[case]
    before = import_model(model)
    after = run_pipeline(before, STAGES["canonical"])
    names = {op.name for op in after.ops}
    check_numerics(model, before, after, reference=case in ORT_REJECTS)
    if expect is None:
        assert not attentions(after)
        assert names & {"onnx.Attention", "nn.softmax"}, names
        return
    (att,) = attentions(after)
    assert not names & {"onnx.Attention", "nn.softmax", "onnx.Softmax"}, names
    assert dict(att.attrs) == {"scale": expect.scale, "causal": expect.causal,
                               "softcap": expect.softcap, "fill": expect.fill,
                               "empty_rows": expect.empty_rows}
    bias = att.operand(3)
    if expect.bias is not None and expect.bias.startswith("where("):
        made = after.producer(bias)
        assert made.name == "nn.where" and made.operand(0) == expect.bias[6:-1]
        assert [float(after.dense(c).array) for c in made.operands[1:]] == [0.0, -math.inf]
    else:
        assert bias == expect.bias
    assert att.operand(4) == expect.mask
    assert "y" in att.result_names or after.producer("y").name == "nn.reshape"


def test_scale_snaps_to_inverse_sqrt_head_size() -> None:
    """torch's two float32 factors multiply to 1/sqrt(8) only to float32 precision; the pass
    writes the exact 1/sqrt(8), whose float32 square root is torch's factor bit for bit."""
    (att,) = attentions(run_pipeline(import_model(CASES["torch_4d"][0]), "match-attention"))
    assert float(C8) * float(C8) != 1 / math.sqrt(8)
    assert att.attr("scale") == 1 / math.sqrt(8)
    assert np.float32(math.sqrt(att.attr("scale"))) == C8
    assert att.loc == ("n_kt", "n_qs", "n_ks", "n_s", "n_p", "n_y")


def test_reused_scaled_query_stays_outside() -> None:
    """A scaled q with another user is not absorbed: it becomes the query as it is."""
    model = expanded(outputs=("y", "qs"))
    before = import_model(model)
    after = run_pipeline(before, STAGES["canonical"])
    (att,) = attentions(after)
    assert att.operands == ("qs", "k", "v")
    assert att.attr("scale") == float(str(np.float32(C8)))  # the shortest float32 decimal
    assert after.producer("qs").name == "nn.mul"
    check_numerics(model, before, after)


def test_match_attention_alone_on_onnx_ops() -> None:
    """The pass reads the onnx spellings too, so it works before onnx-to-nn."""
    graph = import_model(CASES["where_mask"][0])
    after = run_pipeline(graph, "match-attention,dce")
    assert [op.name for op in after.ops] == ["nn.attention"]
    assert_close(run_graph(after, feeds_for(CASES["where_mask"][0])),
                 run_graph(graph, feeds_for(CASES["where_mask"][0])), ["y"])


FE = Path(__file__).resolve().parents[1] / "models"
# file -> how its causal mask reads: "causal" (the flag, or an exact -inf bias), "bias" (torch's
# opset-18 is_causal spelling adds 0 / float32.min, which is not the causal rule exactly), None.
# (Every export of both torch releases and both exporters is in test_torch_models.py.)
TORCH_MODELS = {
    f"torch2.15/{name}_dynamo_opset{opset}": (
        ("bias" if name in ("mha_causal_flag", "sdpa_causal") else "causal")
        if causal and opset == 18 else "causal" if causal else None)
    for name, causal in (("mha", False), ("encoder", False), ("mha_single_head", False),
                         ("mha_causal", True), ("mha_causal_flag", True), ("sdpa_causal", True))
    for opset in (18, 23)
}


@pytest.mark.parametrize("name", sorted(TORCH_MODELS))
def test_torch_export(name: str) -> None:
    path = FE / f"{name}.onnx"
    before = load_model(path)
    after = run_pipeline(before, STAGES["canonical"])
    (att,) = attentions(after)
    names = {op.name for op in after.ops}
    assert not names & {"onnx.Attention", "nn.softmax", "onnx.Softmax"}, names
    assert att.attr("causal") is (TORCH_MODELS[name] == "causal")
    assert (att.operand(3) is not None) is (TORCH_MODELS[name] == "bias")
    assert att.operand(4) is None
    model = onnx.load(str(path))
    feeds = feeds_for(model)
    names = [o.name for o in model.graph.output]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert_close(run_graph(after, feeds), dict(zip(names, session.run(None, feeds))), names)
