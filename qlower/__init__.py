"""qlower: compile classical model layers (ONNX) to quantum circuits, checked against onnxruntime.

The API (``load``, ``to_stage``, ``run``, ``check_with_onnxruntime``) lives in :mod:`qlower.api`
and is imported on first use, so ``import qlower.ir`` stays light.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("qlower")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

_API = ("CheckReport", "OutputCheck", "check_with_onnxruntime", "compile", "estimate", "load", "run",
        "to_stage", "load_compiled")
__all__ = ["CompiledProgram", "__version__", *_API]


def __getattr__(name: str):
    """Import the API lazily: ``qlower.load`` etc."""
    if name in _API:
        from qlower import api

        return getattr(api, name)
    if name == "CompiledProgram":
        from qlower.program import CompiledProgram

        return CompiledProgram
    raise AttributeError(f"module 'qlower' has no attribute {name!r}")
