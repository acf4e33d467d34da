"""Docstrings and comments cite only documents that ship with the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("qlower", "ir", "passes", "backends", "bench", "tests", "examples")


def test_every_cited_markdown_file_exists():
    cited = re.compile(r"\b([A-Za-z0-9_./-]+\.md)\b")
    missing = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in cited.findall(path.read_text(encoding="utf-8")):
                here = [path.parent / name, ROOT / name, ROOT / folder / name]
                if not any(p.is_file() for p in here):
                    missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert missing == []
