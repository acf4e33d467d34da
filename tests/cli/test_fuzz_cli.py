"""A seeded, bounded mutation fuzz of the command line (a sample of ``tests/fuzz_cli.py``).

Seeds: the shipped example, small models of tests/models/, models with Gemm attributes, a
constant Gather index and external data, and IR dumps of the mlp and Gemm models at every
stage, with and without their weights. Each case mutates one seed file and runs one real
command (inspect, compile, run on both backends, estimate) in-process; a few run as real
processes. Every case must exit 0, 1 or 2, print no Python warning, and fail (if it fails)
with exactly one line ``error: ...`` that names a file of its command line. The cases are the
same on every run (fixed seeds); the whole file takes about a minute on two cores.

The full-size run: ``python tests/fuzz_cli.py --cases 7000 --kind onnx`` (and ``ir``, ``npz``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzz_cli import Case, build_corpus, generate, judge, run_cases, run_subprocess

SEEDS = ("mlp", "gemm", "gather", "external", "sdpa_causal_dynamo_opset23", "mlp_mse_opset23")
IR_SEEDS = ("mlp", "gemm")
CASES = {"onnx": 400, "ir": 400, "npz": 150}
SEED = 20261202


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    cwd = os.getcwd()
    os.chdir(folder)  # relative paths, as a user types them
    try:
        yield build_corpus(Path("."), SEEDS, IR_SEEDS)
    finally:
        os.chdir(cwd)


def describe(cases: list[Case]) -> str:
    return "\n".join(f"{c.kind} {c.seed} [{c.mutation}] qlower {' '.join(c.argv)}: "
                     f"{', '.join(c.problems)}: {c.outcome.stderr.strip()[-300:]}" for c in cases)


@pytest.mark.parametrize("kind", list(CASES))
def test_mutations(corpus, kind):
    cwd = os.getcwd()
    os.chdir(corpus.folder)
    try:
        done = run_cases(generate(kind, corpus, Path("."), SEED, CASES[kind]), timeout=120)
    finally:
        os.chdir(cwd)
    bad = [c for c in done if c.problems]
    assert not bad, f"{len(bad)} of {len(done)} cases:\n{describe(bad)}"
    statuses = {c.outcome.status for c in done}
    assert statuses <= {0, 1, 2} and {0, 2} <= statuses  # the sample exercises both ways


def test_real_processes(corpus):
    """A failing case of each kind again as a real process: the one-line
    stderr and the absence of warnings hold for what a user sees too (C libraries write to the
    process's stderr directly)."""
    cwd = os.getcwd()
    os.chdir(corpus.folder)
    try:
        picked: list[Case] = []
        for kind in CASES:
            cases = run_cases(generate(kind, corpus, Path("."), SEED + 1, 12, start=10_000), 120,
                              keep=True)
            picked.append(next(c for c in cases if c.outcome.status == 2))
        for case in picked:
            case.outcome = run_subprocess(case.argv)
            case.problems = judge(case)
    finally:
        os.chdir(cwd)
    bad = [c for c in picked if c.problems]
    assert not bad, describe(bad)
