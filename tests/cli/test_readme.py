"""The README is the manual: its commands must be the ones CI runs, and they must work."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from qlower.cli import main
from qlower.passes import STAGES, registered_passes

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _bash_blocks() -> list[list[str]]:
    return [b.strip().splitlines() for b in re.findall(r"```bash\n(.*?)```", README, re.S)]


def test_quick_start_has_the_two_setup_commands() -> None:
    install_and_run, install_and_test = _bash_blocks()[:2]
    assert install_and_run[-1] == (
        "pip install -e . && qlower run examples/mlp.onnx --inputs examples/mlp_inputs.npz "
        "--backend qsim --check"
    )
    assert install_and_test == ["pip install -e '.[test]' && python -m pytest"]


def test_ci_runs_the_readme_commands() -> None:
    install, test = _bash_blocks()[1][0].split(" && ")
    ci_lines = [line.strip() for line in CI.splitlines() if not line.strip().startswith("#")]
    assert install in ci_lines
    assert test in ci_lines


def test_quick_start_command_works(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["run", "examples/mlp.onnx", "--inputs", "examples/mlp_inputs.npz", "--backend",
                 "qsim", "--check"])
    out = capsys.readouterr().out
    assert code == 0
    block = re.search(r"The first command prints:\n\n```\n(.*?)```", README, re.S).group(1)
    # qsim simulates in single precision: the last digits depend on the cirq/qsim release
    number = r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?"
    assert re.sub(number + r"\s*", "# ", out) == re.sub(number + r"\s*", "# ", block)
    got = [float(v) for v in re.findall(number, out.split("check against")[0])]
    shown = [float(v) for v in re.findall(number, block.split("check against")[0])]
    assert np.allclose(got, shown, rtol=0, atol=1e-5)
    assert re.search(r"probs: max abs error \S+, max rel error \S+: ok", out)


def test_quick_start_compile_table(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["compile", "examples/mlp.onnx", "--target", "qasm3", "-o", str(tmp_path / "mlp")])
    out = capsys.readouterr().out
    assert code == 0
    shown = re.search(r"prints what each kernel costs:\n\n```\n(.*?)```", README, re.S).group(1)
    assert out.replace(str(tmp_path / "mlp"), "build/mlp") == shown


def test_readme_pass_table_matches_the_registry() -> None:
    table = set(re.findall(r"^\| `([a-z-]+)(?:\{[^}]*\})?` \|", README, re.M))
    assert table == set(registered_passes())


def test_readme_states_the_canonical_pipeline() -> None:
    assert f"`{STAGES['canonical']}`" in README


def test_cost_model_example_is_what_explain_prints(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    block = re.search(r"\n\$ (qlower estimate examples/mlp.onnx --explain[^\n]*)\n(.*?)```",
                      README, re.S)
    code = main(block.group(1).split()[1:])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    for line in block.group(2).splitlines():  # every shown line, up to where it is cut short
        shown = line.split("; ...")[0].rstrip(".").rstrip()
        if shown:
            assert any(o.startswith(shown) for o in out), line
