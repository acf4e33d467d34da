"""How compiling a dense layer scales with its width: time, peak memory and output per gate.

For each width W a Gemm layer ``y = x Wᵀ + b`` (seeded Gaussian weights and bias, W × W) is
compiled by ``qlower.load`` + ``qlower.compile`` + ``CompiledProgram.write`` (what ``qlower
compile MODEL --target qasm3 -o DIR`` does) in a fresh subprocess, one at a time, after the
same on a 4-wide layer (imports and caches warm). Measured per run: the seconds of compile and
write, the child's peak resident memory (``ru_maxrss`` from ``os.wait4``) and how far it rose
above the warm process's, the gates written (gate lines of the ``.qasm`` files, or
operations of the Cirq JSON) and the output's size. Widths are interleaved and repeated; the
table gives medians with the range over the repeats.

    python bench/compile_scaling.py                         # W = 64 … 1024, 3 repeats
    python bench/compile_scaling.py --widths 64,256 --repeats 5 --target cirq
    python bench/compile_scaling.py --python OTHER/.venv/bin/python   # another checkout

``--memory-limit-gib`` caps the child's address space (``RLIMIT_AS``): a run past it is
reported as failed (MemoryError), not swapped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

CHILD = r"""
import json, resource, sys, tempfile, time
t0 = time.perf_counter()
import qlower
# warm up (imports, caches) on a 4-wide layer, so that the times and memory below are the run's
with tempfile.TemporaryDirectory() as tmp:
    qlower.compile(qlower.load(sys.argv[4]), sys.argv[3]).write(tmp + "/warm")
t1 = time.perf_counter()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
program = qlower.compile(qlower.load(sys.argv[1]), sys.argv[3])
t2 = time.perf_counter()
program.write(sys.argv[2])
t3 = time.perf_counter()
k = program.kernels[0]
print(json.dumps({"warmup": t1 - t0, "compile": t2 - t1, "write": t3 - t2,
                  "base_mib": base / 1024, "method": k.method, "qubits": len(k.qubits)}))
"""


def gemm_model(width: int, path: Path, seed: int = 0) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((width, width)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(width).astype(np.float32), "b")]
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, width])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10  # onnxruntime 1.31 reads up to 10
    onnx.save(model, path)


def count_gates(folder: Path, target: str) -> tuple[int, int]:
    """(gates, bytes) of the kernel files in ``folder``."""
    gates = size = 0
    for f in sorted(folder.iterdir()):
        if f.suffix not in (".qasm", ".json") or f.name == "manifest.json":
            continue
        size += f.stat().st_size
        with open(f, encoding="utf-8") as fh:
            if target == "qasm3":
                gates += sum(1 for line in fh if "q[" in line and not line.startswith("qubit")
                             and "measure" not in line)
            else:
                gates += sum(line.count('"cirq_type": "GateOperation"') for line in fh)
    return gates, size


def run_once(python: str, model: Path, out: Path, target: str, limit_gib: float | None,
             timeout: float) -> dict:
    """One compile in a fresh process; its peak memory from ``os.wait4``."""
    def limit():
        if limit_gib:
            cap = int(limit_gib * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    shutil.rmtree(out, ignore_errors=True)
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        proc = subprocess.Popen([python, "-c", CHILD, str(model), str(out), target,
                                 str(model.with_name("gemm4.onnx"))], stdout=fo,
                                stderr=fe, preexec_fn=limit, cwd=tempfile.gettempdir())
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        stdout, stderr = fo.read(), fe.read()
    rss_mib = rusage.ru_maxrss / 1024  # KiB on Linux
    if proc.returncode:
        last = (stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"error": last[:120], "rss_mib": rss_mib}
    res = json.loads(stdout.strip().splitlines()[-1])
    gates, size = count_gates(out, target)
    res.update(rss_mib=rss_mib, gates=gates, bytes=size)
    return res


def fmt(values, spec: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, spec)
    return f"{format(med, spec)} [{format(min(values), spec)}–{format(max(values), spec)}]"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", default="64,128,256,512,1024")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--target", choices=("qasm3", "cirq"), default="qasm3")
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter that compiles (default: this one)")
    p.add_argument("--memory-limit-gib", type=float, default=None)
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--json", metavar="FILE", help="also write every run to FILE")
    args = p.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    runs: dict[int, list[dict]] = {w: [] for w in widths}
    with tempfile.TemporaryDirectory(prefix="qlower-scaling-") as tmp:
        tmp = Path(tmp)
        for w in {4, *widths}:
            gemm_model(w, tmp / f"gemm{w}.onnx")
        for r in range(args.repeats):
            for w in widths:  # interleaved: a slow spell of the machine hits every width
                res = run_once(args.python, tmp / f"gemm{w}.onnx", tmp / f"out{w}", args.target,
                               args.memory_limit_gib, args.timeout)
                runs[w].append(res)
                print(f"# repeat {r + 1} W={w}: " + json.dumps(
                    {k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()}),
                    file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))
    print(f"target {args.target}; medians [min–max] over {args.repeats} runs; "
          "s = compile + write (warm process); +RSS = peak RSS - the warm process's")
    print("| W | method | qubits | gates | s | peak RSS MiB | +RSS MiB | µs/gate | +RSS B/gate "
          "| output MiB | output B/gate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for w in widths:
        ok = [r for r in runs[w] if "error" not in r]
        if not ok:
            err = runs[w][0]
            print(f"| {w} | failed: {err['error']} (peak {err.get('rss_mib', 0):.0f} MiB) "
                  "| | | | | | | | | |")
            continue
        g = ok[0]["gates"]
        secs = [r["compile"] + r["write"] for r in ok]
        rss = [r["rss_mib"] for r in ok]
        grow = [r["rss_mib"] - r["base_mib"] for r in ok]
        print(f"| {w} | {ok[0]['method']} | {ok[0]['qubits']} | {g} | {fmt(secs, '.1f')} | "
              f"{fmt(rss, '.0f')} | {fmt(grow, '.0f')} | {fmt([s * 1e6 / g for s in secs], '.1f')}"
              f" | {fmt([m * 2**20 / g for m in grow], '.0f')} | {ok[0]['bytes'] / 2**20:.1f} | "
              f"{ok[0]['bytes'] / g:.1f} |" + ("" if len(ok) == len(runs[w]) else
                                              f" ({len(runs[w]) - len(ok)} failed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
