"""Frontends: ONNX models and IR text files to verified IR graphs.

``load_model``/``load_ir`` need no onnx; the ONNX names are imported on first use.
"""

from qlower.frontend.loader import load_ir, load_model

_LAZY = {"import_model": "onnx_import", "load_onnx": "onnx_loader", "load_onnx_proto": "onnx_loader"}

__all__ = ["import_model", "load_ir", "load_model", "load_onnx", "load_onnx_proto"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"qlower.frontend.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
