"""Health economics: costs, QALYs and life years from a finished simulation ("simulate, then cost").

The pathway writes health-state segments and events only; this module prices them afterwards,
vectorised over the ``states`` and ``events`` tables, so a new cost table, utility table or
discount rate never needs a new simulation (:func:`recost`).

Inputs
------
* the cost and utility tables (:mod:`sim.inputs.economic_tables`);
* ``economics:`` section of the scenario (:class:`sim.inputs.economic_settings.Economics`): tables, discounting, perspective,
  currency and price year (checked against the table), willingness to pay, vial wastage, dialysis
  modality mix.

What is costed (and when)
-------------------------
Flows accrue at a constant annual rate over an interval and are discounted exactly with
:func:`sim.economics.discounting.discounted_duration`; one-off amounts are discounted at their instant with
:func:`sim.economics.discounting.discount_factor`.

* Courses: each ``therapy_start`` (induction or ladder step) and ``maintenance_start`` event starts
  a course; it lasts while the patient's therapy stays the same (to the next course, death, ESRD
  or the horizon).

  - Dose components given a number of ``times`` (units mg, mg/kg, mg/m2, cells/kg, session) are
    administered at ``start + k * duration / times`` (k = 0 .. times - 1; ``duration`` =
    the therapy's ``duration_months``) and only while the course lasts, each discounted at its own
    instant. Each mg-type administration is one infusion visit; a cells/kg administration is one
    MSC infusion; a session component is priced per session (administration category).
  - Daily components (mg/day, mg/kg/day, g/day) accrue for the time actually spent on the course,
    capped at ``days`` from its start; maintenance courses accrue for all time on maintenance
    (their ``days`` is per year).
  - Doses use the patient's own weight and body-surface area. With ``vial_wastage`` each
    administration uses the cheapest whole-vial combination covering the dose; without it the
    dose is priced per mg at the cheapest price per mg among the vial sizes (so wastage can never
    lower a cost). A drug priced ``per administration`` costs the same whatever the dose.
  - Administration: an item ``<drug>_administration`` (category administration), when the table
    has one, replaces the default visit of that drug (``infusion_visit`` for mg-type doses,
    ``msc_infusion`` for cells/kg doses); e.g. CAR T lymphodepletion and inpatient monitoring.
  - Monitoring: immunosuppression safety labs for time on any course; CNI trough levels for time on
    a therapy of family ``cni``.
* Health states (per year): nephrology follow-up by state (active, partial, complete response);
  CKD care while on supportive care (``therapy == "supportive_care"``, or active nephritis off
  therapy after the ladder is exhausted); RAAS blockade, antimalarial and lipid control for all time
  before ESRD (A71); dialysis at ``(1 - pd_share) * haemodialysis + pd_share * peritoneal``; transplant
  follow-up from one year after the transplant.
* Events: adverse event (cost item = its kind, plus a one-off QALY loss), renal flare by severity
  (detail ``"n:severe"`` / ``"n:moderate"``; a bare number counts as moderate), transplant (first
  year, one-off), repeat biopsy and look-alike screening (at their ``repeat_biopsy`` and
  ``lookalike_screen`` events: only strategies with a ``workup`` have them).

Utilities: by state; active nephritis after a renal flare takes the flare-severity utility until
the next response; supportive care takes the CKD utility. Life years are the discounted time alive
within the horizon (outcome discount rate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sim.economics.cea import incremental_analysis
from sim.economics.discounting import discount_factor, discounted_duration
from sim.economics.pricing import (_TOL, SUPPORTIVE, administration_drug_cost, daily_dose_mg, dialysis_rate,
                                   price_component, supportive_background)
from sim.inputs.economic_settings import Economics, willingness_to_pay
from sim.inputs.economic_tables import CATEGORIES, OUTCOMES, CostTable, UtilityTable, resolve_tables
from sim.inputs.units import DAYS_PER_YEAR
from sim.model.hazards import PRE_ESRD_STATES



class _Ledger:
    """Collects flows (rate over [t0, t1]) and one-off amounts (at t), per patient and category."""

    def __init__(self, n: int, n_cat: int):
        self.n, self.n_cat = n, n_cat
        self.flows: list[tuple[np.ndarray, ...]] = []
        self.once: list[tuple[np.ndarray, ...]] = []

    def flow(self, pidx, cat, rate, t0, t1) -> None:
        pidx = np.asarray(pidx, dtype=np.int64)
        if pidx.size == 0:
            return
        t0 = np.asarray(t0, dtype=float)
        t1 = np.maximum(np.asarray(t1, dtype=float), t0)
        self.flows.append((pidx, np.broadcast_to(np.asarray(cat, dtype=np.int64), pidx.shape),
                           np.broadcast_to(np.asarray(rate, dtype=float), pidx.shape), t0, t1))

    def one_off(self, pidx, cat, amount, t) -> None:
        pidx = np.asarray(pidx, dtype=np.int64)
        if pidx.size == 0:
            return
        self.once.append((pidx, np.broadcast_to(np.asarray(cat, dtype=np.int64), pidx.shape),
                          np.broadcast_to(np.asarray(amount, dtype=float), pidx.shape), np.asarray(t, dtype=float)))

    def totals(self, r: float) -> np.ndarray:
        """(n patients, n categories) present values at annual rate ``r``."""
        out = np.zeros(self.n * self.n_cat)
        for pidx, cat, rate, t0, t1 in self.flows:
            v = rate * np.asarray(discounted_duration(t0, t1, r), dtype=float)
            out += np.bincount(pidx * self.n_cat + cat, weights=v, minlength=out.size)
        for pidx, cat, amount, t in self.once:
            v = amount * np.asarray(discount_factor(t, r), dtype=float)
            out += np.bincount(pidx * self.n_cat + cat, weights=v, minlength=out.size)
        return out.reshape(self.n, self.n_cat)


@dataclass
class EconomicResult:
    """Costs, QALYs and life years of one run, and the incremental analysis.

    ``patients``: one row per strategy x patient (discounted ``cost``, ``qaly``, ``life_years``,
    their ``_undiscounted`` twins and discounted ``cost_<category>``). ``summary``: long table
    ``strategy, metric, value``. ``cea``: :func:`sim.economics.cea.incremental_analysis` on mean cost
    (``cost``) and mean discounted QALYs (``effect``), plus ``life_years``, ``nmb`` at ``wtp`` and
    the analysis settings (``wtp, perspective, currency, price_year, horizon_years,
    discount_costs, discount_outcomes``) in every row.
    """

    patients: pd.DataFrame
    summary: pd.DataFrame
    cea: pd.DataFrame
    economics: Economics
    discount_costs: float
    discount_outcomes: float
    currency: str
    price_year: int
    perspective: str
    horizon_years: float
    wtp: float
    cost_table: pd.DataFrame = field(repr=False)
    utility_table: pd.DataFrame = field(repr=False)
    cost_source: str = ""
    utility_source: str = ""

    def settings(self) -> dict[str, Any]:
        """The analysis settings, for manifests and reports."""
        return {"perspective": self.perspective, "currency": self.currency, "price_year": self.price_year,
                "horizon_years": self.horizon_years, "discount_costs": self.discount_costs,
                "discount_outcomes": self.discount_outcomes, "wtp": self.wtp,
                "vial_wastage": self.economics.vial_wastage,
                "dialysis_pd_share": self.economics.dialysis_pd_share,
                "cost_table": self.cost_source, "utility_table": self.utility_source}


def _runs(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of the run of consecutive rows (same strategy, patient and ``col``) of each row."""
    s, p, v = df["strategy"].to_numpy(), df["patient"].to_numpy(), df[col].to_numpy()
    start, stop = df["start"].to_numpy(float), df["stop"].to_numpy(float)
    new = np.ones(len(df), dtype=bool)
    if len(df) > 1:
        new[1:] = (s[1:] != s[:-1]) | (p[1:] != p[:-1]) | (v[1:] != v[:-1]) | (np.abs(start[1:] - stop[:-1]) > _TOL)
    run = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, len(df) - 1] if len(df) else first
    return start[first][run], stop[last][run]


