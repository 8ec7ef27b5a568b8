"""The metrics of a validation: what a simulated study population shows, with its Monte Carlo 95%
interval (Wilson for shares of patients, Greenwood for Kaplan-Meier, the ratio estimator over
patients for rates and standardised mortality ratios, paired normal for differences between arms
on the same patients). Each metric is one function of :data:`METRICS`, evaluated by
:func:`evaluate` (used by :mod:`sim.analysis.validation` and :mod:`sim.analysis.calibration`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from sim.analysis import outcomes as oc
from sim.analysis.outcomes import Z95
from sim.errors import InputError

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
