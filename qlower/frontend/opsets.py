"""The ONNX opsets qlower imports, and every schema version of its ops it was checked against.

``MAX_OPSET`` is the newest opset qlower has been verified with: a model stamped with a newer one
is refused (``tests/test_ops_opsets.py`` fails when the installed onnx defines a newer opset, so
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
_LOW_PRECISION = "adds element types qlower refuses"

OP_VERSIONS: dict[str, dict[int, str]] = {
    "Add": {13: "", 14: _INT_TYPES_14},
    "Attention": {23: "", 24: "nonpad_kv_seqlen input", 25: "left/right_window_size"},
    "Cast": {13: "", 19: "saturate (float8 targets only; ignored)", 21: _LOW_PRECISION,
             23: _LOW_PRECISION, 24: "round_mode (float8e8m0 targets only; ignored)",
             25: _LOW_PRECISION, 28: _LOW_PRECISION},
    "Concat": {13: ""},
    "Constant": {13: "", 19: _LOW_PRECISION, 21: _LOW_PRECISION, 23: _LOW_PRECISION,
                 24: _LOW_PRECISION, 25: _LOW_PRECISION},
    "ConstantOfShape": {9: "", 20: _LOW_PRECISION, 21: _LOW_PRECISION, 23: _LOW_PRECISION,
                        24: _LOW_PRECISION, 25: _LOW_PRECISION},
    "Div": {13: "", 14: _INT_TYPES_14},
    "Equal": {13: "", 19: "adds string (refused)"},
    "Erf": {13: ""},
    "Expand": {13: ""},
    "Flatten": {13: "", 21: _LOW_PRECISION, 23: _LOW_PRECISION, 24: _LOW_PRECISION,
                25: _LOW_PRECISION},
    "Gather": {13: ""},
    "Gelu": {20: ""},
    "Gemm": {13: ""},
    "Identity": {13: "", 14: "adds sequences (refused)", 16: "adds optionals (refused)",
                 19: _LOW_PRECISION, 21: _LOW_PRECISION, 23: _LOW_PRECISION,
                 24: _LOW_PRECISION, 25: _LOW_PRECISION},
    "LayerNormalization": {17: ""},
    "LogSoftmax": {13: ""},
    "MatMul": {13: ""},
    "Mul": {13: "", 14: _INT_TYPES_14},
    "Neg": {13: ""},
    "NegativeLogLikelihoodLoss": {13: "", 22: _LOW_PRECISION},
    "Pow": {13: "", 15: _LOW_PRECISION},
    "ReduceMean": {13: "", 18: "axes attribute becomes an optional input; noop_with_empty_axes"},
    "ReduceSum": {13: ""},
    "Relu": {13: "", 14: "adds int8, int16, int32, int64"},
    "Reshape": {13: "", 14: "allowzero", 19: _LOW_PRECISION, 21: _LOW_PRECISION,
                23: _LOW_PRECISION, 24: _LOW_PRECISION, 25: _LOW_PRECISION},
    "Shape": {13: "", 15: "start, end", 19: _LOW_PRECISION, 21: _LOW_PRECISION,
              23: _LOW_PRECISION, 24: _LOW_PRECISION, 25: _LOW_PRECISION},
    "Sigmoid": {13: ""},
    "Slice": {13: ""},
    "Softmax": {13: ""},
    "SoftmaxCrossEntropyLoss": {13: ""},
    "Split": {13: "", 18: "num_outputs (uneven: the last part is smaller)"},
    "Sqrt": {13: ""},
    "Squeeze": {13: "", 21: _LOW_PRECISION, 23: _LOW_PRECISION, 24: _LOW_PRECISION,
                25: _LOW_PRECISION},
    "Sub": {13: "", 14: _INT_TYPES_14},
    "Tanh": {13: ""},
    "Transpose": {13: "", 21: _LOW_PRECISION, 23: _LOW_PRECISION, 24: _LOW_PRECISION,
                  25: _LOW_PRECISION},
    "Trilu": {14: ""},
    "Unsqueeze": {13: "", 21: _LOW_PRECISION, 23: _LOW_PRECISION, 24: _LOW_PRECISION,
                  25: _LOW_PRECISION},
    "Where": {9: "", 16: _LOW_PRECISION},
}
