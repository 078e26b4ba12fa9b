"""docs/faults.md: every row of its tables names tests, and every named test exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "faults.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def _rows() -> list[str]:
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("| ") and not line.startswith(("| fault", "| bad input"))]


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_row_names_tests_that_exist():
    rows = _rows()
    assert len(rows) >= 25, len(rows)
    missing = []
    for row in rows:
        references = REFERENCE.findall(row)
        assert references, f"a row of {PAGE.name} names no test: {row[:80]}"
        for file, name in references:
            path = ROOT / file
            if not path.is_file() or (name and name not in _test_names(path)):
                missing.append(f"{file}::{name}")
    assert not missing, f"{PAGE.name} names tests that do not exist: {missing}"
