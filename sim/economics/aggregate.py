"""Aggregate mode: each trajectory priced from its records, without building tables (for PSA).

Simulate, then cost: the batch driver runs the clinical core for a block of patients and keeps the
records (events and health-state segments, numbered in the order they were written); then
:func:`price_block` walks each patient's records in that order and applies the rules of
:func:`sim.economics.evaluate.evaluate` — the same tables, loaders and dose rules (:class:`EconomicInputs`
uses ``price_component``, ``resolve_tables`` and the vial rules of :mod:`sim.economics.pricing`):

* a health-state segment: utility and state costs over its discounted duration (supportive care,
  active nephritis after a flare, dialysis, transplant follow-up after the first year);
* a course (opened by ``therapy_start`` / ``maintenance_start``, closed by the next course's start,
  a change to no therapy, supportive care or waiting, death or the end of follow-up): monitoring, daily drug components (capped at their course length) and
  one-off administrations while the course lasts;
* one-off events: adverse events (cost and QALY loss), the first transplant year, a renal flare,
  look-alike screening, a repeat biopsy;
* life years to the end of follow-up.

Discounting is exact in continuous time, as in :mod:`sim.economics.discounting`. Sums are taken in another order than
the table route, so results equal ``evaluate`` to about 1e-12 relative.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.economics.discounting import discount_rate_to_continuous
from sim.inputs.economic_tables import CATEGORIES, OUTCOMES
from sim.model.hazards import HEALTH_STATES, PRE_ESRD_STATES
from sim.model import events as E
from sim.model import layout as L
from sim.model.jit import core, inlined

# cost categories (sim.inputs.economic_tables.CATEGORIES) and the accumulators of one patient: discounted costs
# by category, undiscounted costs by category, QALYs and life years (discounted, undiscounted)
C_DRUG, C_ADMIN, C_MONITOR, C_AE, C_FLARE, C_DIAL, C_TX, C_SUPPORT, C_STATE = range(9)
assert CATEGORIES == ("drug", "administration", "monitoring", "adverse_event", "flare", "dialysis",
                      "transplant", "supportive_care", "state")
UNDISCOUNTED = 9
A_QD, A_QU, A_LYD, A_LYU = 18, 19, 20, 21
N_ACC = 22
# one patient's accumulators as a record (passed to the pricing rules by reference, no array overhead)
ACC = np.dtype([("v", np.float64, N_ACC)])
SHORT = 1e-4                   # delta * length below which a discounted duration uses expm1
# where the pricing of one patient's records stands between two records: the course open (therapy, or
# -1; maintenance or not; its start and discount factor there), the flares so far and whether the last
# was severe, the transplant's time, and the discount factor last computed (ct, cv: its time, value)
PRICING = np.dtype([("open_th", np.int64), ("maint", np.int64), ("n_flares", np.int64), ("last_severe", np.int64),
                    ("s0", np.float64), ("f0", np.float64), ("tx_time", np.float64), ("ct", np.float64),
                    ("cv", np.float64)])


NOT_COPIED = -2                # PRICING open_th of a copy not (yet) made at the ladder


def fresh_pricing(n: int) -> np.ndarray:
    """``n`` PRICING records of a patient none of whose records is priced yet."""
    q = np.zeros(n, dtype=PRICING)
    q["open_th"] = -1
    q["f0"] = q["cv"] = 1.0
    q["tx_time"] = np.nan
    return q


@inlined
def load_pricing(q):
    """The fields of a PRICING record, in the order of the dtype."""
    return q.open_th, q.maint, q.n_flares, q.last_severe, q.s0, q.f0, q.tx_time, q.ct, q.cv


@inlined
def store_pricing(q, open_th, maint, n_flares, last_severe, s0, f0, tx_time, ct, cv):
    """Write the fields of a PRICING record (the order of :func:`load_pricing`)."""
    q.open_th, q.maint, q.n_flares, q.last_severe = open_th, maint, n_flares, last_severe
    q.s0, q.f0, q.tx_time, q.ct, q.cv = s0, f0, tx_time, ct, cv


assert PRICING.names == ("open_th", "maint", "n_flares", "last_severe", "s0", "f0", "tx_time", "ct", "cv")

# what pricing does with each event code (sim.model.events): nothing (assessments, responses, switches,
# reclassification, ...: their consequences are priced through the segments and courses); close the
# open course (a change to no therapy, supportive care or waiting), and open the next (a course's or
# maintenance's start), or price the life years (the end of follow-up); or a one-off amount
(DO_NOTHING, DO_CLOSE, DO_OPEN, DO_OPEN_MAINTENANCE, DO_END, DO_AE, DO_TRANSPLANT, DO_SCREEN, DO_BIOPSY,
 DO_FLARE) = range(10)
ACTION = np.zeros(E.THERAPY_CHANGE + 1, dtype=np.int64)
ACTION[E.THERAPY_CHANGE], ACTION[E.THERAPY_START], ACTION[E.MAINTENANCE_START] = DO_CLOSE, DO_OPEN, DO_OPEN_MAINTENANCE
ACTION[E.DEATH], ACTION[E.END_OF_FOLLOWUP] = DO_END, DO_END
ACTION[E.ADVERSE_EVENT], ACTION[E.TRANSPLANT], ACTION[E.LOOKALIKE_SCREEN] = DO_AE, DO_TRANSPLANT, DO_SCREEN
ACTION[E.REPEAT_BIOPSY], ACTION[E.RENAL_FLARE] = DO_BIOPSY, DO_FLARE

ECON = np.dtype([
    ("dc", np.float64), ("do", np.float64),                 # continuous discount rates: costs, outcomes
    ("u_state", np.float64, 5), ("u_ckd", np.float64), ("u_flare_moderate", np.float64),
    ("u_flare_severe", np.float64),
    ("c_state", np.float64, 3), ("c_ckd", np.float64), ("c_background", np.float64), ("c_dialysis", np.float64),
    ("c_transplant_followup", np.float64), ("c_flare_severe", np.float64), ("c_flare_moderate", np.float64),
    ("c_transplant_first_year", np.float64), ("c_biopsy", np.float64), ("c_labs", np.float64),
    ("c_trough", np.float64), ("c_screen", np.float64),
])


# ==============================================================================================
# Pricing rules, one trajectory at a time
# ==============================================================================================
@inlined
def discounted_duration(t0, t1, delta, e0, e1):
    """Discounted duration of [t0, t1] from e0 = exp(-delta t0), e1 = exp(-delta t1): their difference
    (relative error below 1e-11 when delta * length >= SHORT), else the expm1 form of sim.economics.discounting."""
    length = t1 - t0
    if delta <= 0.0:
        return length
    x = delta * length
    if x >= SHORT:
        return (e0 - e1) / delta
    return e0 * (-math.expm1(-x) / delta)


@inlined
def discount(delta, t, ct, cv):
    """exp(-delta t): ``cv`` when ``t`` is ``ct`` (a patient's records meet at the same times, so the
    factor last computed is often the one needed; the same number either way)."""
    return cv if t == ct else math.exp(-delta * t)


@inlined
def flow(a, cat, rate, t0, t1, dc, e0):
    """A flow of ``rate`` over [t0, t1] into category ``cat`` (``e0`` = exp(-dc t0), which the caller
    has: one exponential fewer)."""
    if t1 < t0:
        t1 = t0
    a.v[cat] += rate * discounted_duration(t0, t1, dc, e0, math.exp(-dc * t1))
    a.v[UNDISCOUNTED + cat] += rate * (t1 - t0)


@inlined
def once(a, e, cat, amount, qaly, t, ec):
    """A one-off amount and QALY change at ``t`` (ec = exp(-dc t))."""
    a.v[cat] += amount * ec
    a.v[UNDISCOUNTED + cat] += amount
    if qaly != 0.0:
        a.v[A_QD] += qaly * (ec if e.do == e.dc else math.exp(-e.do * t))
        a.v[A_QU] += qaly


@inlined
def price_segment(a, e, state, ther, t0, t1, e0, e1, n_flares, last_severe, tx_time):
    """Costs and QALYs of one health-state segment [t0, t1] (e0, e1 = exp(-dc t0), exp(-dc t1);
    every flow of the segment shares its discounted duration)."""
    dc, do = e.dc, e.do
    pre = state <= L.COMPLETE
    supportive = pre and (ther == L.SUPPORTIVE_CARE or (state == L.ACTIVE and ther == L.NO_THERAPY))
    if supportive:
        u = e.u_ckd
    elif state == L.ACTIVE and n_flares > 0:        # active nephritis after a renal flare
        u = e.u_flare_severe if last_severe == 1 else e.u_flare_moderate
    else:
        u = e.u_state[state]
    length = t1 - t0
    ddc = discounted_duration(t0, t1, dc, e0, e1)
    ddo = ddc if do == dc else discounted_duration(t0, t1, do, math.exp(-do * t0), math.exp(-do * t1))
    a.v[A_QD] += u * ddo
    a.v[A_QU] += u * length
    if pre:
        if supportive:
            r = e.c_ckd
            a.v[C_SUPPORT] += r * ddc
            a.v[UNDISCOUNTED + C_SUPPORT] += r * length
        else:
            r = e.c_state[state]
            a.v[C_STATE] += r * ddc
            a.v[UNDISCOUNTED + C_STATE] += r * length
        r = e.c_background
        a.v[C_SUPPORT] += r * ddc
        a.v[UNDISCOUNTED + C_SUPPORT] += r * length
    elif state == L.DIALYSIS:
        r = e.c_dialysis
        a.v[C_DIAL] += r * ddc
        a.v[UNDISCOUNTED + C_DIAL] += r * length
    else:
        t_first = tx_time + 1.0              # follow-up after the transplant's first year
        if t0 >= t_first:
            flow(a, C_TX, e.c_transplant_followup, t0, t1, dc, e0)
        else:
            flow(a, C_TX, e.c_transplant_followup, t_first, t1, dc, math.exp(-dc * t_first))


@inlined
def price_course(a, e, cs, drate, odrug, th, maint, s0, f0, t_end, f_end):
    """A course of ``th`` opened at ``s0`` (f0 = exp(-dc s0)) and closed at ``t_end`` (f_end =
    exp(-dc t_end)): monitoring, daily drug components and one-off administrations (the rules of
    sim.economics.evaluate._courses)."""
    dc = e.dc
    s1, f1 = (t_end, f_end) if t_end > s0 else (s0, f0)
    length = s1 - s0
    dd = discounted_duration(s0, s1, dc, f0, f1)
    r = e.c_labs
    if cs.cni[th] == 1:
        r2 = e.c_trough
        a.v[C_MONITOR] += r * dd + r2 * dd
        a.v[UNDISCOUNTED + C_MONITOR] += r * length + r2 * length
    else:
        a.v[C_MONITOR] += r * dd
        a.v[UNDISCOUNTED + C_MONITOR] += r * length
    for c in range(cs.daily_start[th], cs.daily_start[th + 1]):
        rate = drate[c]
        if maint == 1:
            stop = s1
        else:
            cap = s0 + cs.daily_cap[c]
            stop = s1 if s1 < cap else cap
        if stop == s1:
            a.v[C_DRUG] += rate * dd
            a.v[UNDISCOUNTED + C_DRUG] += rate * length
        else:
            flow(a, C_DRUG, rate, s0, stop, dc, f0)
    duration = cs.duration[th]
    for c in range(cs.once_start[th], cs.once_start[th + 1]):
        times = cs.once_times[c]
        step = duration / times
        drug = odrug[c]
        admin = cs.once_admin[c]
        ratio = cs.once_ratio[c]          # exp(-dc * step)
        f = f0
        n = 0
        for k in range(times):            # administered at s0 + k * step while the course lasts
            if s0 + np.float64(k) * step < s1:
                a.v[C_DRUG] += drug * f
                a.v[C_ADMIN] += admin * f
                n += 1
            f *= ratio
        a.v[UNDISCOUNTED + C_DRUG] += drug * n
        a.v[UNDISCOUNTED + C_ADMIN] += admin * n


@inlined
def price_patient(a, q, e, cs, drate, odrug, ev, e0, e1, sg, g0, g1, used_th, used_kind, b_e, b_g, snap_a, snap_q):
    """One patient's records (events ev[e0:e1], segments sg[g0:g1]) in the order they were written,
    from where ``q`` (a :data:`PRICING` record) says the pricing stands. When the records reached are
    ``ev[b_e]`` and ``sg[b_g]`` (where the patient reached the ladder), the accumulators and where the
    pricing stands are copied into ``snap_a`` and ``snap_q``: strategies that share the life until then
    go on from there (b_e = -1: no copy)."""
    open_th, maint, n_flares, last_severe, s0, f0, tx_time, ct, cv = load_pricing(q)
    dc = e.dc
    i, j = e0, g0
    while i < e1 or j < g1:
        if i == b_e and j == b_g:
            snap_a.v[:] = a.v
            store_pricing(snap_q, open_th, maint, n_flares, last_severe, s0, f0, tx_time, ct, cv)
        if j < g1 and (i >= e1 or sg[j, L.SG_SEQ] < ev[i, L.EV_SEQ]):
            t0, t1 = sg[j, L.SG_START], sg[j, L.SG_STOP]
            f_0 = discount(dc, t0, ct, cv)
            ct, cv = t1, discount(dc, t1, t0, f_0)
            price_segment(a, e, np.int64(sg[j, L.SG_STATE]), np.int64(sg[j, L.SG_THERAPY]), t0, t1, f_0, cv,
                          n_flares, last_severe, tx_time)
            j += 1
            continue
        code = np.int64(ev[i, L.EV_CODE])
        act = ACTION[code]
        if act == DO_NOTHING:
            i += 1
            continue
        t = ev[i, L.EV_TIME]
        ct, cv = t, discount(dc, t, ct, cv)
        if act <= DO_END:                     # close, open, end: a course never outlasts the next therapy
            if open_th >= 0:
                price_course(a, e, cs, drate, odrug, open_th, maint, s0, f0, t, cv)
                open_th = -1
            if act == DO_OPEN or act == DO_OPEN_MAINTENANCE:
                open_th = np.int64(ev[i, L.EV_A])
                maint = 1 if act == DO_OPEN_MAINTENANCE else 0
                s0 = t
                f0 = cv
                used_th[open_th] = 1
            elif act == DO_END:
                a.v[A_LYD] += discounted_duration(0.0, t, e.do, 1.0, cv if e.do == dc else math.exp(-e.do * t))
                a.v[A_LYU] += t
        elif act == DO_AE:
            kind = np.int64(ev[i, L.EV_B])
            used_kind[kind] = 1
            once(a, e, C_AE, cs.ae_cost[kind], -cs.ae_qaly_loss[kind], t, cv)
        elif act == DO_TRANSPLANT:
            once(a, e, C_TX, e.c_transplant_first_year, 0.0, t, cv)
            tx_time = t
        elif act == DO_SCREEN:
            once(a, e, C_MONITOR, e.c_screen, 0.0, t, cv)
        elif act == DO_BIOPSY:
            once(a, e, C_MONITOR, e.c_biopsy, 0.0, t, cv)
        elif act == DO_FLARE:
            n_flares = np.int64(ev[i, L.EV_A])
            last_severe = np.int64(ev[i, L.EV_B])
            once(a, e, C_FLARE, e.c_flare_severe if last_severe == 1 else e.c_flare_moderate, 0.0, t, cv)
        i += 1


# how price_block prices a block's records: every life whole; the shared strategy's lives, copying the
# pricing where each patient reached the ladder; another strategy's lives from the ladder on, priced from
# that copy (sim.engine.batch_driver.run_block_shared)
WHOLE, SHARED_FIRST, SHARED_LATER = range(3)


@core
def price_block(mode, acc, acc0, fresh, e, cs, drate, odrug, pid0, ev, n_ev, sg, n_sg, used_th, used_kind, marks,
                snap_acc, snap_Q, P, esrd, death, esrd0, death0):
    """Price every patient of a block from its records (patients in order, each patient's records
    together; ``acc[r]``, an :data:`ACC` record, for patient ``pid0 + r``; ``drate``/``odrug`` rows by
    patient of the block) and keep the patients' ESRD and death times (``P``: the patient records),
    as ``mode`` says:

    * ``WHOLE``: each life from its start (``fresh``: a :data:`PRICING` record of nothing priced);
    * ``SHARED_FIRST``: the same, and where patient r reached the ladder (``marks[r]``,
      :data:`sim.model.layout.MARK_AT`) the accumulators and the pricing are copied into
      ``snap_acc[r]``, ``snap_Q[r]`` (:func:`price_patient`);
    * ``SHARED_LATER``: a strategy that shares each life until the ladder with the first, whose
      records begin at the ladder: priced from those copies; a patient who never reached the ladder
      lived the first strategy's life (``acc0``, ``esrd0``, ``death0``).

    The sums are taken in the same order as for a whole life. Returns False if the records do not
    cover the block's patients in order, or a patient who reached the ladder got no copy."""
    n = len(P)
    i = 0
    j = 0
    ok = True
    for r in range(n):
        pid = pid0 + r
        e1 = i
        while e1 < n_ev and ev[e1, L.EV_PATIENT] == pid:
            e1 += 1
        g1 = j
        while g1 < n_sg and sg[g1, L.SG_PATIENT] == pid:
            g1 += 1
        reached = mode != WHOLE and marks[r, L.MARK_AT] == 1
        a = acc[r]
        if mode == SHARED_LATER and not reached:
            a.v[:] = acc0[r].v
            esrd[r], death[r] = esrd0[r], death0[r]
            if e1 > i or g1 > j:
                ok = False
            continue
        q = fresh
        b_e, b_g = -1, -1
        if mode == SHARED_FIRST:
            snap_Q[r].open_th = NOT_COPIED
            if reached:
                b_e, b_g = marks[r, L.MARK_EV], marks[r, L.MARK_SG]
        elif mode == SHARED_LATER:
            a.v[:] = snap_acc[r].v
            q = snap_Q[r]
        price_patient(a, q, e, cs, drate[r], odrug[r], ev, i, e1, sg, j, g1, used_th, used_kind, b_e, b_g,
                      snap_acc[r], snap_Q[r])
        if reached and mode == SHARED_FIRST and snap_Q[r].open_th == NOT_COPIED:
            ok = False
        esrd[r], death[r] = P[r].esrd_time, P[r].death_time
        i, j = e1, g1
    return ok and i == n_ev and j == n_sg


