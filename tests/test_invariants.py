"""Invariants every run must satisfy (checked on the base scenario and on an ACR-timed variant, on
each engine)."""
from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.model.events import EVENTS
from tests.conftest import load

TERMINAL = {"death", "end_of_followup"}


@pytest.fixture(scope="module", params=["eular", "acr_cyc"])
def run(request, engine, engine_base_run):
    """One run per (scenario, engine), cached for the module."""
    if request.param == "eular":
        return engine_base_run
    sc = load("base.yaml", ["strategies.rtx_belimumab.first_assessment_months=6",
                            "strategies.rtx_belimumab.reassessment_months=12",
                            "strategies.rtx_alone.induction={cyc_nih: 0.5, mmf: 0.5}",
                            "strategies.rtx_alone.flare_reentry=ladder"])
    return sim.simulate(sc, patients=400, seed=5, engine=engine)


def test_event_vocabulary_is_fixed(run):
    assert set(run.events["event"]) <= set(EVENTS)


def test_events_in_time_order_per_patient(run):
    for _, g in run.events.groupby(["strategy", "patient"], sort=False):
        t = g["time_years"].to_numpy()
        assert np.all(np.diff(t) >= 0)


def test_exactly_one_end_state_and_it_is_last(run):
    ev = run.events
    term = ev[ev["event"].isin(TERMINAL)]
    counts = term.groupby(["strategy", "patient"]).size()
    assert len(counts) == len(run.patients)
    assert (counts == 1).all()
    last = ev.groupby(["strategy", "patient"], sort=False).tail(1)
    assert last["event"].isin(TERMINAL).all()


def test_no_event_after_death_and_followup_matches(run):
    p = run.patients.set_index(["strategy", "patient"])
    last_t = run.events.groupby(["strategy", "patient"])["time_years"].max()
    assert np.allclose(last_t.loc[p.index].to_numpy(), p["followup_years"].to_numpy())
    dead = p["end_state"] == "death"
    assert np.allclose(p.loc[dead, "death_time_years"], p.loc[dead, "followup_years"])
    assert p.loc[~dead, "death_time_years"].isna().all()
    horizon = run.model.scenario.horizon_years
    assert np.allclose(p.loc[~dead, "followup_years"], horizon)


def test_flares_only_after_a_response(run):
    ev = run.events
    for _, g in ev[ev["event"].isin(["partial_response", "renal_flare"])].groupby(["strategy", "patient"], sort=False):
        responses_since_flare = 0
        for e in g["event"]:
            if e == "partial_response":
                responses_since_flare += 1
            else:
                assert responses_since_flare > 0, "a renal flare without a response since the last flare"
                responses_since_flare = 0


def test_state_segments_tile_followup(run):
    st = run.states
    p = run.patients.set_index(["strategy", "patient"])
    for key, g in st.groupby(["strategy", "patient"], sort=False):
        start, stop = g["start"].to_numpy(), g["stop"].to_numpy()
        assert start[0] == 0.0
        assert np.all(stop > start)
        assert np.allclose(start[1:], stop[:-1])
        assert stop[-1] == pytest.approx(p.loc[key, "followup_years"])


def test_times_are_consistent(run):
    p = run.patients
    both = p["cr_time_years"].notna()
    assert (p.loc[both, "cr_time_years"] >= p.loc[both, "response_time_years"]).all()
    assert p.loc[both, "response_time_years"].notna().all()
    for col in ("cr_time_years", "response_time_years", "esrd_time_years", "transplant_time_years"):
        t = p[col]
        assert ((t.isna()) | (t <= p["followup_years"] + 1e-12)).all()
    tx = p["transplant_time_years"].notna()
    assert (p.loc[tx, "transplant_time_years"] >= p.loc[tx, "esrd_time_years"]).all()


def test_no_nephritis_events_after_esrd(run):
    ev = run.events.merge(run.patients[["strategy", "patient", "esrd_time_years"]], on=["strategy", "patient"])
    after = ev[ev["time_years"] > ev["esrd_time_years"]]
    assert set(after["event"]) <= {"transplant", "graft_failure", "death", "end_of_followup"}


def test_refractory_patients_were_classed_and_climbed(run):
    ev = run.events
    p = run.patients
    classed = ev[ev["event"] == "refractory"].groupby(["strategy", "patient"]).size()
    ref = p[p["refractory"]].set_index(["strategy", "patient"]).index
    assert set(ref) <= set(classed.index)
    # the highest step named is one the patient actually started
    starts = ev[ev["event"] == "therapy_start"].groupby(["strategy", "patient"])["detail"].agg(set)
    for row in p.itertuples():
        if row.highest_step != "induction":
            assert row.highest_step in starts.loc[(row.strategy, row.patient)]
            # on the ladder only if classed refractory, or sent there by a flare re-entry rule
            assert row.refractory_ever or row.n_renal_flares > 0


def test_switch_happens_only_at_assessment_months(run):
    """The induction agent is switched at an assessment time, or when a severe adverse event
    stopped the first course (stopping rule): then at that event, judged 'stopped'."""
    ev = run.events
    for s in run.model.scenario.strategies:
        first = ev[(ev["strategy"] == s.name)].groupby("patient").head(30)
        sw = first[first["event"] == "switch"].groupby("patient").head(1)
        t0 = sw["time_years"].to_numpy()
        stopped = first[(first["event"] == "assessment") & first["detail"].str.endswith(":stopped")]
        at_stop = sw.merge(stopped[["patient", "time_years"]], on=["patient", "time_years"], how="left",
                           indicator=True)["_merge"].eq("both").to_numpy()
        severe = first[(first["event"] == "adverse_event") & first["detail"].str.endswith(":severe")]
        assert set(zip(stopped["patient"], stopped["time_years"])) <= set(zip(severe["patient"], severe["time_years"]))
        ok = np.isclose(t0, s.first_assessment_months / 12) | np.isclose(t0, s.reassessment_months / 12) | at_stop
        # the first switch of patients still in their first induction course
        initial = sw.merge(run.patients[run.patients["strategy"] == s.name][["patient", "n_renal_flares"]])
        early = initial["time_years"] <= s.reassessment_months / 12 + 1e-9
        assert ok[early.to_numpy()].all()
        assert early.mean() > 0.5


def test_summary_has_every_required_metric(run):
    need = {"cr_6m", "cr_12m", "cr_24m", "response_6m", "response_12m", "median_time_to_cr_years", "refractory",
            "flares_per_patient_year", "esrd_5y", "esrd_10y", "esrd_15y", "death_5y", "death_10y", "life_years"}
    for s in run.model.scenario.strategies:
        got = set(run.summary.loc[run.summary["strategy"] == s.name, "metric"])
        assert need <= got
        assert {f"reached_{step}" for step in s.ladder} <= got


def test_patients_table_has_the_contract_columns(run):
    need = ["strategy", "patient", "isn_class", "ancestry", "age", "sex", "refractory", "highest_step",
            "n_renal_flares", "cr_time_years", "response_time_years", "esrd_time_years", "death_time_years",
            "followup_years"]
    assert list(run.patients.columns[:2]) == ["strategy", "patient"]
    assert set(need) <= set(run.patients.columns)
    assert run.patients["refractory"].dtype == bool
