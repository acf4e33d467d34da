"""Amplification of a FABLE kernel's success probability, measured on qsim.

A Gemm layer N×N (Gaussian weights and bias, float32), lowered with FABLE and the sign offset,
is compiled without amplification (``--carry columns``: the same ``[W | b | κ1]`` block the
amplified kernel starts from) and with ``--amplify fixed-point`` at each ``--delta``; every
kernel runs on qsim on ``--rows`` random inputs. Per row of the table: the success probability
qsim measures (mean over the inputs) and the one ``qlower estimate`` predicts, the queries
(copies of A = preparation + block), CNOTs, depth, T estimate (rotations at 1e-3 in total),
T × 1/p (the T gates per successful shot), the largest output error against onnxruntime
relative to max |y|, and the seconds qsim took. A ``qsvt`` row states the figures of uniform
singular-value amplification (what ``--amplify qsvt`` builds: margin δ = 0.5, ε = 1e-2; its
degree in queries, its phases' success probability at the mean p; too deep to simulate here
at N = 64, a test runs it at N = 4): it stays below 0.5.

    python bench/amplify.py                       # N = 64, 4 inputs, delta 0.5 and 0.7 (minutes)
    python bench/amplify.py --size 16 --rows 8
    python bench/amplify.py --shots 200000        # also the mean standard error of y from shots
    python bench/amplify.py --double --rows 1     # also the error of a complex128 simulation
                                                  # (Cirq's simulator: minutes per row at N = 64)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qlower  # noqa: E402
from qlower.api import onnxruntime_outputs  # noqa: E402

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def gemm(path: Path, N: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((N, N)).astype(np.float32), "w"),
             onnx.numpy_helper.from_array(rng.standard_normal(N).astype(np.float32), "b")]
    node = H.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    graph = H.make_graph([node], "gemm", [VI("x", T.FLOAT, ["batch", N])],
                         [VI("y", T.FLOAT, ["batch", N])], inits)
    model = H.make_model(graph, opset_imports=[H.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, path)


def offset_mean_success(program) -> float:
    """The unamplified kernel's mean success probability over inputs with a uniformly random
    direction x̂' and their offset t = B‖x'‖ (what ``amplification_summary`` calls p_before):
    ``(‖C_x‖_F²/N' + B²‖c_t‖²)/(1 + B²)``."""
    from qlower.kernel_costs import transfer

    c = transfer(program.graph, program.kernels[0].kernel)
    B = float(next(op for op in program.graph.ops if op.name == "host.offset").attr("bound"))
    n = c.shape[1] - 1
    return (float(np.sum(np.abs(c[:, :-1]) ** 2)) / n
            + B * B * float(np.sum(np.abs(c[:, -1]) ** 2))) / (1 + B * B)


def qsvt_row(program, delta: float) -> dict:
    """Uniform singular-value amplification's figures for the unamplified kernel, with the
    margin δ and ``QSVT_EPSILON`` that ``--amplify qsvt`` uses: the degree, and the success
    probability of its phases at the mean p (``amplified_success``; at least ``p·γ²``)."""
    from qlower.blocks.amplify import QSVT_EPSILON, amplified_success, qsvt_phases
    from qlower.kernel_costs import transfer

    c = transfer(program.graph, program.kernels[0].kernel)
    sigma = min(1.0, float(np.linalg.norm(c, 2)))
    p0 = offset_mean_success(program)
    rounds = qsvt_phases(sigma, delta, QSVT_EPSILON)
    L = 2 * len(rounds) + 1
    r = program.estimate().kernels[0].resources
    linear = p0 / (sigma * (1 + delta)) ** 2  # p·γ²: what Re P alone gives
    return {"label": f"qsvt δ={delta} (σ_max={sigma:.3f}, p·γ²={linear:.3f}; figures)",
            "p_meas": None,
            "p_pred": float(amplified_success(rounds, p0)), "queries": L,
            "cnots": r.cnots * L, "depth": r.depth * L, "t": r.t_estimate() * L, "err": None,
            "seconds": None, "se": None}


def double_error(program, x: np.ndarray, ref: np.ndarray) -> float:
    """The output error relative to max |y| when the kernel's circuit runs in complex128
    (``cirq.Simulator``) and the graph's host ops read it: what is left without qsim's
    single precision."""
    import cirq

    from qlower.blocks.amplify import reference_readback

    kc = program.kernels[0]
    g = program.graph
    rows = program.bind({"x": x})[kc.name]
    sim = cirq.Simulator(dtype=np.complex128)
    states = np.stack([sim.simulate(cirq.resolve_parameters(kc.circuit, r),
                                    qubit_order=kc.qubits).final_state_vector
                       for r in kc.resolvers(rows)])
    p = kc.rule.exact(states)
    rr = next(op for op in g.ops if op.name == "host.reference_rescale")
    off = next(op for op in g.ops if op.name == "host.offset")
    xa = np.concatenate([x, np.ones((len(x), 1), x.dtype)], 1).astype(np.float64)
    t = off.attr("bound") * np.linalg.norm(xa, axis=1, keepdims=True)
    y = reference_readback(p, t, rr.attr("rows"), rr.attr("scale"))
    return float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))


