"""Writing a run: its tables, the parameter table and the manifest (what produced it)."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import pandas as pd

from sim.engine import streams
from sim.engine.simulation import SimulationResult
from sim.inputs.build import Model
from sim.inputs.parameters import parameter_rows, table_hash
from sim.model.events import EVENTS


def parameter_table(model: Model) -> pd.DataFrame:
    """Every parameter with value, unit, evidence ids, kind and note (``lnsim parameters``)."""
    rows = parameter_rows(model.params.params)
    rows += parameter_rows(model.therapies.params(), prefix="therapy.")
    pop = model.scenario.cohort
    for field, prov in pop.provenance.items():
        val = getattr(pop, field)
        value = val if isinstance(val, (int, float)) else json.dumps(
            val.model_dump() if hasattr(val, "model_dump") else val)
        rows.append({"parameter": f"cohort.{field}", "value": value, "unit": "", "evidence":
                     " ".join(prov.evidence) or "-", "kind": prov.kind, "count": "", "formula": "", "note": prov.note})
    rows.append({"parameter": "background_life_table", "value": model.life_table.source, "unit": "annual hazard",
                 "evidence": "-", "kind": "assumption" if "assumption" in model.life_table.source else "evidence",
                 "count": "", "formula": "", "note": "background mortality by age and sex"})
    econ = model.scenario.economics
    rows.append({"parameter": "economics.dialysis_pd_share", "value": econ.dialysis_pd_share, "unit": "share",
                 "evidence": "P01", "kind": "assumption", "count": "", "formula": "",
                 "note": type(econ).model_fields["dialysis_pd_share"].description})
    return pd.DataFrame(rows)


def library_versions(names) -> dict[str, str | None]:
    """Installed version of each library (None if absent), for a run's manifest."""
    import importlib.metadata as md
    out = {}
    for lib in names:
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            out[lib] = None
    return out


def manifest(result: SimulationResult) -> dict:
    import sim
    libs = library_versions(("simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "lifelines", "PyYAML"))
    params = parameter_table(result.model)
    return {
        "lnsim_version": sim.__version__,
        "scenario": result.model.scenario.model_dump(mode="json"),
        "scenario_source": result.model.source,
        "seed": result.seed,
        "patients": result.n_patients,
        "strategies": [s.name for s in result.model.scenario.strategies],
        "parameter_table_sha256": table_hash(params.to_dict(orient="records")),
        "event_vocabulary": EVENTS,
        "python": platform.python_version(),
        "libraries": libs,
        "stream_block_size": streams.BLOCK_SIZE,
        "engine": result.engine,
        "economics": result.economics.settings() if result.economics is not None else None,
    }


def write_outputs(result: SimulationResult, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write patients.parquet, events.parquet, states.parquet, summary.csv and manifest.json.

    Everything is written to a temporary folder beside ``out_dir`` and renamed into place at the
    end, so a failed run never leaves a half-written result.
    """
    from sim.outputs import check_new_folder, staged_folder
    out = check_new_folder(Path(out_dir), overwrite)
    with staged_folder(out) as tmp:
        result.patients.to_parquet(tmp / "patients.parquet", index=False)
        result.events.to_parquet(tmp / "events.parquet", index=False)
        result.states.to_parquet(tmp / "states.parquet", index=False)
        result.summary.to_csv(tmp / "summary.csv", index=False, float_format="%.10g")
        if result.capacity is not None:
            result.capacity.to_csv(tmp / "capacity.csv", index=False, float_format="%.10g")
        if result.cea is not None:
            result.cea.to_csv(tmp / "cea.csv", index=False, float_format="%.10g")
            result.economics.cost_table.to_csv(tmp / "costs_used.csv", index=False)
            result.economics.utility_table.to_csv(tmp / "utilities_used.csv", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest(result), indent=2, sort_keys=True, default=str))
    return out
