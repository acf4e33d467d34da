"""Reference backend: executes an IR graph at any stage with numpy.

Each op runs its own numpy semantics (``evaluate`` on its definition). Inputs are checked
against the graph's signature, symbolic sizes are bound from them, and every result is
checked against its declared type, so a pass that breaks semantics is caught where it runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np

from qlower.errors import InputError, QlowerError
from qlower.ir import ConstRef, Dense, EvaluationError, Graph, Sym, TensorType, evaluate_op
from qlower.ir.symbolic import SymbolicError, evaluate_dim


def _fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def bind_inputs(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Check ``inputs`` against the graph's inputs; return the values of the size symbols."""
    expected = [v.name for v in graph.inputs]
    takes = ", ".join(expected) if expected else "no inputs"
    for name in inputs:
        if name not in expected:
            raise InputError(f"unknown input '{name}' (the model takes: {takes})")
    missing = [n for n in expected if n not in inputs]
    if missing:
        raise InputError(
            f"missing input{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"'{m}'" for m in missing) + f" (the model takes: {takes})"
        )
    env: dict[str, int] = {}
    origin: dict[str, str] = {}
    pending = []
    for v in graph.inputs:
        t = v.type
        arr = inputs[v.name]
        if not isinstance(t, TensorType):
            raise InputError(f"input '{v.name}' has non-tensor type {t}")
        if not isinstance(arr, np.ndarray):
            raise InputError(f"input '{v.name}' is not an array")
        if arr.dtype != t.dtype.numpy:
            hint = f" (convert it with .astype(np.{t.dtype.numpy.name}))" if arr.dtype.kind in "biuf" else ""
            raise InputError(
                f"input '{v.name}' has dtype {arr.dtype}; the model expects {t.dtype}{hint}"
            )
        if arr.ndim != t.rank:
            raise InputError(
                f"input '{v.name}' has shape {_fmt_shape(arr.shape)}; the model expects {t} "
                f"(rank {t.rank})"
            )
        for axis, (d, n) in enumerate(zip(t.dims, arr.shape)):
            if isinstance(d, int) and d != n:
                raise InputError(
                    f"input '{v.name}' has shape {_fmt_shape(arr.shape)}; the model expects "
                    f"dimension {axis} to be {d}"
                )
            if isinstance(d, Sym) and d.is_symbol:
                s = next(iter(d.symbols))
                if s in env and env[s] != n:
                    raise InputError(
                        f"input '{v.name}' dimension {axis} is {n}, but {s} = {env[s]} "
                        f"from input '{origin[s]}'"
                    )
                env[s], origin[s] = n, v.name
            elif isinstance(d, Sym):
                pending.append((v.name, axis, d, n))
    for name, axis, d, n in pending:
        unbound = d.symbols - env.keys()
        if len(unbound) == 1:
            s = next(iter(unbound))
            value = _solve_linear(d, s, env, n)
            if value is None:
                raise InputError(f"input '{name}' dimension {axis} is {n}, which no size {s} gives for {d}")
            env[s], origin[s] = value, name
        elif unbound:
            raise InputError(f"cannot determine size symbols {sorted(unbound)} from input '{name}'")
        if d.evaluate(env) != n:
            raise InputError(f"input '{name}' dimension {axis} is {n}, but {d} = {d.evaluate(env)}")
    return env


def _solve_linear(expr: Sym, symbol: str, env: Mapping[str, int], target: int) -> int | None:
    """Solve ``expr == target`` for ``symbol`` when expr is linear in it."""
    coeff, const = 0, 0
    for mono, c in expr.terms:
        rest = list(mono)
        count = rest.count(symbol)
        if count > 1:
            return None
        value = c
        for s in rest:
            if s != symbol:
                value *= env[s]
        if count:
            coeff += value
        else:
            const += value
    if coeff == 0 or (target - const) % coeff:
        return None
    result = (target - const) // coeff
    return result if result >= 1 else None


def _resolve(arr: np.ndarray, env: Mapping[str, int]) -> np.ndarray:
    flat = [evaluate_dim(x, env) if isinstance(x, Sym) else int(x) for x in arr.ravel().tolist()]
    return np.array(flat, dtype=np.int64).reshape(arr.shape)


