"""Layers that do not lean upward: the IR needs no circuit library, commands import what they
need, and no module imports (at its top level) one that imports it back."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# folder in the source tree -> the package it installs as (pyproject's package-dir)
PACKAGES = {"qlower": "qlower", "ir": "qlower.ir", "passes": "qlower.passes",
            "backends": "qlower.backends"}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def top_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """qlower modules imported at module level (not inside functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    visit(h.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([node.module] if node.module else []))
                subs = {f"{base}.{a.name}" for a in node.names} & known
                # ``from pkg import submodule`` needs the submodule; names need the module itself
                if len(subs) < len(node.names):
                    found.add(base)
                found.update(subs)

    visit(tree.body)
    return {m for m in found if m in known}


def import_graph() -> nx.DiGraph:
    mods = modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        for dep in top_level_imports(path, name, set(mods)):
            if dep != name:
                g.add_edge(name, dep)
    return g


def test_no_import_cycles():
    g = import_graph()
    cycles = list(nx.simple_cycles(g))
    assert not cycles, cycles[:5]


@pytest.mark.parametrize("lower, upper", [
    ("qlower.ir", ("qlower.passes", "qlower.backends", "qlower.frontend", "qlower.api",
                   "qlower.cli", "qlower.program")),
    ("qlower.passes", ("qlower.backends", "qlower.api", "qlower.cli", "qlower.program")),
    ("qlower.blocks", ("qlower.passes", "qlower.backends", "qlower.api", "qlower.cli",
                       "qlower.program", "qlower.frontend")),
])
def test_lower_layers_do_not_import_upper_ones(lower, upper):
    g = import_graph()
    bad = [(a, b) for a, b in g.edges if (a == lower or a.startswith(lower + "."))
           and any(b == u or b.startswith(u + ".") for u in upper)]
    assert not bad, bad


def imported_by(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted("
                          "m for m in sys.modules if m.split('.')[0] in ('onnx', 'cirq', "
                          "'qsimcirq', 'scipy', 'sympy', 'google'))))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return {m.split(".")[0] for m in out.stdout.split()}


def test_the_ir_and_the_registry_need_no_circuit_library():
    """Dense weights (SVD wins) and Pauli-sparse ones (LCU's cost is weighed too)."""
    code = ("import numpy as np\nfrom qlower.ir.opdef import registered_ops\n"
            "from qlower.blocks.registry import methods, choose_method\n"
            "registered_ops(); methods()\n"
            "w = np.random.default_rng(0).standard_normal((8, 8))\n"
            "assert choose_method(w) == 'svd', choose_method(w)\n"
            "choose_method(np.kron(np.diag([1.0, -1.0]), np.eye(16)) + 0.25 * np.eye(32))")
    assert imported_by(code) & {"cirq", "qsimcirq", "onnx", "sympy"} == set()


@pytest.mark.parametrize("argv", [["--version"], ["passes"], ["ops", "q.readout"],
                                  ["inspect", "DUMP"]])
def test_light_commands_import_neither_onnx_nor_cirq(tmp_path, argv):
    dump = tmp_path / "g.qir"
    dump.write_text("graph @g(%x: tensor<2xf32>) {\n  %y = nn.relu(%x) : tensor<2xf32>\n"
                    "  return %y\n}\n")
    argv = [str(dump) if a == "DUMP" else a for a in argv]
    code = ("import contextlib, io\nfrom qlower.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    try:\n"
            f"        main({argv!r})\n    except SystemExit:\n        pass")
    assert imported_by(code) & {"onnx", "cirq", "qsimcirq", "google"} == set()
