"""qlower benchmarks: one command, plain-text tables with ratios.

    python bench/run.py [--quick] [--json OUT]

1. Amplitude encoding vs Qiskit ``StatePreparation`` (real and complex Gaussian vectors): CNOT
   counts and build times, plus a state check of every qlower circuit at n <= 10.
2. FABLE block encodings vs the published counts (Camps & Van Beeumen 2022), with compression
   on a smooth matrix; PennyLane ``qml.FABLE`` counts when PennyLane is importable.
3. ``CompiledProgram.run`` wall time vs bare qsim on the same circuits and resolvers (an MLP).

``--quick`` shrinks every size (n <= 10, N <= 64, a small MLP) to finish in under 30 s.
Timings are medians of up to 3 calls (fewer once the calls so far took over 1 s, 0.25 s with
``--quick``; the ``reps`` fields of the JSON say how many). Everything is seeded; rows come in
a fixed order.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))

SEED = 20240607
REPS = 3
REP_BUDGET_S = 1.0  # stop repeating once the calls so far took this long
BEST = [math.nan]  # the fastest call of the last ``timed``


# --------------------------------------------------------------------------- helpers


def timed(fn, reps: int = REPS, budget: float | None = None):
    """(last result, median seconds, number of calls) of ``fn()``."""
    budget = REP_BUDGET_S if budget is None else budget
    times = []
    out = None
    while len(times) < reps:
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > budget:
            break
    BEST[0] = min(times)
    return out, float(np.median(times)), len(times)


def fmt(v, spec: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, str):
        return v
    return format(v, spec)


def table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = indent + "  ".join(h.rjust(w) for h, w in zip(headers, widths))
    rule = indent + "  ".join("-" * w for w in widths)
    body = [indent + "  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, rule, *body])


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def say(text: str = "") -> None:
    print(text, flush=True)


def unavailable(section: str, exc: BaseException) -> dict:
    msg = f"{type(exc).__name__}: {exc}"
    say(f"  unavailable: {msg}")
    return {"unavailable": msg, "where": section,
            "traceback_tail": traceback.format_exc().strip().splitlines()[-3:]}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("qlower", "cirq", "qsimcirq", "qiskit", "numpy", "onnx"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "unknown")
        except Exception as e:  # noqa: BLE001 - report, do not fail
            out[mod] = f"not importable ({type(e).__name__})"
    out["cpu_count"] = os.cpu_count()
    try:
        out["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        out["cpus_usable"] = os.cpu_count()
    out["machine"] = platform.machine()
    try:
        out["load_average_1min"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        out["load_average_1min"] = None
    return out


# --------------------------------------------------------------------------- 1. amplitude


def state_of(circuit, qubits) -> np.ndarray:
    import cirq

    sim = cirq.Simulator(dtype=np.complex128)
    return sim.simulate(circuit, qubit_order=list(qubits)).final_state_vector


def state_errors(block, target: np.ndarray) -> tuple[float, float]:
    """max |ψ − x̂| exactly, and after removing a global phase."""
    psi = state_of(block.circuit, block.qubits)
    exact = float(np.max(np.abs(psi - target)))
    ov = np.vdot(psi, target)
    phase = ov / abs(ov) if abs(ov) > 0 else 1.0
    up_to_phase = float(np.max(np.abs(psi * phase - target)))
    return exact, up_to_phase


def qiskit_prep(x: np.ndarray):
    from qiskit import QuantumCircuit, transpile
    from qiskit.circuit.library import StatePreparation

    n = int(round(math.log2(x.size)))
    qc = QuantumCircuit(n)
    qc.append(StatePreparation(x / np.linalg.norm(x)), range(n))
    return transpile(qc, basis_gates=["cx", "u"], optimization_level=1)


def bench_amplitude(ns: list[int], kind: str, verify_max: int) -> dict:
    from qlower.blocks.amplitude import amplitude_encoding

    try:
        import qiskit  # noqa: F401

        have_qiskit = True
    except ImportError:
        have_qiskit = False
    rng = np.random.default_rng(SEED + (1 if kind == "complex" else 0))
    rows, out = [], []
    for n in ns:
        d = 1 << n
        x = rng.standard_normal(d)
        if kind == "complex":
            x = x + 1j * rng.standard_normal(d)
        auto, t_auto, r_auto = timed(lambda x=x: amplitude_encoding(x))
        mott, t_mott, r_mott = timed(lambda x=x: amplitude_encoding(x, method="mottonen"))
        ra, rm = auto.resources(), mott.resources()
        q_cx = t_q = r_q = None
        if have_qiskit:
            tq, t_q, r_q = timed(lambda x=x: qiskit_prep(x))
            q_cx = int(tq.count_ops().get("cx", 0))
        rec = {
            "n": n, "method_auto": auto.method,
            "qlower_auto": ra.as_dict(), "qlower_mottonen": rm.as_dict(),
            "qlower_cnots_auto": ra.cnots, "qlower_cnots_mottonen": rm.cnots,
            "qiskit_cnots": q_cx,
            "cnot_ratio_auto": ratio(ra.cnots, q_cx), "cnot_ratio_mottonen": ratio(rm.cnots, q_cx),
            "qlower_s_auto": t_auto, "qlower_s_mottonen": t_mott, "qiskit_s": t_q,
            "speedup_auto": ratio(t_q, t_auto), "speedup_mottonen": ratio(t_q, t_mott),
            "reps": {"auto": r_auto, "mottonen": r_mott, "qiskit": r_q},
        }
        if n <= verify_max:
            target = x / np.linalg.norm(x)
            rec["state_error_auto"], rec["state_error_auto_up_to_phase"] = state_errors(auto, target)
            rec["state_error_mottonen"], rec["state_error_mottonen_up_to_phase"] = state_errors(
                mott, target)
        out.append(rec)
        rows.append([
            str(n), auto.method, str(ra.cnots), str(rm.cnots), fmt(q_cx),
            fmt(rec["cnot_ratio_auto"], ".3f"), fmt(rec["cnot_ratio_mottonen"], ".3f"),
            fmt(t_auto, ".4f"), fmt(t_mott, ".4f"), fmt(t_q, ".4f"),
            fmt(rec["speedup_auto"], ".2f"), fmt(rec["speedup_mottonen"], ".2f"),
        ])
    say(table(["n", "auto=", "qlower CX", "mottonen CX", "Qiskit CX", "ratio", "ratio mott",
               "qlower s", "mott s", "Qiskit s", "speed-up", "speed-up mott"], rows))
    say("  ratio = qlower CX / Qiskit CX (auto and mottonen; < 1: fewer CNOTs than Qiskit); "
        "speed-up = Qiskit s / qlower s")
    if not have_qiskit:
        say("  Qiskit: not installed")
    ver = [r for r in out if "state_error_auto" in r]
    if ver:
        worst = max(max(r["state_error_auto"], r["state_error_mottonen"]) for r in ver)
        worst_p = max(max(r["state_error_auto_up_to_phase"], r["state_error_mottonen_up_to_phase"])
                      for r in ver)
        say(f"  state check (cirq.Simulator complex128, n <= {verify_max}, auto and mottonen): "
            f"max |psi - x/|x|| = {worst:.2e} (up to global phase: {worst_p:.2e})")
    return {"kind": kind, "rows": out, "qiskit_available": have_qiskit}


# --------------------------------------------------------------------------- 2. FABLE


def smooth_matrix(N: int) -> np.ndarray:
    i = np.arange(N)
    return np.exp(-(((i[:, None] - i[None, :]) / N * 4.0) ** 2))


def bench_fable(Ns: list[int], thresholds: list[float]) -> dict:
    from qlower.blocks.block_encoding import block_encoding

    rng = np.random.default_rng(SEED + 2)
    rows, out = [], []
    for N in Ns:
        W = rng.standard_normal((N, N))
        be, t, reps = timed(lambda W=W: block_encoding(W, method="fable"))
        r = be.resources()
        pub = {"qubits": 2 * int(math.log2(N)) + 1, "cnots": N * N, "rotations": N * N}
        rec = {"N": N, "qlower": r.as_dict(), "published": pub,
               "cnot_ratio": ratio(r.cnots, pub["cnots"]),
               "rotation_ratio": ratio(r.rotations, pub["rotations"]),
               "build_s": t, "build_s_min": BEST[0], "reps": reps, "alpha": be.alpha,
               "error": be.error}
        out.append(rec)
        rows.append([str(N), str(r.qubits), str(pub["qubits"]), str(r.cnots), str(pub["cnots"]),
                     str(r.rotations), str(pub["rotations"]), fmt(rec["cnot_ratio"], ".3f"),
                     fmt(rec["rotation_ratio"], ".3f"), fmt(t, ".4f"), fmt(be.error, ".1e")])
    say(table(["N", "qubits", "pub qubits", "CX", "pub CX", "rotations", "pub rot",
               "CX ratio", "rot ratio", "build s", "||U-W||"], rows))
    say("  pub = FABLE without compression (Camps & Van Beeumen 2022): N^2 rotations, N^2 CNOTs, "
        "2 log2(N) + 1 qubits; ratio = qlower / pub")
    at128 = [r for r in out if r["N"] == 128]
    if at128:
        a = at128[0]
        say(f"  build time at N = 128: {a['build_s']:.3f} s (median of {a['reps']}; fastest "
            f"{a['build_s_min']:.3f} s)")

    comp_rows, comp = [], []
    for N in Ns:
        S = smooth_matrix(N)
        norm = float(np.linalg.norm(S, 2))
        for th in thresholds:
            be, t, reps = timed(lambda S=S, th=th: block_encoding(S, method="fable", threshold=th))
            r = be.resources()
            rec = {"N": N, "threshold": th, "kept_rotations": r.rotations, "kept_cnots": r.cnots,
                   "fraction_of_N2_rotations": r.rotations / (N * N),
                   "fraction_of_N2_cnots": r.cnots / (N * N),
                   "relative_error": be.error / norm, "build_s": t, "reps": reps}
            comp.append(rec)
            comp_rows.append([str(N), f"{th:g}", str(r.rotations), str(r.cnots), str(N * N),
                              f"{100 * rec['fraction_of_N2_rotations']:.2f}%",
                              f"{100 * rec['fraction_of_N2_cnots']:.2f}%",
                              f"{rec['relative_error']:.1e}", f"{t:.4f}"])
    say("")
    say("  compression on W_ij = exp(-((i-j)/N*4)^2): rotations with |angle| <= threshold dropped")
    say(table(["N", "threshold", "kept rot", "kept CX", "N^2", "rot kept", "CX kept",
               "||U-W||/||W||", "build s"], comp_rows))

    penny = pennylane_fable(Ns, rng)
    return {"rows": out, "compression": comp, "pennylane": penny}


def pennylane_fable(Ns: list[int], rng) -> dict:
    try:
        import pennylane as qml
    except ImportError:
        say("  PennyLane qml.FABLE: not installed")
        return {"available": False, "reason": "not installed"}
    rows, out = [], []
    try:
        for N in Ns:
            W = rng.standard_normal((N, N))
            W = W / np.abs(W).max()
            k = int(math.log2(N))
            wires = list(range(2 * k + 1))
            t0 = time.perf_counter()
            op = qml.FABLE(W, wires=wires, tol=0)
            ops = op.decomposition()
            while any(o.name not in ("CNOT", "RY", "Hadamard", "SWAP") for o in ops):
                nxt = []
                for o in ops:
                    nxt += [o] if o.name in ("CNOT", "RY", "Hadamard", "SWAP") else o.decomposition()
                ops = nxt
            seconds = time.perf_counter() - t0
            t0 = time.perf_counter()
            from qlower.blocks import block_encoding

            block_encoding(W, "fable")
            ours = time.perf_counter() - t0
            counts = {}
            for o in ops:
                counts[o.name] = counts.get(o.name, 0) + 1
            out.append({"N": N, "counts": counts, "build_s": seconds, "qlower_build_s": ours})
            rows.append([str(N), str(counts.get("CNOT", 0)), str(counts.get("RY", 0)),
                         str(counts.get("SWAP", 0)), f"{seconds:.4f}", f"{ours:.4f}",
                         f"{seconds / ours:.1f}"])
        say(f"  PennyLane {qml.__version__} qml.FABLE (tol=0), built and decomposed to gates:")
        say(table(["N", "CNOT", "RY", "SWAP", "PennyLane s", "qlower s", "speed-up"], rows))
        say("  (PennyLane's square FABLE swaps the registers with SWAPs, 3 CNOTs each; qlower "
            "relabels them)")
        return {"available": True, "version": qml.__version__, "rows": out}
    except Exception as e:  # noqa: BLE001 - optional comparison
        return {"available": False, **unavailable("pennylane", e)}


# --------------------------------------------------------------------------- 3. run vs qsim


def mlp_model(d_in: int, d_hidden: int, d_out: int, batch: int, rng):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1 = rng.standard_normal((d_in, d_hidden)).astype(np.float32) / math.sqrt(d_in)
    b1 = (0.1 * rng.standard_normal(d_hidden)).astype(np.float32)
    w2 = rng.standard_normal((d_hidden, d_out)).astype(np.float32) / math.sqrt(d_hidden)
    b2 = (0.1 * rng.standard_normal(d_out)).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Gemm", ["r", "W2", "b2"], ["y"], name="fc2"),
    ]
    inits = [numpy_helper.from_array(a, name) for a, name in
             ((w1, "W1"), (b1, "b1"), (w2, "W2"), (b2, "b2"))]
    graph = helper.make_graph(
        nodes, "bench_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, d_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, d_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="qlower bench")
    model.ir_version = 10
    onnx.checker.check_model(model)

    def numpy_forward(x):
        h = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0)
        return h @ w2 + b2

    return model, numpy_forward


def host_values(graph, inputs) -> dict:
    """Every value of the lowered graph, with the q ops' reference semantics (exact)."""
    from qlower.backends.reference import bind_inputs
    from qlower.ir import ConstRef, Dense, evaluate_op

    env = bind_inputs(graph, inputs)
    values = {v.name: inputs[v.name] for v in graph.inputs}
    for c in graph.constants:
        if isinstance(c.data, ConstRef):
            raise RuntimeError(f"constant %{c.name} has no data")
        assert isinstance(c.data, Dense)
        values[c.name] = c.data.array
    for op in graph.ops:
        args = [values[o] if o is not None else None for o in op.operands]
        with np.errstate(all="ignore"):
            res = evaluate_op(op, args, env)
        for i, r in enumerate(op.results):
            if r is not None:
                values[r.name] = np.asarray(res[i])
    return values


