"""ONNX models the loader fuzz (``tests/fuzz_cli.py --kind onnx``) found ending in exit 3.

Each is bad (or unusual but valid) input: a valid one must work, a bad one must get one line
``error: FILE: ...`` and exit status 2 on every command.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from util import assert_refused, cli, make_model

vi = h.make_tensor_value_info
ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(3)
W = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)




def gemm(alpha: float = 1.0, beta: float = 1.0, w=W, b=B, batch: str = "batch") -> onnx.ModelProto:
    """y = relu(alpha x Wᵀ + beta b), x: [batch, 4]."""
    return make_model(
        [h.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", alpha=alpha, beta=beta, transB=1),
         h.make_node("Relu", ["h"], ["y"], name="relu")],
        [vi("x", T.FLOAT, [batch, 4])], [vi("y", T.FLOAT, [batch, 3])],
        [nh.from_array(w, "w"), nh.from_array(b, "b")])


def matmul_add(b: np.ndarray) -> onnx.ModelProto:
    """y = x @ Wᵀ + b as MatMul then Add (the bias is an Add operand, as torch writes it)."""
    return make_model(
        [h.make_node("MatMul", ["x", "wt"], ["m"], name="mm"),
         h.make_node("Add", ["m", "b"], ["y"], name="bias")],
        [vi("x", T.FLOAT, ["batch", 4])], [vi("y", T.FLOAT, ["batch", 3])],
        [nh.from_array(np.ascontiguousarray(W.T), "wt"), nh.from_array(b, "b")])


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez("x.npz", x=RNG.standard_normal((2, 4)).astype(np.float32))
    return tmp_path


COMMANDS = [["inspect"], ["compile", "-o", "out"], ["run", "--inputs", "x.npz"], ["estimate"]]


def every_command(path: str):
    for c in COMMANDS:
        yield [c[0], path, *c[1:]]


# -- string fields --------------------------------------------------------------------------


def test_invalid_utf8_in_a_string_field(work, capsys):
    data = bytearray(gemm().SerializeToString())
    i = data.find(b"relu")
    data[i + 1] = 0xFF  # the node name 'relu' (and no other string) is no longer UTF-8
    (work / "utf8.onnx").write_bytes(bytes(data))
    for argv in every_command("utf8.onnx"):
        assert_refused(capsys, argv, "utf8.onnx: not a valid ONNX model: graph.node[1].name is "
                       "not valid UTF-8 (b'r\\xfflu')")


def test_non_ascii_dim_param_is_a_symbol(work, capsys):
    onnx.save(gemm(batch="bätch"), "uni.onnx")
    status, out, err = cli(capsys, "inspect", "uni.onnx", "--stage", "imported")
    assert (status, err) == (0, "")
    assert "graph @g(%x: tensor<(b_tch)x4xf32>)" in out
    assert cli(capsys, "run", "uni.onnx", "--inputs", "x.npz", "--check")[0] == 0


# -- sizes --------------------------------------------------------------------------------------


def unknown_size_model() -> onnx.ModelProto:
    """x: [batch, n, 4] reshaped to [2, -1, 4]: the middle size is batch·n/2, which no
    symbol names (a ``?``), and a dense layer on it."""
    return make_model(
        [h.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
         h.make_node("MatMul", ["r", "wt"], ["y"], name="mm")],
        [vi("x", T.FLOAT, ["batch", "n", 4])], [vi("y", T.FLOAT, [2, None, 3])],
        [nh.from_array(np.array([2, -1, 4], np.int64), "shape"),
         nh.from_array(np.ascontiguousarray(W.T), "wt")])


def test_layer_on_a_size_nothing_knows(work, capsys):
    onnx.save(unknown_size_model(), "unknown.onnx")
    np.savez("x3.npz", x=np.ones((2, 3, 4), np.float32))
    assert cli(capsys, "run", "unknown.onnx", "--inputs", "x3.npz", "--check")[0] == 0
    message = ("unknown.onnx: node 'mm': the layer's input tensor<2x?x4xf32> has a size that "
               "nothing determines before running; a quantum kernel needs its sweep count (give "
               "the model named sizes, or --strategy mm=host)")
    for argv in (["compile", "unknown.onnx", "-o", "out"], ["estimate", "unknown.onnx"],
                 ["run", "unknown.onnx", "--inputs", "x3.npz", "--backend", "qsim"],
                 ["inspect", "unknown.onnx", "--stage", "lowered"]):
        assert_refused(capsys, argv, message)
    assert cli(capsys, "compile", "unknown.onnx", "-o", "out", "--strategy", "mm=host")[0] == 0


def gather_model(index: int) -> onnx.ModelProto:
    """A packed linear layer whose output is picked apart by a constant Gather index."""
    w = RNG.standard_normal((4, 6)).astype(np.float32)
    return make_model(
        [h.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
         h.make_node("Reshape", ["m", "shape"], ["r"], name="reshape"),
         h.make_node("Gather", ["r", "idx"], ["y"], name="pick", axis=1)],
        [vi("x", T.FLOAT, ["batch", 4])], [vi("y", T.FLOAT, ["batch", 3])],
        [nh.from_array(w, "w"), nh.from_array(np.array([0, 2, 3], np.int64), "shape"),
         nh.from_array(np.array(index, np.int64), "idx")])


def test_gather_index_out_of_range(work, capsys):
    onnx.save(gather_model(5), "oob.onnx")
    assert cli(capsys, "inspect", "oob.onnx")[0] == 0
    assert cli(capsys, "compile", "oob.onnx", "-o", "out")[0] == 0  # the Gather stays on the host
    assert_refused(capsys, ["run", "oob.onnx", "--inputs", "x.npz"],
                   "oob.onnx: evaluating %y = nn.gather (node 'pick'): index out of range for "
                   "axis 1 of size 2")


# -- non-finite numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("key, value, shown", [
    ("alpha", np.nan, "NaN"), ("beta", np.inf, "Inf"), ("alpha", -np.inf, "-Inf")])
def test_non_finite_gemm_attribute(work, capsys, key, value, shown):
    onnx.save(gemm(**{key: float(value)}), "g.onnx")
    for argv in every_command("g.onnx"):
        assert_refused(capsys, argv, f"g.onnx: node 'fc' (Gemm): attribute '{key}' is {shown}; "
                       "qlower takes only finite float attributes")


def test_folded_weight_that_overflows(work, capsys):
    """alpha · W overflows float32: the folded layer's weight is infinite."""
    onnx.save(gemm(alpha=1e38, w=np.sign(W) * 10), "big.onnx")
    for argv in every_command("big.onnx"):
        assert_refused(capsys, argv, "big.onnx: %h = nn.linear (node 'fc'): its weight %w.scaled "
                       "(folded by fuse-linear) contains 12 Inf of 12 values; weights must be "
                       "finite")