# ==============================================================================================
# The inputs, from the same tables and checks as evaluate
# ==============================================================================================
@dataclass
class EconomicInputs:
    """Cost and utility inputs of aggregate mode, from the same tables and checks as ``evaluate``.

    Errors that ``evaluate`` raises only when a course or adverse event occurs (a drug the table
    does not price, ...) are kept per therapy / kind and raised only if a trajectory used it."""

    econ: np.ndarray              # ECON record
    courses: np.ndarray           # per therapy / component arrays (a record of arrays)
    daily: list
    once: list
    wtp: float
    th_err: dict
    kind_err: dict

    @classmethod
    def build(cls, cm, econ=None, cost_table=None, utility_table=None) -> "EconomicInputs":
        from sim.errors import InputError
        from sim.economics.pricing import dialysis_rate, price_component, supportive_background
        from sim.inputs.economic_tables import resolve_tables
        from sim.inputs.economic_settings import willingness_to_pay
        model = cm.model
        econ, costs, utils = resolve_tables(model.scenario, econ, cost_table, utility_table)
        rc, ro = econ.rates()
        e = np.zeros(1, dtype=ECON)
        e["dc"], e["do"] = discount_rate_to_continuous(rc), discount_rate_to_continuous(ro)
        e["u_state"][0] = [utils.utility(s) for s in HEALTH_STATES]
        e["u_ckd"] = utils.utility("ckd")
        e["u_flare_moderate"] = utils.utility("flare_moderate")
        e["u_flare_severe"] = utils.utility("flare_severe")
        e["c_state"][0] = [costs.value(f"state_{s}") for s in PRE_ESRD_STATES]
        e["c_ckd"] = costs.value("ckd_supportive_care")
        e["c_background"] = supportive_background(costs)
        e["c_dialysis"] = dialysis_rate(costs, econ.dialysis_pd_share)
        e["c_transplant_followup"] = costs.value("transplant_followup")
        e["c_flare_severe"] = costs.value("renal_flare_severe")
        e["c_flare_moderate"] = costs.value("renal_flare_moderate")
        e["c_transplant_first_year"] = costs.value("transplant_first_year")
        e["c_biopsy"] = costs.value("repeat_biopsy")
        e["c_screen"] = costs.value("lookalike_screening")
        e["c_labs"] = costs.value("immunosuppression_labs")
        e["c_trough"] = costs.value("cni_trough_monitoring")
        nk = max(len(cm.kinds), 1)
        ae_cost, ae_qaly = np.zeros(nk), np.zeros(nk)
        kind_err: dict[int, Exception] = {}
        for i, kind in enumerate(cm.kinds):
            try:
                ae_cost[i] = costs.value(kind, "adverse_event")
                ae_qaly[i] = utils.qaly_loss(kind)
            except InputError as err:
                kind_err[i] = err
        nt = len(cm.therapies)
        cni = np.zeros(nt, dtype=np.int64)
        duration = np.zeros(nt)
        th_err: dict[int, Exception] = {}
        daily: list[tuple] = []       # (therapy, unit, amount, per_mg, cap)
        once_: list[tuple] = []       # (therapy, kind, amount, times, price, vials, admin)
        dstart, ostart = [0], [0]
        infusion, msc = costs.value("infusion_visit"), costs.value("msc_infusion")
        for ti, name in enumerate(cm.therapies):
            th = model.therapies[name]
            cni[ti] = th.family == "cni"
            duration[ti] = th.duration_months / 12.0
            d_here, o_here = [], []
            try:
                for comp in th.dose:
                    pc = price_component(comp, costs, infusion, msc, econ.vial_wastage)   # the rules of evaluate
                    if pc.kind == "daily":
                        d_here.append((ti, comp.unit, comp.amount, pc.price, pc.cap_years))
                    elif pc.kind == "session":           # no drug; the session is the administration
                        o_here.append((ti, "fixed", 0.0, pc.times, 0.0, [], pc.amount))
                    else:
                        o_here.append((ti, pc.kind, pc.amount, pc.times, pc.price,
                                       list(pc.vials), pc.visit))
            except InputError as err:
                th_err[ti] = err
                d_here, o_here = [], []
            daily += d_here
            once_ += o_here
            dstart.append(len(daily))
            ostart.append(len(once_))
        dc = float(e["dc"][0])
        cs = {
            "cni": cni, "duration": duration, "daily_start": np.array(dstart, dtype=np.int64),
            "once_start": np.array(ostart, dtype=np.int64),
            "daily_cap": np.array([d[4] for d in daily] + [0.0]),
            "once_times": np.array([o[3] for o in once_] + [1], dtype=np.int64),
            "once_admin": np.array([o[6] for o in once_] + [0.0]),
            # discount factor between two administrations of a one-off component
            "once_ratio": np.array([math.exp(-dc * (duration[o[0]] / o[3])) for o in once_] + [1.0]),
            "ae_cost": ae_cost, "ae_qaly_loss": ae_qaly,
        }
        courses = np.zeros(1, dtype=[(k, v.dtype, v.shape) for k, v in cs.items()])
        for k, v in cs.items():
            courses[k][0] = v
        return cls(e, courses, daily, once_, willingness_to_pay(econ, costs.currency), th_err, kind_err)

    def patient_arrays(self, weight: np.ndarray, bsa: np.ndarray):
        """Per patient: annual cost of each daily component, drug cost of one administration of each
        one-off component (the dose rules, vial rounding of ``evaluate``)."""
        from sim.inputs.units import DAYS_PER_YEAR
        from sim.economics.pricing import administration_drug_cost, daily_dose_mg
        n = len(weight)
        drate = np.zeros((n, max(len(self.daily), 1)))
        for c, (_, unit, amount, per_mg, _) in enumerate(self.daily):
            drate[:, c] = np.asarray(daily_dose_mg(unit, amount, weight)) * DAYS_PER_YEAR * per_mg
        odrug = np.zeros((n, max(len(self.once), 1)))
        for c, (_, kind, amount, _, price, vials, _) in enumerate(self.once):
            odrug[:, c] = administration_drug_cost(kind, amount, price, vials, weight, bsa)
        return drate, odrug

    def check_used(self, used_th: np.ndarray, used_kind: np.ndarray) -> None:
        """Raise the table's error for a therapy or adverse event that a trajectory used."""
        for ti, err in self.th_err.items():
            if used_th[ti]:
                raise err
        for k, err in self.kind_err.items():
            if used_kind[k]:
                raise err