def _latest_before(left: pd.DataFrame, left_on: str, right: pd.DataFrame, values: Sequence[str]) -> np.ndarray:
    """For each row of ``left``: the ``values`` columns of the latest ``right`` row (same strategy and
    patient) at a time <= ``left[left_on]`` (NaN if none), one merge for all of them: an array
    (rows of left, values). ``right`` has columns strategy, patient, time and the values."""
    if left.empty:
        return np.zeros((0, len(values)))
    if right.empty:
        return np.full((len(left), len(values)), np.nan)
    a = left[["strategy", "patient", left_on]].copy()
    a["_row"] = np.arange(len(a))
    a["_t"] = a[left_on].astype(float) + _TOL
    b = right[["strategy", "patient"]].assign(_t=right["time"].astype(float))
    cols = [f"_v{i}" for i in range(len(values))]
    for c, v in zip(cols, values):
        b[c] = right[v].astype(float).to_numpy()
    m = pd.merge_asof(a.sort_values("_t"), b.sort_values("_t"), on="_t", by=["strategy", "patient"],
                      direction="backward")
    return m.sort_values("_row")[cols].to_numpy(dtype=float)


def _flare_severity(detail: pd.Series) -> np.ndarray:
    """True for a severe renal flare (detail 'n:severe'); 'n:moderate' and a bare number are moderate."""
    if detail.empty:
        return np.zeros(0, dtype=bool)
    sev = detail.astype(str).str.partition(":")[2].str.strip().str.lower()
    return (sev == "severe").to_numpy()


