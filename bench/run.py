"""qlower benchmarks: one command, plain-text tables with ratios.

    python bench/run.py [--quick] [--json OUT] [--only SECTIONS]

1. Amplitude encoding vs Qiskit ``StatePreparation`` (real and complex Gaussian vectors): CNOT
   counts and build times, plus a state check of every qlower circuit at n <= 10.
2. FABLE block encodings vs the published counts (Camps & Van Beeumen 2022), with compression
   on a smooth matrix; build times against PennyLane ``qml.FABLE`` when PennyLane is importable.
2b. Block-encoding methods (SVD, FABLE, dilation) on Gaussian and smooth N x N weights, N = 16…1024:
   CNOTs, alpha/‖W‖₂, mean success probability, CNOTs per successful run, build time.
3. ``CompiledProgram.run`` wall time vs bare qsim on the same circuits and resolvers (an MLP).

Timing: ours and the peer's calls alternate within every repeat (which goes first alternates
too), so a change of the machine's load hits both alike. Each time is the median over the
repeats with its interquartile range; a ratio is the median of the per-repeat ratios with their
IQR. Repeats: at least ``MIN_REPS`` (5; 3 with ``--quick``), more up to ``MAX_REPS`` (15; 5)
while a row has taken under ``ROW_BUDGET_S`` (4 s; 1 s). Everything is seeded; rows come in a
fixed order. ``--only`` runs some sections (``amplitude,fable,run``).
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
MIN_REPS, MAX_REPS, ROW_BUDGET_S = 5, 15, 4.0


# --------------------------------------------------------------------------- helpers


class Times(list):
    """Seconds of the repeated calls of one function."""

    def q(self, p: float) -> float:
        return float(np.percentile(self, p)) if self else math.nan

    @property
    def median(self) -> float:
        return self.q(50)

    def summary(self) -> dict:
        return {"median": self.median, "q1": self.q(25), "q3": self.q(75),
                "min": min(self, default=math.nan), "max": max(self, default=math.nan),
                "reps": len(self), "all": list(self)}

    def cell(self, spec: str = ".4f") -> str:
        """``median (q1–q3)``."""
        if not self:
            return "-"
        return f"{self.median:{spec}} ({self.q(25):{spec}}–{self.q(75):{spec}})"


def interleaved(fns: dict, min_reps: int | None = None, max_reps: int | None = None,
                budget: float | None = None) -> tuple[dict, dict]:
    """Call every function of ``fns`` once per repeat, alternating which goes first.

    Returns (name → last result, name → :class:`Times`). Repeats ``min_reps`` times, then
    more up to ``max_reps`` while the row has taken less than ``budget`` seconds in all.
    """
    min_reps = MIN_REPS if min_reps is None else min_reps
    max_reps = MAX_REPS if max_reps is None else max_reps
    budget = ROW_BUDGET_S if budget is None else budget
    names = list(fns)
    times = {n: Times() for n in names}
    out: dict = {}
    spent = 0.0
    r = 0
    while r < min_reps or (r < max_reps and spent < budget):
        for n in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            out[n] = fns[n]()
            dt = time.perf_counter() - t0
            times[n].append(dt)
            spent += dt
        r += 1
    return out, times


def ratios(num: Times, den: Times) -> Times:
    """Per-repeat ratios of two interleaved series."""
    return Times(a / b for a, b in zip(num, den) if b > 0)


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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("qlower", "cirq", "qsimcirq", "qiskit", "pennylane", "numpy", "onnx"):
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
    out["cpu_model"] = cpu_model()
    out["machine"] = platform.machine()
    out["load_average_1min"] = load_average()
    try:
        from qlower.backends.qsim import QsimRunner

        out["qsim_threads"] = QsimRunner().threads
    except Exception as e:  # noqa: BLE001
        out["qsim_threads"] = f"unknown ({type(e).__name__})"
    out["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY")
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
        fns = {"auto": lambda x=x: amplitude_encoding(x),
               "mottonen": lambda x=x: amplitude_encoding(x, method="mottonen")}
        if have_qiskit:
            fns["qiskit"] = lambda x=x: qiskit_prep(x)
        res, times = interleaved(fns)
        auto, mott = res["auto"], res["mottonen"]
        ra, rm = auto.resources(), mott.resources()
        q_cx = int(res["qiskit"].count_ops().get("cx", 0)) if have_qiskit else None
        sp_auto = ratios(times["qiskit"], times["auto"]) if have_qiskit else Times()
        sp_mott = ratios(times["qiskit"], times["mottonen"]) if have_qiskit else Times()
        rec = {
            "n": n, "method_auto": auto.method,
            "qlower_auto": ra.as_dict(), "qlower_mottonen": rm.as_dict(),
            "qlower_cnots_auto": ra.cnots, "qlower_cnots_mottonen": rm.cnots,
            "qiskit_cnots": q_cx,
            "cnot_ratio_auto": ratio(ra.cnots, q_cx), "cnot_ratio_mottonen": ratio(rm.cnots, q_cx),
            "times_s": {k: v.summary() for k, v in times.items()},
            "speedup_auto": sp_auto.summary(), "speedup_mottonen": sp_mott.summary(),
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
            times["auto"].cell(), times["mottonen"].cell(), times.get("qiskit", Times()).cell(),
            sp_auto.cell(".1f"), sp_mott.cell(".1f"), str(len(times["auto"])),
        ])
    say(table(["n", "auto=", "qlower CX", "mottonen CX", "Qiskit CX", "ratio", "ratio mott",
               "qlower s", "mott s", "Qiskit s", "speed-up", "speed-up mott", "reps"], rows))
    say("  ratio = qlower CX / Qiskit CX (auto and mottonen; < 1: fewer CNOTs than Qiskit); "
        "speed-up = Qiskit s / qlower s per repeat; times: median (interquartile range)")
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


def pennylane_fable_builder():
    """``build(W)``: PennyLane's ``qml.FABLE`` built and decomposed to CNOT/RY/H/SWAP, or None."""
    try:
        import pennylane as qml
    except ImportError:
        return None, None

    def build(W):
        k = int(math.log2(W.shape[0]))
        op = qml.FABLE(W / np.abs(W).max(), wires=list(range(2 * k + 1)), tol=0)
        ops = op.decomposition()
        basic = ("CNOT", "RY", "Hadamard", "SWAP")
        while any(o.name not in basic for o in ops):
            ops = [p for o in ops for p in ([o] if o.name in basic else o.decomposition())]
        counts: dict = {}
        for o in ops:
            counts[o.name] = counts.get(o.name, 0) + 1
        return counts

    return build, qml.__version__


