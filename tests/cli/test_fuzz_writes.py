"""Writing is atomic as a whole: ``compile -o DIR`` replaces DIR in one step, ``inspect -o F
--save-weights`` replaces the pair only when both can be written, and no failure, interrupt
(SIGINT) or termination (SIGTERM) leaves a half-new folder or a temporary file behind."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from util import cli

import qlower.backends.manifest as manifest_module

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "examples" / "mlp.onnx")  # two kernels
SDPA = str(ROOT / "tests" / "models" / "torch2.15" / "sdpa_causal_dynamo_opset23.onnx")  # no kernel



def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def work(tmp_path, monkeypatch, capsys):
    """``out/``: a compiled mlp (k0.qasm, k1.qasm, program.*, manifest.json)."""
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "compile", MLP, "-o", "out")[0] == 0
    return tmp_path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_compile_replaces_the_folder_as_a_whole(work, capsys):
    """Files of the previous program (k0, k1) do not survive into the new one (none)."""
    assert cli(capsys, "compile", SDPA, "-o", "out")[0] == 0
    assert sorted(snapshot(work / "out")) == ["manifest.json", "program.npz", "program.qir"]
    assert leftovers(work) == []


def test_folder_with_files_compile_did_not_write(work, capsys):
    (work / "out" / "notes.txt").write_text("mine")
    before = snapshot(work / "out")
    status, _, err = cli(capsys, "compile", SDPA, "-o", "out")
    assert (status, err) == (2, "error: out: holds files compile did not write (notes.txt); "
                                "compile replaces the folder as a whole, so give it a new or "
                                "empty folder\n")
    assert snapshot(work / "out") == before


def test_a_file_that_cannot_be_written(work, capsys, monkeypatch):
    before = snapshot(work / "out")

    def full(path, arrays):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(manifest_module, "write_npz", full)
    status, _, err = cli(capsys, "compile", SDPA, "-o", "out")
    assert (status, err) == (2, "error: out: cannot write (No space left on device)\n")
    assert snapshot(work / "out") == before and leftovers(work) == []


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_interrupt_at_the_swap(work, capsys, monkeypatch, exchange):
    """Ctrl-C at the moment the new folder would take the old one's place."""
    before = snapshot(work / "out")
    if exchange:
        def interrupted(a, b):
            raise KeyboardInterrupt

        monkeypatch.setattr(manifest_module, "_exchange", interrupted)
    else:
        monkeypatch.setattr(manifest_module, "_exchange", lambda a, b: False)
        real = os.rename

        def rename(src, dst):
            if Path(dst).name == "out" and Path(src).name.endswith(".tmp"):
                raise KeyboardInterrupt  # between the two renames: out is moved aside
            real(src, dst)

        monkeypatch.setattr(manifest_module.os, "rename", rename)
    status, _, err = cli(capsys, "compile", SDPA, "-o", "out")
    assert (status, err) == (130, "error: interrupted\n")
    assert snapshot(work / "out") == before and leftovers(work) == []


def test_the_new_folder_also_by_two_renames(work, capsys, monkeypatch):
    monkeypatch.setattr(manifest_module, "_exchange", lambda a, b: False)
    assert cli(capsys, "compile", SDPA, "-o", "out")[0] == 0
    assert sorted(snapshot(work / "out")) == ["manifest.json", "program.npz", "program.qir"]
    assert leftovers(work) == []


def test_sigterm_while_writing(work):
    """A real process: SIGTERM arrives while program.npz is being written."""
    before = snapshot(work / "out")
    script = textwrap.dedent(f"""
        import os, signal, sys
        import qlower.backends.manifest as m
        real = m.write_npz
        def write_npz(path, arrays):
            real(path, arrays)
            os.kill(os.getpid(), signal.SIGTERM)
        m.write_npz = write_npz
        from qlower.cli import main
        sys.argv = ["qlower", "compile", {SDPA!r}, "-o", "out"]
        sys.exit(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert (proc.returncode, proc.stderr) == (143, "error: terminated\n")
    assert snapshot(work / "out") == before and leftovers(work) == []


def test_sigint_during_interpreter_shutdown(tmp_path):
    """The command is done and printed; a Ctrl-C while Python shuts down (here: an exit
    handler that takes a while) ends it with status 130 and one line, not a traceback."""
    script = textwrap.dedent("""
        import atexit, sys, time
        from qlower.cli import main
        def slow():
            print("shutting down", file=sys.stderr, flush=True)
            time.sleep(30)
        atexit.register(slow)
        sys.argv = ["qlower", "passes"]
        sys.exit(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.stderr.readline() == "shutting down\n"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, "error: interrupted\n")
    assert out.startswith("passes:\n") and out.endswith("\n")


def test_save_weights_writes_neither_file_unless_both(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("m.qir").write_text("old dump\n")
    Path("m.npz").mkdir()  # the weights cannot be written there
    status, _, err = cli(capsys, "inspect", MLP, "-o", "m.qir", "--save-weights")
    assert (status, err) == (2, "error: m.npz: cannot write (Is a directory)\n")
    assert Path("m.qir").read_text() == "old dump\n" and leftovers(tmp_path) == []
    Path("m.npz").rmdir()
    assert cli(capsys, "inspect", MLP, "-o", "m.qir", "--save-weights")[0] == 0
    assert Path("m.qir").read_text().startswith("graph @mlp(")
    assert set(np.load("m.npz").files) == {"fc1.weight", "fc2.weight.T"}
