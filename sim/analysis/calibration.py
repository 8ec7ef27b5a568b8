"""Calibration of parameters that no source gives directly, to named targets.

Targets are data: the rows of ``sim/data/targets.csv`` whose role is ``calibration`` (a row is a
calibration target or a validation comparison, never both; :mod:`sim.analysis.validation` keeps them apart
in its table and plot). Each names a study population (``scenarios/validation/*.yaml``), a
metric, a time point, a value and an interval.

Currently one target and one free parameter: the review's "about 35% of LN patients do not
respond to initial immunosuppression and are classed refractory" (A12, Kronbichler 2019) fixes
``second_induction_response_or``, the odds ratio of response to the second induction agent (after
the CYC <-> MMF switch) relative to first-line trial figures. The machinery takes any number of
free model parameters and targets.

Method. Free parameters are searched on the log scale within bounds. Every evaluation of the
objective simulates the target populations with the SAME seed and patients (common random
numbers), so the objective is a deterministic function of the parameters, smooth up to the
resolution of a finite cohort. Residuals are standardised, ``z = (simulated - target) / se`` with
``se`` the target's interval half-width / 1.96. Then:

* one parameter, one target: the root of the residual by ``scipy.optimize.brentq`` (exact fit);
* one parameter, several targets: ``scipy.optimize.minimize_scalar`` (bounded) on ``sum z^2``;
* several parameters: ``scipy.optimize.least_squares`` (trust-region reflective, bounds) on ``z``,
  with finite-difference steps of 10% in the parameters, wide enough to see past the plateaus of
  a finite simulated cohort.

The fitted set is written as a YAML parameter file (``parameters:`` mapping plus a ``calibration:``
record of targets, method, fit quality, seed and patients). Use it by pasting the
``parameters:`` mapping into a scenario, by ``--set parameters.NAME=VALUE`` (see
:func:`overrides_from_file`) or by ``lnsim validate --calibrated FILE``. The value adopted by the
model is also recorded in ``sim/data/parameters.yaml`` (kind ``calibrated``).

Run ``python -m sim.analysis.calibration`` to reproduce the value in ``sim/data/parameters.yaml``
(``--out FILE`` also writes the parameter file; ``sim/data/calibrated_parameters.yaml`` is the
shipped record).
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import brentq, least_squares, minimize_scalar

from sim.errors import InputError
from sim.inputs.parameter_files import read_parameter_file
from sim.model import libm
from sim.outputs import write_text
from sim.analysis.outcomes import Z95
from sim.analysis.validation import ModelUnderTest, load_targets, model_under_test, study_model, study_path
from sim.analysis.validation_metrics import evaluate

DEFAULT_PATIENTS = 20000
DEFAULT_SEED = 2021


@dataclass(frozen=True)
class FreeParameter:
    """A model parameter (``sim/data/parameters.yaml``) to fit, searched on the log scale in [lower, upper]."""

    name: str
    lower: float
    upper: float


#: The parameters lnsim calibrates, with their search ranges. A range is an assumption, not evidence:
#: wide enough (here odds ratios from 1/20 to 5) that a fit never needs its bounds; a target that cannot
#: be reached inside them is an error, not a fit on a bound.
CALIBRATED = (FreeParameter("second_induction_response_or", 0.05, 5.0),)


@dataclass
class CalibrationResult:
    """Fitted values with the fit at them (one row per target) and how they were found."""

    values: dict[str, float]
    fit: pd.DataFrame
    method: str
    evaluations: int
    objective: float
    patients: int
    seed: int
    free: tuple[FreeParameter, ...]
    model_source: str = "default model"
    targets_source: str = ""
    history: list[tuple[dict, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        import sim
        return {
            "parameters": {k: float(f"{v:.6g}") for k, v in self.values.items()},
            "calibration": {
                "method": self.method,
                "common_random_numbers": {"seed": self.seed, "patients": self.patients},
                "evaluations": self.evaluations,
                "objective_sum_z2": float(f"{self.objective:.6g}"),
                "free_parameters": [{"name": f.name, "lower": f.lower, "upper": f.upper, "scale": "log"}
                                    for f in self.free],
                "targets": [
                    {"id": r["id"], "source_id": r["source_id"], "population": r["population"], "metric": r["metric"],
                     "target": float(f"{r['target']:.6g}"), "se": float(f"{r['se']:.4g}"),
                     "simulated": float(f"{r['simulated']:.6g}"),
                     "simulated_mc_se": float(f"{r['simulated_mc_se']:.4g}"),
                     "z": float(f"{r['z']:.4g}")}
                    for _, r in self.fit.iterrows()],
                "targets_file": self.targets_source,
                "model": self.model_source,
                "lnsim_version": sim.__version__,
            },
        }


def _target_se(row) -> float:
    se = (float(row["upper"]) - float(row["lower"])) / (2 * Z95)
    if not se > 0:
        raise InputError("a calibration target needs an interval of positive width", field=f"{row['id']}.lower")
    return se


def calibration_targets(targets: str | Path | pd.DataFrame | None = None,
                        ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The calibration targets (role ``calibration``), optionally only those with the given ids."""
    tg = targets if isinstance(targets, pd.DataFrame) else load_targets(targets)
    src = tg.attrs.get("source", "")
    out = tg[tg["role"] == "calibration"]
    if ids is not None:
        unknown = sorted(set(ids) - set(out["id"]))
        if unknown:
            raise InputError("not calibration targets", field="targets", value=unknown,
                             allowed=", ".join(out["id"]))
        out = out[out["id"].isin(list(ids))]
    if out.empty:
        raise InputError("no calibration targets (rows with role 'calibration')", file=src or None)
    out = out.copy()
    out.attrs["source"] = src
    return out


