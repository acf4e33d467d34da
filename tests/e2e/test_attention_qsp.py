"""Attention with the qsp softmax (``nn.attention=qsp``): the value kernel's distribution is
the QSP polynomial's, within the reported total variation of softmax, so each output is within
2·max|V|·tv_bound of attention's; the degree follows the budget; the kernel runs in Qiskit."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from test_quantum_pipeline import save
from util import cli, make_model, qasm_state_error

import qlower
from qlower.api import onnxruntime_outputs
from qlower.backends import run_graph

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def model(b=2, h=2, lq=3, lk=5, d=3, dv=2, causal=0):
    node = H.make_node("Attention", ["q", "k", "v"], ["y"], name="att", is_causal=causal)
    ins = [VI("q", T.FLOAT, [b, h, lq, d]), VI("k", T.FLOAT, [b, h, lk, d]),
           VI("v", T.FLOAT, [b, h, lk, dv])]
    return make_model([node], ins, [VI("y", T.FLOAT, None)], opset=23)


def feeds(seed, b=2, h=2, lq=3, lk=5, d=3, dv=2):
    rng = np.random.default_rng(seed)
    return {"q": rng.standard_normal((b, h, lq, d)).astype(np.float32),
            "k": rng.standard_normal((b, h, lk, d)).astype(np.float32),
            "v": rng.standard_normal((b, h, lk, dv)).astype(np.float32)}


def value_op(program):
    (op,) = [o for o in program.graph.ops if o.name == "q.encode.softmax_qsp"]
    return op


@pytest.mark.parametrize("eps", [1e-1, 1e-2, 1e-3])
@pytest.mark.parametrize("causal", [0, 1])
def test_outputs_within_the_reported_bound(tmp_path, eps, causal):
    path = save(model(causal=causal), tmp_path)
    x = feeds(int(eps * 1e4) + causal)
    program = qlower.compile(path, "cirq", overrides={"nn.attention": "qsp"}, epsilon=eps,
                             score_range=8.0)
    tv = value_op(program).attr("tv_bound")
    assert 0 < tv <= eps
    bound = 2 * np.abs(x["v"]).max() * tv
    ort = onnxruntime_outputs(path, x)["y"]
    ref = run_graph(program.graph, x)["y"]
    sim = program.run(x)["y"]
    assert np.max(np.abs(ref - ort)) <= bound + 1e-6
    assert np.max(np.abs(sim - ort)) <= bound + 2e-5
    # the bound is met, not vacuous: the degree one step lower would not meet epsilon
    from qlower.blocks.qsp import exp_target, poly_error

    d = len(value_op(program).attr("phases")) - 1
    if d > 2:
        assert 5 * poly_error(exp_target(8.0, 1.0), d - 2) / 0.9 > eps


def test_degree_grows_as_epsilon_shrinks_and_estimate_reports_it(tmp_path, capsys):
    path = save(model(), tmp_path)
    degrees = []
    for eps in ("0.1", "0.001", "0.00001"):
        code, out, _ = cli(capsys, "estimate", str(path), "--strategy", "nn.attention=qsp",
                           "--epsilon", eps, "--score-range", "8", "--json")
        assert code == 0
        (k,) = [k for k in json.loads(out)["kernels"] if k["method"] == "softmax-qsp+data-fable"]
        a = k["approximation"]
        assert a["tv_bound"] <= float(eps) and a["range"] == 8.0
        degrees.append(a["degree"])
    assert degrees == sorted(degrees) and degrees[0] < degrees[-1]


def test_qsp_value_kernel_in_qiskit_equals_qsim(tmp_path):
    path = save(model(b=1), tmp_path)
    x = feeds(7, b=1)
    program = qlower.compile(path, "qasm3", overrides={"att": "qsp"}, epsilon=1e-2)
    program.write(tmp_path / "out")
    (kc,) = [kc for kc in program.kernels if kc.method == "softmax-qsp+data-fable"]
    text = (tmp_path / "out" / f"{kc.name}.qasm").read_text()
    assert qasm_state_error(text, kc, program.bind(x)[kc.name][:2])[0] < 1e-5
