"""Summary metrics from the simulation's result tables.

Input contract (one simulation run, possibly several strategies):

``patients``
    One row per (strategy, patient) with columns ``strategy``, ``patient``,
    ``isn_class``, ``refractory`` (bool), ``nonadherent`` (bool),
    ``highest_step``, ``n_renal_flares`` (int), ``cr_time_years``,
    ``response_time_years``, ``esrd_time_years``, ``death_time_years``
    (float, NaN when the event did not happen within follow-up) and
    ``followup_years`` (float > 0: time to death or to the horizon, whichever
    comes first).  ESRD does not end follow-up; death does.
``events``
    Columns ``strategy``, ``patient``, ``time_years``, ``event``, ``detail``.
    Rows with ``event == "therapy_start"`` carry the therapy name in ``detail``.
``ladders``
    ``dict`` strategy -> list of ladder step (therapy) names, in order.

Estimators
----------
All estimators are implemented here with numpy, in closed form, with no
random numbers anywhere, so results are bit-identical run to run.

* Kaplan-Meier (:func:`kaplan_meier`): product-limit estimator; at tied times
  events are counted before censorings (subjects censored at ``t`` are in the
  risk set at ``t``).  The curve is right-continuous.
* Aalen-Johansen (:func:`cumulative_incidence`): computed directly as
  ``F_k(t) = sum_{u <= t} S(u-) * d_k(u) / n(u)``, where ``S`` is the
  product-limit overall (any-cause) event-free survival.  We deliberately do
  **not** use ``lifelines.AalenJohansenFitter``: when event times of different
  causes are tied, it "resolves" the ties by jittering durations after calling
  ``np.random.seed(seed)`` on numpy's *global* RNG (there is no option to
  switch the jitter off; ``seed=None`` reseeds the global RNG from OS entropy,
  an integer seed resets it), which both perturbs the estimate and mutates
  global state.  The estimator handles ties exactly without any jitter.

Evaluation beyond the data: a curve evaluated at a time later than the
largest observed time (event or censoring) returns NaN, because nobody is
followed that long, *unless* the curve is already absorbed (KM survival 0, or
overall event-free survival 0 for the Aalen-Johansen estimator), in which case
it is defined and constant.  Within the observed range a flat curve returns its
value.  A tolerance of ``TIME_TOL`` years is allowed so that a horizon of e.g.
exactly 5 years is not lost to floating-point noise.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from sim.inputs.therapies import LOOKALIKE_CONDITIONS

__all__ = [
    "TIME_TOL",
    "PATIENT_COLUMNS",
    "EVENT_COLUMNS",
    "kaplan_meier",
    "km_survival_at",
    "km_median",
    "aalen_johansen",
    "cumulative_incidence",
    "cumulative_incidence_at",
    "monte_carlo_se",
    "time_to_event_data",
    "esrd_competing_risk_data",
    "death_data",
    "reached_share",
    "metric_names",
    "summarise",
]

#: The 97.5% standard normal quantile, for 95% intervals (scipy.stats.norm.ppf(0.975)).
Z95 = 1.959963984540054

#: Tolerance (years) when deciding whether a time lies within follow-up.
TIME_TOL = 1e-9

PATIENT_COLUMNS = (
    "strategy",
    "patient",
    "refractory",
    "nonadherent",
    "n_renal_flares",
    "cr_time_years",
    "response_time_years",
    "esrd_time_years",
    "death_time_years",
    "followup_years",
)
EVENT_COLUMNS = ("strategy", "patient", "event", "detail")

#: Cause codes used by :func:`esrd_competing_risk_data`.
CENSORED, ESRD, DEATH = 0, 1, 2


# ---------------------------------------------------------------------------
# Generic estimators
# ---------------------------------------------------------------------------
def _as_times(times) -> np.ndarray:
    t = np.asarray(times, dtype=float).ravel()
    if np.isnan(t).any():
        raise ValueError("times must not contain NaN")
    if (t < 0).any():
        raise ValueError("times must be >= 0")
    return t


def kaplan_meier(times, observed) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival curve.

    Parameters
    ----------
    times : array-like of float
        Observed time per subject (event time or censoring time), >= 0.
    observed : array-like of bool
        True if the event was observed at ``times``, False if censored.

    Returns
    -------
    t, S : np.ndarray
        Right-continuous step function: ``S[i]`` is the survival probability
        on ``[t[i], t[i+1])``.  ``t[0] == 0`` with ``S[0] == 1``, followed by
        every distinct event time; if the largest observed time is a
        censoring later than the last event time, it is appended (with the
        survival unchanged) so that the curve spans the whole follow-up.
        Plot with ``drawstyle="steps-post"``.  Empty input gives
        ``([0.], [1.])``.
    """
    t = _as_times(times)
    d = np.asarray(observed, dtype=bool).ravel()
    if d.shape != t.shape:
        raise ValueError("times and observed must have the same length")
    if t.size == 0:
        return np.array([0.0]), np.array([1.0])
    event_times, n_events, at_risk = _risk_sets(t, d)
    surv = np.cumprod(1.0 - n_events / at_risk)
    out_t = np.concatenate(([0.0], event_times))
    out_s = np.concatenate(([1.0], surv))
    t_max = float(t.max())
    if t_max > out_t[-1]:
        out_t = np.append(out_t, t_max)
        out_s = np.append(out_s, out_s[-1])
    return out_t, out_s


