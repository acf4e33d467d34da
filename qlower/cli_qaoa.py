"""``qlower qaoa``: binarise a linear layer's weight rows to ±1 by QAOA (``qlower.qaoa``).

Imports of onnx, Cirq and qsim happen in :func:`cmd_qaoa` only: building the parser stays light.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from qlower.errors import InputError, OptionError, QlowerError, UnsupportedError

RATIO = "(C_max - <C>)/(C_max - C_min), <C> the mean cost in the final state"


def add_parser(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``qaoa`` subcommand."""
    from qlower.cli import nonneg_int, positive_int  # loaded: cli builds its parser now

    p = sub.add_parser("qaoa", parents=[common],
                       help="set a linear layer's weights to the best ±1 rows found by QAOA")
    p.add_argument("model", metavar="MODEL", help="an .onnx model")
    p.add_argument("--layer", required=True, metavar="NAME",
                   help="the Gemm or MatMul node whose constant weights become ±1")
    p.add_argument("--data", dest="inputs", required=True, metavar="D.npz",
                   help="X [S, N]: the layer's inputs; t [S, M] (or [S] for one row): the "
                   "targets of its outputs. Each row minimises ||alpha X w + bias - t||^2")
    p.add_argument("--p", type=positive_int, default=4, metavar="P",
                   help="QAOA depth (default 4; depths 1..P are optimised in turn)")
    p.add_argument("--shots", type=positive_int, default=1024, metavar="N",
                   help="samples of the final state per row (default 1024)")
    p.add_argument("--seed", type=nonneg_int, default=0, metavar="S",
                   help="seed of the sampler (default 0)")
    p.add_argument("--objective", choices=["gibbs", "energy", "cvar"], default="gibbs",
                   help="what the angles minimise: gibbs -ln<exp(-eta (C - mean)/sigma)> "
                   "(default; Li et al. 2020), energy <C>, or cvar CVaR_alpha (Barkoutsos et al. "
                   "2020)")
    p.add_argument("--alpha", type=float, default=0.5, metavar="A",
                   help="CVaR's tail fraction, in (0, 1] (default 0.5; --objective cvar)")
    p.add_argument("--eta", type=float, default=10.0, metavar="E",
                   help="Gibbs inverse temperature in units of 1/sigma, > 0 (default 10; "
                   "--objective gibbs)")
    p.add_argument("--qasm", metavar="FILE", help="write each row's optimised circuit as "
                   "OpenQASM 3 (one row: FILE; M rows: FILE with .row<m> before its suffix)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                   help="the model with the ±1 weights (written atomically)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_qaoa)
    return p


def qasm_paths(path: str, rows: int) -> list[Path]:
    """``--qasm FILE``'s files: FILE for one row, ``stem.row<m>.suffix`` for several."""
    p = Path(path)
    if rows == 1:
        return [p]
    return [p.with_name(f"{p.stem}.row{m}{p.suffix}") for m in range(rows)]


def load_model(path: str):
    """The ONNX model, checked (its ops need not be ones qlower lowers)."""
    from onnx.external_data_helper import uses_external_data

    from qlower.frontend import onnx_loader as ol
    from qlower.frontend.loader import looks_like_ir, read_bytes

    data = read_bytes(path, "model file")
    if looks_like_ir(data):
        raise UnsupportedError(f"{path}: qaoa needs an ONNX model, not IR text")
    model = ol.decode_onnx(path, data)
    ol.check_opsets(path, model)
    ol.check_names(path, model)
    ol.load_external(Path(path), model)
    ol.run_onnx_checker(path, model)
    for t in model.graph.initializer:
        if uses_external_data(t):
            raise UnsupportedError(f"{path}: initializer '{t.name}' stays in an external file; "
                                   "qaoa writes the model as one file (save it without "
                                   "external data)")
    return model


