"""One transformer encoder layer, every op lowered: cost by strategy, and run time on qsim.

    python bench/encoder.py [--dims 16 32 64 128 256] [--run-dims 16 32] [--seq 8] [--repeats 3]

The layer is ``bench/estimate_bert.py``'s (onnx.helper, seeded random weights): Q, K, V and
output projections, multi-head attention (head size 8), residual adds, two LayerNormalizations,
a d → 4d → d feed-forward block with GELU. For each width d, ``qlower.estimate`` under three
strategy sets (no circuit is built):

- ``dense``: the projections and the feed-forward layers block-encoded, the rest on the host;
- ``exact``: also attention (``nn.attention=quantum``), both layer norms (``quantum``: centring)
  and both residual adds (``quantum``) — every exact lowering;
- ``all``: also GELU as a QSP polynomial (``nn.gelu=qsvt``, bound 8, relative error 1e-2).

Then, for the widths in ``--run-dims``, the ``exact`` program runs on qsim (batch 1) and is
timed against the bare simulation of the same circuits: ``QsimRunner.states`` on every kernel
with the parameters ``program.bind`` computes, no host work. The two are interleaved and
repeated; medians with their range.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

import qlower

HERE = Path(__file__).resolve().parent
STRATEGIES = {
    "dense": {},
    "exact": {"nn.attention": "quantum", "nn.layer_norm": "quantum", "nn.add": "quantum"},
}
STRATEGIES["all"] = {**STRATEGIES["exact"], "nn.gelu": "qsvt"}


def encoder_layer(d: int, seq: int) -> onnx.ModelProto:
    spec = importlib.util.spec_from_file_location("estimate_bert", HERE / "estimate_bert.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.encoder_layer(d, max(1, d // 8), 4 * d, seq)


def estimate(path: Path, name: str):
    extra = {"activation_bound": 8.0, "epsilon": 1e-2} if name == "all" else {}
    return qlower.estimate(path, overrides=STRATEGIES[name], **extra)


def bare_seconds(program, inputs) -> float:
    """The kernels' circuits alone on qsim, with the parameters the host computes."""
    from qlower.backends.qsim import QsimRunner

    bound = program.bind(inputs)
    runner = QsimRunner()
    t = time.perf_counter()
    for kc in program.kernels:
        runner.states(kc.circuit, kc.qubits, kc.resolvers(bound[kc.name]))
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--run-dims", type=int, nargs="*", default=[16, 32])
    ap.add_argument("--seq", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"encoder layer (head size 8, FFN 4d, seq {args.seq}): cost from qlower estimate")
    print(f"{'d':>4} {'strategy':8} {'kernels':>7} {'max qubits':>10} {'CNOTs':>12} "
          f"{'rotations':>12} {'depth':>12} {'on host':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for d in args.dims:
            path = Path(tmp) / f"enc{d}.onnx"
            onnx.save(encoder_layer(d, args.seq), path)
            for name in STRATEGIES:
                est = estimate(path, name)
                t = est.total
                host = sum(1 for h in est.host if h["op"] not in (
                    "nn.reshape", "nn.transpose"))  # layout ops move no data through a circuit
                print(f"{d:>4} {name:8} {len(est.kernels):>7} {t.qubits:>10} {t.cnots:>12} "
                      f"{t.rotations:>12} {t.depth:>12} {host:>7}")
        if args.run_dims:
            print(f"\nrun time, 'exact' strategies, batch 1, {args.repeats} interleaved repeats "
                  "(median, range)")
            print(f"{'d':>4} {'kernels':>7} {'qlower run (s)':>20} {'bare qsim (s)':>20} "
                  f"{'ratio':>6}")
        for d in args.run_dims:
            path = Path(tmp) / f"enc{d}.onnx"
            onnx.save(encoder_layer(d, args.seq), path)
            program = qlower.compile(path, "cirq", overrides=STRATEGIES["exact"])
            x = np.random.default_rng(d).standard_normal((1, args.seq, d)).astype(np.float32)
            ours, bare = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                program.run({"x": x})
                ours.append(time.perf_counter() - t)
                bare.append(bare_seconds(program, {"x": x}))
            mo, mb = statistics.median(ours), statistics.median(bare)
            print(f"{d:>4} {len(program.kernels):>7} "
                  f"{mo:>8.2f} ({min(ours):.2f}-{max(ours):.2f}) "
                  f"{mb:>8.2f} ({min(bare):.2f}-{max(bare):.2f}) {mo / mb:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