def test_infinite_bias_of_an_add(work, capsys):
    """+Inf in a constant Add operand passes as an attention-style mask at import; folded into
    the layer's bias it is a weight, and refused."""
    b = B.copy()
    b[0] = np.inf
    onnx.save(matmul_add(b), "inf.onnx")
    for argv in every_command("inf.onnx"):
        assert_refused(capsys, argv, "inf.onnx: %y = nn.linear (node 'mm'): its "
                       "bias %b contains 1 Inf of 3 values; weights must be finite")


def test_weights_near_the_float32_limit(work, capsys):
    """Weights near 1e38 are finite: compile prints finite numbers and no numpy warning."""
    onnx.save(gemm(w=W * 1e37), "near.onnx")
    with _no_warnings():
        status, out, err = cli(capsys, "compile", "near.onnx", "-o", "out")
    assert (status, err) == (0, "")
    assert "nan" not in out and "inf" not in out
    status, out, err = cli(capsys, "run", "near.onnx", "--inputs", "x.npz", "--backend", "qsim",
                           "--check")
    assert (status, err) == (0, "")


class _no_warnings:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings(record=True)
        self.caught = self._w.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._w.__exit__(*exc)
        assert [str(w.message) for w in self.caught] == []


# -- names and external data --------------------------------------------------------------------


