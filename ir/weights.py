"""Weights files (``.npz``) beside IR dumps: written byte-for-byte deterministically."""

from __future__ import annotations

import io
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)


class WeightsError(ValueError):
    """A weights file cannot be read."""


def npy_header(arr: np.ndarray) -> bytes:
    """The ``.npy`` header ``np.save`` writes for ``arr`` (format 1.0, 2.0 for a long header)."""
    d = np.lib.format.header_data_from_array_1_0(arr)
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, d)
    except ValueError:
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def write_npz(file, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an ``.npz`` archive of ``arrays`` to ``file`` (a path or a seekable binary file):
    sorted by name, fixed timestamps, no compression. Each array is streamed from its own
    memory, so writing gigabytes of weights needs no second copy of them."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            arr = np.ascontiguousarray(arrays[name])
            if arr.dtype == object:
                raise ValueError(f"array {name!r} is symbolic and cannot be saved")
            header = npy_header(arr)
            info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.file_size = len(header) + arr.nbytes  # zipfile decides on zip64 from it
            with zf.open(info, "w") as member:
                member.write(header)
                flat = memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b""
                for start in range(0, len(flat), 1 << 24):
                    member.write(flat[start : start + (1 << 24)])


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes :func:`write_npz` writes."""
    buf = io.BytesIO()
    write_npz(buf, arrays)
    return buf.getvalue()


@contextmanager
def replacing(*paths: str | Path) -> Iterator[list[Path]]:
    """Temporary files beside ``paths``, renamed onto them (in the order given) when the block
    succeeds; removed on every way out, an interrupt included."""
    temps: list[Path] = []
    try:
        for p in map(Path, paths):
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
            except OSError as e:
                e.filename = str(p)
                raise
            os.close(fd)
            temps.append(Path(tmp))
        yield temps
        for tmp, p in zip(temps, paths):
            os.replace(tmp, p)
    except OSError as e:  # name the file the user asked for, not its temporary twin
        for tmp, p in zip(temps, paths):
            if e.filename == str(tmp) or e.filename2 == str(p):
                e.filename, e.filename2 = str(p), None
        raise
    finally:
        for tmp in temps:
            try:
                tmp.unlink()
            except OSError:
                pass  # renamed into place already


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write to a temporary file in the same folder, then rename into place."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(path) as (tmp,):
        tmp.write_bytes(payload)


def save_weights(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    with replacing(path) as (tmp,):
        write_npz(tmp, arrays)


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
