"""The Python API: load a model, bring it to a stage, run it, and check it against onnxruntime.

Example::

    import qlower
    g = qlower.to_stage(qlower.load("mlp.onnx"), "canonical")
    outputs = qlower.run(g, {"x": x})
    report = qlower.check_with_onnxruntime("mlp.onnx", {"x": x}, outputs)
    assert report.ok
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qlower.backends import BACKENDS
from qlower.errors import QlowerError, about, one_line
from qlower.frontend.loader import load_model, read_bytes
from qlower.ir import Graph
from qlower.ir.weights import WeightsError, load_weights
from qlower.passes import STAGES, Pass, PassManager, parse_pipeline


def load(path: str | Path, weights: str | Path | None = None,
         sizes: Mapping[str, int] | None = None) -> Graph:
    """Returns the verified graph of an ``.onnx`` model or an IR text dump (and its weights);
    ``sizes`` fixes named input dimensions of an ONNX model (``{"seq": 8}``)."""
    return load_model(path, weights, sizes)


def stage_pipeline(stage: str) -> str:
    """Returns the pipeline text that takes an imported graph to ``stage``."""
    if stage not in STAGES:
        raise QlowerError(f"unknown stage '{stage}' (stages: {', '.join(STAGES)})")
    return STAGES[stage]


def to_stage(
    graph: Graph,
    stage: str = "canonical",
    pipeline: str | None = None,
    verify_each: bool = True,
    dump_after: Iterable[str] = (),
    on_dump: Callable[[Pass, Graph], None] | None = None,
) -> Graph:
    """Returns ``graph`` after the passes of ``stage`` (or of ``pipeline``, which overrides it).

    ``on_dump(pass, graph)`` is called after each pass named in ``dump_after`` (``"all"``: every
    pass). Raises PipelineError for a bad pipeline, PassFailure when a pass breaks the graph.
    """
    text = pipeline if pipeline is not None else stage_pipeline(stage)
    manager = PassManager(parse_pipeline(text), verify_each, frozenset(dump_after), on_dump)
    return manager.run(graph)


def run(graph: Graph, inputs: Mapping[str, np.ndarray], backend: str = "reference") -> dict:
    """Returns the outputs (name → array, in the graph's output order) of ``graph`` on ``inputs``."""
    cls = BACKENDS.get(backend)
    if cls is None:
        raise QlowerError(f"unknown backend '{backend}' (backends: {', '.join(BACKENDS)})")
    return cls().run(graph, inputs)


def load_inputs(path: str | Path) -> dict[str, np.ndarray]:
    """Returns the arrays of an ``.npz`` inputs file (plain arrays only; no pickles)."""
    try:
        return load_weights(path, "inputs file")
    except WeightsError as e:
        raise QlowerError(str(e)) from None


# -- checking against onnxruntime ------------------------------------------------------------


@dataclass(frozen=True)
class OutputCheck:
    """How one output compares with onnxruntime's (``expected``)."""

    name: str
    max_abs_error: float
    max_rel_error: float
    shape_ok: bool
    dtype_ok: bool
    ok: bool
    shape: tuple[int, ...]
    expected_shape: tuple[int, ...]
    dtype: str
    expected_dtype: str
    max_z: float | None = None  # shot runs: max |error| / standard error


@dataclass(frozen=True)
class CheckReport:
    """Per-output comparisons with onnxruntime; ``ok`` when every output agrees."""

    outputs: dict[str, OutputCheck]
    rtol: float
    atol: float
    sigmas: float | None = None  # shot runs: allowed standard errors

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.outputs.values())


