"""The `kerasopt` command line: parse arguments, then call the recipe loader, runner or exporters.

`--help`, `list`, `show` and `schema` never import TensorFlow or Keras.
Exit codes: 0 success; 2 invalid recipe or usage; 1 failure while running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process ended by SIGPIPE


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 and a one-line hint on usage errors (argparse's own convention)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _subcommand(subparsers, name: str, help_text: str, example: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="kerasopt",
        description="Keras 3 training recipes: build, compile, fit, evaluate and export from YAML.",
        epilog="example:\n  kerasopt run quickstart training.epochs=2",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = _subcommand(sub, "run", "Run a recipe: data -> model -> fit -> evaluate -> export.",
                      "kerasopt run recipes/quickstart.yaml training.epochs=3 --output-dir /tmp/qs")
    _recipe_arguments(run)
    run.add_argument("--output-dir", metavar="DIR", type=_folder_name,
                     help="run directory (default: saved_models/<recipe name>/)")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted run from its last checkpoint in the run directory")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the kerasopt run already in the run directory: the files its "
                          ".kerasopt-run.json lists are deleted once the new run has finished; other "
                          "files stay, and a folder that is not a kerasopt run is refused")
    run.add_argument("--force", action="store_true",
                     help="with --resume: continue although the recipe differs from the one the "
                          "run directory was started with")
    run.add_argument("--debug", action="store_true",
                     help="show TensorFlow's start-up messages and the traceback of a failure")
    run.add_argument("--workers", type=_positive_int, metavar="N",
                     help="train with MultiWorkerMirroredStrategy in N local processes on 127.0.0.1 "
                          "(worker 0 writes the run directory; the others' logs go to its workers/). "
                          "On a cluster, set TF_CONFIG (or use srun) and pass runtime.strategy=multi_worker "
                          "instead")

    validate = _subcommand(sub, "validate", "Check recipes without running them (exit 2 on any problem).",
                           "kerasopt validate recipes/*.yaml")
    validate.add_argument("recipes", nargs="+", metavar="RECIPE", help="recipe files or shipped names")

    show = _subcommand(sub, "show", "Print the fully resolved recipe (extends, overrides and defaults applied).",
                       "kerasopt show mnist1d_cnn training.epochs=3")
    _recipe_arguments(show)

    listing = _subcommand(sub, "list", "List the shipped recipes, or the registered components.",
                          "kerasopt list --components optimizer")
    listing.add_argument("--components", nargs="?", const="all", metavar="KIND",
                         help="list registered components (of one kind: optimizer, schedule, "
                              "callback, initializer, layer, loss, metric, ...)")

    _subcommand(sub, "schema", "Print the JSON Schema of the recipe format (for editors).",
                "kerasopt schema > kerasopt-recipe.schema.json")

    board = _subcommand(sub, "tensorboard", "Start TensorBoard on run logs (bound to 127.0.0.1).",
                        "kerasopt tensorboard saved_models --port 6006")
    board.add_argument("logdir", nargs="?", default="saved_models", metavar="DIR")
    board.add_argument("--port", type=int, default=6006)
    board.add_argument("--host", default="127.0.0.1")

    lr_find = _subcommand(sub, "lr-find", "Run the LR range test on a recipe's model and data; "
                          "print the suggested learning rate and write a plot.",
                          "kerasopt lr-find recipes/mnist1d_cnn.yaml --output-dir /tmp/lr")
    _recipe_arguments(lr_find)
    lr_find.add_argument("--output-dir", metavar="DIR", type=_folder_name,
                         help="where the plot goes (default: saved_models/<recipe name>/lr_find/)")
    lr_find.add_argument("--debug", action="store_true",
                         help="show TensorFlow's start-up messages and the traceback of a failure")

    from kerasopt.report.cli import add_compare_command
    from kerasopt.sweep.cli import add_sweep_command

    add_sweep_command(sub, _subcommand)
    add_compare_command(sub, _subcommand)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, received {text!r}")
    return value


def _recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help="a recipe file, or a shipped recipe's name")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="dotted-path overrides, values parsed as YAML (training.epochs=3)")


def _version() -> str:
    from kerasopt._version import __version__

    return f"kerasopt {__version__}"


def _folder_name(text: str) -> str:
    """`--output-dir`'s value: a path, not an empty word (which would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a folder. Received: {text!r}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kerasopt` console script."""
    try:
        status = _dispatch(argv)
        sys.stdout.flush()  # a closed pipe must fail here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader left early (`kerasopt list | head -1`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _dispatch(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    # Overrides may come after options too (`run r.yaml --output-dir d training.epochs=3`),
    # which argparse alone reads as unrecognized arguments.
    args, extra = parser.parse_known_args(argv)
    late = [a for a in extra if "=" in a and not a.startswith("-")]
    if late and isinstance(getattr(args, "overrides", None), list):
        args.overrides += late
        extra = [a for a in extra if a not in late]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = getattr(args, "handler", None) or {
        "run": _run, "validate": _validate, "show": _show, "list": _list, "schema": _schema,
        "tensorboard": _tensorboard, "lr-find": _lr_find,
    }[args.command]
    return handler(args)


