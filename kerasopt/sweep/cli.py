"""The `kerasopt sweep` subcommand: its arguments and its handler (no Optuna or Keras import at parse time)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from kerasopt.recipe.format.sweep_distribution import SYNTAX

EXAMPLE = ("kerasopt sweep recipes/mnist1d_cnn.yaml "
           "--param training.optimizer.learning_rate='loguniform(1e-4,1e-1)' "
           "--param training.optimizer.type='choice(adam,radam,sgd)' --trials 20 "
           "--metric val_accuracy --prune")


def _positive(text: str, maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1 or (maximum is not None and value > maximum):
        allowed = ">= 1" if maximum is None else f"between 1 and {maximum}"
        raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
    return value


def _heartbeat(text: str) -> int:
    return _positive(text, maximum=MAX_HEARTBEAT)


MAX_HEARTBEAT = 3600
"""Seconds; a trial is declared dead after 3 missed beats, so a longer beat would leave dead
trials unnoticed for hours (and Optuna's timestamps overflow on absurd values)."""


def add_sweep_command(subparsers: Any, subcommand: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `sweep` to the CLI's subparsers; `subcommand(subparsers, name, help, example)` makes a parser."""
    parser = subcommand(subparsers, "sweep", "Search a recipe's hyperparameters with Optuna: one run "
                        "directory per trial, a resumable study, a comparison report at the end.", EXAMPLE)
    parser.add_argument("recipe", metavar="RECIPE", help="a recipe file, or a shipped recipe's name")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="fixed dotted-path overrides of every trial (training.epochs=3)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=DIST",
                        help=f"a recipe key to vary; DIST is {SYNTAX} (default: the recipe's sweep.params)")
    parser.add_argument("--trials", type=_positive, metavar="N",
                        help="complete trials the study should hold (failed and pruned ones do not "
                             "count); the same command continues a sweep up to N (default: the "
                             "grid's size for grid, else 20)")
    parser.add_argument("--sampler", choices=("tpe", "random", "grid", "nsga2"), help="default: tpe")
    parser.add_argument("--metric", action="append", metavar="NAME",
                        help="val_<metric>, test_<metric>, exports.<file>.<key> (exports.tflite.bytes) "
                             "or params, from metrics.json (default: val_loss); give it several times "
                             "for a multi-objective sweep (the report draws the Pareto front)")
    parser.add_argument("--direction", action="append", choices=("minimize", "maximize", "auto"),
                        help="default: auto (minimize losses, errors, sizes and latencies, maximize the "
                             "rest); with several --metric, one --direction per --metric, in order")
    parser.add_argument("--prune", action="store_true",
                        help="stop unpromising trials early (Optuna MedianPruner on the per-epoch metric)")
    parser.add_argument("--output-dir", metavar="DIR",
                        help="sweep directory (default: saved_models/<recipe name>-sweep/)")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna storage (default: sqlite:///<DIR>/study.db); a shared "
                             "postgresql:// or mysql:// URL lets several machines run one study")
    parser.add_argument("--study", metavar="NAME", help="study name (default: the recipe's name)")
    parser.add_argument("--workers", type=_positive, default=1, metavar="N",
                        help="local worker processes sharing the study (default: 1)")
    parser.add_argument("--heartbeat", type=_heartbeat, metavar="SECONDS",
                        help="how often a running trial records that its process is alive; a trial "
                             "silent for 3x that (its process was killed) is marked failed and run "
                             "again, resuming from its backup (default: 10)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    parser.set_defaults(handler=run_sweep_command)


def build_sweep(args: argparse.Namespace) -> Any:
    """The :class:`~kerasopt.sweep.sweep.Sweep` the arguments describe, over the recipe's `sweep:` section.

    Raises:
        RecipeError: For an invalid recipe, parameter, value or option.
    """
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.recipe.errors import Problem, RecipeError
    from kerasopt.recipe.format.schema_sweep import SweepSection
    from kerasopt.sweep.search_space import SearchSpace
    from kerasopt.sweep.sweep import Sweep

    recipe = load_recipe(args.recipe, args.overrides).recipe
    if recipe.runtime.strategy == "multi_worker":
        # A trial runs inside the sweep's process; a multi-worker trial would need a cluster
        # of its own for every trial. Parallel trials are what `--workers N` gives.
        raise RecipeError([Problem(("runtime", "strategy"), "a sweep runs each trial in one process",
                                   received="multi_worker",
                                   allowed="auto, one_device, mirrored or tpu; for several trials at "
                                           "once, `kerasopt sweep --workers N`")], args.recipe)
    section = getattr(recipe, "sweep", None) or SweepSection()
    if args.param:
        space = SearchSpace.parse(args.param)
    elif section.params:
        space = SearchSpace.parse([f"{k}={v}" for k, v in section.params.items()], source="sweep.params")
    else:
        raise RecipeError([Problem(("sweep", "params"), "nothing to sweep", has_received=False,
                                   allowed=f"--param KEY=DIST (DIST: {SYNTAX}) or a recipe "
                                           "`sweep.params` section")], args.recipe)
    metrics, directions = args.metric or [], args.direction or []
    if metrics:
        if directions and len(directions) != len(metrics):
            raise RecipeError([Problem(("--direction",), f"give one --direction per --metric "
                                       f"({len(metrics)}), or none", directions,
                                       f"{len(metrics)} of minimize, maximize, auto")], args.recipe)
        if not directions:  # one --metric keeps the recipe's single `direction`, as before
            single = len(metrics) == 1 and section.objectives is None
            directions = [section.direction] if single else ["auto"] * len(metrics)
        objectives = list(zip(metrics, directions, strict=True))
    else:
        objectives = section.objective_list()
        if directions:
            if len(directions) != len(objectives):
                raise RecipeError([Problem(("--direction",), "give one --direction per objective",
                                           directions, f"{len(objectives)} values")], args.recipe)
            objectives = [(m, d) for (m, _), d in zip(objectives, directions, strict=True)]
    return Sweep(args.recipe, space, overrides=args.overrides, trials=args.trials or section.trials,
                 sampler=args.sampler or section.sampler, objectives=objectives,
                 output_dir=args.output_dir, storage=args.storage, study_name=args.study,
                 prune=args.prune or section.prune, debug=args.debug,
                 **({"heartbeat": args.heartbeat} if args.heartbeat else {}))


def run_sweep_command(args: argparse.Namespace) -> int:
    """Handle `kerasopt sweep`: exit 2 before any trial for a bad recipe, key or value; 130 on Ctrl-C."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerasopt.recipe.errors import RecipeError

    try:
        sweep = build_sweep(args)
        # As `kerasopt run`: TensorFlow starts without its C++ start-up lines (CUDA on a CPU machine).
        from kerasopt.tf_startup import start_tensorflow_quietly

        start_tensorflow_quietly(show=args.debug)
        from kerasopt._backend import RECIPE_RUNNER, UnsupportedBackendError, require_tensorflow

        try:
            require_tensorflow(RECIPE_RUNNER)
        except UnsupportedBackendError as err:  # before any trial: nothing was written
            print(f"kerasopt: error: {err}", file=sys.stderr)
            return 2
        from kerasopt.recipe.run.interrupts import interrupt_on_signals

        with interrupt_on_signals():  # SIGTERM, like Ctrl-C, marks the trial and says how to continue
            sweep.run(workers=args.workers, worker=args.worker)
    except RecipeError as err:
        print(err.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        return getattr(err, "exit_code", 130)
    except Exception as err:  # noqa: BLE001 - the command line's last line of defence
        if args.debug:
            raise
        from kerasopt.recipe.errors import describe

        print(f"kerasopt: error: {describe(err)}", file=sys.stderr)
        print("(run again with --debug to see the traceback)", file=sys.stderr)
        return 1
    return 0
