"""Weights files (``.npz``) beside IR dumps: written byte-for-byte deterministically."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)


class WeightsError(ValueError):
    """A weights file cannot be read."""


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive of ``arrays`` (sorted by name, fixed timestamps, no compression)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            if arr.dtype == object:
                raise ValueError(f"array {name!r} is symbolic and cannot be saved")
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write to a temporary file in the same folder, then rename into place."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_weights(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    write_atomic(path, npz_bytes(arrays))


def load_weights(path: str | Path, what: str = "weights file") -> dict[str, np.ndarray]:
    """Read an ``.npz`` of plain arrays (no pickles); raises WeightsError with a one-line reason.

    ``what`` names the file in messages ("weights file", "inputs file").
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a directory, not an .npz file")
    if not path.is_file():
        raise WeightsError(f"{path}: no such {what}")
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: not an .npz file (expected a zip archive of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: _member(path, z, k) for k in z.files}
    except WeightsError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"{path}: not a readable .npz file ({e})") from None


def _member(path: Path, z, name: str) -> np.ndarray:
    try:
        value = z[name]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise WeightsError(
                f"{path}: array '{name}' holds Python objects (pickled); qlower reads only "
                "numeric and bool arrays"
            ) from None
        raise
    if not isinstance(value, np.ndarray):
        raise WeightsError(f"{path}: member '{name}' is not a .npy array")
    return value
