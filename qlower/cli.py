"""The ``qlower`` command line: ``inspect``, ``compile``, ``run``, ``bind``, ``estimate``, ``passes``,
``ops``.

Exit status: 0 success; 1 ``run --check`` found outputs beyond tolerance; 2 a problem with the
input or the options (``error: <message>`` on one line); 3 an internal error; 130 interrupted
(SIGINT), 143 terminated (SIGTERM); files being written are then left as they were.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

import numpy as np

from qlower import __version__, api
from qlower.backends import BACKENDS
from qlower.errors import OptionError, QlowerError, about, one_line
from qlower.frontend.loader import is_ir_file, weights_path_for
from qlower.ir import ConstRef, Graph, ParseError, print_graph, referenced_weights
from qlower.ir.dot import graph_to_dot
from qlower.ir.json_format import array_to_json, dumps, graph_to_json, json_number
from qlower.ir.printer import DEFAULT_INLINE_LIMIT
from qlower.ir.weights import WeightsError, replacing, write_atomic, write_npz
from qlower.passes import STAGES, PassFailure, PipelineError, describe_passes

USER_ERRORS = (QlowerError, PipelineError, ParseError, WeightsError)
SIMULATORS = ("qsim", "aer")  # backends of run that compile the model to kernels


# -- inspect ---------------------------------------------------------------------------------


def render(graph: Graph, fmt: str, inline_limit: int) -> str:
    """The graph as IR text, JSON or DOT."""
    if fmt == "json":
        return dumps(graph_to_json(graph, inline_limit))
    if fmt == "dot":
        return graph_to_dot(graph)
    return print_graph(graph, inline_limit)


def check_inspect_args(args: argparse.Namespace) -> None:
    """Reject option combinations that cannot work, before any loading."""
    if args.save_weights and args.output is None:
        raise OptionError("--save-weights needs -o FILE (the weights go beside it, as FILE.npz)")
    if args.save_weights and weights_path_for(args.output) == Path(args.output):
        raise OptionError(f"-o {args.output}: with --save-weights the dump cannot be a .npz file")
    if args.dump_after and args.format != "text":
        raise OptionError("--dump-after prints IR text; it cannot be combined with --format "
                          f"{args.format}")


def sizes_of(args: argparse.Namespace) -> dict[str, int]:
    """``--size NAME=N`` (repeatable) as a mapping."""
    out: dict[str, int] = {}
    for item in getattr(args, "size", None) or ():
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip().isdigit() or int(value) < 1:
            raise OptionError(f"--size {item}: expected NAME=N with N a positive integer")
        out[name.strip()] = int(value)
    return out


def lowered_pipeline(args: argparse.Namespace) -> str | None:
    """``--pipeline``, or for ``--stage lowered`` the lowered stage's passes with the lowering
    options given (``--strategy``, ``--method``, ...): the graph ``compile`` builds from."""
    if args.pipeline is not None or args.stage != "lowered":
        return args.pipeline
    from qlower.passes import CANONICAL
    from qlower.passes.base import PipelineError, pipeline_text
    from qlower.passes.dce import DeadCodeElimination
    from qlower.passes.options import options_from_args, split_keywords
    from qlower.program import lowering_passes

    options = options_from_args(args, lowering_passes())
    try:
        passes = [cls(**kw) for cls, kw in split_keywords(lowering_passes(), options).items()]
    except PipelineError as e:
        raise OptionError(str(e)) from None
    return CANONICAL + "," + pipeline_text([*passes, DeadCodeElimination()])


def collect_weights(graphs: list[Graph], inline_limit: int) -> dict[str, np.ndarray]:
    """The arrays the dumps of ``graphs`` print by reference; every one must have its data."""
    arrays: dict[str, np.ndarray] = {}
    for g in graphs:
        for c in g.constants:
            if isinstance(c.data, ConstRef):
                raise QlowerError(f"--save-weights: constant %{c.name} has no data (the model "
                                  "was read without its weights; pass --weights W.npz)")
        for name, arr in referenced_weights(g, inline_limit).items():
            if name in arrays and not np.array_equal(arrays[name], arr):
                raise QlowerError(f"--save-weights: constant %{name} changes between dumps")
            arrays[name] = arr
    return arrays


def write_output(path: str | Path, data: str | bytes) -> None:
    """Write a file atomically; a failure is the user's (missing folder, no permission)."""
    try:
        write_atomic(path, data)
    except OSError as e:
        raise QlowerError(f"{path}: cannot write ({e.strerror or e})") from None


