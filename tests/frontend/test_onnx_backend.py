"""ONNX's own node-conformance suite (``onnx.backend.test``) against ``qlower.backend``.

The selection is every node test whose ops are all in ``SUPPORTED_OPS`` (an op added there is
picked up here by itself). Each selected case either runs — with the reference backend (the
canonical stage on the numpy interpreter) and with the qsim backend (compiled; ``Gemm`` and
``MatMul`` weights, graph inputs in these tests, are frozen into constants so those layers run
as quantum kernels) — and must match ONNX's expected outputs (rtol 1e-3, atol 1e-7, dtype and
shape exactly), or is refused by qlower, for one of the reasons in ``REASONS``, with that error.
``python tests/frontend/test_onnx_backend.py`` prints the counts.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import TensorProto
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner, _normalize_tensor

import qlower.backend
from qlower.errors import QlowerError
from qlower.frontend.onnx_import import SUPPORTED_OPS
from qlower.frontend.onnx_values import DTYPES

# -- the selection and the expected outcome of every case --------------------------------------


def supported(model: onnx.ModelProto) -> bool:
    return all(n.op_type in SUPPORTED_OPS and n.domain in ("", "ai.onnx")
               for n in model.graph.node)


ELEMENT_TYPE = "element type qlower does not take"
NOT_TENSOR = "optional or sequence value"
RUNTIME_RANK = "runtime axes that decide the result's rank"
OLD_OPSET = "an opset older than 13"
TRAINING = "Dropout in training mode (a random mask)"
REASONS = (ELEMENT_TYPE, NOT_TENSOR, RUNTIME_RANK, OLD_OPSET, TRAINING)

# Cases qlower gets wrong today, owned by other work; not run here until fixed.
OPEN: dict[str, str] = {}

_REDUCES = ("ReduceMean", "ReduceSum")


def _type_name(elem: int) -> str:
    return TensorProto.DataType.Name(elem)


def refusal(model: onnx.ModelProto) -> tuple[str, str] | None:
    """(reason, a regex of qlower's error) when qlower must refuse ``model``, else None."""
    g = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:
        return OLD_OPSET, rf"opset {opset} is too old; qlower imports opsets 13-"
    for vi in g.input:
        if not vi.type.HasField("tensor_type"):
            return NOT_TENSOR, rf"input '{re.escape(vi.name)}' is not a tensor"
        if vi.type.tensor_type.elem_type not in DTYPES:
            return ELEMENT_TYPE, (rf"input '{re.escape(vi.name)}' has element type "
                                  rf"{_type_name(vi.type.tensor_type.elem_type)}, which qlower "
                                  "does not support")
    inputs = {vi.name for vi in g.input}
    for n in g.node:
        attrs = {a.name: a for a in n.attribute}
        if n.op_type == "Cast" and attrs["to"].i not in DTYPES:
            return ELEMENT_TYPE, (rf"\(Cast\): the Cast target has element type "
                                  rf"{_type_name(attrs['to'].i)}, which qlower does not support")
        for a in attrs.values():
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type not in DTYPES:
                return ELEMENT_TYPE, rf"has element type {_type_name(a.t.data_type)}, which"
        if n.op_type in _REDUCES and len(n.input) > 1 and n.input[1] in inputs:
            keep = attrs["keepdims"].i if "keepdims" in attrs else 1
            if not keep:
                return RUNTIME_RANK, r"axes are not known, so the result rank is unknown"
        if n.op_type == "Dropout" and len(n.input) > 2 and n.input[2]:
            return TRAINING, r"\(Dropout\): training mode \(random dropout\) is not supported"
    return None


NODE_TESTS = [t for t in load_model_tests(kind="node") if supported(t.model)]
REFUSED = {t.name: refusal(t.model) for t in NODE_TESTS if refusal(t.model) is not None}
RUN = sorted(t.name for t in NODE_TESTS if t.name not in REFUSED and t.name not in OPEN)


def counts() -> dict[str, int]:
    c = Counter(reason for reason, _ in REFUSED.values())
    return {"selected": len(NODE_TESTS), "run": len(RUN), "not run (open)": len(OPEN),
            **{f"refused: {r}": c[r] for r in REASONS}}


# -- the suite, on both backends ---------------------------------------------------------------


class ReferenceBackend(qlower.backend.QlowerBackend):
    """The canonical stage on the numpy interpreter."""

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        return super().prepare(model, device, backend="reference", **kwargs)


def matrix_weights(model: onnx.ModelProto) -> list[str]:
    """The frozen weights that are one matrix (a batch of matrices or a vector stays a host
    matmul: only a dense layer becomes a kernel)."""
    rank = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in model.graph.input}
    return [n for n in qlower.backend.weight_inputs(model)
            if rank[n] == 2 and any(node.input[1] == n for node in model.graph.node)]


class QsimBackend(qlower.backend.QlowerBackend):
    """Compiled and run on qsim; a Gemm/MatMul by a weight matrix must have become a kernel."""

    @classmethod
    def prepare(cls, model, device="CPU", **kwargs):
        rep = super().prepare(model, device, backend="qsim", **kwargs)
        if not matrix_weights(model):
            return rep
        run = rep.run

        def run_and_check(inputs, **kw):
            outputs = run(inputs, **kw)
            assert rep.program.kernels, f"{model.graph.name}: no quantum kernel"
            return outputs

        rep.run = run_and_check
        return rep


CASES = re.compile("^(" + "|".join(re.escape(n) for n in RUN) + ")_cpu$")