def test_initializer_name_of_100000_characters(work, capsys):
    m = gemm()
    long = "w" * 100_000
    m.graph.initializer[0].name = long
    m.graph.node[0].input[1] = long
    onnx.save(m, "long.onnx")
    for argv in every_command("long.onnx"):
        assert_refused(capsys, argv, "long.onnx: initializer 'wwwwwwwwwwwwwwwwwwww…' has a name "
                       "of 100000 characters; qlower takes names of up to 4096")


def external(model: onnx.ModelProto, location: str) -> onnx.ModelProto:
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = T.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "48")):
        e = t.external_data.add()
        e.key, e.value = key, value
    return model


@pytest.mark.parametrize("location, shown", [
    ("a\0b.bin", "'a\\x00b.bin'"),
    ("x" * 5000, "'" + "x" * 20 + "…'"),
])
def test_unusable_external_location(work, capsys, location, shown):
    onnx.save(external(gemm(), location), "ext.onnx")
    for argv in every_command("ext.onnx"):
        assert_refused(capsys, argv, f"ext.onnx: external data of initializer 'w': location "
                       f"{shown} is not a usable file name")


def test_attention_scale_beyond_float32(work, capsys):
    """torch's split scale (q·c and kᵀ·c) with c = 7e29: the product 5e59 is no float32 scale,
    so match-attention leaves the graph as it is (it built nn.attention {scale = inf}: exit 3)."""
    m = onnx.load(ROOT / "tests" / "models" / "torch2.15" / "sdpa_causal_dynamo_opset18.onnx")
    c = np.float32(4 ** -0.25)  # d = 4: the factor on q and on kᵀ is d^(-1/4)
    t = next(t for t in m.graph.initializer if nh.to_array(t).size == 1 and nh.to_array(t) == c)
    t.CopyFrom(nh.from_array(nh.to_array(t) * np.float32(1e30), t.name))
    onnx.save(m, "scale.onnx")
    status, out, err = cli(capsys, "inspect", "scale.onnx")
    assert (status, err) == (0, "") and "nn.attention" not in out
    np.savez("qkv.npz", **{n: RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)
                           for n in ("q", "k", "v")})
    assert cli(capsys, "compile", "scale.onnx", "-o", "out")[0] == 0
    assert cli(capsys, "run", "scale.onnx", "--inputs", "qkv.npz")[0] == 0


def test_shot_run_whose_outputs_overflow(work, capsys):
    """Weights of 3.4e38 in the second layer: some shot repetitions overflow float32. Their
    spread and the check are NaN or Inf, said as numbers, without numpy warnings."""
    m = onnx.load(ROOT / "examples" / "mlp.onnx")
    t = next(t for t in m.graph.initializer if t.name == "fc2.weight")
    a = nh.to_array(t).copy()
    a.flat[::3] = 3.4e38
    t.CopyFrom(nh.from_array(a, "fc2.weight"))
    onnx.save(m, "over.onnx")
    shutil.copy(ROOT / "examples" / "mlp_inputs.npz", "in.npz")
    with _no_warnings():
        status, out, err = cli(capsys, "run", "over.onnx", "--inputs", "in.npz", "--backend",
                               "qsim", "--shots", "2000", "--check")
    assert status in (1, 2) and err.count("\n") - err.count("warning: kernel") == 1


# -- shapes that make onnx's data propagation allocate without end ------------------------------


