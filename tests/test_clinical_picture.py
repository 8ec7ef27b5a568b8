"""The clinical picture around refractoriness (issue 7): chronic damage, look-alikes and their
work-up, adverse events with stopping rules and consequences, glucocorticoid exposure, supportive
care. Direction checks use common random numbers (the same patients and streams in both runs), so
they compare patient by patient where the model implies it, and otherwise with tolerances from the
sample size. Every test that simulates runs on each engine (the ``engine`` fixture of conftest)."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import sim
from sim.inputs.build import build
from tests.conftest import (CLASSES_0, FIXED_REFRACTORY_PATH, FIXED_REFRACTORY_STRATEGY, NEUTRAL_MODIFIERS,
                            NO_COMPETING_EVENTS, load, metric)

N = 3000
FOUR_SE = lambda p, n: 4 * math.sqrt(max(p * (1 - p), 0.01) / n)   # noqa: E731


def _first_course_response(run, strategy):
    """Per patient: did the first induction course bring a response by its evidence time point?"""
    ev = run.events[run.events["strategy"] == strategy]
    first = ev[ev["event"] == "assessment"].groupby("patient").head(1)
    return first.set_index("patient")["detail"].str.endswith(":responding")


# ------------------------------------------------------------------------------------------------
# Chronic damage
# ------------------------------------------------------------------------------------------------
ACR_ONE = ["strategies=[{name: acr, induction: mmf, first_assessment_months: 6, reassessment_months: 12}]",
           "horizon_years=3", "cohort.isn_class={IV: 1.0}", "cohort.lookalike={none: 1.0}",
           "therapies.mmf.adverse_events.serious_infection=0"]


def test_first_course_response_by_chronicity_matches_its_input(engine):
    """Simulated response to MMF by the 6-month assessment, per chronicity band, equals the input
    probability logit^-1(logit(88/156) + band log OR - centring + look-alike centring) within 4 SE."""
    neutral = [x for x in NEUTRAL_MODIFIERS if "chronicity" not in x and "lookalike" not in x]
    run = sim.simulate(load("base.yaml", NO_COMPETING_EVENTS + neutral + ACR_ONE
                            + ["cohort.chronicity={low: 0.34, moderate: 0.33, high: 0.33}"]), patients=N, seed=3,
                       engine=engine)
    p = run.model.params
    resp = _first_course_response(run, "acr")
    band = run.patients.set_index("patient")["chronicity"]
    ors = {"low": 1.0, "moderate": p["chronicity_response_or_moderate"], "high": p["chronicity_response_or_high"]}
    centre = (p["trial_chronicity_share_moderate"] * math.log(ors["moderate"])
              + p["trial_chronicity_share_high"] * math.log(ors["high"]))
    look = -p["trial_lookalike_share"] * math.log(p["lookalike_response_or"])
    base = run.model.therapies["mmf"].response_probability("IV")        # ALMS class III/IV, MMF (B10)
    for b, odds_ratio in ors.items():
        got = resp[band[band == b].index]
        lo = math.log(base / (1 - base)) + math.log(odds_ratio) - centre + look
        want = 1 / (1 + math.exp(-lo))
        assert len(got) > 500
        assert abs(got.mean() - want) < FOUR_SE(want, len(got)), (b, got.mean(), want)


def test_more_chronic_damage_lowers_response_and_raises_esrd(engine):
    few = sim.simulate(load("base.yaml", ["horizon_years=15"]), patients=N, seed=21, engine=engine)
    many = sim.simulate(load("base.yaml", ["horizon_years=15",
                                           "cohort.chronicity={low: 0.2, moderate: 0.3, high: 0.5}"]),
                        patients=N, seed=21, engine=engine)
    s = "rtx_alone"
    r_few, r_many = _first_course_response(few, s).mean(), _first_course_response(many, s).mean()
    assert r_many < r_few - FOUR_SE(r_few, N)
    assert metric(many, s, "response_12m") < metric(few, s, "response_12m")
    e_few, e_many = metric(few, s, "esrd_10y"), metric(many, s, "esrd_10y")
    assert e_many > e_few + FOUR_SE(e_few, N)
    assert metric(many, s, "refractory_chronic_damage") > metric(few, s, "refractory_chronic_damage")
    assert metric(many, s, "truly_refractory") < metric(few, s, "truly_refractory")


def test_chronic_damage_raises_each_patients_esrd_hazard(engine):
    """With chronic damage acting on ESRD only (response odds ratios 1), the same patients follow the
    same paths: a patient moved to a higher chronicity band reaches ESRD no later, an unmoved one at
    exactly the same time."""
    only_esrd = ["horizon_years=15", "parameters.chronicity_response_or_moderate=1",
                 "parameters.chronicity_response_or_high=1"]
    runs = [sim.simulate(load("base.yaml", only_esrd + extra), patients=1500, seed=21, costed=False, engine=engine)
            for extra in ([], ["cohort.chronicity={low: 0.2, moderate: 0.3, high: 0.5}"])]
    a, b = (r.patients[r.patients["strategy"] == "rtx_alone"].set_index("patient") for r in runs)
    rank = {"low": 0, "moderate": 1, "high": 2}
    moved = b["chronicity"].map(rank) > a["chronicity"].map(rank)
    assert (b["chronicity"].map(rank) >= a["chronicity"].map(rank)).all() and moved.sum() > 300
    ta, tb = a["esrd_time_years"].fillna(np.inf), b["esrd_time_years"].fillna(np.inf)
    assert (ta[~moved] == tb[~moved]).all()
    assert (tb[moved] <= ta[moved]).all() and (tb[moved] < ta[moved]).sum() >= 20


def test_a_kidney_damaging_adverse_event_raises_the_esrd_hazard_from_the_event_on(engine):
    """Oracle: a constant ESRD hazard λ in every pre-ESRD state, no modifiers, no deaths. Without the
    events' hazard ratio a patient reaches ESRD at T1, when the accumulated hazard λ T1 reaches the
    patient's threshold E. With ratio k from each event on (the hazard before an event is not
    rescaled; a second event multiplies again), the same threshold is reached at the time found by
    walking the events: λ (a1 - 0) + λ k (a2 - a1) + ... + λ k^j (T - aj) = λ T1."""
    k, rate = 3.0, 0.2
    ov = NO_COMPETING_EVENTS[:2] + [f"parameters.esrd_rate_{s}={rate}" for s in ("active", "partial", "complete")] + [
        f"parameters.esrd_hr_class_{c}=1" for c in ("III", "IV", "V", "III+V", "IV+V")] + [
        "parameters.esrd_hr_first_year=1", "parameters.chronicity_esrd_hr_moderate=1",
        "parameters.chronicity_esrd_hr_high=1", "horizon_years=20",
        "therapies.mmf.adverse_events.serious_infection={value: 0, kind: assumption}",
        "therapies.mmf.adverse_events.cni_nephrotoxicity={value: 1, kind: assumption}",
        "parameters.adverse_event_severe_share_cni_nephrotoxicity=0",
        "parameters.adverse_event_esrd_hr_haemolytic_uraemic_syndrome=1"]
    one = sim.simulate(load("base.yaml", ov + ["parameters.adverse_event_esrd_hr_cni_nephrotoxicity=1"]),
                       patients=500, seed=13, costed=False, engine=engine)
    hr = sim.simulate(load("base.yaml", ov + [f"parameters.adverse_event_esrd_hr_cni_nephrotoxicity={k}"]),
                      patients=500, seed=13, costed=False, engine=engine)
    ev = hr.events
    ae = ev[(ev["strategy"] == "rtx_alone") & (ev["event"] == "adverse_event")
            & ev["detail"].str.endswith(":cni_nephrotoxicity")]                  # MMF's (all) and the CNIs'
    assert ae["detail"].eq("mmf:cni_nephrotoxicity").sum() > 300
    times = ae.groupby("patient")["time_years"].apply(sorted)
    t1 = one.patients[one.patients["strategy"] == "rtx_alone"].set_index("patient")["esrd_time_years"]
    tk = hr.patients[hr.patients["strategy"] == "rtx_alone"].set_index("patient")["esrd_time_years"]
    checked = 0
    for q in t1.index:
        if not np.isfinite(t1[q]):
            continue
        left, t, mult = rate * t1[q], 0.0, 1.0            # hazard still to accumulate, from time t
        for a in times.get(q, []):
            if t + left / (rate * mult) <= a:
                break
            left -= rate * mult * (a - t)
            t, mult = a, mult * k
        want = t + left / (rate * mult)
        assert tk[q] == pytest.approx(want, rel=1e-9, abs=1e-9), (q, times.get(q), t1[q])
        checked += mult > 1
    assert checked > 100                                  # patients whose ESRD an event brought forward


def test_esrd_hazard_ratios_move_each_patients_esrd_the_right_way(engine):
    """Same patients and streams: a kidney-damaging adverse event (HR 3) or worse supportive care
    (HR 2) brings each patient's ESRD earlier or leaves it; better supportive care (HR 0.5) later."""
    common = ["horizon_years=20", "parameters.adverse_event_severe_share_cni_nephrotoxicity=0",
              "therapies.tacrolimus_multitarget.adverse_events.cni_nephrotoxicity=1"]

    def esrd(extra):
        r = sim.simulate(load("base.yaml", common + extra), patients=800, seed=4, engine=engine)
        p = r.patients[r.patients["strategy"] == "rtx_alone"].set_index("patient")
        return p["esrd_time_years"].fillna(np.inf)

    neutral = esrd(["parameters.adverse_event_esrd_hr_cni_nephrotoxicity=1"])
    nephrotoxic = esrd(["parameters.adverse_event_esrd_hr_cni_nephrotoxicity=3"])
    assert (nephrotoxic <= neutral).all() and (nephrotoxic < neutral).sum() >= 5
    worse = esrd(["parameters.adverse_event_esrd_hr_cni_nephrotoxicity=1", "parameters.supportive_care_esrd_hr=2"])
    better = esrd(["parameters.adverse_event_esrd_hr_cni_nephrotoxicity=1", "parameters.supportive_care_esrd_hr=0.5"])
    assert (worse <= neutral).all() and (worse < neutral).sum() >= 20
    assert (better >= neutral).all() and (better > neutral).sum() >= 20