def cmd_inspect(args: argparse.Namespace) -> int:
    """``qlower inspect``: print (or write) the IR at a stage, or dumps after passes."""
    check_inspect_args(args)
    graph = api.load(args.model, args.weights, sizes_of(args))
    dumps_text: list[str] = []
    dumped: list[Graph] = []

    def on_dump(p, g: Graph) -> None:
        text = f"// ----- after {p.name} -----\n" + print_graph(g, args.inline_limit)
        dumped.append(g)
        if args.output is None:
            sys.stdout.write(text)
            sys.stdout.flush()  # a later pass may fail: what was dumped is already out
        dumps_text.append(text)

    final = api.to_stage(graph, args.stage, lowered_pipeline(args), dump_after=args.dump_after,
                         on_dump=on_dump)
    if args.dump_after and not dumped:
        raise OptionError("--dump-after: the pipeline is empty, there is nothing to dump")
    text = "".join(dumps_text) if args.dump_after else render(final, args.format, args.inline_limit)
    if args.output is None:
        if not args.dump_after:
            sys.stdout.write(text)
        return 0
    if not args.save_weights:
        write_output(args.output, text)
        return 0
    # Both files are written beside their places first, then renamed (the weights first): a
    # missing array or a file that cannot be written leaves the old pair as it was.
    arrays = collect_weights(dumped if args.dump_after else [final], args.inline_limit)
    wpath = weights_path_for(args.output)
    try:
        with replacing(wpath, args.output) as (wtmp, tmp):
            write_npz(wtmp, arrays)
            tmp.write_text(text, encoding="utf-8", newline="\n")
    except OSError as e:
        raise QlowerError(f"{e.filename or args.output}: cannot write ({e.strerror or e})") from None
    return 0


# -- run -------------------------------------------------------------------------------------


def format_outputs(outputs: dict[str, np.ndarray]) -> str:
    """Each output: a header line (name, shape, dtype), then every element at full precision."""
    parts = []
    for name, arr in outputs.items():
        shape = "[" + ", ".join(str(d) for d in arr.shape) + "]"
        body = np.array2string(arr, threshold=arr.size + 1, floatmode="unique", max_line_width=100)
        parts.append(f"output {name}: shape {shape}, dtype {arr.dtype}\n{body}\n")
    return "".join(parts)


def format_report(report: api.CheckReport) -> str:
    """One line per output: errors and verdict, or the shape/dtype that disagrees."""
    if report.sigmas is not None:
        lines = [f"check against onnxruntime (shots: within {report.sigmas!r} standard errors, "
                 f"rtol {report.rtol!r}):"]
    else:
        lines = [f"check against onnxruntime (rtol {report.rtol!r}, atol {report.atol!r}):"]
    for c in report.outputs.values():
        if not c.shape_ok or not c.dtype_ok:
            what = (f"shape {list(c.shape)} vs onnxruntime {list(c.expected_shape)}"
                    if not c.shape_ok else f"dtype {c.dtype} vs onnxruntime {c.expected_dtype}")
            lines.append(f"  {c.name}: {what}: MISMATCH")
            continue
        verdict = "ok" if c.ok else "MISMATCH"
        z = f", max error / std error {c.max_z:.3g}" if c.max_z is not None else ""
        lines.append(f"  {c.name}: max abs error {c.max_abs_error!r}, "
                     f"max rel error {c.max_rel_error!r}{z}: {verdict}")
    return "\n".join(lines) + "\n"


def _seconds(x) -> float | None:
    return None if x is None else round(float(x), 6)


