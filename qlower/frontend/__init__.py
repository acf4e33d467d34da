"""Frontends: ONNX models and IR text files to verified IR graphs."""

from qlower.frontend.loader import load_ir, load_model, load_onnx, load_onnx_proto
from qlower.frontend.onnx_import import import_model

__all__ = ["import_model", "load_ir", "load_model", "load_onnx", "load_onnx_proto"]
