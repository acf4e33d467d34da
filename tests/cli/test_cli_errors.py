"""Every bad input gets its exact one-line ``error: ...`` message, exit status 2, no traceback.

Models are built with onnx.helper in a temporary folder that is the working directory, so the
messages name files by the relative paths given on the command line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from util import cli, make_model

from qlower.cli import main
from qlower.passes import registered_passes

vi = h.make_tensor_value_info



def assert_error(capsys, argv, message: str, status: int = 2) -> None:
    """The command fails with exactly ``error: message`` on one line."""
    code, out, err = cli(capsys, *argv)
    assert "Traceback" not in err
    assert err == f"error: {message}\n"
    assert code == status


def matmul_model(w: np.ndarray, name: str = "w") -> onnx.ModelProto:
    """y = x @ w with x: [batch, 4]."""
    n = w.shape[1]
    return make_model(
        [h.make_node("MatMul", ["x", name], ["y"], name="mm")],
        [vi("x", T.FLOAT, ["batch", 4])],
        [vi("y", T.FLOAT, ["batch", n])],
        [nh.from_array(w, name)],
    )


def external(model: onnx.ModelProto, location: str) -> onnx.ModelProto:
    """Point the first initializer at an external file (48 bytes at offset 0)."""
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = T.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "48")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return model


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working folder holding ``ok.onnx`` (y = x @ ones(4, 3)) and ``ok.npz`` inputs."""
    monkeypatch.chdir(tmp_path)
    onnx.save(matmul_model(np.ones((4, 3), np.float32)), "ok.onnx")
    np.savez("ok.npz", x=np.ones((2, 4), np.float32))
    return tmp_path


# -- model files -----------------------------------------------------------------------------


def relu_model(dtype=T.FLOAT, opset: int = 18) -> onnx.ModelProto:
    return make_model([h.make_node("Relu", ["x"], ["y"], name="r")],
                      [vi("x", dtype, [2])], [vi("y", dtype, [2])], opset=opset)


def unary_model(op: str, name: str, domain: str = "") -> onnx.ModelProto:
    m = make_model([h.make_node(op, ["x"], ["y"], name=name, domain=domain)],
                   [vi("x", T.FLOAT, [2])], [vi("y", T.FLOAT, [2])])
    if domain:
        m.opset_import.append(h.make_opsetid(domain, 1))
    return m


def pool_model() -> onnx.ModelProto:
    return make_model(
        [h.make_node("MaxPool", ["x"], ["c"], name="pool1", kernel_shape=[2, 2]),
         h.make_node("AveragePool", ["c"], ["y"], name="pool2", kernel_shape=[2, 2])],
        [vi("x", T.FLOAT, [1, 1, 8, 8])], [vi("y", T.FLOAT, None)],
    )


def clash_model() -> onnx.ModelProto:
    return make_model([h.make_node("MatMul", ["a", "b"], ["y"], name="mm1")],
                      [vi("a", T.FLOAT, [2, 4]), vi("b", T.FLOAT, [5, 3])],
                      [vi("y", T.FLOAT, None)])


def with_values(*bad: float) -> onnx.ModelProto:
    w = np.ones((4, 3), np.float32)
    w.flat[: len(bad)] = bad
    return matmul_model(w)


def save_outside(path: str) -> None:
    Path("secret.bin").write_bytes(np.ones(12, np.float32).tobytes())
    Path("sub").mkdir()
    onnx.save(external(matmul_model(np.ones((4, 3), np.float32)), "../secret.bin"), path)


def save_half(path: str) -> None:
    data = Path("ok.onnx").read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])


IR_SYNTAX = "graph @g(%x: tensor<2xf32>) {\n  %y = nn.relu(%x : tensor<2xf32>\n  return %y\n}\n"
CORRUPT = "not an ONNX model (the protobuf is corrupt or truncated)"

