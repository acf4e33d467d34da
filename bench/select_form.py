"""Bias and sign offset of power-of-two-wide layers: input columns against the selector qubit.

For Gemm layers of width W (random Gaussian weights / √W, a bias, the sign offset on), the
kernel ``qlower estimate`` predicts with ``--carry columns`` (``[W | b | κ1]`` on
``[x; 1; t]``: 2W columns after padding) and with ``--carry select`` (the block of W alone
beside a selector qubit): qubits, CNOTs, the success probability averaged over unit inputs
and CNOTs per successful shot (CNOTs / p). Counts are exact (tests/e2e/test_select_form.py
checks them against the built circuits); nothing here is timed.

    python bench/select_form.py                 # W = 16 ... 1024, methods auto and fable
    python bench/select_form.py --widths 16 64 --methods fable
    python bench/select_form.py --widths 16 64 --shots 100000   # standard errors at equal shots
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qlower  # noqa: E402

H, VI, T = onnx.helper, onnx.helper.make_tensor_value_info, onnx.TensorProto


def gemm(path: Path, W: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    inits = [onnx.numpy_helper.from_array(
        (rng.standard_normal((W, W)) / np.sqrt(W)).astype(np.float32), "w"),
        onnx.numpy_helper.from_array((0.1 * rng.standard_normal(W)).astype(np.float32), "b")]
    node = H.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)
    graph = H.make_graph([node], "gemm", [VI("x", T.FLOAT, [1, W])], [VI("y", T.FLOAT, [1, W])],
                         inits)
    onnx.save(H.make_model(graph, opset_imports=[H.make_opsetid("", 18)]), path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 64, 256, 1024])
    ap.add_argument("--methods", nargs="+", default=["auto", "fable"])
    ap.add_argument("--shots", type=int, default=0,
                    help="also run each form on qsim with this many shots per row (widths <= 64) "
                    "and print the standard error of y it states and the spread of --repeats runs")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    if args.shots:
        return shots_table(args)
    print("| W | method | carry | qubits | CNOTs | p (mean) | CNOTs / p | CNOTs ratio |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for W in args.widths:
            path = Path(tmp) / f"gemm{W}.onnx"
            gemm(path, W)
            for method in args.methods:
                rows = {}
                for carry in ("columns", "select"):
                    (k,) = qlower.estimate(path, method=method, carry=carry).kernels
                    rows[carry] = k
                base = rows["columns"].resources.cnots
                for carry, k in rows.items():
                    r, p = k.resources, k.success_probability
                    print(f"| {W} | {k.method} | {carry} | {r.qubits} | {r.cnots} | {p:.3g} | "
                          f"{r.cnots / p:.3g} | {r.cnots / base:.3f} |")
                sys.stdout.flush()
    return 0


def shots_table(args) -> int:
    """The same shots through both forms: the standard error each states (median over the
    outputs, relative to max|y|) and the spread of repeated seeded runs."""
    print(f"| W | method | carry | CNOTs | stated SE / max|y| | spread / stated SE | "
          f"({args.shots} shots, {args.repeats} runs) |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        for W in [w for w in args.widths if w <= 64]:
            path = Path(tmp) / f"gemm{W}.onnx"
            gemm(path, W)
            x = {"x": rng.standard_normal((1, W)).astype(np.float32)}
            for method in args.methods:
                for carry in ("columns", "select"):
                    program = qlower.compile(path, "cirq", method=method, carry=carry)
                    runs = [program.run(x, shots=args.shots, seed=s) for s in range(args.repeats)]
                    ys = np.stack([r["y"][0] for r in runs]).astype(np.float64)
                    se = np.stack([r.std_errors["y"][0] for r in runs])
                    scale = float(np.max(np.abs(ys.mean(axis=0))))
                    ratio = np.median(ys.std(axis=0, ddof=1) / se.mean(axis=0))
                    k = program.kernels[0]
                    print(f"| {W} | {k.method} | {carry} | {k.resources().cnots} | "
                          f"{np.median(se) / scale:.3g} | {ratio:.2f} | |")
                    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
