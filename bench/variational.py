"""Variational lowering (qlower.blocks.variational): fidelity and fit time against the layer count.

    python bench/variational.py [--seeds S] [--quick] [--only-calibration] [--json OUT]

Table 1, state preparation: for n = 2…5 qubits and L around the parameter-count threshold
L* = ⌈D/2n⌉ − 1 (D = 2^{n+1} − 2 real parameters of a state up to phase), S Haar-random
targets (seeded); the median fidelity |⟨t|U|0⟩|², the worst one, and the median fit time.
Table 2, layer maps: Gaussian W (4×4: 2 data qubits, 8×8: 3) with one flag qubit, α = ‖W‖₂,
Frobenius fit (basis inputs) and a fit on N/2 random calibration rows; fidelity F of the stacked
outputs, scale/α and the relative output error √(1 − F), for each L. The count estimate
L_c is the first L with P = 2q(L + 1) ≥ 2·2^n·k − 1 (k inputs, a complex 2^n×k block up to a
phase). Table 3, unitaries (n = 2, 3): F = |Tr V†U|²/d², L* from D = 4^n − 1.
Every fit: ``fit(problem, L, seed=0)`` (4 L-BFGS starts at most, stopping at F ≥ 1 − 1e-10).

Table 4, calibration fits (``--strategy variational --calibration X.npz``): a biased M×N Gemm
whose inputs x = z·B have k latent factors (z, B Gaussian, seeded); 64 calibration rows (every
fourth held out) against the block fit (basis inputs), both at ``--min-fidelity 0.999``: the
layers L and CZs each needs, the fidelities F (fit rows) and F_h (held-out rows), and the
relative error E of the kernel's outputs W''x̂'' that qsim gives against onnxruntime on the
held-out rows and on 64 fresh rows of the same distribution, beside √(1 − F_h) (E ≤ √(1 − F)
on a set of rows, equal when the fit's residual is real and in the M rows read); ``max|err|``
is ``run --backend qsim --check``'s max abs error on the fresh rows. Then the MLP
``tests/models/mlp_mse_opset18.onnx`` (x: 5, 7 → relu → 3, MSE loss) with its first layer
variational, fitted on 64 calibration rows of 2 latent factors: the loss's relative error on
fresh rows.
Table 5, variational state preparation (``--prep variational``): n = 2…5 qubits, L* and L* − 1
layers, 8 Gaussian rows per n: the per-row fidelity (min, median), the fit time per row, the
state's CZs and depth against the symbolic Möttönen circuit's CNOTs and depth; then a biased
2×7 Gemm (n = 4) whose kernel's FABLE block follows either preparation: total CNOTs and the
qsim check error against onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time

import numpy as np
import scipy

from qlower.blocks.variational import LayerMap, StatePrep, fit


def haar_state(d, rng):
    z = rng.normal(size=d) + 1j * rng.normal(size=d)
    return z / np.linalg.norm(z)


def haar_unitary(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def threshold(d_params, q):
    return math.ceil(d_params / (2 * q)) - 1


def state_table(seeds, ns):
    rows = []
    print("\n1. State preparation, Haar-random targets: median (min) fidelity, median fit time")
    print(f"{'n':>2} {'L':>3} {'P':>4} {'D':>4}  {'median F':>12} {'min F':>12} {'1-F med':>9} "
          f"{'time s':>7}")
    for n in ns:
        d = (1 << (n + 1)) - 2
        lstar = threshold(d, n)
        targets = [haar_state(1 << n, np.random.default_rng([n, s])) for s in range(seeds)]
        for layers in range(max(0, lstar - 2), lstar + 2):
            fits = [fit(StatePrep(t), layers, seed=0) for t in targets]
            fid = np.array([f.fidelity for f in fits])
            secs = float(np.median([f.seconds for f in fits]))
            mark = " <- L*" if layers == lstar else ""
            print(f"{n:>2} {layers:>3} {2 * n * (layers + 1):>4} {d:>4}  {np.median(fid):>12.9f} "
                  f"{fid.min():>12.9f} {1 - np.median(fid):>9.1e} {secs:>7.2f}{mark}")
            rows.append({"n": n, "L": layers, "P": 2 * n * (layers + 1), "D": d,
                         "median_fidelity": float(np.median(fid)), "min_fidelity": float(fid.min()),
                         "median_seconds": secs})
    return rows


def layer_table(sizes, max_layers):
    rows = []
    print("\n2. Layer maps, Gaussian W, 1 flag, alpha = ||W||_2: fidelity vs L")
    print(f"{'W':>5} {'inputs':>9} {'q':>2} {'L':>3} {'P':>4} {'L_c':>4}  {'F':>12} "
          f"{'scale/a':>8} {'error':>9} {'time s':>7}")
    for m in sizes:
        rng = np.random.default_rng(m)
        w = rng.normal(size=(m, m))
        n = (m - 1).bit_length()
        for label, x in (("basis", None), (f"{m // 2} rows", rng.normal(size=(m // 2, m)))):
            k = m if x is None else m // 2
            prob = LayerMap(w, x, n_flags=1)
            q = prob.n_qubits
            lc = threshold(2 * (1 << n) * k - 1, q)
            for layers in range(1, max_layers[m] + 1):
                f = fit(prob, layers, seed=0)
                print(f"{m}x{m:<3} {label:>9} {q:>2} {layers:>3} {2 * q * (layers + 1):>4} "
                      f"{lc:>4}  {f.fidelity:>12.9f} {f.scale / prob.alpha:>8.4f} "
                      f"{f.error:>9.1e} {f.seconds:>7.2f}")
                rows.append({"W": f"{m}x{m}", "inputs": label, "q": q, "L": layers,
                             "L_c": lc, "fidelity": f.fidelity, "scale_over_alpha":
                             f.scale / prob.alpha, "error": f.error, "seconds": f.seconds})
                if f.fidelity >= 1 - 1e-9:
                    break
    return rows


def unitary_table(seeds, cases):
    rows = []
    print("\n3. Unitaries, Haar-random V: median fidelity |Tr V^dag U|^2/d^2")
    print(f"{'n':>2} {'L':>3} {'P':>4} {'D':>4}  {'median F':>12} {'time s':>7}")
    for n, layer_range in cases:
        d = 4**n - 1
        targets = [haar_unitary(1 << n, np.random.default_rng([100 + n, s]))
                   for s in range(seeds)]
        for layers in layer_range:
            fits = [fit(LayerMap.unitary(v), layers, seed=0) for v in targets]
            fid = float(np.median([f.fidelity for f in fits]))
            secs = float(np.median([f.seconds for f in fits]))
            mark = " <- L*" if layers == threshold(d, n) else ""
            print(f"{n:>2} {layers:>3} {2 * n * (layers + 1):>4} {d:>4}  {fid:>12.9f} "
                  f"{secs:>7.2f}{mark}")
            rows.append({"n": n, "L": layers, "median_fidelity": fid, "median_seconds": secs})
    return rows


def _gemm(path, M, N, batch, seed):
    import onnx

    h, vi, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(rng.standard_normal((M, N)).astype(np.float32), "w"),
             onnx.numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b")]
    g = h.make_graph([h.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], "g",
                     [vi("x", T.FLOAT, [batch, N])], [vi("y", T.FLOAT, [batch, M])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 18)])
    m.ir_version = 10
    onnx.save(m, path)


def _latent(rng, rows, k, n, basis=None):
    basis = rng.standard_normal((k, n)) if basis is None else basis
    return (rng.standard_normal((rows, k)) @ basis).astype(np.float32), basis


def _kernel_error(program, path, x, rows=None):
    """Relative error of the kernel's outputs W''x̂'' (qsim vs onnxruntime) over ``rows``."""
    from qlower.api import onnxruntime_outputs
    from qlower.backends.reference import interpret

    g = program.graph
    _, vals = interpret(g, x)
    s = vals[next(op for op in g.ops if op.name == "host.norm").result().name]
    t = vals[next(op for op in g.ops if op.name == "host.offset").result().name]
    kappa = next(op for op in g.ops if op.name == "host.rescale").attr("shift")
    ref = onnxruntime_outputs(path, x)["y"].astype(np.float64)
    sim = program.run(x)["y"].astype(np.float64)
    rows = np.ones(len(ref), bool) if rows is None else rows
    e, want = (sim - ref) / s[:, None], (ref + kappa * t) / s[:, None]
    return (math.sqrt(np.sum(e[rows] ** 2) / np.sum(want[rows] ** 2)),
            float(np.max(np.abs(sim - ref))))