def shape_reshape(target: int) -> onnx.ModelProto:
    """Shape(x) (one element, 4) reshaped to ``[target]``: as a flipped byte left torch's
    export (``1`` became 38280596832649217); onnx's data propagation then allocates until the
    machine runs out of memory (24 GB and the OOM killer, before the check)."""
    nodes = [h.make_node("Shape", ["x"], ["s"], name="shape"),
             h.make_node("Reshape", ["s", "t"], ["r"], name="reshape"),
             h.make_node("Concat", ["r", "s"], ["c"], name="cat", axis=0),
             h.make_node("Reshape", ["x", "s"], ["y"], name="out")]
    return make_model(nodes, [vi("x", T.FLOAT, [4])],
                      [vi("y", T.FLOAT, [4]), vi("c", T.INT64, None)],
                      [nh.from_array(np.array([target], np.int64), "t")])


@pytest.mark.parametrize("target, complaint", [
    (1 + (0x88 << 48), "shape [38280596832649217] is no tensor shape"),
    (1 << 24, "cannot reshape 1 element(s) into [16777216]"),
])
def test_reshape_of_a_shape_into_a_huge_target(work, capsys, target, complaint):
    onnx.save(shape_reshape(target), "huge.onnx")
    for argv in every_command("huge.onnx"):
        assert_refused(capsys, argv, f"huge.onnx: node 'reshape' (Reshape): {complaint}")


def test_huge_range_and_constant_of_shape(work, capsys):
    rng = make_model([h.make_node("Range", ["a", "b", "c"], ["y"], name="range")],
                     [vi("x", T.FLOAT, [1])], [vi("y", T.INT64, None)],
                     [nh.from_array(np.array(v, np.int64), n) for n, v in
                      (("a", 0), ("b", 1 << 50), ("c", 1))])
    onnx.save(rng, "range.onnx")
    assert_refused(capsys, ["inspect", "range.onnx"],
                   "range.onnx: node 'range' (Range): Range(0, 1.1259e+15, 1) has more than 2**40 "
                   "values")
    cos = make_model([h.make_node("ConstantOfShape", ["s"], ["y"], name="fill")],
                     [vi("x", T.FLOAT, [1])], [vi("y", T.FLOAT, None)],
                     [nh.from_array(np.array([1 << 30, 1 << 20], np.int64), "s")])
    onnx.save(cos, "fill.onnx")
    assert_refused(capsys, ["inspect", "fill.onnx"],
                   "fill.onnx: node 'fill' (ConstantOfShape): [1073741824, 1048576] asks for more "
                   "than 2**40 elements")


def test_constant_of_an_element_type_that_does_not_exist(work, capsys):
    """A flipped byte made a Constant's tensor of data type 78: onnx's shape inference raises a
    plain ValueError for it (found by the fuzz, seed 1)."""
    t = nh.from_array(np.array([4], np.int64), "v")
    t.data_type = 78
    model = make_model([h.make_node("Constant", [], ["s"], name="c", value=t),
                        h.make_node("Reshape", ["x", "s"], ["y"], name="r")],
                       [vi("x", T.FLOAT, [4])], [vi("y", T.FLOAT, [4])])
    onnx.save(model, "dt78.onnx")
    for argv in every_command("dt78.onnx"):
        assert_refused(capsys, argv, "dt78.onnx: invalid ONNX model: Invalid tensor data type 78")


def test_shape_constant_whose_data_is_not_whole_elements(work, capsys):
    """An int64 shape constant of 3 bytes (external data cut short): the shape check skips what
    it cannot decode, and the import names it."""
    t = nh.from_array(np.array([4], np.int64), "s")
    t.raw_data = b"\x04\x00\x00"
    model = make_model([h.make_node("Reshape", ["x", "s"], ["y"], name="r")],
                       [vi("x", T.FLOAT, [4])], [vi("y", T.FLOAT, [4])], [t])
    onnx.save(model, "short.onnx")
    status, _, err = cli(capsys, "inspect", "short.onnx")
    assert status == 2 and err.startswith("error: short.onnx: ") and err.count("\n") == 1, err