def load_data(path: str, layer) -> tuple[np.ndarray, np.ndarray]:
    """X [S, N] and t [S, M] (float64) from the data file, checked against the layer."""
    from qlower.ir.weights import load_weights

    arrays = load_weights(path, "data file")
    m, n = layer.weights.shape
    extra = sorted(set(arrays) - {"X", "t"})
    if extra:
        raise InputError(f"{path}: unexpected array '{extra[0]}' (the data file holds X, the "
                         "layer's inputs, and t, its targets)")
    for key, what in (("X", f"the layer's inputs, [S, {n}]"), ("t", f"the targets, [S, {m}]")):
        if key not in arrays:
            raise InputError(f"{path}: no array '{key}' ({what})")
        a = arrays[key]
        if a.dtype.kind not in "biuf":
            raise InputError(f"{path}: array '{key}' has type {a.dtype}; expected real numbers")
        if not np.all(np.isfinite(a)):
            raise InputError(f"{path}: array '{key}' holds a non-finite value")
    x, t = arrays["X"].astype(np.float64), arrays["t"].astype(np.float64)
    if x.ndim != 2 or x.shape[1] != n or x.shape[0] == 0:
        raise InputError(f"{path}: X has shape {list(x.shape)}; node '{layer.node}' takes "
                         f"[S, {n}] with S >= 1")
    if t.ndim == 1 and m == 1:
        t = t[:, None]
    if t.shape != (x.shape[0], m):
        want = f"[{x.shape[0]}, {m}]" + (f" or [{x.shape[0]}]" if m == 1 else "")
        raise InputError(f"{path}: t has shape {list(t.shape)}; expected {want} (one target "
                         f"per sample of X and output of node '{layer.node}')")
    return x, t


def _cannot_write(path, reason, option: str | None) -> None:
    """-o names its file itself (the CLI knows it); a --qasm file is named as the option's."""
    if option is None:
        raise QlowerError(f"{path}: cannot write ({reason})")
    raise OptionError(f"{option} {path}: cannot write ({reason})")


def _num(v) -> str:
    return "none" if v is None else f"{v:.6g}"


def cmd_qaoa(args: argparse.Namespace) -> int:
    """``qlower qaoa``: QAOA per weight row, the best sampled ±1 rows written to a model."""
    from qlower import qaoa
    from qlower.backends.qasm3 import to_qasm3
    from qlower.ir.json_format import dumps
    from qlower.ir.weights import replacing

    if not 0 < args.alpha <= 1:
        raise OptionError(f"--alpha {args.alpha:g}: CVaR's tail fraction must lie in (0, 1]")
    if not 0 < args.eta < float("inf"):
        raise OptionError(f"--eta {args.eta:g}: the Gibbs inverse temperature must be positive")
    if args.qasm is not None and Path(args.qasm) == Path(args.output):
        raise OptionError(f"--qasm {args.qasm}: the same file as -o")
    model = load_model(args.model)
    layer = qaoa.find_linear(model, args.layer)
    m, n = layer.weights.shape
    paths = [] if args.qasm is None else qasm_paths(args.qasm, m)
    for path in [Path(args.output), *paths]:  # before the work, and before any file is renamed
        option = None if path == Path(args.output) else "--qasm"
        if not path.resolve().parent.is_dir():
            _cannot_write(path, "No such file or directory", option)
        if path.is_dir():
            _cannot_write(path, "Is a directory", option)
    if n > qaoa.MAX_WEIGHTS:
        raise UnsupportedError(f"node '{layer.node}' has rows of {n} weights; qaoa simulates at "
                               f"most {qaoa.MAX_WEIGHTS} (2^N amplitudes)")
    x, t = load_data(args.inputs, layer)
    problems = qaoa.row_problems(layer, x, t)
    results = qaoa.solve_layer(layer, x, t, args.p, args.shots, args.seed, args.objective,
                               args.alpha, args.eta)
    rows = np.stack([r.weights for r in results])
    out = qaoa.binarise_model(model, layer, rows).SerializeToString()
    qasms = []
    if args.qasm is not None:
        for r, (res, (xr, tr)) in enumerate(zip(results, problems)):
            ising = qaoa.ising_from_data(xr, tr)
            last = res.levels[-1]
            note = (f"qlower qaoa: node '{layer.node}', row {r}, p = {last.p}; qubit j is weight "
                    f"j (|0> = +1)\ngammas {list(last.gammas)}\nbetas {list(last.betas)}")
            qasms.append(to_qasm3(qaoa.qaoa_circuit(ising, last.gammas, last.betas),
                                  measure=True, header_comment=note))
    try:
        with replacing(args.output, *paths) as (tmp, *qtmp):
            tmp.write_bytes(out)
            for p, text in zip(qtmp, qasms):
                p.write_text(text, encoding="utf-8", newline="\n")
    except OSError as e:
        name = e.filename or args.output
        _cannot_write(name, e.strerror or e, None if str(name) == str(args.output) else "--qasm")
    signs = np.where(layer.weights >= 0, 1, -1)  # the naive binarisation, for comparison
    costs = [qaoa.cost(xr, tr, s) for (xr, tr), s in zip(problems, signs)]
    if args.json:
        sys.stdout.write(dumps(report_json(args, layer, results, costs, paths)))
    else:
        sys.stdout.write(report_text(args, layer, results, costs))
    return 0