def timing_json(outputs) -> dict:
    """``run --json``'s ``timing``: per kernel the wall seconds its run took and the seconds
    the runner predicted for it beforehand (null where the runner predicts nothing), their
    ratio, and the totals. Wall times differ from run to run; nothing else in the document
    depends on them."""
    rows = []
    for k in getattr(outputs, "kernels", ()):
        ratio = (k.seconds / k.predicted_seconds
                 if k.seconds is not None and k.predicted_seconds else None)
        rows.append({"name": k.name, "predicted_s": _seconds(k.predicted_seconds),
                     "measured_s": _seconds(k.seconds),
                     "measured_over_predicted": None if ratio is None else round(ratio, 4)})
    t = getattr(outputs, "timing", {}) or {}
    total_p, total_m = t.get("predicted_seconds"), t.get("measured_seconds")
    return {
        "runner": t.get("runner"),
        "kernels": rows,
        "predicted_s": _seconds(total_p),
        "measured_s": _seconds(total_m),
        "measured_over_predicted": (round(total_m / total_p, 4)
                                    if total_p and total_m is not None else None),
        "calibration_s": _seconds(t.get("calibration_seconds")),
    }


def run_json(args, outputs: dict[str, np.ndarray], report: api.CheckReport | None) -> str:
    """The ``run --json`` document (strict JSON: non-finite numbers are strings)."""
    doc = {
        "outputs": {name: array_to_json(arr) for name, arr in outputs.items()},
        "backend": args.backend,
        "stage": None if args.pipeline is not None else args.stage,
    }
    if args.pipeline is not None:
        doc["pipeline"] = args.pipeline
    std = getattr(outputs, "std_errors", None)
    if args.backend in SIMULATORS:
        doc["stage"] = "lowered"
        doc["shots"] = args.shots
        doc["seed"] = args.seed
        doc["std_errors"] = {n: array_to_json(a) for n, a in (std or {}).items()}
        doc["kernels"] = [
            {"name": k.name, "sweeps": k.sweeps, "qubits": k.qubits,
             "success_probability": json_number(k.success_probability, np.dtype(np.float64))}
            for k in outputs.kernels
        ]
        doc["timing"] = timing_json(outputs)
    if report is not None:
        f64 = np.dtype(np.float64)
        doc["check"] = {
            c.name: {"max_abs_error": json_number(c.max_abs_error, f64),
                     "max_rel_error": json_number(c.max_rel_error, f64), "ok": c.ok,
                     **({} if c.max_z is None else
                        {"max_error_over_std_error": json_number(c.max_z, f64)})}
            for c in report.outputs.values()
        }
    return dumps(doc)


def cmd_run(args: argparse.Namespace) -> int:
    """``qlower run``: outputs on the given inputs, optionally checked against onnxruntime."""
    graph = api.load(args.model, args.weights, sizes_of(args))
    if args.check and is_ir_file(args.model):
        raise OptionError(f"--check needs an ONNX model ({args.model} is IR text; onnxruntime "
                          "runs only ONNX files)")
    inputs = api.load_inputs(args.inputs)
    if args.shots is not None and args.backend not in SIMULATORS:
        raise OptionError("--shots needs --backend qsim or aer (the reference backend is exact)")
    if args.backend in SIMULATORS:
        if args.pipeline is not None or args.stage != "canonical":
            raise OptionError(f"--backend {args.backend} compiles the model itself; --stage and "
                              "--pipeline apply to the reference backend")
        if args.backend == "aer":
            from qlower.backends.aer import require_aer

            require_aer()  # before compiling: a missing extra is said at once
        target = "qasm3" if args.backend == "aer" else "cirq"
        program = api.compile(graph, target, **compile_options(args))
        warn_host_choices(program.decisions)
        outputs = program.run(inputs, args.shots, backend=args.backend, seed=args.seed,
                              max_qubits=args.max_qubits or 26, max_work=args.max_work,
                              timing=args.json)
        for w in outputs.warnings:
            print(f"warning: {w}", file=sys.stderr)
    else:
        graph = api.to_stage(graph, args.stage, args.pipeline)
        outputs = api.run(graph, inputs, args.backend)
    report = None
    if args.rtol is None:
        args.rtol = 1e-4 if args.backend == "qsim" else 1e-5  # qsim: single precision
    if args.check:
        report = api.check_with_onnxruntime(args.model, inputs, outputs, rtol=args.rtol,
                                            std_errors=getattr(outputs, "std_errors", None) or None)
    if args.json:
        sys.stdout.write(run_json(args, outputs, report))
    else:
        text = format_outputs(outputs)
        std = getattr(outputs, "std_errors", None)
        if std:
            text += "".join(f"std error of {n}: max {float(np.max(a)) if a.size else 0.0!r}, "
                            f"mean {float(np.mean(a)) if a.size else 0.0!r}\n" for n, a in std.items())
        sys.stdout.write(text + (format_report(report) if report else ""))
    if report is not None and not report.ok:
        bad = sum(not c.ok for c in report.outputs.values())
        limit = (f"{report.sigmas!r} standard errors" if report.sigmas is not None
                 else f"rtol {args.rtol!r}")
        print(f"check failed: {bad} of {len(report.outputs)} outputs differ from onnxruntime "
              f"beyond {limit}", file=sys.stderr)
        return 1
    return 0