CAL_CASES = [(3, 4, 1), (3, 4, 2), (5, 6, 2)]  # (M, N, latent factors k)


def calibration_table(cases, tmp):
    import qlower
    from qlower.errors import UnsupportedError

    rows = []
    print("\n4. Calibration fits (64 rows, every 4th held out) vs the block fit, min F 0.999")
    print(f"{'W':>5} {'k':>2} {'L blk':>5} {'CZ':>3} {'L cal':>5} {'CZ':>3} {'F':>9} {'F_h':>9} "
          f"{'sqrt(1-F_h)':>11} {'E held':>9} {'E fresh':>9} {'max|err|':>9} {'fit s':>6}")
    for M, N, k in cases:
        path = os.path.join(tmp, f"g{M}x{N}k{k}.onnx")
        _gemm(path, M, N, 64, seed=M * 10 + N)
        rng = np.random.default_rng([M, N, k])
        x, basis = _latent(rng, 64, k, N)
        fresh, _ = _latent(rng, 64, k, N, basis)
        cal = os.path.join(tmp, f"cal{M}x{N}k{k}.npz")
        np.savez(cal, x=x)
        try:
            blk = qlower.compile(path, "cirq", strategy="variational").estimate().kernels[0]
            blk_l, blk_cz = blk.approximation["layers"], blk.resources.cnots
        except UnsupportedError:  # no L <= 12 reaches 0.999 on the whole block
            blk_l, blk_cz = ">12", "-"
        t0 = time.perf_counter()
        prog = qlower.compile(path, "cirq", strategy="variational", calibration=cal)
        secs = time.perf_counter() - t0
        (kc,) = prog.estimate().kernels
        a = kc.approximation
        held = np.arange(64) % 4 == 3
        e_held, _ = _kernel_error(prog, path, {"x": x}, held)
        e_fresh, max_err = _kernel_error(prog, path, {"x": fresh})
        pred = math.sqrt(max(0.0, 1 - a["held_out_fidelity"]))
        print(f"{M}x{N:<3} {k:>2} {blk_l:>5} {blk_cz:>3} "
              f"{a['layers']:>5} {kc.resources.cnots:>3} {a['fidelity']:>9.6f} "
              f"{a['held_out_fidelity']:>9.6f} {pred:>11.4f} {e_held:>9.4f} {e_fresh:>9.4f} "
              f"{max_err:>9.2e} {secs:>6.1f}")
        rows.append({"W": f"{M}x{N}", "k": k, "block_layers": blk_l,
                     "block_cz": blk_cz, "layers": a["layers"],
                     "cz": kc.resources.cnots, "fidelity": a["fidelity"],
                     "held_out_fidelity": a["held_out_fidelity"], "predicted": pred,
                     "error_held": e_held, "error_fresh": e_fresh, "max_abs_error": max_err,
                     "seconds": secs})
    return rows