def onnxruntime_outputs(model_path: str | Path, inputs: Mapping[str, np.ndarray]) -> dict:
    """Returns onnxruntime's outputs (name → array) for the ONNX file on ``inputs``."""
    import onnxruntime as ort

    from qlower.frontend.onnx_loader import check_external_locations, decode_onnx

    model = decode_onnx(model_path, read_bytes(model_path, "model file"))
    check_external_locations(Path(model_path), model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # reductions in one fixed order: reproducible reports
    opts.log_severity_level = 4  # its errors come back as exceptions; no second copy on stderr
    run_opts = ort.RunOptions()
    run_opts.log_severity_level = 4
    try:
        sess = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        wanted = {i.name for i in sess.get_inputs()}
        feed = {k: v for k, v in inputs.items() if k in wanted}
        return dict(zip(names, sess.run(names, feed, run_opts)))
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise QlowerError(f"{model_path}: onnxruntime failed{_ort_reason(str(e))}") from None


_ORT_NODE = re.compile(r"running (\w+) node\. Name:'([^']*)'")


def _ort_reason(message: str) -> str:
    """`` at node 'n' (Op): <reason>`` from onnxruntime's message, without its C++ context."""
    node = _ORT_NODE.search(message)
    where = f" at node '{node.group(2)}' ({node.group(1)})" if node else ""
    reason = message.split("Status Message:")[-1]
    reason = reason.split(" was false. ")[-1] if " was false. " in reason else reason
    return f"{where}: {one_line(reason, 200)}"


def compare_output(name: str, got: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> OutputCheck:
    """Returns the comparison of ``got`` with the reference ``ref``."""
    got, ref = np.asarray(got), np.asarray(ref)
    shape_ok = got.shape == ref.shape
    dtype_ok = got.dtype == ref.dtype
    abs_err, rel_err, close = _errors(got, ref, rtol, atol) if shape_ok else (np.inf, np.inf, False)
    return OutputCheck(
        name, abs_err, rel_err, shape_ok, dtype_ok, bool(shape_ok and dtype_ok and close),
        tuple(got.shape), tuple(ref.shape), str(got.dtype), str(ref.dtype),
    )


def _errors(got: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> tuple[float, float, bool]:
    """(max |got−ref|, that over max |ref|, within tolerance); integers and bools must be equal."""
    if got.size == 0:
        return 0.0, 0.0, True
    exact = ref.dtype.kind in "biu" or got.dtype.kind in "biu"
    a, b = got.astype(np.float64), ref.astype(np.float64)
    same_nonfinite = np.array_equal(~np.isfinite(a), ~np.isfinite(b)) and np.array_equal(
        a[~np.isfinite(a)], b[~np.isfinite(b)], equal_nan=True
    )
    finite = np.isfinite(a) & np.isfinite(b)
    abs_err = float(np.max(np.abs(a[finite] - b[finite]), initial=0.0)) if same_nonfinite else np.inf
    scale = float(np.max(np.abs(b[finite]), initial=0.0))
    rel_err = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else np.inf)
    close = abs_err == 0 if exact else abs_err <= atol + rtol * scale
    return abs_err, rel_err, bool(close)


def check_with_onnxruntime(
    model_path: str | Path,
    inputs: Mapping[str, np.ndarray],
    outputs: Mapping[str, np.ndarray],
    rtol: float = 1e-5,
    atol: float = 0.0,
    std_errors: Mapping[str, np.ndarray] | None = None,
    sigmas: float = 4.0,
) -> CheckReport:
    """Returns a CheckReport comparing ``outputs`` with onnxruntime's on the ONNX file.

    An output agrees when shape and dtype match and max |a−b| <= atol + rtol · max |ref|
    (integer and bool outputs: exactly equal; NaN/Inf must sit at the same places). An output
    with ``std_errors`` (a shot run) agrees when every |a−b| <= sigmas · std error + atol +
    rtol · max |ref|.
    """
    ref = onnxruntime_outputs(model_path, inputs)
    checks = {}
    for name in dict.fromkeys([*ref, *outputs]):
        if name not in outputs or name not in ref:
            side = "qlower" if name not in outputs else "onnxruntime"
            raise QlowerError(f"output '{name}' is missing from the {side} results")
        c = compare_output(name, outputs[name], ref[name], rtol, atol)
        se = (std_errors or {}).get(name)
        if se is not None and c.shape_ok:
            slack = atol + rtol * float(np.max(np.abs(ref[name]), initial=0.0))
            with np.errstate(divide="ignore", invalid="ignore"):  # inf - inf: NaN, not a warning
                diff = np.abs(np.asarray(outputs[name], np.float64) - ref[name].astype(np.float64))
                z = np.where(diff <= slack, 0.0, (diff - slack) / se)
            max_z = float(np.max(z, initial=0.0))
            c = dataclasses.replace(c, max_z=max_z, ok=bool(c.dtype_ok and max_z <= sigmas))
        checks[name] = c
    return CheckReport(checks, rtol, atol, sigmas if std_errors else None)


# -- compiling to quantum kernels ------------------------------------------------------------


def compile(  # noqa: A001 - qlower.compile is the public name
    model: str | Path | Graph,
    target: str = "cirq",
    *,
    weights: str | Path | None = None,
    **options,
):
    """Lower ``model`` (a path or a graph) to quantum kernels; returns a CompiledProgram.

    Options: ``strategy`` (``"block-encoding"`` or ``"amplitude-encoding"``), ``method``
    (``"auto"`` or a registered method, ``qlower.blocks.registry.method_names()``: ``"fable"``,
    ``"svd"``, ``"dilation"``, ``"lcu"``), ``threshold`` (FABLE compression),
    ``overrides`` ({layer name or op kind: strategy}), ``signs`` (``"offset"`` or ``"none"``),
    ``compose`` (consecutive block-encoded layers as one kernel),
    ``progress`` (a callback ``(done, total, kernel)``).
    """
    from qlower.program import compile_graph

    if isinstance(model, Graph):
        return compile_graph(model, target, **options)
    with about(model, weights):
        return compile_graph(load(model, weights), target, **options)


def estimate(model: str | Path | Graph, *, weights: str | Path | None = None, **options):
    """What ``compile(model, **options)`` would cost, without building a circuit.

    Returns a :class:`qlower.kernel_costs.ProgramEstimate`: per kernel its method, qubits, CNOTs,
    rotations, depth (a bound), alpha and mean success probability, from the registry's closed
    forms; the totals; the layers left on the host. Options are ``compile``'s (no ``progress``).
    """
    from qlower.program import estimate_graph

    options.pop("progress", None)
    if isinstance(model, Graph):
        return estimate_graph(model, **options)
    with about(model, weights):
        return estimate_graph(load(model, weights), **options)


def load_compiled(directory: str | Path):
    """A folder that ``qlower compile -o DIR`` wrote, read back: its manifest, host graph and
    kernels (a :class:`qlower.backends.manifest.CompiledFolder`; ``.bind(inputs)`` gives every
    kernel's parameter values per row)."""
    from qlower.backends.manifest import CompiledFolder

    return CompiledFolder(directory)