def bench_run(sizes: tuple[int, int, int], batch: int) -> dict:
    import onnx

    import qlower

    d_in, d_hidden, d_out = sizes
    rng = np.random.default_rng(SEED + 3)
    model, forward = mlp_model(d_in, d_hidden, d_out, batch, rng)
    x = rng.standard_normal((batch, d_in)).astype(np.float32)
    rec: dict = {"model": f"Gemm {d_in}->{d_hidden}, Relu, Gemm {d_hidden}->{d_out}",
                 "batch": batch}
    say(f"  model: {rec['model']}, batch {batch}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mlp.onnx"
        onnx.save(model, str(path))
        try:
            t0 = time.perf_counter()
            prog = qlower.compile(str(path), "cirq")
            rec["compile_s"] = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - the section reports what failed
            return {**rec, **unavailable("qlower.compile", e)}
    say(f"  qlower.compile: {rec['compile_s']:.2f} s, {len(prog.kernels)} kernel(s)")
    try:
        from qlower.backends.qsim import QsimRunner

        inputs = {"x": x}
        result = prog.run(inputs)  # warm-up (and the outputs to check)
        _, t_run, r_run = timed(lambda: prog.run(inputs), reps=3, budget=math.inf)
    except Exception as e:  # noqa: BLE001
        return {**rec, **unavailable("CompiledProgram.run", e)}

    rec.update({"run_s": t_run, "reps": {"run": r_run}})
    say(f"  prog.run: {t_run:.4f} s")
    try:
        values = host_values(prog.graph, inputs)
        kernels = []
        for k in prog.kernels:
            angles = np.asarray(values[k.kernel.parameters])
            resolvers = k.resolvers(angles.reshape(-1, angles.shape[-1]))
            kernels.append((k, resolvers))
    except Exception as e:  # noqa: BLE001
        return {**rec, **unavailable("host angles for bare qsim", e)}

    kernel_times: list[list[float]] = [[] for _ in kernels]

    import qsimcirq

    options = QsimRunner().options  # the same threads and gate fusion as qlower's runner

    def bare():
        sim = qsimcirq.QSimSimulator(qsim_options=options)
        states = []
        for i, (k, res) in enumerate(kernels):
            t0 = time.perf_counter()
            results = sim.simulate_sweep(k.circuit, params=res, qubit_order=list(k.qubits))
            states.append([r.final_state_vector for r in results])
            kernel_times[i].append(time.perf_counter() - t0)
        return states

    bare()  # warm-up
    for times in kernel_times:
        times.clear()
    _, t_bare, r_bare = timed(bare, reps=3, budget=math.inf)
    per_kernel = []
    for (k, res), times in zip(kernels, kernel_times):
        r = k.resources()
        per_kernel.append({"kernel": k.name, "method": k.method, "qubits": len(k.qubits),
                           "cnots": r.cnots, "rotations": r.rotations, "depth": r.depth,
                           "sweeps": len(res), "qsim_s": float(np.median(times)),
                           "reps": len(times)})
    y = np.asarray(result["y"], dtype=np.float64)
    ref = prog.run(inputs, backend="reference")["y"]
    rec.update({
        "run_s": t_run, "bare_qsim_s": t_bare, "ratio_run_over_bare": ratio(t_run, t_bare),
        "reps": {"run": r_run, "bare": r_bare}, "kernels": per_kernel,
        "bare_note": "qsimcirq.QSimSimulator.simulate_sweep per kernel (same options), resolvers from the reference host angles",
        "max_abs_error_vs_numpy": float(np.max(np.abs(y - forward(x)))),
        "max_abs_error_vs_reference_backend": float(np.max(np.abs(y - ref))),
    })
    say(table(["kernel", "method", "qubits", "CX", "rotations", "depth", "sweeps", "qsim s"],
              [[p["kernel"], p["method"], str(p["qubits"]), str(p["cnots"]), str(p["rotations"]),
                str(p["depth"]), str(p["sweeps"]), f"{p['qsim_s']:.4f}"] for p in per_kernel]))
    say("")
    say(table(["prog.run s", "bare qsim s", "run/bare", "target"],
              [[f"{t_run:.4f}", f"{t_bare:.4f}", f"{rec['ratio_run_over_bare']:.2f}", "<= 2"]]))
    say(f"  outputs: max |run - numpy MLP| = {rec['max_abs_error_vs_numpy']:.2e}, "
        f"max |run(qsim) - run(reference)| = {rec['max_abs_error_vs_reference_backend']:.2e}")
    return rec


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (finishes in < 30 s)")
    ap.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    args = ap.parse_args(argv)

    if args.quick:
        ns, Ns, mlp, batch = list(range(4, 11)), [16, 32, 64], (8, 16, 4), 8
    else:
        ns, Ns, mlp, batch = list(range(4, 15)), [16, 32, 64, 128, 256], (16, 32, 8), 32
    thresholds = [1e-3, 1e-2]
    verify_max = 10
    global REP_BUDGET_S
    if args.quick:
        REP_BUDGET_S = 0.25

    t_start = time.perf_counter()
    report: dict = {"quick": args.quick, "seed": SEED, "versions": versions()}
    v = report["versions"]
    say(f"qlower benchmarks ({'quick' if args.quick else 'full'})")
    say("  " + ", ".join(f"{k} {v[k]}" for k in ("qlower", "cirq", "qsimcirq", "qiskit", "numpy",
                                                  "python")))
    say(f"  CPUs: {v['cpu_count']} (usable: {v['cpus_usable']}), {v['machine']}, "
        f"load average (1 min) at start: {fmt(v['load_average_1min'])}")
    say(f"  timings: median of up to {REPS} calls (fewer once they took {REP_BUDGET_S:g} s), "
        "time.perf_counter")

    sections = [
        ("amplitude_real", "1a. Amplitude encoding vs Qiskit StatePreparation, real Gaussian x",
         lambda: bench_amplitude(ns, "real", verify_max)),
        ("amplitude_complex", "1b. Amplitude encoding vs Qiskit StatePreparation, complex Gaussian x",
         lambda: bench_amplitude(ns, "complex", verify_max)),
        ("fable", "2. FABLE block encoding, random real N x N", lambda: bench_fable(Ns, thresholds)),
        ("run_vs_qsim", "3. CompiledProgram.run vs bare qsim (same circuits, same resolvers)",
         lambda: bench_run(mlp, batch)),
    ]
    for key, title, fn in sections:
        say("")
        say(title)
        t0 = time.perf_counter()
        try:
            report[key] = fn()
        except Exception as e:  # noqa: BLE001 - one broken section must not hide the others
            report[key] = unavailable(key, e)
        report[key]["section_s"] = time.perf_counter() - t0
    total = time.perf_counter() - t_start
    report["total_s"] = total
    say("")
    say(f"total: {total:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
        say(f"wrote {args.json}")
    return 0


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