def strategy_means(strategies, outcomes, esrd_time: np.ndarray, death_time: np.ndarray) -> pd.DataFrame:
    """What a probabilistic analysis keeps of each draw: per strategy, the mean of each of
    :data:`OUTCOMES` (``outcomes[c]``: strategies x patients) and the shares of patients reaching
    ESRD and dying within the horizon (``esrd_time``, ``death_time``: NaN if not)."""
    cols = {"strategy": list(strategies)}
    for c in OUTCOMES:
        cols[c] = np.asarray(outcomes[c], dtype=float).mean(axis=1)
    cols["esrd"] = (~np.isnan(esrd_time)).mean(axis=1)
    cols["death"] = (~np.isnan(death_time)).mean(axis=1)
    return pd.DataFrame(cols)


@dataclass
class AggregateResult:
    """Per-patient outcomes of one draw (arrays of shape strategies x patients), aggregate mode."""

    strategies: list[str]
    cost: np.ndarray
    qaly: np.ndarray
    life_years: np.ndarray
    cost_undiscounted: np.ndarray
    qaly_undiscounted: np.ndarray
    life_years_undiscounted: np.ndarray
    cost_by_category: np.ndarray          # strategies x patients x CATEGORIES, discounted
    esrd_time: np.ndarray                 # NaN if none
    death_time: np.ndarray
    wtp: float = math.nan

    @classmethod
    def from_accumulators(cls, strategies, acc: np.ndarray, esrd: np.ndarray, death: np.ndarray, wtp: float):
        return cls(strategies=strategies, cost=acc[:, :, :9].sum(axis=2), qaly=acc[:, :, A_QD],
                   life_years=acc[:, :, A_LYD], cost_undiscounted=acc[:, :, 9:18].sum(axis=2),
                   qaly_undiscounted=acc[:, :, A_QU], life_years_undiscounted=acc[:, :, A_LYU],
                   cost_by_category=acc[:, :, :9].copy(), esrd_time=esrd, death_time=death, wtp=wtp)

    def means(self) -> pd.DataFrame:
        """Per-strategy means (:func:`strategy_means`)."""
        return strategy_means(self.strategies, {c: getattr(self, c) for c in OUTCOMES}, self.esrd_time,
                              self.death_time)

    def frame(self) -> pd.DataFrame:
        """The table of :func:`sim.economics.evaluate` (``.patients``): one row per strategy x patient."""
        ns, n = self.cost.shape
        out = pd.DataFrame({"strategy": np.repeat(np.array(self.strategies, dtype=object), n),
                            "patient": np.tile(np.arange(n, dtype=np.int64), ns)})
        for col in OUTCOMES:
            out[col] = getattr(self, col).ravel()
        for i, c in enumerate(CATEGORIES):
            out[f"cost_{c}"] = self.cost_by_category[:, :, i].ravel()
        return out


