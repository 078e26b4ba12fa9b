"""Run every technique study in recipes/studies/ and tabulate what each variant measured.

Run: python benchmarks/technique_studies.py [--study NAME ...] [--list]

Each study is one recipe with a `sweep:` grid (run as a kerasopt sweep) or a folder of
recipes (run one after another), all in this process and serially. Run directories go
to saved_models/technique_studies/<study>/ (a study's folder is emptied before it runs), each
study with the `kerasopt compare` report of its runs (report.md, report.html). For every
variant this collects the test accuracy and loss, train steps, fit and wall seconds, and the
TFLite size and accuracy where one is exported, then writes
benchmarks/results/technique_studies.json and technique_studies.md (one row per variant with
a takeaway measured against the study's reference variant, and each study's textbook claims
checked against the numbers). With --study, the other studies' stored results are kept.
Pruning, QAT, clustering and distillation are not run again: their rows are read from
compression_vs_tfmot.json and distillation.json (benchmarks/compression_vs_tfmot.py,
benchmarks/distillation.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
STUDIES_DIR = REPO / "recipes" / "studies"
RESULTS = REPO / "benchmarks" / "results"
OUTPUT_ROOT = Path("saved_models") / "technique_studies"


@dataclass(frozen=True)
class Study:
    """One study: a sweep recipe (`variants` empty) or a folder of recipes run in `variants` order.

    `claims` are (statement, better, worse, margin): the statement holds when the best test
    accuracy among the `better` variants exceeds the best among the `worse` ones by more than
    `margin`; a difference within two standard errors of a difference of two accuracies on
    `test_n` examples is reported as within noise.
    """

    name: str
    technique: str
    path: str
    reference: str
    test_n: int
    variants: tuple[str, ...] = ()
    claims: tuple[tuple[str, tuple[str, ...], tuple[str, ...], float], ...] = ()
    notes: str = ""


def _c(statement: str, better: str | tuple[str, ...], worse: str | tuple[str, ...],
       margin: float = 0.0) -> tuple:
    return statement, _names(better), _names(worse), margin


def _names(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _grid(prefix: str, key: str, values: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(f"{prefix} {key}={v}" for v in values)


_NORM_RATES = (0.001, 0.01, 0.1)
STUDIES = (
    Study("gradient_descent", "batch / stochastic / mini-batch GD, momentum", "gradient_descent.yaml",
          "batch_size=32 momentum=0.0", 360, claims=(
              _c("mini-batch (32) beats batch GD at 10 epochs", "batch_size=32 momentum=0.0",
                 "batch_size=full momentum=0.0"),
              _c("momentum helps batch GD", "batch_size=full momentum=0.9", "batch_size=full momentum=0.0"),
              _c("momentum helps mini-batch GD", "batch_size=32 momentum=0.9", "batch_size=32 momentum=0.0"),
              _c("stochastic (1) beats mini-batch (32) per epoch", "batch_size=1 momentum=0.0",
                 "batch_size=32 momentum=0.0"))),
    Study("adaptive_optimizers", "adaptive optimizers", "adaptive_optimizers.yaml",
          "type=sgd learning_rate=0.01", 1000, claims=(
              _c("Adam (best of 2 rates) beats plain SGD (best of 2)",
                 ("type=adam learning_rate=0.001", "type=adam learning_rate=0.01"),
                 ("type=sgd learning_rate=0.001", "type=sgd learning_rate=0.01")),
              _c("the best newer optimizer (RAdam, AdaBelief, Yogi, NovoGrad, Lion) beats Adam",
                 tuple(f"type={o} learning_rate={r}" for o in ("radam", "adabelief", "yogi", "novograd", "lion")
                       for r in (0.001, 0.01)),
                 ("type=adam learning_rate=0.001", "type=adam learning_rate=0.01")))),
    Study("full_batch", "L-BFGS and conjugate gradient", "full_batch", "gd", 360,
          ("gd", "gd_momentum", "adam", "lbfgs", "conjugate_gradient"), claims=(
              _c("L-BFGS beats full-batch GD in 100 evaluations", "lbfgs", "gd"),
              _c("L-BFGS beats full-batch Adam in 100 evaluations", "lbfgs", "adam"),
              _c("conjugate gradient beats full-batch GD", "conjugate_gradient", "gd"))),
    Study("initializers", "initialization (deep net)", "initializers.yaml",
          "kernel_initializer=random_normal", 360, claims=(
              _c("He beats random normal on a 20-layer ReLU net", "kernel_initializer=he_normal",
                 "kernel_initializer=random_normal"),
              _c("LSUV beats random normal", "kernel_initializer=lsuv", "kernel_initializer=random_normal"),
              _c("He beats Glorot on ReLU", "kernel_initializer=he_normal",
                 "kernel_initializer=glorot_uniform"))),
    Study("activations", "activation functions", "activations.yaml", "activation=sigmoid", 360, claims=(
        _c("ReLU beats sigmoid in a 10-layer net", "activation=relu", "activation=sigmoid"),
        _c("tanh beats sigmoid", "activation=tanh", "activation=sigmoid"))),
    Study("regularization", "L1 / L2 / dropout / batch norm / layer norm", "regularization", "none", 1000,
          ("none", "l1", "l2", "dropout", "batch_norm", "layer_norm"), claims=(
              _c("L2 beats no regularization", "l2", "none"),
              _c("dropout beats no regularization", "dropout", "none"),
              _c("batch norm beats no regularization", "batch_norm", "none"))),
    Study("data_normalization", "input normalization", "data_normalization.yaml",
          "normalization=none learning_rate=0.01", 360, claims=(
              _c("standardization beats raw inputs (each at its best of 3 rates)",
                 _grid("normalization=standardize", "learning_rate", _NORM_RATES),
                 _grid("normalization=none", "learning_rate", _NORM_RATES)),
              _c("min-max beats raw inputs (each at its best of 3 rates)",
                 _grid("normalization=minmax", "learning_rate", _NORM_RATES),
                 _grid("normalization=none", "learning_rate", _NORM_RATES)))),
    Study("augmentation", "data augmentation", "augmentation", "none", 1000,
          ("none", "noise", "translation", "noise_translation", "mixup"), claims=(
              _c("noise + shifts beat no augmentation", "noise_translation", "none"),
              _c("mixup beats no augmentation", "mixup", "none"))),
    Study("transfer_learning", "transfer learning", "transfer_learning", "scratch", 1000,
          ("source", "scratch", "feature_extractor", "finetune"), claims=(
              _c("a frozen pretrained body beats training from scratch", "feature_extractor", "scratch"),
              _c("fine-tuning beats training from scratch", "finetune", "scratch")),
          notes="`source` is evaluated on the source task (the clean MNIST-1D test split)."),
    Study("batch_size_scaling", "batch size, linear LR scaling", "batch_size_scaling", "b25", 1000,
          ("b25", "b100_same_lr", "b100_linear", "b400_same_lr", "b400_linear", "b400_linear_warmup"),
          claims=(_c("linear scaling beats the unscaled rate at batch 100", "b100_linear", "b100_same_lr"),
                  _c("linear scaling beats the unscaled rate at batch 400", "b400_linear", "b400_same_lr"),
                  _c("warmup helps the scaled rate at batch 400", "b400_linear_warmup", "b400_linear"))),
    Study("early_stopping", "early stopping", "early_stopping", "full_last", 360,
          ("full_last", "full_best", "patience_5", "patience_15"), claims=(
              _c("the best epoch beats the last epoch", "full_best", "full_last"),
              _c("patience 5 beats training all 100 epochs (last weights)", "patience_5", "full_last"),
              _c("patience 5 is within 1 point of the best epoch of 100", "patience_5", "full_best",
                 margin=-0.01))),
    Study("lr_schedules", "LR schedules, LR range test", "lr_schedules", "constant_1e-2", 1000,
          ("constant_1e-3", "constant_1e-2", "step_decay", "cosine", "warmup_cosine", "one_cycle",
           "cyclical", "lr_range_test"), claims=(
              _c("cosine decay beats the constant rate", "cosine", "constant_1e-2"),
              _c("one-cycle beats the constant rate", "one_cycle", "constant_1e-2"),
              _c("step decay beats the constant rate", "step_decay", "constant_1e-2"),
              _c("the LR range test's rate beats Adam's default 1e-3", "lr_range_test", "constant_1e-3"))),
    Study("quantization", "post-training quantization", "quantization.yaml", "quantization=none", 360,
          claims=(_c("int8 keeps the float accuracy (within 1 point)", "quantization=int8",
                     "quantization=none", margin=-0.01),)),
    Study("compression", "pruning, QAT, clustering, distillation (reused results)", "", "float", 1000),
)
STUDY_NAMES = tuple(s.name for s in STUDIES)


def variant_label(params: dict[str, Any]) -> str:
    """A sweep trial's variant name: `last_key=value` pairs (`batch_size=full momentum=0.9`)."""
    return " ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in params.items())


