"""Weights files (``.npz``) beside IR dumps: written byte-for-byte deterministically."""

from __future__ import annotations

import io
import math
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

    ``what`` names the file in messages ("weights file", "inputs file"). Each member's header
    is checked against its size before its data is read, so a header that declares more data
    than the file holds is refused without allocating it; a name that appears twice is refused.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path}: is a directory, not an .npz file")
    if not path.is_file():
        raise WeightsError(f"{path}: no such {what}")
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: not an .npz file (expected a zip archive of .npy arrays)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            seen: set[str] = set()
            for info in infos:
                if info.filename in seen:
                    raise WeightsError(
                        f"{path}: array '{_key(info.filename)}' appears twice (a zip archive may "
                        "hold a name twice; which one is meant is unclear)")
                seen.add(info.filename)
            return {_key(info.filename): _member(path, zf, info) for info in infos}
    except WeightsError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError) as e:
        raise WeightsError(f"{path}: not a readable .npz file ({e})") from None


def _key(member: str) -> str:
    return member[:-4] if member.endswith(".npy") else member


def _member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    name = _key(info.filename)
    if not info.filename.endswith(".npy"):
        raise WeightsError(f"{path}: member '{info.filename}' is not a .npy array")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise WeightsError(f"{path}: array '{name}' has .npy format {version[0]}.{version[1]}, "
                               "which qlower does not read")
        if dtype.hasobject:
            raise WeightsError(f"{path}: array '{name}' holds Python objects (pickled); qlower "
                               "reads only numeric and bool arrays")
        needed = math.prod(shape) * dtype.itemsize
        held = info.file_size - f.tell()
    if needed > held:
        raise WeightsError(f"{path}: array '{name}' declares shape {list(shape)} ({needed} bytes) "
                           f"but holds {held} bytes")
    with zf.open(info) as f:
        try:
            return np.lib.format.read_array(f, allow_pickle=False)
        except MemoryError:
            raise WeightsError(f"{path}: array '{name}' ({needed} bytes) does not fit in "
                               "memory") from None