# file name, how to make it (in the working folder), message after "<file name>: "
BAD_MODELS = [
    ("nope.onnx", lambda p: None, "no such model file"),
    ("sub", lambda p: Path(p).mkdir(), "is a directory"),
    ("empty.onnx", lambda p: Path(p).write_bytes(b""), "model file is empty"),
    ("half.onnx", save_half, CORRUPT),
    ("rand.onnx", lambda p: Path(p).write_bytes(np.random.default_rng(0).bytes(300)), CORRUPT),
    ("bad.qir", lambda p: Path(p).write_text(IR_SYNTAX),
     "line 2, column 19: unexpected ':' (expected ')', ',')"),
    ("foo.onnx", lambda p: onnx.save(unary_model("FooBar", "foo"), p),
     "1 unsupported op: FooBar (not an ONNX operator) at node 'foo'"),
    ("ms.onnx", lambda p: onnx.save(unary_model("FusedGemm", "fg", "com.microsoft"), p),
     "1 unsupported op: FusedGemm (domain com.microsoft) at node 'fg'"),
    ("pool.onnx", lambda p: onnx.save(pool_model(), p),
     "2 unsupported ops: MaxPool at node 'pool1'; AveragePool at node 'pool2'"),
    ("nan.onnx", lambda p: onnx.save(with_values(np.nan), p),
     "initializer 'w' contains 1 NaN of 12 values"),
    ("naninf.onnx", lambda p: onnx.save(with_values(np.nan, np.inf), p),
     "initializer 'w' contains 1 NaN and 1 Inf of 12 values"),
    ("inf.onnx", lambda p: onnx.save(with_values(-np.inf), p),
     "initializer 'w' contains 1 Inf of 12 values (±Inf is allowed only in attention masks)"),
    ("sub/m.onnx", save_outside,
     "external data of initializer 'w' points outside the model's folder"),
    ("ext.onnx", lambda p: onnx.save(external(with_values(), "gone.bin"), p),
     "external data of initializer 'w': file 'gone.bin' is missing"),
    ("old.onnx", lambda p: onnx.save(relu_model(opset=11), p),
     "opset 11 is too old; qlower imports opsets 13-28 (upgrade it with "
     "onnx.version_converter.convert_version)"),
]


@pytest.mark.parametrize("path, make, message", BAD_MODELS, ids=[c[0] for c in BAD_MODELS])
def test_bad_model_file(work, capsys, path, make, message):
    make(path)
    assert_error(capsys, ["inspect", path], f"{path}: {message}")


def test_text_that_is_not_ir_fails_cleanly(work, capsys):
    Path("notes.txt").write_text("hello world\n")
    code, _, err = cli(capsys, "inspect", "notes.txt")
    assert code == 2 and err.startswith("error: notes.txt: ") and err.count("\n") == 1


def test_text_that_is_not_ir_message(work, capsys):
    Path("notes.txt").write_text("hello world\n")
    assert_error(capsys, ["inspect", "notes.txt"],
                 "notes.txt: neither an ONNX model nor IR text (IR text starts with 'graph')")


def test_shape_clash(work, capsys):
    onnx.save(clash_model(), "clash.onnx")
    code, _, err = cli(capsys, "inspect", "clash.onnx")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: clash.onnx: shape clash at node 'mm1' (MatMul): ")


def test_shape_clash_names_the_shapes(work, capsys):
    onnx.save(clash_model(), "clash.onnx")
    assert_error(capsys, ["inspect", "clash.onnx"],
                 "clash.onnx: shape clash at node 'mm1' (MatMul): Incompatible dimensions for "
                 "matrix multiplication (inputs 'a': [2, 4], 'b': [5, 3])")


def test_bfloat16_input(work, capsys):
    onnx.save(relu_model(T.BFLOAT16), "bf.onnx")
    code, _, err = cli(capsys, "inspect", "bf.onnx")
    assert code == 2 and err.count("\n") == 1
    assert err.endswith("input 'x' has element type BFLOAT16, which qlower does not support\n")


