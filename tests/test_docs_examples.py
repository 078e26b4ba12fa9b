"""Every code block of README.md and docs/*.md runs or is checked, so the docs cannot rot.

- ```python blocks run, each in a fresh namespace, in this process (Keras imported once).
- ```yaml blocks are recipes, validated as `kerasopt validate` does (in this process). A block
  whose first line is `# recipes/NAME.yaml` must hold exactly that shipped recipe; one marked
  `(abridged)` is validated on top of that recipe (`extends:`); a block without `name:` is a
  fragment, validated on top of the quickstart recipe. A block whose first line is
  `# FILE.yaml` is saved as FILE.yaml in the page's folder, for the commands that follow.
- ```bash / ```console lines that start with `kerasopt` run when cheap (list, show, validate,
  schema) and must exit 0; the others must parse with kerasopt's own argument parser.
- ```text blocks (output listings) are not run.

The blocks of one page share a working folder, in page order: a file that an earlier block
writes (a CSV file) is there for a recipe that a later block validates.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import yaml

from kerasopt import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", flags=re.M | re.S)
RUN = ("list", "show", "validate", "schema")
KINDS = {"python", "yaml", "bash", "console", "text"}
SHIPPED = re.compile(r"^# (recipes/[\w/]+\.yaml)( \(abridged\))?")
NAMED = re.compile(r"^# ([\w.-]+\.yaml)\b")


def _blocks() -> list[tuple[Path, int, str, str]]:
    """(page, line, language, code) of every fenced block, in page order."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((page, line, match[1], match[2]))
    return found


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[Path, Path]:
    """One working folder per page, shared by its blocks."""
    return {page: tmp_path_factory.mktemp(page.stem) for page in PAGES}


def test_blocks_are_found_and_every_fence_names_its_kind():
    kinds = [language for _, _, language, _ in BLOCKS]
    assert len(BLOCKS) >= 20, len(BLOCKS)
    assert kinds.count("python") >= 4 and kinds.count("yaml") >= 6 and kinds.count("bash") >= 4, kinds
    unnamed = [f"{page.name}:{line}" for page, line, language, _ in BLOCKS if language not in KINDS]
    assert not unnamed, f"code blocks without a known language (python, yaml, bash, console, text): {unnamed}"


def test_ci_runs_exactly_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = ci[ci.index("# The README's test command:") + 1]
    assert command == 'pip install -e ".[dev]" && python -m pytest -q'
    readme_bash = "\n".join(code for page, _, language, code in BLOCKS if page.name == "README.md" and language == "bash")
    assert command in readme_bash


def test_readme_is_a_front_door_whose_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert len(links) >= 8, links
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_devices_page_names_every_tensorflow_only_component():
    from kerasopt import _backend

    page = (ROOT / "docs" / "devices.md").read_text(encoding="utf-8")
    section = page[page.index("## Other backends"):]
    names = ["kerasopt run" if key == _backend.RECIPE_RUNNER else key.rpartition(".")[2]
             for key in _backend.TENSORFLOW_ONLY]
    missing = [name for name in names if f"`{name}`" not in section]
    assert not missing, f"docs/devices.md does not name these TensorFlow-only components: {missing}"


def _validate(recipe: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["validate", str(recipe)])
    return status, out.getvalue() + err.getvalue()


class _ComposingSafeLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that also reads the composition tags `!delete` and `!replace`."""


_ComposingSafeLoader.add_constructor("!delete", lambda loader, node: None)
_ComposingSafeLoader.add_constructor("!replace", lambda loader, node: loader.construct_mapping(node))


def _check_yaml(code: str, folder: Path, name: str) -> None:
    shipped = SHIPPED.match(code)
    data = yaml.load(code, Loader=_ComposingSafeLoader)
    assert isinstance(data, dict), f"a yaml block is a recipe or a part of one: {code[:80]}"
    if shipped and not shipped[2]:
        assert data == yaml.safe_load((ROOT / shipped[1]).read_text(encoding="utf-8")), \
            f"the block differs from {shipped[1]}"
    base = ROOT / shipped[1] if shipped else None if "name" in data else ROOT / "recipes" / "quickstart.yaml"
    named = NAMED.match(code)
    recipe = folder / (named[1] if named else f"{name}.yaml")
    recipe.write_text((f"extends: {base}\n" if base else "") + code, encoding="utf-8")
    status, output = _validate(recipe)
    assert status == 0, output


def _commands(code: str) -> list[list[str]]:
    """The `kerasopt ...` commands of a shell block (after `$ `, between `&&`, up to a redirection or pipe, lines joined)."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        for part in line.removeprefix("$ ").split("&&"):
            words = shlex.split(part, comments=True)
            ends = [i for i, word in enumerate(words) if word[:1] in (">", "|")]
            words = words[:ends[0]] if ends else words
            if words[:1] == ["kerasopt"]:
                commands.append(words[1:])
    return commands


def _check_command(argv: list[str]) -> None:
    err = io.StringIO()
    if argv[0] in RUN:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(argv)
        assert status == 0, f"kerasopt {shlex.join(argv)}: exit {status}\n{err.getvalue()}"
        return
    args, extra = cli.build_parser().parse_known_args(argv)
    # Overrides may follow options, as `kerasopt` itself accepts them.
    assert all("=" in word and not word.startswith("-") for word in extra), extra
    assert args.command == argv[0]


_RAN: set[tuple[Path, int]] = set()


def _run_python(page: Path, line: int, code: str) -> None:
    """Run a python block once, in a fresh namespace (in the page's folder)."""
    if (page, line) not in _RAN:
        exec(compile(code, f"{page.name}:{line}", "exec"), {"__name__": "__docs__"})  # noqa: S102
        _RAN.add((page, line))


@pytest.mark.parametrize(("page", "line", "language", "code"), BLOCKS,
                         ids=[f"{page.name}:{line}:{language}" for page, line, language, _ in BLOCKS])
def test_block(page, line, language, code, folders, monkeypatch):
    folder = folders[page]
    monkeypatch.chdir(folder)  # paths in recipes' `data:` are relative to the working directory
    # The page's earlier python blocks first (they may write files this block reads), also
    # when this block is selected alone.
    for earlier in BLOCKS:
        if earlier[0] == page and earlier[1] < line and earlier[2] == "python":
            _run_python(*earlier[:2], earlier[3])
    if language == "python":
        _run_python(page, line, code)
    elif language == "yaml":
        _check_yaml(code, folder, f"{page.stem}_{line}")
    elif language in ("bash", "console"):
        commands = _commands(code)
        for argv in commands:
            _check_command(argv)
