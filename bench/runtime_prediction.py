"""Predicted vs measured run time of a Gemm layer on qsim (the budget check's prediction).

    python bench/runtime_prediction.py [--widths 64,128,256,512] [--batches 1,8] [--repeats 3]
                                       [--method M] [--threads T] [--json OUT]

For each width W a seeded W x W Gemm with bias (built with onnx.helper) is compiled with the
default options (``--method``: the block-encoding method, e.g. fable); for each batch,
``CompiledProgram.run(..., timing=True)`` (no work budget) runs ``--repeats`` times on
x ~ N(0, 1). Each run predicts every kernel's seconds before it runs (the qsim
runner's rate model, its constants measured in this process: ``calibration_s`` is what that
cost, once) and measures its wall time. Reported per row: qubits and gates of the kernel, the
prediction (of the first run), the measured median with min-max over the repeats, their ratio
measured/predicted, and what the old assumed rate (gates x 2^n x batch / 2e9 per second)
said. The machine's load is printed before and after (a shared machine swings by 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))

SEED = 20240612


def gemm_model(width: int, seed: int = SEED):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed + width)
    w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    b = (0.1 * rng.standard_normal(width)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="qlower bench")
    model.ir_version = 10
    return model


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="64,128,256,512")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--method", default=None, help="block-encoding method (default: auto)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    import onnx

    import qlower
    from qlower.backends.qsim import QsimRunner
    from qlower.program import _sizes

    runner = QsimRunner(threads=args.threads)
    print(f"qsim threads {runner.threads}, fusion {runner.fusion}; {os.cpu_count()} CPUs; "
          f"load {load()}", flush=True)
    head = ["W", "method", "batch", "qubits", "gates", "predicted s", "measured s (min-max)",
            "measured/predicted", "old assumed s"]
    print("  ".join(head), flush=True)
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "gemm.onnx"
            onnx.save(gemm_model(width), path)
            t = time.perf_counter()
            options = {} if args.method is None else {"method": args.method}
            program = qlower.compile(str(path), "cirq", **options)
            compile_s = time.perf_counter() - t
        for batch in (int(b) for b in args.batches.split(",")):
            x = np.random.default_rng(SEED).standard_normal((batch, width)).astype(np.float32)
            measured, predicted = [], None
            for _ in range(args.repeats):
                result = program.run({"x": x}, threads=runner.threads, timing=True,
                                     max_work=float("inf"))
                measured.append(result.timing["measured_seconds"])
                if predicted is None:
                    predicted = result.timing["predicted_seconds"]
            kc = program.kernels[0]
            n, work = _sizes(kc, batch)
            gates = sum(len(m) for m in kc.circuit)
            med = statistics.median(measured)
            row = {"width": width, "method": kc.method, "batch": batch, "qubits": n, "gates": gates,
                   "kernels": len(program.kernels), "compile_s": compile_s,
                   "predicted_s": predicted, "measured_s": measured, "measured_median_s": med,
                   "ratio": med / predicted, "old_assumed_s": work / 2e9, "load": load()}
            rows.append(row)
            print(f"{width}  {kc.method}  {batch}  {n}  {gates}  {predicted:.3g}  {med:.3g} "
                  f"({min(measured):.3g}-{max(measured):.3g})  {med / predicted:.2f}  "
                  f"{work / 2e9:.3g}", flush=True)
    rates = runner.rates
    print(f"calibration: {rates.calibration_seconds:.2f} s in this process; load {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": runner.threads, "rows": rows,
                                               "calibration_s": rates.calibration_seconds},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
