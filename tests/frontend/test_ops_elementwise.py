"""Elementwise ops against onnxruntime: Add, Sub, Mul, Div, Mod, Pow, Sqrt, Neg, Relu, Gelu, Tanh,
Sigmoid, Erf, Cast, Identity, Where, Equal.

Each case runs at the imported stage and after the canonical pipeline (see tests/onnx_cases.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx_cases import ONNX_REF, Const, Data, In, case_params, check_case, graph_case, op_case

d = Data("elementwise")
CASES = []

# -- binary arithmetic: broadcasting both ways, ints and floats ---------------------------------
BCAST = [
    ("same", (3, 4), (3, 4)),
    ("row", (3, 4), (4,)),
    ("row_first", (4,), (3, 4)),
    ("col", (3, 4), (3, 1)),
    ("outer", (3, 1), (1, 4)),
    ("rank3_rank2", (2, 1, 4), (3, 1)),
    ("scalar_right", (2, 3), ()),
    ("scalar_left", (), (2, 3)),
    ("one_left", (1,), (2, 3)),
]
for op in ("Add", "Sub", "Mul", "Div"):
    low = op.lower()
    for name, sa, sb in BCAST:
        b = d.pos(*sb) if op == "Div" else d.f32(*sb)
        CASES.append(op_case(f"{low}_{name}", op, [In(d.f32(*sa)), In(b)]))
    CASES += [
        op_case(f"{low}_const_right", op, [In(d.f32(2, 3)), Const(d.pos(3))], opset=13),
        op_case(f"{low}_const_left", op, [Const(d.pos(2, 1)), In(d.pos(2, 3))], opset=23),
        op_case(f"{low}_int32", op, [In(d.nonzero(3, 4, dtype=np.int32)),
                                     In(d.nonzero(4, dtype=np.int32))]),
        op_case(f"{low}_int64", op, [In(d.nonzero(2, 1, 3)), In(d.nonzero(4, 1))]),
        op_case(f"{low}_f64", op, [In(d.f64(2, 3)), In(d.f64(3) + 3)]),
        op_case(f"{low}_batch", op, [In(d.f32(2, 3), dims=("batch", 3)), Const(d.pos(3))],
                feeds=[{"x0": d.f32(1, 3)}, {"x0": d.f32(3, 3)}]),
    ]

# Integer Div truncates toward zero (C semantics), for every sign combination.
_num = np.array([7, -7, 7, -7, 6, -6, 1, -1, 0, 9], dtype=np.int64)
_den = np.array([2, 2, -2, -2, 4, 4, -3, 3, 5, -10], dtype=np.int64)
CASES += [
    op_case("div_int64_negative", "Div", [In(_num), In(_den)]),
    op_case("div_int32_negative", "Div", [In(_num.astype(np.int32)), In(_den.astype(np.int32))],
            opset=13),
    op_case("div_int32_random_signs", "Div", [In(d.ints(4, 5, low=-50, high=50, dtype=np.int32)),
                                              In(d.nonzero(5, dtype=np.int32))]),
    op_case("div_int64_const_neg_divisor", "Div", [In(d.ints(3, 4, low=-50, high=50)),
                                                   Const(np.array(-3, dtype=np.int64))]),
]

# float division by zero: ±inf and NaN where onnxruntime has them
CASES.append(op_case("div_f32_by_zero", "Div",
                     [In(np.array([1.0, -1.0, 0.0, 2.0], np.float32)),
                      In(np.array([0.0, 0.0, 0.0, -0.0], np.float32))]))

# -- Mod: the divisor's sign (fmod = 0, integers) or the dividend's (fmod = 1) -------------------
CASES += [
    op_case("mod_int64_signs", "Mod", [In(_num), In(_den)], opset=13),
    op_case("mod_int64_fmod_signs", "Mod", [In(_num), In(_den)], attrs={"fmod": 1}),
    op_case("mod_int32_bcast", "Mod", [In(d.ints(3, 4, low=-50, high=50, dtype=np.int32)),
                                       In(d.nonzero(4, dtype=np.int32))], opset=23),
    op_case("mod_int64_const_neg_divisor", "Mod", [In(d.ints(3, 4, low=-50, high=50)),
                                                   Const(np.array(-3, dtype=np.int64))]),
    op_case("mod_f32_fmod", "Mod", [In(d.f32(3, 4, scale=5)), In(d.pos(4))], attrs={"fmod": 1},
            opset=13),
    op_case("mod_f64_fmod_negative", "Mod", [In(d.f64(2, 3) * 5), In(-np.abs(d.f64(3)) - 0.5)],
            attrs={"fmod": 1}, opset=23),
    # a symbolic batch size: the remainder is only known at run time
    graph_case("mod_of_symbolic_shape", [helper.make_node("Shape", ["x"], ["s"]),
                                         helper.make_node("Mod", ["s", "k"], ["Y"])],
               {"x": In(d.f32(2, 3), dims=("batch", 3)), "k": Const(np.array([2, -2], np.int64))},
               ["Y"], feeds=[{"x": d.f32(1, 3)}, {"x": d.f32(3, 3)}, {"x": d.f32(4, 3)}]),
]


def test_float_mod_needs_fmod_before_opset_28(tmp_path):
    """Before opset 28 ONNX defines float Mod only with fmod = 1: fmod = 0 is refused, the file
    named (opset 28 defines it as a floor remainder: see test_ops_opsets.py)."""
    from qlower.errors import QlowerError
    from qlower.frontend import load_onnx

    path = tmp_path / "mod.onnx"
    path.write_bytes(op_case("mod_f32_fmod0", "Mod", [In(d.f32(3)), In(d.pos(3))])
                     .model.SerializeToString())
    with pytest.raises(QlowerError, match=r"mod\.onnx: .*fmod must be 1 for f32 operands before "
                                          r"opset 28 \(this model's opset is 18\)"):
        load_onnx(path)


# -- Pow: float and int bases, float and int exponents ------------------------------------------
CASES += [
    op_case("pow_f32_f32", "Pow", [In(d.pos(3, 4)), In(d.f32(3, 4))], opset=13),
    op_case("pow_f32_f32_bcast", "Pow", [In(d.pos(3, 4)), In(d.f32(4))]),
    op_case("pow_f32_const_half", "Pow", [In(d.pos(3, 4)), Const(np.array(0.5, np.float32))]),
    op_case("pow_f32_const_two", "Pow", [In(d.f32(3, 4)), Const(np.array(2.0, np.float32))]),
    op_case("pow_negbase_int64_exp", "Pow",
            [In(d.f32(3, 4)), In(np.array([0, 1, 2, 3], dtype=np.int64))]),
    op_case("pow_negbase_int32_exp", "Pow",
            [In(d.f32(2, 3)), Const(np.array([3, -1, 2], dtype=np.int32))], opset=23),
    op_case("pow_int32_int32", "Pow", [In(d.ints(3, 4, low=-4, high=5, dtype=np.int32)),
                                       In(d.ints(3, 4, low=0, high=4, dtype=np.int32))]),
    op_case("pow_int64_int64", "Pow", [In(d.ints(2, 3, low=-5, high=6)),
                                       In(np.array([0, 1, 3], dtype=np.int64))], opset=13),
    op_case("pow_int64_negative_exp", "Pow",
            [In(np.array([1, -1, 2, -2, 3, 1], np.int64)), In(np.array([-1, -1, -1, -2, -2, -3], np.int64))]),
    op_case("pow_int64_float_exp", "Pow", [In(d.ints(2, 3, low=0, high=9)),
                                           In(np.array([0.5, 2.0, 1.5], dtype=np.float32))]),
    op_case("pow_f64_f64", "Pow", [In(np.abs(d.f64(2, 3)) + 0.1), In(d.f64(2, 3))]),
]

# -- unary ops ----------------------------------------------------------------------------------
CASES += [
    op_case("sqrt_f32", "Sqrt", [In(d.pos(3, 4))], opset=13),
    op_case("sqrt_negative_nan", "Sqrt", [In(np.array([4.0, -1.0, 0.0, 2.0], np.float32))]),
    op_case("sqrt_f64", "Sqrt", [In(np.abs(d.f64(5)))], opset=23),
    op_case("neg_f32", "Neg", [In(d.f32(3, 4))], opset=13),
    op_case("neg_int32", "Neg", [In(d.ints(3, 4, dtype=np.int32))]),
    op_case("neg_int64", "Neg", [In(d.ints(5))], opset=23),
    op_case("relu_f32", "Relu", [In(d.f32(3, 4))], opset=13),
    op_case("relu_int32", "Relu", [In(d.ints(3, 4, dtype=np.int32))], opset=14),
    op_case("relu_int64", "Relu", [In(d.ints(2, 5))]),
    op_case("relu_f64", "Relu", [In(d.f64(2, 5))], opset=23),
    op_case("tanh_f32", "Tanh", [In(d.f32(3, 4, scale=3))], opset=13),
    op_case("tanh_f64", "Tanh", [In(d.f64(6))]),
    op_case("tanh_opset23", "Tanh", [In(d.f32(2, 3, scale=2))], opset=23),
    op_case("sigmoid_f32", "Sigmoid", [In(d.f32(3, 4, scale=3))], opset=13),
    op_case("sigmoid_saturating", "Sigmoid",
            [In(np.array([-100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0], np.float32))]),
    op_case("sigmoid_f64", "Sigmoid", [In(d.f64(6))], opset=23),
    op_case("erf_f32", "Erf", [In(d.f32(3, 4, scale=2))], opset=13),
    op_case("erf_opset18", "Erf", [In(d.f32(7, scale=3))], opset=18),
    op_case("erf_scalar", "Erf", [In(np.array(0.75, np.float32))]),
    op_case("gelu_scalar", "Gelu", [In(np.array(-1.25, np.float32))], opset=20),
    op_case("erf_f64", "Erf", [In(d.f64(6))], opset=23, reference=ONNX_REF,
            note="onnxruntime has no double Erf kernel"),
    op_case("gelu_exact_default", "Gelu", [In(d.f32(3, 4, scale=3))], opset=20),
    op_case("gelu_exact_explicit", "Gelu", [In(d.f32(3, 4, scale=3))],
            attrs={"approximate": "none"}, opset=20),
    op_case("gelu_tanh", "Gelu", [In(d.f32(3, 4, scale=3))], attrs={"approximate": "tanh"},
            opset=20),
    op_case("gelu_tanh_opset23", "Gelu", [In(d.f32(2, 5, scale=3))],
            attrs={"approximate": "tanh"}, opset=23),
    op_case("gelu_exact_opset23", "Gelu", [In(d.f32(2, 5, scale=3))], opset=23),
    op_case("gelu_f64", "Gelu", [In(d.f64(6))], opset=20, reference=ONNX_REF,
            note="onnxruntime has no double Gelu kernel"),
    op_case("identity_f32", "Identity", [In(d.f32(3, 4))], opset=13),
    op_case("identity_int64", "Identity", [In(d.ints(3))]),
    op_case("identity_bool", "Identity", [In(d.bools(2, 3))], opset=23),
    op_case("identity_const", "Identity", [Const(d.f32(2, 2))]),
]

# -- Cast ---------------------------------------------------------------------------------------
FRACTIONS = np.array([-2.9, -2.5, -1.5, -0.7, -0.0, 0.0, 0.3, 0.5, 1.5, 2.5, 2.9, 100.99],
                     dtype=np.float32)
TO = TensorProto
CASTS = [
    ("f32_to_i32_trunc", FRACTIONS, TO.INT32),
    ("f32_to_i64_trunc", FRACTIONS, TO.INT64),
    ("f32_to_i8_trunc", FRACTIONS, TO.INT8),
    ("f32_to_u8_trunc", np.abs(FRACTIONS), TO.UINT8),
    ("f32_to_bool", np.array([0.0, -0.0, 1.0, -2.5, 0.1, 1e-30], np.float32), TO.BOOL),
    ("f32_to_f64", d.f32(3, 4), TO.DOUBLE),
    ("f64_to_f32", d.f64(3, 4), TO.FLOAT),
    ("f32_to_f32", d.f32(3), TO.FLOAT),
    ("i64_to_f32", d.ints(3, 4, low=-1000, high=1000), TO.FLOAT),
    ("i32_to_f32", d.ints(3, 4, dtype=np.int32), TO.FLOAT),
    ("i32_to_i64", d.ints(3, 4, dtype=np.int32), TO.INT64),
    ("i64_to_i32", d.ints(3, 4), TO.INT32),
    ("i64_to_bool", np.array([0, 1, -1, 7], np.int64), TO.BOOL),
    ("bool_to_f32", d.bools(3, 4), TO.FLOAT),
    ("bool_to_i64", d.bools(3, 4), TO.INT64),
    ("bool_to_i32", d.bools(5), TO.INT32),
    ("f32_to_f16", d.f32(3, 4, scale=100), TO.FLOAT16),
    ("f16_to_f32", d.f32(3, 4).astype(np.float16), TO.FLOAT),
    ("f16_to_i32", (d.f32(3, 4) * 5).astype(np.float16), TO.INT32),
]
for name, x, to in CASTS:
    CASES.append(op_case(f"cast_{name}", "Cast", [In(x)], attrs={"to": to}))
CASES += [
    op_case("cast_opset13", "Cast", [In(FRACTIONS)], attrs={"to": TO.INT32}, opset=13),
    op_case("cast_opset19_saturate", "Cast", [In(FRACTIONS)], attrs={"to": TO.INT64,
                                                                     "saturate": 1}, opset=19),
    op_case("cast_opset23", "Cast", [In(d.bools(4))], attrs={"to": TO.FLOAT}, opset=23),
]

# -- Where --------------------------------------------------------------------------------------
CASES += [
    op_case("where_same", "Where", [In(d.bools(3, 4)), In(d.f32(3, 4)), In(d.f32(3, 4))],
            opset=13),
    op_case("where_bcast_cond", "Where", [In(d.bools(3, 1)), In(d.f32(4)), In(d.f32(3, 4))]),
    op_case("where_bcast_all", "Where", [In(d.bools(4)), In(d.f32(2, 1, 1)), In(d.f32(3, 1))]),
    op_case("where_scalar_cond", "Where",
            [In(np.array(True)), In(d.f32(2, 3)), In(d.f32(3))]),
    op_case("where_scalar_branches", "Where",
            [In(d.bools(2, 3)), Const(np.array(0.0, np.float32)),
             Const(np.array(-np.inf, np.float32))]),
    op_case("where_int64", "Where", [In(d.bools(2, 3)), In(d.ints(2, 3)), In(d.ints(3))],
            opset=23),
    op_case("where_bool_values", "Where", [In(d.bools(2, 3)), In(d.bools(2, 3)), In(d.bools(3))],
            reference=ONNX_REF, note="onnxruntime has no bool Where kernel"),
]

# -- Equal --------------------------------------------------------------------------------------
_F = np.array([[0.5, -1.0, 2.0], [0.5, 3.0, -1.0]], np.float32)
CASES += [
    op_case("equal_f32_some_equal", "Equal", [In(_F), Const(np.array([0.5, 3.0, -1.0], np.float32))],
            opset=13),
    op_case("equal_int64_bcast", "Equal", [In(d.ints(3, 1, low=0, high=3)),
                                           In(d.ints(4, low=0, high=3))]),
    op_case("equal_bool", "Equal", [In(d.bools(2, 3)), In(d.bools(3))], opset=23),
    op_case("equal_int32_scalar", "Equal", [In(d.ints(2, 4, low=0, high=2, dtype=np.int32)),
                                             Const(np.array(1, np.int32))], opset=18),
]

# -- a chain: the causal-mask idiom exporters write ---------------------------------------------
CASES.append(graph_case(
    "chain_mask_where_add",
    [helper.make_node("Cast", ["m"], ["mb"], to=TO.BOOL),
     helper.make_node("Where", ["mb", "zero", "ninf"], ["bias"]),
     helper.make_node("Add", ["x", "bias"], ["Y"])],
    {"m": In(d.ints(3, 3, low=0, high=2)), "x": In(d.f32(2, 3, 3)),
     "zero": Const(np.array(0.0, np.float32)), "ninf": Const(np.array(-1e9, np.float32))},
    ["Y"]))


@pytest.mark.parametrize(("case", "stage"), case_params(CASES))
def test_elementwise_op(case, stage):
    check_case(case, stage)
