"""Weights files: deterministic bytes, exact round trip, atomic writes, one-line errors."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qlower.ir.weights import WeightsError, load_weights, npz_bytes, save_weights, write_atomic

ARRAYS = {
    "w": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
    "b": np.array([np.nan, -0.0, np.inf], np.float64),
    "onnx::MatMul_1": np.arange(5, dtype=np.int64),
    "flags": np.array([[True, False]]),
    "scalar": np.array(7, np.uint8),
    "empty": np.zeros((0, 3), np.float16),
    "complex": np.array([1 + 2j, -0.5j], np.complex64),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes()
        for k in a
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    save_weights(path, ARRAYS)
    loaded = load_weights(path)
    assert same(loaded, {k: np.ascontiguousarray(v) for k, v in ARRAYS.items()})
    assert np.signbit(loaded["b"][1]) and np.isnan(loaded["b"][0])


def test_bytes_are_deterministic(tmp_path: Path) -> None:
    """Same bytes twice and whatever the dict order; no timestamps inside."""
    reordered = dict(reversed(list(ARRAYS.items())))
    assert list(reordered) != list(ARRAYS)
    first = tmp_path / "a.npz"
    second = tmp_path / "b.npz"
    save_weights(first, ARRAYS)
    save_weights(second, reordered)
    assert first.read_bytes() == second.read_bytes() == npz_bytes(ARRAYS)
    with zipfile.ZipFile(first) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(k + ".npy" for k in ARRAYS)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}


def test_contents_change_the_bytes() -> None:
    changed = dict(ARRAYS, w=ARRAYS["w"] + 1)
    assert npz_bytes(changed) != npz_bytes(ARRAYS)


def test_numpy_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    save_weights(path, ARRAYS)
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(ARRAYS)
        assert np.array_equal(z["w"], ARRAYS["w"])


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    save_weights(path, ARRAYS)
    save_weights(path, {"x": np.zeros(2)})  # replaces
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]
    assert list(load_weights(path)) == ["x"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    save_weights(path, ARRAYS)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="^array 'sym' is symbolic and cannot be saved$"):
        save_weights(path, {"sym": np.array([1, "a"], dtype=object)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]


def test_interrupted_write_removes_its_temp_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "w.npz"

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"data")
    assert list(tmp_path.iterdir()) == []


def test_write_atomic_text(tmp_path: Path) -> None:
    path = tmp_path / "dump.qir"
    write_atomic(path, "graph é\n")
    assert path.read_bytes() == "graph é\n".encode()


# -- errors -----------------------------------------------------------------------------------


def error(path: Path) -> str:
    with pytest.raises(WeightsError) as e:
        load_weights(path)
    return str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.npz"
    assert error(path) == f"{path}: no such weights file"
    assert error(tmp_path) == f"{tmp_path}: is a directory, not an .npz file"


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, world\n", b"\x93NUMPY", pickle.dumps({"w": [1.0, 2.0]})],
    ids=["empty", "text", "npy-magic", "pickle"],
)
def test_not_a_zip(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(content)
    assert error(path) == f"{path}: not an .npz file (expected a zip archive of .npy arrays)"


def test_single_npy_file(tmp_path: Path) -> None:
    path = tmp_path / "w.npy"
    np.save(path, np.zeros(3))
    assert error(path) == f"{path}: not an .npz file (expected a zip archive of .npy arrays)"


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    np.savez(path, ok=np.zeros(2), obj=np.array([{"x": 1}, None], dtype=object))
    assert error(path) == (f"{path}: array 'obj' holds Python objects (pickled); qlower reads "
                           "only numeric and bool arrays")


def test_member_that_is_not_an_array(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")
    assert error(path) == f"{path}: member 'notes.txt' is not a .npy array"


def test_corrupt_member(tmp_path: Path) -> None:
    path = tmp_path / "w.npz"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(4))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", buf.getvalue()[:-8])  # truncated data
    assert error(path) == f"{path}: array 'w' declares shape [4] (32 bytes) but holds 24 bytes"