def bench_fable(Ns: list[int], thresholds: list[float]) -> dict:
    from qlower.blocks.block_encoding import block_encoding

    penny, penny_version = pennylane_fable_builder()
    rng = np.random.default_rng(SEED + 2)
    rows, out = [], []
    for N in Ns:
        W = rng.standard_normal((N, N))
        fns = {"qlower": lambda W=W: block_encoding(W, method="fable")}
        if penny is not None:
            fns["pennylane"] = lambda W=W: penny(W)
        res, times = interleaved(fns)
        be = res["qlower"]
        r = be.resources()
        pub = {"qubits": 2 * int(math.log2(N)) + 1, "cnots": N * N, "rotations": N * N}
        pc = res.get("pennylane")
        speed = ratios(times["pennylane"], times["qlower"]) if penny else Times()
        rec = {"N": N, "qlower": r.as_dict(), "published": pub,
               "cnot_ratio": ratio(r.cnots, pub["cnots"]),
               "rotation_ratio": ratio(r.rotations, pub["rotations"]),
               "times_s": {k: v.summary() for k, v in times.items()},
               "pennylane_counts": pc, "speedup_vs_pennylane": speed.summary(),
               "alpha": be.alpha, "error": be.error}
        out.append(rec)
        rows.append([str(N), str(r.qubits), str(r.cnots), str(r.rotations),
                     fmt(rec["cnot_ratio"], ".3f"), times["qlower"].cell(".3f"),
                     "-" if pc is None else f"{pc.get('CNOT', 0)} + {pc.get('SWAP', 0)}",
                     times.get("pennylane", Times()).cell(".3f"), speed.cell(".1f"),
                     str(len(times["qlower"])), fmt(be.error, ".1e")])
    say(table(["N", "qubits", "CX", "rotations", "ratio to pub", "build s", "PennyLane CX + SWAP",
               "PennyLane s", "speed-up", "reps", "||U-W||"], rows))
    say("  pub = FABLE without compression (Camps & Van Beeumen 2022): N^2 rotations, N^2 CNOTs, "
        "2 log2(N) + 1 qubits; speed-up = PennyLane s / qlower s per repeat")
    if penny is None:
        say("  PennyLane qml.FABLE: not installed")
    else:
        say(f"  PennyLane {penny_version} qml.FABLE (tol=0), built and decomposed to gates; its "
            "square FABLE swaps the registers with SWAPs, qlower relabels them")

    comp_rows, comp = [], []
    for N in Ns:
        S = smooth_matrix(N)
        norm = float(np.linalg.norm(S, 2))
        for th in thresholds:
            res, times = interleaved(
                {"qlower": lambda S=S, th=th: block_encoding(S, method="fable", threshold=th)},
                min_reps=1, max_reps=1)
            be = res["qlower"]
            r = be.resources()
            rec = {"N": N, "threshold": th, "kept_rotations": r.rotations, "kept_cnots": r.cnots,
                   "fraction_of_N2_rotations": r.rotations / (N * N),
                   "fraction_of_N2_cnots": r.cnots / (N * N),
                   "relative_error": be.error / norm, "build_s": times["qlower"].median}
            comp.append(rec)
            comp_rows.append([str(N), f"{th:g}", str(r.rotations), str(r.cnots), str(N * N),
                              f"{100 * rec['fraction_of_N2_rotations']:.2f}%",
                              f"{100 * rec['fraction_of_N2_cnots']:.2f}%",
                              f"{rec['relative_error']:.1e}"])
    say("")
    say("  compression on W_ij = exp(-((i-j)/N*4)^2): rotations with |angle| <= threshold dropped")
    say(table(["N", "threshold", "kept rot", "kept CX", "N^2", "rot kept", "CX kept",
               "||U-W||/||W||"], comp_rows))
    return {"rows": out, "compression": comp, "pennylane": penny_version}


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
    import qsimcirq

    import qlower
    from qlower.backends.qsim import QsimRunner

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
        t0 = time.perf_counter()
        prog = qlower.compile(str(path), "cirq")
        rec["compile_s"] = time.perf_counter() - t0
    say(f"  qlower.compile: {rec['compile_s']:.2f} s, {len(prog.kernels)} kernel(s)")
    inputs = {"x": x}
    result = prog.run(inputs)  # warm-up (and the outputs to check)
    values = host_values(prog.graph, inputs)
    kernels = []
    for k in prog.kernels:
        angles = np.asarray(values[k.kernel.parameters])
        kernels.append((k, k.resolvers(angles.reshape(-1, angles.shape[-1]))))
    runner = QsimRunner()
    options = runner.options  # the same threads and gate fusion as qlower's runner
    kernel_times: list[Times] = [Times() for _ in kernels]

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
    for t in kernel_times:
        t.clear()
    _, times = interleaved({"run": lambda: prog.run(inputs), "bare": bare},
                           min_reps=max(MIN_REPS, 7), max_reps=max(MAX_REPS, 21))
    per = ratios(times["run"], times["bare"])
    per_kernel = []
    for (k, res), t in zip(kernels, kernel_times):
        r = k.resources()
        per_kernel.append({"kernel": k.name, "method": k.method, "qubits": len(k.qubits),
                           "cnots": r.cnots, "rotations": r.rotations, "depth": r.depth,
                           "sweeps": len(res), "qsim_s": t.summary()})
    y = np.asarray(result["y"], dtype=np.float64)
    ref = prog.run(inputs, backend="reference")["y"]
    rec.update({
        "times_s": {k: v.summary() for k, v in times.items()}, "ratio_run_over_bare": per.summary(),
        "kernels": per_kernel, "qsim_threads": runner.threads,
        "bare_note": "qsimcirq.QSimSimulator.simulate_sweep per kernel (same options), resolvers from the reference host angles",
        "max_abs_error_vs_numpy": float(np.max(np.abs(y - forward(x)))),
        "max_abs_error_vs_reference_backend": float(np.max(np.abs(y - ref))),
    })
    say(table(["kernel", "method", "qubits", "CX", "rotations", "depth", "sweeps", "bare qsim s"],
              [[p["kernel"], p["method"], str(p["qubits"]), str(p["cnots"]), str(p["rotations"]),
                str(p["depth"]), str(p["sweeps"]), t.cell()]
               for p, t in zip(per_kernel, kernel_times)]))
    say("")
    say(table(["prog.run s", "bare qsim s", "run/bare", "reps", "qsim threads", "target"],
              [[times["run"].cell(), times["bare"].cell(), per.cell(".2f"), str(len(per)),
                str(runner.threads), "<= 2"]]))
    say(f"  outputs: max |run - numpy MLP| = {rec['max_abs_error_vs_numpy']:.2e}, "
        f"max |run(qsim) - run(reference)| = {rec['max_abs_error_vs_reference_backend']:.2e}")
    return rec


