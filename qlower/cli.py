"""The ``qlower`` command line: ``inspect``, ``run`` and ``passes``.

Exit status: 0 success; 1 ``run --check`` found outputs beyond tolerance; 2 a problem with the
input or the options (``error: <message>`` on one line); 3 an internal error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

import numpy as np

from qlower import __version__, api
from qlower.backends import BACKENDS
from qlower.errors import QlowerError, one_line
from qlower.frontend.loader import is_ir_file, weights_path_for
from qlower.ir import ConstRef, Graph, ParseError, print_graph, referenced_weights
from qlower.ir.dot import graph_to_dot
from qlower.ir.json_format import array_to_json, dumps, graph_to_json, json_number
from qlower.ir.printer import DEFAULT_INLINE_LIMIT
from qlower.ir.weights import WeightsError, npz_bytes, write_atomic
from qlower.passes import STAGES, PassFailure, PipelineError, describe_passes

USER_ERRORS = (QlowerError, PipelineError, ParseError, WeightsError)


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
        raise QlowerError("--save-weights needs -o FILE (the weights go beside it, as FILE.npz)")
    if args.save_weights and weights_path_for(args.output) == Path(args.output):
        raise QlowerError(f"-o {args.output}: with --save-weights the dump cannot be a .npz file")
    if args.dump_after and args.format != "text":
        raise QlowerError("--dump-after prints IR text; it cannot be combined with --format "
                          f"{args.format}")


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
    graph = api.load(args.model, args.weights)
    dumps_text: list[str] = []
    dumped: list[Graph] = []

    def on_dump(p, g: Graph) -> None:
        text = f"// ----- after {p.name} -----\n" + print_graph(g, args.inline_limit)
        dumped.append(g)
        if args.output is None:
            sys.stdout.write(text)
            sys.stdout.flush()  # a later pass may fail: what was dumped is already out
        dumps_text.append(text)

    final = api.to_stage(graph, args.stage, args.pipeline, dump_after=args.dump_after,
                         on_dump=on_dump)
    if args.dump_after and not dumped:
        raise QlowerError("--dump-after: the pipeline is empty, there is nothing to dump")
    text = "".join(dumps_text) if args.dump_after else render(final, args.format, args.inline_limit)
    if args.output is None:
        if not args.dump_after:
            sys.stdout.write(text)
        return 0
    weights = None
    if args.save_weights:  # collected first: a missing array must not leave a half-written pair
        weights = npz_bytes(collect_weights(dumped if args.dump_after else [final],
                                            args.inline_limit))
    write_output(args.output, text)
    if weights is not None:
        write_output(weights_path_for(args.output), weights)
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
    lines = [f"check against onnxruntime (rtol {report.rtol!r}, atol {report.atol!r}):"]
    for c in report.outputs.values():
        if not c.shape_ok or not c.dtype_ok:
            what = (f"shape {list(c.shape)} vs onnxruntime {list(c.expected_shape)}"
                    if not c.shape_ok else f"dtype {c.dtype} vs onnxruntime {c.expected_dtype}")
            lines.append(f"  {c.name}: {what}: MISMATCH")
            continue
        verdict = "ok" if c.ok else "MISMATCH"
        lines.append(f"  {c.name}: max abs error {c.max_abs_error!r}, "
                     f"max rel error {c.max_rel_error!r}: {verdict}")
    return "\n".join(lines) + "\n"


def run_json(args, outputs: dict[str, np.ndarray], report: api.CheckReport | None) -> str:
    """The ``run --json`` document (strict JSON: non-finite numbers are strings)."""
    doc = {
        "outputs": {name: array_to_json(arr) for name, arr in outputs.items()},
        "backend": args.backend,
        "stage": None if args.pipeline is not None else args.stage,
    }
    if args.pipeline is not None:
        doc["pipeline"] = args.pipeline
    if report is not None:
        f64 = np.dtype(np.float64)
        doc["check"] = {
            c.name: {"max_abs_error": json_number(c.max_abs_error, f64),
                     "max_rel_error": json_number(c.max_rel_error, f64), "ok": c.ok}
            for c in report.outputs.values()
        }
    return dumps(doc)


def cmd_run(args: argparse.Namespace) -> int:
    """``qlower run``: outputs on the given inputs, optionally checked against onnxruntime."""
    graph = api.load(args.model, args.weights)
    if args.check and is_ir_file(args.model):
        raise QlowerError(f"--check needs an ONNX model ({args.model} is IR text; onnxruntime "
                          "runs only ONNX files)")
    inputs = api.load_inputs(args.inputs)
    graph = api.to_stage(graph, args.stage, args.pipeline)
    outputs = api.run(graph, inputs, args.backend)
    report = None
    if args.check:
        report = api.check_with_onnxruntime(args.model, inputs, outputs, rtol=args.rtol)
    if args.json:
        sys.stdout.write(run_json(args, outputs, report))
    else:
        sys.stdout.write(format_outputs(outputs) + (format_report(report) if report else ""))
    if report is not None and not report.ok:
        bad = sum(not c.ok for c in report.outputs.values())
        print(f"check failed: {bad} of {len(report.outputs)} outputs differ from onnxruntime "
              f"beyond rtol {args.rtol!r}", file=sys.stderr)
        return 1
    return 0


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


def add_stage_options(p: argparse.ArgumentParser) -> None:
    """MODEL and the options that choose the passes, shared by inspect and run."""
    p.add_argument("model", metavar="MODEL", help="an .onnx model or an IR text dump")
    p.add_argument("--stage", choices=list(STAGES), default="canonical",
                   help="run the passes that reach this stage (default: canonical)")
    p.add_argument("--pipeline", metavar="P", help="run these passes instead of --stage's, "
                   "e.g. 'fold-constants,dce'")
    p.add_argument("--weights", metavar="W.npz",
                   help="weights of an IR text dump (default: the .npz beside it)")


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
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("run", parents=[common], help="run a model on inputs from an .npz file")
    add_stage_options(p)
    p.add_argument("--inputs", required=True, metavar="FILE.npz", help="one array per input")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="reference")
    p.add_argument("--json", action="store_true", help="print the outputs as JSON ('stage' is "
                   "null with --pipeline, which is given as 'pipeline')")
    p.add_argument("--check", action="store_true",
                   help="compare with onnxruntime; exit 1 beyond tolerance")
    p.add_argument("--rtol", type=nonneg(float), default=1e-5, metavar="R",
                   help="relative tolerance of --check, against max |reference| (default 1e-5)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("passes", parents=[common], help="list passes and stage pipelines")
    p.set_defaults(func=cmd_passes)
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


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``qlower inspect m.onnx | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as e:  # noqa: BLE001 - every failure becomes one line and a status
        return report_error(e, args.debug)