# -- compile and estimate ----------------------------------------------------------------------


def compile_options(args: argparse.Namespace) -> dict:
    """The flags of the lowering passes' options as keywords of ``qlower.compile``."""
    from qlower.passes.options import options_from_args
    from qlower.program import lowering_passes

    opts = options_from_args(args, lowering_passes())
    if sys.stderr.isatty():
        opts["progress"] = progress_bar
    return opts


def warn_host_choices(decisions) -> None:
    """A warning per layer the cost model left on the host because nothing fit its budgets."""
    for d in decisions:
        if d.chosen == "host" and not d.overridden:
            print(f"warning: {d.op} '{d.node}' stays on the host: {d.reason}", file=sys.stderr)


def budgets_of(options: dict):
    """The cost model's budgets that ``options`` (``compile_options``) state."""
    from qlower.passes.select_strategy import SelectStrategy

    keys = ("max_qubits", "max_depth", "target_error", "shots", "profile")
    return SelectStrategy(**{k: options[k] for k in keys if k in options}).budgets()


def progress_bar(done: int, total: int, name: str) -> None:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\rbuilding kernels [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done}/{total} {name:<12}{end}")
    sys.stderr.flush()


def format_table(rows: list[dict], host: list[dict]) -> str:
    head = ["kernel", "nodes", "method", "qubits", "CNOTs", "rotations", "depth", "alpha", "p_succ"]
    body = []
    for r in rows:
        body.append([r["kernel"], ",".join(r["nodes"]) or "-", r["method"], str(r["qubits"]),
                     str(r["cnots"]), str(r["rotations"]), str(r["depth"]),
                     "-" if r["alpha"] is None else f"{r['alpha']:.6g}",
                     f"{r['success_probability']:.3g}"])
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip() for b in body]
    if not body:
        lines.append("(no quantum kernels: no layer was lowered)")
    names = [f"{h['op']} '{h['node']}'" for h in host]
    lines.append("on the host: " + (", ".join(names) if names else "nothing"))
    return "\n".join(lines) + "\n"


def cmd_compile(args: argparse.Namespace) -> int:
    """``qlower compile``: write the kernels (QASM 3 or Cirq JSON) and a manifest."""
    if args.no_measure and args.target != "qasm3":
        raise OptionError(f"--no-measure applies to --target qasm3 (--target {args.target} "
                          "kernels carry no measurements)")
    graph = api.load(args.model, args.weights, sizes_of(args))
    program = api.compile(graph, args.target, **compile_options(args))
    warn_host_choices(program.decisions)
    try:
        program.write(args.output, measure=not args.no_measure)
    except OSError as e:
        raise QlowerError(f"{args.output}: cannot write ({e.strerror or e})") from None
    est = program.estimate()
    sys.stdout.write(format_table([k.as_dict() for k in est.kernels], list(est.host)))
    sys.stdout.write(f"wrote {len(program.kernels)} kernel(s), program.qir, program.npz and "
                     f"manifest.json to {args.output}\n")
    return 0


