"""Lint: ruff passes on the repository, and nothing imports the folders ``ir``, ``passes``,
``backends`` by their top-level names (that would load a second copy of every class; only
``qlower.ir`` etc. are the packages)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANNED = {"ir", "passes", "backends"}
SKIP = {".venv", "venv", "build", "dist", "__pycache__", ".git", ".hypothesis", ".ruff_cache",
        ".pytest_cache"}


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ruff", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def project_files() -> list[Path]:
    return sorted(
        p for p in ROOT.rglob("*.py")
        if not SKIP & set(p.relative_to(ROOT).parts)
        and not any(part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)
    )


def banned_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import whose top-level name is a banned folder name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] in BANNED]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in BANNED:
                found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and getattr(node.func, "id", getattr(node.func, "attr", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.split(".")[0] in BANNED
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_ruff_passes() -> None:
    proc = ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert proc.returncode == 0, f"ruff check failed:\n{proc.stdout}{proc.stderr}"


def test_no_top_level_folder_imports() -> None:
    files = project_files()
    assert ROOT / "ir" / "parser.py" in files and Path(__file__).resolve() in files
    bad = [
        f"{p.relative_to(ROOT)}:{line}: {module}"
        for p in files
        for line, module in banned_imports(ast.parse(p.read_bytes(), str(p)))
    ]
    assert not bad, "imports of top-level folder names (use qlower.ir etc.):\n" + "\n".join(bad)


SAMPLES = {
    "import ir": ["ir"],
    "import ir.parser": ["ir.parser"],
    "from passes import registry": ["passes"],
    "from backends.reference import run_graph": ["backends.reference"],
    "import importlib\nimportlib.import_module('passes.dce')": ["passes.dce"],
    "__import__('ir')": ["ir"],
    "import qlower.ir\nfrom qlower.passes import dce\nfrom . import ir\nimport irony": [],
}


@pytest.mark.parametrize("source", SAMPLES)
def test_ast_scan_finds_banned_imports(source: str) -> None:
    assert [m for _, m in banned_imports(ast.parse(source))] == SAMPLES[source]


def test_ruff_flags_a_top_level_import(tmp_path: Path) -> None:
    """The project's ruff config really bans these imports (TID251), and allows qlower.*."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import ir\nfrom passes import dce\nimport backends.reference\n\n"
        "print(ir, dce, backends)\n",
        encoding="utf-8",
    )
    good = tmp_path / "good.py"
    good.write_text("import qlower.ir\n\nprint(qlower.ir)\n", encoding="utf-8")
    config = str(ROOT / "pyproject.toml")
    args = ("check", "--no-cache", "--config", config, "--output-format", "concise",
            "--select", "TID251")
    proc = ruff(*args, str(bad), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    flagged = [line for line in proc.stdout.splitlines() if "TID251" in line]
    assert [line.split(":")[1] for line in flagged] == ["1", "2", "3"], proc.stdout
    assert "import qlower.ir, not the top-level folder name" in proc.stdout
    assert "import qlower.passes, not the top-level folder name" in proc.stdout
    assert "import qlower.backends, not the top-level folder name" in proc.stdout
    proc = ruff(*args, str(good), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