def test_bfloat16_input_names_the_file(work, capsys):
    onnx.save(relu_model(T.BFLOAT16), "bf.onnx")
    assert_error(capsys, ["inspect", "bf.onnx"],
                 "bf.onnx: input 'x' has element type BFLOAT16, which qlower does not support")


def test_weights_option_with_onnx_model(work, capsys):
    assert_error(capsys, ["inspect", "ok.onnx", "--weights", "ok.npz"],
                 "--weights applies to IR text, but ok.onnx is an ONNX model")


def test_dump_without_its_weights_cannot_run(work, capsys):
    assert cli(capsys, "inspect", "ok.onnx", "--stage", "imported", "--inline-limit", "0",
               "-o", "a.qir")[0] == 0
    assert_error(capsys, ["run", "a.qir", "--inputs", "ok.npz", "--stage", "imported"],
                 "a.qir: constant %w has no data (the dump was read without its weights .npz)")
    assert_error(capsys, ["inspect", "a.qir", "-o", "b.qir", "--save-weights"],
                 "a.qir: --save-weights: constant %w has no data (the model was read without its "
                 "weights; pass --weights W.npz)")
    assert not (work / "b.qir").exists() and not (work / "b.npz").exists()


# -- inputs (.npz) ---------------------------------------------------------------------------


def two_input_model() -> onnx.ModelProto:
    return make_model([h.make_node("Add", ["a", "b"], ["y"], name="add")],
                      [vi("a", T.FLOAT, ["batch", 3]), vi("b", T.FLOAT, ["batch", 3])],
                      [vi("y", T.FLOAT, ["batch", 3])])


@pytest.mark.parametrize("arrays, message", [
    ({}, "missing input 'x' (the model takes: x)"),
    ({"x": np.ones((2, 4), np.float32), "z": np.ones(1, np.float32)},
     "unknown input 'z' (the model takes: x)"),
    ({"x": np.ones((2, 4))},
     "input 'x' has dtype float64; the model expects f32 (convert it with .astype(np.float32))"),
    ({"x": np.ones((2, 4, 1), np.float32)},
     "input 'x' has shape [2, 4, 1]; the model expects tensor<(batch)x4xf32> (rank 2)"),
    ({"x": np.ones((2, 5), np.float32)},
     "input 'x' has shape [2, 5]; the model expects dimension 1 to be 4"),
], ids=["missing", "extra", "dtype", "rank", "dim"])
def test_bad_inputs(work, capsys, arrays, message):
    np.savez("in.npz", **arrays)
    assert_error(capsys, ["run", "ok.onnx", "--inputs", "in.npz"], f"in.npz: {message}")


def test_symbolic_batch_mismatch(work, capsys):
    onnx.save(two_input_model(), "two.onnx")
    np.savez("in.npz", a=np.ones((2, 3), np.float32), b=np.ones((3, 3), np.float32))
    assert_error(capsys, ["run", "two.onnx", "--inputs", "in.npz"],
                 "in.npz: input 'b' dimension 0 is 3, but batch = 2 from input 'a'")


def test_inputs_file_problems(work, capsys):
    (work / "text.npz").write_text("not a zip")
    np.savez("obj.npz", x=np.array([{"a": 1}, None], dtype=object))
    np.save("plain.npy", np.ones((2, 4), np.float32))
    (work / "dir.npz").mkdir()
    cases = {
        "nope.npz": "nope.npz: no such inputs file",
        "dir.npz": "dir.npz: is a directory, not an .npz file",
        "text.npz": "text.npz: not an .npz file (expected a zip archive of .npy arrays)",
        "plain.npy": "plain.npy: not an .npz file (expected a zip archive of .npy arrays)",
        "obj.npz": "obj.npz: array 'x' holds Python objects (pickled); qlower reads only "
                   "numeric and bool arrays",
    }
    for path, message in cases.items():
        assert_error(capsys, ["run", "ok.onnx", "--inputs", path], message)