def test_refractory_case_mix_parameters_are_what_the_model_gives(engine):
    """The ladder evidence is centred on the case mix of refractory series, assumed to be the mix the
    model gives among those classed refractory in the A12 population: the parameters must still
    describe the model (within 4 SE of 4,000 patients' refractory group)."""
    run = sim.simulate(load("validation/a12_refractory.yaml"), patients=4000, seed=2021, costed=False, engine=engine)
    p, prm = run.patients, run.model.params
    refr = p[p["refractory"]]
    n = len(refr)
    for got, want in ((refr["chronicity"].eq("moderate").mean(), prm["refractory_chronicity_share_moderate"]),
                      (refr["chronicity"].eq("high").mean(), prm["refractory_chronicity_share_high"]),
                      (refr["lookalike"].ne("none").mean(), prm["refractory_lookalike_share"])):
        assert abs(got - want) < FOUR_SE(want, n), (got, want)


# ------------------------------------------------------------------------------------------------
# Look-alikes and the work-up before escalation
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workup_run(engine):
    return sim.simulate(load("workup.yaml", ["horizon_years=5"]), patients=N, seed=8, engine=engine)


def test_workup_lowers_the_number_classed_refractory(workup_run):
    r = workup_run
    p = r.patients.set_index(["strategy", "patient"])["refractory"]
    direct, screen, biopsy = (set(p[s][p[s]].index) for s in ("escalate_directly", "screen_only", "screen_and_biopsy"))
    # same patients, same streams up to the first classification: a work-up only takes patients out
    assert screen <= direct and biopsy <= direct
    assert len(screen) < len(direct) and len(biopsy) < len(screen)
    assert metric(r, "screen_and_biopsy", "reclassified") > metric(r, "screen_only", "reclassified") > 0
    assert metric(r, "escalate_directly", "reclassified") == 0
    assert metric(r, "screen_and_biopsy", "truly_refractory") > metric(r, "escalate_directly", "truly_refractory")


