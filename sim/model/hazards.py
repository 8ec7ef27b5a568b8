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

The tables are written straight into the patients' records by the core: the breakpoints, the death
table of active nephritis and the ESRD tables when the patient starts (:func:`patient_tables`), the
death table of another state when the patient first enters it or a state sharing its table
(:func:`enter_death_table`, :func:`death_slots`); the core evaluates and inverts them
(:mod:`sim.model.clocks`).
"""
from __future__ import annotations

import math

import numpy as np

from sim.inputs.therapies import ISN_CLASSES
from sim.model import layout as L
from sim.inputs.cohort import CHRONICITY
from sim.model.jit import core, inlined
from sim.model.response import chronicity_mix

ACTIVE, PARTIAL, COMPLETE, DIALYSIS, TRANSPLANT = (
    "active_nephritis", "partial_response", "complete_response", "dialysis", "transplant")
HEALTH_STATES = (ACTIVE, PARTIAL, COMPLETE, DIALYSIS, TRANSPLANT)
PRE_ESRD_STATES = HEALTH_STATES[:3]          # before renal replacement (sim.model.clocks.pre_esrd in the core)


def death_spec(params) -> np.ndarray:
    """Per health state (the order of :data:`HEALTH_STATES`): ``(m_s, e_s, floor_s)`` of the death hazard."""
    smr = params["smr_lupus_nephritis"]
    return np.array([
        (smr, params["death_rate_active_nephritis"], 0.0),         # ACTIVE
        (smr, 0.0, 0.0),                                           # PARTIAL
        (smr, 0.0, 0.0),                                           # COMPLETE
        (1.0, 0.0, params["death_rate_dialysis"]),                 # DIALYSIS
        (1.0, 0.0, params["death_rate_transplant"]),               # TRANSPLANT
    ])


def death_slots(spec: np.ndarray) -> np.ndarray:
    """The death table each health state reads: states whose hazards (rows of :func:`death_spec`) are
    equal share the table of the first of them (partial and complete response: the same SMR, no
    excess, no floor), so a patient's table is written once for both."""
    return np.array([next(j for j in range(s + 1) if np.array_equal(spec[j], spec[s])) for s in range(len(spec))],
                    dtype=np.int64)


def esrd_multiplier(params, chronicity) -> np.ndarray:
    """The ESRD hazard ratio of patients in chronicity bands ``chronicity`` (labels of
    :data:`sim.inputs.cohort.CHRONICITY`): chronic damage (centred on the trial populations'
    chronicity mix, so a cohort like theirs keeps the evidence's ESRD rates) times the effect of
    supportive care."""
    hr = {"low": 1.0, "moderate": params["chronicity_esrd_hr_moderate"], "high": params["chronicity_esrd_hr_high"]}
    mix = chronicity_mix(params, "trial")
    mean = sum(mix[b] * hr[b] for b in CHRONICITY)
    return np.array([hr[c] / mean for c in chronicity]) * params["supportive_care_esrd_hr"]


def esrd_spec(params) -> tuple[np.ndarray, np.ndarray, float]:
    """``rate_s`` per pre-ESRD state (active, partial, complete), ``HR_class`` per ISN class (the
    order of :data:`sim.inputs.therapies.ISN_CLASSES`) and ``HR_first_year``."""
    return (np.array([params["esrd_rate_active"], params["esrd_rate_partial"], params["esrd_rate_complete"]]),
            np.array([params[f"esrd_hr_class_{c}"] for c in ISN_CLASSES]), float(params["esrd_hr_first_year"]))


def horizon_breakpoints(horizon_years: float) -> int:
    """G: the death tables have G + 1 breakpoints (0, the next G - 1 birthdays, far) and G rates."""
    return int(math.ceil(horizon_years)) + 2


