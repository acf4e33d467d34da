"""Load a model file — ONNX or IR text — into a verified IR graph, with one-line errors.

The ONNX half lives in ``qlower.frontend.onnx_loader`` and is imported only when an ``.onnx``
model is loaded: reading an IR dump loads neither onnx nor protobuf.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from qlower.errors import QlowerError
from qlower.ir import Graph, ParseError, VerifyError, parse, verify_graph
from qlower.ir.verifier import nonfinite_weight
from qlower.ir.weights import WeightsError, load_weights

IR_SUFFIXES = (".qir", ".mlir", ".ir", ".txt")


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    p = Path(path)
    if not p.exists():
        raise QlowerError(f"{path}: no such {what}")
    if p.is_dir():
        raise QlowerError(f"{path}: is a directory")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise QlowerError(f"{path}: cannot read ({e.strerror or e})") from None
    if not data:
        raise QlowerError(f"{path}: {what} is empty")
    return data


def is_ir_file(path: str | Path) -> bool:
    """Whether the file at ``path`` is IR text, from its first 4 KiB."""
    with open(path, "rb") as f:
        return looks_like_ir(f.read(4096))


def looks_like_ir(data: bytes) -> bool:
    """IR text starts (after comments and blank lines) with ``graph``."""
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("//"):
            continue
        return s.startswith("graph")
    return False


def load_model(path: str | Path, weights: str | Path | None = None,
               sizes: Mapping[str, int] | None = None) -> Graph:
    """Load an ``.onnx`` model or an IR text dump (with its weights ``.npz`` if present).

    ``sizes`` fixes named input dimensions of an ONNX model (``{"seq": 8}``) before it is
    imported: a kernel's registers need sizes known at compile time.
    """
    data = read_bytes(path, "model file")
    if looks_like_ir(data):
        if sizes:
            raise QlowerError(f"--size applies to ONNX models, but {path} is IR text (its sizes "
                              "are in its types)")
        return load_ir(path, data, weights)
    if weights is not None:
        raise QlowerError(f"--weights applies to IR text, but {path} is an ONNX model")
    from qlower.frontend.onnx_loader import decode_onnx, load_onnx

    if looks_like_text(data):
        try:
            decode_onnx(path, data)
        except QlowerError:
            raise QlowerError(
                f"{path}: neither an ONNX model nor IR text (IR text starts with 'graph')"
            ) from None
    return load_onnx(path, data, sizes)


def looks_like_text(data: bytes) -> bool:
    """Printable UTF-8 with no NUL bytes: a text file, not a protobuf."""
    head = data[:4096]
    if b"\0" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


# -- IR text ----------------------------------------------------------------------------------


def weights_path_for(path: str | Path) -> Path:
    """Where a dump's weights live: ``model.qir`` → ``model.npz`` beside it."""
    p = Path(path)
    return p.with_suffix(".npz")


def load_ir(path: str | Path, data: bytes | None = None, weights: str | Path | None = None) -> Graph:
    data = read_bytes(path, "IR file") if data is None else data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise QlowerError(f"{path}: IR text is not valid UTF-8 (byte {e.start})") from None
    arrays = None
    wpath = Path(weights) if weights is not None else weights_path_for(path)
    if weights is not None or wpath.is_file():
        try:
            arrays = load_weights(wpath)
        except WeightsError as e:
            raise QlowerError(str(e)) from None
    try:
        graph = parse(text, arrays)
    except ParseError as e:
        raise QlowerError(f"{path}: {e}") from None
    try:
        verify_graph(graph)
    except VerifyError as e:
        raise QlowerError(f"{path}: {e}") from None
    problem = nonfinite_weight(graph)
    if problem:
        raise QlowerError(f"{path}: {problem}")
    return graph


_ONNX_NAMES = ("check_external_locations", "decode_onnx", "load_onnx", "load_onnx_proto",
               "load_proto", "run_onnx_checker")


def __getattr__(name: str):
    """The ONNX half's functions, imported on first use (``qlower.frontend.onnx_loader``)."""
    if name in _ONNX_NAMES:
        from qlower.frontend import onnx_loader

        return getattr(onnx_loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
