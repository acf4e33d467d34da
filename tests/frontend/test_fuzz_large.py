"""A model whose weights are above protobuf's 2 GiB limit loads, with memory near its size.

The weights are external data in a sparse file (no 2 GiB are written to disk): an embedding
table of 2 GiB + 4 KiB whose last row is ``0, 1, ..., 1023``. qlower decodes and checks the
small proto, shape inference never serialises the weights, and onnx reads the table into one
buffer that the IR keeps without copying. This is the slowest test of the file's kind (about
10 s: reading and hashing 2 GiB).
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

from qlower.cli import main

ROWS, WIDTH = (1 << 19) + 1, 1024
SIZE = ROWS * WIDTH * 4  # bytes: 2 GiB + 4 KiB


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    t = onnx.TensorProto(name="table", data_type=T.FLOAT, dims=[ROWS, WIDTH],
                         data_location=T.EXTERNAL)
    for key, value in (("location", "table.bin"), ("offset", "0"), ("length", str(SIZE))):
        e = t.external_data.add()
        e.key, e.value = key, value
    with open(folder / "table.bin", "wb") as f:
        f.truncate(SIZE)  # sparse: reads as zeros, takes no disk
        f.seek(SIZE - WIDTH * 4)
        f.write(np.arange(WIDTH, dtype=np.float32).tobytes())
    g = h.make_graph([h.make_node("Gather", ["table", "idx"], ["y"], name="embed", axis=0)], "g",
                     [h.make_tensor_value_info("idx", T.INT64, ["batch"])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["batch", WIDTH])], [t])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, folder / "big.onnx")
    np.savez(folder / "idx.npz", idx=np.array([ROWS - 1, 0], np.int64))
    return folder


def test_inspect_in_memory_near_the_weights_size(big):
    code = ("import resource, sys; from qlower.cli import main; s = main(sys.argv[1:]); "
            "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(s)")
    proc = subprocess.run([sys.executable, "-c", code, "inspect", "big.onnx", "--stage",
                           "imported"], capture_output=True, text=True, cwd=big, timeout=600)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "const %table: tensor<524289x1024xf32> = ref<\"sha256:" in proc.stdout
    peak = int(proc.stdout.rsplit("peak ", 1)[1]) * 1024
    assert peak < SIZE + (600 << 20), f"peak {peak / 2**30:.2f} GiB for {SIZE / 2**30:.2f} GiB"


def test_run(big, capsys, monkeypatch):
    monkeypatch.chdir(big)
    assert main(["run", "big.onnx", "--inputs", "idx.npz", "--json", "--stage", "imported"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and '"y": [\n      [\n        0.0,\n        1.0,' in out