def _risk_sets(t: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct event times, events at each, and the number at risk (time >= u) just before each."""
    event_times, n_events = np.unique(t[d], return_counts=True)
    at_risk = t.size - np.searchsorted(np.sort(t), event_times, side="left")
    return event_times, n_events, at_risk


def km_greenwood_at(times, observed, at: float) -> tuple[float, float]:
    """KM survival at ``at`` and Greenwood's standard error (both NaN beyond follow-up)."""
    t = _as_times(times)
    d = np.asarray(observed, dtype=bool).ravel()
    s = km_survival_at(t, d, at) if t.size else float("nan")
    if not np.isfinite(s):
        return float("nan"), float("nan")
    event_times, n_events, at_risk = _risk_sets(t, d)
    keep = event_times <= at
    with np.errstate(divide="ignore", invalid="ignore"):
        var = s * s * float(np.sum(n_events[keep] / (at_risk[keep] * (at_risk[keep] - n_events[keep]))))
    return s, math.sqrt(var) if np.isfinite(var) else float("nan")


def _step_at(t: np.ndarray, y: np.ndarray, at) -> np.ndarray:
    idx = np.searchsorted(t, np.asarray(at, dtype=float), side="right") - 1
    return y[np.clip(idx, 0, None)]


def _evaluate(t, y, at, t_max, absorbed) -> np.ndarray | float:
    at_arr = np.asarray(at, dtype=float)
    vals = np.asarray(_step_at(t, y, at_arr), dtype=float)
    if not absorbed:
        vals = np.where(at_arr > t_max + TIME_TOL, np.nan, vals)
    vals = np.where(np.isnan(at_arr), np.nan, vals)
    return float(vals) if vals.ndim == 0 else vals


def km_survival_at(times, observed, at):
    """KM survival at time(s) ``at`` (NaN beyond follow-up, see module doc)."""
    t_all = _as_times(times)
    t, s = kaplan_meier(t_all, observed)
    t_max = float(t_all.max()) if t_all.size else 0.0
    return _evaluate(t, s, at, t_max, absorbed=bool(s[-1] <= 0.0))


def km_median(times, observed) -> float:
    """KM median: smallest time with ``S(t) <= 0.5``; NaN if not reached."""
    t, s = kaplan_meier(times, observed)
    hit = np.flatnonzero(s <= 0.5)
    return float(t[hit[0]]) if hit.size else float("nan")


def aalen_johansen(times, cause) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Aalen-Johansen estimator for competing risks (pure numpy, no jitter).

    Parameters
    ----------
    times : array-like of float
        Time of the first event or of censoring, per subject.
    cause : array-like of int
        0 = censored, any positive integer = cause of the first event.

    Returns
    -------
    t, S, F
        ``t`` starts at 0 and lists every distinct event time (any cause),
        plus the largest observed time if it is a later censoring.  ``S`` is
        the overall event-free KM survival and ``F[k]`` the cumulative
        incidence of cause ``k`` on the same grid (step functions,
        right-continuous).  ``sum_k F[k] + S == 1`` up to rounding.
    """
    t_all = _as_times(times)
    c = np.asarray(cause).ravel()
    if c.shape != t_all.shape:
        raise ValueError("times and cause must have the same length")
    if c.size and (pd.isna(c).any() or (c.astype(float) < 0).any()):
        raise ValueError("cause must be non-negative integers (0 = censored)")
    c = c.astype(int)
    causes = [int(k) for k in np.unique(c) if k != 0]
    observed = c != 0
    t, surv = kaplan_meier(t_all, observed)
    if t_all.size == 0:
        return t, surv, {}
    sorted_t = np.sort(t_all)
    grid = t[1:]
    at_risk = t_all.size - np.searchsorted(sorted_t, grid, side="left")
    s_before = surv[:-1]  # S(u-) for every grid point u = t[1:]
    incidence: dict[int, np.ndarray] = {}
    for k in causes:
        tk = np.sort(t_all[c == k])
        d_k = np.searchsorted(tk, grid, side="right") - np.searchsorted(tk, grid, side="left")
        with np.errstate(invalid="ignore", divide="ignore"):
            inc = np.where(d_k > 0, s_before * d_k / np.maximum(at_risk, 1), 0.0)
        incidence[k] = np.concatenate(([0.0], np.cumsum(inc)))
    return t, surv, incidence


def cumulative_incidence(times, cause, cause_of_interest) -> tuple[np.ndarray, np.ndarray]:
    """Aalen-Johansen cumulative incidence of ``cause_of_interest``.

    All other positive causes are competing risks, 0 is censoring.  Returns
    ``(t, F)`` as a right-continuous step function starting at ``(0, 0)``.
    """
    t, _, inc = aalen_johansen(times, cause)
    f = inc.get(int(cause_of_interest), np.zeros_like(t))
    return t, f


def cumulative_incidence_at(times, cause, cause_of_interest, at):
    """Aalen-Johansen cumulative incidence at time(s) ``at``.

    NaN beyond the largest observed time unless everyone has already had an
    event (overall event-free survival 0).
    """
    t_all = _as_times(times)
    t, surv, inc = aalen_johansen(t_all, cause)
    f = inc.get(int(cause_of_interest), np.zeros_like(t))
    t_max = float(t_all.max()) if t_all.size else 0.0
    return _evaluate(t, f, at, t_max, absorbed=bool(surv[-1] <= 0.0))


def monte_carlo_se(p, n):
    """Monte Carlo standard error of a proportion: ``sqrt(p (1 - p) / n)``.

    Vectorised; NaN where ``n <= 0`` or ``p`` is NaN.
    """
    p_arr = np.asarray(p, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(p_arr * (1.0 - p_arr) / n_arr)
    se = np.where(n_arr > 0, se, np.nan)
    return float(se) if se.ndim == 0 else se


# ---------------------------------------------------------------------------
# Turning the patients table into (time, status) data
# ---------------------------------------------------------------------------
def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(df[name], errors="raise").to_numpy(dtype=float)


def _censor_time(df: pd.DataFrame) -> np.ndarray:
    """min(death, ESRD, end of follow-up), ignoring NaN."""
    stack = np.vstack([_col(df, "followup_years"), _col(df, "death_time_years"), _col(df, "esrd_time_years")])
    return np.nanmin(stack, axis=0)


def time_to_event_data(patients: pd.DataFrame, column: str = "cr_time_years") -> tuple[np.ndarray, np.ndarray]:
    """(time, observed) for time to first CR / response.

    Censored at min(death, ESRD, end of follow-up); the event counts only if
    ``event_time <= censoring time`` (so a CR recorded after ESRD is ignored).
    """
    event = _col(patients, column)
    cens = _censor_time(patients)
    observed = ~np.isnan(event) & (event <= cens)
    time = np.where(observed, event, cens)
    return time, observed


def esrd_competing_risk_data(patients: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(time, cause) with cause 1 = ESRD, 2 = death before ESRD, 0 = censored.

    ESRD wins a tie with death.  Events after the end of follow-up are
    ignored (censored at ``followup_years``).
    """
    fu = _col(patients, "followup_years")
    esrd = _col(patients, "esrd_time_years")
    death = _col(patients, "death_time_years")
    is_esrd = ~np.isnan(esrd) & (esrd <= fu + TIME_TOL) & (np.isnan(death) | (esrd <= death))
    is_death = ~is_esrd & ~np.isnan(death) & (death <= fu + TIME_TOL)
    time = np.where(is_esrd, esrd, np.where(is_death, death, fu))
    cause = np.where(is_esrd, ESRD, np.where(is_death, DEATH, CENSORED)).astype(int)
    return time, cause


def death_data(patients: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(time, observed) for all-cause death, censored at end of follow-up."""
    fu = _col(patients, "followup_years")
    death = _col(patients, "death_time_years")
    observed = ~np.isnan(death) & (death <= fu + TIME_TOL)
    return np.where(observed, death, fu), observed


def reached_share(patients: pd.DataFrame, events: pd.DataFrame, step: str, event: str = "therapy_start") -> float:
    """Share of ``patients`` with >= 1 ``event`` row whose detail is ``step``.

    ``patients`` and ``events`` should already be restricted to one strategy;
    only patients present in ``patients`` count.
    """
    ids = pd.unique(patients["patient"])
    if len(ids) == 0:
        return float("nan")
    mask = (events["event"] == event) & (events["detail"] == step)
    hit = np.isin(ids, pd.unique(events.loc[mask, "patient"]))
    return float(hit.sum()) / len(ids)


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
_BASE_BEFORE_LADDER = [
    "patients",
    "cr_6m",
    "cr_12m",
    "cr_24m",
    "response_6m",
    "response_12m",
    "median_time_to_cr_years",
    "refractory",
    "refractory_nonadherent",
]
#: The clinical picture around refractoriness: metrics computed when the patients table has the
#: columns (tables of lnsim >= 0.2; older or hand-made tables simply lack them).
_CLINICAL = [
    ("failed_induction", "failed_induction"),
    ("reclassified", "workup_finding"),
    ("truly_refractory", "nonresponse_cause"),
    ("refractory_chronic_damage", "nonresponse_cause"),
    ("refractory_lookalike", "nonresponse_cause"),
    ("adverse_events_per_patient", None),
    ("severe_adverse_events_per_patient", None),
    ("courses_stopped_by_adverse_event", "courses_stopped_by_adverse_event"),
    ("mean_cumulative_glucocorticoid_mg", "cumulative_glucocorticoid_mg"),
    ("mean_years_prednisolone_above_7_5mg", "years_prednisolone_above_7_5mg"),
]
_BASE_AFTER_LADDER = [
    "flares_per_patient_year",
    "esrd_5y",
    "esrd_10y",
    "esrd_15y",
    "death_5y",
    "death_10y",
    "life_years",
]


def _unique_in_order(values: Iterable) -> list:
    return list(dict.fromkeys(values))


def metric_names(ladder: Sequence[str], columns: Sequence[str] = ()) -> list[str]:
    """Metric names (in output order) for a strategy with this ladder (and, for the clinical metrics,
    a patients table with these columns)."""
    return (
        _BASE_BEFORE_LADDER
        + [name for name, col in _CLINICAL if col is None or col in columns]
        + [f"reached_{step}" for step in _unique_in_order(ladder)]
        + _BASE_AFTER_LADDER
    )


def _check_columns(df: pd.DataFrame, required: Sequence[str], name: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing columns: {missing}")


def _bool_col(df: pd.DataFrame, name: str) -> np.ndarray:
    col = df[name]
    if col.isna().any():
        raise ValueError(f"column {name!r} must not contain missing values")
    return col.astype(bool).to_numpy()


def _strategy_metrics(p: pd.DataFrame, ev: pd.DataFrame, ladder: Sequence[str]) -> dict[str, float]:
    n = len(p)
    m: dict[str, float] = {"patients": float(n)}

    t_cr, o_cr = time_to_event_data(p, "cr_time_years")
    for name, at in (("cr_6m", 0.5), ("cr_12m", 1.0), ("cr_24m", 2.0)):
        m[name] = 1.0 - km_survival_at(t_cr, o_cr, at)
    t_r, o_r = time_to_event_data(p, "response_time_years")
    for name, at in (("response_6m", 0.5), ("response_12m", 1.0)):
        m[name] = 1.0 - km_survival_at(t_r, o_r, at)
    m["median_time_to_cr_years"] = km_median(t_cr, o_cr) if n else float("nan")

    refr = _bool_col(p, "refractory")
    nonadh = _bool_col(p, "nonadherent")
    m["refractory"] = float(refr.mean()) if n else float("nan")
    m["refractory_nonadherent"] = float(nonadh[refr].mean()) if refr.any() else float("nan")

    _clinical_metrics(m, p, ev, refr)
    for step in _unique_in_order(ladder):
        m[f"reached_{step}"] = reached_share(p, ev, step)

    fu = _col(p, "followup_years")
    flares = _col(p, "n_renal_flares")
    total_fu = math.fsum(fu)
    m["flares_per_patient_year"] = math.fsum(flares) / total_fu if total_fu > 0 else float("nan")

    t_e, c_e = esrd_competing_risk_data(p)
    for name, at in (("esrd_5y", 5.0), ("esrd_10y", 10.0), ("esrd_15y", 15.0)):
        m[name] = cumulative_incidence_at(t_e, c_e, ESRD, at)
    t_d, o_d = death_data(p)
    for name, at in (("death_5y", 5.0), ("death_10y", 10.0)):
        m[name] = 1.0 - km_survival_at(t_d, o_d, at)
    m["life_years"] = math.fsum(fu) / n if n else float("nan")
    return m


def _clinical_metrics(m: dict, p: pd.DataFrame, ev: pd.DataFrame, refr: np.ndarray) -> None:
    """Chronic damage, look-alikes, adverse events and glucocorticoid exposure (see _CLINICAL)."""
    n = len(p)
    nan = float("nan")
    if "failed_induction" in p:
        m["failed_induction"] = float(_bool_col(p, "failed_induction").mean()) if n else nan
    if "workup_finding" in p:
        found = p["workup_finding"].astype(str).isin(("chronic_damage",) + LOOKALIKE_CONDITIONS).to_numpy()
        m["reclassified"] = float(found.mean()) if n else nan
    if "nonresponse_cause" in p:
        cause = p["nonresponse_cause"].astype(str).to_numpy()[refr]
        k = len(cause)
        m["truly_refractory"] = float((cause == "refractory_nephritis").mean()) if k else nan
        m["refractory_chronic_damage"] = float((cause == "chronic_damage").mean()) if k else nan
        m["refractory_lookalike"] = float(np.isin(cause, LOOKALIKE_CONDITIONS).mean()) if k else nan
    ae = ev.loc[ev["event"] == "adverse_event", "detail"].astype(str)
    m["adverse_events_per_patient"] = len(ae) / n if n else nan
    m["severe_adverse_events_per_patient"] = float(ae.str.endswith(":severe").sum()) / n if n else nan
    for name, col in (("courses_stopped_by_adverse_event", "courses_stopped_by_adverse_event"),
                      ("mean_cumulative_glucocorticoid_mg", "cumulative_glucocorticoid_mg"),
                      ("mean_years_prednisolone_above_7_5mg", "years_prednisolone_above_7_5mg")):
        if col in p:                                   # per-patient means of a column
            m[name] = math.fsum(_col(p, col)) / n if n else nan


def summarise(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    ladders: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Summary metrics per strategy, long format ``strategy, metric, value``.

    Strategies appear in order of first appearance in ``patients``; metrics in
    the order of :func:`metric_names`.  Every strategy in ``patients`` must
    have an entry in ``ladders`` (KeyError otherwise).  Metrics:

    ``patients``                 number of patients
    ``cr_6m/12m/24m``            1 - KM of time to first CR at 0.5/1/2 years,
                                 censored at min(death, ESRD, end of follow-up)
    ``response_6m/12m``          same for ``response_time_years``
    ``median_time_to_cr_years``  KM median time to CR (NaN if not reached)
    ``refractory``               share refractory
    ``refractory_nonadherent``   share nonadherent among refractory (NaN if none)
    ``failed_induction``         share who failed both induction agents (before any work-up)
    ``reclassified``             share whose work-up found chronic damage or a look-alike
    ``truly_refractory``         among those classed refractory, the share whose non-response is
                                 refractory nephritis proper (not a look-alike, chronic damage or
                                 non-adherence); ``refractory_chronic_damage`` and
                                 ``refractory_lookalike`` are the shares due to those causes
    ``adverse_events_per_patient`` (and ``severe_...``) adverse events over the follow-up, per patient
    ``courses_stopped_by_adverse_event`` mean courses a severe adverse event stopped, per patient
    ``mean_cumulative_glucocorticoid_mg``  mean prednisolone-equivalent mg over the follow-up
    ``mean_years_prednisolone_above_7_5mg`` mean years on more than 7.5 mg/day
    ``reached_<step>``           share with >= 1 ``therapy_start`` of ``step``,
                                 one per step of the strategy's ladder
    ``flares_per_patient_year``  total renal flares / total follow-up years
    ``esrd_5y/10y/15y``          Aalen-Johansen cumulative incidence of ESRD
                                 with death before ESRD as competing risk
    ``death_5y/10y``             1 - KM of death, censored at end of follow-up
    ``life_years``               mean follow-up years (time alive within horizon)

    Time-point metrics beyond the largest follow-up are NaN (see module doc).
    Deterministic: no random numbers, sums with :func:`math.fsum`.
    """
    _check_columns(patients, PATIENT_COLUMNS, "patients")
    _check_columns(events, EVENT_COLUMNS, "events")
    if patients["followup_years"].isna().any() or (pd.to_numeric(patients["followup_years"]) <= 0).any():
        raise ValueError("followup_years must be > 0 for every patient")

    strategies = _unique_in_order(patients["strategy"].tolist())
    rows: list[tuple[str, str, float]] = []
    for strategy in strategies:
        if strategy not in ladders:
            raise KeyError(f"no ladder given for strategy {strategy!r}")
        p = patients[patients["strategy"] == strategy]
        ev = events[events["strategy"] == strategy]
        metrics = _strategy_metrics(p, ev, ladders[strategy])
        for name in metric_names(ladders[strategy], p.columns):
            rows.append((strategy, name, float(metrics[name])))
    return pd.DataFrame(rows, columns=["strategy", "metric", "value"])