def cmd_bind(args: argparse.Namespace) -> int:
    """``qlower bind``: every kernel's parameter values per row, from a compiled folder."""
    folder = api.load_compiled(args.directory)
    inputs = api.load_inputs(args.inputs)
    bindings = folder.bind(inputs)
    try:
        bindings.save(args.output)
    except OSError as e:
        raise QlowerError(f"{args.output}: cannot write ({e.strerror or e})") from None
    for b in folder.kernels:
        rows, params = bindings[b.name].shape
        sys.stdout.write(f"{b.name}: {rows} row(s) x {params} parameter(s), bound from "
                         f"%{b.parameters}\n")
    sys.stdout.write(f"wrote the parameters of {len(bindings)} kernel(s) to {args.output}\n")
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    """``qlower estimate``: resources per ONNX node and in total, without simulating."""
    graph = api.load(args.model, args.weights, sizes_of(args))
    options = compile_options(args)
    if args.explain and not options.get("profile"):
        options["profile"] = "nisq"  # --explain chooses by the cost model, as a profile does
    est = api.estimate(graph, **options)  # no circuit is built
    rows = [k.as_dict() for k in est.kernels]
    total = est.total_dict()
    host = list(est.host)
    eps_total = args.synthesis_error
    if not (0 < eps_total < 1):
        raise OptionError(f"--synthesis-error must be in (0, 1), got {eps_total!r}")
    synth = None
    if args.synthesis == "gridsynth":
        synth = synthesized(graph, args, est, eps_total)
        for r, s in zip(rows, synth):
            r["t_synthesized"] = s.total
            r["t_formula"] = s.formula()
            r["synthesized_rotations"] = s.constant
            r["symbolic_rotations"] = s.symbolic
        total["t_synthesized"] = sum(s.total for s in synth)
        total["synthesis_eps_per_rotation"] = synth[0].eps if synth else None
    decisions = list(est.decisions)
    if args.json:
        f64 = np.dtype(np.float64)
        for r in rows:
            r["success_probability"] = json_number(r["success_probability"], f64)
        doc = {"kernels": rows, "total": total, "host": host}
        if args.explain:
            doc["choices"] = [d.as_dict() for d in decisions]
        sys.stdout.write(dumps(doc))
        return 0
    if args.explain:
        from qlower.cost_model import format_explain

        sys.stdout.write(format_explain(decisions, budgets_of(options)) + "\n")
    sys.stdout.write(format_table(rows, host))
    sys.stdout.write(f"total: {total['kernels']} kernel(s), at most {total['max_qubits']} qubits, "
                     f"{total['cnots']} CNOTs, {total['rotations']} rotations, depth "
                     f"{total['depth']}, about {total['t_estimate']} T gates at 1e-3 total "
                     "synthesis error\n")
    if synth is not None:
        from qlower.synthesis import formula_t

        eps = total["synthesis_eps_per_rotation"]
        sys.stdout.write(f"T by gridsynth at {eps:.3g} per rotation ({eps_total:g} in all):\n")
        for r in rows:
            sys.stdout.write(f"  {r['kernel']}: {r['t_synthesized']} T ({r['synthesized_rotations']}"
                             f" rotations synthesised, {r['symbolic_rotations']} data-dependent "
                             f"ones at the formula's {formula_t(eps)}; the formula: "
                             f"{r['t_formula']})\n")
        sys.stdout.write(f"  total: {total['t_synthesized']} T\n")
    return 0


def synthesized(graph, args, est, eps_total: float) -> list:
    """Per kernel, its T count with every constant rotation synthesised by gridsynth at the
    per-rotation error the total allots (``qlower.synthesis``); builds the circuits."""
    from qlower.synthesis import synthesize_circuit

    program = api.compile(graph, "cirq", **compile_options(args))
    rotations = sum(k.resources.rotations for k in est.kernels)
    eps = eps_total / max(rotations, 1)
    return [synthesize_circuit(kc.circuit, eps) for kc in program.kernels]


