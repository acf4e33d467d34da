"""Inputs files (``.npz``) the fuzz (``tests/fuzz_cli.py --kind npz``) found ending in exit 3,
or read wrongly: each is now a one-line refusal that names the file, or a correct run."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from util import assert_refused, cli

from qlower.ir.weights import load_weights

ROOT = Path(__file__).resolve().parents[2]
MODEL = str(ROOT / "examples" / "mlp.onnx")




@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "examples" / "mlp_inputs.npz", "x.npz")
    return tmp_path


def x() -> np.ndarray:
    return load_weights(ROOT / "examples" / "mlp_inputs.npz")["x"].copy()


def npy_header(shape, descr: str = "<f4") -> bytes:
    """An .npy 1.0 header declaring ``shape`` (the data would follow it)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def zip_of(members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a repeated name: that is the case
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def npy(arr: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, arr)
    return b.getvalue()


def test_header_declaring_a_trillion_rows(work, capsys):
    """Refused from the header and the member's size, before anything is allocated."""
    Path("huge.npz").write_bytes(zip_of([("x.npy", npy_header((10**12, 4)) + b"\0" * 64)]))
    code = ("import resource, sys; from qlower.cli import main; s = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(s)")
    proc = subprocess.run([sys.executable, "-c", code, "run", MODEL, "--inputs", "huge.npz"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr == ("error: huge.npz: array 'x' declares shape [1000000000000, 4] "
                           "(16000000000000 bytes) but holds 64 bytes\n")
    assert int(proc.stdout) < 1 << 20  # KiB: well under 1 GiB was used


def test_two_members_of_the_same_name(work, capsys):
    Path("dup.npz").write_bytes(zip_of([("x.npy", npy(x())), ("x.npy", npy(2 * x()))]))
    assert_refused(capsys, ["run", MODEL, "--inputs", "dup.npz"],
                   "dup.npz: array 'x' appears twice (a zip archive may hold a name twice; "
                   "which one is meant is unclear)")


def test_member_that_is_not_an_array(work, capsys):
    Path("text.npz").write_bytes(zip_of([("x.npy", npy(x())), ("notes.txt", b"hello")]))
    assert_refused(capsys, ["run", MODEL, "--inputs", "text.npz"],
                   "text.npz: member 'notes.txt' is not a .npy array")


@pytest.mark.parametrize("backend", [[], ["--backend", "qsim"], ["--backend", "qsim",
                                                                   "--shots", "100"]])
def test_a_batch_of_no_rows(work, capsys, backend):
    np.savez("empty.npz", x=x()[:0])
    status, out, err = cli(capsys, "run", MODEL, "--inputs", "empty.npz", "--json", *backend)
    assert (status, err) == (0, "")
    assert json.loads(out)["outputs"] == {"probs": []}


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("shots", [[], ["--shots", "100"]], ids=["exact", "shots"])
def test_non_finite_input_on_qsim(work, capsys, value, shots):
    """The reference backend computes with NaN and ±Inf like numpy; a circuit cannot encode
    them, so qsim refuses and says where."""
    a = x()
    a[1, 2] = value
    np.savez("bad.npz", x=a)
    assert cli(capsys, "run", MODEL, "--inputs", "bad.npz")[0] == 0
    assert_refused(capsys, ["run", MODEL, "--inputs", "bad.npz", "--backend", "qsim", *shots],
                   "bad.npz: kernel k0 (node 'fc1'): row 1 of the data it encodes is not finite "
                   "(NaN or ±Inf in the inputs, or values beyond float32's range on the way); a "
                   "quantum state holds finite amplitudes only")


@pytest.mark.parametrize("shots", [[], ["--shots", "100"]], ids=["exact", "shots"])
def test_inputs_whose_layer_overflows_float32(work, capsys, shots):
    """All inputs 3e38: the layer's augmented input (x, 1, t = bound·‖x‖) overflows float32
    before it is encoded; that was NaN outputs (exact) or exit 3 (shots)."""
    np.savez("max.npz", x=np.full((2, 4), 3e38, np.float32))
    assert_refused(capsys, ["run", MODEL, "--inputs", "max.npz", "--backend", "qsim", *shots],
                   "max.npz: kernel k0 (node 'fc1'): row 0 of the data it encodes is not finite "
                   "(NaN or ±Inf in the inputs, or values beyond float32's range on the way); a "
                   "quantum state holds finite amplitudes only")


def test_inputs_near_the_float32_limit(work, capsys):
    """One input of 3e38 (a float32 number) and a layer that stays in range: qsim computes what
    the reference backend does."""
    a = x()
    a[0, 0] = 3e38
    np.savez("big.npz", x=a)
    ref = json.loads(cli(capsys, "run", MODEL, "--inputs", "big.npz", "--json")[1])["outputs"]
    for shots in ([], ["--shots", "2000"]):
        status, out, err = cli(capsys, "run", MODEL, "--inputs", "big.npz", "--backend", "qsim",
                               "--json", *shots)
        assert status == 0 and "error:" not in err
        got = json.loads(out)["outputs"]
        assert np.allclose(np.array(got["probs"])[0], np.array(ref["probs"])[0], atol=0.05)


def test_empty_batch_through_a_mean(work, capsys):
    """The mean of no rows: numpy's 'Mean of empty slice' warning is not printed (the numbers
    are numpy's, NaN, where onnxruntime says 0: --check reports the difference, exit 1)."""
    model = str(ROOT / "tests" / "models" / "mlp_mse_opset23.onnx")
    np.savez("none.npz", x=np.zeros((0, 5), np.float32), t=np.zeros((0, 3), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status, out, err = cli(capsys, "run", model, "--inputs", "none.npz", "--check")
    assert status == 1 and err.startswith("check failed: ") and err.count("\n") == 1