# -- options ---------------------------------------------------------------------------------


def test_bad_pipelines(work, capsys):
    known = ", ".join(registered_passes())
    cases = {
        "nosuch": f"unknown pass 'nosuch' (known passes: {known})",
        "fold-constants{max-elements=abc}":
            "option 'max-elements' of 'fold-constants': 'abc' is not a valid int",
        "fold-constants{bad=1}": "pass 'fold-constants' has no option 'bad' (options: max-elements)",
        "fold-constants{max-elements=1": "pipeline: '{' after 'fold-constants' is never closed",
    }
    for pipeline, message in cases.items():
        assert_error(capsys, ["inspect", "ok.onnx", "--pipeline", pipeline], message)


def test_dump_after_a_pass_not_in_the_pipeline(work, capsys):
    assert_error(capsys, ["inspect", "ok.onnx", "--pipeline", "fold-constants,dce",
                          "--dump-after", "fuse-linear"],
                 "--dump-after fuse-linear: not in the pipeline (passes: fold-constants, dce)")


def test_dump_after_with_an_empty_pipeline(work, capsys):
    assert_error(capsys, ["inspect", "ok.onnx", "--stage", "imported", "--dump-after", "all"],
                 "--dump-after: the pipeline is empty, there is nothing to dump")


def test_dump_after_needs_text(work, capsys):
    assert_error(capsys, ["inspect", "ok.onnx", "--dump-after", "dce", "--format", "json"],
                 "--dump-after prints IR text; it cannot be combined with --format json")


def test_save_weights_needs_output(work, capsys):
    assert_error(capsys, ["inspect", "ok.onnx", "--save-weights"],
                 "--save-weights needs -o FILE (the weights go beside it, as FILE.npz)")
    assert_error(capsys, ["inspect", "ok.onnx", "--save-weights", "-o", "a.npz"],
                 "-o a.npz: with --save-weights the dump cannot be a .npz file")


def test_output_folder_missing(work, capsys):
    assert_error(capsys, ["inspect", "ok.onnx", "-o", "nodir/a.qir"],
                 "nodir/a.qir: cannot write (No such file or directory)")


def test_check_needs_onnx(work, capsys):
    assert cli(capsys, "inspect", "ok.onnx", "-o", "a.qir", "--save-weights")[0] == 0
    assert_error(capsys, ["run", "a.qir", "--inputs", "ok.npz", "--check"],
                 "--check needs an ONNX model (a.qir is IR text; onnxruntime runs only ONNX "
                 "files)")


@pytest.mark.parametrize("argv, complaint", [
    (["inspect", "ok.onnx", "--stage", "nosuch"], "argument --stage: invalid choice: 'nosuch'"),
    (["inspect", "ok.onnx", "--inline-limit", "-1"], "argument --inline-limit: must be >= 0"),
    (["run", "ok.onnx", "--inputs", "ok.npz", "--rtol=-1e-3"], "argument --rtol: must be >= 0"),
    (["run", "ok.onnx"], "the following arguments are required: --inputs"),
    ([], "the following arguments are required: COMMAND"),
])
def test_usage_errors_keep_argparse_status(work, capsys, argv, complaint):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert complaint in capsys.readouterr().err


# -- internal errors -------------------------------------------------------------------------


def break_dce(monkeypatch, apply) -> None:
    monkeypatch.setattr(registered_passes()["dce"], "apply", apply)


def test_pass_that_breaks_the_graph_is_internal(work, capsys, monkeypatch):
    break_dce(monkeypatch, lambda self, g: g.with_(outputs=("nowhere",)))
    code, _, err = cli(capsys, "inspect", "ok.onnx", "--pipeline", "dce")
    assert code == 3 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: internal: pass 'dce' produced an invalid graph: ")