def add_compile_options(p: argparse.ArgumentParser) -> None:
    """One flag per option of the lowering passes (declared on them: ``passes/options.py``)."""
    from qlower.passes.options import add_flags
    from qlower.program import lowering_passes

    add_flags(p, lowering_passes())


# -- passes ----------------------------------------------------------------------------------


def cmd_passes(args: argparse.Namespace) -> int:
    """``qlower passes``: every registered pass, and the pipeline of every stage."""
    rows = describe_passes()
    width = max((len(spec) for spec, _ in rows), default=0)
    lines = ["passes:"] + [f"  {spec.ljust(width)}  {summary}".rstrip() for spec, summary in rows]
    swidth = max(len(s) for s in STAGES)
    lines.append("stages:")
    lines += [f"  {s.ljust(swidth)}  {p or '(no passes)'}" for s, p in STAGES.items()]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


# -- ops -------------------------------------------------------------------------------------


def describe_op(opdef) -> tuple[str, str]:
    """``name(operands) -> results {attributes}`` in the IR's spelling, and the op's summary.

    ``x?`` is an optional operand or result, ``x*`` a variadic one; an attribute reads
    ``name: kind`` (required), ``name: kind = default`` or ``name: kind?`` (may be left out).
    """
    from qlower.ir.opdef import ABSENT, REQUIRED
    from qlower.ir.printer import attr_str

    attrs = []
    for key, a in opdef.attrs.items():
        kind = a.kind if a.choices is None else f"{a.kind} in ({', '.join(map(attr_str, a.choices))})"
        if a.default is REQUIRED:
            attrs.append(f"{key}: {kind}")
        elif a.default is ABSENT:
            attrs.append(f"{key}: {kind}?")
        else:
            attrs.append(f"{key}: {kind} = {attr_str(a.default)}")
    spec = f"{opdef.name}({', '.join(opdef.operands)}) -> {', '.join(opdef.results) or '()'}"
    if attrs:
        spec += " {" + ", ".join(attrs) + "}"
    doc = (type(opdef).__doc__ or "").strip()
    return spec, doc.splitlines()[0] if doc else ""


