"""QAOA for ±1 weights (``qlower.qaoa``): approximation ratio and P(optimal) against depth p.

    python bench/qaoa.py [--instances 10] [--first 0] [--weights 8] [--samples 12] [--noise 0.5]
                         [--targets planted|gaussian] [--objective gibbs|energy|cvar]
                         [--alpha 0.5] [--eta 10] [--restarts 0]
                         [--depths 1,2,3,4,6,8] [--json OUT]

Instance k (seed k, k = first … first + instances − 1): X ~ N(0, 1) of [samples, weights]; ``planted``: t = X w* + noise·N(0, 1)
with w* uniform ±1 (a noisy binary layer); ``gaussian``: t ~ N(0, weights) (no planted row).
One optimisation per instance, depths 1…max(depths) in turn (the objective's exact gradients,
L-BFGS-B, INTERP; the figures from qsim's final states: what ``qlower qaoa`` does). Per depth: approximation ratio (C_max − ⟨C⟩)/(C_max − C_min), the
probability of the optimal rows in the final state (exact, from the state vector), whether the
best of 1024 seeded samples is optimal, objective (+ gradient) evaluations so far, CNOTs and
depth. Means over
instances, minima in brackets. "uniform" is |+>^n (p = 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))


def instance(seed: int, n: int, samples: int, noise: float, targets: str):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, n))
    if targets == "planted":
        return x, x @ rng.choice([-1.0, 1.0], n) + noise * rng.standard_normal(samples)
    return x, np.sqrt(n) * rng.standard_normal(samples)


def measure(args) -> dict:
    from qlower import qaoa

    depths = sorted({int(d) for d in args.depths.split(",")})
    rows: dict[int, list[dict]] = {p: [] for p in [0, *depths]}
    seconds = []
    for k in range(args.first, args.first + args.instances):
        start = time.perf_counter()
        x, t = instance(k, args.weights, args.samples, args.noise, args.targets)
        ising = qaoa.ising_from_data(x, t)
        d = ising.diagonal()
        bf = qaoa.brute_force(ising, d)
        levels = {lv.p: lv for lv in qaoa.optimise(
            ising, max(depths), d, args.objective, args.alpha, args.eta, args.restarts)}
        uniform = np.full(d.size, 1.0 / d.size)
        for p in [0, *depths]:
            probs = uniform if p == 0 else qaoa.probabilities(
                qaoa.qaoa_state(ising, levels[p].gammas, levels[p].betas))
            seen, _ = qaoa.sample(probs, 1024, [0, k])
            rows[p].append({
                "ratio": (bf.c_max - float(probs @ d)) / (bf.c_max - bf.c_min),
                "p_optimal": float(probs[bf.optimal].sum()),
                "found": bool(np.isin(seen[np.argmin(d[seen])], bf.optimal)),
                "evaluations": 0 if p == 0 else levels[p].evaluations,
            })
        seconds.append(time.perf_counter() - start)
    counts = {p: qaoa.circuit_counts(ising, p) for p in depths}
    return {"args": vars(args), "rows": rows, "seconds": seconds,
            "counts": {p: [c.cnots, c.depth] for p, c in counts.items()},
            "optimiser": qaoa.optimiser_name(args.restarts),
            "objective": qaoa.objective_name(args.objective, args.alpha, args.eta)}


def table(res: dict) -> str:
    a = res["args"]
    first = a.get("first", 0)
    lines = [f"QAOA, {a['instances']} instances (seeds {first}..{first + a['instances'] - 1}) of {a['weights']} weights, {a['samples']} samples, "
             f"targets {a['targets']}" + (f" (noise {a['noise']})" if a["targets"] == "planted"
                                          else ""),
             f"objective: {res.get('objective', 'energy <C>')}; optimiser: {res['optimiser']}",
             f"{np.median(res['seconds']):.1f} s per instance (median; {os.cpu_count()} CPUs)", "",
             "| p | approx. ratio | P(optimal) | optimum in 1024 shots | evaluations | CNOTs | depth |",
             "|---|---|---|---|---|---|---|"]
    for p, rs in res["rows"].items():
        ratio = [r["ratio"] for r in rs]
        popt = [r["p_optimal"] for r in rs]
        found = sum(r["found"] for r in rs)
        cost = " – | – | – |" if p == 0 else (
            f" {np.mean([r['evaluations'] for r in rs]):.0f} | {res['counts'][p][0]} | "
            f"{res['counts'][p][1]} |")
        lines.append(f"| {'uniform' if p == 0 else p} | {np.mean(ratio):.3f} ({min(ratio):.3f}) | "
                     f"{np.mean(popt):.3f} ({min(popt):.3f}) | {found}/{len(rs)} |" + cost)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--first", type=int, default=0, help="the first instance's seed")
    ap.add_argument("--weights", type=int, default=8)
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--targets", choices=["planted", "gaussian"], default="planted")
    ap.add_argument("--objective", choices=["gibbs", "energy", "cvar"], default="gibbs")
    ap.add_argument("--alpha", type=float, default=0.5, help="CVaR's tail fraction")
    ap.add_argument("--eta", type=float, default=10.0, help="Gibbs inverse temperature (1/sigma)")
    ap.add_argument("--restarts", type=int, default=0, help="seeded restarts per level")
    ap.add_argument("--depths", default="1,2,3,4,6,8")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    res = measure(args)
    sys.stdout.write(table(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
