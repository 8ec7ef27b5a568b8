"""Tests of sim.economics: costs, QALYs, life years, discounting, tables and their validation.

Expected values are worked out by hand in the tests (from the unit costs and utilities read from
the CSV tables, the patient's weight and BSA and closed-form discounting written out here), or
checked as properties. No number printed by the code is pinned.
"""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import sim
from sim.errors import InputError
from sim.inputs.economic_tables import CATEGORIES, load_cost_table, load_utility_table
from sim.inputs.economic_settings import Economics, willingness_to_pay
from sim.economics.evaluate import evaluate, recost

from tests.conftest import FIXED_REFRACTORY_PATH, FIXED_REFRACTORY_STRATEGY, SCENARIOS  # noqa: E402

BASE = SCENARIOS / "base.yaml"
DATA = Path(sim.__file__).resolve().parent / "data"
CENT = 0.005

COSTS = pd.read_csv(DATA / "costs.csv")
UTILS = pd.read_csv(DATA / "utilities.csv")


# ---------------------------------------------------------------------------------------------
# Hand calculation helpers (independent of sim.economics.cea)
# ---------------------------------------------------------------------------------------------
def unit(item: str) -> float:
    rows = COSTS[COSTS["item"] == item]
    assert len(rows) == 1, item
    return float(rows["value"].iloc[0])


def vials(drug: str) -> list[tuple[float, float]]:
    rows = COSTS[(COSTS["item"] == drug) & (COSTS["unit"] == "per vial")]
    return [(float(s), float(p)) for s, p in zip(rows["vial_mg"], rows["value"])]


def per_mg(drug: str) -> float:
    rows = COSTS[COSTS["item"] == drug]
    if (rows["unit"] == "per vial").all():
        return min(p / s for s, p in vials(drug))
    return unit(drug)


