"""Packaging: every package folder is listed in pyproject.toml, and the wheel holds every file.

``package-dir`` maps the top-level folders ``ir/``, ``passes/``, ``backends/`` into the
``qlower`` namespace. A forgotten subpackage still imports in an editable install (the folder is
on disk) and is silently missing from the wheel, so both directions are checked here.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
FOLDERS = {"qlower": "qlower", "ir": "qlower.ir", "passes": "qlower.passes",
           "backends": "qlower.backends"}
SKIP_DIRS = {"__pycache__", "build", "dist"}


def package_dirs(folder: str) -> list[Path]:
    """Folders under ``folder`` (itself included) that hold Python files, outside caches."""
    out = []
    for d in [ROOT / folder, *sorted((ROOT / folder).rglob("*"))]:
        if not d.is_dir() or SKIP_DIRS & set(d.relative_to(ROOT).parts):
            continue
        if d.name.endswith(".egg-info") or d.name.startswith("."):
            continue
        if (d / "__init__.py").is_file() or any(d.glob("*.py")):
            out.append(d)
    return out


def dotted(d: Path) -> str:
    """ir/dialects → qlower.ir.dialects (through the package-dir mapping)."""
    top, *rest = d.relative_to(ROOT).parts
    return ".".join([FOLDERS[top], *rest])


def test_package_dir_maps_the_folders() -> None:
    assert SETUPTOOLS["package-dir"] == {v: k for k, v in FOLDERS.items()}


def test_every_folder_with_python_files_is_a_package() -> None:
    missing = [str(d.relative_to(ROOT)) for f in FOLDERS for d in package_dirs(f)
               if not (d / "__init__.py").is_file()]
    assert not missing, f"folders with .py files but no __init__.py: {missing}"


def test_packages_match_the_folders() -> None:
    on_disk = {dotted(d) for f in FOLDERS for d in package_dirs(f) if (d / "__init__.py").is_file()}
    listed = set(SETUPTOOLS["packages"])
    assert sorted(on_disk - listed) == [], "package folders missing from pyproject.toml packages"
    assert sorted(listed - on_disk) == [], "pyproject.toml lists packages that have no folder"
    assert len(SETUPTOOLS["packages"]) == len(listed), "a package is listed twice"


def test_grammar_is_package_data() -> None:
    assert "*.lark" in SETUPTOOLS["package-data"]["qlower.ir"]
    assert (ROOT / "ir" / "grammar.lark").is_file()


def _wheel_build_blocker() -> str | None:
    """Why a wheel cannot be built here offline (no network, no build isolation), if so."""
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed in this environment"
    major, minor = (int(x) for x in version.split(".")[:2])
    if major < 68:
        return f"the build needs setuptools >= 68, this environment has {version}"
    if (major, minor) < (70, 1):
        try:
            importlib.metadata.version("wheel")
        except importlib.metadata.PackageNotFoundError:
            return f"setuptools {version} needs the 'wheel' package to build wheels"
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    blocker = _wheel_build_blocker()
    if blocker:
        pytest.skip(f"cannot build a wheel offline: {blocker}")
    tmp = tmp_path_factory.mktemp("wheel")
    # Build from a clean copy: an in-tree build writes build/ and *.egg-info into the checkout,
    # and a stale build/lib could hide a file that the package list misses.
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, src / name)
    out = tmp / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
           "--no-index", "--quiet", "-w", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"wheel build failed:\n{proc.stdout}\n{proc.stderr}"
    wheels = list(out.glob("qlower-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as zf:
        yield zf


def test_wheel_holds_every_source_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = {"qlower/ir/grammar.lark"}
    for folder, package in FOLDERS.items():
        for py in (ROOT / folder).rglob("*.py"):
            rel = py.relative_to(ROOT / folder)
            if SKIP_DIRS & set(rel.parts) or any(p.endswith(".egg-info") for p in rel.parts):
                continue
            expected.add("/".join([*package.split("."), *rel.parts]))
    assert sorted(expected - names) == [], "files missing from the wheel"


def test_wheel_has_no_top_level_folders(wheel: zipfile.ZipFile) -> None:
    """Only qlower/ and its metadata: never a top-level ir/, passes/ or backends/ package."""
    tops = {n.split("/", 1)[0] for n in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"qlower"}
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    assert "qlower = qlower.cli:main" in wheel.read(entry_points).decode()