def _check_result(op, index: int, arr, env: Mapping[str, int]) -> None:
    r = op.results[index]
    if r is None:
        return
    t = r.type
    if not isinstance(t, TensorType):
        return
    if not isinstance(arr, np.ndarray) or arr.dtype != t.dtype.numpy:
        got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
        raise RuntimeError(f"{op.label}: result %{r.name} has dtype {got}, declared {t}")
    ok = arr.ndim == t.rank
    if ok:
        for d, n in zip(t.dims, arr.shape):
            if d is None:
                continue
            try:
                if evaluate_dim(d, env) != n:
                    ok = False
            except KeyError:
                pass
    if not ok:
        raise RuntimeError(
            f"{op.label}: result %{r.name} has shape {_fmt_shape(arr.shape)}, declared {t}"
        )


def evaluate_checked(op, values: Mapping[str, np.ndarray], env: Mapping[str, int]) -> tuple:
    """``op``'s numpy semantics on ``values``; bad data becomes a one-line QlowerError."""
    args = [values[o] if o is not None else None for o in op.operands]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "Mean of empty slice"
            return evaluate_op(op, args, env)
    except EvaluationError as e:
        raise QlowerError(f"evaluating {e}") from None
    except (ValueError, IndexError, ZeroDivisionError, SymbolicError, KeyError) as e:
        raise QlowerError(f"evaluating {op.label}: {e}") from None


def initial_values(
    graph: Graph, inputs: Mapping[str, np.ndarray]
) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Check ``inputs``, bind the size symbols, and load the constants (symbolic ones resolved).

    Returns ``(env, values)``: the symbols' values and every input and constant by name.
    """
    env = bind_inputs(graph, inputs)
    values: dict[str, np.ndarray] = {v.name: inputs[v.name] for v in graph.inputs}
    for c in graph.constants:
        if isinstance(c.data, ConstRef):
            raise QlowerError(
                f"constant %{c.name} has no data (the dump was read without its weights .npz)"
            )
        assert isinstance(c.data, Dense)
        values[c.name] = _resolve(c.data.array, env) if c.data.symbolic else c.data.array
    return env, values


def run_op(op, values: dict[str, np.ndarray], env: Mapping[str, int]) -> None:
    """Evaluate ``op`` on ``values``, check its results against their types, store them."""
    out = evaluate_checked(op, values, env)
    for i, r in enumerate(op.results):
        if r is None:
            continue
        arr = out[i] if i < len(out) else None
        if arr is None:
            raise RuntimeError(f"{op.label}: produced no value for %{r.name}")
        arr = np.asarray(arr)
        _check_result(op, i, arr, env)
        values[r.name] = arr


def check_results(op, values: Mapping[str, np.ndarray], env: Mapping[str, int],
                  names) -> None:
    """The results ``names`` of ``op`` are in ``values`` and agree with their declared types."""
    for i, r in enumerate(op.results):
        if r is None or r.name not in names:
            continue
        if r.name not in values:
            raise RuntimeError(f"{op.label}: produced no value for %{r.name}")
        _check_result(op, i, values[r.name], env)


# dispatch(op, values, env): None to let the op's semantics run, else the names of the results
# it stored (an op inside a kernel whose value nobody reads may store none)
Dispatch = Callable[[object, dict, Mapping], "list[str] | None"]


def interpret(
    graph: Graph,
    inputs: Mapping[str, np.ndarray],
    *,
    dispatch: Dispatch | None = None,
    after: Callable[[object, dict, Mapping], None] | None = None,
    before: Callable[[Mapping, dict], None] | None = None,
) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """The one interpreter: the reference backend, the compiled program's runtime and ``bind``
    all run graphs through it.

    It checks the inputs and binds the size symbols, loads the constants with their symbolic
    sizes resolved, then runs each op in order: ``dispatch(op, values, env)`` may run it itself
    (a kernel on a simulator) and return the names of the results it stored; otherwise (None)
    the op's numpy semantics run. Either way every stored result is checked against its
    declared type, and ``after(op, values, env)`` is called. ``before(env, values)`` runs once
    the inputs are bound. Returns ``(env, values)``.
    """
    env, values = initial_values(graph, inputs)
    if before is not None:
        before(env, values)
    for op in graph.ops:
        stored = dispatch(op, values, env) if dispatch is not None else None
        if stored is None:
            run_op(op, values, env)
        else:
            check_results(op, values, env, stored)
        if after is not None:
            after(op, values, env)
    return env, values


def run_graph(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``inputs``; returns the outputs by name."""
    _, values = interpret(graph, inputs)
    return {name: values[name] for name in graph.outputs}


class ReferenceBackend:
    """``run(graph, inputs) -> outputs`` with numpy; the semantics every other backend must match."""

    name = "reference"

    def run(self, graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return run_graph(graph, inputs)