class Objective:
    """Simulated values of the targets as a function of the free parameters (common random numbers)."""

    def __init__(self, targets: pd.DataFrame, free: Sequence[FreeParameter], model: ModelUnderTest,
                 patients: int, seed: int):
        self.targets, self.free, self.model = targets, tuple(free), model
        self.patients, self.seed = int(patients), int(seed)
        self.se = np.array([_target_se(r) for _, r in targets.iterrows()])
        self.goal = targets["value"].to_numpy(float)
        src = targets.attrs.get("source")
        self.paths = {p: study_path(p, src) for p in dict.fromkeys(targets["population"])}
        self.cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._base: dict = {}
        self.history: list[tuple[dict, float]] = []

    def values(self, theta: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(simulated values, their Monte Carlo standard errors) at parameter values ``theta``."""
        key = tuple(round(float(theta[f.name]), 12) for f in self.free)
        got = self.cache.get(key)
        if got is not None:
            return got
        from sim.analysis.simulate import simulate
        results = {pop: simulate(self._model(pop, theta), patients=self.patients, seed=self.seed, costed=False)
                   for pop in self.paths}
        sim_v, sim_se = [], []
        for _, r in self.targets.iterrows():
            est = evaluate(results[r["population"]], r["metric"], r["strategy"], float(r["time_years"]), r["step"],
                           r["subgroup"], r["versus"])
            sim_v.append(est.value)
            sim_se.append(est.se)
        got = (np.array(sim_v), np.array(sim_se))
        self.cache[key] = got
        self.history.append((dict(theta), float(np.sum(((got[0] - self.goal) / self.se) ** 2))))
        return got

    def _model(self, population: str, theta: Mapping[str, float]):
        """The population's compiled model with the free parameters set (built once, then copied)."""
        from dataclasses import replace
        base = self._base.get(population)
        if base is None:
            base = self._base[population] = study_model(self.paths[population], self.model)
        values = {k: float(v) for k, v in theta.items()}
        scenario = base.scenario.model_copy(update={"parameters": {**base.scenario.parameters, **values}})
        return replace(base, scenario=scenario, params=base.params.with_overrides(values, "calibration"))

    def z(self, theta: Mapping[str, float]) -> np.ndarray:
        v, _ = self.values(theta)
        if not np.all(np.isfinite(v)):
            return np.full_like(v, 1e3)
        return (v - self.goal) / self.se

    def theta(self, x: Sequence[float]) -> dict[str, float]:
        return {f.name: math.exp(float(xi)) for f, xi in zip(self.free, x)}


def calibrate(free: Sequence[FreeParameter] = CALIBRATED, targets: str | Path | pd.DataFrame | None = None,
              target_ids: Sequence[str] | None = None, patients: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED,
              scenario: str | Path | None = None, overrides: Sequence[str] = (),
              start: Mapping[str, float] | None = None, xtol: float = 1e-3) -> CalibrationResult:
    """Fit ``free`` parameters to the calibration targets (see module doc for the method)."""
    from sim.inputs.parameters import ModelParameters
    tg = calibration_targets(targets, target_ids)
    model = model_under_test(scenario, overrides)
    defaults = ModelParameters.default()
    free = tuple(free)
    for f in free:
        if f.name not in defaults:
            raise InputError("unknown model parameter", field="free", value=f.name,
                             allowed="a name listed by 'lnsim parameters'")
        if not 0 < f.lower < f.upper:
            raise InputError("bounds must satisfy 0 < lower < upper (log scale)", field=f.name,
                             value=(f.lower, f.upper))
    obj = Objective(tg, free, model, patients, seed)
    lo = libm.log([f.lower for f in free])
    hi = libm.log([f.upper for f in free])
    x0 = []
    for f in free:
        v = (start or {}).get(f.name, model.parameters.get(f.name, defaults[f.name]))
        x0.append(min(max(math.log(v), math.log(f.lower) + 1e-6), math.log(f.upper) - 1e-6))
    x0 = np.array(x0)
    if len(free) == 1 and len(tg) == 1:
        method = "scipy.optimize.brentq on the log parameter (root of the single residual)"
        g = lambda x: float(obj.z(obj.theta([x]))[0])   # noqa: E731
        a, b = g(lo[0]), g(hi[0])
        if a * b > 0:
            raise InputError("the target cannot be reached within the parameter bounds: simulated "
                             f"{obj.values(obj.theta(lo))[0][0]:.4g} to {obj.values(obj.theta(hi))[0][0]:.4g}",
                             field=free[0].name, value=(free[0].lower, free[0].upper))
        x = np.array([brentq(g, lo[0], hi[0], xtol=xtol)])
    elif len(free) == 1:
        method = "scipy.optimize.minimize_scalar (bounded) on sum of squared standardised residuals"
        res = minimize_scalar(lambda x: float(np.sum(obj.z(obj.theta([x])) ** 2)), bounds=(lo[0], hi[0]),
                              method="bounded", options={"xatol": xtol})
        x = np.array([res.x])
    else:
        method = ("scipy.optimize.least_squares (trust-region reflective, bounds, 10% finite-difference steps) "
                  "on standardised residuals")
        res = least_squares(lambda x: obj.z(obj.theta(x)), x0, bounds=(lo, hi), diff_step=0.1, x_scale=1.0,
                            xtol=xtol, ftol=1e-6, max_nfev=200)
        x = res.x
        # with a finite cohort the residuals are step functions: keep the best point evaluated
        best_theta, best = min(obj.history, key=lambda h: h[1])
        if best < float(np.sum(obj.z(obj.theta(x)) ** 2)):
            x = libm.log([best_theta[f.name] for f in free])
    theta = obj.theta(x)
    v, mc_se = obj.values(theta)
    z = (v - obj.goal) / obj.se
    fit = pd.DataFrame({"id": tg["id"].to_numpy(), "source_id": tg["source_id"].to_numpy(),
                        "population": tg["population"].to_numpy(), "metric": tg["metric"].to_numpy(),
                        "target": obj.goal, "se": obj.se, "simulated": v, "simulated_mc_se": mc_se, "z": z})
    return CalibrationResult(values=theta, fit=fit, method=method, evaluations=len(obj.history),
                             objective=float(np.sum(z ** 2)), patients=int(patients), seed=int(seed), free=free,
                             model_source=model.source, targets_source=tg.attrs.get("source", ""),
                             history=obj.history)


# -- the parameter file ------------------------------------------------------------------------------

HEADER = """\
# Calibrated parameters of lnsim, written by sim.analysis.calibration (python -m sim.analysis.calibration --out FILE).
# Use: paste the `parameters:` mapping into a scenario, pass each as --set parameters.NAME=VALUE, or
# run `lnsim validate --calibrated FILE`. `calibration:` records the targets (sim/data/targets.csv,
# role calibration), the method, the common random numbers and the fit at the fitted values.
"""


def write_parameter_file(result: CalibrationResult, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = HEADER + yaml.safe_dump(result.to_dict(), sort_keys=False, allow_unicode=True, width=110)
    write_text(text, p)             # atomically: the shipped calibrated file is never left half-written
    return p


def overrides_from_file(path: str | Path) -> list[str]:
    """``--set`` overrides (``parameters.NAME=VALUE``) for :func:`sim.load_scenario` from a parameter file."""
    return [f"parameters.{k}={v!r}" for k, v in read_parameter_file(path).items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.analysis.calibration",
                                 description="Fit lnsim's calibrated parameters to the calibration targets.")
    ap.add_argument("--patients", type=int, default=DEFAULT_PATIENTS, help=f"patients (default {DEFAULT_PATIENTS})")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"common random number seed (default {DEFAULT_SEED})")
    ap.add_argument("--targets", default=None, help="targets CSV (default sim/data/targets.csv)")
    ap.add_argument("--out", default=None, help="write the calibrated parameter file here (YAML)")
    args = ap.parse_args(argv)
    try:
        res = calibrate(CALIBRATED, args.targets, patients=args.patients, seed=args.seed)
    except InputError as e:
        print(f"calibration: error: {e}", file=sys.stderr)
        return 2
    for k, v in res.values.items():
        print(f"{k} = {v:.3f}")
    with pd.option_context("display.width", 200):
        print(res.fit.to_string(index=False))
    print(f"{res.method}; {res.evaluations} evaluations; sum z^2 = {res.objective:.3g}")
    if args.out:
        print(f"wrote {write_parameter_file(res, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