def test_workup_finds_only_what_is_there(workup_run):
    """No false positives: a finding is the patient's true look-alike, or chronic damage in a patient
    with high chronicity; screening alone never sees membranous transformation or chronic damage."""
    p = workup_run.patients
    found = p[p["workup_finding"].isin(["tma", "aps_nephropathy", "membranous", "chronic_damage"])]
    look = found["workup_finding"] != "chronic_damage"
    assert (found.loc[look, "workup_finding"] == found.loc[look, "lookalike"]).all()
    assert (found.loc[~look, "chronicity"] == "high").all()
    screen = p[p["strategy"] == "screen_only"]
    assert set(screen["workup_finding"]) <= {"", "none", "tma", "aps_nephropathy"}
    assert (p.loc[p["strategy"] == "escalate_directly", "workup_finding"] == "").all()
    # every reclassification is preceded, at the same time, by the test that found it
    ev = workup_run.events
    re_ = ev[ev["event"] == "reclassified"]
    tests = ev[ev["event"].isin(["lookalike_screen", "repeat_biopsy"])]
    keys = set(zip(tests["strategy"], tests["patient"], tests["time_years"], tests["detail"]))
    assert all((s, q, t, d) in keys for s, q, t, d in zip(re_["strategy"], re_["patient"], re_["time_years"], re_["detail"]))