def collect_run(run_dir: Path, variant: str, wall_seconds: float | None) -> dict[str, Any]:
    """One variant's numbers from its run directory's metrics.json."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    test = (metrics.get("evaluation") or {}).get("test") or {}
    timing = metrics.get("timing") or {}
    tflite = (metrics.get("exports") or {}).get("tflite") or {}
    row = {"variant": variant, "run_dir": str(run_dir), "test_accuracy": test.get("accuracy"),
           "test_loss": test.get("loss"), "train_steps": timing.get("train_steps"),
           "fit_seconds": timing.get("fit_seconds"), "wall_seconds": wall_seconds,
           "params": metrics.get("params")}
    if tflite:
        row.update(tflite_quantization=tflite.get("quantization"), tflite_bytes=tflite.get("bytes"),
                   tflite_gzip_bytes=tflite.get("gzip_bytes"), tflite_accuracy=tflite.get("accuracy"))
    return row


def run_sweep_study(study: Study, out: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """Run a study's `sweep:` grid in this process; one row per trial, in grid order."""
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.sweep.search_space import SearchSpace
    from kerasopt.sweep.sweep import Sweep

    recipe = str(STUDIES_DIR / study.path)
    section = load_recipe(recipe, overrides).recipe.sweep
    space = SearchSpace.parse([f"{k}={v}" for k, v in section.params.items()], source="sweep.params")
    sweep = Sweep(recipe, space, overrides=overrides, sampler=section.sampler, metric=section.metric,
                  direction=section.direction, output_dir=str(out), seed=0)
    sweep.run()
    rows = []
    for trial_dir in sorted(out.glob("trial_*"), key=lambda p: int(p.name.split("_")[-1])):
        trial = json.loads((trial_dir / "trial.json").read_text(encoding="utf-8"))
        if (trial_dir / "metrics.json").exists():
            rows.append(collect_run(trial_dir, variant_label(trial["params"]), trial.get("seconds")))
    return rows


