"""The ONNX opsets qlower imports, and every schema version of its ops it was checked against.

``MAX_OPSET`` is the newest opset qlower has been verified with: a model stamped with a newer one
is refused (``tests/frontend/test_ops_opsets.py`` fails when the installed onnx defines a newer opset, so
the check is made, not forgotten). ``OP_VERSIONS`` lists, for every supported op, each schema
version in force between ``MIN_OPSET`` and ``MAX_OPSET`` (the first key may be older than
``MIN_OPSET``: the version in force there) and what it changed; the same test compares it with
``onnx.defs``. An element type that a version adds and qlower has no dtype for (bfloat16, the
float8/float6/float4 and 4-/2-bit integer types, strings) is refused at import with an error
that names the type and the value.
"""

from __future__ import annotations

MIN_OPSET, MAX_OPSET = 13, 28

_INT_TYPES_14 = "adds int8, int16, uint8, uint16"
# element types that a version adds and qlower refuses (it has no dtype for them)
_BF16 = "adds bfloat16 (refused)"
_F8 = "adds float8e4m3fn, float8e4m3fnuz, float8e5m2, float8e5m2fnuz (refused)"
_I4 = "adds int4, uint4 (refused)"
_F4 = "adds float4e2m1 (refused)"
_E8M0 = "adds float8e8m0 (refused)"
_I2 = "adds int2, uint2 (refused)"
_F6 = "adds float6e2m3, float6e3m2 (refused)"
_TYPES_21_25 = {21: f"{_F8}; {_I4}", 23: _F4, 24: _E8M0, 25: _I2}
_TYPES_19_25 = {19: _F8, 21: _I4, 23: _F4, 24: _E8M0, 25: _I2}

OP_VERSIONS: dict[str, dict[int, str]] = {
    "Add": {13: "", 14: _INT_TYPES_14},
    "Attention": {23: "", 24: "nonpad_kv_seqlen input", 25: "left/right_window_size"},
    "Cast": {13: "", 19: f"saturate (float8 targets only; ignored); {_F8}", 21: _I4, 23: _F4,
             24: f"round_mode (float8e8m0 targets only; ignored); {_E8M0}", 25: _I2, 28: _F6},
    "Concat": {13: ""},
    "Conv": {11: "", 22: _BF16},
    "Constant": {13: "", **_TYPES_19_25},
    "ConstantOfShape": {9: "", 20: f"{_BF16}; {_F8}", 21: _I4, 23: _F4, 24: _E8M0, 25: _I2},
    "Div": {13: "", 14: _INT_TYPES_14},
    "Equal": {13: "", 19: "adds string (refused)"},
    "Erf": {13: ""},
    "Expand": {13: ""},
    "Flatten": {13: "", **_TYPES_21_25},
    "Gather": {13: ""},
    "Gelu": {20: ""},
    "Gemm": {13: ""},
    "Identity": {13: "", 14: "adds sequences (refused)", 16: "adds optionals (refused)",
                 **_TYPES_19_25},
    "LayerNormalization": {17: ""},
    "LogSoftmax": {13: ""},
    "MatMul": {13: ""},
    "Mul": {13: "", 14: _INT_TYPES_14},
    "Neg": {13: ""},
    "NegativeLogLikelihoodLoss": {13: "", 22: _BF16},
    "Mod": {13: "", 28: "fmod = 0 defined for floats (A - floor(A / B) * B)"},
    "Pow": {13: "", 15: "adds bfloat16 exponents (refused)"},
    "ReduceMean": {13: "", 18: "axes attribute becomes an optional input; noop_with_empty_axes"},
    "ReduceSum": {13: ""},
    "Relu": {13: "", 14: "adds int8, int16, int32, int64"},
    "Reshape": {13: "", 14: "allowzero", **_TYPES_19_25},
    "Shape": {13: "", 15: "start, end", **_TYPES_19_25},
    "Sigmoid": {13: ""},
    "Slice": {13: ""},
    "Softmax": {13: ""},
    "SoftmaxCrossEntropyLoss": {13: ""},
    "Split": {13: "", 18: "num_outputs (uneven: the last part is smaller)"},
    "Sqrt": {13: ""},
    "Squeeze": {13: "", **_TYPES_21_25},
    "Sub": {13: "", 14: _INT_TYPES_14},
    "Tanh": {13: ""},
    "Transpose": {13: "", **_TYPES_21_25},
    "Trilu": {14: ""},
    "Unsqueeze": {13: "", **_TYPES_21_25},
    "Where": {9: "", 16: _BF16},
    # what Hugging Face exports add (mask construction, buffers, dropout)
    "And": {7: ""},
    "CumSum": {11: "", 14: f"adds float16; {_BF16}"},
    "Dropout": {13: "", 22: f"{_BF16}; {_F8}"},
    "GatherElements": {13: ""},
    "GatherND": {13: ""},
    "Greater": {13: ""},
    "GreaterOrEqual": {12: "", 16: _BF16},
    "IsInf": {10: "", 20: f"adds float16; {_BF16}; {_F8}"},
    "IsNaN": {13: "", 20: _F8},
    "Less": {13: ""},
    "LessOrEqual": {12: "", 16: _BF16},
    "Max": {13: ""},
    "Mean": {13: ""},
    "Min": {13: ""},
    "Not": {1: ""},
    "Or": {7: ""},
    "Range": {11: "", 27: f"adds float16 (stash_type: computed in float32 by default); {_BF16}"},
    "Sum": {13: ""},
    "Xor": {7: ""},
}