# --------------------------------------------------------------------------- main


def bench_methods(Ns: list[int], max_build_n: int) -> dict:
    """SVD, FABLE and dilation on Gaussian and structured N x N weights: CNOTs, alpha/||W||_2,
    mean success probability, CNOTs per successful run, build time (built up to max_build_n;
    beyond it the counts are the registry's closed forms, which the tests check against built
    circuits)."""
    from qlower.blocks.block_encoding import block_encoding
    from qlower.blocks.registry import block_method, cost_per_success

    rng = np.random.default_rng(SEED + 4)
    rows, out = [], []
    for N in Ns:
        for kind in ("gaussian", "smooth"):
            W = rng.standard_normal((N, N)) if kind == "gaussian" else smooth_matrix(N)
            norm = float(np.linalg.norm(W, 2))
            for name in ("svd", "fable", "dilation"):
                entry = block_method(name)
                params = entry.plan(W)
                try:
                    entry.check_size(N, N, params)
                except ValueError:
                    rows.append([str(N), kind, name, "-", "-", "-", "-", "-", "beyond its limit"])
                    continue
                cost = entry.cost(W, params)
                p = entry.mean_success_probability(W, params)
                per = cost_per_success(entry, W, params)
                build = "-"
                rec = {"N": N, "weights": kind, "method": name, "cnots": cost.cnots,
                       "alpha_over_norm": params["alpha"] / norm, "success_probability": p,
                       "cnots_per_success": per}
                if N <= max_build_n:
                    res, times = interleaved({"qlower": lambda W=W, name=name: block_encoding(W, name)},
                                             min_reps=1, max_reps=3)
                    rec["build_s"] = times["qlower"].summary()
                    rec["built_cnots"] = res["qlower"].count().cnots
                    build = times["qlower"].cell(".3f")
                out.append(rec)
                rows.append([str(N), kind, name, str(cost.cnots), f"{params['alpha'] / norm:.3g}",
                             f"{p:.3g}", f"{per:.3g}", build, ""])
    say(table(["N", "weights", "method", "CNOTs", "alpha/||W||2", "p_succ", "CNOTs/success",
               "build s", "note"], rows))
    say("  p_succ: mean over unit inputs, ||W||_F^2 / (N alpha^2); CNOTs/success = CNOTs / p_succ "
        "(what auto minimises); smooth: W_ij = exp(-((i-j)/N*4)^2)")
    return {"rows": out}


