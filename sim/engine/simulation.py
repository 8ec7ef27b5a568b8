"""Running a scenario: patient blocks x strategies through the pathway, the uncosted tables.

For each block of 256 patients (see :mod:`sim.engine.streams`) the patients' attributes, hazard
tables (a state's death table when a patient first enters it) and random numbers are prepared once
(:class:`sim.engine.block.Block`) and shared by every strategy: the same patients with the same
random streams (common random numbers). Each strategy
then runs the block through the clinical core (:mod:`sim.model.pathway`) with a driver
(:mod:`sim.engine.simpy_driver` through :mod:`sim.engine.run`, or :mod:`sim.engine.batch_driver`). Records become DataFrames at the end.
Exposures, the summary and the economics are added by :func:`sim.analysis.simulate.simulate`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.engine import streams
from sim.errors import InputError
from sim.inputs.build import Model, build
from sim.inputs.schema import Scenario


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


def run(scenario: Scenario | Model, patients: int | None = None, seed: int | None = None, progress: bool = False,
        draw: int = 0, engine: str = "simpy") -> SimulationResult:
    """Simulate every strategy of a scenario for the same virtual patients: the patients, events and
    states tables, uncosted and without a summary (see :func:`sim.analysis.simulate.simulate`).

    With a ``capacity`` section patients arrive over time and compete for services (SimPy driver
    only); the services' waits and utilisation are ``result.capacity``.
    """
    model = scenario if isinstance(scenario, Model) else build(scenario)
    sc = model.scenario
    n = int(patients if patients is not None else sc.patients)
    seed = int(seed if seed is not None else sc.seed)
    if engine not in ENGINES:
        raise InputError("unknown engine", field="--engine", value=engine, allowed=", ".join(ENGINES))
    if engine == "fast" and sc.capacity is not None:
        raise InputError("the fast engine has no capacity limits (patients do not compete there)",
                         field="--engine", value=engine, allowed="simpy for scenarios with a capacity section")
    if sc.capacity is not None:
        return _run_with_capacity(model, n, seed, draw)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n * len(sc.strategies), unit="patient", desc="simulating", leave=False)
    if engine == "fast":
        from sim.engine.batch_driver import run_batch as run_with
    else:
        from sim.engine.run import run_simpy as run_with
    patients_df, events_df, states_df = run_with(model, n, seed, draw, progress=bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    result = SimulationResult(model, patients_df, events_df, states_df, None, seed, n)
    result.engine = engine
    return result


def arrival_times(n: int, rate_per_year: float, seed: int, draw: int) -> np.ndarray:
    """Start of induction of each patient of an open population (Poisson arrivals), by patient index."""
    gaps = np.concatenate([streams.exponentials(seed, draw, b, "arrival") for b in streams.blocks(n)])[:n]
    return np.cumsum(gaps / rate_per_year)


def _run_with_capacity(model: Model, n: int, seed: int, draw: int) -> SimulationResult:
    """Open population with limited services: one SimPy environment per strategy, all patients in it."""
    from sim.engine.run import run_simpy_capacity
    sc = model.scenario
    arrivals = arrival_times(n, sc.capacity.arrivals_per_year, seed, draw)
    (patients_df, events_df, states_df), per_strategy = run_simpy_capacity(model, n, seed, draw, arrivals)
    service_rows = [{"strategy": s.name, **r} for k, s in enumerate(sc.strategies) for r in per_strategy[k]]
    result = SimulationResult(model, patients_df, events_df, states_df, None, seed, n)
    result.capacity = pd.DataFrame(service_rows)
    return result