def test_chronic_damage_found_stops_escalation(workup_run):
    ev = workup_run.events
    chronic = ev[(ev["event"] == "reclassified") & (ev["detail"] == "chronic_damage")]
    assert len(chronic) > 10
    ladder = set(workup_run.model.scenario.strategies[2].ladder)
    for row in chronic.itertuples():
        later = ev[(ev["strategy"] == row.strategy) & (ev["patient"] == row.patient) & (ev["time_years"] >= row.time_years)]
        started = set(later.loc[later["event"] == "therapy_start", "detail"])
        assert not (started & ladder), (row.patient, started)
    st = workup_run.states
    for row in chronic.head(20).itertuples():
        seg = st[(st["strategy"] == row.strategy) & (st["patient"] == row.patient) & (st["start"] >= row.time_years)]
        assert set(seg["therapy"]) <= {"supportive_care", ""}


def test_lookalikes_go_to_their_own_management(workup_run):
    ev = workup_run.events
    sc = workup_run.model.scenario
    management = {s.name: s.workup.management for s in sc.strategies}
    look = ev[(ev["event"] == "reclassified") & (ev["detail"] != "chronic_damage")]
    assert len(look) > 10 and look["strategy"].nunique() == 2
    starts = ev[ev["event"] == "therapy_start"].set_index(["strategy", "patient", "time_years"])["detail"]
    for row in look.itertuples():
        assert starts.loc[(row.strategy, row.patient, row.time_years)] == management[row.strategy][row.detail]


# ------------------------------------------------------------------------------------------------
# Adverse events: stopping rule, events, costs
# ------------------------------------------------------------------------------------------------
def test_a_step_whose_severe_adverse_event_is_certain_is_never_completed(engine):
    run = sim.simulate(load("base.yaml", NO_COMPETING_EVENTS + [
        "horizon_years=6", "therapies.tacrolimus_multitarget.adverse_events.serious_infection=1",
        "parameters.adverse_event_severe_share_serious_infection=1"]), patients=1000, seed=5, engine=engine)
    ev = run.events
    step = "tacrolimus_multitarget"
    duration = run.model.therapies[step].duration_months / 12
    starts = ev[(ev["event"] == "therapy_start") & (ev["detail"] == step)]
    starts = starts[starts["time_years"] + duration < run.model.scenario.horizon_years]   # not cut by the horizon
    assert len(starts) > 50
    judged = ev[(ev["event"] == "assessment") & ev["detail"].str.startswith(step + ":")]
    assert len(judged) >= len(starts) and (judged["detail"] == f"{step}:stopped").all()
    severe = ev[(ev["event"] == "adverse_event") & ev["detail"].str.startswith(step + ":")
                & ev["detail"].str.endswith(":severe")]
    assert (severe["detail"] == f"{step}:serious_infection:severe").sum() >= len(starts)
    assert set(zip(severe["strategy"], severe["patient"], severe["time_years"])) == set(
        zip(judged["strategy"], judged["patient"], judged["time_years"]))
    # stopped during the course (before its 6-month assessment), at the severe event
    s = starts.set_index(["strategy", "patient"])["time_years"].groupby(level=[0, 1]).apply(list)
    j = judged.set_index(["strategy", "patient"])["time_years"].groupby(level=[0, 1]).apply(list)
    for key, begun in s.items():
        for t0, t1 in zip(begun, j[key]):
            assert t0 <= t1 < t0 + duration + 1e-9
    # those not in remission then move on to the next step at once: its start is the stop time
    nxt = run.model.scenario.strategies[0].ladder[2]
    moved = ev[(ev["event"] == "therapy_start") & (ev["detail"] == nxt)]
    stop_no_remission = judged.merge(moved[["strategy", "patient", "time_years"]], on=["strategy", "patient", "time_years"])
    assert len(stop_no_remission) > 50
    maint = ev[ev["event"] == "maintenance_start"][["strategy", "patient", "time_years"]]
    assert len(judged) == len(stop_no_remission) + len(judged.merge(maint, on=["strategy", "patient", "time_years"])) \
        + len(judged[judged["time_years"] >= run.model.scenario.horizon_years - 1e-9])


