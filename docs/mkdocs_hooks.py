"""MkDocs hook: the benchmarks' plots are published from where the benchmarks write them.

`docs/benchmarks.md` links `benchmarks/results/<plot>.png`; the files stay in
`benchmarks/results/` (the scripts regenerate them there) and are added to the site under
the same path, so the link resolves without a copy in `docs/`.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]


def on_files(files, config):
    """Add every PNG of `benchmarks/results/` to the site, at `benchmarks/results/`."""
    for plot in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        files.append(File.generated(config, f"benchmarks/results/{plot.name}", abs_src_path=str(plot)))
    return files
