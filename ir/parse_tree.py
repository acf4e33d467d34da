"""Building IR objects from the parse tree of IR text (used by ``qlower.ir.parser``).

The transformer turns each grammar rule into its value (names, types, attributes, literals,
ops, the graph's parts); ``dense_array`` checks a constant's literal against its type.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from lark import Token, Transformer, v_args

from qlower.ir.attributes import Attrs
from qlower.ir.graph import Op, Value
from qlower.ir.symbolic import Sym
from qlower.ir.types import DType, TensorType, make_dialect_type


class SemanticError(Exception):
    """The text parses but means nothing valid (a ragged literal, a repeated key, ...)."""


def _string(tok: Token) -> str:
    return json.loads(str(tok), strict=False)


class _Operands(list):
    pass


class _Types(list):
    pass


class _Loc(tuple):
    pass


class _Results(list):
    pass


@v_args(inline=True)
class TreeBuilder(Transformer):
    # names and values
    def bare_name(self, tok):
        return str(tok)

    def quoted_name(self, tok):
        name = _string(tok)
        if not name:
            raise SemanticError("a name cannot be empty")
        return name

    def value(self, name):
        return name

    def omitted(self):
        return None

    def result(self, name):
        return name

    def operand(self, name):
        return name

    def results(self, *items):
        return _Results(items)

    def operands(self, *items):
        return _Operands(items)

    def types(self, *items):
        return _Types(items)

    # symbolic sizes
    def sign(self):
        return "neg"

    def addop(self, tok):
        return 1 if str(tok) == "+" else -1

    def sf_int(self, tok):
        return int(tok)

    def sf_name(self, tok):
        return Sym.of(str(tok))

    def symterm(self, *factors):
        out: Any = 1
        for f in factors:
            out = out * f
        return out

    def symexpr(self, *parts):
        parts = list(parts)
        sign = 1
        if parts[0] == "neg":
            sign = -1
            parts.pop(0)
        total: Any = sign * parts[0]
        for i in range(1, len(parts), 2):
            total = total + parts[i] * parts[i + 1]
        return total

    # types
    def dim_int(self, tok):
        return int(tok)

    def dim_unknown(self):
        return None

    def dim_sym(self, expr):
        if isinstance(expr, int) and expr < 0:
            raise SemanticError(f"negative size {expr}")
        return expr

    def tensor_type(self, *items):
        *dims, dtype = items
        return TensorType(DType(str(dtype)), tuple(dims))

    def type_params(self, attrs=None):
        return tuple(attrs.items()) if attrs is not None else ()

    def dialect_type(self, name, params=None):
        try:
            return make_dialect_type(str(name), params or ())
        except (ValueError, TypeError) as e:
            raise SemanticError(str(e)) from None

    # attributes
    def av_int(self, tok):
        return int(tok)

    def av_float(self, tok):
        return float(tok)

    def av_str(self, tok):
        return _string(tok)

    def av_true(self):
        return True

    def av_false(self):
        return False

    def av_dtype(self, tok):
        return DType(str(tok))

    def av_sym(self, expr):
        return expr

    def attr_values(self, *items):
        return tuple(items)

    def av_list(self, items=()):
        return tuple(items)

    def attr(self, key, value):
        return (str(key), value)

    def attrs(self, *items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise SemanticError(f"attribute '{_first_dup(keys)}' is given twice")
        return Attrs(dict(items))

    def attr_dict(self, attrs=None):
        return attrs if attrs is not None else Attrs()

    # constants
    def lit_int(self, tok):
        return int(tok)

    def lit_float(self, tok):
        value = float(tok)
        if math.isinf(value) and "inf" not in tok:
            raise SemanticError(f"{tok} is out of range for f64")
        return value

    def lit_true(self):
        return True

    def lit_false(self):
        return False

    def lit_sym(self, expr):
        return expr

    def literals(self, *items):
        return list(items)

    def lit_list(self, items=None):
        return items if items is not None else []

    def dense(self, literal):
        return ("dense", literal)

    def ref(self, tok):
        return ("ref", _string(tok))

    def const(self, name, type_, data):
        return ("const", name, type_, data)

    def input(self, name, type_):
        return Value(name, type_)

    def inputs(self, *items):
        return list(items)

    def loc(self, *strings):
        return _Loc(_string(s) for s in strings)

    def op(self, results, opname, *rest):
        operands: list = []
        attrs = Attrs()
        types: list = []
        loc: tuple = ()
        for item in rest:
            if isinstance(item, _Operands):
                operands = list(item)
            elif isinstance(item, Attrs):
                attrs = item
            elif isinstance(item, _Types):
                types = list(item)
            elif isinstance(item, _Loc):
                loc = tuple(item)
        present = [r for r in results if r is not None]
        if len(types) != len(present):
            raise SemanticError(
                f"op {opname} has {len(present)} named results but {len(types)} result "
                + ("type" if len(types) == 1 else "types")
            )
        it = iter(types)
        values = tuple(Value(r, next(it)) if r is not None else None for r in results)
        return Op(str(opname), tuple(operands), values, attrs, loc)

    def ret(self, *names):
        return ("return", names)

    def graph_attrs(self, attrs):
        return ("attrs", attrs)

    def graph(self, name, *items):
        inputs: list[Value] = []
        consts = []
        ops = []
        attrs = Attrs()
        outputs: tuple[str, ...] = ()
        for item in items:
            if isinstance(item, list):
                inputs = item
            elif isinstance(item, Op):
                ops.append(item)
            elif item[0] == "const":
                consts.append(item)
            elif item[0] == "attrs":
                attrs = item[1]
            elif item[0] == "return":
                outputs = item[1]
        return (str(name), inputs, consts, ops, outputs, attrs)

    def start(self, g):
        return g


def _first_dup(keys):
    seen = set()
    for k in keys:
        if k in seen:
            return k
        seen.add(k)
    return keys[0]


def dense_array(literal: Any, t: TensorType, name: str) -> np.ndarray:
    if not t.is_static:
        raise SemanticError(f"constant %{name} must have a static type, got {t}")
    shape = t.static_shape
    lshape = _literal_shape(literal, name)
    # "[]" is how a 0x3 constant prints: numpy's nesting stops at the first 0
    if lshape != shape and not (0 in shape and lshape == _empty_literal_shape(shape)):
        raise SemanticError(
            f"constant %{name}: literal has shape {list(lshape)}, type says {list(shape)}"
        )
    try:
        if _has_sym(literal):
            if not t.dtype.is_int:
                raise SemanticError(f"constant %{name}: symbolic entries need an integer dtype")
            arr = np.empty(shape, dtype=object)
            arr[...] = np.array(literal, dtype=object)
            for x in arr.ravel():
                if not isinstance(x, (int, Sym)) or isinstance(x, bool):
                    raise SemanticError(f"constant %{name}: bad symbolic entry {x!r}")
            return arr
        _check_literal_kinds(literal, t.dtype, name)
        with np.errstate(all="ignore"):
            return np.array(literal, dtype=t.dtype.numpy).reshape(shape)
    except (ValueError, TypeError, OverflowError) as e:
        raise SemanticError(f"constant %{name}: {e}") from None


def _literal_shape(lit: Any, name: str) -> tuple[int, ...]:
    if not isinstance(lit, list):
        return ()
    if not lit:
        return (0,)
    shapes = {_literal_shape(x, name) for x in lit}
    if len(shapes) != 1:
        raise SemanticError(f"constant %{name}: the literal's rows have different shapes")
    return (len(lit),) + shapes.pop()


def _empty_literal_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape[: shape.index(0) + 1] if 0 in shape else shape


def _has_sym(lit: Any) -> bool:
    if isinstance(lit, list):
        return any(_has_sym(x) for x in lit)
    return isinstance(lit, Sym)


def _check_literal_kinds(lit: Any, dtype: DType, name: str) -> None:
    if isinstance(lit, list):
        for x in lit:
            _check_literal_kinds(x, dtype, name)
        return
    if dtype == DType.BOOL and not isinstance(lit, bool):
        raise SemanticError(f"constant %{name}: {lit!r} is not a bool")
    if dtype.is_int and (isinstance(lit, (bool, float))):
        raise SemanticError(f"constant %{name}: {lit!r} is not an integer")
    if dtype.is_int:
        info = np.iinfo(dtype.numpy)
        if not info.min <= lit <= info.max:
            raise SemanticError(f"constant %{name}: {lit} is out of range for {dtype}")
    if dtype.is_float and isinstance(lit, bool):
        raise SemanticError(f"constant %{name}: {lit!r} is not a number")
    if dtype.is_float and math.isfinite(lit) and _overflows(lit, dtype.numpy):
        raise SemanticError(f"constant %{name}: {lit!r} is out of range for {dtype}")
    if dtype.is_complex:
        raise SemanticError(f"constant %{name}: complex constants have no text form")


def _overflows(value: float, dtype: np.dtype) -> bool:
    """Whether a finite ``value`` rounds to an infinity in ``dtype`` (3.4028235e38 does not)."""
    with np.errstate(over="ignore"):
        return bool(np.isinf(np.asarray(value, dtype=dtype)))
