"""Property: attention canonicalises without changing what it computes.

Hypothesis builds random attention graphs — ``softmax(mask(softcap(scale(q @ kᵀ)))) @ v`` with
scale factors on q (also before its head split), on k, on kᵀ and on the scores (Mul either
way round or Div, scalar or size-1 constants), an optional soft cap, additive biases and bool
selects of every rank with size-1 axes anywhere (runtime inputs and constants, with -inf
entries), causal masks spelled as -inf, as float32.min and as -1e9, 3-D and 4-D, shared and
grouped heads, bool masks and-ed with the causal triangle and added as where(m, 0, fill),
torch's NaN guard and a scalar factor on the probabilities — and ONNX ``Attention`` ops (opsets 23-25) with bool and float masks of every
broadcastable shape, short masks, causal, scale and softcap. For each: the canonical graph,
the imported graph and onnxruntime (``onnx.reference`` where onnxruntime refuses a valid
model) agree — NaN exactly where NaN, else within 1e-5 of the largest |value| — and the
graphs that ``nn.attention`` can say exactly do become one ``nn.attention``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from qlower.backends import run_graph
from qlower.frontend import import_model
from qlower.passes import STAGES, run_pipeline

F32 = TensorProto.FLOAT
MIN32 = float(np.finfo(np.float32).min)
ort.set_default_logger_severity(3)  # its refusals are expected (see `expected`)
SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# -- building models ---------------------------------------------------------------------------


@dataclass
class Builder:
    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    feeds: dict = field(default_factory=dict)
    count: int = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def node(self, op: str, inputs, **attrs) -> str:
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"n_{out}", **attrs))
        return out

    def input(self, name: str, value: np.ndarray) -> str:
        value = np.asarray(value)
        dtype = TensorProto.BOOL if value.dtype == np.bool_ else F32
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(value.shape)))
        self.feeds[name] = value
        return name

    def const(self, value) -> str:
        name = self.fresh("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def model(self, out: str, opset: int) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, "g", self.inputs,
                              [helper.make_tensor_value_info(out, F32, None)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 10
        return onnx.shape_inference.infer_shapes(m, strict_mode=True)


def broadcast_shape(draw, target: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts into ``target``: a suffix of it, some axes set to 1."""
    rank = draw(st.integers(0, len(target)))
    dims = target[len(target) - rank:]
    return tuple(1 if draw(st.booleans()) else d for d in dims)


def scale_const(draw, value: float, rank: int) -> np.ndarray:
    shape = draw(st.sampled_from([(), (1,), (1,) * rank]))
    return np.full(shape, value, np.float32)


def scaled(draw, b: Builder, x: str, rank: int) -> tuple[str, float]:
    """``x`` times zero to two scalar factors (Mul either order, or Div); returns the factor."""
    factor = 1.0
    for _ in range(draw(st.integers(0, 2))):
        value = draw(st.sampled_from([0.5, 2.0, float(np.float32(8 ** -0.25)), 1 / 3, 1.25]))
        spelling = draw(st.sampled_from(["mul", "mul_rev", "div"]))
        c = b.const(scale_const(draw, value, rank))
        if spelling == "div":
            x = b.node("Div", [x, c])
            factor /= float(np.float32(value))
        else:
            x = b.node("Mul", [x, c] if spelling == "mul" else [c, x])
            factor *= float(np.float32(value))
    return x, factor


