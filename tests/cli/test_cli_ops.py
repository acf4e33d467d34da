"""``qlower ops``: every registered op with its operands, results, attributes and summary."""

from __future__ import annotations

import re

from qlower.cli import main
from qlower.ir.opdef import ABSENT, REQUIRED, registered_ops


def run_ops(capsys, *argv) -> tuple[int, str, str]:
    status = main(["ops", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_every_op_once_with_its_slots_attributes_and_summary(capsys):
    status, out, err = run_ops(capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    specs, summaries = lines[0::2], lines[1::2]
    ops = registered_ops()
    assert len(specs) == len(ops) and len(ops) > 80
    for spec, summary, (name, d) in zip(specs, summaries, ops.items()):
        m = re.fullmatch(r"(\S+)\((.*?)\) -> ([^{]*?)(?: \{(.*)\})?", spec)
        assert m, spec
        assert m.group(1) == name
        assert m.group(2) == ", ".join(d.operands)
        assert m.group(3) == ", ".join(d.results)
        attrs = dict(a.split(": ", 1) for a in re.split(r", (?=\w+: )", m.group(4))) if m.group(4) else {}
        assert list(attrs) == list(d.attrs), name
        for key, a in d.attrs.items():
            text = attrs[key]
            assert text.startswith(a.kind)
            assert text.endswith("?") == (a.default is ABSENT)
            assert (" = " in text) == (a.default is not REQUIRED and a.default is not ABSENT)
        assert summary == "    " + type(d).__doc__.strip().splitlines()[0]


def test_exact_lines(capsys):
    _, out, _ = run_ops(capsys, "q.block.fable")
    assert out == ("q.block.fable(state, W) -> output {alpha: float, threshold: float = 0.0}\n"
                   "    FABLE: one multiplexed rotation per entry; alpha = max|W_ij|·2^((m+n)/2). "
                   "Qubits [a] + R (m) + C (n).\n")
    _, out, _ = run_ops(capsys, "nn.linear")
    assert out.splitlines()[0] == ("nn.linear(input, weight, bias?) -> output {strategy: str in "
                                   '("block-encoding", "amplitude-encoding", "variational", '
                                   '"host")?, method: str?, amplify: str in ("none", '
                                   '"fixed-point", "qsvt")?}')
    _, out, _ = run_ops(capsys, "onnx.Split")
    assert out.splitlines()[0] == ("onnx.Split(input, split?) -> outputs* {axis: int = 0, "
                                   "num_outputs: int?}")


def test_prefix_selects_a_dialect(capsys):
    status, out, _ = run_ops(capsys, "host.")
    names = [line.split("(")[0] for line in out.splitlines()[0::2]]
    assert status == 0 and names == sorted(n for n in registered_ops() if n.startswith("host."))


def test_unknown_prefix(capsys):
    status, out, err = run_ops(capsys, "zz")
    assert status == 2 and out == ""
    assert err == "error: no op name starts with 'zz' (dialects: host, nn, onnx, q)\n"
