"""qsim threads and OpenMP wait policy, on an idle core set and with another process on a core.

    python bench/threads.py [--rounds R] [--reps K] [--cpus C] [--json OUT]

Each configuration runs in a fresh process (the OpenMP runtime reads its wait policy once, when
qsimcirq loads it), restricted to the first ``--cpus`` CPUs this process may use (default 2, the
development machine's count): the bench MLP of ``bench/run.py`` (Gemm 16→32, Relu, Gemm 32→8,
batch 32) compiled once, then ``prog.run`` and bare qsim (``simulate_sweep`` on the same
circuits) interleaved ``--reps`` times, and the batched constant block of kernel k0
(``QsimRunner.evolve``) alone. The processes of all configurations alternate, ``--rounds``
times. Wall and CPU time (all threads of the process) are reported as medians with their
interquartile range.

Configurations: qsim threads 1 and 2 (and qlower's default); wait policy ``spin`` (what
qlower got before it set a policy: libgomp's default, threads spin at every barrier before they
sleep; here qsimcirq is imported before qlower) and ``PASSIVE`` (what qlower now sets unless
OMP_WAIT_POLICY is set). Load: ``idle`` (nothing of ours besides), ``busy`` (a busy-loop process
pinned to the first of those CPUs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUSY = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def child(threads: str, policy: str, reps: int) -> dict:
    """One configuration, in this (fresh) process."""
    if policy == "spin":
        import qsimcirq  # noqa: F401 - load libgomp before qlower sets a policy
    import tempfile

    import onnx

    sys.path.insert(0, str(ROOT / "bench"))
    import qsimcirq
    from run import host_values, mlp_model  # noqa: E402 - bench/run.py's MLP

    import qlower
    from qlower.backends.qsim import QsimRunner

    rng = np.random.default_rng(20240610)
    model, _ = mlp_model(16, 32, 8, 32, rng)
    x = rng.standard_normal((32, 16)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.onnx"
        onnx.save(model, str(path))
        prog = qlower.compile(str(path), "cirq")
    n_threads = None if threads == "default" else int(threads)
    runner = QsimRunner(threads=n_threads)
    values = host_values(prog.graph, {"x": x})
    kernels = []
    for k in prog.kernels:
        angles = np.asarray(values[k.kernel.parameters])
        kernels.append((k, k.resolvers(angles.reshape(-1, angles.shape[-1]))))
    k0, res0 = kernels[0]
    prepared = runner.states(k0.prefix, k0.qubits, res0)

    def run():
        prog.run({"x": x}, threads=n_threads)

    def bare():
        sim = qsimcirq.QSimSimulator(qsim_options=runner.options)
        for k, res in kernels:
            sim.simulate_sweep(k.circuit, params=res, qubit_order=list(k.qubits))

    def evolve():
        runner.evolve(k0.suffix, k0.qubits, prepared)

    fns = {"run": run, "bare": bare, "evolve": evolve}
    for f in fns.values():  # warm-up
        f()
    out = {name: {"wall": [], "cpu": []} for name in fns}
    for r in range(reps):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            w0, c0 = time.perf_counter(), time.process_time()
            fns[name]()
            out[name]["wall"].append(time.perf_counter() - w0)
            out[name]["cpu"].append(time.process_time() - c0)
    out["threads"] = runner.threads
    out["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY")
    return out


def med(xs) -> str:
    return f"{np.median(xs):.3f} ({np.percentile(xs, 25):.3f}–{np.percentile(xs, 75):.3f})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--child", nargs=2, metavar=("THREADS", "POLICY"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.reps)))
        return 0

    cpus = sorted(os.sched_getaffinity(0))[: args.cpus]
    configs = [(t, p) for p in ("spin", "PASSIVE") for t in ("1", "2")] + [("default", "PASSIVE")]
    print(f"qsim threads and wait policy: CPUs {cpus} of {os.cpu_count()}, load average "
          f"(1 min) at start {os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.reps} reps")
    results: dict = {}
    for load in ("idle", "busy"):
        busy = None
        if load == "busy":
            busy = subprocess.Popen([sys.executable, "-c", BUSY, str(cpus[0])])
        try:
            for _ in range(args.rounds):
                for threads, policy in configs:
                    env = {k: v for k, v in os.environ.items()
                           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
                    if policy != "spin":
                        env["OMP_WAIT_POLICY"] = policy
                    cmd = [sys.executable, __file__, "--child", threads, policy,
                           "--reps", str(args.reps)]
                    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                                          preexec_fn=lambda: os.sched_setaffinity(0, cpus))
                    doc = json.loads(proc.stdout.strip().splitlines()[-1])
                    slot = results.setdefault(f"{load}/{policy}/{threads}", {"threads": doc["threads"]})
                    for name in ("run", "bare", "evolve"):
                        for kind in ("wall", "cpu"):
                            slot.setdefault(name, {}).setdefault(kind, []).extend(doc[name][kind])
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    head = ["load", "policy", "threads", "run wall s", "run CPU s", "bare wall s", "run/bare",
            "evolve wall s", "evolve CPU s"]
    rows = []
    for key, slot in results.items():
        load, policy, threads = key.split("/")
        r = np.median(np.array(slot["run"]["wall"]) / np.array(slot["bare"]["wall"]))
        label = f"{slot['threads']} (default)" if threads == "default" else threads
        rows.append([load, policy, label, med(slot["run"]["wall"]), med(slot["run"]["cpu"]),
                     med(slot["bare"]["wall"]), f"{r:.2f}", med(slot["evolve"]["wall"]),
                     med(slot["evolve"]["cpu"])])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  " + "  ".join(h.rjust(w) for h, w in zip(head, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for r in rows:
        print("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print(f"  median (interquartile range) of {args.rounds * args.reps} calls; run/bare: median "
          f"of the per-call ratios; load average (1 min) at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
