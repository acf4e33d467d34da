"""Layer norm as a centring kernel: exact (three-way agreement on random and structured
inputs, odd sizes, batches), ε honoured, β added, refusals in one line, and the cost the
centring block states."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from test_quantum_pipeline import save, three_way
from util import make_model

import qlower
from qlower.errors import QlowerError

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def ln_model(shape, eps=1e-5, bias=True, seed=0, axis=-1):
    rng = np.random.default_rng(seed)
    N = shape[-1]
    inits = [onnx.numpy_helper.from_array(rng.standard_normal(N).astype(np.float32), "g")]
    ins = ["x", "g"]
    if bias:
        inits.append(onnx.numpy_helper.from_array(rng.standard_normal(N).astype(np.float32), "b"))
        ins.append("b")
    node = H.make_node("LayerNormalization", ins, ["y"], name="ln", epsilon=eps, axis=axis)
    return make_model([node], [VI("x", T.FLOAT, list(shape))], [VI("y", T.FLOAT, None)], inits)


@pytest.mark.parametrize("shape", [(1, 2), (3, 5), (2, 3, 8), (4, 13), (2, 16)])
@pytest.mark.parametrize("bias", [True, False])
def test_three_way(tmp_path, shape, bias):
    path = save(ln_model(shape, bias=bias), tmp_path)
    x = (np.random.default_rng(1).standard_normal(shape) * 3 + 1).astype(np.float32)
    program = three_way(path, {"x": x}, overrides={"nn.layer_norm": "quantum"})
    assert [kc.method for kc in program.kernels] == ["centring"]


@pytest.mark.parametrize("eps", [1e-5, 0.5, 10.0])
def test_epsilon_is_honoured(tmp_path, eps):
    path = save(ln_model((3, 6), eps=eps), tmp_path)
    x = (np.random.default_rng(2).standard_normal((3, 6)) * 0.3).astype(np.float32)  # σ² ~ ε
    three_way(path, {"x": x}, overrides={"ln": "quantum"})


def test_structured_inputs(tmp_path):
    path = save(ln_model((4, 8)), tmp_path)
    x = np.stack([np.full(8, 2.5), np.zeros(8), np.arange(8.0), np.eye(8)[3] * 1e3])
    program = qlower.compile(path, "cirq", overrides={"ln": "quantum"})
    from qlower.api import onnxruntime_outputs

    ort = onnxruntime_outputs(path, {"x": x.astype(np.float32)})["y"]
    sim = program.run({"x": x.astype(np.float32)})["y"]
    # a constant row normalises to its bias, a zero row too
    assert np.max(np.abs(sim - ort)) <= 1e-4 * np.max(np.abs(ort))


def test_cost_is_the_centring_blocks(tmp_path):
    from qlower.blocks.centring import centring_cnots

    path = save(ln_model((2, 16)), tmp_path)
    (k,) = qlower.estimate(path, overrides={"nn.layer_norm": "quantum"}).kernels
    # amplitude encoding of 16 entries (16 - 4 - 1 CNOTs) and the centring block
    assert k.resources.cnots == 11 + centring_cnots(4, 16)
    assert k.resources.qubits == 4 + 2 and k.method == "centring"


def test_shots_are_refused_with_the_reason(tmp_path):
    path = save(ln_model((2, 4)), tmp_path)
    program = qlower.compile(path, "cirq", overrides={"nn.layer_norm": "quantum"})
    with pytest.raises(QlowerError) as e:
        program.run({"x": np.ones((2, 4), np.float32)}, shots=100)
    assert str(e.value) == ("kernel k0: its outputs have signs a shot read-out cannot see; "
                            "lower it with signs=offset (the default; a layer norm's centring "
                            "kernel has no offset) or run without shots")


def test_normalising_more_than_the_last_axis_is_refused(tmp_path):
    path = save(ln_model((2, 3, 4), axis=1), tmp_path)
    with pytest.raises(QlowerError) as e:
        qlower.compile(path, "cirq", overrides={"ln": "quantum"})
    assert "node 'ln' (nn.layer_norm): strategy 'quantum' does not apply: it normalises over " \
           "more than the last axis" in str(e.value)
