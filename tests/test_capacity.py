"""Capacity limits: patients queue for scarce services, and waiting delays treatment."""
from __future__ import annotations

import numpy as np
import pytest

import sim
from tests.conftest import NO_INDUCTION_RESPONSE, load

# everyone fails induction, so every patient needs the MSC line
def run(slots):
    sc = load("capacity.yaml", ["strategies=[{name: msc_only, ladder: [msc]}]", "horizon_years=6",
                                f"capacity.msc_slots_per_month={slots}", "capacity.arrivals_per_year=120"]
              + NO_INDUCTION_RESPONSE)
    return sim.simulate(sc, patients=300, seed=4, costed=False)


@pytest.fixture(scope="module")
def tight():
    return run(1)


@pytest.fixture(scope="module")
def loose():
    return run(40)


def _msc_response_delay(r):
    ev = r.events
    ref = ev[ev["event"] == "refractory"].groupby("patient")["time_years"].min()
    resp = ev[(ev["event"] == "partial_response") & (ev["detail"] == "msc")].groupby("patient")["time_years"].min()
    both = ref.index.intersection(resp.index)
    return (resp[both] - ref[both]).mean()


def test_tighter_capacity_lengthens_waits(tight, loose):
    wt = tight.capacity.set_index("service").loc["msc_manufacturing"]
    wl = loose.capacity.set_index("service").loc["msc_manufacturing"]
    assert wt["mean_wait_days"] > wl["mean_wait_days"] + 30
    assert wt["utilisation"] > wl["utilisation"]
    assert 0 <= wl["utilisation"] <= 1 and 0 <= wt["utilisation"] <= 1


def test_tighter_capacity_delays_response(tight, loose):
    assert _msc_response_delay(tight) > _msc_response_delay(loose)
    s = {k: v.summary.set_index("metric")["value"] for k, v in (("t", tight), ("l", loose))}
    assert s["t"]["response_12m"] <= s["l"]["response_12m"]
    # patient by patient (same patients and streams): waiting never brings a response within 12 months
    # that the same patient would not have had without the wait
    early = {k: v.patients.set_index("patient")["response_time_years"].le(1.0) for k, v in (("t", tight), ("l", loose))}
    assert not (early["t"] & ~early["l"]).any() and early["l"].sum() > early["t"].sum()


def test_queueing_patients_have_active_nephritis_and_no_course(tight):
    st = tight.states
    waiting = st[st["therapy"].str.startswith("waiting:")]
    assert len(waiting) > 0
    assert (waiting["state"] == "active_nephritis").all()
    assert "queue" in set(tight.events["event"])


def test_capacity_run_keeps_the_invariants(tight):
    ev = tight.events
    last = ev.groupby("patient").tail(1)
    assert last["event"].isin(["death", "end_of_followup"]).all()
    for _, g in ev.groupby("patient"):
        assert np.all(np.diff(g["time_years"].to_numpy()) >= 0)