def cheapest_vials(dose: float, sizes: list[tuple[float, float]]) -> float:
    """Brute force over the number of vials of each of (at most) two sizes."""
    if len(sizes) == 1:
        (s, p), = sizes
        return math.ceil(dose / s - 1e-9) * p
    (s1, p1), (s2, p2) = sizes
    best = math.inf
    for a in range(int(dose // s1) + 2):
        b = max(0, math.ceil((dose - a * s1) / s2 - 1e-9))
        best = min(best, a * p1 + b * p2)
    return best


def util(state: str) -> float:
    rows = UTILS[(UTILS["state"] == state) & (UTILS["unit"] == "utility")]
    return float(rows["value"].iloc[0])


def qaly_loss(kind: str) -> float:
    rows = UTILS[(UTILS["state"] == kind) & (UTILS["unit"] == "qaly_loss")]
    return float(rows["value"].iloc[0])


def D(t0: float, t1: float, r: float) -> float:
    """Integral of (1 + r)^-s over [t0, t1]."""
    if r == 0:
        return t1 - t0
    return ((1 + r) ** -t0 - (1 + r) ** -t1) / math.log1p(r)


def df(t: float, r: float) -> float:
    return (1 + r) ** -t


YEAR_DAYS = 365.25
CLASSES_1 = "{III: 1, IV: 1, V: 1, III+V: 1, IV+V: 1}"
NO_DEATH_ESRD_FLARE = [
    "horizon_years=5", "parameters.smr_lupus_nephritis=0", "parameters.death_rate_active_nephritis=0",
    "parameters.esrd_rate_active=0", "parameters.esrd_rate_partial=0", "parameters.esrd_rate_complete=0",
    "parameters.flare_rate_remission=0",
]


def maintenance_years() -> float:
    return float(sim.load_scenario(BASE).build().params["maintenance_years"])


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_result():
    return sim.simulate(sim.load_scenario(BASE), patients=300, seed=11)


@pytest.fixture(scope="module")
def base_econ(base_result):
    return evaluate(base_result, Economics())


@pytest.fixture(scope="module")
def mmf_path():
    """Everybody: MMF induction, complete response at exactly 6 months, maintenance, alive at 5 y."""
    ov = NO_DEATH_ESRD_FLARE + [
        "parameters.response_onset_months=6",
        "therapies.mmf.response.complete=1", "therapies.mmf.response.partial=0",
        f"therapies.mmf.responders_by_class={CLASSES_1}", "therapies.mmf.adverse_events.serious_infection=0",
        "strategies=[{name: det, induction: mmf, first_assessment_months: 6, reassessment_months: 9,"
        " ladder: [rituximab]}]",
    ]
    return sim.simulate(sim.load_scenario(BASE, ov), patients=12, seed=5)


@pytest.fixture(scope="module")
def refractory_path():
    """Everybody: IV CYC (NIH) fails at 6 months, MMF fails at 12 months, refractory, rituximab +
    belimumab from 1 y with complete response at exactly 2 y, maintenance, alive at 5 y."""
    ov = NO_DEATH_ESRD_FLARE + FIXED_REFRACTORY_PATH + [
        "cohort.chronicity={low: 1.0}", "cohort.lookalike={none: 1.0}",
        f"strategies=[{FIXED_REFRACTORY_STRATEGY}, workup: {{repeat_biopsy: true}}}}]",
    ]
    return sim.simulate(sim.load_scenario(BASE, ov), patients=12, seed=5)


# ---------------------------------------------------------------------------------------------
# Deterministic paths, by hand to the cent
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rates", [(0.03, 0.03), (0.05, 0.015), (0.0, 0.0)])
def test_mmf_path_by_hand(mmf_path, rates):
    rc, ro = rates
    st = mmf_path.states
    # the path is the one the overrides force
    assert set(st["state"] + "/" + st["therapy"]) == {
        "active_nephritis/mmf", "complete_response/mmf_maintenance", "complete_response/"}
    m = maintenance_years()
    res = evaluate(mmf_path, Economics(discount_costs=rc, discount_outcomes=ro))
    bg = unit("raas_blockade") + unit("antimalarial") + unit("lipid_control")
    mmf = mmf_path.model.therapies["mmf"].dose[0]
    maint = mmf_path.model.therapies["mmf_maintenance"].dose[0]
    assert mmf.unit == maint.unit == "g/day"
    t_cap = min(0.5, mmf.days / YEAR_DAYS)
    drug = (mmf.amount * 1000 * YEAR_DAYS * per_mg("mycophenolate_mofetil") * D(0, t_cap, rc)
            + maint.amount * 1000 * YEAR_DAYS * per_mg("mycophenolate_mofetil") * D(0.5, 0.5 + m, rc))
    monitoring = unit("immunosuppression_labs") * (D(0, 0.5, rc) + D(0.5, 0.5 + m, rc))
    state = unit("state_active_nephritis") * D(0, 0.5, rc) + unit("state_complete_response") * D(0.5, 5, rc)
    supportive = bg * D(0, 5, rc)
    cost = drug + monitoring + state + supportive
    qaly = util("active_nephritis") * D(0, 0.5, ro) + util("complete_response") * D(0.5, 5, ro)
    p = res.patients
    assert len(p) == 12
    np.testing.assert_allclose(p["cost"], cost, rtol=0, atol=CENT)
    np.testing.assert_allclose(p["cost_drug"], drug, rtol=0, atol=CENT)
    np.testing.assert_allclose(p["cost_monitoring"], monitoring, rtol=0, atol=CENT)
    np.testing.assert_allclose(p["cost_state"], state, rtol=0, atol=CENT)
    np.testing.assert_allclose(p["cost_supportive_care"], supportive, rtol=0, atol=CENT)
    for c in ("administration", "adverse_event", "flare", "dialysis", "transplant"):
        assert (p[f"cost_{c}"] == 0).all()
    np.testing.assert_allclose(p["qaly"], qaly, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p["life_years"], D(0, 5, ro), rtol=0, atol=1e-9)
    np.testing.assert_allclose(p["life_years_undiscounted"], 5.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("wastage", [True, False])
def test_refractory_path_by_hand(refractory_path, wastage):
    """Weight- and BSA-based doses, vials, infusion visits, administration timing, repeat biopsy."""
    r = refractory_path
    assert set(r.states["therapy"]) == {"cyc_nih", "mmf", "rituximab_belimumab", "mmf_maintenance"}
    assert (r.events["event"] == "refractory").sum() == len(r.patients)
    # the repeat biopsy before classing refractory finds lupus nephritis (no look-alike, no chronic damage)
    biopsy = r.events[r.events["event"] == "repeat_biopsy"]
    assert len(biopsy) == len(r.patients) and (biopsy["detail"] == "active_nephritis").all()
    assert np.allclose(biopsy["time_years"], 1.0)
    rc, ro = 0.035, 0.035
    res = evaluate(r, Economics(discount="nice", vial_wastage=wastage))
    th = r.model.therapies
    m = maintenance_years()
    cyc, = th["cyc_nih"].dose
    ritux, belim = th["rituximab_belimumab"].dose
    mmf, = th["mmf"].dose
    maint, = th["mmf_maintenance"].dose
    infusion, labs, bg = unit("infusion_visit"), unit("immunosuppression_labs"), unit("raas_blockade") + unit("antimalarial") + unit("lipid_control")

    def drug_cost(drug, dose):
        return cheapest_vials(dose, vials(drug)) if wastage else dose * per_mg(drug)

    for _, pt in r.patients.iterrows():
        w, bsa = pt["weight_kg"], pt["bsa_m2"]
        drug = admin = 0.0
        # IV CYC 750 mg/m2 monthly x 6 from time 0 (course 0 - 0.5 y)
        for k in range(cyc.times):
            t = k * (th["cyc_nih"].duration_months / 12) / cyc.times
            assert t < 0.5
            drug += drug_cost("cyclophosphamide", cyc.amount * bsa) * df(t, rc)
            admin += infusion * df(t, rc)
        # MMF 3 g/day, second line, 0.5 - 1.0 y (capped at its days)
        drug += mmf.amount * 1000 * YEAR_DAYS * per_mg("mycophenolate_mofetil") * D(0.5, min(1.0, 0.5 + mmf.days / YEAR_DAYS), rc)
        # rituximab 1000 mg x 2 and belimumab 10 mg/kg x 14 over the 12-month course from 1 y
        dur = th["rituximab_belimumab"].duration_months / 12
        for comp, name in ((ritux, "rituximab"), (belim, "belimumab")):
            dose = comp.amount * (w if comp.unit == "mg/kg" else 1.0)
            for k in range(comp.times):
                t = 1.0 + k * dur / comp.times
                drug += drug_cost(name, dose) * df(t, rc)
                admin += infusion * df(t, rc)
        drug += maint.amount * 1000 * YEAR_DAYS * per_mg("mycophenolate_mofetil") * D(2.0, 2.0 + m, rc)
        monitoring = labs * (D(0, 0.5, rc) + D(0.5, 1.0, rc) + D(1.0, 2.0, rc) + D(2.0, 2.0 + m, rc)) \
            + unit("repeat_biopsy") * df(1.0, rc)
        state = unit("state_active_nephritis") * D(0, 2, rc) + unit("state_complete_response") * D(2, 5, rc)
        total = drug + admin + monitoring + state + bg * D(0, 5, rc)
        qaly = util("active_nephritis") * D(0, 2, ro) + util("complete_response") * D(2, 5, ro)
        got = res.patients.set_index("patient").loc[pt["patient"]]
        assert got["cost_drug"] == pytest.approx(drug, abs=CENT)
        assert got["cost_administration"] == pytest.approx(admin, abs=CENT)
        assert got["cost_monitoring"] == pytest.approx(monitoring, abs=CENT)
        assert got["cost"] == pytest.approx(total, abs=CENT)
        assert got["qaly"] == pytest.approx(qaly, abs=1e-9)


def test_hand_built_tables_esrd_transplant_flares_adverse_events(mmf_path):
    """Dialysis mix, transplant first year and follow-up, flares by severity (and a bare number),
    adverse events with QALY loss, supportive care after the ladder, on hand-made tables."""
    model = mmf_path.model
    patients = pd.DataFrame({"strategy": "x", "patient": [0, 1], "weight_kg": [70.0, 60.0],
                             "bsa_m2": [1.8, 1.6], "followup_years": [4.5, 3.0]})
    S = [  # (patient, state, therapy, start, stop)
        (0, "active_nephritis", "mmf", 0.0, 0.4), (0, "complete_response", "mmf", 0.4, 0.5),
        (0, "complete_response", "mmf_maintenance", 0.5, 1.2), (0, "active_nephritis", "mmf", 1.2, 1.5),
        (0, "partial_response", "mmf", 1.5, 1.7), (0, "dialysis", "", 1.7, 3.0), (0, "transplant", "", 3.0, 4.5),
        (1, "partial_response", "", 0.0, 1.0), (1, "active_nephritis", "mmf", 1.0, 1.5),
        (1, "active_nephritis", "", 1.5, 3.0),
    ]
    E = [  # (patient, time, event, detail)
        (0, 0.0, "therapy_start", "mmf"), (0, 0.3, "adverse_event", "mmf:serious_infection:severe"),
        (0, 0.5, "maintenance_start", "mmf_maintenance"), (0, 1.2, "renal_flare", "1:severe"),
        (0, 1.2, "therapy_start", "mmf"), (0, 1.7, "esrd", ""), (0, 3.0, "transplant", ""), (0, 4.5, "death", "transplant"),
        (1, 1.0, "renal_flare", "1"), (1, 1.0, "therapy_start", "mmf"),
        (1, 1.5, "lookalike_screen", "none"), (1, 1.5, "repeat_biopsy", "active_nephritis"), (1, 1.5, "refractory", ""),
        (1, 3.0, "death", "active_nephritis"),
    ]
    states = pd.DataFrame(S, columns=["patient", "state", "therapy", "start", "stop"])
    states.insert(0, "strategy", "x")
    events = pd.DataFrame(E, columns=["patient", "time_years", "event", "detail"])
    events.insert(0, "strategy", "x")
    result = SimpleNamespace(model=model, patients=patients, events=events, states=states)
    rc, ro, share = 0.04, 0.02, 0.25
    res = evaluate(result, Economics(discount_costs=rc, discount_outcomes=ro, dialysis_pd_share=share))
    mg = per_mg("mycophenolate_mofetil") * YEAR_DAYS
    mmf = model.therapies["mmf"].dose[0]
    cap = mmf.days / YEAR_DAYS
    bg = unit("raas_blockade") + unit("antimalarial") + unit("lipid_control")
    labs = unit("immunosuppression_labs")
    dial = (1 - share) * unit("haemodialysis") + share * unit("peritoneal_dialysis")
    maint = model.therapies["mmf_maintenance"].dose[0].amount * 1000
    # patient 0
    c0 = {
        "drug": mmf.amount * 1000 * mg * (D(0, min(0.5, cap), rc) + D(1.2, min(1.7, 1.2 + cap), rc)) + maint * mg * D(0.5, 1.2, rc),
        "monitoring": labs * (D(0, 0.5, rc) + D(0.5, 1.2, rc) + D(1.2, 1.7, rc)),
        "adverse_event": unit("serious_infection") * df(0.3, rc),
        "flare": unit("renal_flare_severe") * df(1.2, rc),
        "dialysis": dial * D(1.7, 3.0, rc),
        "transplant": unit("transplant_first_year") * df(3.0, rc) + unit("transplant_followup") * D(4.0, 4.5, rc),
        "supportive_care": bg * D(0, 1.7, rc),
        "state": unit("state_active_nephritis") * (D(0, 0.4, rc) + D(1.2, 1.5, rc))
        + unit("state_complete_response") * D(0.4, 1.2, rc) + unit("state_partial_response") * D(1.5, 1.7, rc),
        "administration": 0.0,
    }
    q0 = (util("active_nephritis") * D(0, 0.4, ro) + util("complete_response") * D(0.4, 1.2, ro)
          + util("flare_severe") * D(1.2, 1.5, ro) + util("partial_response") * D(1.5, 1.7, ro)
          + util("dialysis") * D(1.7, 3.0, ro) + util("transplant") * D(3.0, 4.5, ro)
          - qaly_loss("serious_infection") * df(0.3, ro))
    # patient 1: flare without severity = moderate; after the ladder, supportive care (CKD)
    c1 = {
        "drug": mmf.amount * 1000 * mg * D(1.0, min(1.5, 1.0 + cap), rc),
        "monitoring": labs * D(1.0, 1.5, rc) + (unit("repeat_biopsy") + unit("lookalike_screening")) * df(1.5, rc),
        "adverse_event": 0.0, "dialysis": 0.0, "transplant": 0.0, "administration": 0.0,
        "flare": unit("renal_flare_moderate") * df(1.0, rc),
        "supportive_care": bg * D(0, 3.0, rc) + unit("ckd_supportive_care") * D(1.5, 3.0, rc),
        "state": unit("state_partial_response") * D(0, 1, rc) + unit("state_active_nephritis") * D(1.0, 1.5, rc),
    }
    q1 = (util("partial_response") * D(0, 1, ro) + util("flare_moderate") * D(1.0, 1.5, ro)
          + util("ckd") * D(1.5, 3.0, ro))
    p = res.patients.set_index("patient")
    for pid, c, q, fu in ((0, c0, q0, 4.5), (1, c1, q1, 3.0)):
        for k, v in c.items():
            assert p.loc[pid, f"cost_{k}"] == pytest.approx(v, abs=CENT), (pid, k)
        assert p.loc[pid, "cost"] == pytest.approx(sum(c.values()), abs=CENT)
        assert p.loc[pid, "qaly"] == pytest.approx(q, abs=1e-9)
        assert p.loc[pid, "life_years"] == pytest.approx(D(0, fu, ro), abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Discounting properties
# ---------------------------------------------------------------------------------------------
def test_zero_rate_equals_undiscounted(base_result):
    res = evaluate(base_result, Economics(discount_costs=0.0, discount_outcomes=0.0))
    p = res.patients
    np.testing.assert_allclose(p["cost"], p["cost_undiscounted"], rtol=1e-12)
    np.testing.assert_allclose(p["qaly"], p["qaly_undiscounted"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p["life_years"], p["life_years_undiscounted"], rtol=1e-12)


def test_higher_rates_never_raise_discounted_totals(base_result):
    previous = None
    for r in (0.0, 0.01, 0.03, 0.035, 0.05, 0.1, 0.3):
        p = evaluate(base_result, Economics(discount_costs=r, discount_outcomes=r)).patients
        if previous is not None:
            assert (p["cost"] <= previous["cost"] + 1e-9).all()
            assert (p["life_years"] <= previous["life_years"] + 1e-12).all()
            for c in CATEGORIES:
                assert (p[f"cost_{c}"] <= previous[f"cost_{c}"] + 1e-9).all()
            assert p.groupby("strategy")["qaly"].mean().le(previous.groupby("strategy")["qaly"].mean() + 1e-12).all()
        # the undiscounted twins do not depend on the rate
        if previous is not None:
            np.testing.assert_allclose(p["cost_undiscounted"], previous["cost_undiscounted"], rtol=1e-12)
        previous = p


def test_presets_and_explicit_rates():
    assert Economics().rates() == (0.03, 0.03)
    assert Economics(discount="nice").rates() == (0.035, 0.035)
    assert Economics(discount="iets_colombia").rates() == (0.05, 0.05)
    assert Economics(discount="nice", discount_costs=0.0).rates() == (0.0, 0.035)
    with pytest.raises(ValidationError, match="unknown discount preset"):
        Economics(discount="bogus")
    with pytest.raises(ValidationError):
        Economics(discount_costs=1.0)
    with pytest.raises(ValidationError):
        Economics(wtp=-1)
    with pytest.raises(ValidationError):
        Economics(dialysis_pd_share=1.5)
    with pytest.raises(ValidationError):
        Economics(perspective="societal")
    with pytest.raises(ValidationError):
        Economics(unknown_field=1)


# ---------------------------------------------------------------------------------------------
# Cost properties
# ---------------------------------------------------------------------------------------------
def test_doubling_every_unit_cost_doubles_every_cost(base_result, base_econ, tmp_path):
    table = COSTS.copy()
    table["value"] = table["value"] * 2
    path = tmp_path / "double.csv"
    table.to_csv(path, index=False)
    doubled = recost(base_result, Economics(cost_table=str(path)))
    cols = ["cost", "cost_undiscounted"] + [f"cost_{c}" for c in CATEGORIES]
    for wastage in (True, False):
        a = recost(base_result, Economics(vial_wastage=wastage)).patients
        b = recost(base_result, Economics(cost_table=str(path), vial_wastage=wastage)).patients
        np.testing.assert_allclose(b[cols].to_numpy(), 2 * a[cols].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(doubled.patients["qaly"], base_econ.patients["qaly"], rtol=0)


def test_costs_nonnegative_and_qalys_at_most_life_years(base_econ):
    p = base_econ.patients
    cols = ["cost", "cost_undiscounted"] + [f"cost_{c}" for c in CATEGORIES]
    assert (p[cols] >= 0).all().all()
    np.testing.assert_allclose(p[[f"cost_{c}" for c in CATEGORIES]].sum(axis=1), p["cost"], rtol=1e-12)
    assert (p["qaly"] <= p["life_years"] + 1e-12).all()
    assert (p["qaly_undiscounted"] <= p["life_years_undiscounted"] + 1e-12).all()
    assert (p["life_years"] <= p["life_years_undiscounted"] + 1e-12).all()
    assert (p["cost"] > 0).all()


def test_vial_wastage_never_lowers_drug_cost(base_result):
    with_w = recost(base_result, Economics(vial_wastage=True)).patients
    without = recost(base_result, Economics(vial_wastage=False)).patients
    assert (with_w["cost_drug"] >= without["cost_drug"] - 1e-9).all()
    assert (with_w["cost_drug"] > without["cost_drug"] + 1).any()   # weight-based doses waste something
    for c in CATEGORIES:
        if c != "drug":
            np.testing.assert_allclose(with_w[f"cost_{c}"], without[f"cost_{c}"], rtol=1e-12)


def test_dialysis_mix_is_linear(base_result):
    hd = recost(base_result, Economics(dialysis_pd_share=0.0)).patients["cost_dialysis"]
    pd_ = recost(base_result, Economics(dialysis_pd_share=1.0)).patients["cost_dialysis"]
    mix = recost(base_result, Economics(dialysis_pd_share=0.3)).patients["cost_dialysis"]
    np.testing.assert_allclose(mix, 0.7 * hd + 0.3 * pd_, rtol=1e-12, atol=1e-9)
    assert hd.sum() > 0
    ratio = unit("peritoneal_dialysis") / unit("haemodialysis")
    np.testing.assert_allclose(pd_, ratio * hd, rtol=1e-12)


def test_recost_needs_no_resimulation(base_result):
    before = (base_result.patients.copy(), base_result.events.copy(), base_result.states.copy())
    a = evaluate(base_result, Economics())
    b = recost(base_result, Economics(discount="iets_colombia", wtp=50_000))
    pd.testing.assert_frame_equal(base_result.patients, before[0])
    pd.testing.assert_frame_equal(base_result.events, before[1])
    pd.testing.assert_frame_equal(base_result.states, before[2])
    np.testing.assert_allclose(a.patients["cost_undiscounted"], b.patients["cost_undiscounted"], rtol=0)
    assert (b.cea["discount_costs"] == 0.05).all() and (b.cea["wtp"] == 50_000).all()


# ---------------------------------------------------------------------------------------------
# Summaries and the incremental table
# ---------------------------------------------------------------------------------------------
def test_summary_and_cea(base_econ):
    p, s, cea = base_econ.patients, base_econ.summary, base_econ.cea
    assert list(s.columns) == ["strategy", "metric", "value"]
    val = s.set_index(["strategy", "metric"])["value"]
    for strategy, g in p.groupby("strategy"):
        for m in ("cost", "qaly", "life_years", "cost_undiscounted", "qaly_undiscounted", "life_years_undiscounted"):
            assert val[(strategy, f"mean_{m}")] == pytest.approx(g[m].mean(), rel=1e-12)
            assert val[(strategy, f"mean_{m}_se")] == pytest.approx(g[m].std(ddof=1) / math.sqrt(len(g)), rel=1e-9)
        total = sum(val[(strategy, f"mean_cost_{c}")] for c in CATEGORIES)
        assert total == pytest.approx(val[(strategy, "mean_cost")], rel=1e-12)
    for col in ("strategy", "cost", "effect", "inc_cost", "inc_effect", "icer", "status", "life_years", "nmb",
                "wtp", "perspective", "currency", "price_year", "horizon_years", "discount_costs", "discount_outcomes"):
        assert col in cea.columns
    assert set(cea["strategy"]) == set(p["strategy"])
    np.testing.assert_allclose(cea["nmb"], cea["effect"] * cea["wtp"] - cea["cost"], rtol=1e-12)
    table = load_cost_table()
    assert (cea["currency"] == table.currency).all() and (cea["price_year"] == table.price_year).all()
    assert (cea["perspective"] == "health care system").all()
    assert (cea["horizon_years"] == base_econ.horizon_years).all()
    assert (cea["wtp"] == willingness_to_pay(Economics(), table.currency)).all()
    means = p.groupby("strategy")[["cost", "qaly"]].mean()
    for _, row in cea.iterrows():
        assert row["cost"] == pytest.approx(means.loc[row["strategy"], "cost"], rel=1e-12)
        assert row["effect"] == pytest.approx(means.loc[row["strategy"], "qaly"], rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Table validation
# ---------------------------------------------------------------------------------------------
def write(tmp_path, df, name="t.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_default_tables_load_and_are_traceable():
    costs = load_cost_table()
    assert costs.currency == "USD" and costs.price_year == 2017
    assert (costs.table["source"] != "").all()
    assumption = costs.table["source"] == "assumption"
    assert costs.table.loc[assumption, "note"].str.contains("assumption").all()
    assert {"B52", "B54", "B55"} <= set(costs.table["source"])
    utils = load_utility_table()
    assert {"B48", "B49"} <= set(utils.table["source"])


def changed(table: pd.DataFrame, key: str, row: object, column: str, value: object) -> pd.DataFrame:
    """A copy of a table with one cell changed (the row where ``key == row``, or row index 0 if None)."""
    bad = table.astype({column: object})
    bad.loc[(bad[key] == row) if row is not None else bad.index == 0, column] = value
    return bad


# (a malformed copy of the default table, the error expected, the field it names or None)
COST_TABLE_ERRORS = [
    (lambda: COSTS.drop(columns=["price_year"]), "missing column", None),
    (lambda: changed(COSTS, "item", "haemodialysis", "value", -1), "negative cost", None),
    (lambda: changed(COSTS, "item", "tacrolimus", "value", "cheap"), "not a finite number", "tacrolimus.value"),
    (lambda: changed(COSTS, "item", None, "currency", "COP"), "mixes currencies", None),
    (lambda: changed(COSTS, "item", None, "price_year", 2020), "mixes price years", None),
    (lambda: changed(COSTS, "item", "rituximab", "vial_mg", ""), "vial size", None),
    (lambda: COSTS[COSTS["item"] != "haemodialysis"], "required cost item missing", None),
    (lambda: changed(COSTS, "item", "haemodialysis", "category", "food"), "unknown category", None),
    (lambda: pd.concat([COSTS, COSTS[COSTS["item"] == "tacrolimus"]]), "duplicated item", None),
]
UTILITY_TABLE_ERRORS = [
    (lambda: UTILS.drop(columns=["value"]), "missing column"),
    (lambda: changed(UTILS, "state", "dialysis", "value", 1.2), "outside the allowed range"),
    (lambda: changed(UTILS, "state", "dialysis", "value", -0.7), "outside the allowed range"),
    (lambda: changed(UTILS, "state", "dialysis", "value", "high"), "not a finite number"),
    (lambda: UTILS[UTILS["state"] != "transplant"], "required state missing"),
]


@pytest.mark.parametrize("make, match, field", COST_TABLE_ERRORS, ids=[m for _, m, _ in COST_TABLE_ERRORS])
def test_cost_table_errors(tmp_path, make, match, field):
    with pytest.raises(InputError, match=match) as e:
        load_cost_table(write(tmp_path, make()))
    if field is not None:
        assert e.value.field == field


@pytest.mark.parametrize("make, match", UTILITY_TABLE_ERRORS, ids=[m for _, m in UTILITY_TABLE_ERRORS])
def test_utility_table_errors(tmp_path, make, match):
    with pytest.raises(InputError, match=match):
        load_utility_table(write(tmp_path, make()))


def test_missing_tables_are_named():
    with pytest.raises(InputError, match="file not found"):
        load_cost_table(Path("nope.csv"))
    with pytest.raises(InputError, match="file not found"):
        load_utility_table(Path("nope.csv"))


def test_evaluate_errors(base_result, tmp_path):
    with pytest.raises(InputError, match="currency does not agree"):
        evaluate(base_result, Economics(currency="EUR"))
    with pytest.raises(InputError, match="price year does not agree"):
        evaluate(base_result, Economics(price_year=2020))
    assert evaluate(base_result, Economics(currency="USD", price_year=2017)).currency == "USD"
    cop = COSTS.copy()
    cop["currency"] = "COP"
    path = write(tmp_path, cop, "cop.csv")
    with pytest.raises(InputError, match="willingness to pay"):
        evaluate(base_result, Economics(cost_table=str(path)))
    res = evaluate(base_result, Economics(cost_table=str(path), wtp=20_000_000))
    assert (res.cea["currency"] == "COP").all()
    no_belimumab = write(tmp_path, COSTS[COSTS["item"] != "belimumab"], "nobel.csv")
    with pytest.raises(InputError, match="no price for a drug"):
        evaluate(base_result, Economics(cost_table=str(no_belimumab)))
    no_ae = write(tmp_path, UTILS[UTILS["state"] != "serious_infection"], "noae.csv")
    with pytest.raises(InputError, match="QALY loss"):
        evaluate(base_result, Economics(utility_table=str(no_ae)))


def test_relative_table_paths_follow_the_scenario_folder(mmf_path, tmp_path):
    table = COSTS.copy()
    table["value"] = table["value"] * 3
    write(tmp_path, table, "local_costs.csv")
    scenario = SimpleNamespace(horizon_years=mmf_path.model.scenario.horizon_years, _base_dir=tmp_path)
    model = SimpleNamespace(scenario=scenario, therapies=mmf_path.model.therapies)
    moved = SimpleNamespace(model=model, patients=mmf_path.patients, events=mmf_path.events, states=mmf_path.states)
    local = evaluate(moved, Economics(cost_table="local_costs.csv"))
    default = evaluate(mmf_path, Economics())
    np.testing.assert_allclose(local.patients["cost"], 3 * default.patients["cost"], rtol=1e-12)
    assert local.settings()["cost_table"].endswith("local_costs.csv")
    with pytest.raises(ValidationError):
        Economics().wtp = 5  # frozen


def test_default_tables_price_every_therapy_of_the_catalogue():
    from sim.inputs.therapies import TherapyCatalogue
    costs, utils = load_cost_table(), load_utility_table()
    for th in TherapyCatalogue.default().therapies.values():
        for comp in th.dose:
            assert costs.has(comp.drug), (th.name, comp.drug)
        for kind in th.adverse_events:
            assert costs.value(kind, "adverse_event") >= 0
            assert 0 <= utils.qaly_loss(kind) <= 1


def test_flat_priced_product_and_drug_specific_administration(mmf_path):
    """A drug priced per administration costs the same for any weight; <drug>_administration
    replaces the default visit."""
    from sim.inputs.therapies import TherapyCatalogue
    cat = TherapyCatalogue.default()
    assert "car_t" in cat
    comp, = cat["car_t"].dose
    model = SimpleNamespace(scenario=SimpleNamespace(horizon_years=5.0, _base_dir=None), therapies=cat)
    patients = pd.DataFrame({"strategy": "x", "patient": [0, 1], "weight_kg": [50.0, 100.0],
                             "bsa_m2": [1.5, 2.2], "followup_years": [1.0, 1.0]})
    states = pd.DataFrame({"strategy": "x", "patient": [0, 1], "state": "active_nephritis", "therapy": "car_t",
                           "start": 0.0, "stop": 1.0})
    events = pd.DataFrame({"strategy": "x", "patient": [0, 1], "time_years": 0.0, "event": "therapy_start",
                           "detail": "car_t"})
    res = evaluate(SimpleNamespace(model=model, patients=patients, events=events, states=states), Economics())
    p = res.patients
    assert p["cost_drug"].tolist() == pytest.approx([unit(comp.drug)] * 2, abs=CENT)
    assert p["cost_administration"].tolist() == pytest.approx([unit(f"{comp.drug}_administration")] * 2, abs=CENT)
