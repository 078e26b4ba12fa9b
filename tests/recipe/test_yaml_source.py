"""Reading recipe YAML: YAML 1.2 numbers, plain syntax messages, and files that must not hang or crash."""

from __future__ import annotations

import time

import pytest
import yaml

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RecipeError, format_path
from kerasopt.recipe.format.yaml_loader import MAX_DEPTH, RecipeDumper, RecipeLoader
from kerasopt.recipe.format.yaml_source import MAX_VALUES
from tests.recipe.conftest import MINIMAL

# 9 levels of 9 aliases: 660 bytes that PyYAML expands to 9**9 (387 million) strings.
BILLION_LAUGHS = "\n".join(
    [f"a: &a [{', '.join(['lol'] * 9)}]"]
    + [f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)]
) + "\n"


@pytest.mark.parametrize(("text", "value"), [
    ("1e-3", 1e-3), ("1E5", 1e5), ("+1e3", 1e3), (".5e-2", 0.005), ("-2.5E-1", -0.25),
    ("1.0e-3", 1e-3), ("2.", 2.0), ("10_000", 10_000), ("010", 10), ("0o17", 15), ("0x1F", 31),
])
def test_numbers_are_read_as_yaml_1_2(text, value):
    loaded = yaml.load(f"v: {text}", Loader=RecipeLoader)["v"]
    assert loaded == value and type(loaded) is type(value)


@pytest.mark.parametrize("text", ["'1e-3'", '"1E5"', "yes", "on", "off", "no", "1:30", "2024-01-01", "e5", "1e"])
def test_quoted_and_yaml_1_1_only_scalars_stay_strings(text):
    assert isinstance(yaml.load(f"v: {text}", Loader=RecipeLoader)["v"], str)


def test_exponent_learning_rate_loads_as_a_float_in_files_and_overrides(write):
    path = write(MINIMAL + "training:\n  optimizer: {type: adam, learning_rate: 1e-3, epsilon: 1E-7}\n")
    optimizer = load_recipe(path).recipe.training.optimizer
    assert optimizer == {"type": "adam", "learning_rate": 0.001, "epsilon": 1e-7}
    overridden = load_recipe(path, ["training.optimizer.learning_rate=5e-4", "training.epochs=1e2"])
    assert overridden.recipe.training.optimizer["learning_rate"] == 0.0005
    assert overridden.recipe.training.epochs == 100  # a count may be written as 1e2


def test_a_quoted_number_stays_a_string_and_is_refused(problems):
    error = problems(MINIMAL + "training:\n  optimizer: {type: adam, learning_rate: '1e-3'}\n")
    assert "received: '1e-3'" in error.render() and "expected a number" in error.render()


def test_resolved_yaml_quotes_strings_that_read_as_other_types(write):
    loaded = load_recipe(write(MINIMAL.replace("name: tiny", "name: '1e3'") + "description: 'on'\n"))
    text = loaded.resolved_yaml()
    assert "name: '1e3'" in text and "description: 'on'" in text
    assert yaml.safe_load(text)["description"] == "on"  # a YAML 1.1 reader agrees
    assert yaml.load(text, Loader=RecipeLoader)["name"] == "1e3"
    assert yaml.dump({"v": "010"}, Dumper=RecipeDumper) == "v: '010'\n"


@pytest.mark.parametrize(("text", "line", "fragment"), [
    # A key indented one space too far, under a key that already has a value.
    ("name: b\ndata:\n  source: digits\n   batch_size: 3\nmodel: {architecture: mlp}\n", 4,
     "indented deeper than the key above it"),
    # A key indented one space too little inside a nested mapping.
    ("name: b\ntraining:\n  optimizer:\n    type: adam\n   learning_rate: 0.1\n", 5,
     "indentation does not line up"),
    # A list item out of line with the items above it.
    ("name: b\ntraining:\n  callbacks:\n    - type: a\n     - type: b\n", 5, "indentation does not line up"),
    ("name: b\ndata:\n\tsource: digits\n", 3, "tab character"),
    ("name: b\ndata\n  source: digits\nmodel: 1\n", 2, "a key without `:`"),
    # An unclosed quote is reported where it opens, not at the end of the file 12 lines later.
    ("name: 'b\ndata: 1\n" + "k: 1\n" * 10, 1, "quoted string that starts here is never closed"),
])
def test_syntax_errors_are_plain_and_on_the_right_line(problems, text, line, fragment):
    (problem,) = problems(text).problems
    assert problem.message.startswith("YAML syntax error: ") and fragment in problem.message
    assert problem.location.line == line
    assert "expected <block end>" not in problem.render()  # no raw parser jargon


@pytest.mark.parametrize(("text", "fragment"), [
    ("? [a, b]\n: 1\n" + MINIMAL, "a key must be a name"),
    ("? {a: 1}\n: 1\n" + MINIMAL, "a key must be a name"),
    ("~: 1\n" + MINIMAL, "a key is empty or null"),
    ("null: 1\n" + MINIMAL, "a key is empty or null"),
    ("true: 1\n" + MINIMAL, "a key must be a name"),
    ("a: &x [1, *x]\n" + MINIMAL, "refers to a value that contains it"),
    ("a: *nowhere\n" + MINIMAL, "no anchor"),
    ("name: a\x00b\n", "a character YAML does not allow"),
])
def test_keys_and_aliases_a_recipe_cannot_hold(problems, text, fragment):
    assert fragment in problems(text).render()


def test_deep_nesting_fails_fast_with_a_message(problems):
    started = time.perf_counter()
    error = problems("[" * 5000 + "]" * 5000)
    assert f"nested more than {MAX_DEPTH} levels" in error.render()
    assert time.perf_counter() - started < 2.0


def test_alias_bomb_fails_fast_without_expanding(problems):
    assert len(BILLION_LAUGHS) < 700
    started = time.perf_counter()
    error = problems(BILLION_LAUGHS)
    assert f"expands to more than {MAX_VALUES:,} values" in error.render()
    assert time.perf_counter() - started < 2.0


def test_merge_keys_and_moderate_aliases_still_work(write):
    loaded = load_recipe(write(MINIMAL + """\
training:
  optimizer: &opt {type: sgd, momentum: 0.9, learning_rate: 0.1}
stages:
  - name: fine
    training: {optimizer: {<<: *opt, learning_rate: 0.01}}
"""))
    assert loaded.raw["stages"][0]["training"]["optimizer"] == {
        "type": "sgd", "momentum": 0.9, "learning_rate": 0.01}


@pytest.mark.parametrize(("content", "fragment"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks like binary data"),
    ("name: café\n".encode("latin-1"), "another encoding (latin-1?)"),
])
def test_files_that_are_not_utf8_text(tmp_path, content, fragment):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path))
    (problem,) = info.value.problems
    assert "not UTF-8 text" in problem.message and fragment in problem.message
    assert format_path(problem.path) == "<recipe>"


def test_utf8_with_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeff".encode() + MINIMAL.encode())
    assert load_recipe(str(path)).recipe.name == "tiny"
