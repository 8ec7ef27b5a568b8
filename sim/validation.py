"""Validation: simulate the populations of published studies and compare with what they reported.

Three kinds of comparison, kept apart in every table and plot (ISPOR-SMDM good practice, CHEERS 2022):

* ``calibration`` -- targets the model was *fitted* to (:mod:`sim.calibration`); reproducing them
  shows the fit, not validity;
* ``internal`` -- *internal validity (input reproduced)*: the published figure is itself a model
  input (or the source of one), so agreement checks that the machinery turns inputs into the
  outcomes they describe, with patient modifiers, competing risks and the pathway around them;
* ``external`` -- *external validation*: outcomes the model was not built from.

Targets are data (``sim/data/targets.csv``): one row per published figure with the study
population, metric, time point, value, interval, sample size, source id, role
(``calibration`` | ``validation``) and validity (``calibration`` | ``internal`` | ``external``).
A study's population is a scenario file (``scenarios/validation/*.yaml``): class mix, ancestry,
adherence, first-line or refractory (the pathway itself makes patients refractory before the
ladder step the study is about), follow-up (horizon). No study has special code.

The model being validated is a scenario too (``lnsim validate [SCENARIO] [--set ...]``): its
``parameters``, ``therapies`` and ``life_table`` are applied to every study population (the
study file's own therapy changes, e.g. a ladder drug used first-line, go on top). Cohort, horizon
and strategies come from the study files.

Every simulated figure has a Monte Carlo 95% interval (Wilson for shares of patients, Greenwood for
Kaplan-Meier, the ratio estimator over patients for rates and standardised mortality ratios,
paired normal for differences between arms on the same patients): it measures simulation noise only, not parameter uncertainty.
A comparison is ``inside`` when the simulated value lies within the published interval.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import ValidationError

from sim import outcomes as oc
from sim.outcomes import Z95
from sim.errors import InputError

STUDIES_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "validation"
TARGETS_NAME = "targets.csv"

ROLES = ("calibration", "validation")
VALIDITY = {
    "calibration": "calibration target",
    "internal": "internal validity (input reproduced)",
    "external": "external validation",
}
BASES = ("published", "wilson", "derived", "assumed")
UNITS = ("proportion", "difference", "ratio", "per patient-year")
TARGET_COLUMNS = ["id", "comparison", "source_id", "role", "validity", "population", "strategy", "versus",
                  "subgroup", "metric", "step", "time_years", "value", "lower", "upper", "interval_basis", "n",
                  "unit", "note"]
TABLE_COLUMNS = ["comparison", "source_id", "metric", "time_years", "published_value", "published_lower",
                 "published_upper", "simulated_value", "simulated_lower", "simulated_upper", "inside", "role",
                 "validity", "overlaps", "interval_basis", "n_published", "n_simulated", "unit", "subgroup",
                 "population", "strategy", "versus", "step", "target_id", "note"]
TIME_TOL = oc.TIME_TOL


# ==============================================================================================
# Intervals
# ==============================================================================================

def wilson_interval(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed in ``n`` subjects."""
    if not n or n <= 0 or not np.isfinite(p):
        return (math.nan, math.nan)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Estimate:
    """A simulated figure with its Monte Carlo 95% interval and the number of patients behind it."""

    value: float
    lower: float
    upper: float
    n: int
    se: float = math.nan


def _share(indicator: np.ndarray) -> Estimate:
    x = np.asarray(indicator, dtype=bool)
    n = int(x.size)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    p = float(x.mean())
    lo, hi = wilson_interval(p, n)
    return Estimate(p, lo, hi, n, oc.monte_carlo_se(p, n))


def _normal(value: float, se: float, n: int, lo: float = -math.inf, hi: float = math.inf) -> Estimate:
    if not np.isfinite(value):
        return Estimate(math.nan, math.nan, math.nan, n)
    return Estimate(value, max(lo, value - Z95 * se), min(hi, value + Z95 * se), n, se)


def _km_estimate(time, event, t, complement: bool = False) -> Estimate:
    s, se = oc.km_greenwood_at(time, event, t)
    n = int(np.asarray(time).size)
    if complement:
        s = 1.0 - s
    return _normal(s, se, n, 0.0, 1.0)


# ==============================================================================================
# Targets
# ==============================================================================================

