"""A variational layer fitted to the rows its input takes on calibration inputs
(``--calibration X.npz``, the one flag lower-quantum's activation bounds read too): the fit's
reported fidelities (on the fitted rows and on the held-out ones) bound the error a run shows
against onnxruntime on those rows; a fit below --min-fidelity is refused in one line."""

from __future__ import annotations

import argparse
import math

import numpy as np
from util import assert_refused, cli, save_biased_gemm

import qlower
from qlower.api import onnxruntime_outputs
from qlower.backends import run_graph


def gemm(tmp_path, M, N, batch, dim, seed=0):
    """A biased Gemm and calibration rows x that span a ``dim``-dimensional subspace."""
    rng = np.random.default_rng(seed)
    path = save_biased_gemm(tmp_path / "v.onnx", rng, M, N, batch)
    x = (rng.standard_normal((batch, dim)) @ rng.standard_normal((dim, N))).astype(np.float32)
    cal = tmp_path / "cal.npz"
    np.savez(cal, x=x)
    return path, cal, {"x": x}


def stacked_error(program, path, x, y, rows):
    """√(Σ_b ‖y_b − y*_b‖²/s_b² / Σ_b ‖y*_b + κt_b‖²/s_b²) over ``rows``: the relative error of
    the kernel's outputs W''x̂''_b (y* onnxruntime's, s_b = ‖x''_b‖ the host's norm, t_b its
    offset)."""
    from qlower.backends.reference import interpret

    g = program.graph
    _, vals = interpret(g, x)
    s = vals[next(op for op in g.ops if op.name == "host.norm").result().name]
    t = vals[next(op for op in g.ops if op.name == "host.offset").result().name]
    kappa = next(op for op in g.ops if op.name == "host.rescale").attr("shift")
    ref = onnxruntime_outputs(path, x)["y"].astype(np.float64)
    e = (y - ref) / s[:, None]
    want = (ref + kappa * t) / s[:, None]
    return math.sqrt(np.sum(e[rows] ** 2) / np.sum(want[rows] ** 2))


def test_one_calibration_flag_reaches_both_passes():
    from qlower.passes.lower_linear import LowerLinear
    from qlower.passes.lower_quantum import LowerQuantum
    from qlower.passes.options import add_flags, options_from_args, split_keywords
    from qlower.program import lowering_passes

    p = argparse.ArgumentParser()
    add_flags(p, lowering_passes())  # a second --calibration would raise here
    args = p.parse_args(["--calibration", "c.npz"])
    split = split_keywords(lowering_passes(), options_from_args(args, lowering_passes()))
    assert split[LowerLinear]["calibration"] == split[LowerQuantum]["calibration"] == "c.npz"


def test_calibrated_fit_bounds_the_run_error_on_fit_and_held_out_rows(tmp_path):
    """16 rows (>= 2 x the 4 augmented columns): every fourth is held out. The relative error of
    the kernel's outputs on a set of rows is ‖Re r‖/‖Y‖ <= ‖r‖/‖Y‖ = √(1 − F) (r the residual
    of the fit's scale·e^{iφ}·A against Y = W''x̂''; the read-out keeps the real part of the M
    read rows), with equality when the residual lies there — as it does for this 2x2 layer."""
    path, cal, x = gemm(tmp_path, 2, 2, batch=16, dim=2)
    program = qlower.compile(path, "cirq", strategy="variational", calibration=str(cal),
                             layers=2, min_fidelity=0.5)
    (k,) = program.estimate().kernels
    a = k.approximation
    assert (a["layers"], a["rows"]) == (2, 12)
    assert 0.95 < a["fidelity"] < 1 and 0.95 < a["held_out_fidelity"] < 1
    fit_rows, held = np.arange(16) % 4 != 3, np.arange(16) % 4 == 3
    ref = run_graph(program.graph, x)["y"].astype(np.float64)  # the fitted circuit, exactly
    sim = program.run(x)["y"].astype(np.float64)  # qsim
    for y, slack in ((ref, 1e-9), (sim, 1e-4)):
        for rows, fid in ((fit_rows, a["fidelity"]), (held, a["held_out_fidelity"])):
            want = math.sqrt(1 - fid)
            got = stacked_error(program, path, x, y, rows)
            assert 0.9 * want - slack <= got <= want + slack, (got, want)


def test_calibration_rows_without_enough_for_a_held_out_set(tmp_path):
    path, cal, x = gemm(tmp_path, 2, 2, batch=6, dim=1)
    program = qlower.compile(path, "cirq", strategy="variational", calibration=str(cal),
                             layers=1, min_fidelity=0.5)
    (k,) = program.estimate().kernels
    assert k.approximation["rows"] == 6 and "held_out_fidelity" not in k.approximation


def test_a_calibrated_fit_below_min_fidelity_is_refused(tmp_path, capsys):
    path, cal, _ = gemm(tmp_path, 2, 2, batch=16, dim=2)
    code, _, err = cli(capsys, "estimate", str(path), "--strategy", "variational", "--layers",
                       "1", "--calibration", str(cal))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {path}: node 'fc': variational fit: fidelity 0.")
    assert " on 12 calibration rows, 0." in err
    assert err.endswith(" on 4 held-out rows at L = 1 (best L = 1) is below --min-fidelity "
                        "0.999\n")


def test_a_calibration_file_that_does_not_fit_is_named(tmp_path, capsys):
    path, _, _ = gemm(tmp_path, 2, 2, batch=16, dim=2)
    np.savez(tmp_path / "bad.npz", x=np.zeros((10, 2), np.float32))
    assert_refused(capsys, ["estimate", path, "--strategy", "variational", "--calibration",
                            tmp_path / "bad.npz"],
                   f"{path}: --calibration {tmp_path / 'bad.npz'}: input 'x' has shape [10, 2]; "
                   "the model expects dimension 0 to be 16")
