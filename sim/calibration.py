"""Calibration of parameters that no source gives directly, to named targets.

Currently one target: the review's "about 35% of LN patients do not respond to initial
immunosuppression and are classed refractory" (A12, Kronbichler 2019). The free parameter is
``second_induction_response_or``, the odds ratio of response to the second induction agent
(after the CYC <-> MMF switch) relative to first-line trial figures. The objective uses common
random numbers (same seed for every evaluation), so it is a deterministic function of the
parameter and a bracketing root finder (scipy's ``brentq``) converges.

Run ``python -m sim.calibration`` to reproduce the value in ``sim/data/parameters.yaml``.
"""
from __future__ import annotations

import math

from scipy.optimize import brentq

from sim.scenarios import Scenario, Strategy, build
from sim.cohort import Population, preset

A12_TARGET = 0.35


def refractory_share(odds_ratio: float, patients: int = 20000, seed: int = 2021) -> float:
    """Share classed refractory after initial induction in the default cohort (MMF first, EULAR)."""
    sc = Scenario(name="calibration_a12", patients=patients, seed=seed, horizon_years=3.0,
                  cohort=Population(**preset("default")),
                  parameters={"second_induction_response_or": odds_ratio},
                  strategies=[Strategy(name="eular_mmf")])
    from sim.simulation import simulate
    return float(simulate(build(sc)).patients["refractory"].mean())


def calibrate_second_induction_or(target: float = A12_TARGET, patients: int = 20000, seed: int = 2021) -> float:
    """The odds ratio at which the simulated refractory share equals ``target``."""
    f = lambda log_or: refractory_share(math.exp(log_or), patients, seed) - target  # noqa: E731
    return math.exp(brentq(f, math.log(0.05), math.log(5.0), xtol=1e-3))


if __name__ == "__main__":
    value = calibrate_second_induction_or()
    print(f"second_induction_response_or = {value:.3f} "
          f"(refractory share {refractory_share(value):.4f}, target {A12_TARGET})")