def _read_targets_csv(path: str | Path | None) -> tuple[pd.DataFrame, str]:
    if path is None:
        src = f"sim/data/{TARGETS_NAME}"
        with resources.files("sim").joinpath("data", TARGETS_NAME).open("r", encoding="utf-8") as fh:
            df = pd.read_csv(fh, comment="#", dtype=str, keep_default_na=False)
        return df, src
    p = Path(path)
    if not p.is_file():
        raise InputError("targets file not found", file=str(p), allowed="a CSV file like sim/data/targets.csv")
    try:
        df = pd.read_csv(p, comment="#", dtype=str, keep_default_na=False)
    except Exception as e:  # pandas raises many kinds
        raise InputError(f"cannot read the targets CSV ({e.__class__.__name__}: {e})", file=str(p)) from None
    return df, str(p)


def _num(text: str, src: str, row: str, col: str, required: bool = False) -> float:
    text = str(text).strip()
    if text == "":
        if required:
            raise InputError("a number is required", file=src, field=f"{row}.{col}")
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError("not a number", file=src, field=f"{row}.{col}", value=text) from None


def load_targets(path: str | Path | None = None) -> pd.DataFrame:
    """Read and check the targets table; fill the published interval where it follows from n.

    ``interval_basis``: ``published`` (the interval as published), ``wilson`` (Wilson 95% interval
    from ``value`` and ``n``), ``derived`` (computed from published counts, method in the note) or
    ``assumed`` (no interval published: the interval is an assumption, stated in the note).
    """
    df, src = _read_targets_csv(path)
    missing = [c for c in TARGET_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing columns {missing}", file=src, allowed=", ".join(TARGET_COLUMNS))
    rows = []
    seen: set[str] = set()
    for _, r in df.iterrows():
        rid = r["id"].strip()
        if not rid:
            raise InputError("every target needs an id", file=src, field="id")
        if rid in seen:
            raise InputError("duplicate target id", file=src, field="id", value=rid)
        seen.add(rid)
        rec = {c: str(r[c]).strip() for c in TARGET_COLUMNS}
        if rec["role"] not in ROLES:
            raise InputError("unknown role", file=src, field=f"{rid}.role", value=rec["role"], allowed=", ".join(ROLES))
        if rec["validity"] not in VALIDITY:
            raise InputError("unknown validity", file=src, field=f"{rid}.validity", value=rec["validity"],
                             allowed=", ".join(VALIDITY))
        if (rec["role"] == "calibration") != (rec["validity"] == "calibration"):
            raise InputError("calibration targets have role 'calibration' and validity 'calibration' (and only they)",
                             file=src, field=f"{rid}.validity", value=rec["validity"])
        if rec["metric"] not in METRICS:
            raise InputError("unknown metric", file=src, field=f"{rid}.metric", value=rec["metric"],
                             allowed=", ".join(METRICS))
        spec = METRICS[rec["metric"]]
        if rec["versus"] and not spec.paired:
            raise InputError("a difference between arms ('versus') needs a per-patient metric", file=src,
                             field=f"{rid}.versus", allowed=", ".join(k for k, m in METRICS.items() if m.paired))
        if spec.needs_step and not rec["step"]:
            raise InputError("this metric needs a therapy in 'step'", file=src, field=f"{rid}.step")
        if rec["unit"] not in UNITS:
            raise InputError("unknown unit", file=src, field=f"{rid}.unit", value=rec["unit"], allowed=", ".join(UNITS))
        if rec["interval_basis"] not in BASES:
            raise InputError("unknown interval basis", file=src, field=f"{rid}.interval_basis",
                             value=rec["interval_basis"], allowed=", ".join(BASES))
        t = _num(rec["time_years"], src, rid, "time_years")
        if spec.needs_time and not np.isfinite(t):
            raise InputError("this metric needs a time point", file=src, field=f"{rid}.time_years")
        value = _num(rec["value"], src, rid, "value", required=True)
        n = _num(rec["n"], src, rid, "n")
        lower, upper = _num(rec["lower"], src, rid, "lower"), _num(rec["upper"], src, rid, "upper")
        if rec["interval_basis"] == "wilson":
            if not np.isfinite(n) or n <= 0:
                raise InputError("a Wilson interval needs n", file=src, field=f"{rid}.n")
            lower, upper = wilson_interval(value, n)
        elif not (np.isfinite(lower) and np.isfinite(upper)):
            raise InputError(f"interval basis '{rec['interval_basis']}' needs lower and upper", file=src,
                             field=f"{rid}.lower")
        if not lower <= value <= upper:
            raise InputError("the value must lie within [lower, upper]", file=src, field=f"{rid}.value", value=value)
        rec.update(time_years=t, value=value, n=n, lower=lower, upper=upper)
        rows.append(rec)
    out = pd.DataFrame(rows, columns=TARGET_COLUMNS)
    out.attrs["source"] = src
    return out


def targets_sha256(path: str | Path | None = None) -> str:
    if path is None:
        data = resources.files("sim").joinpath("data", TARGETS_NAME).read_bytes()
    else:
        data = Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest()


# ==============================================================================================
# Study populations: a study scenario with the model (parameters, therapies, life table) under test
# ==============================================================================================

def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclass(frozen=True)
class ModelUnderTest:
    """The model variant being validated: what a scenario changes in parameters, therapies and life table."""

    parameters: Mapping[str, float] = field(default_factory=dict)
    therapies: Mapping[str, Any] = field(default_factory=dict)
    life_table: str | None = None
    source: str = "default model (sim/data)"

    def describe(self) -> dict:
        return {"source": self.source, "parameters": dict(self.parameters), "therapies": dict(self.therapies),
                "life_table": self.life_table}


def model_under_test(scenario: str | Path | None = None, overrides: Sequence[str] = (),
                     calibrated: str | Path | None = None) -> ModelUnderTest:
    """The model a validation run tests: defaults, then a calibrated parameter file, then the
    scenario's ``parameters``/``therapies``/``life_table``, then ``--set`` overrides."""
    from sim.scenarios import apply_override, load_scenario, read_yaml
    params: dict[str, float] = {}
    if calibrated is not None:
        from sim.calibration import read_parameter_file
        params.update(read_parameter_file(calibrated))
    if scenario is None:
        data: dict = {}
        for a in overrides:
            data = apply_override(data, a, "default model")
        for key in data:
            if key not in ("parameters", "therapies", "life_table"):
                raise InputError("without a scenario file only parameters, therapies and life_table can be set",
                                 file="--set", field=key, allowed="parameters.NAME=VALUE, therapies.NAME...=VALUE")
        life = data.get("life_table")
        if life is not None:
            life = str(Path(life).resolve())
        source = "default model" + (" with --set " + " ".join(overrides) if overrides else "")
        if data:   # check the overrides now, naming them (not a study file) in any error
            from sim.scenarios import Scenario, build, format_validation_error
            probe = {**data, "cohort": {}, "strategies": [{"name": "probe"}]}
            if life is not None:
                probe["life_table"] = life
            try:
                sc = Scenario.model_validate(probe)
            except ValidationError as e:
                raise format_validation_error(e, source) from None
            sc._source = source
            build(sc)
    else:
        sc = load_scenario(scenario, list(overrides))      # validates the scenario and overrides
        data = read_yaml(scenario)
        for a in overrides:
            data = apply_override(data, a, str(scenario))
        life = sc.life_table
        if life is not None and not Path(life).is_absolute():
            life = str((Path(scenario).resolve().parent / life).resolve())
        source = sc._source
    params.update(data.get("parameters") or {})
    return ModelUnderTest(parameters=params, therapies=data.get("therapies") or {}, life_table=life, source=source)


def study_path(population: str, targets_source: str | None = None) -> Path:
    """Where a target's population scenario lives: absolute, beside the targets file, or scenarios/validation/."""
    p = Path(population)
    if p.is_absolute():
        return p
    if targets_source and not targets_source.startswith("sim/data/"):
        near = Path(targets_source).resolve().parent / p
        if near.is_file():
            return near
    return STUDIES_DIR / p


def study_model(path: str | Path, model: ModelUnderTest | None = None, extra: Sequence[str] = ()):
    """Build a study population scenario with the model under test (returns a compiled Model)."""
    from sim.scenarios import Scenario, apply_override, build, format_validation_error, read_yaml
    model = model or ModelUnderTest()
    path = Path(path)
    data = read_yaml(path)
    for a in extra:
        data = apply_override(data, a, str(path))
    merged = dict(data)
    merged["parameters"] = {**dict(model.parameters), **(data.get("parameters") or {})}
    merged["therapies"] = _deep_merge(model.therapies, data.get("therapies") or {})
    if model.life_table is not None and data.get("life_table") is None:
        merged["life_table"] = model.life_table
    source = f"{path} (model: {model.source})"
    try:
        sc = Scenario.model_validate(merged)
    except ValidationError as e:
        raise format_validation_error(e, source) from None
    sc._source = source
    sc._base_dir = path.resolve().parent
    return build(sc)


# ==============================================================================================
# Metrics
# ==============================================================================================

class Arm:
    """The tables of one strategy of a run, restricted to a subgroup of patients."""

    def __init__(self, result, strategy: str, subgroup: str = ""):
        self.result, self.strategy = result, strategy
        self.model = result.model
        self.spec = result.model.strategy(strategy)
        self.horizon = float(result.model.scenario.horizon_years)
        p = result.patients
        p = p[p["strategy"] == strategy]
        if p.empty:
            raise InputError("no such strategy in the population scenario", file=result.model.source,
                             field="strategy", value=strategy,
                             allowed=", ".join(s.name for s in result.model.scenario.strategies))
        p = _subgroup(p, subgroup, result.model.source)
        self.p = p.set_index("patient", drop=False)
        ev = result.events
        ev = ev[(ev["strategy"] == strategy)]
        self.ev = ev[ev["patient"].isin(self.p.index)]
        self._states = None

    @property
    def states(self) -> pd.DataFrame:
        if self._states is None:
            st = self.result.states
            st = st[st["strategy"] == self.strategy]
            self._states = st[st["patient"].isin(self.p.index)]
        return self._states

    def first(self, event: str, detail: str | None = None) -> pd.Series:
        """Time of the first ``event`` (with ``detail``) per patient (NaN if none)."""
        e = self.ev[self.ev["event"] == event]
        if detail is not None:
            e = e[e["detail"] == detail]
        return e.groupby("patient")["time_years"].min().reindex(self.p.index)

    def col(self, name: str) -> pd.Series:
        return pd.to_numeric(self.p[name]).astype(float)

    def need_horizon(self, t: float, what: str) -> None:
        if t > self.horizon + TIME_TOL:
            raise InputError(f"{what} at {t:g} years needs a horizon of at least {t:g} years",
                             file=self.model.source, field="horizon_years", value=self.horizon)


def _subgroup(p: pd.DataFrame, text: str, source: str) -> pd.DataFrame:
    """Filters ``key=value`` joined by ``;``: ``isn_class=III|IV``, ``ancestry=asian``,
    ``responded_by=0.5`` / ``not_responded_by=0.5`` (first response by that time, in years)."""
    for part in filter(None, (s.strip() for s in (text or "").split(";"))):
        if "=" not in part:
            raise InputError("subgroup filters look like key=value", file=source, field="subgroup", value=part)
        key, val = (x.strip() for x in part.split("=", 1))
        if key in ("isn_class", "ancestry", "sex"):
            p = p[p[key].isin(val.split("|"))]
        elif key in ("responded_by", "not_responded_by"):
            t = float(val)
            hit = pd.to_numeric(p["response_time_years"]) <= t + TIME_TOL
            p = p[hit] if key == "responded_by" else p[~hit]
        elif key == "nonadherent":
            p = p[p["nonadherent"].astype(bool) == (val.lower() in ("1", "true", "yes"))]
        else:
            raise InputError("unknown subgroup key", file=source, field="subgroup", value=key,
                             allowed="isn_class, ancestry, sex, nonadherent, responded_by, not_responded_by")
    return p


# -- per-patient indicators (shares of all patients of the arm; arms can be differenced) -----------

def _by(arm: Arm, times: pd.Series, t: float, what: str) -> pd.Series:
    arm.need_horizon(t, what)
    return (times <= t + TIME_TOL).fillna(False).astype(bool)


def ind_refractory(arm: Arm, t: float, step: str) -> pd.Series:
    return arm.p["refractory"].astype(bool)


def ind_response_by(arm: Arm, t: float, step: str) -> pd.Series:
    return _by(arm, arm.col("response_time_years"), t, "response")


def ind_cr_by(arm: Arm, t: float, step: str) -> pd.Series:
    return _by(arm, arm.col("cr_time_years"), t, "complete response")


def ind_flare_by(arm: Arm, t: float, step: str) -> pd.Series:
    return _by(arm, arm.first("renal_flare"), t, "renal flare")


def ind_switched_by(arm: Arm, t: float, step: str) -> pd.Series:
    return _by(arm, arm.first("switch"), t, "induction switch")


# -- a ladder step (or any therapy): patients who started it, from their first course -----------------

def _step_start(arm: Arm, step: str) -> pd.Series:
    """Time of each patient's first course of ``step`` (patients who never started it are dropped)."""
    return arm.first("therapy_start", step).dropna()


def _within(arm: Arm, event: str, step: str, start: pd.Series, t: float) -> np.ndarray:
    e = arm.ev[(arm.ev["event"] == event) & (arm.ev["detail"] == step) & arm.ev["patient"].isin(start.index)]
    s = start.reindex(e["patient"]).to_numpy()
    ok = (e["time_years"].to_numpy() >= s - TIME_TOL) & (e["time_years"].to_numpy() <= s + t + TIME_TOL)
    return start.index.isin(e.loc[ok, "patient"].unique())


def m_step_response_by(arm: Arm, t: float, step: str) -> Estimate:
    start = _step_start(arm, step)
    return _share(_within(arm, "partial_response", step, start, t))


def m_step_cr_by(arm: Arm, t: float, step: str) -> Estimate:
    start = _step_start(arm, step)
    return _share(_within(arm, "complete_response", step, start, t))


def m_step_survival(arm: Arm, t: float, step: str) -> Estimate:
    start = _step_start(arm, step)
    death = arm.col("death_time_years").reindex(start.index)
    end = arm.col("followup_years").reindex(start.index)
    died = death.notna().to_numpy()
    time = np.where(died, death, end) - start.to_numpy()
    return _km_estimate(time, died, t)


# -- remission and flares -------------------------------------------------------------------------------

def _remission_origin(arm: Arm, step: str) -> pd.Series:
    """Start of the first remission (maintenance start); with ``step``, the remission that course induced."""
    maint = arm.ev[arm.ev["event"] == "maintenance_start"][["patient", "time_years"]]
    if not step:
        return maint.groupby("patient")["time_years"].min()
    start = _step_start(arm, step)
    starts = arm.ev[(arm.ev["event"] == "therapy_start") & arm.ev["patient"].isin(start.index)]
    s_of = start.reindex(starts["patient"]).to_numpy()
    later = starts[starts["time_years"].to_numpy() > s_of + TIME_TOL]
    nxt = later.groupby("patient")["time_years"].min().reindex(start.index).fillna(np.inf)
    m = maint[maint["patient"].isin(start.index)]
    s_m = start.reindex(m["patient"]).to_numpy()
    n_m = nxt.reindex(m["patient"]).to_numpy()
    ok = (m["time_years"].to_numpy() >= s_m - TIME_TOL) & (m["time_years"].to_numpy() < n_m)
    return m[ok].groupby("patient")["time_years"].min()


def _flare_times(arm: Arm, step: str) -> tuple[np.ndarray, np.ndarray]:
    origin = _remission_origin(arm, step)
    fl = arm.ev[(arm.ev["event"] == "renal_flare") & arm.ev["patient"].isin(origin.index)]
    o = origin.reindex(fl["patient"]).to_numpy()
    first = fl[fl["time_years"].to_numpy() > o + TIME_TOL].groupby("patient")["time_years"].min()
    first = first.reindex(origin.index)
    stop = np.nanmin(np.vstack([arm.col("followup_years").reindex(origin.index).to_numpy(),
                                arm.col("death_time_years").reindex(origin.index).to_numpy(),
                                arm.col("esrd_time_years").reindex(origin.index).to_numpy()]), axis=0)
    f = first.to_numpy()
    event = ~np.isnan(f) & (f <= stop + TIME_TOL)
    time = np.where(event, f, stop) - origin.to_numpy()
    return time, event


def m_flare_free_after_remission(arm: Arm, t: float, step: str) -> Estimate:
    time, event = _flare_times(arm, step)
    return _km_estimate(time, event, t)


def m_flare_after_remission(arm: Arm, t: float, step: str) -> Estimate:
    time, event = _flare_times(arm, step)
    return _km_estimate(time, event, t, complement=True)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> Estimate:
    """Ratio of sums over patients with the ratio-estimator (linearised) standard error, which
    counts patients (repeat events, unequal exposure) rather than events as independent."""
    num, den = np.asarray(numerator, float), np.asarray(denominator, float)
    n = int(num.size)
    total = float(den.sum())
    if n < 2 or total <= 0:
        return Estimate(math.nan, math.nan, math.nan, n)
    r = float(num.sum()) / total
    se = math.sqrt(n / (n - 1) * float(np.sum((num - r * den) ** 2))) / total
    if r <= 0 or se <= 0:
        return Estimate(r, r, r, n, se)
    f = math.exp(Z95 * se / r)            # interval on the log scale (ratios are positive)
    return Estimate(r, r / f, r * f, n, se)


def m_flare_rate_in_remission(arm: Arm, t: float, step: str) -> Estimate:
    """Renal flares per patient-year at risk: in remission after the assessment (on or after maintenance)."""
    st = arm.states
    at_risk = st["state"].isin(["partial_response", "complete_response"]) & st["therapy"].isin(
        [arm.spec.maintenance, ""])
    seg = st[at_risk]
    years = (seg["stop"] - seg["start"]).groupby(seg["patient"]).sum().reindex(arm.p.index).fillna(0.0)
    flares = arm.ev[arm.ev["event"] == "renal_flare"].groupby("patient").size().reindex(arm.p.index).fillna(0)
    return _ratio(flares.to_numpy(float), years.to_numpy(float))


# -- ESRD, death ------------------------------------------------------------------------------------------

def m_esrd_by(arm: Arm, t: float, step: str) -> Estimate:
    arm.need_horizon(t, "ESRD incidence")
    time, cause = oc.esrd_competing_risk_data(arm.p)
    f = float(oc.cumulative_incidence_at(time, cause, oc.ESRD, t))
    n = len(arm.p)
    lo, hi = wilson_interval(f, n)   # no censoring before the horizon: the Aalen-Johansen estimate is a share
    return Estimate(f, lo, hi, n, oc.monte_carlo_se(f, n))


def m_death_by(arm: Arm, t: float, step: str) -> Estimate:
    arm.need_horizon(t, "mortality")
    time, died = oc.death_data(arm.p)
    return _km_estimate(time, died, t, complement=True)


def m_renal_survival(arm: Arm, t: float, step: str) -> Estimate:
    """Kaplan-Meier ESRD-free survival (censored at death and the end of follow-up)."""
    arm.need_horizon(t, "renal survival")
    return _km_estimate(*oc.time_to_event_data(arm.p, "esrd_time_years"), t)


def m_survival_on_dialysis(arm: Arm, t: float, step: str) -> Estimate:
    """Kaplan-Meier patient survival from ESRD, censored at transplant and the end of follow-up."""
    p = arm.p[arm.p["esrd_time_years"].notna()]
    esrd = pd.to_numeric(p["esrd_time_years"]).to_numpy(float)
    death = pd.to_numeric(p["death_time_years"]).to_numpy(float)
    tx = pd.to_numeric(p["transplant_time_years"]).to_numpy(float)
    end = pd.to_numeric(p["followup_years"]).to_numpy(float)
    died = ~np.isnan(death) & (np.isnan(tx) | (death < tx))
    stop = np.where(died, death, np.fmin(tx, end))
    return _km_estimate(stop - esrd, died, t)


def expected_background_deaths(arm: Arm) -> np.ndarray:
    """Deaths expected for each patient over their follow-up from the background life table alone."""
    lt = arm.model.life_table
    age = arm.col("age").to_numpy()
    fu = arm.col("followup_years").to_numpy()
    female = (arm.p["sex"] == "female").to_numpy()
    top = len(lt.female) - 1
    a0, a1 = age, age + fu
    total = np.zeros(age.size)
    k = np.floor(a0)
    while True:
        lo = np.maximum(a0, k)
        hi = np.minimum(a1, k + 1)
        width = np.clip(hi - lo, 0.0, None)
        if not (width > 0).any():
            break
        idx = np.minimum(k, top).astype(int)
        total += np.where(female, lt.female[idx], lt.male[idx]) * width
        k = k + 1
    return total


def m_smr(arm: Arm, t: float, step: str) -> Estimate:
    """Standardised mortality ratio against the model's own background life table (observed / expected)."""
    if np.isfinite(t):
        arm.need_horizon(t, "standardised mortality ratio")
    observed = arm.p["death_time_years"].notna().to_numpy(float)
    return _ratio(observed, expected_background_deaths(arm))


@dataclass(frozen=True)
class MetricSpec:
    """A metric: a per-patient indicator (``paired``: arms can be differenced) or an estimator."""

    fn: Callable
    description: str
    paired: bool = False
    needs_time: bool = True
    needs_step: bool = False


METRICS: dict[str, MetricSpec] = {
    "refractory": MetricSpec(ind_refractory, "share classed refractory after the initial induction", True, False),
    "response_by": MetricSpec(ind_response_by, "share with a first (partial or complete) response by t, "
                              "from the start of induction; death before counts as no response", True),
    "cr_by": MetricSpec(ind_cr_by, "share with a first complete response by t from the start of induction", True),
    "flare_by": MetricSpec(ind_flare_by, "share with at least one renal flare by t from the start of induction", True),
    "switched_by": MetricSpec(ind_switched_by, "share switched to the other induction agent by t "
                              "(failure of the first agent)", True),
    "step_response_by": MetricSpec(m_step_response_by, "among patients who started the step: response to its first "
                                   "course within t of the start", needs_step=True),
    "step_cr_by": MetricSpec(m_step_cr_by, "among patients who started the step: complete response to its first "
                             "course within t of the start", needs_step=True),
    "step_survival": MetricSpec(m_step_survival, "among patients who started the step: alive t after the start "
                                "(Kaplan-Meier)", needs_step=True),
    "flare_free_after_remission": MetricSpec(m_flare_free_after_remission, "Kaplan-Meier renal-flare-free survival "
                                             "t after the first remission (maintenance start; with a step: the "
                                             "remission that step induced)"),
    "flare_after_remission": MetricSpec(m_flare_after_remission, "1 - flare_free_after_remission"),
    "flare_rate_in_remission": MetricSpec(m_flare_rate_in_remission, "renal flares per patient-year in remission "
                                          "after the response was confirmed", needs_time=False),
    "esrd_by": MetricSpec(m_esrd_by, "Aalen-Johansen cumulative incidence of ESRD by t (death competing)"),
    "death_by": MetricSpec(m_death_by, "1 - Kaplan-Meier survival at t from the start of induction"),
    "renal_survival": MetricSpec(m_renal_survival, "Kaplan-Meier ESRD-free survival at t (death censored)"),
    "survival_on_dialysis": MetricSpec(m_survival_on_dialysis, "Kaplan-Meier survival t after ESRD, censored at "
                                       "transplant"),
    "smr": MetricSpec(m_smr, "deaths / deaths expected from the background life table over the follow-up",
                      needs_time=False),
}


def evaluate(result, metric: str, strategy: str, t: float = math.nan, step: str = "", subgroup: str = "",
             versus: str = "") -> Estimate:
    """One metric of a simulated study population (``versus``: difference ``strategy - versus``)."""
    spec = METRICS[metric]
    arm = Arm(result, strategy, subgroup)
    if spec.paired:
        x = spec.fn(arm, t, step)
        if not versus:
            return _share(x.to_numpy())
        other = Arm(result, versus, subgroup)
        y = spec.fn(other, t, step)
        common = x.index.intersection(y.index)
        d = x.reindex(common).astype(float).to_numpy() - y.reindex(common).astype(float).to_numpy()
        n = d.size
        if n < 2:
            return Estimate(math.nan, math.nan, math.nan, n)
        return _normal(float(d.mean()), float(d.std(ddof=1)) / math.sqrt(n), n, -1.0, 1.0)
    return spec.fn(arm, t, step)


# ==============================================================================================
# Running the validation
# ==============================================================================================

@dataclass
class ValidationRun:
    """The comparison table and what produced it."""

    table: pd.DataFrame
    model: ModelUnderTest
    patients: int
    seed: int
    targets_source: str
    populations: dict[str, str]          # population -> resolved path
    targets_sha256: str = ""

    def manifest(self) -> dict:
        import sim
        from sim.simulation import library_versions
        libs = library_versions(("simpy", "numpy", "scipy", "pandas", "matplotlib"))
        pops = {k: {"path": v, "sha256": hashlib.sha256(Path(v).read_bytes()).hexdigest()}
                for k, v in self.populations.items()}
        summary = {}
        for validity, g in self.table.groupby("validity", sort=False):
            judged = g["inside"].dropna()
            summary[validity] = {"comparisons": int(len(g)), "inside": int(judged.astype(bool).sum())}
        return {"lnsim_version": sim.__version__, "model": self.model.describe(), "patients": self.patients,
                "seed": self.seed, "targets": self.targets_source, "targets_sha256": self.targets_sha256,
                "populations": pops, "summary": summary, "libraries": libs,
                "metrics": {k: m.description for k, m in METRICS.items()}}


def simulate_population(path: str | Path, model: ModelUnderTest | None, patients: int, seed: int,
                        extra: Sequence[str] = ()):
    """Simulate one study population (all its strategies, common random numbers), uncosted."""
    from sim.simulation import simulate
    return simulate(study_model(path, model, extra), patients=patients, seed=seed, costed=False)


def compare(targets: pd.DataFrame, results: Mapping[str, Any]) -> pd.DataFrame:
    """The comparison table: one row per target, simulated figure beside the published one."""
    rows = []
    for _, tg in targets.iterrows():
        est = evaluate(results[tg["population"]], tg["metric"], tg["strategy"], float(tg["time_years"]),
                       tg["step"], tg["subgroup"], tg["versus"])
        inside = (bool(tg["lower"] - TIME_TOL <= est.value <= tg["upper"] + TIME_TOL)
                  if np.isfinite(est.value) else pd.NA)
        overlaps = (bool(est.lower <= tg["upper"] and est.upper >= tg["lower"])
                    if np.isfinite(est.lower) and np.isfinite(est.upper) else inside)
        rows.append({
            "comparison": tg["comparison"], "source_id": tg["source_id"], "metric": tg["metric"],
            "time_years": tg["time_years"], "published_value": tg["value"], "published_lower": tg["lower"],
            "published_upper": tg["upper"], "simulated_value": est.value, "simulated_lower": est.lower,
            "simulated_upper": est.upper, "inside": inside, "role": tg["role"],
            "validity": VALIDITY[tg["validity"]], "overlaps": overlaps, "interval_basis": tg["interval_basis"],
            "n_published": tg["n"], "n_simulated": est.n, "unit": tg["unit"], "subgroup": tg["subgroup"],
            "population": tg["population"], "strategy": tg["strategy"], "versus": tg["versus"], "step": tg["step"],
            "target_id": tg["id"], "note": tg["note"],
        })
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    order = {v: i for i, v in enumerate(VALIDITY.values())}
    table = table.iloc[np.argsort(table["validity"].map(order).to_numpy(), kind="stable")].reset_index(drop=True)
    table["inside"] = table["inside"].astype("boolean")
    table["overlaps"] = table["overlaps"].astype("boolean")
    return table


def run_validation(scenario: str | Path | None = None, overrides: Sequence[str] = (), patients: int = 5000,
                   seed: int = 20211227, targets: str | Path | pd.DataFrame | None = None,
                   calibrated: str | Path | None = None, roles: Sequence[str] = ROLES,
                   progress: Callable[[str], None] | None = None) -> ValidationRun:
    """Simulate every study population named by the targets and compare (see module doc)."""
    if patients <= 0:
        raise InputError("must be a positive whole number", file="command line", field="--patients", value=patients)
    if isinstance(targets, pd.DataFrame):
        tg, src, sha = targets, targets.attrs.get("source", "table"), ""
    else:
        tg, src, sha = load_targets(targets), None, targets_sha256(targets)
        src = tg.attrs["source"]
    tg = tg[tg["role"].isin(roles)]
    model = model_under_test(scenario, overrides, calibrated)
    results, paths = {}, {}
    for pop in dict.fromkeys(tg["population"]):
        path = study_path(pop, src)
        if progress:
            progress(f"simulating {pop} ({patients} patients per strategy)")
        results[pop] = simulate_population(path, model, patients, seed)
        paths[pop] = str(path)
    return ValidationRun(compare(tg, results), model, patients, seed, src, paths, sha)


def write_validation(run: ValidationRun, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write validation.csv, validation_forest.png/.svg and validation_manifest.json to ``out_dir``.

    Files go to a temporary folder first and are renamed into place at the end.
    """
    from sim.plots import plot_validation_forest, save_figure
    from sim.outputs import check_new_folder, staged_folder
    out = check_new_folder(Path(out_dir), overwrite)
    with staged_folder(out) as tmp:
        run.table.to_csv(tmp / "validation.csv", index=False, float_format="%.6g")
        save_figure(plot_validation_forest(run.table), tmp / "validation_forest")
        (tmp / "validation_manifest.json").write_text(json.dumps(run.manifest(), indent=2, default=str))
    return out


def console_table(table: pd.DataFrame) -> str:
    """A short text view: one line per comparison, grouped by validity."""
    lines = []
    for validity, g in table.groupby("validity", sort=False):
        judged = g["inside"].dropna()
        lines.append(f"\n{validity}: {int(judged.astype(bool).sum())} of {len(judged)} inside the published interval")
        for _, r in g.iterrows():
            inside = r["inside"]
            mark = "   n/a " if pd.isna(inside) else ("inside " if bool(inside) else "OUTSIDE")
            lines.append(f"  {mark} {r['source_id']:<8} {r['comparison'][:62]:<62} "
                         f"published {_fmt(r['published_value'])} [{_fmt(r['published_lower'])}, "
                         f"{_fmt(r['published_upper'])}]  simulated {_fmt(r['simulated_value'])} "
                         f"[{_fmt(r['simulated_lower'])}, {_fmt(r['simulated_upper'])}]")
    return "\n".join(lines).lstrip("\n")


def _fmt(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3g}"


# ==============================================================================================
# Cross-check: constant hazards in closed form / as a Markov cohort
# ==============================================================================================

def constant_hazard_cohort(h_esrd: float, h_death: float, h_death_dialysis: float, times) -> pd.DataFrame:
    """Markov cohort (continuous time) of active nephritis -> ESRD (dialysis) -> death with constant
    hazards, and death from active nephritis: state probabilities at ``times`` by the matrix
    exponential, with the closed-form cumulative incidence of ESRD (death competing)
    ``h_e / (h_e + h_d) * (1 - exp(-(h_e + h_d) t))`` beside it."""
    from scipy.linalg import expm
    q = np.array([[-(h_esrd + h_death), h_esrd, h_death],
                  [0.0, -h_death_dialysis, h_death_dialysis],
                  [0.0, 0.0, 0.0]])
    rows = []
    for t in np.atleast_1d(np.asarray(times, dtype=float)):
        p = np.array([1.0, 0.0, 0.0]) @ expm(q * t)
        total = h_esrd + h_death
        closed = h_esrd / total * (1.0 - math.exp(-total * t)) if total > 0 else 0.0
        rows.append({"time_years": t, "active": p[0], "dialysis": p[1], "dead": p[2],
                     "esrd_cumulative_incidence": closed,
                     "death_before_esrd": h_death / total * (1.0 - math.exp(-total * t)) if total > 0 else 0.0})
    return pd.DataFrame(rows)
