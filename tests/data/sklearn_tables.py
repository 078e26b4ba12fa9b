"""scikit-learn's bundled tables written as CSV and npz files, as a user's own data would be.

breast_cancer (binary, 569 x 30), wine (3 classes, 178 x 13) and diabetes (regression,
442 x 10, whole-number targets) come with scikit-learn, so no download is involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TABLES = {"breast_cancer": "load_breast_cancer", "wine": "load_wine", "diabetes": "load_diabetes"}


def write_tables(folder: Path) -> dict[str, dict[str, str]]:
    """Write each table as `<name>.csv` (header: feature names, then `target`) and `<name>.npz`.

    Wine's classes are written as 1, 2, 3 (as in the UCI original) to exercise labels
    that are not class indices.

    Returns:
        `{name: {"csv": path, "npz": path}}`.
    """
    import sklearn.datasets

    paths = {}
    for name, loader in TABLES.items():
        bunch = getattr(sklearn.datasets, loader)()
        x, y = bunch.data, bunch.target + (1 if name == "wine" else 0)
        columns = [str(c).replace(" ", "_") for c in bunch.feature_names]
        csv_path, npz_path = folder / f"{name}.csv", folder / f"{name}.npz"
        with open(csv_path, "w", encoding="utf-8") as handle:
            handle.write(",".join([*columns, "target"]) + "\n")
            np.savetxt(handle, np.column_stack([x, y]), delimiter=",",
                       fmt=["%.10g"] * len(columns) + ["%d" if name != "diabetes" else "%.1f"])
        np.savez(npz_path, x=x, y=y)
        paths[name] = {"csv": str(csv_path), "npz": str(npz_path)}
    return paths
