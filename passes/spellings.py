"""Op names as rewrite patterns match them: the canonical ``nn`` spelling and its ``onnx`` twin.

Patterns accept both, so a pass works before or after ``onnx-to-nn``.
"""

from __future__ import annotations

ADD = ("nn.add", "onnx.Add")
SUB = ("nn.sub", "onnx.Sub")
MUL = ("nn.mul", "onnx.Mul")
DIV = ("nn.div", "onnx.Div")
POW = ("nn.pow", "onnx.Pow")
ERF = ("nn.erf", "onnx.Erf")
TANH = ("nn.tanh", "onnx.Tanh")
WHERE = ("nn.where", "onnx.Where")
MATMUL = ("nn.matmul", "onnx.MatMul")
TRANSPOSE = ("nn.transpose", "onnx.Transpose")
SOFTMAX = ("nn.softmax", "onnx.Softmax")
LOG_SOFTMAX = ("nn.log_softmax", "onnx.LogSoftmax")
REDUCE_MEAN = ("nn.reduce_mean", "onnx.ReduceMean")
REDUCE_SUM = ("nn.reduce_sum", "onnx.ReduceSum")
NLL_LOSS = ("nn.nll_loss", "onnx.NegativeLogLikelihoodLoss")
