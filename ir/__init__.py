"""The qlower graph IR: types, values, ops, graphs, verifier, text printer and parser."""

from qlower.ir.attributes import Attrs, ConstRef, Dense, checksum
from qlower.ir.graph import Constant, Graph, Op, Value, topological_order
from qlower.ir.opdef import (
    ABSENT,
    REQUIRED,
    Attr,
    EvalContext,
    EvaluationError,
    OpContext,
    OpDef,
    VerifyError,
    build_op,
    evaluate_op,
    infer_types,
    op_def,
    register_op,
    registered_ops,
)
from qlower.ir.parser import ParseError, parse
from qlower.ir.printer import print_graph, referenced_weights
from qlower.ir.symbolic import Dim, Sym, SymbolicError
from qlower.ir.types import DialectType, DType, TensorType, Type, register_type, tensor
from qlower.ir.verifier import types_compatible, verify, verify_graph

__all__ = [
    "ABSENT", "REQUIRED", "Attr", "Attrs", "ConstRef", "Constant", "DType", "Dense", "DialectType",
    "Dim", "EvalContext", "EvaluationError", "Graph", "Op", "OpContext", "OpDef", "ParseError",
    "Sym", "SymbolicError", "TensorType", "Type", "Value", "VerifyError", "build_op", "checksum",
    "evaluate_op", "infer_types", "op_def", "parse", "print_graph", "referenced_weights",
    "register_op", "register_type", "registered_ops", "tensor", "topological_order",
    "types_compatible", "verify", "verify_graph",
]
