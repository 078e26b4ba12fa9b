"""The YAML dialect of recipes: YAML 1.2 scalars, safe types only, bounded nesting.

PyYAML implements YAML 1.1, where `1e-3` is a string (a float needs a dot), `yes`/`no`/
`on`/`off` are booleans, `010` is octal 8 and `1:30` is the number 90. Editors and every
other modern tool read recipes as YAML 1.2 (core schema), where `1e-3` is a float and the
others are strings or decimal numbers. :class:`RecipeLoader` reads plain scalars the
YAML 1.2 way, so a recipe means the same thing to kerasopt as to the editor showing it:

- null: `~`, `null`, `Null`, `NULL` and an empty value;
- booleans: `true`/`false` (also `True`, `TRUE`, `False`, `FALSE`);
- integers: `12`, `-3`, `+4`, `0o17` (octal), `0x1F` (hex); `010` is ten;
- floats: `1.5`, `1e-3`, `1E5`, `+1e3`, `.5e-2`, `-2.`, `.inf`, `-.inf`, `.nan`.

Digits may be grouped with `_` as in Python (`10_000`), a convenience kept from YAML 1.1.
Quoted scalars are always strings (`'1e-3'` stays a string). Dates stay strings.

Nesting is limited to :data:`MAX_DEPTH` levels, so a pathological file fails with a
message instead of exhausting Python's recursion limit.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists a recipe may use (real recipes use about 8)."""

_DIGITS = r"[0-9](?:_?[0-9])*"
_TAG = "tag:yaml.org,2002:"
_CORE_SCALARS: tuple[tuple[str, str, str], ...] = (
    # (tag, regular expression, characters a match can start with); ints before floats.
    ("null", r"^(?:~|null|Null|NULL|)$", "~nN"),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", rf"^(?:[-+]?{_DIGITS}|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", rf"^(?:[-+]?(?:\.{_DIGITS}|{_DIGITS}(?:\.(?:{_DIGITS})?)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+.0123456789"),
)
# YAML 1.1's `=` ("value" tag, with no constructor in PyYAML's safe loader) is a string in 1.2.
_REPLACED = {_TAG + name for name in ("null", "bool", "int", "float", "timestamp", "value")}
CORE_PATTERNS: dict[str, re.Pattern[str]] = {
    _TAG + name: re.compile(pattern) for name, pattern, _ in _CORE_SCALARS}
"""The text each YAML 1.2 core scalar type accepts, by tag (an explicit `!!int abc` must match too)."""
PLAIN_TAGS = frozenset({*CORE_PATTERNS, _TAG + "str", _TAG + "seq", _TAG + "map"})
"""The tags of the plain data a recipe may hold; others (`!!binary`, `!!timestamp`, `!!set`...) are refused."""
MAX_INT_DIGITS = 100
"""Longest whole number a recipe may write, in digits: the largest values a recipe takes (seeds,
counts) have 10, and Python refuses to turn integers of more than 4,300 digits into text."""


def _core_resolvers() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """SafeLoader's implicit resolvers with the YAML 1.1 scalars replaced by YAML 1.2 core ones."""
    table: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for first, pairs in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, regexp) for tag, regexp in pairs if tag not in _REPLACED]
        if kept:
            table[first] = kept
    for name, pattern, firsts in _CORE_SCALARS:
        compiled = re.compile(pattern)
        for first in (*firsts, "") if name == "null" else firsts:
            table.setdefault(first, []).append((_TAG + name, compiled))
    return table


class RecipeLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` reading plain scalars as YAML 1.2 (core schema), nesting bounded.

    Only plain Python data is built (dicts, lists, str, int, float, bool, None), as with
    `yaml.safe_load`.

    Example:
        >>> yaml.load("lr: 1e-3\\nflag: on\\nseed: 010\\nq: '1e-3'", Loader=RecipeLoader)
        {'lr': 0.001, 'flag': 'on', 'seed': 10, 'q': '1e-3'}
    """

    yaml_implicit_resolvers = _core_resolvers()

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing nesting deeper than :data:`MAX_DEPTH`."""
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer scalar (see :func:`parse_int`)."""
        return parse_int(str(self.construct_scalar(node)))


def parse_int(text: str) -> int:
    """A YAML 1.2 integer: decimal (leading zeros allowed), `0o` octal or `0x` hex; `_` groups digits.

    Example:
        >>> parse_int("010"), parse_int("0o17"), parse_int("-0x1F"), parse_int("10_000")
        (10, 15, -31, 10000)
    """
    text = text.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text.startswith("0o"):
        return sign * int(text[2:], 8)
    if text.startswith("0x"):
        return sign * int(text[2:], 16)
    return sign * int(text, 10)


RecipeLoader.add_constructor(_TAG + "int", RecipeLoader.construct_yaml_int)


def _both_dialects() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    table = {first: list(pairs) for first, pairs in _core_resolvers().items()}
    for first, pairs in yaml.SafeDumper.yaml_implicit_resolvers.items():
        table.setdefault(first, []).extend(pairs)
    return table


class RecipeDumper(yaml.SafeDumper):
    """`yaml.SafeDumper` that quotes every string a YAML 1.2 or 1.1 reader would take for another type.

    A written recipe then reads back the same with :class:`RecipeLoader`, `yaml.safe_load`
    and editors alike.

    Example:
        >>> yaml.dump({"name": "1e3", "flag": "on", "lr": 1e-3}, Dumper=RecipeDumper, sort_keys=False)
        "name: '1e3'\\nflag: 'on'\\nlr: 0.001\\n"
    """

    yaml_implicit_resolvers = _both_dialects()


def parse_value(text: str) -> Any:
    """One YAML value read as a recipe reads it (a command-line override's value).

    Example:
        >>> parse_value("1e-3"), parse_value("[4, 2]"), parse_value("'7'")
        (0.001, [4, 2], '7')
    """
    loader = RecipeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
