"""Griffe extension for the API pages: render kerasopt's docstrings as Python's `help` shows them.

- kerasopt's docstrings title their doctests `Example:`. Google style (Napoleon) reads
  `Example:` and `Examples:` alike; griffe knows only the plural and would render the
  singular as an admonition of Markdown, turning `>>>` into quotes.
- The optimizers' docstrings hold `{{name}}` lines that `insert_docstring_blocks` (in
  `kerasopt/optimizers/_adaptive_base.py`) replaces with `DOCSTRING_BLOCKS[name]` when the
  class is defined; griffe reads the source, so the blocks are put in here the same way,
  read from that file without importing it (it imports Keras).
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", flags=re.M)
_BLOCK = re.compile(r"^([ \t]*)\{\{(\w+)\}\}[ \t]*$", flags=re.M)
_BLOCKS_FILE = Path(__file__).resolve().parents[1] / "kerasopt" / "optimizers" / "_adaptive_base.py"


def _docstring_blocks() -> dict[str, str]:
    tree = ast.parse(_BLOCKS_FILE.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "DOCSTRING_BLOCKS":
            return ast.literal_eval(node.value)
    raise LookupError(f"DOCSTRING_BLOCKS is not assigned in {_BLOCKS_FILE}")


class KerasoptDocstrings(griffe.Extension):
    """Rename `Example:` headings to `Examples:` and fill in the optimizers' shared blocks."""

    def __init__(self) -> None:
        super().__init__()
        self._blocks = _docstring_blocks()

    def _block(self, match: re.Match) -> str:
        indent, name = match.groups()
        return textwrap.indent(self._blocks[name], indent) if name in self._blocks else match[0]

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of every object griffe loads, before it is parsed."""
        if obj.docstring is not None:
            value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _BLOCK.sub(self._block, value)
