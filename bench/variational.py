"""Variational lowering (qlower.blocks.variational): fidelity and fit time against the layer count.

    python bench/variational.py [--seeds S] [--quick] [--json OUT]

Table 1, state preparation: for n = 2…5 qubits and L around the parameter-count threshold
L* = ⌈D/2n⌉ − 1 (D = 2^{n+1} − 2 real parameters of a state up to phase), S Haar-random
targets (seeded); the median fidelity |⟨t|U|0⟩|², the worst one, and the median fit time.
Table 2, layer maps: Gaussian W (4×4: 2 data qubits, 8×8: 3) with one flag qubit, α = ‖W‖₂,
Frobenius fit (basis inputs) and a fit on N/2 random calibration rows; fidelity F of the stacked
outputs, scale/α and the relative output error √(1 − F), for each L. The count estimate
L_c is the first L with P = 2q(L + 1) ≥ 2·2^n·k − 1 (k inputs, a complex 2^n×k block up to a
phase). Table 3, unitaries (n = 2, 3): F = |Tr V†U|²/d², L* from D = 4^n − 1.
Every fit: ``fit(problem, L, seed=0)`` (4 L-BFGS starts at most, stopping at F ≥ 1 − 1e-10).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="n <= 4, 4x4 only, n = 2 unitaries")
    ap.add_argument("--json", help="also write every number here")
    args = ap.parse_args()
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, python {platform.python_version()}"
          f", {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, seeds {args.seeds}")
    t0 = time.perf_counter()
    out = {"state": state_table(args.seeds, [2, 3, 4] if args.quick else [2, 3, 4, 5]),
           "layer": layer_table([4] if args.quick else [4, 8], {4: 8, 8: 18}),
           "unitary": unitary_table(args.seeds, [(2, range(1, 5))] if args.quick else
                                    [(2, range(1, 5)), (3, range(8, 12))])}
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