def main(argv=None) -> int:
    # before anything imports qsimcirq: qlower chooses qsim's OpenMP wait policy at this import
    import qlower.backends.qsim  # noqa: F401

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    ap.add_argument("--json", metavar="OUT", help="write every number to this JSON file")
    ap.add_argument("--only", metavar="SECTIONS",
                    help="comma-separated: amplitude, fable, methods, run")
    args = ap.parse_args(argv)

    global MIN_REPS, MAX_REPS, ROW_BUDGET_S
    if args.quick:
        ns, Ns, mlp, batch = list(range(4, 11)), [16, 32, 64], (8, 16, 4), 8
        mNs, max_build = [16, 64], 64
        MIN_REPS, MAX_REPS, ROW_BUDGET_S = 3, 5, 1.0
    else:
        ns, Ns, mlp, batch = list(range(4, 15)), [16, 32, 64, 128, 256], (16, 32, 8), 32
        mNs, max_build = [16, 64, 256, 1024], 1024
    thresholds = [1e-3, 1e-2]
    verify_max = 10
    only = set((args.only or "amplitude,fable,methods,run").split(","))

    t_start = time.perf_counter()
    report: dict = {"quick": args.quick, "seed": SEED, "versions": versions(),
                    "argv": sys.argv[1:] if argv is None else list(argv)}
    v = report["versions"]
    say(f"qlower benchmarks ({'quick' if args.quick else 'full'})")
    say("  " + ", ".join(f"{k} {v[k]}" for k in ("qlower", "cirq", "qsimcirq", "qiskit",
                                                  "pennylane", "numpy", "python")))
    say(f"  CPU: {v['cpu_model']}, {v['cpu_count']} cores ({v['cpus_usable']} usable), "
        f"{v['machine']}; load average (1 min) at start: {fmt(v['load_average_1min'])}; "
        f"qsim threads {v['qsim_threads']}, OMP_WAIT_POLICY {v['OMP_WAIT_POLICY']}")
    say(f"  timings: ours and the peer's interleaved, median (interquartile range) over "
        f"{MIN_REPS}-{MAX_REPS} repeats (more while a row took under {ROW_BUDGET_S:g} s)")

    sections = [
        ("amplitude", "amplitude_real",
         "1a. Amplitude encoding vs Qiskit StatePreparation, real Gaussian x",
         lambda: bench_amplitude(ns, "real", verify_max)),
        ("amplitude", "amplitude_complex",
         "1b. Amplitude encoding vs Qiskit StatePreparation, complex Gaussian x",
         lambda: bench_amplitude(ns, "complex", verify_max)),
        ("fable", "fable", "2. FABLE block encoding, random real N x N",
         lambda: bench_fable(Ns, thresholds)),
        ("methods", "methods", "2b. Block-encoding methods: SVD, FABLE, dilation (N x N)",
         lambda: bench_methods(mNs, max_build)),
        ("run", "run_vs_qsim", "3. CompiledProgram.run vs bare qsim (same circuits, same resolvers)",
         lambda: bench_run(mlp, batch)),
    ]
    for group, key, title, fn in sections:
        if group not in only:
            continue
        say("")
        say(title)
        t0 = time.perf_counter()
        try:
            report[key] = fn()
        except Exception as e:  # noqa: BLE001 - one broken section must not hide the others
            report[key] = unavailable(key, e)
        report[key]["section_s"] = time.perf_counter() - t0
        report[key]["load_average_1min_after"] = load_average()
    total = time.perf_counter() - t_start
    report["total_s"] = total
    say("")
    say(f"total: {total:.1f} s; load average (1 min) at the end: {fmt(load_average())}")
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
