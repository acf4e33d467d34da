"""Symbolic dimensions: integer polynomials over named sizes (``batch``, ``2*batch``, ``batch*seq``).

A dimension of a tensor is an ``int`` (static), a :class:`Sym` (symbolic), or ``None`` (unknown).
Arithmetic on a ``Sym`` collapses to a plain ``int`` whenever the result is constant, so code can
mix the two freely. Symbols stand for positive integers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

Monomial = tuple[str, ...]  # sorted symbol names, repeated for powers; () is the constant term

SYMBOL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SymbolicError(ArithmeticError):
    """An operation on symbolic dimensions has no exact symbolic result."""


def _mul_mono(a: Monomial, b: Monomial) -> Monomial:
    return tuple(sorted(a + b))


def _div_mono(a: Monomial, b: Monomial) -> Monomial | None:
    rest = list(a)
    for s in b:
        if s not in rest:
            return None
        rest.remove(s)
    return tuple(rest)


def _make(terms: dict[Monomial, int]) -> int | Sym:
    terms = {m: c for m, c in terms.items() if c != 0}
    if not terms:
        return 0
    if set(terms) == {()}:
        return terms[()]
    return Sym(tuple(sorted(terms.items(), key=_term_order)))


def _term_order(term: tuple[Monomial, int]) -> tuple:
    mono, _ = term
    return (-len(mono), mono)


@dataclass(frozen=True)
class Sym:
    """A polynomial with integer coefficients over symbol names; never a constant."""

    terms: tuple[tuple[Monomial, int], ...]

    @staticmethod
    def of(name: str) -> Sym:
        if not SYMBOL_RE.fullmatch(name):
            raise ValueError(f"invalid symbol name {name!r}")
        return Sym((((name,), 1),))

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(s for mono, _ in self.terms for s in mono)

    @property
    def is_symbol(self) -> bool:
        """True for a bare symbol such as ``batch``."""
        return len(self.terms) == 1 and self.terms[0][1] == 1 and len(self.terms[0][0]) == 1

    def _dict(self) -> dict[Monomial, int]:
        return dict(self.terms)

    # -- arithmetic ---------------------------------------------------------------------------
    def __add__(self, other: object) -> int | Sym:
        o = _as_terms(other)
        if o is None:
            return NotImplemented
        d = self._dict()
        for m, c in o.items():
            d[m] = d.get(m, 0) + c
        return _make(d)

    __radd__ = __add__

    def __neg__(self) -> int | Sym:
        return _make({m: -c for m, c in self.terms})

    def __sub__(self, other: object) -> int | Sym:
        o = _as_terms(other)
        if o is None:
            return NotImplemented
        return self + _make({m: -c for m, c in o.items()})

    def __rsub__(self, other: object) -> int | Sym:
        return (-self) + other

    def __mul__(self, other: object) -> int | Sym:
        o = _as_terms(other)
        if o is None:
            return NotImplemented
        d: dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in o.items():
                m = _mul_mono(m1, m2)
                d[m] = d.get(m, 0) + c1 * c2
        return _make(d)

    __rmul__ = __mul__

    def __floordiv__(self, other: object) -> int | Sym:
        result = exact_div(self, other)  # type: ignore[arg-type]
        if result is None:
            raise SymbolicError(f"{self} is not known to be divisible by {other}")
        return result

    def __rfloordiv__(self, other: object) -> int | Sym:
        result = exact_div(other, self)  # type: ignore[arg-type]
        if result is None:
            raise SymbolicError(f"{other} is not known to be divisible by {self}")
        return result

    __truediv__ = __floordiv__
    __rtruediv__ = __rfloordiv__

    def __mod__(self, other: object) -> int:
        if exact_div(self, other) is not None:  # type: ignore[arg-type]
            return 0
        raise SymbolicError(f"{self} mod {other} is not known")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(self.terms)

    # Comparisons are decided where "every symbol is >= 1" settles them.
    def _bounds(self) -> tuple[int | None, int | None]:
        """(lowest, highest) value over all symbol values >= 1; None where unbounded."""
        at_one = sum(c for _, c in self.terms)
        signs = {c > 0 for mono, c in self.terms if mono}
        if signs == {True}:
            return at_one, None  # increasing in every symbol: smallest at all ones
        if signs == {False}:
            return None, at_one
        return None, None

    def _decide(self, other: object, op: str) -> bool:
        diff = self - other  # type: ignore[operator]
        lo, hi = (diff, diff) if isinstance(diff, int) else diff._bounds()
        decided = {
            "<": (hi is not None and hi < 0, lo is not None and lo >= 0),
            "<=": (hi is not None and hi <= 0, lo is not None and lo > 0),
            ">": (lo is not None and lo > 0, hi is not None and hi <= 0),
            ">=": (lo is not None and lo >= 0, hi is not None and hi < 0),
        }[op]
        if decided[0]:
            return True
        if decided[1]:
            return False
        raise SymbolicError(f"cannot compare {self} with {other}")

    def __lt__(self, other: object) -> bool:
        return self._decide(other, "<")

    def __le__(self, other: object) -> bool:
        return self._decide(other, "<=")

    def __gt__(self, other: object) -> bool:
        return self._decide(other, ">")

    def __ge__(self, other: object) -> bool:
        return self._decide(other, ">=")

    def __bool__(self) -> bool:
        return True  # symbols are positive, and a Sym is never the constant 0

    def __index__(self) -> int:
        raise SymbolicError(f"symbolic size {self} used where a number is needed")

    def __int__(self) -> int:
        raise SymbolicError(f"symbolic size {self} used where a number is needed")

    def evaluate(self, env: Mapping[str, int]) -> int:
        total = 0
        for mono, coeff in self.terms:
            value = coeff
            for s in mono:
                if s not in env:
                    raise KeyError(s)
                value *= env[s]
            total += value
        return total

    def __str__(self) -> str:
        out = ""
        for i, (mono, coeff) in enumerate(self.terms):
            factors = list(mono)
            mag = abs(coeff)
            if mag != 1 or not factors:
                factors.insert(0, str(mag))
            text = "*".join(factors)
            if i == 0:
                out = ("-" if coeff < 0 else "") + text
            else:
                out += ("-" if coeff < 0 else "+") + text
        return out

    def __repr__(self) -> str:
        return f"Sym({str(self)!r})"


def decide_equal(a: int | Sym, b: int | Sym) -> bool:
    """``a == b`` for sizes, decided where every symbol being >= 1 settles it (``batch`` is
    never -1); raises SymbolicError when it does not (``batch`` and ``seq`` may be equal)."""
    diff = a - b
    if isinstance(diff, int):
        return diff == 0
    lo, hi = diff._bounds()
    if (lo is not None and lo > 0) or (hi is not None and hi < 0):
        return False
    raise SymbolicError(f"cannot tell whether {a} equals {b}")


def _as_terms(x: object) -> dict[Monomial, int] | None:
    if isinstance(x, Sym):
        return x._dict()
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return {(): x}
    try:  # numpy integers
        import numpy as np

        if isinstance(x, np.integer):
            return {(): int(x)}
    except ImportError:  # pragma: no cover
        pass
    return None


def exact_div(a: int | Sym, b: int | Sym) -> int | Sym | None:
    """``a / b`` when it is an exact polynomial; ``None`` when it is not known to be."""
    ta, tb = _as_terms(a), _as_terms(b)
    if ta is None or tb is None or not any(tb.values()):
        return None
    if not any(ta.values()):
        return 0  # 0 / b
    if len(tb) != 1:
        return 1 if ta == tb else None
    (mono_b, coeff_b), = tb.items()
    out: dict[Monomial, int] = {}
    for mono, coeff in ta.items():
        q = _div_mono(mono, mono_b)
        if q is None or coeff % coeff_b:
            return None
        out[q] = out.get(q, 0) + coeff // coeff_b
    return _make(out)


Dim = int | Sym | None


def is_static(d: Dim) -> bool:
    return isinstance(d, int)


def dim_str(d: Dim) -> str:
    if d is None:
        return "?"
    if isinstance(d, Sym):
        return f"({d})"
    return str(d)


def evaluate_dim(d: int | Sym, env: Mapping[str, int]) -> int:
    return d.evaluate(env) if isinstance(d, Sym) else int(d)


def parse_sym(text: str) -> int | Sym:
    """Parse an expression such as ``2*batch+1`` (the printer's form). Raises ValueError."""
    src = re.sub(r"\s*([-+*])\s*", r"\1", text.strip())  # spaces only around operators
    if not src:
        raise ValueError("empty size expression")
    if any(c.isspace() for c in src):
        raise ValueError(f"malformed size expression {text!r}")
    tokens = re.findall(r"[+-]|[^+-]+", src)
    total: int | Sym = 0
    sign = 1
    expect_term = True
    for tok in tokens:
        if tok in "+-":
            if not expect_term and tok in "+-":
                sign = 1 if tok == "+" else -1
                expect_term = True
                continue
            if expect_term and tok == "-":
                sign = -sign
                continue
            raise ValueError(f"malformed size expression {text!r}")
        term: int | Sym = sign
        for factor in tok.split("*"):
            if factor.isdigit():
                term = term * int(factor)
            elif SYMBOL_RE.fullmatch(factor):
                term = term * Sym.of(factor)
            else:
                raise ValueError(f"malformed size expression {text!r}")
        total = total + term
        sign, expect_term = 1, False
    if expect_term:
        raise ValueError(f"malformed size expression {text!r}")
    return total


def dims_equal(a: Dim, b: Dim) -> bool | None:
    """True/False when decided, None when either side is unknown."""
    if a is None or b is None:
        return None
    return a == b