@inlined
def death_table(m, p, s):
    """Write patient ``p``'s death table of slot ``s`` (that of health state ``s``, the first of the
    states sharing it, :func:`death_slots`): ``d_rates[s]``, the G rates
    ``max(m_s * background + e_s, floor_s)`` (:func:`death_spec`, in ``m.d_spec``) with the background
    rate of the patient's whole years of age in the life table (``m.life``; its last row beyond it),
    and ``d_cum[s]``, the cumulative hazard at each breakpoint ``d_bps``: the running sum, left to
    right, of rate x width."""
    G = m.n_bps - 1
    last = m.n_life - 1
    life = m.life[0] if p.female else m.life[1]
    a0 = np.int64(math.floor(p.age))
    bps, cum, rates = p.d_bps, p.d_cum[s], p.d_rates[s]
    mult, excess, floor = m.d_spec[s, 0], m.d_spec[s, 1], m.d_spec[s, 2]
    total = 0.0
    cum[0] = total
    for j in range(G):
        k = a0 + j                                   # age in whole years, the table's last row beyond it
        bg = life[k if k < last else last]
        v = mult * bg + excess
        r = floor if v < floor else v
        rates[j] = r
        total = total + r * (bps[j + 1] - bps[j])
        cum[j + 1] = total
    p.d_written |= np.int64(1) << np.int64(s)


@inlined
def enter_death_table(m, p, s):
    """The death table of state ``s`` (its slot, :func:`death_slots`) is written the first time the
    patient enters a state of the slot (shared by every strategy): most patients never need those of
    renal replacement, and a table written just before it is read is still in the processor's cache."""
    slot = m.d_slot[s]
    if not (p.d_written >> slot) & np.int64(1):
        death_table(m, p, slot)


@core
def new_patients(P, n, age, female):
    """The patients ``P[:n]`` of a new block (``isn_class`` and ``chronicity`` already set): their
    ``age`` and ``female``, and no hazard table written yet (:func:`patient_tables` writes them when
    the patient starts, under whichever strategy runs first)."""
    for i in range(n):
        p = P[i]
        p.age = age[i]
        p.female = 1 if female[i] else 0
        p.d_written = 0


@core
def patient_tables(m, p):
    """Write patient ``p``'s hazard tables when the patient starts, the first time under any
    strategy (``d_written`` is 0): the death tables' breakpoints ``d_bps`` (G + 1: 0, the next G - 1
    birthdays, far; the first after 0 is the next birthday) and the death table of active nephritis,
    the state every patient starts in (:func:`death_table`; the others when first entered,
    :func:`enter_death_table`), and ESRD (``e_bps`` [0, 1 year, far], per pre-ESRD state ``e_cum``
    and the two ``e_rates``) from :func:`esrd_spec` (rates, class hazard ratios, first-year hazard
    ratio) and the :func:`esrd_multiplier` of each chronicity band (in the order of CHRONICITY),
    which ``m`` holds (the same in every strategy). Written just before they are read, the tables are
    still in the processor's cache when the patient's clocks search them; they are kept from
    strategy to strategy."""
    if p.d_written != 0:
        return
    G = m.n_bps - 1
    bps = p.d_bps
    a = p.age
    first = 1.0 - (a - math.floor(a))            # time to the next birthday, in (0, 1]
    bps[0] = 0.0
    for j in range(G - 1):
        bps[j + 1] = first + np.float64(j)
    bps[G] = L.FAR
    death_table(m, p, L.ACTIVE)
    hr = m.e_class_hr[p.isn_class] * m.e_band_hr[p.chronicity]
    p.e_bps[0] = 0.0
    p.e_bps[1] = 1.0
    p.e_bps[2] = L.FAR
    for s in range(3):
        r = m.e_rate[s] * hr
        r0 = r * m.e_hr1
        p.e_rates[s, 0] = r0
        p.e_rates[s, 1] = r
        p.e_cum[s, 0] = 0.0
        p.e_cum[s, 1] = r0
        p.e_cum[s, 2] = r0 + r * (L.FAR - 1.0)
