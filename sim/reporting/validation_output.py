"""A validation run written out: the comparison table, its forest plot and the manifest (``lnsim validate``)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sim.analysis.validation import METRICS, ValidationRun


def validation_manifest(run: ValidationRun) -> dict:
    """What produced a validation run: model, targets, populations (with checksums), libraries."""
    import sim
    from sim.reporting.run_output import library_versions
    libs = library_versions(("simpy", "numpy", "scipy", "pandas", "matplotlib"))
    pops = {k: {"path": v, "sha256": hashlib.sha256(Path(v).read_bytes()).hexdigest()}
            for k, v in run.populations.items()}
    summary = {}
    for validity, g in run.table.groupby("validity", sort=False):
        judged = g["inside"].dropna()
        summary[validity] = {"comparisons": int(len(g)), "inside": int(judged.astype(bool).sum())}
    return {"lnsim_version": sim.__version__, "model": run.model.describe(), "patients": run.patients,
            "seed": run.seed, "targets": run.targets_source, "targets_sha256": run.targets_sha256,
            "populations": pops, "summary": summary, "libraries": libs,
            "metrics": {k: m.description for k, m in METRICS.items()}}


def write_validation(run: ValidationRun, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write validation.csv, validation_forest.png/.svg and validation_manifest.json to ``out_dir``.

    Files go to a temporary folder first and are renamed into place at the end.
    """
    from sim.reporting.plots import plot_validation_forest, save_figure
    from sim.outputs import check_new_folder, staged_folder
    out = check_new_folder(Path(out_dir), overwrite)
    with staged_folder(out) as tmp:
        run.table.to_csv(tmp / "validation.csv", index=False, float_format="%.6g")
        save_figure(plot_validation_forest(run.table), tmp / "validation_forest")
        (tmp / "validation_manifest.json").write_text(json.dumps(validation_manifest(run), indent=2, default=str))
    return out