def mlp_row(tmp):
    import qlower
    from qlower.api import onnxruntime_outputs

    model = os.path.join(os.path.dirname(__file__), "..", "tests", "models",
                         "mlp_mse_opset18.onnx")
    rng = np.random.default_rng(7)
    x, basis = _latent(rng, 64, 2, 5)
    fresh, _ = _latent(rng, 64, 2, 5, basis)
    t = rng.standard_normal((64, 3)).astype(np.float32)
    cal = os.path.join(tmp, "mlp_cal.npz")
    np.savez(cal, x=x, t=t)
    prog = qlower.compile(qlower.load(model, sizes={"batch": 64}), "cirq",
                          overrides={"node_linear": "variational"}, calibration=cal)
    k = next(k for k in prog.estimate().kernels if k.method == "variational")
    a = k.approximation
    inputs = {"x": fresh, "t": t}
    out = prog.graph.outputs[0]
    ref = onnxruntime_outputs(model, inputs)[out].astype(np.float64)
    got = prog.run(inputs)[out].astype(np.float64)
    rel = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    print(f"\nMLP mlp_mse_opset18 (node_linear variational, 2 latent factors): L = "
          f"{a['layers']}, F = {a['fidelity']:.6f}, F_h = {a['held_out_fidelity']:.6f}, loss "
          f"relative error on fresh rows {rel:.2e} (sqrt(1 - F_h) = "
          f"{math.sqrt(max(0, 1 - a['held_out_fidelity'])):.2e})")
    return {"layers": a["layers"], "fidelity": a["fidelity"],
            "held_out_fidelity": a["held_out_fidelity"], "loss_relative_error": rel}