def run_folder_study(study: Study, out: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """Run a folder study's recipes one after another; writes the folder's compare report."""
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.recipe.run.runner import run
    from kerasopt.report.comparison import Comparison

    rows = []
    for variant in study.variants:
        run_dir = out / variant
        started = time.perf_counter()
        run(load_recipe(str(STUDIES_DIR / study.path / f"{variant}.yaml"), overrides),
            output_dir=str(run_dir))
        rows.append(collect_run(run_dir, variant, time.perf_counter() - started))
    comparison = Comparison([out / v for v in study.variants])
    comparison.write(out / "report.md")
    comparison.write(out / "report.html")
    return rows


def reused_compression_rows(results: Path = RESULTS) -> list[dict[str, Any]]:
    """Rows of the compression study, read from the compression and distillation benchmarks."""
    comp = json.loads((results / "compression_vs_tfmot.json").read_text(encoding="utf-8"))
    ours = comp["kerasopt"]
    frontier = {(p["sparsity"], p["structure"], p["technique"]): p for p in comp["frontier"]}
    clustered = frontier[(0.8, "unstructured", "clustering")]

    def row(variant: str, accuracy: float, gzip: int | None, source: str) -> dict[str, Any]:
        return {"variant": variant, "test_accuracy": accuracy, "tflite_gzip_bytes": gzip,
                "source": source, "reused": True}

    rows = [row("float", ours["float_accuracy"], ours["float_gzip"], "compression_vs_tfmot.json"),
            row("prune 85% + QAT (int8)", ours["int8_accuracy"], ours["int8_gzip"],
                "compression_vs_tfmot.json"),
            row("prune 80% + 16 clusters (int8)", clustered["int8_accuracy"], clustered["int8_gzip"],
                "compression_vs_tfmot.json frontier")]
    distill = json.loads((results / "distillation.json").read_text(encoding="utf-8"))["means"]
    rows += [row("teacher (distillation)", distill["teacher"], None, "distillation.json"),
             row("student alone", distill["alone"], None, "distillation.json"),
             row("student distilled", distill["distilled"], None, "distillation.json"),
             row("student distilled (int8)", distill["distilled_int8"], None, "distillation.json")]
    return rows


def run_study(study: Study, output_root: Path = OUTPUT_ROOT, overrides: list[str] | None = None
              ) -> dict[str, Any]:
    """Run one study (its output folder emptied first) and return its result entry."""
    overrides = list(overrides or [])
    started = time.perf_counter()
    if study.name == "compression":
        rows = reused_compression_rows()
    else:
        out = output_root / study.name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        runner = run_folder_study if study.variants else run_sweep_study
        rows = runner(study, out, overrides)
    return {"study": study.name, "technique": study.technique, "recipe": f"recipes/studies/{study.path}"
            if study.path else None, "reference": study.reference, "test_examples": study.test_n,
            "overrides": overrides, "seconds": round(time.perf_counter() - started, 1),
            "variants": rows, "claims": check_claims(study, rows), "notes": study.notes}


def noise_band(first: float, second: float, n: int) -> float:
    """Two standard errors of the difference of two independent accuracies on `n` examples.

    Example:
        >>> round(noise_band(0.9, 0.9, 1000), 4)
        0.0268
    """
    return 2 * math.sqrt((first * (1 - first) + second * (1 - second)) / n)


def _best(rows: dict[str, float | None], names: tuple[str, ...]) -> tuple[str, float] | None:
    found = [(rows[n], n) for n in names if rows.get(n) is not None]
    return (max(found)[1], max(found)[0]) if found else None


def check_claims(study: Study, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each textbook claim of a study checked against the measured test accuracies."""
    accuracy = {r["variant"]: r.get("test_accuracy") for r in rows}
    out = []
    for statement, better, worse, margin in study.claims:
        high, low = _best(accuracy, better), _best(accuracy, worse)
        if high is None or low is None:
            out.append({"claim": statement, "verdict": "not measured"})
            continue
        difference = high[1] - low[1]
        band = noise_band(high[1], low[1], study.test_n)
        if margin == 0.0 and abs(difference) <= band:
            verdict = "within noise"
        else:
            verdict = "holds" if difference > margin else "does not hold"
        out.append({"claim": statement, "better": high[0], "worse": low[0],
                    "better_accuracy": high[1], "worse_accuracy": low[1],
                    "difference": difference, "noise_band": band, "verdict": verdict})
    return out


def _ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value and base else None


def takeaway(row: dict[str, Any], reference: dict[str, Any] | None, best: str | None) -> str:
    """One line for a variant, measured against its study's reference variant."""
    if row.get("test_accuracy") is None:
        return "diverged: no finite test accuracy"
    parts = ["best of the study"] if row["variant"] == best else []
    if reference is None or row is reference:
        return "; ".join(["reference", *parts])
    if reference.get("test_accuracy") is not None:
        parts.append(f"{100 * (row['test_accuracy'] - reference['test_accuracy']):+.1f} points vs "
                     f"{reference['variant']}")
    steps = _ratio(row.get("train_steps"), reference.get("train_steps"))
    if steps is not None and abs(steps - 1) > 0.01:
        parts.append(f"{steps:.3g}x the steps")
    seconds = _ratio(row.get("fit_seconds"), reference.get("fit_seconds"))
    if seconds is not None and abs(seconds - 1) > 0.1:
        parts.append(f"{seconds:.2g}x the fit time")
    size = _ratio(reference.get("tflite_gzip_bytes"), row.get("tflite_gzip_bytes"))
    if size is not None and abs(size - 1) > 0.01:
        parts.append(f"{size:.1f}x smaller TFLite (gzip)")
    return "; ".join(parts)


def _cell(value: Any, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def markdown(results: list[dict[str, Any]]) -> str:
    """The Markdown table of every variant, then each study's claims checked."""
    lines = ["# Technique studies", "",
             "Written by `python benchmarks/technique_studies.py` (recipes in `recipes/studies/`); "
             "one seed, this 2-core CPU machine. Accuracy is on the test split; `steps` are optimizer "
             "steps, `fit s` the seconds in `fit`, `wall s` the whole run (build, fit, evaluate, "
             "export).", "",
             "| study | variant | test accuracy | test loss | steps | fit s | wall s | TFLite gzip KB "
             "| takeaway |", "|---|---|---|---|---|---|---|---|---|"]
    for result in results:
        rows = result["variants"]
        reference = next((r for r in rows if r["variant"] == result["reference"]), None)
        scored = [r for r in rows if r.get("test_accuracy") is not None]
        best = max(scored, key=lambda r: r["test_accuracy"])["variant"] if scored else None
        for row in rows:
            gzip = row.get("tflite_gzip_bytes")
            lines.append("| " + " | ".join([
                result["study"], row["variant"], _cell(row.get("test_accuracy"), ".3f"),
                _cell(row.get("test_loss"), ".3f"), _cell(row.get("train_steps"), "d"),
                _cell(row.get("fit_seconds"), ".1f"), _cell(row.get("wall_seconds"), ".1f"),
                _cell(gzip / 1000 if gzip else None, ".1f"), takeaway(row, reference, best)]) + " |")
    lines += ["", "## Claims checked against the numbers", "",
              "A difference within two standard errors of the difference of two accuracies on the "
              "test split is reported as within noise.", ""]
    for result in results:
        head = f"**{result['study']}** ({result['technique']}"
        head += f"; `{result['recipe']}`)" if result.get("recipe") else ")"
        lines.append(head + (f" {result['notes']}" if result.get("notes") else ""))
        lines.append("")
        for claim in result["claims"]:
            if claim["verdict"] == "not measured":
                lines.append(f"- {claim['claim']}: not measured")
                continue
            lines.append(f"- {claim['claim']}: **{claim['verdict']}** ({claim['better']} "
                         f"{claim['better_accuracy']:.3f} vs {claim['worse']} {claim['worse_accuracy']:.3f}, "
                         f"{100 * claim['difference']:+.1f} points; noise +/-{100 * claim['noise_band']:.1f})")
        lines.append("")
    return "\n".join(lines)


def write_results(results: list[dict[str, Any]], json_path: Path, md_path: Path) -> None:
    """Merge `results` into the stored JSON (by study, in STUDIES order) and rewrite both files."""
    stored = json.loads(json_path.read_text(encoding="utf-8"))["studies"] if json_path.exists() else []
    by_name = {r["study"]: r for r in stored} | {r["study"]: r for r in results}
    order = [n for n in STUDY_NAMES if n in by_name] + [n for n in by_name if n not in STUDY_NAMES]
    merged = [by_name[n] for n in order]
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"studies": merged}, indent=1, allow_nan=False) + "\n",
                         encoding="utf-8")
    md_path.write_text(markdown(merged) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="append", choices=STUDY_NAMES, metavar="NAME",
                        help=f"run only these studies (repeatable): {', '.join(STUDY_NAMES)}")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    parser.add_argument("--output-root", default=str(OUTPUT_ROOT), help="where run directories go")
    parser.add_argument("--results", default=str(RESULTS), help="where the JSON and Markdown go")
    args = parser.parse_args(argv)
    if args.list:
        for study in STUDIES:
            print(f"{study.name:22s} {study.technique}")
        return 0
    chosen = [s for s in STUDIES if not args.study or s.name in args.study]
    results_dir = Path(args.results)
    failed = []
    for study in chosen:
        print(f"== study {study.name}", flush=True)
        try:
            result = run_study(study, Path(args.output_root))
        except Exception:  # noqa: BLE001 - report it and go on with the next study
            traceback.print_exc()
            failed.append(study.name)
            continue
        write_results([result], results_dir / "technique_studies.json",
                      results_dir / "technique_studies.md")
        print(f"== study {study.name}: {result['seconds']} s", flush=True)
    if failed:
        print(f"failed studies: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