def _load(recipe: str, overrides: Sequence[str]):
    from kerasopt.recipe.check.loader import load_recipe

    return load_recipe(recipe, overrides)


def _report_recipe_error(err) -> int:
    print(err.render(), file=sys.stderr)
    return EXIT_USAGE


def _validate(args: argparse.Namespace) -> int:
    from kerasopt.recipe.errors import RecipeError

    status = EXIT_OK
    for recipe in args.recipes:
        try:
            loaded = _load(recipe, ())
        except RecipeError as err:
            status = _report_recipe_error(err)
            continue
        except Exception as err:  # noqa: BLE001 - report it and go on to the next file
            from kerasopt.recipe.errors import describe

            print(f"{recipe}: could not be checked: {describe(err)}", file=sys.stderr)
            status = max(status, EXIT_FAILURE) if status != EXIT_USAGE else status
            continue
        print(f"{loaded.path}: ok ({loaded.recipe.name})")
    return status


def _show(args: argparse.Namespace) -> int:
    from kerasopt.recipe.errors import RecipeError

    try:
        loaded = _load(args.recipe, args.overrides)
    except RecipeError as err:
        return _report_recipe_error(err)
    sys.stdout.write(loaded.resolved_yaml())
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    if args.components:
        from kerasopt.recipe.commands.listing import print_components

        return print_components(args.components)
    from kerasopt.recipe.commands.listing import print_recipes

    return print_recipes()


