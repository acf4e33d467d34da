"""The op-by-op suites cover every op the frontend imports, at the opsets that matter.

Each op needs cases at every opset from its first supported one (13, or later where ONNX
introduced it) to MAX_OPSET (or the newest the installed onnx defines); tests/frontend/test_ops_opsets.py sweeps every op over them, the other
suites go into each op's variants at the opsets where its signature changes.
"""

from __future__ import annotations

import onnx
import pytest
import test_conv
import test_ops_attention
import test_ops_chains
import test_ops_elementwise
import test_ops_linalg
import test_ops_losses
import test_ops_masks
import test_ops_opsets
import test_ops_shape
from onnx_cases import NEWEST_OPSET, ORT

from qlower.frontend.onnx_import import MIN_OPSET, SUPPORTED_OPS
from qlower.frontend.opsets import OP_VERSIONS

MODULES = (test_conv, test_ops_attention, test_ops_chains, test_ops_elementwise, test_ops_linalg,
           test_ops_losses, test_ops_masks, test_ops_shape)


def all_cases(sweep: bool = True):
    return [c for m in MODULES for c in m.CASES] + (test_ops_opsets.CASES if sweep else [])


def opset_of(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def covered() -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for c in all_cases():
        op_types = {n.op_type for n in c.model.graph.node}
        for t in op_types:
            out.setdefault(t, set()).add(opset_of(c.model))
    return out


@pytest.mark.parametrize("op_type", SUPPORTED_OPS)
def test_every_supported_op_is_covered_at_each_opset(op_type):
    first = max(MIN_OPSET, min(OP_VERSIONS[op_type]))
    wanted = set(range(first, NEWEST_OPSET + 1))
    have = covered().get(op_type, set())
    assert wanted <= have, f"{op_type}: no case at opset(s) {sorted(wanted - have)}"


def test_cases_are_checked_against_onnxruntime_where_it_can():
    ids = [c.id for c in all_cases()]
    assert len(set(ids)) == len(ids), "case ids repeat across modules"
    cases = all_cases(sweep=False)  # the sweep checks its own
    other = [c for c in cases if c.reference != ORT]
    for c in other:
        assert c.note, f"{c.id}: compares with {c.reference} without saying why"
    # the exceptions stay exceptions
    assert len(other) <= 12, [c.id for c in other]


def test_symbolic_batch_cases_run_at_two_batch_sizes():
    sym = [c for c in all_cases() if c.symbolic]
    assert len(sym) >= 10
    for c in sym:
        batches = set()
        for feeds in c.feeds:
            batches |= {a.shape[0] for a in feeds.values() if a.ndim}
        assert {1, 3} <= batches, c.id
