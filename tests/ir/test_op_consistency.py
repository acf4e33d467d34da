"""One consistency check over an example of every op.

Every registered op must appear in some golden IR file (tests/golden, tests/filecheck), and
every golden graph that verifies must run on the reference backend with random inputs. The
backend checks each op's result against the type its ``infer`` declared (dtype and every
dimension), so this catches an op whose type inference and numpy semantics disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from util import random_inputs

from qlower.backends import run_graph
from qlower.errors import QlowerError
from qlower.ir import VerifyError, parse, registered_ops, verify_graph
from qlower.ir.attributes import ConstRef

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "golden").glob("*.qir")) + sorted((ROOT / "filecheck").glob("**/*.qir"))
OP_USE = re.compile(r"= ([A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_.]+)\(")


def _example_graphs():
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        if "// ERROR:" in text or "VERIFY-ERROR" in text:
            continue
        yield path, text


def test_every_op_has_an_example() -> None:
    used = set()
    for path in FILES:
        used |= set(OP_USE.findall(path.read_text(encoding="utf-8")))
    missing = sorted(set(registered_ops()) - used)
    assert not missing, f"ops with no example in the golden IR files: {missing}"


@pytest.mark.parametrize(
    "path,text", list(_example_graphs()), ids=lambda p: p.name if isinstance(p, Path) else ""
)
def test_example_runs_as_declared(path: Path, text: str) -> None:
    graph = parse(text)
    try:
        verify_graph(graph)
    except VerifyError:
        pytest.skip("the file's input is meant to be rejected by a pass or the verifier")
    if any(isinstance(c.data, ConstRef) for c in graph.constants):
        pytest.skip("constants by reference without their weights")
    integer_inputs = [v.name for v in graph.inputs if v.type.dtype.is_int]
    for seed in (0, 1):
        try:
            run_graph(graph, random_inputs(graph, seed=seed))
        except QlowerError as e:
            if integer_inputs and "evaluating" in str(e):
                pytest.skip(f"random values of {integer_inputs} are not a valid example: {e}")
            raise
