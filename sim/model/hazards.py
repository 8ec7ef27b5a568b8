"""Competing hazards of death and ESRD, as piecewise-constant cumulative-hazard clocks.

Each patient draws one standard-exponential threshold per clock (death, ESRD, transplant, graft
failure, and one per renal flare). An event happens when the hazard accumulated along the
patient's own history of health states reaches its threshold. Because thresholds are drawn once
per patient and shared by every strategy, a better treatment history moves events later for the
same patient (common random numbers), and the inversion needs no per-event random draw.

Death: ``h(t) = max(m_s * background(age(t)) + e_s, floor_s)`` in health state ``s``, with the
background life table by single year of age, ``m_s`` the LN standardised mortality ratio before
ESRD (B42), ``e_s`` the excess while nephritis is active (B12), and ``floor_s`` the all-cause rate on
dialysis (B44) or after transplant (B45).

ESRD: ``h(t) = rate_s * HR_class * HR_patient * (HR_first_year if t < 1 year)``, with ``rate_s`` by
response state (B35, B60), ``HR_patient`` for chronic damage and supportive care
(:func:`esrd_multiplier`), times the hazard ratio of any adverse event that damages the kidney
(applied in the pathway), and zero once on renal replacement therapy.

Tables are built for a whole patient block at once with numpy; the event loop only evaluates
and inverts them with :func:`bisect` on Python lists.
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np

INF = float("inf")
ACTIVE, PARTIAL, COMPLETE, DIALYSIS, TRANSPLANT = (
    "active_nephritis", "partial_response", "complete_response", "dialysis", "transplant")
HEALTH_STATES = (ACTIVE, PARTIAL, COMPLETE, DIALYSIS, TRANSPLANT)
PRE_ESRD = (ACTIVE, PARTIAL, COMPLETE)
_FAR = 1e6  # years: last breakpoint, beyond any horizon


def death_tables(age: np.ndarray, female: np.ndarray, life_female: np.ndarray, life_male: np.ndarray,
                 params, horizon_years: float) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Breakpoints (n, G+1) and, per health state, (cumulative hazard at breakpoints, rates)."""
    n = age.shape[0]
    G = int(np.ceil(horizon_years)) + 2
    first = 1.0 - (age - np.floor(age))                       # time to the next birthday, in (0, 1]
    bps = np.empty((n, G + 1))
    bps[:, 0] = 0.0
    bps[:, 1:G] = first[:, None] + np.arange(G - 1)[None, :]
    bps[:, G] = _FAR
    ages = np.minimum(np.floor(age)[:, None] + np.arange(G)[None, :], len(life_female) - 1).astype(int)
    bg = np.where(female[:, None], life_female[ages], life_male[ages])
    smr = params["smr_lupus_nephritis"]
    spec = {
        ACTIVE: (smr, params["death_rate_active_nephritis"], 0.0),
        PARTIAL: (smr, 0.0, 0.0),
        COMPLETE: (smr, 0.0, 0.0),
        DIALYSIS: (1.0, 0.0, params["death_rate_dialysis"]),
        TRANSPLANT: (1.0, 0.0, params["death_rate_transplant"]),
    }
    widths = np.diff(bps, axis=1)
    out = {}
    for state, (m, e, floor) in spec.items():
        rates = np.maximum(m * bg + e, floor)
        cum = np.zeros((n, G + 1))
        cum[:, 1:] = np.cumsum(rates * widths, axis=1)
        out[state] = (cum, rates)
    return bps, out


def esrd_multiplier(params, chronicity: np.ndarray) -> np.ndarray:
    """Per-patient ESRD hazard ratio: chronic damage (centred on the trial populations' chronicity
    mix, so a cohort like theirs keeps the evidence's ESRD rates) times the effect of supportive care."""
    hr = {"low": 1.0, "moderate": params["chronicity_esrd_hr_moderate"], "high": params["chronicity_esrd_hr_high"]}
    sm, sh = params["trial_chronicity_share_moderate"], params["trial_chronicity_share_high"]
    mean = (1.0 - sm - sh) + sm * hr["moderate"] + sh * hr["high"]
    return np.array([hr[c] / mean for c in chronicity]) * params["supportive_care_esrd_hr"]


def esrd_tables(isn_class: np.ndarray, params, multiplier: np.ndarray | None = None
                ) -> tuple[list[float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Breakpoints [0, 1 year, far] and per pre-ESRD state (cumulative hazard, rates) per patient;
    ``multiplier`` is a per-patient hazard ratio (:func:`esrd_multiplier`)."""
    hr_class = np.array([params[f"esrd_hr_class_{c}"] for c in isn_class])
    if multiplier is not None:
        hr_class = hr_class * multiplier
    hr1 = params["esrd_hr_first_year"]
    bps = [0.0, 1.0, _FAR]
    base = {ACTIVE: params["esrd_rate_active"], PARTIAL: params["esrd_rate_partial"],
            COMPLETE: params["esrd_rate_complete"]}
    out = {}
    for state, r in base.items():
        rates = np.stack([r * hr_class * hr1, r * hr_class], axis=1)
        cum = np.stack([np.zeros_like(hr_class), rates[:, 0], rates[:, 0] + rates[:, 1] * (_FAR - 1.0)], axis=1)
        out[state] = (cum, rates)
    return bps, out


def cumulative(bps: list[float], cum: list[float], rates: list[float], t: float) -> float:
    """Cumulative hazard at time t of a piecewise-constant hazard."""
    j = bisect_right(bps, t) - 1
    if j >= len(rates):
        j = len(rates) - 1
    return cum[j] + rates[j] * (t - bps[j])


def time_reaching(bps: list[float], cum: list[float], rates: list[float], target: float) -> float:
    """First time the cumulative hazard reaches ``target`` (inf if never within the table)."""
    j = bisect_right(cum, target) - 1
    if j >= len(rates) or rates[j] <= 0.0:   # the tables' hazards are all positive or all zero
        return INF
    return bps[j] + (target - cum[j]) / rates[j]
