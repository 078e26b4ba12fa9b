"""`kerasopt compare`: table numbers from metrics.json, plots, Markdown, HTML in a real browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kerasopt.report.comparison import Comparison
from kerasopt.report.run_record import NotARunError

ROOT = Path(__file__).resolve().parents[2]


def metrics(val_acc: list[float], val_loss: list[float], *, tflite: bool, test_acc: float) -> dict:
    """A metrics.json of two stages (the history is split 2 + rest epochs), as the runner writes it."""
    stages = [{"name": name, "epochs": len(part), "steps": 10 * len(part),
               "history": {"accuracy": [a - 0.05 for a in part], "val_accuracy": list(part),
                           "loss": [v + 0.1 for v in losses], "val_loss": list(losses)}}
              for name, part, losses in (("train", val_acc[:2], val_loss[:2]), ("finetune", val_acc[2:], val_loss[2:]))]
    exports = {"keras": {"path": "model.keras", "bytes": 29195}}
    if tflite:
        exports["tflite"] = {"path": "model.tflite", "bytes": 2620, "gzip_bytes": 1389, "accuracy": 0.7}
    return {"recipe": "r", "params": 83, "timing": {"fit_seconds": 1.5, "train_steps": 40},
            "evaluation": {"test": {"accuracy": test_acc, "loss": 0.61},
                           "validation": {"accuracy": val_acc[-1], "loss": val_loss[-1]}},
            "stages": stages, "exports": exports}


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    out = []
    for name, data in (("small", metrics([0.5, 0.6, 0.7, 0.65], [1.0, 0.8, 0.7, 0.72], tflite=True, test_acc=0.62)),
                       ("large", metrics([0.6, 0.8, 0.75, 0.9], [0.9, 0.5, 0.6, 0.4], tflite=False, test_acc=0.88))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps(data))
        out.append(folder)
    return out


def kerasopt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kerasopt.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


def test_table_numbers_equal_those_in_metrics_json(runs):
    comparison = Comparison(runs)
    assert comparison.metric == "accuracy"
    rows = {row["run"]: row for row in comparison.rows()}
    for path in runs:
        data = json.loads((path / "metrics.json").read_text())
        row = rows[path.name]
        history = {k: sum((s["history"][k] for s in data["stages"]), []) for k in ("val_accuracy", "val_loss")}
        assert row["test accuracy"] == data["evaluation"]["test"]["accuracy"]
        assert row["test loss"] == data["evaluation"]["test"]["loss"]
        assert row["val accuracy"] == data["evaluation"]["validation"]["accuracy"]
        assert row["val loss"] == data["evaluation"]["validation"]["loss"]
        assert row["best val accuracy"] == max(history["val_accuracy"])  # over both stages
        assert row["best val loss"] == min(history["val_loss"])
        assert row["step ms"] == pytest.approx(1000 * 1.5 / 40)
        assert row["keras bytes"] == 29195 and row["model params"] == 83
        assert row["tflite bytes"] == data["exports"].get("tflite", {}).get("bytes")
    assert rows["small"]["tflite gzip bytes"] == 1389 and rows["small"]["tflite accuracy"] == 0.7
    headers, cells = comparison.table()
    assert [c[0] for c in cells] == ["large", "small"]  # best validation accuracy first
    assert cells[0][headers.index("best val accuracy")] == "0.9000"
    assert cells[1][headers.index("tflite gzip bytes")] == "1389" and cells[0][headers.index("tflite bytes")] == ""


def test_history_joins_stages(runs):
    record = Comparison(runs).records[0]
    assert record.history()["val_accuracy"] == [0.5, 0.6, 0.7, 0.65]
    assert record.epoch_end_steps() == [10.0, 20.0, 30.0, 40.0]


def test_markdown_report_with_pngs_beside_it(runs, tmp_path):
    path = Comparison(runs).write(tmp_path / "out" / "report.md")
    text = path.read_text()
    assert "| large | 0.8800 | 0.9000 | 0.9000 |" in text
    for name in ("curves", "tflite"):
        png = tmp_path / "out" / f"report_{name}.png"
        assert f"](report_{name}.png)" in text and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "out" / "report_learning_rate.png").exists()  # no TensorBoard logs here


def test_compare_names_every_directory_that_is_not_a_run(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotARunError) as info:
        Comparison([*runs, tmp_path / "empty", tmp_path / "missing"])
    assert [p for p, _ in info.value.problems] == [str(tmp_path / "empty"), str(tmp_path / "missing")]
    result = kerasopt("compare", str(runs[0]), str(tmp_path / "empty"), str(tmp_path / "missing"))
    assert result.returncode == 2
    assert f"{tmp_path / 'empty'}: no metrics.json" in result.stderr
    assert f"{tmp_path / 'missing'}: no such directory" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_cli_prints_markdown_and_writes_html(runs, tmp_path):
    printed = kerasopt("compare", *map(str, runs), "--metric", "val_loss")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("# Comparison of 2 runs") and "| run | test loss |" in printed.stdout
    written = kerasopt("compare", *map(str, runs), "--output", str(tmp_path / "r.html"))
    assert written.returncode == 0, written.stderr
    page = (tmp_path / "r.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert "http://" not in page and "https://" not in page


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.slow
def test_html_page_renders_in_headless_chromium(runs, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary on PATH (CI installs it: apt-get install -y chromium)")
    page = Comparison(runs).write(tmp_path / "report.html")
    base = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    assert 'data-images-ok="true"' in dom.stdout and 'data-images="2"' in dom.stdout
    assert "<td>large</td><td>0.8800</td><td>0.9000</td>" in dom.stdout
    assert dom.stdout.count("<tr>") == 3  # header and two runs
    shot = tmp_path / "shot.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def _legend_entries(fig) -> list[list[str]]:
    return [[t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []
            for ax in fig.axes]


def test_curve_legends_name_every_run_with_and_without_a_validation_split(runs, tmp_path):
    """Issue 19 item 11: runs without a validation split drew loss/accuracy with an empty legend."""
    from kerasopt.report.plots import curves_figure
    from kerasopt.report.run_record import RunRecord

    for folder in runs:  # the same runs, trained without a validation split
        data = json.loads((folder / "metrics.json").read_text())
        for stage in data["stages"]:
            stage["history"] = {k: v for k, v in stage["history"].items() if not k.startswith("val_")}
        del data["evaluation"]["validation"]
        (tmp_path / f"{folder.name}_noval").mkdir()
        (tmp_path / f"{folder.name}_noval" / "metrics.json").write_text(json.dumps(data))
    without = RunRecord.load_all([tmp_path / f"{f.name}_noval" for f in runs])
    fig = curves_figure(without, "accuracy")
    assert _legend_entries(fig) == [["small_noval", "large_noval"]] * 2
    assert [ax.get_title() for ax in fig.axes] == ["loss: training (dashed)", "accuracy: training (dashed)"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    fig = curves_figure(RunRecord.load_all(runs) + without[:1], "accuracy")
    assert _legend_entries(fig) == [["small", "large", "small_noval"]] * 2  # each run named once
    assert [len(ax.get_lines()) for ax in fig.axes] == [5, 5]
    assert fig.axes[0].get_title() == "loss: validation (solid), training (dashed)"
