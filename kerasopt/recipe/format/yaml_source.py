"""Load recipe YAML safely while remembering the line and column of every key path.

The text is composed into nodes first (:class:`~kerasopt.recipe.format.yaml_loader.RecipeLoader`:
YAML 1.2 scalars, nesting bounded), then walked once to record positions and to refuse
what a recipe can't hold: duplicate keys, keys that are not names, recursive aliases,
alias "bombs" (a few hundred bytes of `&a [*b, *b, ...]` that expand to billions of
values), tags of non-plain data (`!!binary`, `!!timestamp`, `!!set`...), explicitly
tagged scalars that are not of their tag's type (`!!int abc`) and whole numbers too long
to be real values. Only then are Python objects built.

Two tags of recipe composition are read (see :func:`~kerasopt.recipe.format.merge_rules.compose`):
`key: !delete` removes a key the base recipes set, and `key: !replace {...}` puts a mapping in
place of the inherited one instead of merging into it. Syntax errors are reported in plain words
at the line the mistake is on.
"""

from __future__ import annotations

from typing import Any

import yaml

from kerasopt.recipe.errors import Location, Path, Problem
from kerasopt.recipe.format.merge_rules import DELETE, Replace
from kerasopt.recipe.format.yaml_loader import (
    CORE_PATTERNS,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    PLAIN_TAGS,
    RecipeLoader,
    parse_int,
)

MAX_VALUES = 100_000
"""Most values (counting every alias expansion) a recipe may hold; real ones hold a few hundred."""

_TAG = "tag:yaml.org,2002:"
DELETE_TAG = "!delete"
"""`key: !delete` in a derived recipe removes the inherited key."""
REPLACE_TAG = "!replace"
"""`key: !replace {...}` replaces the inherited mapping instead of merging into it."""


class _ComposingLoader(RecipeLoader):
    """:class:`RecipeLoader` that also builds the `!delete` and `!replace` markers of a recipe file."""

    def construct_delete(self, node: yaml.Node) -> Any:
        return DELETE

    def construct_replace(self, node: yaml.MappingNode) -> Replace:
        replace = Replace()
        yield replace
        replace.update(self.construct_mapping(node, deep=True))


_ComposingLoader.add_constructor(DELETE_TAG, _ComposingLoader.construct_delete)
_ComposingLoader.add_constructor(REPLACE_TAG, _ComposingLoader.construct_replace)


class YamlProblem(Exception):
    """YAML could not be read; carries the problems for a RecipeError."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def load_yaml(text: str, source: str) -> tuple[Any, dict[Path, Location]]:
    """Parse YAML text as a recipe and map each key path to its position.

    Args:
        text: The YAML document.
        source: A file name for messages.

    Returns:
        The plain data (dicts, lists, scalars) and a `{path: Location}` map; a path's
        location is where its key (or list item) is written.

    Raises:
        YamlProblem: For syntax errors, duplicate keys, keys that are not names, and
            documents that nest or expand too far.
    """
    walker = _Walker(source)
    deep = _flow_too_deep(text)
    if deep is not None:
        raise YamlProblem([Problem((), f"YAML syntax error: nested more than {MAX_DEPTH} levels deep; "
                                   "a recipe needs a few", location=Location(source, *deep),
                                   has_received=False)])
    loader: _ComposingLoader | None = None
    try:
        loader = _ComposingLoader(text)  # refuses control characters (a binary file) right away
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_size(node, source)
        walker.walk(node, ())
        if walker.problems:
            raise YamlProblem(walker.problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        raise YamlProblem([syntax_problem(err, text, source)]) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        raise YamlProblem([Problem(
            (), f"a character YAML does not allow (#x{err.character:04x}); is this a text file?",
            location=Location(source, line, column), has_received=False)]) from None
    except yaml.YAMLError as err:
        raise YamlProblem([Problem((), f"not readable as YAML: {err}", location=Location(source),
                                   has_received=False)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, walker.positions


def _flow_too_deep(text: str) -> tuple[int, int] | None:
    """Line and column where `[`/`{` brackets nest past :data:`MAX_DEPTH`, or None.

    PyYAML's scanner reads a whole flow collection ahead and takes quadratic time in its
    depth (5,000 nested `[` take seconds), so deep brackets are refused before parsing.
    Brackets inside quoted strings count too; a recipe never has a hundred of those open.
    """
    depth = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        for column, char in enumerate(line, start=1):
            if char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return line_number, column
            elif char in "]}":
                depth = max(depth - 1, 0)
    return None


def _check_size(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_VALUES` values.

    Sizes are computed once per distinct node (aliases share nodes), so an alias bomb is
    measured in microseconds without being expanded. A recursive alias is left to the walk.
    """
    sizes: dict[int, int] = {}
    started: set[int] = set()
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, children_done = pending.pop()
        if id(node) in sizes or (not children_done and id(node) in started):
            continue
        children = [v for pair in node.value for v in pair] if isinstance(node, yaml.MappingNode) \
            else node.value if isinstance(node, yaml.SequenceNode) else []
        if not children_done:
            started.add(id(node))
            pending.append((node, True))
            pending.extend((child, False) for child in children if id(child) not in started)
            continue
        sizes[id(node)] = 1 + sum(sizes.get(id(child), 0) for child in children)
        if sizes[id(node)] > MAX_VALUES:
            raise YamlProblem([Problem(
                (), f"the document expands to more than {MAX_VALUES:,} values; aliases (`*name`) "
                "that repeat large anchored values multiply (an 'alias bomb')",
                location=Location(source, node.start_mark.line + 1, node.start_mark.column + 1),
                has_received=False)])


