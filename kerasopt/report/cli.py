"""The `kerasopt compare` subcommand: its arguments and its handler (no matplotlib import at parse time)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLE = "kerasopt compare saved_models/run_a saved_models/run_b --output report.html"


def add_compare_command(subparsers: Any, subcommand: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `compare` to the CLI's subparsers; `subcommand(subparsers, name, help, example)` makes a parser."""
    parser = subcommand(subparsers, "compare", "Compare run directories: a table of final and best "
                        "metrics, size and speed, with loss, learning-rate and size plots.", EXAMPLE)
    parser.add_argument("runs", nargs="*", metavar="RUN_DIR", help="run directories (with metrics.json)")
    parser.add_argument("--mlflow", metavar="URI", help="also compare the finished runs of an MLflow "
                        "experiment (runtime.loggers: [{type: mlflow}]), read from MLflow at URI: "
                        "kerasopt compare --mlflow sqlite:///mlflow.db --experiment quickstart")
    parser.add_argument("--experiment", metavar="NAME", help="with --mlflow, the MLflow experiment whose "
                        "finished runs are compared (a recipe logs to the experiment named after it by default)")
    parser.add_argument("--output", metavar="FILE",
                        help="write report.md (figures as PNG files beside it) or report.html "
                             "(self-contained); default: print the table as Markdown")
    parser.add_argument("--metric", metavar="NAME",
                        help="the metric compared besides the loss (default: accuracy when present)")
    parser.set_defaults(handler=run_compare_command)


def run_compare_command(args: argparse.Namespace) -> int:
    """Handle `kerasopt compare`: exit 2 naming every directory that is not a run, or a bad --output."""
    from kerasopt.report.comparison import Comparison
    from kerasopt.report.run_record import NotARunError

    if args.output and not args.output.endswith((".html", ".htm", ".md")):
        print(f"kerasopt compare: --output must end in .html or .md, got {args.output!r}", file=sys.stderr)
        return 2
    if (args.mlflow is None) != (args.experiment is None):
        print("kerasopt compare: --mlflow URI and --experiment NAME go together", file=sys.stderr)
        return 2
    if not args.runs and args.mlflow is None:
        print("kerasopt compare: give run directories, or --mlflow URI --experiment NAME", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kerasopt-compare-") as folder:
        runs = list(args.runs)
        if args.mlflow is not None:
            from kerasopt.report.mlflow_runs import MlflowSourceError, download_runs

            try:
                runs += download_runs(args.mlflow, args.experiment, Path(folder))
            except MlflowSourceError as err:
                print(f"kerasopt compare: {err}", file=sys.stderr)
                return 2
        try:
            comparison = Comparison(runs, metric=args.metric)
        except NotARunError as err:
            print(f"kerasopt compare: {err}", file=sys.stderr)
            return 2
    if args.output is None:
        sys.stdout.write(comparison.markdown())
        return 0
    path = comparison.write(args.output)
    print(f"report: {path}")
    return 0