def evaluate(result, econ: Economics | None = None, *, cost_table: "CostTable | None" = None,
             utility_table: "UtilityTable | None" = None) -> EconomicResult:
    """Costs, QALYs and life years of every patient of ``result``, summaries and the incremental table.

    ``result`` is a :class:`sim.engine.simulation.SimulationResult` (or any object with ``model``,
    ``patients``, ``events`` and ``states``). ``cost_table`` / ``utility_table`` replace the tables named
    by ``econ`` (a probabilistic analysis passes sampled tables). ``econ`` defaults to the scenario's ``economics``
    section if it has one, else :class:`Economics` defaults. Raises :class:`InputError` for bad
    tables, a currency or price year that disagrees with the cost table, or a drug or adverse
    event of the simulated pathway that the tables do not price.
    """
    model = result.model
    scenario = model.scenario
    econ, costs, utils = resolve_tables(scenario, econ, cost_table, utility_table)
    wtp = willingness_to_pay(econ, costs.currency)
    rc, ro = econ.rates()
    horizon = float(scenario.horizon_years)

    pats = result.patients
    n = len(pats)
    index = pd.MultiIndex.from_frame(pats[["strategy", "patient"]])
    if not index.is_unique:
        raise ValueError("result.patients has duplicated (strategy, patient) rows")

    def pidx_of(df: pd.DataFrame) -> np.ndarray:
        idx = index.get_indexer(pd.MultiIndex.from_frame(df[["strategy", "patient"]])) if len(df) else \
            np.array([], dtype=np.int64)
        if (idx < 0).any():
            raise ValueError("states/events rows for patients missing from result.patients")
        return idx

    cat = {c: i for i, c in enumerate(CATEGORIES)}
    cost = _Ledger(n, len(CATEGORIES))
    qaly = _Ledger(n, 1)
    weight = pats["weight_kg"].to_numpy(float)
    bsa = pats["bsa_m2"].to_numpy(float)

    # -- health-state segments ------------------------------------------------------------------
    st = result.states.reset_index(drop=True)
    ev = result.events
    sp = pidx_of(st)
    t0, t1 = st["start"].to_numpy(float), st["stop"].to_numpy(float)
    state, therapy = st["state"].to_numpy(), st["therapy"].astype(str).to_numpy()
    pre = np.isin(state, PRE_ESRD_STATES)
    supportive = pre & ((therapy == SUPPORTIVE) | ((state == "active_nephritis") & (therapy == "")))
    u = np.full(len(st), np.nan)
    for s in ("partial_response", "complete_response", "dialysis", "transplant"):
        u[state == s] = utils.utility(s)
    active = state == "active_nephritis"
    u[active] = utils.utility("active_nephritis")
    flares = ev[ev["event"] == "renal_flare"]
    flare_severe = _flare_severity(flares["detail"])
    tx = state == "transplant"
    run_start = _runs(st, "state")[0] if (active.any() and not flares.empty) or tx.any() else None
    if active.any() and not flares.empty:
        fl = pd.DataFrame({"strategy": flares["strategy"], "patient": flares["patient"],
                           "time": flares["time_years"].astype(float), "severe": flare_severe.astype(float)})
        seg = st.loc[active, ["strategy", "patient", "start"]]
        last_time, last_sev = _latest_before(seg, "start", fl, ["time", "severe"]).T
        after = np.isfinite(last_time) & (last_time >= run_start[active] - _TOL)
        uu = u[active]
        uu[after & (last_sev == 1)] = utils.utility("flare_severe")
        uu[after & (last_sev == 0)] = utils.utility("flare_moderate")
        u[active] = uu
    u[supportive] = utils.utility("ckd")
    unknown = ~np.isfinite(u)
    if unknown.any():
        raise ValueError(f"unknown health state in result.states: {sorted(set(state[unknown]))}")
    qaly.flow(sp, 0, u, t0, t1)

    for s in PRE_ESRD_STATES:
        m = (state == s) & ~supportive
        cost.flow(sp[m], cat["state"], costs.value(f"state_{s}"), t0[m], t1[m])
    cost.flow(sp[supportive], cat["supportive_care"], costs.value("ckd_supportive_care"), t0[supportive],
              t1[supportive])
    background = supportive_background(costs)
    cost.flow(sp[pre], cat["supportive_care"], background, t0[pre], t1[pre])
    dial = state == "dialysis"
    cost.flow(sp[dial], cat["dialysis"], dialysis_rate(costs, econ.dialysis_pd_share), t0[dial], t1[dial])
    if tx.any():
        txe = ev[ev["event"] == "transplant"]
        txe = pd.DataFrame({"strategy": txe["strategy"], "patient": txe["patient"],
                            "time": txe["time_years"].astype(float)})
        tx_time = _latest_before(st.loc[tx, ["strategy", "patient", "start"]], "start", txe, ["time"])[:, 0]
        tx_time = np.where(np.isfinite(tx_time), tx_time, run_start[tx])
        cost.flow(sp[tx], cat["transplant"], costs.value("transplant_followup"),
                  np.maximum(t0[tx], tx_time + 1.0), t1[tx])

    # -- courses of therapy -----------------------------------------------------------------------
    _courses(result, st, ev, pidx_of, costs, cost, cat, weight, bsa, econ.vial_wastage)

    # -- events -----------------------------------------------------------------------------------
    ae = ev[ev["event"] == "adverse_event"]
    if not ae.empty:
        kinds = ae["detail"].astype(str).str.split(":").str[1].to_numpy()    # 'therapy:kind[:severe]'

        ep, et = pidx_of(ae), ae["time_years"].to_numpy(float)
        for kind in np.unique(kinds):
            m = kinds == kind
            cost.one_off(ep[m], cat["adverse_event"], costs.value(kind, "adverse_event"), et[m])
            qaly.one_off(ep[m], 0, -utils.qaly_loss(kind), et[m])
    if not flares.empty:
        fp, ft = pidx_of(flares), flares["time_years"].to_numpy(float)
        cost.one_off(fp, cat["flare"], np.where(flare_severe, costs.value("renal_flare_severe"),
                                                costs.value("renal_flare_moderate")), ft)
    for event, item, c in (("transplant", "transplant_first_year", "transplant"),
                           ("repeat_biopsy", "repeat_biopsy", "monitoring"),
                           ("lookalike_screen", "lookalike_screening", "monitoring")):
        e = ev[ev["event"] == event]
        cost.one_off(pidx_of(e), cat[c], costs.value(item), e["time_years"].to_numpy(float))

    # -- totals -------------------------------------------------------------------------------------
    by_cat = cost.totals(rc)
    by_cat0 = cost.totals(0.0)
    follow = pats["followup_years"].to_numpy(float)
    out = pats[["strategy", "patient"]].copy().reset_index(drop=True)
    out["cost"] = by_cat.sum(axis=1)
    out["qaly"] = qaly.totals(ro)[:, 0]
    out["life_years"] = np.asarray(discounted_duration(np.zeros(n), follow, ro), dtype=float)
    out["cost_undiscounted"] = by_cat0.sum(axis=1)
    out["qaly_undiscounted"] = qaly.totals(0.0)[:, 0]
    out["life_years_undiscounted"] = follow
    for i, c in enumerate(CATEGORIES):
        out[f"cost_{c}"] = by_cat[:, i]

    summary = _summary(out)
    means = summary.pivot(index="strategy", columns="metric", values="value")
    order = list(dict.fromkeys(out["strategy"]))
    means = means.loc[order]
    table = pd.DataFrame({"strategy": order, "cost": means["mean_cost"].to_numpy(),
                          "effect": means["mean_qaly"].to_numpy()})
    cea = incremental_analysis(table)
    cea["life_years"] = cea["strategy"].map(means["mean_life_years"])
    cea["nmb"] = cea["effect"] * wtp - cea["cost"]
    cea["wtp"] = wtp
    cea["perspective"] = econ.perspective
    cea["currency"] = costs.currency
    cea["price_year"] = costs.price_year
    cea["horizon_years"] = horizon
    cea["discount_costs"] = rc
    cea["discount_outcomes"] = ro
    return EconomicResult(out, summary, cea, econ, rc, ro, costs.currency, costs.price_year, econ.perspective,
                          horizon, wtp, costs.table, utils.table, costs.source, utils.source)


