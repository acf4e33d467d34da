"""Symbolic sizes: arithmetic on Sym agrees with arithmetic on the numbers it stands for."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlower.ir import Sym, SymbolicError
from qlower.ir.symbolic import dim_str, evaluate_dim, exact_div, parse_sym

SYMBOLS = ("a", "b", "batch")
a, b, batch = (Sym.of(s) for s in SYMBOLS)

envs = st.fixed_dictionaries({s: st.integers(1, 50) for s in SYMBOLS})  # symbols are positive


@st.composite
def exprs(draw, depth: int = 3):
    """Expressions over ints and symbols built with +, -, * (so may collapse to an int)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.one_of(st.integers(-20, 20), st.sampled_from(SYMBOLS).map(Sym.of)))
    x, y = draw(exprs(depth - 1)), draw(exprs(depth - 1))
    op = draw(st.sampled_from("+-*"))
    return x + y if op == "+" else x - y if op == "-" else x * y


@st.composite
def monomials(draw):
    """A nonzero coefficient times a product of symbols (possibly none)."""
    out = draw(st.integers(-6, 6).filter(bool))
    for s in draw(st.lists(st.sampled_from(SYMBOLS), max_size=3)):
        out = out * Sym.of(s)
    return out


def ev(e, env) -> int:
    return evaluate_dim(e, env)


EX = settings(max_examples=100)


@EX
@given(exprs(), exprs(), envs)
def test_arithmetic_agrees_with_integers(x, y, env) -> None:
    assert ev(x + y, env) == ev(x, env) + ev(y, env)
    assert ev(x - y, env) == ev(x, env) - ev(y, env)
    assert ev(x * y, env) == ev(x, env) * ev(y, env)
    assert ev(-x, env) == -ev(x, env)
    assert ev(3 + x, env) == 3 + ev(x, env) and ev(3 - x, env) == 3 - ev(x, env)
    assert ev(2 * x, env) == 2 * ev(x, env)


@EX
@given(exprs(), exprs())
def test_normal_form(x, y) -> None:
    """Equal polynomials are equal objects; constants are plain ints, never Sym."""
    assert x + y == y + x and x * y == y * x
    assert (x + y) * 2 == 2 * x + 2 * y
    assert x - x == 0 and type(x - x) is int
    if isinstance(x, Sym):
        assert hash(x + 0) == hash(x)
        assert x.symbols <= set(SYMBOLS)


@EX
@given(exprs(), monomials(), envs)
def test_exact_division(q, m, env) -> None:
    """(q*m) / m == q for a monomial m; q*m + 1 is not divisible by a monomial other than ±1."""
    assert exact_div(q * m, m) == q
    assert ev((q * m) // m, env) == ev(q, env)
    if m not in (1, -1):
        assert exact_div(q * m + 1, m) is None
        if isinstance(q * m + 1, Sym) or isinstance(m, Sym):
            with pytest.raises(SymbolicError, match="is not known to be divisible by"):
                _ = (q * m + 1) // m


@EX
@given(exprs(), exprs(), envs)
def test_exact_division_is_sound(x, y, env) -> None:
    """Whenever exact_div gives an answer, it is the quotient for every symbol value."""
    q = exact_div(x, y)
    if q is not None:
        assert ev(q, env) * ev(y, env) == ev(x, env)


@EX
@given(exprs(), exprs(), envs)
def test_comparison_is_sound(x, y, env) -> None:
    """A comparison that is decided holds for every positive symbol value; else it raises."""
    for op, check in (
        (lambda p, q: p < q, lambda p, q: p < q),
        (lambda p, q: p <= q, lambda p, q: p <= q),
        (lambda p, q: p > q, lambda p, q: p > q),
        (lambda p, q: p >= q, lambda p, q: p >= q),
    ):
        if not isinstance(x, Sym):
            continue
        try:
            decided = op(x, y)
        except SymbolicError as e:
            assert str(e).startswith("cannot compare ")
            continue
        assert decided == check(ev(x, env), ev(y, env))


@EX
@given(exprs())
def test_parse_sym_inverts_str(e) -> None:
    assert parse_sym(str(e)) == e
    if isinstance(e, Sym):
        assert dim_str(e) == f"({e})"


def test_examples() -> None:
    assert str(2 * batch + 1) == "2*batch+1"
    assert str(1 - batch) == "-batch+1"
    assert str(a * b * a - 3 * b + 4) == "a*a*b-3*b+4"
    assert parse_sym("2*batch+1") == 2 * batch + 1
    assert parse_sym("-a*b") == -(a * b)
    assert parse_sym("6") == 6 and type(parse_sym("6")) is int
    assert exact_div(6 * a * b + 2 * a, 2 * a) == 3 * b + 1
    assert exact_div(7, 2) is None
    assert exact_div(0, a) == 0 and exact_div(0, a + 1) == 0 and 0 // a == 0
    assert exact_div(a, 0) is None and exact_div(0, 0) is None
    assert exact_div(a, b) is None
    assert exact_div(2 * a + 1, 2) is None
    assert exact_div(a + b, a + b) == 1
    assert exact_div(2 * a + 2, a + 1) is None  # exact, but not known: the divisor is a sum
    assert (4 * a) % 2 == 0
    assert batch + 1 > batch and batch > 0 and not batch < 0
    with pytest.raises(SymbolicError, match="^cannot compare a with b$"):
        _ = a < b
    with pytest.raises(SymbolicError, match=r"^2\*a\+1 is not known to be divisible by 2$"):
        _ = (2 * a + 1) // 2
    with pytest.raises(SymbolicError, match=r"^a mod 2 is not known$"):
        _ = a % 2
    with pytest.raises(SymbolicError, match="used where a number is needed"):
        int(batch)


@pytest.mark.parametrize(
    "text", ["+", "2*", "a+", "a**b", "2a", "batch size", "a/2", "(a)", "1.5"]
)
def test_parse_sym_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_sym(text)
    assert str(e.value) == f"malformed size expression {text!r}"


def test_parse_sym_spaces_and_empty() -> None:
    assert parse_sym(" 2 * batch + 1 ") == 2 * batch + 1
    with pytest.raises(ValueError, match="^empty size expression$"):
        parse_sym("  ")
