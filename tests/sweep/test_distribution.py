"""Distribution syntax: what parses, and errors that show the syntax."""

from __future__ import annotations

import pytest

from kerasopt.recipe.format.sweep_distribution import SYNTAX, Distribution, yaml_scalar, yaml_text


@pytest.mark.parametrize(("text", "expected"), [
    ("uniform(0, 0.5)", Distribution("uniform", low=0.0, high=0.5)),
    ("loguniform(1e-4,1e-1)", Distribution("loguniform", low=1e-4, high=0.1, log=True)),
    ("int(1,5)", Distribution("int", low=1, high=5)),
    ("int(16, 256, log)", Distribution("int", low=16, high=256, log=True)),
    ("choice(adam, radam, sgd)", Distribution("choice", choices=("adam", "radam", "sgd"))),
    ("choice(1e-3, 0.01, true, null, 32)", Distribution("choice", choices=(0.001, 0.01, True, None, 32))),
    ("CHOICE(a)", Distribution("choice", choices=("a",))),
])
def test_parse(text, expected):
    assert Distribution.parse(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("normal(0,1)", "not a distribution"),
    ("loguniform(0.1)", "takes two numbers"),
    ("uniform(1, 0)", "`low` must be below `high`"),
    ("loguniform(0, 1)", "needs `low` > 0"),
    ("int(1.5, 4)", "not a whole number"),
    ("int(1, 4, linear)", "optional `log`"),
    ("uniform(a, 1)", "'a' is not a finite number"),
    ("choice()", "at least one value"),
    ("choice(adam, adam)", "must differ"),
    ("0.01", "not a distribution"),
])
def test_errors_name_the_problem_and_show_the_syntax(text, reason):
    with pytest.raises(ValueError, match="expected uniform\\(LOW,HIGH\\)") as info:
        Distribution.parse(text)
    assert reason in str(info.value)
    assert SYNTAX in str(info.value)


def test_str_reads_back_as_the_same_distribution():
    for text in ("loguniform(1e-4,1e-1)", "int(2,64,log)", "uniform(-1,1)", "choice(1e-05,adam,true,null)"):
        dist = Distribution.parse(text)
        assert Distribution.parse(str(dist)) == dist


def test_yaml_scalar_reads_exponents_as_numbers_and_yaml_text_round_trips():
    # PyYAML (YAML 1.1) reads '1e-3' as a string; sweeps read it as the number users mean.
    assert yaml_scalar("1e-3") == 0.001 and yaml_scalar("'1e-3'") == "1e-3"
    assert type(yaml_scalar("1")) is int and type(yaml_scalar("1.0")) is float
    for value in (1e-05, 0.1, 3, "adam", True, None, "1e-3"):
        assert yaml_scalar(yaml_text(value)) == value


def test_choice_grid_and_corners():
    assert Distribution.parse("choice(16,32)").grid == (16, 32)
    assert Distribution.parse("uniform(0,1)").grid is None
    assert Distribution.parse("int(1,9)").corners() == (1, 9)


def test_suggest_draws_within_the_range():
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    rate = Distribution.parse("loguniform(1e-4,1e-1)").suggest(trial, "lr")
    units = Distribution.parse("int(4,8)").suggest(trial, "units")
    name = Distribution.parse("choice(adam,sgd)").suggest(trial, "opt")
    assert 1e-4 <= rate <= 1e-1 and units in range(4, 9) and name in ("adam", "sgd")
    assert trial.distributions["lr"].log and trial.distributions["units"].low == 4