def row_json(r: int, res, sign_cost: float) -> dict:
    last = res.levels[-1]
    opt = res.optimum
    return {
        "row": r, "weights": [int(v) for v in res.weights], "best_cost": res.best_cost,
        "optimum_cost": None if opt is None else opt.c_min,
        "found_optimum": res.found_optimum,
        "approximation_ratio": res.approximation_ratio, "p_optimal": res.p_optimal,
        "expected_cost": res.expected_cost, "sign_cost": sign_cost,
        "gammas": list(last.gammas), "betas": list(last.betas), "evaluations": last.evaluations,
        "qubits": res.counts.qubits, "cnots": res.counts.cnots, "depth": res.counts.depth,
        "distinct_samples": res.distinct,
    }


def report_json(args, layer, results, costs, paths) -> dict:
    from qlower import qaoa

    m, n = layer.weights.shape
    return {
        "model": args.model, "layer": layer.node, "op": layer.op, "output": args.output,
        "qasm": [str(p) for p in paths] or None, "rows": m, "weights_per_row": n, "p": args.p,
        "shots": args.shots, "seed": args.seed, "optimiser": qaoa.OPTIMISER,
        "objective": qaoa.objective_name(args.objective, args.alpha, args.eta),
        "approximation_ratio": RATIO, "cost": "||alpha X w + bias - t||^2",
        "results": [row_json(r, res, c) for r, (res, c) in enumerate(zip(results, costs))],
    }


def report_text(args, layer, results, costs) -> str:
    from qlower import qaoa

    m, n = layer.weights.shape
    lines = [f"layer '{layer.node}' ({layer.op}): {m} row(s) of {n} weights; QAOA depth "
             f"p = {args.p}, {args.shots} shots, seed {args.seed}",
             f"optimiser: {qaoa.OPTIMISER}; objective: "
             f"{qaoa.objective_name(args.objective, args.alpha, args.eta)}"]
    for r, (res, c) in enumerate(zip(results, costs)):
        d = row_json(r, res, c)
        if res.optimum is None:
            vs = f"optimum none (brute force up to {qaoa.BRUTE_FORCE_LIMIT} weights)"
        else:
            vs = (f"optimum {_num(d['optimum_cost'])} "
                  f"({'found' if d['found_optimum'] else 'not found'})")
        lines.append(f"row {r}: best cost {_num(res.best_cost)}, {vs}, sign(W) cost {_num(c)}; "
                     f"approximation ratio {_num(res.approximation_ratio)}, P(optimal) "
                     f"{_num(res.p_optimal)}; {res.counts.qubits} qubits, {res.counts.cnots} "
                     f"CNOTs, depth {res.counts.depth}")
    lines.append(f"cost ||alpha X w + bias - t||^2; approximation ratio {RATIO}")
    lines.append(f"wrote {args.output}: weights '{layer.weight}' of node '{layer.node}' set to "
                 "the best sampled rows, exactly +-1 (no scale; alpha and bias unchanged)")
    return "\n".join(lines) + "\n"