def test_unexpected_exception_is_internal(work, capsys, monkeypatch):
    def boom(self, g):
        raise RuntimeError("boom\nsecond line")

    break_dce(monkeypatch, boom)
    assert_error(capsys, ["inspect", "ok.onnx", "--pipeline", "dce"],
                 "internal error: RuntimeError: boom second line (rerun with --debug for a "
                 "traceback)", status=3)
    code, _, err = cli(capsys, "--debug", "inspect", "ok.onnx", "--pipeline", "dce")
    assert code == 3 and "Traceback" in err
    assert err.endswith("error: internal error: RuntimeError: boom second line\n")


def test_debug_shows_traceback_of_user_errors(work, capsys):
    code, _, err = cli(capsys, "inspect", "--debug", "nope.onnx")
    assert code == 2 and "Traceback" in err and err.endswith("error: nope.onnx: no such model file\n")


def test_keyboard_interrupt(work, capsys, monkeypatch):
    def interrupt(self, g):
        raise KeyboardInterrupt

    break_dce(monkeypatch, interrupt)
    assert_error(capsys, ["inspect", "ok.onnx", "--pipeline", "dce"], "interrupted", status=130)


def test_error_from_a_real_process(work):
    proc = subprocess.run([sys.executable, "-m", "qlower", "run", "ok.onnx", "--inputs", "x.npz"],
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "error: x.npz: no such inputs file\n")


def test_check_when_onnxruntime_refuses_the_model(work, capsys):
    """A valid model onnxruntime 1.31 cannot run (an Attention mask shorter than the keys, which
    ONNX pads): qlower runs it, --check says why onnxruntime did not, on one line."""
    vi = h.make_tensor_value_info
    g = h.make_graph(
        [h.make_node("Attention", ["q", "k", "v", "m"], ["y"], name="att")], "g",
        [vi("q", T.FLOAT, [1, 2, 3, 4]), vi("k", T.FLOAT, [1, 2, 5, 4]),
         vi("v", T.FLOAT, [1, 2, 5, 4]), vi("m", T.BOOL, [3, 2])],
        [vi("y", T.FLOAT, [1, 2, 3, 4])])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 23)])
    model.ir_version = 10
    onnx.save(model, "short_mask.onnx")
    rng = np.random.default_rng(0)
    np.savez("sm.npz", **{n: rng.standard_normal(s).astype(np.float32)
                          for n, s in (("q", (1, 2, 3, 4)), ("k", (1, 2, 5, 4)), ("v", (1, 2, 5, 4)))},
             m=np.ones((3, 2), bool))
    assert cli(capsys, "run", "short_mask.onnx", "--inputs", "sm.npz")[0] == 0
    assert_error(capsys, ["run", "short_mask.onnx", "--inputs", "sm.npz", "--check"],
                 "short_mask.onnx: onnxruntime failed at node 'att' (Attention): inconsistent "
                 "total_sequence_length (between attn_mask and past_key and past_value)")


def test_run_json_with_a_nan_check_ratio():
    """A shot run whose outputs are NaN has NaN max error / std error; strict JSON writes it as
    the string "NaN" (it was 'Out of range float values are not JSON compliant', exit 3)."""
    import argparse
    import json

    from qlower.api import CheckReport, OutputCheck
    from qlower.cli import run_json
    from qlower.program import RunResult

    nan = float("nan")
    check = OutputCheck("y", nan, nan, True, True, False, (1,), (1,), "float32", "float32", nan)
    outputs = RunResult({"y": np.array([nan], np.float32)}, {"y": np.array([nan])}, (), "qsim", 1)
    args = argparse.Namespace(backend="qsim", pipeline=None, stage="canonical", shots=1, seed=0)
    doc = json.loads(run_json(args, outputs, CheckReport({"y": check}, 1e-4, 0.0, 4.0)))
    assert doc["check"] == {"y": {"max_abs_error": "NaN", "max_rel_error": "NaN", "ok": False,
                                  "max_error_over_std_error": "NaN"}}