def cmd_ops(args: argparse.Namespace) -> int:
    """``qlower ops``: every registered op (or those whose name starts with PREFIX)."""
    from qlower.ir.opdef import registered_ops

    ops = [d for name, d in registered_ops().items() if name.startswith(args.prefix or "")]
    if not ops:
        raise QlowerError(f"no op name starts with '{args.prefix}' (dialects: "
                          f"{', '.join(sorted({n.split('.')[0] for n in registered_ops()}))})")
    lines = []
    for d in ops:
        spec, summary = describe_op(d)
        lines += [spec, f"    {summary}"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


# -- arguments and errors --------------------------------------------------------------------


def nonneg(kind):
    """An argparse type: ``kind`` (int or float) that must be >= 0."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


def int_at_least(minimum: int):
    """An argparse type: an int >= ``minimum``."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    convert.__name__ = "int"
    return convert


positive_int = int_at_least(1)
nonneg_int = int_at_least(0)


def add_stage_options(p: argparse.ArgumentParser) -> None:
    """MODEL and the options that choose the passes, shared by inspect and run."""
    p.add_argument("model", metavar="MODEL", help="an .onnx model or an IR text dump")
    p.add_argument("--stage", choices=list(STAGES), default="canonical",
                   help="run the passes that reach this stage (default: canonical)")
    p.add_argument("--pipeline", metavar="P", help="run these passes instead of --stage's, "
                   "e.g. 'fold-constants,dce'")
    p.add_argument("--weights", metavar="W.npz",
                   help="weights of an IR text dump (default: the .npz beside it)")
    p.add_argument("--size", action="append", default=[], metavar="NAME=N",
                   help="fix a named input dimension of an ONNX model (e.g. seq=8): kernels "
                   "need their register sizes when they are built; repeatable")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; ``--debug`` is accepted before or after the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")
    parser = argparse.ArgumentParser(prog="qlower", description="Compile ONNX models to quantum "
                                     "circuits: inspect the IR, run it, check it.")
    parser.add_argument("--version", action="version", version=f"qlower {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", parents=[common], help="print the IR of a model at a stage")
    add_stage_options(p)
    p.add_argument("--dump-after", action="append", default=[], metavar="PASS",
                   help="print the IR after this pass (repeatable; 'all': after every pass)")
    p.add_argument("--format", choices=["text", "json", "dot"], default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically)")
    p.add_argument("--save-weights", action="store_true",
                   help="write the arrays printed by reference to FILE.npz beside -o FILE")
    p.add_argument("--inline-limit", type=nonneg(int), default=DEFAULT_INLINE_LIMIT, metavar="N",
                   help=f"print constants of up to N elements inline (default {DEFAULT_INLINE_LIMIT})")
    add_compile_options(p)  # what --stage lowered lowers with
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("run", parents=[common], help="run a model on inputs from an .npz file")
    add_stage_options(p)
    p.add_argument("--inputs", required=True, metavar="FILE.npz", help="one array per input")
    p.add_argument("--backend", choices=sorted([*BACKENDS, *SIMULATORS]), default="reference",
                   help="reference: numpy at --stage; qsim: compile to kernels and simulate them; "
                   "aer: compile to OpenQASM 3 and run the programs on Qiskit Aer (pip install "
                   "'qlower[aer]')")
    p.add_argument("--shots", type=positive_int, metavar="N",
                   help="sample each kernel N times per input (qsim, aer); default: exact read-out")
    p.add_argument("--seed", type=nonneg(int), default=0, help="seed of the shot sampler")
    p.add_argument("--max-qubits", type=positive_int, default=None, metavar="Q",
                   help="refuse to simulate kernels of more qubits (default 26); given, it is "
                   "also the cost model's qubit budget: each layer gets the cheapest lowering "
                   "of at most Q qubits")
    p.add_argument("--max-work", type=nonneg(float), default=2e11, metavar="W",
                   help="refuse to simulate more amplitude updates (default 2e11)")
    add_compile_options(p)
    p.add_argument("--json", action="store_true", help="print the outputs as JSON ('stage' is "
                   "null with --pipeline, which is given as 'pipeline')")
    p.add_argument("--check", action="store_true",
                   help="compare with onnxruntime; exit 1 beyond tolerance")
    p.add_argument("--rtol", type=nonneg(float), default=None, metavar="R",
                   help="relative tolerance of --check, against max |reference| (default 1e-5; "
                   "1e-4 with --backend qsim, which simulates in single precision; with --shots "
                   "outputs must also lie within 4 standard errors)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compile", parents=[common], help="compile a model to quantum kernels")
    p.add_argument("model", metavar="MODEL", help="an .onnx model or an IR text dump")
    p.add_argument("--weights", metavar="W.npz", help="weights of an IR text dump")
    p.add_argument("--size", action="append", default=[], metavar="NAME=N",
                   help="fix a named input dimension of an ONNX model (e.g. seq=8): kernels "
                   "need their register sizes when they are built; repeatable")
    p.add_argument("--target", choices=["qasm3", "cirq"], default="qasm3")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="folder for the kernels and manifest.json")
    add_compile_options(p)
    p.add_argument("--no-measure", action="store_true",
                   help="leave the final measurements out of the OpenQASM 3 programs")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("bind", parents=[common],
                       help="every kernel's parameter values per row, for a compiled folder")
    p.add_argument("directory", metavar="DIR", help="a folder that qlower compile wrote")
    p.add_argument("--inputs", required=True, metavar="FILE.npz", help="one array per input")
    p.add_argument("-o", "--output", default="params.npz", metavar="FILE",
                   help="the .npz to write (atomically; default params.npz): per kernel K, "
                   "K [rows, parameters] and K.names")
    p.set_defaults(func=cmd_bind)

    p = sub.add_parser("estimate", parents=[common],
                       help="resources per ONNX node and in total, without simulating")
    p.add_argument("model", metavar="MODEL", help="an .onnx model or an IR text dump")
    p.add_argument("--weights", metavar="W.npz", help="weights of an IR text dump")
    p.add_argument("--size", action="append", default=[], metavar="NAME=N",
                   help="fix a named input dimension of an ONNX model (e.g. seq=8): kernels "
                   "need their register sizes when they are built; repeatable")
    p.add_argument("--json", action="store_true")
    p.add_argument("--explain", action="store_true",
                   help="choose each layer's lowering by the cost model (profile nisq unless "
                   "--profile says) and print, per layer, every candidate's figures and why the "
                   "winner won (JSON: 'choices')")
    p.add_argument("--synthesis", choices=("formula", "gridsynth"), default="formula",
                   help="T counts: formula, 3·log2(1/eps) per rotation (default, builds nothing), "
                   "or gridsynth: every constant rotation of the built circuits synthesised to "
                   "Clifford+T and its T gates counted")
    p.add_argument("--synthesis-error", type=float, default=1e-3, metavar="E",
                   help="total synthesis error of the program, shared by its rotations "
                   "(default 1e-3)")
    add_compile_options(p)
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("passes", parents=[common], help="list passes and stage pipelines")
    p.set_defaults(func=cmd_passes)

    p = sub.add_parser("ops", parents=[common],
                       help="list every op: operands, results, attributes and a summary")
    p.add_argument("prefix", nargs="?", metavar="PREFIX",
                   help="only the ops whose name starts with PREFIX (a dialect: nn, q, host, onnx)")
    p.set_defaults(func=cmd_ops)

    from qlower.cli_qaoa import add_parser as add_qaoa_parser  # imports no onnx or Cirq

    add_qaoa_parser(sub, common)
    return parser