def _schema(args: argparse.Namespace) -> int:
    from kerasopt.recipe.commands.json_schema import recipe_json_schema

    json.dump(recipe_json_schema(), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return EXIT_OK


def _tensorboard(args: argparse.Namespace) -> int:
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", args.logdir, "--host", args.host, "--port", str(args.port)])
    return board.main()


def _guarded(args: argparse.Namespace, action, claim=None) -> int:
    """Load the recipe, claim the run directory, start TensorFlow quietly, run an action.

    A recipe error exits 2 before TensorFlow loads, and so does a run directory that may
    not be used (`claim`, which reads files only: a busy or finished directory is refused
    at once) and a Keras backend other than TensorFlow (the runner is TensorFlow-only); a
    failure while running prints one message and exits 1 (`--debug` shows TensorFlow's
    start-up lines and the traceback).

    Args:
        args: The parsed command line.
        action: Called as `action(loaded)`, or `action(loaded, claimed)` with `claim`.
        claim: Called as `claim(loaded)`, a context manager held around TensorFlow's start
            and the action. Defaults to `None`.
    """
    from kerasopt.recipe.errors import RecipeError, RunRefused

    try:
        loaded = _load_as_run(args.recipe, args.overrides)
    except RecipeError as err:
        return _report_recipe_error(err)
    try:
        with contextlib.ExitStack() as stack:
            claimed = None
            if claim is not None:
                from kerasopt.recipe.run.interrupts import interrupt_on_signals

                stack.enter_context(interrupt_on_signals())
                claimed = stack.enter_context(claim(loaded))
            from kerasopt.tf_startup import start_tensorflow_quietly

            start_tensorflow_quietly(show=args.debug)
            from kerasopt._backend import RECIPE_RUNNER, UnsupportedBackendError, require_tensorflow

            try:
                require_tensorflow(RECIPE_RUNNER)
            except UnsupportedBackendError as err:  # nothing ran, nothing was written
                print(f"kerasopt: error: {err}", file=sys.stderr)
                return EXIT_USAGE
            return action(loaded) if claim is None else action(loaded, claimed)
    except RunRefused as err:
        print(f"kerasopt: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except RecipeError as err:  # found once the models exist (distillation), before writing
        return _report_recipe_error(err)
    except KeyboardInterrupt as err:  # RunInterrupted says what was kept and how to resume
        print(getattr(err, "message", "") or "kerasopt: interrupted", file=sys.stderr)
        return getattr(err, "exit_code", 130)
    except Exception as err:  # noqa: BLE001 - the command line's last line of defence
        from kerasopt.distribute.cluster import ClusterConfigError

        if isinstance(err, ClusterConfigError):
            print(f"kerasopt: error: {err}", file=sys.stderr)
            return EXIT_USAGE
        if args.debug:
            raise
        from kerasopt.recipe.errors import describe

        print(f"kerasopt: error: {describe(err)}", file=sys.stderr)
        print("(run again with --debug to see the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def _load_as_run(recipe: str, overrides: Sequence[str]):
    """The recipe as a run resolves it: with `runtime.verbose=2` added when output is not a terminal."""
    from kerasopt.recipe.check.loader import progress_overrides

    loaded = _load(recipe, overrides)
    shown = progress_overrides(loaded, overrides)
    return loaded if shown == list(overrides) else _load(recipe, shown)


def _run(args: argparse.Namespace) -> int:
    if args.workers is not None:
        return _launch_workers(args)

    def claim(loaded):
        from kerasopt.recipe.store.run_claim import claim_run

        return claim_run(loaded, output_dir=args.output_dir, resume=args.resume,
                         overwrite=args.overwrite, force=args.force)

    def action(loaded, claimed) -> int:
        from kerasopt.recipe.run.runner import run

        run(loaded, claimed=claimed)
        return EXIT_OK

    return _guarded(args, action, claim)


def _launch_workers(args: argparse.Namespace) -> int:
    """`run --workers N`: check the recipe here, then run it in N local worker processes."""
    from pathlib import Path

    from kerasopt.distribute.launch import STRATEGY_OVERRIDE, LaunchError, launch_run
    from kerasopt.recipe.errors import RecipeError, RunFailed, RunRefused
    from kerasopt.recipe.store.run_claim import check_claim

    try:
        # As the chief will load it, so that --resume compares the same resolved recipe.
        loaded = _load_as_run(args.recipe, [*args.overrides, STRATEGY_OVERRIDE])
    except RecipeError as err:
        return _report_recipe_error(err)
    output_dir = args.output_dir or Path("saved_models") / loaded.recipe.name
    flags = [flag for flag, wanted in (("--resume", args.resume), ("--overwrite", args.overwrite),
                                       ("--force", args.force), ("--debug", args.debug)) if wanted]
    try:
        check_claim(loaded, output_dir=str(output_dir), resume=args.resume, overwrite=args.overwrite,
                    force=args.force)
    except RunRefused as err:
        print(f"kerasopt: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except RunFailed as err:
        print(f"kerasopt: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        return launch_run(args.recipe, args.overrides, workers=args.workers, flags=flags, output_dir=output_dir)
    except LaunchError as err:
        print(f"kerasopt: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _lr_find(args: argparse.Namespace) -> int:
    def action(loaded) -> int:
        from kerasopt.recipe.commands.lr_find import lr_find

        lr_find(loaded, output_dir=args.output_dir)
        return EXIT_OK

    return _guarded(args, action)


if __name__ == "__main__":
    sys.exit(main())