def measure(label: str, program, x: np.ndarray, ref: np.ndarray, shots: int) -> dict:
    t0 = time.perf_counter()
    out = program.run({"x": x})
    seconds = time.perf_counter() - t0
    est = program.estimate().kernels[0]
    amp = est.amplification or {}
    se = None
    if shots:
        se = float(np.mean(program.run({"x": x}, shots=shots, seed=1).std_errors["y"]))
    r = est.resources
    p_pred = est.success_probability if amp else offset_mean_success(program)
    return {"label": label, "p_meas": out.kernels[0].success_probability,
            "p_pred": p_pred, "queries": amp.get("queries", 1),
            "cnots": r.cnots, "depth": r.depth, "t": r.t_estimate(),
            "err": float(np.max(np.abs(out["y"] - ref)) / np.max(np.abs(ref))),
            "seconds": seconds, "se": se}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--delta", type=float, nargs="+", default=[0.5, 0.7])
    ap.add_argument("--shots", type=int, default=0)
    ap.add_argument("--double", action="store_true",
                    help="also simulate the amplified kernels in complex128 (Cirq)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((args.rows, args.size)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gemm.onnx"
        gemm(path, args.size)
        ref = onnxruntime_outputs(path, {"x": x})["y"]
        base = qlower.compile(path, "cirq", method="fable", carry="columns")
        rows.append(measure("none (columns)", base, x, ref, args.shots))
        rows.append(qsvt_row(base, 0.5))
        for d in args.delta:
            prog = qlower.compile(path, "cirq", method="fable", amplify="fixed-point",
                                  amplify_error=d)
            a = prog.estimate().kernels[0].amplification
            rows.append(measure(f"fixed-point δ={d} (w={a['bound']:.2e})", prog, x, ref,
                                args.shots))
            if args.double:
                rows[-1]["double"] = double_error(prog, x, ref)
    print(f"N = {args.size}, Gaussian W and b, FABLE with the sign offset, {args.rows} inputs; "
          f"p: measured on qsim (mean) / predicted")
    head = "| amplification | p measured | p predicted | queries | CNOTs | depth | T | T × 1/p " \
           "| rel. error | qsim s |" + (" mean SE(y) |" if args.shots else "") \
        + (" rel. error, complex128 |" if args.double else "")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        p = r["p_meas"] if r["p_meas"] is not None else r["p_pred"]
        cells = [r["label"], "–" if r["p_meas"] is None else f"{r['p_meas']:.4f}",
                 f"{r['p_pred']:.4f}", str(r["queries"]), f"{r['cnots']:.3g}",
                 f"{r['depth']:.3g}", f"{r['t']:.3g}", f"{r['t'] / p:.3g}",
                 "–" if r["err"] is None else f"{r['err']:.1e}",
                 "–" if r["seconds"] is None else f"{r['seconds']:.1f}"]
        if args.shots:
            cells.append("–" if r["se"] is None else f"{r['se']:.3g}")
        if args.double:
            cells.append(f"{r['double']:.1e}" if "double" in r else "–")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