def recost(result, econ: Economics) -> EconomicResult:
    """Re-price a finished simulation with other economic settings (no re-simulation)."""
    return evaluate(result, econ)


def _summary(out: pd.DataFrame) -> pd.DataFrame:
    """Long table strategy, metric, value: means, Monte Carlo SEs and mean cost by category."""
    metrics = list(OUTCOMES)
    rows = []
    for strategy, g in out.groupby("strategy", sort=False):
        k = len(g)
        for m in metrics:
            x = g[m].to_numpy(float)
            se = float(np.std(x, ddof=1) / math.sqrt(k)) if k > 1 else math.nan
            rows.append((strategy, f"mean_{m}", float(np.mean(x))))
            rows.append((strategy, f"mean_{m}_se", se))
        for c in CATEGORIES:
            rows.append((strategy, f"mean_cost_{c}", float(g[f"cost_{c}"].mean())))
    return pd.DataFrame(rows, columns=["strategy", "metric", "value"])


def _courses(result, st, ev, pidx_of, costs: CostTable, ledger: _Ledger, cat, weight, bsa, wastage: bool) -> None:
    """Drug, administration and drug-monitoring costs of every course of therapy."""
    therapies = result.model.therapies
    c = ev[ev["event"].isin(("therapy_start", "maintenance_start"))]
    c = pd.DataFrame({"strategy": c["strategy"].to_numpy(), "patient": c["patient"].to_numpy(),
                      "start": c["time_years"].to_numpy(float), "therapy": c["detail"].astype(str).to_numpy(),
                      "maintenance": (c["event"] == "maintenance_start").to_numpy()})
    c = c[c["therapy"] != SUPPORTIVE].reset_index(drop=True)
    if c.empty:
        return
    unknown = sorted(set(c["therapy"]) - set(therapies.names()))
    if unknown:
        raise ValueError(f"courses of therapies missing from the model's catalogue: {unknown}")
    # next course of the same patient (any therapy): a course never outlasts it
    c = c.sort_values(["strategy", "patient", "start"], kind="stable").reset_index(drop=True)
    same = (c["strategy"].shift(-1) == c["strategy"]) & (c["patient"].shift(-1) == c["patient"])
    nxt = np.where(same, c["start"].shift(-1), np.inf)
    # end of the run of segments on this therapy that contains the course start
    runs = st[["strategy", "patient", "therapy", "start", "stop"]].copy()
    runs["therapy"] = runs["therapy"].astype(str)
    rs, re_ = _runs(runs, "therapy")
    runs["run_start"], runs["run_end"] = rs, re_
    runs = runs.drop_duplicates(["strategy", "patient", "run_start"])
    key = ["strategy", "patient", "therapy"]
    m = pd.merge_asof(c.assign(_t=c["start"] + _TOL, _row=np.arange(len(c))).sort_values("_t"),
                      runs.assign(_t=runs["run_start"])[key + ["_t", "run_end"]].sort_values("_t"),
                      on="_t", by=key, direction="backward").sort_values("_row")
    run_end = m["run_end"].to_numpy(float)
    start = c["start"].to_numpy(float)
    end = np.where(np.isfinite(run_end) & (run_end > start), run_end, start)
    end = np.minimum(end, nxt)
    pidx = pidx_of(c)
    w, b = weight[pidx], bsa[pidx]
    infusion, msc = costs.value("infusion_visit"), costs.value("msc_infusion")
    labs, trough = costs.value("immunosuppression_labs"), costs.value("cni_trough_monitoring")
    maint = c["maintenance"].to_numpy()
    names = c["therapy"].to_numpy()
    for name in np.unique(names):
        th = therapies[name]
        sel = names == name
        ps, s0, s1, mt = pidx[sel], start[sel], end[sel], maint[sel]
        ledger.flow(ps, cat["monitoring"], labs, s0, s1)
        if th.family == "cni":
            ledger.flow(ps, cat["monitoring"], trough, s0, s1)
        duration = th.duration_months / 12.0
        for comp in th.dose:
            pc = price_component(comp, costs, infusion, msc, wastage)
            if pc.kind == "daily":
                per_day = daily_dose_mg(comp.unit, comp.amount, w[sel])
                stop = np.where(mt, s1, np.minimum(s1, s0 + pc.cap_years))
                ledger.flow(ps, cat["drug"], np.asarray(per_day) * DAYS_PER_YEAR * pc.price, s0, stop)
                continue
            k = np.arange(pc.times)
            t = s0[:, None] + k[None, :] * (duration / pc.times)
            given = t < s1[:, None]          # administered only while the course lasts
            rows, cols = np.nonzero(given)
            pp, tt = ps[rows], t[rows, cols]
            if pc.kind == "session":
                ledger.one_off(pp, cat["administration"], pc.amount, tt)
                continue
            drug_cost = administration_drug_cost(pc.kind, pc.amount, pc.price, pc.vials,
                                                 w[sel][rows], b[sel][rows])
            ledger.one_off(pp, cat["drug"], drug_cost, tt)
            ledger.one_off(pp, cat["administration"], pc.visit, tt)