def test_a_severe_infection_on_the_ladder_is_followed_by_extracorporeal_therapy(engine):
    """A59: extracorporeal therapy when infection contraindicates intensification. Every rituximab
    course is stopped by a severe infection; with after_severe_infection the patient gets
    immunoadsorption at once, then (no response) tacrolimus, and immunoadsorption is not repeated as
    the ladder's last step of the same climb; without it, tacrolimus comes straight after."""
    common = NO_COMPETING_EVENTS + ["horizon_years=8", "parameters.flare_rate_remission=0",
                                    "therapies.rituximab.adverse_events.serious_infection=1",
                                    "parameters.adverse_event_severe_share_serious_infection=1"]
    run = sim.simulate(load("base.yaml", common + ["strategies.1.after_severe_infection=immunoadsorption"]),
                       patients=600, seed=6, engine=engine)
    ev = run.events[run.events["strategy"] == "rtx_alone"]
    starts = ev[ev["event"] == "therapy_start"]
    ritux = starts[starts["detail"] == "rituximab"]
    assert len(ritux) > 100
    nxt = starts.groupby("patient")["detail"].apply(list)
    for pid in ritux["patient"]:
        seq = nxt[pid]
        k = seq.index("rituximab")
        if k == len(seq) - 1:           # still in remission when the course stopped, or the horizon
            continue
        assert seq[k + 1] == "immunoadsorption", seq
        assert seq[k + 2:].count("immunoadsorption") == 0, seq     # not repeated as the last step
    both = ritux.merge(starts[starts["detail"] == "immunoadsorption"], on="patient", suffixes=("_r", "_i"))
    stops = ev[(ev["event"] == "assessment") & (ev["detail"] == "rituximab:stopped")]
    assert set(zip(both["patient"], both["time_years_i"])) <= set(zip(stops["patient"], stops["time_years"]))
    # a severe infection on the extracorporeal step itself is not "rescued" by the same therapy
    own = sim.simulate(load("base.yaml", common + [
        "strategies.1.after_severe_infection=immunoadsorption", "strategies.1.ladder=[immunoadsorption, rituximab]",
        "therapies.immunoadsorption.adverse_events.serious_infection=1"]), patients=300, seed=6,
        engine=engine).events
    seqs = own[(own["strategy"] == "rtx_alone") & (own["event"] == "therapy_start")].groupby("patient")["detail"].apply(list)
    seqs = [seq for seq in seqs if "immunoadsorption" in seq[:-1]]
    assert len(seqs) > 50
    assert all(seq[seq.index("immunoadsorption") + 1] == "rituximab" for seq in seqs), seqs[:5]
    plain = sim.simulate(load("base.yaml", common), patients=600, seed=6, engine=engine).events
    st = plain[(plain["strategy"] == "rtx_alone") & (plain["event"] == "therapy_start")]
    for seq in st.groupby("patient")["detail"].apply(list):
        if "rituximab" in seq[:-1]:
            assert seq[seq.index("rituximab") + 1] == "tacrolimus_multitarget", seq