@st.composite
def expanded_graphs(draw):
    """(model, feeds, representable): an expanded attention graph with random spellings."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    b = Builder()
    four_d = draw(st.booleans())
    n, lq, lk = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 4]))
    d, dv = draw(st.sampled_from([2, 4])), draw(st.sampled_from([2, 3]))
    h = draw(st.integers(1, 2)) if four_d else 1
    hk = draw(st.sampled_from([h, 1])) if four_d else 1
    lead = (n, h) if four_d else (n,)
    lead_k = (n, hk) if four_d else (n,)
    if four_d and draw(st.booleans()):  # q arrives as [n, lq, h*d] and is split into heads
        q = b.input("q", rng.standard_normal((n, lq, h * d)).astype(np.float32))
        q, _ = scaled(draw, b, q, 3)
        q = b.node("Reshape", [q, b.const(np.array([n, lq, h, d], np.int64))])
        q = b.node("Transpose", [q], perm=[0, 2, 1, 3])
    else:
        q = b.input("q", rng.standard_normal(lead + (lq, d)).astype(np.float32))
    q, _ = scaled(draw, b, q, len(lead) + 2)
    k = b.input("k", rng.standard_normal(lead_k + (lk, d)).astype(np.float32))
    k, _ = scaled(draw, b, k, len(lead) + 2)
    perm = list(range(len(lead))) + [len(lead) + 1, len(lead)]
    kt = b.node("Transpose", [k], perm=perm)
    kt, _ = scaled(draw, b, kt, len(lead) + 2)
    v = b.input("v", rng.standard_normal(lead_k + (lk, dv)).astype(np.float32))
    s = b.node("MatMul", [q, kt])
    s, _ = scaled(draw, b, s, len(lead) + 2)
    scores = lead + (lq, lk)
    if draw(st.booleans()):  # soft cap c·tanh(s/c)
        cap = draw(st.sampled_from([1.5, 4.0]))
        inner = (b.node("Div", [s, b.const(np.float32(cap))]) if draw(st.booleans())
                 else b.node("Mul", [s, b.const(np.float32(1 / cap))]))
        s = b.node("Mul", [b.node("Tanh", [inner]), b.const(np.float32(cap))])
    representable = True

    def add(x: str, term: str) -> str:
        return b.node("Add", [x, term] if draw(st.booleans()) else [term, x])

    def bias_term() -> str:
        shape = broadcast_shape(draw, scores)
        if draw(st.integers(0, 3)) == 0:  # a bool mask, and-ed with the causal triangle, added
            keep = b.input(b.fresh("keep"), rng.random(shape) < 0.7)
            if draw(st.booleans()):
                keep = b.node("And", [keep, b.const(np.tri(lq, lk, dtype=bool))])
            fill = draw(st.sampled_from([-np.inf, MIN32]))
            return b.node("Where", [keep, b.const(np.float32(0)), b.const(np.float32(fill))])
        values = rng.standard_normal(shape).astype(np.float32) * 2
        if draw(st.booleans()):
            return b.input(b.fresh("bias"), values)
        if draw(st.booleans()):
            values = np.where(rng.random(shape) < 0.3, -np.inf, values).astype(np.float32)
        return b.const(values)

    def causal_term() -> tuple[str, bool]:
        fill = draw(st.sampled_from([-np.inf, MIN32, -1e9]))
        tri = np.tri(lq, lk, dtype=bool)
        shape = (1,) * draw(st.integers(0, len(scores) - 2)) + (lq, lk)
        return b.const(np.where(tri, 0.0, fill).astype(np.float32).reshape(shape)), fill

    # additive terms that nn.attention cannot take as causal count as biases (at most one)
    inner_biases = draw(st.integers(0, 1))
    for _ in range(inner_biases):
        s = add(s, bias_term())
    where = draw(st.booleans())
    outer_biases = 0
    if where:
        fill = draw(st.sampled_from([-np.inf, MIN32, -1e9, 0.0, 2.5]))
        shape = broadcast_shape(draw, scores)
        if draw(st.booleans()):
            m = b.input(b.fresh("m"), rng.random(shape) < 0.7)
        else:
            m = b.const(rng.random(shape) < 0.7)
        if draw(st.integers(0, 3)) == 0:  # a causal term inside the select
            term, causal_fill = causal_term()
            s = add(s, term)
            inner_biases += causal_fill != -np.inf
            representable &= fill == -np.inf  # else the orders of select and causal differ
        s = b.node("Where", [m, s, b.const(np.float32(fill))])
    if draw(st.booleans()):
        term, causal_fill = causal_term()
        s = add(s, term)
        outer_biases += causal_fill != -np.inf
    if draw(st.integers(0, 4)) == 0:  # a bias after the select: not nn.attention's order
        s = add(s, bias_term())
        outer_biases += 1
    if where:
        representable &= outer_biases == 0 and inner_biases <= 1
    else:
        representable &= inner_biases + outer_biases <= 1
    p = b.node("Softmax", [s], axis=-1)
    if draw(st.integers(0, 3)) == 0:  # torch sdpa's guard: where(isnan(P), 0, P)
        p = b.node("Where", [b.node("IsNaN", [p]), b.const(np.float32(0)), p])
    if draw(st.integers(0, 4)) == 0:  # (P · c) @ v, as FlexAttention's prob_mod writes it
        p, _ = scaled(draw, b, p, len(scores))
    y = b.node("MatMul", [p, v])
    return b.model(y, 18), b.feeds, representable


@st.composite
def native_graphs(draw):
    """(model, feeds, representable, reference): one ONNX Attention node with random attributes.

    ``reference`` is the same model with the mask's last two axes written out as
    ``[q_len, mask's key length]``: onnxruntime takes only masks of rank 2-4 whose query axis
    is the query length, and onnx.reference takes the causal frontier's query length from the
    mask (a mask of shape [1, L] with is_causal=1 makes every query see key 0 only). A mask
    whose last axis is shorter than the keys — a size-1 axis included — is padded with -inf by
    ONNX, which ``nn.attention`` does not say."""
    seed = draw(st.integers(0, 2**16))
    opset = draw(st.sampled_from([23, 24, 25]))
    four_d = draw(st.booleans())
    n, lq, lk = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.sampled_from([1, 3, 4]))
    d, dv = draw(st.sampled_from([2, 4])), draw(st.sampled_from([2, 3]))
    hk = draw(st.integers(1, 2))
    hq = hk * draw(st.integers(1, 2))
    attrs = {}
    if not four_d:
        attrs.update(q_num_heads=hq, kv_num_heads=hk)
    representable = True
    kind = draw(st.sampled_from([None, "bool", "float", "const_float", "causal_const"]))
    shape = None
    if kind == "causal_const":
        shape = (lq, lk)
    elif kind is not None:
        shape = broadcast_shape(draw, (n, hq, lq, lk))
        if shape and draw(st.integers(0, 4)) == 0:  # shorter than the keys: ONNX pads it
            shape = shape[:-1] + (draw(st.integers(1, lk)),)
        representable &= not shape or shape[-1] == lk
    if draw(st.booleans()):
        attrs["is_causal"] = 1
    if draw(st.booleans()):
        attrs["scale"] = draw(st.sampled_from([0.3, 1.0, 2.0]))
    if draw(st.booleans()):
        attrs["softcap"] = draw(st.sampled_from([1.0, 3.0]))

    def build(written_out: bool):
        rng = np.random.default_rng(seed)

        def mask_value(values: np.ndarray) -> np.ndarray:
            if not written_out:
                return values
            full = shape[:-2] + (lq, shape[-1] if shape else lk)
            return np.ascontiguousarray(np.broadcast_to(values, full))

        b = Builder()
        if four_d:
            shapes = [(n, hq, lq, d), (n, hk, lk, d), (n, hk, lk, dv)]
        else:
            shapes = [(n, lq, hq * d), (n, lk, hk * d), (n, lk, hk * dv)]
        names = [b.input(x, rng.standard_normal(s).astype(np.float32))
                 for x, s in zip("qkv", shapes)]
        if kind == "bool":
            names.append(b.input("m", mask_value(np.asarray(rng.random(shape) < 0.7))))
        elif kind == "float":
            names.append(b.input("m", mask_value(rng.standard_normal(shape)
                                                 .astype(np.float32))))
        elif kind == "const_float":
            values = rng.standard_normal(shape).astype(np.float32)
            values = np.where(rng.random(shape) < 0.3, -np.inf, values).astype(np.float32)
            names.append(b.const(mask_value(values)))
        elif kind == "causal_const":
            names.append(b.const(np.where(np.tri(lq, lk, dtype=bool), 0.0, -np.inf)
                                 .astype(np.float32)))
        b.nodes.append(helper.make_node("Attention", names, ["y"], name="attn", **attrs))
        return b.model("y", opset), b.feeds

    return build(False) + (representable, build(True))


# -- checking ----------------------------------------------------------------------------------


def expected(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    """onnxruntime's output, or onnx.reference's where onnxruntime refuses the model."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model.SerializeToString(), options,
                                    providers=["CPUExecutionProvider"])
        return sess.run(None, feeds)[0]
    except Exception:  # noqa: BLE001 - onnxruntime refuses short/row masks ONNX allows
        return ReferenceEvaluator(model).run(None, feeds)[0]