def prep_table(ns, tmp):
    import qlower
    from qlower.api import onnxruntime_outputs
    from qlower.blocks.amplitude import amplitude_encoding
    from qlower.blocks.circuits import count_resources
    from qlower.blocks.variational import prep_angles, prep_resources, state_layers
    from qlower.passes.variational_prep import prep_fidelities

    rows = []
    print("\n5. Variational state preparation, 8 Gaussian rows per n: per-row fidelity, fit time,"
          " CZ/depth vs Moettonen")
    print(f"{'n':>2} {'L':>3} {'min F':>12} {'median F':>12} {'s/row':>6} {'CZ':>4} {'depth':>5} "
          f"{'Mott CX':>7} {'Mott depth':>10}")
    for n in ns:
        x = np.random.default_rng(n).standard_normal((8, 1 << n))
        m = amplitude_encoding(size=1 << n)  # the symbolic Möttönen circuit, counted
        mot = count_resources(m.circuit, m.qubits)
        for layers in (state_layers(n) - 1, state_layers(n)):
            if layers < 0:
                continue
            t0 = time.perf_counter()
            _, fid = prep_angles(x, layers)
            per = (time.perf_counter() - t0) / len(x)
            r = prep_resources(n, layers)
            mark = " <- L*" if layers == state_layers(n) else ""
            print(f"{n:>2} {layers:>3} {fid.min():>12.9f} {np.median(fid):>12.9f} {per:>6.2f} "
                  f"{r.cnots:>4} {r.depth:>5} {mot.cnots:>7} {mot.depth:>10}{mark}")
            rows.append({"n": n, "L": layers, "min_fidelity": float(fid.min()),
                         "median_fidelity": float(np.median(fid)), "seconds_per_row": per,
                         "cz": r.cnots, "depth": r.depth, "mottonen_cnots": mot.cnots,
                         "mottonen_depth": mot.depth})
    path = os.path.join(tmp, "prep2x7.onnx")
    _gemm(path, 2, 7, 8, seed=3)
    x = {"x": np.random.default_rng(3).standard_normal((8, 7)).astype(np.float32)}
    ref = onnxruntime_outputs(path, x)["y"]
    print(f"\n{'2x7 Gemm + bias, FABLE':<26} {'CNOTs':>6} {'depth':>6} {'min F':>12} "
          f"{'max|err|/max|y|':>15}")
    out = {}
    for prep in ("mottonen", "variational"):
        prog = qlower.compile(path, "cirq", method="fable", carry="columns", prep=prep)
        (k,) = prog.kernels
        err = float(np.max(np.abs(prog.run(x)["y"] - ref)) / np.max(np.abs(ref)))
        fids = prep_fidelities(prog.graph, x)
        fmin = float(min(f.min() for f in fids.values())) if fids else 1.0
        print(f"{prep:<26} {k.resources().cnots:>6} {k.resources().depth:>6} {fmin:>12.9f} "
              f"{err:>15.2e}")
        out[prep] = {"cnots": k.resources().cnots, "depth": k.resources().depth,
                     "min_fidelity": fmin, "relative_error": err}
    return {"rows": rows, "kernel": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="n <= 4, 4x4 only, n = 2 unitaries")
    ap.add_argument("--json", help="also write every number here")
    ap.add_argument("--only-calibration", action="store_true",
                    help="tables 4 and 5 only (calibration fits, state preparation)")
    args = ap.parse_args()
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, python {platform.python_version()}"
          f", {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, seeds {args.seeds}")
    t0 = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="qlower-bench-var-")
    if args.only_calibration:
        out = {"calibration": calibration_table(CAL_CASES[:1] if args.quick else CAL_CASES,
                                                tmp),
               "mlp": mlp_row(tmp), "prep": prep_table([2, 3, 4] if args.quick else [2, 3, 4, 5],
                                                       tmp)}
        print(f"\ntotal {time.perf_counter() - t0:.0f} s")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(out, fh, indent=1)
        return
    out = {"state": state_table(args.seeds, [2, 3, 4] if args.quick else [2, 3, 4, 5]),
           "layer": layer_table([4] if args.quick else [4, 8], {4: 8, 8: 18}),
           "unitary": unitary_table(args.seeds, [(2, range(1, 5))] if args.quick else
                                    [(2, range(1, 5)), (3, range(8, 12))]),
           "calibration": calibration_table(CAL_CASES[:1] if args.quick else CAL_CASES, tmp),
           "mlp": mlp_row(tmp),
           "prep": prep_table([2, 3, 4] if args.quick else [2, 3, 4, 5], tmp)}
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