# the memory of the last run's block and record buffers, which the next run takes instead of allocating
# it again (a PSA runs one draw after another); what a run computes never depends on it
_SCRATCH: list = []


def aggregate(model, patients: int, seed: int, draw: int = 0, econ=None, cost_table=None, utility_table=None,
              share: bool = True):
    """Aggregate mode: per-patient discounted and undiscounted cost (also by category), QALYs and
    life years of every strategy, each trajectory priced from its records (:func:`price_block`)
    without building tables; the batch driver runs the patients (:func:`sim.engine.batch_driver.run_block`).
    Strategies that differ from the first only in their ladder share each life until the ladder
    (:func:`sim.engine.batch_driver.run_block_shared`; ``share=False`` runs every strategy whole, with
    identical results)."""
    from sim.engine import streams
    from sim.engine.batch_driver import run_block, run_block_shared
    from sim.engine.block import Block, block_rows, draw_cohort
    from sim.engine.records import Records
    from sim.model.build import compile_model
    from sim.model.jit import records
    if model.scenario.capacity is not None:
        from sim.errors import InputError
        raise InputError("aggregate mode runs the batch driver, which has no capacity limits (patients do not "
                         "compete there)", field="capacity", allowed="a scenario without a capacity section")
    cm = compile_model(model)
    ei = EconomicInputs.build(cm, econ, cost_table, utility_table)
    e, cs = records(ei.econ)[0], records(ei.courses)[0]
    n = int(patients)
    ns = len(cm.strategies)
    acc = np.zeros((ns, n, N_ACC))
    A = records(acc.view(ACC)[..., 0])               # the same memory, one ACC record per patient
    esrd = np.full((ns, n), np.nan)
    death = np.full((ns, n), np.nan)
    used_th = np.zeros(max(len(cm.therapies), 1), dtype=np.int64)
    used_kind = np.zeros(max(len(cm.kinds), 1), dtype=np.int64)
    block, rec, rec0 = _SCRATCH.pop() if _SCRATCH else (None, Records(), Records())
    rec.clear()
    # strategies that differ from the first only in their ladder share each life until the ladder
    shared = [k for k in range(1, ns) if share and cm.same_until_ladder(k)]
    alone = [k for k in range(ns) if k not in shared and not (k == 0 and shared)]
    cohort = draw_cohort(cm, seed, draw, n, tables=False)
    drate_all, odrug_all = ei.patient_arrays(cohort.weight_kg, cohort.bsa_m2)
    # where each patient's pricing starts (nothing priced yet), and the copies made at the ladder
    fresh = records(fresh_pricing(1))[0]
    no_marks = np.zeros((streams.BLOCK_SIZE, 3), dtype=np.int64)
    snap_acc = np.zeros((streams.BLOCK_SIZE, N_ACC))
    snap_A = records(snap_acc.view(ACC)[..., 0])
    snap_Q = records(np.zeros(streams.BLOCK_SIZE, dtype=PRICING))
    for b in streams.blocks(n):
        block = Block(cm, seed, draw, b, block_rows(cohort, b), reuse=block)
        lo = b * streams.BLOCK_SIZE
        n_rows = block.rows
        hi = lo + n_rows
        drate, odrug = drate_all[lo:hi], odrug_all[lo:hi]

        def done(k, P, r, marks):
            """Price strategy k's records (:func:`price_block`; ``marks``: where each patient reached the
            ladder, for strategies that share each life until the ladder, :func:`run_block_shared`)."""
            mode = WHOLE if marks is None else SHARED_FIRST if k == 0 else SHARED_LATER
            if not price_block(mode, A[k, lo:hi], A[0, lo:hi], fresh, e, cs, drate, odrug, lo, r.ev, r.cnt[0],
                               r.sg, r.cnt[1], used_th, used_kind, no_marks if marks is None else marks,
                               snap_A[:n_rows], snap_Q[:n_rows], P, esrd[k, lo:hi], death[k, lo:hi],
                               esrd[0, lo:hi], death[0, lo:hi]):
                raise RuntimeError("the records of a block do not cover its patients in order, or a patient who "
                                   "reached the ladder has no copy of its pricing there")

        if shared:
            rec0.clear()
            run_block_shared(cm, shared, block, n_rows, rec0, rec, done)
        for k in alone:
            rec.clear()
            done(k, run_block(cm, k, block, n_rows, rec, keep=True), rec, None)
    _SCRATCH[:] = [(block, rec, rec0)]
    ei.check_used(used_th, used_kind)
    return AggregateResult.from_accumulators([s.name for s in cm.strategies], acc, esrd, death, ei.wtp)