def assert_agree(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, what
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), f"{what}: NaN at other places"
    if (~nan).any():
        scale = max(float(np.max(np.abs(want[~nan]))), 1e-30)
        err = float(np.max(np.abs(got[~nan].astype(np.float64) - want[~nan])))
        assert err <= 1e-5 * scale, f"{what}: max error {err} vs scale {scale}"


def check(model: onnx.ModelProto, feeds: dict, representable: bool, native: bool,
          reference=None) -> None:
    onnx.checker.check_model(model, full_check=True)
    imported = import_model(model)
    canonical = run_pipeline(imported, STAGES["canonical"])
    want = expected(*(reference or (model, feeds)))
    (y_imported,) = run_graph(imported, feeds).values()
    (y_canonical,) = run_graph(canonical, feeds).values()
    assert_agree(y_imported, want, "imported vs onnxruntime")
    assert_agree(y_canonical, want, "canonical vs onnxruntime")
    names = [op.name for op in canonical.ops]
    if representable:
        assert names.count("nn.attention") == 1, names
        assert not {"nn.softmax", "onnx.Attention", "nn.matmul"} & set(names), names
        assert set(names) <= {"nn.attention", "nn.transpose", "nn.reshape", "nn.where",
                              "nn.mul", "nn.and"}, names
        (att,) = [op for op in canonical.ops if op.name == "nn.attention"]
        assert att.attr("empty_rows") in (("zero",) if native else ("nan", "nan_to_zero"))
    elif native:
        assert "onnx.Attention" in names