def test_adverse_events_feed_costs_and_qalys(engine):
    """The same patients with and without CNI adverse events (none severe, no ESRD effect): the
    difference in adverse-event costs is exactly the priced events; QALYs fall."""
    kinds = ("cni_nephrotoxicity", "hypertension", "hyperglycaemia", "haemolytic_uraemic_syndrome")
    zero = [f"therapies.tacrolimus_multitarget.adverse_events.{k}=0" for k in kinds]
    keep = ([f"parameters.adverse_event_severe_share_{k}=0" for k in kinds]
            + [f"parameters.adverse_event_esrd_hr_{k}=1" for k in ("cni_nephrotoxicity", "haemolytic_uraemic_syndrome")]
            + [f"therapies.tacrolimus_multitarget.adverse_events.{k}=0.5" for k in kinds] + ["horizon_years=5"])
    with_ae = sim.simulate(load("base.yaml", keep), patients=500, seed=9, engine=engine)
    without = sim.simulate(load("base.yaml", keep + zero), patients=500, seed=9, engine=engine)
    a, b = with_ae.patients.set_index(["strategy", "patient"]), without.patients.set_index(["strategy", "patient"])
    assert (a["followup_years"] == b["followup_years"]).all()          # the paths are the same
    ev = with_ae.events
    cni = ev[(ev["event"] == "adverse_event") & ev["detail"].str.split(":").str[1].isin(kinds)]
    assert len(cni) > 50
    econ = with_ae.economics
    rc = econ.settings()["discount_costs"]
    unit = {k: float(econ.cost_table.set_index("item").loc[k, "value"]) for k in kinds}
    want = sum(unit[k] * (1 + rc) ** -t for k, t in zip(cni["detail"].str.split(":").str[1], cni["time_years"]))
    got = (a["cost_adverse_event"] - b["cost_adverse_event"]).sum()
    assert got == pytest.approx(want, rel=1e-6)
    assert (a["qaly"] <= b["qaly"] + 1e-12).all() and (a["qaly"] < b["qaly"]).sum() >= 50


# ------------------------------------------------------------------------------------------------
# Glucocorticoid exposure
# ------------------------------------------------------------------------------------------------
def test_glucocorticoid_totals_match_a_hand_computation(engine):
    """Everybody: IV CYC (NIH) fails at 6 months, MMF fails at 12 months, refractory, rituximab +
    belimumab from 1 y with complete response at 2 y, maintenance to the 5-year horizon."""
    ov = NO_COMPETING_EVENTS + FIXED_REFRACTORY_PATH + [
        "horizon_years=5", "parameters.flare_rate_remission=0", f"strategies=[{FIXED_REFRACTORY_STRATEGY}}}]"]
    run = sim.simulate(load("base.yaml", ov), patients=12, seed=5, engine=engine)
    st = run.states
    for _, g in st.groupby("patient"):
        labels = g["therapy"].tolist()
        runs = [x for i, x in enumerate(labels) if i == 0 or x != labels[i - 1]]
        assert runs == ["cyc_nih", "mmf", "rituximab_belimumab", "mmf_maintenance"]
        assert g["start"].iloc[0] == 0 and g["stop"].iloc[-1] == 5
    days = 365.25
    # CYC and MMF (ALMS): 60 mg/day for 14 days, linear taper over 70 days to 10 mg/day, then 10 mg/day;
    # each course lasts half a year (182.625 days); all of it above 7.5 mg/day
    alms = 60 * 14 + (60 + 10) / 2 * 70 + 10 * (0.5 * days - 84)
    # rituximab + belimumab, 1 to 2 years: 2 x 100 mg methylprednisolone = 250 mg prednisolone,
    # 20 mg/day for 28 days, taper over 56 days to 7.5 mg/day, then 7.5 mg/day (not above 7.5)
    rtx = 2 * 100 * 1.25 + 20 * 28 + (20 + 7.5) / 2 * 56 + 7.5 * (days - 84)
    # maintenance 2 to 5 years at 5 mg/day
    maint = 5 * 3 * days
    above_days = 2 * 0.5 * days + 28 + 56
    p = run.patients
    np.testing.assert_allclose(p["cumulative_glucocorticoid_mg"], 2 * alms + rtx + maint, rtol=1e-9)
    np.testing.assert_allclose(p["years_prednisolone_above_7_5mg"], above_days / days, rtol=1e-9)
    s = run.summary.set_index("metric")["value"]
    assert s["mean_cumulative_glucocorticoid_mg"] == pytest.approx(2 * alms + rtx + maint, rel=1e-9)