class _Walker:
    """One pass over the node graph: positions, key checks, and bounds on aliases."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.positions: dict[Path, Location] = {}
        self.problems: list[Problem] = []
        self.open: set[int] = set()  # ids of the nodes on the current path (recursion check)

    def where(self, node: yaml.Node) -> Location:
        return Location(self.source, node.start_mark.line + 1, node.start_mark.column + 1)

    def walk(self, node: yaml.Node, path: Path) -> None:
        if id(node) in self.open:
            raise YamlProblem([Problem(
                path, "an alias (`*name`) refers to a value that contains it (a recursive value)",
                location=self.where(node), has_received=False)])
        problem = self._tag_problem(node, path)
        if problem is not None:
            self.problems.append(problem)
            return
        if isinstance(node, yaml.MappingNode):
            self.open.add(id(node))
            self._mapping(node, path)
            self.open.discard(id(node))
        elif isinstance(node, yaml.SequenceNode):
            self.open.add(id(node))
            for index, item in enumerate(node.value):
                self.positions[(*path, index)] = self.where(item)
                self.walk(item, (*path, index))
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> None:
        seen: dict[Any, Location] = {}
        for key_node, value_node in node.value:
            where = self.where(key_node)
            key = self._key(key_node, path, where)
            if key is None:
                continue
            if key in seen:
                self.problems.append(Problem(
                    (*path, key), f"duplicate key (first written at line {seen[key].line})",
                    location=where, has_received=False))
            seen[key] = where
            self.positions[(*path, key)] = where
            if key_node.tag == _TAG + "merge":
                self._merge(value_node, path)
            else:
                self.walk(value_node, (*path, key))

    def _merge(self, node: yaml.Node, path: Path) -> None:
        """Walk what a `<<:` merge key brings in as keys of the mapping at `path`.

        A key written in the mapping itself keeps its own position; merged keys are
        placed where the merged mapping writes them.
        """
        written = dict(self.positions)
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            self.walk(source, path)
        self.positions.update(written)

    def _tag_problem(self, node: yaml.Node, path: Path) -> Problem | None:
        """A problem for a node that would not build plain data of its tag's type, or None.

        Implicitly typed scalars match their tag's pattern by construction; an explicit tag
        (`!!int abc`, `!!binary ...`) is checked here, since PyYAML's constructors would
        raise plain Python errors (or build bytes, dates, sets) for it.
        """
        tag, received = node.tag, node.value if isinstance(node, yaml.ScalarNode) else None
        shown = tag.replace(_TAG, "!!")
        if tag == DELETE_TAG and (not isinstance(node, yaml.ScalarNode) or received):
            return Problem(path, "`!delete` stands alone: it removes the inherited key",
                           received=received if received else None, has_received=bool(received),
                           allowed=f"`{path[-1] if path else 'key'}: !delete`", location=self.where(node))
        if tag == REPLACE_TAG and not isinstance(node, yaml.MappingNode):
            return Problem(path, "`!replace` applies to a mapping (a list or a value replaces "
                           "the inherited one already)", received=received,
                           has_received=received is not None, location=self.where(node),
                           allowed="`key: !replace {...}` or `key: !replace` with an indented mapping")
        if tag in (DELETE_TAG, REPLACE_TAG):
            return None
        shape = {_TAG + "seq": yaml.SequenceNode, _TAG + "map": yaml.MappingNode}.get(tag, yaml.ScalarNode)
        if tag not in PLAIN_TAGS or not isinstance(node, shape):
            return Problem(path, f"the YAML tag `{shown}` is not allowed here", received=received,
                           has_received=received is not None, location=self.where(node),
                           allowed="plain values: strings, numbers, true/false, null, lists and mappings")
        pattern = CORE_PATTERNS.get(tag)
        if pattern is not None and not pattern.match(received):
            return Problem(path, f"tagged `{shown}`, but the value is not one", received=received,
                           allowed=f"a value written as YAML reads a {shown[2:]}, or no tag",
                           location=self.where(node))
        digits = len(received.lstrip("+-").replace("_", "")) if tag == _TAG + "int" else 0
        if digits > MAX_INT_DIGITS:
            return Problem(path, f"a whole number of {digits:,} digits; no recipe value is that large",
                           has_received=False, allowed=f"at most {MAX_INT_DIGITS} digits",
                           location=self.where(node))
        return None

    def _key(self, key_node: yaml.Node, path: Path, where: Location) -> str | int | None:
        """The key as the recipe uses it, or None (with a problem) for a key that is not a name."""
        problem = None if key_node.tag == _TAG + "merge" else self._tag_problem(key_node, path)
        if problem is not None:
            self.problems.append(problem)
            return None
        if isinstance(key_node, yaml.ScalarNode):
            if key_node.tag in (_TAG + "str", _TAG + "merge"):
                return key_node.value
            if key_node.tag == _TAG + "int":
                return parse_int(key_node.value)
            if key_node.tag == _TAG + "null":
                self.problems.append(Problem(path, "a key is empty or null", location=where,
                                             allowed="a name followed by `:`, e.g. `epochs: 3`",
                                             has_received=False))
                return None
            received: Any = key_node.value
        else:
            received = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
        self.problems.append(Problem(
            path, "a key must be a name (or a whole number, as in class_weight)",
            received=received, location=where,
            allowed="a name followed by `:`; quote a key that looks like another type ('true': ...)"))
        return None


# A plain explanation for each kind of PyYAML syntax error, and whether the mistake is
# where YAML began the construct (its "context mark") rather than where it gave up.
_SYNTAX_HINTS: tuple[tuple[str, str, bool], ...] = (
    ("found character '\\t'", "a tab character: YAML indentation must use spaces", False),
    ("mapping values are not allowed here",
     "unexpected `key: value`: this line is indented deeper than the key above it, or a value "
     "contains ': ' and needs quotes", False),
    ("expected <block end>",
     "this line's indentation does not line up with the lines above it (keys of one mapping, "
     "and the `-` items of one list, must start in the same column)", False),
    ("could not find expected ':'",
     "a key without `:`, or a value continued on the next line without indentation", True),
    ("while scanning a quoted scalar", "a quoted string that starts here is never closed", True),
    ("while parsing a flow mapping", "a `{` mapping that starts here is not closed by `}` "
     "(or its items are not separated by `,`)", True),
    ("while parsing a flow sequence", "a `[` list that starts here is not closed by `]` "
     "(or its items are not separated by `,`)", True),
    ("found undefined alias", "an alias (`*name`) with no anchor (`&name`) before it", False),
    ("nesting deeper than", f"nested more than {MAX_DEPTH} levels deep; a recipe needs a few", False),
    ("sequence entries are not allowed here",
     "unexpected `-` item: a list must start on its own line below its key, indented", False),
)


def syntax_problem(err: yaml.MarkedYAMLError, text: str, source: str) -> Problem:
    """A plain-words problem for a YAML syntax error, placed at the line of the mistake."""
    raw = " ".join(str(x) for x in (err.context, err.problem) if x)
    message, use_context = f"YAML syntax error: {raw}", False
    for fragment, hint, at_context in _SYNTAX_HINTS:
        if fragment in raw:
            message, use_context = f"YAML syntax error: {hint}", at_context and err.context_mark is not None
            break
    mark = err.context_mark if use_context else (err.problem_mark or err.context_mark)
    if mark is None:
        return Problem((), message, location=Location(source), has_received=False)
    lines = text.splitlines()
    line_text = lines[mark.line] if mark.line < len(lines) else ""
    column = mark.column + 1
    if "indent" in message or "key" in message:
        column = len(line_text) - len(line_text.lstrip(" ")) + 1
    shown = line_text.strip()
    received = shown if len(shown) <= 80 else shown[:77] + "..."
    return Problem((), message, received=received, has_received=bool(shown),
                   location=Location(source, mark.line + 1, column))
