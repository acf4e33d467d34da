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


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Read an ``.npz``; raises WeightsError with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: not a .npz file (not a zip archive)")
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                try:
                    value = z[k]
                except ValueError as e:
                    if "allow_pickle" in str(e):
                        raise WeightsError(
                            f"{path}: array '{k}' holds Python objects (pickled data is not loaded)"
                        ) from None
                    raise
                if not isinstance(value, np.ndarray):
                    raise WeightsError(f"{path}: member '{k}' is not a .npy array")
                out[k] = value
    except WeightsError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"{path}: not a readable .npz file ({e})") from None
    return out