@SETTINGS
@given(expanded_graphs())
def test_expanded_attention_keeps_its_numbers(case) -> None:
    model, feeds, representable = case
    check(model, feeds, representable, native=False)


@SETTINGS
@given(native_graphs())
def test_native_attention_keeps_its_numbers(case) -> None:
    model, feeds, representable, reference = case
    check(model, feeds, representable, native=True, reference=reference)


# -- the cases that were wrong -----------------------------------------------------------------


def _bias_model(shape: tuple[int, ...]) -> tuple[onnx.ModelProto, dict]:
    """softmax(q @ kᵀ · 0.5 + bias) @ v, q [2, 3, 4], k and v [2, 5, 4], bias constant."""
    rng = np.random.default_rng(7)
    b = Builder()
    q = b.input("q", rng.standard_normal((2, 3, 4)).astype(np.float32))
    k = b.input("k", rng.standard_normal((2, 5, 4)).astype(np.float32))
    v = b.input("v", rng.standard_normal((2, 5, 4)).astype(np.float32))
    s = b.node("Mul", [b.node("MatMul", [q, b.node("Transpose", [k], perm=[0, 2, 1])]),
                       b.const(np.float32(0.5))])
    s = b.node("Add", [s, b.const(rng.standard_normal(shape).astype(np.float32))])
    y = b.node("MatMul", [b.node("Softmax", [s], axis=-1), v])
    return b.model(y, 18), b.feeds


def test_bias_with_a_size_one_key_axis_broadcasts() -> None:
    """A constant bias whose last axis has size 1 repeats over the keys (it was once read as an
    ONNX padding mask: every query attended key 0 only); a scalar bias once crashed."""
    for shape in [(1,), (3, 1), (2, 1, 1), (), (1, 5), (2, 3, 5)]:
        model, feeds = _bias_model(shape)
        check(model, feeds, representable=True, native=False)
        canonical = run_pipeline(import_model(model), STAGES["canonical"])
        (att,) = [op for op in canonical.ops if op.name == "nn.attention"]
        assert canonical.values[att.operand(3)].type.dims == shape


def test_nn_attention_refuses_a_mask_that_does_not_broadcast() -> None:
    from qlower.ir import TensorType, VerifyError, build_op
    from qlower.ir.types import DType

    t = TensorType(DType.F32, (2, 3, 4))
    kv = TensorType(DType.F32, (2, 5, 4))
    ok = build_op("nn.attention", ["q", "k", "v", "b"], ["y"], {"scale": 0.5},
                  types=[t, kv, kv, TensorType(DType.F32, (3, 1))])
    assert ok.result().type == t
    for bad, message in [((3, 3), "bias dimension 3 does not broadcast to the scores' "
                                  "dimension 5 (axis -1)"),
                         ((1, 2, 3, 5), "bias of rank 4 does not broadcast to the scores' rank 3")]:
        try:
            build_op("nn.attention", ["q", "k", "v", "b"], ["y"], {"scale": 0.5},
                     types=[t, kv, kv, TensorType(DType.F32, bad)])
        except VerifyError as e:
            assert e.detail == message
        else:
            raise AssertionError(f"bias {bad} was accepted")
    assert math.isinf(ok.attr("fill"))
