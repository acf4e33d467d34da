"""Golden text-in/text-out tests for passes (tests/filecheck/<pass>/*.qir).

Each file is IR text with comment directives:

    // RUN: fuse-linear,dce          the pipeline to run on the graph in this file
    // CHECK: %y = nn.linear(...)    filecheck directives matched against the printed result
    // ERROR: some message           the file must fail (parse, verify or pass) with this text

The printed result must also round-trip through the parser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from filecheck.matcher import Matcher
from filecheck.options import Options

from qlower.errors import QlowerError
from qlower.ir import (
    ParseError,
    VerifyError,
    parse,
    print_graph,
    referenced_weights,
    verify_graph,
)
from qlower.passes import PassFailure, PipelineError, run_pipeline

ROOT = Path(__file__).resolve().parents[1] / "filecheck"
CASES = sorted(ROOT.glob("**/*.qir"))


def _directive(text: str, key: str) -> str | None:
    m = re.search(rf"^\s*// {key}:(.*)$", text, re.M)
    return m.group(1).strip() if m else None


@pytest.mark.parametrize("case", CASES, ids=lambda p: str(p.relative_to(ROOT)))
def test_filecheck(case: Path, tmp_path: Path) -> None:
    text = case.read_text(encoding="utf-8")
    pipeline = _directive(text, "RUN")
    assert pipeline is not None, "a golden file needs a '// RUN: <pipeline>' line"
    expected_error = _directive(text, "ERROR")
    try:
        graph = parse(text)
        verify_graph(graph)
        result = run_pipeline(graph, pipeline)
    except (ParseError, VerifyError, PassFailure, PipelineError, QlowerError) as e:
        if expected_error is None:
            raise
        assert expected_error in str(e), f"error was: {e}"
        return
    assert expected_error is None, f"expected an error containing {expected_error!r}"
    output = print_graph(result)
    assert parse(output, referenced_weights(result)) == result, "the result does not round-trip"
    out_file = tmp_path / "output.qir"
    out_file.write_text(output, encoding="utf-8")
    matcher = Matcher.from_opts(Options(match_filename=str(case), input_file=str(out_file)))
    assert matcher.run() == 0, f"filecheck failed on:\n{output}"


def test_every_pass_has_golden_tests() -> None:
    from qlower.passes import registered_passes

    missing = [name for name in registered_passes() if not (ROOT / name).is_dir()]
    assert not missing, f"passes without golden tests in tests/filecheck/: {missing}"
    no_invalid = [
        name for name in registered_passes()
        if not any("// ERROR:" in p.read_text() for p in (ROOT / name).glob("*.qir"))
    ]
    assert not no_invalid, f"passes without an invalid-input golden test: {no_invalid}"
