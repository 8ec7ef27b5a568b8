"""Glucocorticoid exposure of each patient, from the simulated states (simulate, then measure).

Steroid burden drives much of the long-term harm of lupus nephritis treatment, and protocols differ
in it: the multitarget regimen starts with three 500 mg methylprednisolone pulses and 0.6 mg/kg of
prednisolone (A53), and the Korean tacrolimus cohort never came below 10 mg/day (A51). Every course
carries its schedule (``glucocorticoids`` in ``therapies.yaml``, :class:`sim.inputs.therapies.GlucocorticoidSchedule`):

* methylprednisolone pulses at the start, converted to prednisolone equivalents
  (``methylprednisolone_to_prednisolone``);
* oral prednisolone at a starting dose (mg/day, or mg/kg/day x the patient's weight) for
  ``full_weeks``, a linear taper over ``taper_weeks`` to ``then_mg_day``, kept until the therapy ends.

Between courses: ``maintenance_prednisolone_mg_day`` on maintenance, ``supportive_prednisolone_mg_day``
on supportive care (active disease with no option left, chronic damage) and while waiting for a
service, nothing after maintenance stops or on renal replacement therapy.

A course lasts as long as the states table shows its therapy (a run of consecutive segments with
the same therapy label, which starts at the course's ``therapy_start``). Everything is computed in
closed form, vectorised over those runs: no re-simulation, and both engines give the same tables.

Outputs per patient: ``cumulative_glucocorticoid_mg`` (prednisolone-equivalent mg over the
follow-up) and ``years_prednisolone_above_7_5mg`` (time on more than 7.5 mg/day, the threshold of
the EULAR recommendations for long-term use; pulse days are not counted as time).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sim.inputs.units import DAYS_PER_YEAR
from sim.inputs.therapies import NO_GLUCOCORTICOIDS

THRESHOLD_MG_DAY = 7.5
COLUMNS = ("cumulative_glucocorticoid_mg", "years_prednisolone_above_7_5mg")


def _schedules(model) -> dict[str, tuple[float, float, float, float, float, float]]:
    """therapy label -> (pulse mg as prednisolone, start mg/day, start mg/kg/day, full days, taper days,
    then mg/day)."""
    p = model.params
    mp = p["methylprednisolone_to_prednisolone"]
    out = {}
    for name, th in model.therapies.therapies.items():
        g = th.glucocorticoids
        if g is NO_GLUCOCORTICOIDS:
            continue
        start, start_kg = g.start_mg_day, g.start_mg_kg_day
        if not start and not start_kg:          # only a steady dose is given
            start = g.then_mg_day
        out[name] = (g.pulses * g.pulse_mg * mp, start, start_kg, g.full_weeks * 7.0, g.taper_weeks * 7.0,
                     g.then_mg_day)
    maint = p["maintenance_prednisolone_mg_day"]
    support = p["supportive_prednisolone_mg_day"]
    for s in model.scenario.strategies:                # a maintenance record with its own schedule keeps it
        out.setdefault(s.maintenance, (0.0, maint, 0.0, 0.0, 0.0, maint))
    out["supportive_care"] = (0.0, support, 0.0, 0.0, 0.0, support)
    return out


def _above(x: np.ndarray, d0: np.ndarray, d1: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Measure of [0, x] where a dose going linearly from d0 (at 0) to d1 (at ``length`` >= x) is above
    the threshold."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.clip(length * (d0 - THRESHOLD_MG_DAY) / (d0 - d1), 0.0, x)   # where the dose is 7.5
    return np.where(d0 == d1, np.where(d0 > THRESHOLD_MG_DAY, x, 0.0), np.where(d0 > d1, cross, x - cross))


def course_exposure(days: np.ndarray, pulse: np.ndarray, start: np.ndarray, full: np.ndarray,
                    taper: np.ndarray, then: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(prednisolone-equivalent mg, days above 7.5 mg/day) of courses that last ``days`` days."""
    days = np.asarray(days, float)
    a = np.minimum(days, full)                                   # at the starting dose
    x = np.clip(days - full, 0.0, taper)                         # into the taper
    with np.errstate(divide="ignore", invalid="ignore"):
        tapered = np.where(taper > 0, start * x - (start - then) * x * x / (2.0 * np.where(taper > 0, taper, 1.0)),
                           0.0)
    c = np.maximum(days - full - taper, 0.0)                     # after the taper
    mg = pulse + start * a + tapered + then * c
    above = (np.where(start > THRESHOLD_MG_DAY, a, 0.0)
             + np.where(taper > 0, _above(x, start, then, np.where(taper > 0, taper, 1.0)), 0.0)
             + np.where(then > THRESHOLD_MG_DAY, c, 0.0))
    return mg, above


def exposure(result) -> pd.DataFrame:
    """Per (strategy, patient): ``cumulative_glucocorticoid_mg`` and ``years_prednisolone_above_7_5mg``."""
    keys = result.patients[["strategy", "patient"]].reset_index(drop=True)
    st = result.states
    out = keys.copy()
    out[list(COLUMNS)] = 0.0
    if st.empty:
        return out
    # therapy labels, once per distinct label: waiting for a service counts as supportive care
    codes, labels = pd.factorize(st["therapy"].astype(str))
    ther, labels = pd.factorize(np.array(["supportive_care" if lab.startswith("waiting:") else lab
                                          for lab in labels], dtype=object)[codes])
    sched = _schedules(result.model)
    par_of = np.array([sched.get(lab, (0.0,) * 6) for lab in labels], float).reshape(-1, 6)
    known_of = np.array([lab in sched for lab in labels], bool)
    # runs of consecutive segments with the same therapy = courses (or maintenance, supportive care); a
    # course of the same therapy straight after another starts a run of its own (at its therapy_start)
    row = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(st[["strategy", "patient"]]))
    new = np.ones(len(st), bool)
    new[1:] = (ther[1:] != ther[:-1]) | (row[1:] != row[:-1])
    same = np.flatnonzero(~new)                       # a segment that continues its run's label: a new course?
    if len(same):
        ev = result.events
        starts = ev[ev["event"] == "therapy_start"]
        seg = st.iloc[same]
        new[same] = pd.MultiIndex.from_arrays([seg["strategy"], seg["patient"], seg["start"]]).isin(
            pd.MultiIndex.from_arrays([starts["strategy"], starts["patient"], starts["time_years"]]))
    first = np.flatnonzero(new)
    start_t = st["start"].to_numpy(float)[first]
    stop_t = np.maximum.reduceat(st["stop"].to_numpy(float), first)
    code, who = ther[first], row[first]
    par = par_of[code]
    weight = result.patients["weight_kg"].to_numpy(float)[who]
    days = (stop_t - start_t) * DAYS_PER_YEAR
    mg, above = course_exposure(days, par[:, 0], par[:, 1] + par[:, 2] * weight, par[:, 3], par[:, 4], par[:, 5])
    known = known_of[code]
    n = len(keys)
    out["cumulative_glucocorticoid_mg"] = np.bincount(who, weights=np.where(known, mg, 0.0), minlength=n)
    out["years_prednisolone_above_7_5mg"] = np.bincount(who, weights=np.where(known, above, 0.0),
                                                        minlength=n) / DAYS_PER_YEAR
    return out