def node_test_class(backend, name: str) -> type:
    bt = onnx.backend.test.BackendTest(backend, __name__)
    bt.include(CASES.pattern)
    (case,) = [c for c in bt.test_cases.values() if any(CASES.match(a) for a in vars(c))]
    # keep only the selected cases: the suite would otherwise report thousands of skips
    for attr in [a for a in vars(case) if a.startswith("test_") and not CASES.match(a)]:
        delattr(case, attr)
    case.__name__ = case.__qualname__ = name
    return case


ReferenceNodeTest = node_test_class(ReferenceBackend, "ReferenceNodeTest")
QsimNodeTest = node_test_class(QsimBackend, "QsimNodeTest")


@pytest.mark.parametrize("backend", qlower.backend.BACKENDS)
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_its_reason(name, backend):
    case = next(t for t in NODE_TESTS if t.name == name)
    inputs = [_normalize_tensor(x) for x in case.data_sets[0][0]]
    with pytest.raises(QlowerError) as e:
        qlower.backend.prepare(case.model, backend=backend).run(inputs)
    assert re.search(REFUSED[name][1], str(e.value)), str(e.value)
    assert str(e.value).startswith(f"{name}: "), "the error names the model"


def test_selection():
    """Every case is accounted for: run, refused for a listed reason, or open elsewhere."""
    assert set(RUN) | set(REFUSED) | set(OPEN) == {t.name for t in NODE_TESTS}
    assert not set(OPEN) & set(REFUSED)
    assert set(OPEN) <= {t.name for t in NODE_TESTS}, "an OPEN case is no longer selected"
    assert len(RUN) > 450
    # QsimNodeTest checks that these became quantum kernels
    dense = [t.name for t in NODE_TESTS if t.name in RUN and matrix_weights(t.model)]
    assert len([n for n in dense if n.startswith("test_gemm_")]) == 11
    assert "test_matmul_2d" in dense


def test_the_runner_compares_what_onnx_expects():
    """The runner fails a wrong output (so a pass means the numbers are right)."""
    want = np.array([1.0, 2.0], np.float32)
    Runner.assert_similar_outputs([want], [want * (1 + 1e-4)], 1e-3, 1e-7)
    for wrong in (want * 1.01, want.astype(np.float64), want[:1]):
        with pytest.raises(AssertionError):
            Runner.assert_similar_outputs([want], [wrong], 1e-3, 1e-7)


# -- the backend's own options -----------------------------------------------------------------


def gemm_model():
    h, vi, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
    node = h.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)
    from util import make_model  # tests/ is on sys.path under pytest (conftest)

    return make_model([node], [vi("a", T.FLOAT, [2, 3]), vi("b", T.FLOAT, [4, 3]),
                               vi("c", T.FLOAT, [4])], [vi("y", T.FLOAT, [2, 4])])


def test_weights_are_frozen_and_lowered():
    model = gemm_model()
    assert qlower.backend.weight_inputs(model) == ["b", "c"]
    rep = qlower.backend.prepare(model)
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (4, 3), (4,)))
    (y,) = rep.run([a, b, c])
    assert np.allclose(y, a @ b.T + c, atol=1e-5)
    # 3 inputs + the bias and offset would cross 4: the selector form carries them
    assert [k.method for k in rep.program.kernels] == ["svd-select"]
    assert qlower.backend.supports_device("CPU") and not qlower.backend.supports_device("CUDA")


@pytest.mark.parametrize("stage", ["imported", "canonical", "lowered"])
def test_reference_backend_runs_a_stage(stage):
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (4, 3), (4,)))
    rep = qlower.backend.prepare(gemm_model(), backend="reference", stage=stage)
    (y,) = rep.run({"a": a, "b": b, "c": c})
    assert y.dtype == np.float32 and np.allclose(y, a @ b.T + c, atol=1e-6)
    names = {op.name for op in rep.program.ops}
    assert ("onnx.Gemm" in names) == (stage == "imported")
    frozen = qlower.backend.prepare(gemm_model(), backend="reference", stage=stage,
                                    freeze="weights")
    (yf,) = frozen.run({"a": a, "b": b, "c": c})
    assert np.allclose(yf, y, atol=1e-6)


def test_backend_options_are_checked():
    model = gemm_model()
    for options, message in [
        ({"backend": "gpu"}, "unknown backend 'gpu' (backends: qsim, reference)"),
        ({"backend": "reference", "stage": "late"},
         "unknown stage 'late' (stages: imported, canonical, lowered)"),
        ({"backend": "reference", "shots": 10}, "options shots need backend='qsim'"),
        ({"freeze": "all"}, "freeze must be 'weights' or 'none', got 'all'"),
    ]:
        with pytest.raises(QlowerError) as e:
            qlower.backend.prepare(model, **options)
        assert str(e.value) == message


def test_run_model_with_shots():
    h, vi, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
    w = onnx.numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    from util import make_model

    model = make_model([h.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", T.FLOAT, [1, 2])],
                       [vi("y", T.FLOAT, [1, 2])], [w])
    (y,) = qlower.backend.run_model(model, [np.array([[0.6, -0.8]], np.float32)], shots=100_000)
    assert np.allclose(y, [[0.6, -0.8]], atol=0.05)
    with pytest.raises(NotImplementedError):
        qlower.backend.run_node(model.graph.node[0], [])


if __name__ == "__main__":
    for key, value in counts().items():
        print(f"{value:5d}  {key}")
