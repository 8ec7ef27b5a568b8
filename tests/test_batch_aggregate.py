"""Aggregate mode of the batch driver (each trajectory priced from its records, sim.economics.aggregate) against
the compiled kernel of sim.engine.fast_engine, which the PSA still uses: equal bit for bit on scenarios that
exercise every pricing rule (courses, maintenance, flares, work-up, adverse events, renal replacement)."""
from __future__ import annotations

import numpy as np
import pytest

from sim.engine import fast_engine as fe
from sim.economics.aggregate import aggregate
from sim.inputs.build import build
from tests.conftest import load
from tests.test_fast_engine import SCENARIOS as CASES

FIELDS = ("cost", "qaly", "life_years", "cost_undiscounted", "qaly_undiscounted", "life_years_undiscounted",
          "cost_by_category", "esrd_time", "death_time")


@pytest.mark.parametrize("name", ["base", "renal_replacement", "stream_chunks", "workup", "severe_adverse_events"])
def test_aggregate_equals_the_kernel(name):
    file, overrides, n, seed = CASES[name]
    model = build(load(file, overrides))
    old = fe.aggregate(model, n, seed, 3)
    new = aggregate(model, n, seed, 3)
    assert new.strategies == old.strategies
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(new, f), getattr(old, f), err_msg=f)
    assert new.wtp == old.wtp
    # the prices matter: another discount rate changes the result (the comparison can fail)
    other = aggregate(model, n, seed, 3, econ=model.scenario.economics.model_copy(update={"discount_costs": 0.07}))
    assert not np.array_equal(other.cost, new.cost)


@pytest.mark.parametrize("name", ["workup", "severe_adverse_events"])
def test_aggregate_equals_evaluate_on_the_tables(name):
    """The records route prices like the table route (sim.economics.evaluate), to rounding: an oracle
    that stays when the old kernel is gone."""
    import sim
    file, overrides, n, seed = CASES[name]
    model = build(load(file, overrides))
    agg = aggregate(model, n, seed, 2)
    ref = sim.simulate(model, patients=n, seed=seed, draw=2, engine="fast")
    got, want = agg.frame(), ref.economics.patients.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert got["strategy"].tolist() == want["strategy"].tolist() and got["patient"].tolist() == want["patient"].tolist()
    for col in got.columns[2:]:
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=col)
    assert got["cost"].sum() > 0 and got["qaly"].sum() > 0


def test_aggregate_refuses_capacity_limits():
    from sim.errors import InputError
    with pytest.raises(InputError, match="capacity"):
        aggregate(build(load("capacity.yaml")), 10, 1)


# Strategies that differ only in their ladder share each life until the ladder (the batch driver runs
# that part once): exactly the results of running every strategy whole, whatever re-enters the ladder
LADDER_ONLY = {
    "base": ("base.yaml", [], 400, 4),
    "reentry_at_a_step": ("base.yaml", [
        "strategies.0.flare_reentry=msc", "strategies.1.flare_reentry=msc",
        "strategies.1.ladder=[rituximab, msc, tacrolimus_multitarget]", "strategies.0.ladder=[rituximab_belimumab, msc]",
        "parameters.flare_rate_remission=0.6"], 300, 5),
    "reentry_at_the_ladder_with_rescue_and_workup": ("base.yaml", [
        "strategies.0.flare_reentry=ladder", "strategies.1.flare_reentry=ladder",
        "strategies.0.workup.repeat_biopsy=true", "strategies.1.workup.repeat_biopsy=true",
        "strategies.1.after_severe_infection=immunoadsorption",
        "parameters.adverse_event_severe_share_serious_infection=1", "parameters.flare_rate_remission=0.6"], 300, 6),
    "stream_chunks": CASES["stream_chunks"],
}


@pytest.mark.parametrize("name", list(LADDER_ONLY))
def test_sharing_lives_until_the_ladder_changes_nothing(name):
    from sim.model.build import compile_model
    file, overrides, n, seed = LADDER_ONLY[name]
    model = build(load(file, overrides))
    assert compile_model(model).same_until_ladder(1), "the case must exercise the sharing"
    shared, whole = aggregate(model, n, seed, 1), aggregate(model, n, seed, 1, share=False)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(shared, f), getattr(whole, f), err_msg=f)
    # the strategies do differ (a control: equal strategies would pass trivially)
    assert not np.array_equal(shared.cost[0], shared.cost[1])


@pytest.mark.parametrize("override", ["strategies.1.first_assessment_months=4", "strategies.1.workup.repeat_biopsy=true",
                                      "strategies.1.flare_reentry=induction", "strategies.1.induction=cyc_nih"])
def test_only_ladder_differences_are_shared(override):
    """A strategy that differs before the ladder (timing, work-up, re-entry, induction agent) is run whole."""
    from sim.model.build import compile_model
    assert compile_model(build(load("base.yaml", []))).same_until_ladder(1)
    assert not compile_model(build(load("base.yaml", [override]))).same_until_ladder(1)