def test_weight_based_glucocorticoids_follow_each_patients_weight(engine):
    """Everybody: MMF fails at 6 months, Euro-Lupus CYC at 12, tacrolimus multitarget (regimen A,
    A53) brings complete response at 18 months, maintenance to 4.5 years, nothing after, horizon 5.
    Per patient, by hand from the patient's own weight w (kg):
      MMF (ALMS): 60 mg/day 14 days, taper over 70 days to 10, then 10 mg/day; half a year
      Euro-Lupus: 3 x 750 mg methylprednisolone (x 1.25), 0.5 w mg/day for 28 days, taper over 56 days
                  to 7.5, then 7.5 mg/day; half a year
      multitarget: 3 x 500 mg methylprednisolone (x 1.25), 0.6 w mg/day for 28 days, taper over 84
                  days to 10, then 10 mg/day; half a year
      maintenance 5 mg/day for 3 years."""
    classes0 = CLASSES_0
    ov = NO_COMPETING_EVENTS + [
        "horizon_years=5", "parameters.flare_rate_remission=0", "parameters.response_onset_months=12",
        "parameters.late_response_given_none=0",
        "therapies.mmf.response.complete=0", "therapies.mmf.response.partial=0",
        f"therapies.mmf.responders_by_class={classes0}",
        "therapies.cyc_eurolupus.response.complete=0", "therapies.cyc_eurolupus.response.partial=0",
        f"therapies.cyc_eurolupus.responders_by_class={classes0}",
        "therapies.tacrolimus_multitarget.response.complete=1", "therapies.tacrolimus_multitarget.response.partial=0",
        "strategies=[{name: det, induction: mmf, first_assessment_months: 6, reassessment_months: 9,"
        " ladder: [tacrolimus_multitarget]}]",
    ] + [f"therapies.{t}.adverse_events.{k}=0" for t, kinds in (
        ("mmf", ["serious_infection"]), ("cyc_eurolupus", ["serious_infection"]),
        ("tacrolimus_multitarget", ["serious_infection", "cni_nephrotoxicity", "hypertension", "hyperglycaemia",
                                    "haemolytic_uraemic_syndrome"])) for k in kinds]
    run = sim.simulate(load("base.yaml", ov), patients=40, seed=3, engine=engine)
    days = 365.25
    half = 0.5 * days
    w = run.patients.set_index("patient")["weight_kg"]
    assert w.max() - w.min() > 10
    alms = 60 * 14 + (60 + 10) / 2 * 70 + 10 * (half - 84)
    euro = 3 * 750 * 1.25 + 0.5 * w * 28 + (0.5 * w + 7.5) / 2 * 56 + 7.5 * (half - 84)
    multi = 3 * 500 * 1.25 + 0.6 * w * 28 + (0.6 * w + 10) / 2 * 84 + 10 * (half - 112)
    want = alms + euro + multi + 5 * 3 * days
    got = run.patients.set_index("patient")["cumulative_glucocorticoid_mg"]
    np.testing.assert_allclose(got.loc[w.index], want.loc[w.index], rtol=1e-9)
    # above 7.5 mg/day: all of MMF and of the multitarget course, Euro-Lupus until its taper reaches 7.5
    above = run.patients.set_index("patient")["years_prednisolone_above_7_5mg"]
    np.testing.assert_allclose(above.loc[w.index], (half + 28 + 56 + half) / days, rtol=1e-9)


def test_the_multitarget_ladder_carries_more_steroid_than_rituximab_first(engine):
    """Protocols compare on steroid burden: the CNI-first ladder (A53 pulses and 0.6 mg/kg, A51
    above 10 mg/day) carries more glucocorticoid than the rituximab-first ladder, same patients."""
    run = sim.simulate(load("cni_first_class_iv_v.yaml", ["horizon_years=5"]), patients=800, seed=2, engine=engine)
    names = [s.name for s in run.model.scenario.strategies]
    by = {s.name: s.ladder[0] for s in run.model.scenario.strategies}
    cni = [n for n in names if by[n].startswith("tacrolimus")]
    rtx = [n for n in names if by[n].startswith("rituximab")]
    assert cni and rtx
    assert metric(run, cni[0], "mean_cumulative_glucocorticoid_mg") > metric(run, rtx[0], "mean_cumulative_glucocorticoid_mg")