def report_error(e: BaseException, debug: bool) -> int:
    """Print ``error: ...`` on one line (and the traceback with --debug); returns the status."""
    if debug:
        traceback.print_exception(e)
    if isinstance(e, PassFailure):
        message, status = f"internal: {e}", 3
    elif isinstance(e, USER_ERRORS):
        message, status = " ".join(str(e).split()), 2
    else:
        hint = "" if debug else " (rerun with --debug for a traceback)"
        message, status = f"internal error: {type(e).__name__}: {one_line(e)}{hint}", 3
    print(f"error: {message}", file=sys.stderr)
    return status


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every clean-up (temporary files) runs."""


def _terminate(signum, frame) -> None:
    raise Terminated


def _quiet_exit(signum, frame) -> None:
    """A signal once the command is done (the interpreter is shutting down): say so and stop,
    without the traceback Python would print from wherever shutdown was."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    os.write(2, b"error: interrupted\n" if signum == signal.SIGINT else b"error: terminated\n")
    os._exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (``argv`` None: the program's own)."""
    args = build_parser().parse_args(argv)
    model = getattr(args, "model", None) or getattr(args, "directory", None)
    output = getattr(args, "output", None)
    pair = weights_path_for(output) if getattr(args, "save_weights", False) and output else None
    named = about(model, getattr(args, "weights", None), output, pair,
                  inputs=getattr(args, "inputs", None)) if model else contextlib.nullcontext()
    # The program itself (not a caller of main(argv) in its own process) turns SIGTERM into an
    # interrupt, so that clean-ups run before it ends.
    program = argv is None and threading.current_thread() is threading.main_thread()
    if program:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        with named:
            return args.func(args)
    except KeyboardInterrupt as e:
        terminated = isinstance(e, Terminated)
        print(f"error: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        # The reader went away (``qlower inspect m.onnx | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as e:  # noqa: BLE001 - every failure becomes one line and a status
        return report_error(e, args.debug)
    finally:
        if program:  # what is left is the interpreter's shutdown
            signal.signal(signal.SIGINT, _quiet_exit)
            signal.signal(signal.SIGTERM, _quiet_exit)
