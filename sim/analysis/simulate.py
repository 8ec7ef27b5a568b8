"""Simulate, then measure and cost: a scenario's tables (:func:`sim.engine.simulation.run`) with
glucocorticoid exposure, the clinical summary (:func:`sim.analysis.outcomes.summarise`), the
services' waits (with capacity limits), and costs, QALYs and the incremental analysis
(:func:`sim.economics.evaluate.evaluate`)."""
from __future__ import annotations

import pandas as pd

from sim.analysis.outcomes import summarise
from sim.engine.simulation import SimulationResult, run
from sim.inputs.build import Model
from sim.inputs.schema import Scenario


def simulate(scenario: Scenario | Model, patients: int | None = None, seed: int | None = None,
             progress: bool = False, draw: int = 0, costed: bool = True, engine: str = "simpy") -> SimulationResult:
    """Simulate every strategy of a scenario for the same virtual patients.

    ``draw`` is the parameter draw of a probabilistic analysis (it keys the random streams);
    ``costed`` adds costs, QALYs and the incremental analysis (:func:`attach_economics`);
    ``engine`` is ``"simpy"`` (the SimPy driver: one process per patient) or ``"fast"`` (the batch
    driver: a compiled loop over the patients); both run the same clinical core and give identical
    results; only the SimPy driver handles capacity limits.
    """
    result = run(scenario, patients, seed, progress, draw, engine)
    add_exposures(result)
    if costed:
        attach_economics(result)
    if result.capacity is not None:
        _add_capacity_metrics(result)
    return result


def add_exposures(result: "SimulationResult") -> "SimulationResult":
    """Measure what is computed from the tables after the simulation (glucocorticoid exposure, see
    :mod:`sim.model.glucocorticoids`) into the patients table, and summarise the run."""
    from sim.model.glucocorticoids import COLUMNS, exposure
    gc = exposure(result)
    pats = result.patients.drop(columns=[c for c in COLUMNS if c in result.patients])
    result.patients = pats.merge(gc, on=["strategy", "patient"], how="left", validate="one_to_one")
    result.summary = summarise(result.patients, result.events, result.ladders())
    return result


def _add_capacity_metrics(result: SimulationResult) -> SimulationResult:
    """Mean wait and utilisation of each limited service, per strategy, at the end of the summary."""
    extra = []
    for r in result.capacity.to_dict("records"):
        extra += [(r["strategy"], f"wait_{r['service']}_mean_days", r["mean_wait_days"]),
                  (r["strategy"], f"utilisation_{r['service']}", r["utilisation"])]
    if extra:
        result.summary = pd.concat([result.summary, pd.DataFrame(extra, columns=["strategy", "metric", "value"])],
                                   ignore_index=True)
    return result


def attach_economics(result: "SimulationResult", econ=None) -> "SimulationResult":
    """Cost the run (simulate, then cost): add costs, QALYs and life years to the patients table,
    their means to the summary, and the incremental analysis as ``result.cea``."""
    from sim.economics.evaluate import evaluate
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