# ------------------------------------------------------------------------------------------------
# Therapies of the review as ladder steps; validation of the new inputs
# ------------------------------------------------------------------------------------------------
def test_remaining_therapies_are_selectable_and_exploratory_ones_say_so(engine):
    cat = build(load("base.yaml")).therapies
    assert "ladder" in cat["mizoribine"].roles and not cat["mizoribine"].exploratory
    for t in ("anifrolumab", "ofatumumab", "obinutuzumab"):
        assert cat[t].exploratory and "ladder" in cat[t].roles
        assert "EXPLORATORY" in cat[t].regimen.upper() or "exploratory" in cat[t].label.lower()
    assert "A65" in cat["mizoribine"].evidence and "A68" in cat["anifrolumab"].evidence and "A70" in cat["ofatumumab"].evidence
    run = sim.simulate(load("no_msc.yaml", ["horizon_years=4"]), patients=300, seed=1, engine=engine)
    assert (run.events["detail"] == "mizoribine").any()


@pytest.mark.parametrize("override, field, match", [
    (["cohort.chronicity={low: 0.5, moderate: 0.2}"], "cohort.chronicity",
     "sum to 1.*allowed: shares of low, moderate, high"),
    (["cohort.lookalike={none: 0.9, lupus_anticoagulant: 0.1}"], "cohort.lookalike",
     "unknown look-alike condition.*allowed: none, tma, aps_nephropathy, membranous"),
    (["strategies.0.workup.management.tma=rituximab"], "strategies.0.workup.management.tma",
     "cannot be used as the management of a look-alike.*allowed: .*plasma_exchange_tma"),
    (["strategies.0.workup.management.tma=membranous_cni"], "strategies.0.workup.management.tma",
     "manages 'membranous', not 'tma'.*allowed: plasma_exchange_tma"),
    (["strategies.0.workup.management.lupus=plasma_exchange_tma"], "strategies.0.workup.management.lupus",
     "unknown look-alike condition.*allowed: tma, aps_nephropathy, membranous"),
    (["parameters.adverse_event_severe_share_bleeding=1.5"], "parameters.adverse_event_severe_share_bleeding",
     "probability outside.*allowed: 0 to 1"),
    (["parameters.biopsy_detects_lookalike=2"], "parameters.biopsy_detects_lookalike", "probability outside.*0 to 1"),
    (["parameters.trial_chronicity_share_moderate=0.95"], "parameters.trial_chronicity_share_moderate",
     "sum to more than 1.*allowed: <= 0.9"),
    (["therapies.mmf.glucocorticoids.start_mg_day=-5"], "therapies.mmf.glucocorticoids.start_mg_day",
     "out of range.*allowed: >= 0"),
    (["therapies.mmf.glucocorticoids.then_mg_day=100"], "therapies.mmf.glucocorticoids.then_mg_day",
     "a taper goes down.*allowed: <= start_mg_day \\(60\\)"),
    (["therapies.mmf.glucocorticoids.taper_week=5"], "therapies.mmf.glucocorticoids.taper_week",
     "unknown key 'taper_week'.*did you mean taper_weeks"),
    (["therapies.mmf.adverse_events.serious_infections={value: 0.1, kind: assumption}"],
     "therapies.mmf.adverse_events.serious_infections", "no severe share.*did you mean serious_infection"),
    (["strategies.0.after_severe_infection=rituximab"], "strategies.0.after_severe_infection",
     "extracorporeal one \\(A59\\).*allowed: .*immunoadsorption"),
    (["strategies.0.after_severe_infection=plasma_exchange_tma"], "strategies.0.after_severe_infection",
     "cannot be used as a ladder step"),
])
def test_bad_clinical_inputs_are_refused_by_name(override, field, match):
    from sim.errors import InputError
    with pytest.raises(InputError, match=f"field '{re.escape(field)}': .*{match}"):
        build(load("base.yaml", override))
