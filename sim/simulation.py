"""Running a scenario: patient blocks x strategies through the pathway, then one table each.

For each block of 256 patients (see :mod:`sim.streams`) the patients' attributes, hazard tables
and random numbers are prepared once (:class:`sim.engine.block.Block`) and shared by every
strategy: the same patients with the same random streams (common random numbers). Each strategy
then runs the block through the clinical core (:mod:`sim.model.pathway`) with a driver
(:mod:`sim.engine`). Records become DataFrames at the end.
"""
from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim import streams
from sim.cohort import sample_block
from sim.engine.records import PATIENT_COLUMNS  # noqa: F401  (the patients table's columns)
from sim.model.events import EVENTS
from sim.outcomes import summarise
from sim.parameters import parameter_rows, table_hash
from sim.scenarios import Model, Scenario, build

@dataclass
class SimulationResult:
    """The tables of one run (one row per patient and strategy; long event and state tables)."""

    model: Model
    patients: pd.DataFrame
    events: pd.DataFrame
    states: pd.DataFrame
    summary: pd.DataFrame
    seed: int
    n_patients: int
    cea: pd.DataFrame | None = None
    economics: object | None = None
    capacity: pd.DataFrame | None = None
    engine: str = "simpy"

    def ladders(self) -> dict[str, list[str]]:
        return {s.name: list(s.ladder) for s in self.model.scenario.strategies}


ENGINES = ("simpy", "fast")


def simulate(scenario: Scenario | Model, patients: int | None = None, seed: int | None = None,
             progress: bool = False, draw: int = 0, costed: bool = True, engine: str = "simpy") -> SimulationResult:
    """Simulate every strategy of a scenario for the same virtual patients.

    ``draw`` is the parameter draw of a probabilistic analysis (it keys the random streams);
    ``costed`` adds costs, QALYs and the incremental analysis (:func:`attach_economics`);
    ``engine`` is ``"simpy"`` (the SimPy driver: one process per patient) or ``"fast"`` (the batch
    driver: a compiled loop over the patients); both run the same clinical core and give identical
    results; only the SimPy driver handles capacity limits.
    """
    model = scenario if isinstance(scenario, Model) else build(scenario)
    sc = model.scenario
    n = int(patients if patients is not None else sc.patients)
    seed = int(seed if seed is not None else sc.seed)
    if engine not in ENGINES:
        from sim.errors import InputError
        raise InputError("unknown engine", field="--engine", value=engine, allowed=", ".join(ENGINES))
    if engine == "fast" and sc.capacity is not None:
        from sim.errors import InputError
        raise InputError("the fast engine has no capacity limits (patients do not compete there)",
                         field="--engine", value=engine, allowed="simpy for scenarios with a capacity section")
    if sc.capacity is not None:
        return _simulate_with_capacity(model, n, seed, draw, costed)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n * len(sc.strategies), unit="patient", desc="simulating", leave=False)
    if engine == "fast":
        from sim.engine.batch_driver import run_batch as run
    else:
        from sim.engine.run import run_simpy as run
    tables = run(model, n, seed, draw, progress=bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    result = _assemble(model, tables, seed, n, costed)
    result.engine = engine
    return result


def _assemble(model: Model, tables, seed: int, n: int, costed: bool) -> "SimulationResult":
    patients_df, events_df, states_df = tables
    result = SimulationResult(model, patients_df, events_df, states_df, None, seed, n)
    add_exposures(result)
    if costed:
        attach_economics(result)
    return result


def add_exposures(result: "SimulationResult") -> "SimulationResult":
    """Measure what is computed from the tables after the simulation (glucocorticoid exposure, see
    :mod:`sim.glucocorticoids`) into the patients table, and summarise the run."""
    from sim.glucocorticoids import COLUMNS, exposure
    gc = exposure(result)
    pats = result.patients.drop(columns=[c for c in COLUMNS if c in result.patients])
    result.patients = pats.merge(gc, on=["strategy", "patient"], how="left", validate="one_to_one")
    result.summary = summarise(result.patients, result.events, result.ladders())
    return result


def arrival_times(n: int, rate_per_year: float, seed: int, draw: int) -> np.ndarray:
    """Start of induction of each patient of an open population (Poisson arrivals), by patient index."""
    gaps = np.concatenate([streams.exponentials(seed, draw, b, "arrival") for b in streams.blocks(n)])[:n]
    return np.cumsum(gaps / rate_per_year)


def _simulate_with_capacity(model: Model, n: int, seed: int, draw: int, costed: bool) -> "SimulationResult":
    """Open population with limited services: one SimPy environment per strategy, all patients in it."""
    from sim.engine.run import run_simpy_capacity
    sc = model.scenario
    arrivals = arrival_times(n, sc.capacity.arrivals_per_year, seed, draw)
    tables, per_strategy = run_simpy_capacity(model, n, seed, draw, arrivals)
    service_rows = [{"strategy": s.name, **r} for k, s in enumerate(sc.strategies) for r in per_strategy[k]]
    result = _assemble(model, tables, seed, n, costed)
    result.capacity = pd.DataFrame(service_rows)
    extra = []
    for r in service_rows:
        extra += [(r["strategy"], f"wait_{r['service']}_mean_days", r["mean_wait_days"]),
                  (r["strategy"], f"utilisation_{r['service']}", r["utilisation"])]
    if extra:
        result.summary = pd.concat([result.summary, pd.DataFrame(extra, columns=["strategy", "metric", "value"])],
                                   ignore_index=True)
    return result


def attach_economics(result: "SimulationResult", econ=None) -> "SimulationResult":
    """Cost the run (simulate, then cost): add costs, QALYs and life years to the patients table,
    their means to the summary, and the incremental analysis as ``result.cea``."""
    from sim.economics import evaluate
    ev = evaluate(result, econ)
    keys = ["strategy", "patient"]
    base = result.patients.drop(columns=[c for c in ev.patients.columns if c not in keys and c in result.patients])
    result.patients = base.merge(ev.patients, on=keys, how="left", validate="one_to_one")
    natural = result.summary[~result.summary["metric"].isin(set(ev.summary["metric"]))]
    result.summary = pd.concat([natural, ev.summary], ignore_index=True)
    order = {s.name: i for i, s in enumerate(result.model.scenario.strategies)}
    result.summary = result.summary.sort_values("strategy", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
    result.cea = ev.cea
    result.economics = ev
    return result


# ----------------------------------------------------------------------------------------------
# Writing results
# ----------------------------------------------------------------------------------------------

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
                 "evidence": "-", "kind": "assumption", "count": "", "formula": "",
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
