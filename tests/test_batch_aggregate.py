"""Aggregate mode of the batch driver (each trajectory priced from its records, sim.economics.aggregate), as
the PSA uses it: equal to sim.economics.evaluate on the tables of the same trajectories (to rounding:
sums in another order; tests/test_batch_driver.py checks this on every hand-picked scenario, and the
PSA golden pins it exactly), with sampled tables and other discount rates; strategies that differ only
in their ladder share each life until the ladder without changing any result."""
from __future__ import annotations

import numpy as np
import pytest

import dataclasses

import sim
from sim.inputs.economic_settings import Economics
from sim.economics.evaluate import evaluate
from sim.inputs.economic_tables import load_cost_table, load_utility_table
from sim.economics.aggregate import aggregate
from sim.inputs.build import build
from sim.model.build import compile_model
from tests.conftest import CASES, assert_aggregate_equals, assert_same_aggregate, load


def test_aggregate_mode_with_other_tables_and_discounting():
    """As a probabilistic analysis uses it: sampled cost and utility tables, other discount rates."""
    model = build(load("exploratory.yaml"))
    ref = sim.simulate(model, patients=200, seed=3, costed=False)
    rng = np.random.default_rng(1)
    costs, utils = load_cost_table(), load_utility_table()
    ct = costs.table.copy()
    ct["value"] = ct["value"] * rng.uniform(0.5, 1.5, len(ct))
    ut = utils.table.copy()
    ut["value"] = np.minimum(ut["value"] * rng.uniform(0.9, 1.1, len(ut)), 1.0)
    costs, utils = dataclasses.replace(costs, table=ct), dataclasses.replace(utils, table=ut)
    econ = Economics(discount_costs=0.05, discount_outcomes=0.015, vial_wastage=False)
    want = evaluate(ref, econ, cost_table=costs, utility_table=utils)
    assert_aggregate_equals(aggregate(model, 200, 3, econ=econ, cost_table=costs, utility_table=utils), want)
    # undiscounted
    econ0 = Economics(discount_costs=0, discount_outcomes=0)
    undiscounted = aggregate(model, 200, 3, econ=econ0)
    assert_aggregate_equals(undiscounted, evaluate(ref, econ0))
    # the prices matter: another discount rate changes the result (the comparison can fail)
    assert not np.array_equal(undiscounted.cost, aggregate(model, 200, 3, econ=econ).cost)


def test_three_strategies_sharing_with_their_own_reentry_steps():
    """Re-entry at a strategy-specific ladder step (the same index), and a third strategy with another
    re-entry rule, run whole; both equal evaluate on the SimPy driver's tables."""
    sc = load("base.yaml", [
        "strategies=[{name: a, ladder: [rituximab_belimumab, tacrolimus_multitarget, msc], "
        "flare_reentry: tacrolimus_multitarget}, {name: b, ladder: [rituximab, msc, tacrolimus_multitarget], "
        "flare_reentry: msc}, {name: c, ladder: [msc]}]"])
    model = build(sc)
    cm = compile_model(model)
    assert [cm.same_until_ladder(k) for k in (1, 2)] == [True, False]       # c re-enters at its induction agent
    ref = sim.simulate(model, patients=300, seed=4)
    assert_aggregate_equals(aggregate(model, 300, 4), ref.economics)


def test_sharing_with_a_workup_before_the_ladder():
    """The work-up and the look-alikes' management come before the ladder: strategies that differ in
    them are run whole; strategies with the same work-up share (also where strategy 0 first climbs the
    ladder after a look-alike's management failed at a flare)."""
    wk = "workup: {screen_lookalikes: true, repeat_biopsy: true}"
    sc = load("base.yaml", [
        f"strategies=[{{name: a, ladder: [rituximab_belimumab, tacrolimus_multitarget, msc], {wk}, "
        f"flare_reentry: tacrolimus_multitarget}}, {{name: b, ladder: [rituximab, msc, tacrolimus_multitarget], "
        f"{wk}, flare_reentry: msc}}, {{name: c, ladder: [rituximab_belimumab, tacrolimus_multitarget, msc], "
        f"flare_reentry: tacrolimus_multitarget, workup: {{screen_lookalikes: true}}}}]",
        "cohort.lookalike={none: 0.4, tma: 0.2, aps_nephropathy: 0.2, membranous: 0.2}",
        "parameters.flare_rate_remission=0.6", "parameters.adverse_event_severe_share_serious_infection=0.8"])
    model = build(sc)
    cm = compile_model(model)
    assert [cm.same_until_ladder(k) for k in (1, 2)] == [True, False]
    ref = sim.simulate(model, patients=400, seed=4)
    assert_aggregate_equals(aggregate(model, 400, 4), ref.economics)


def test_unpriced_drug_raises_only_when_used():
    """evaluate() raises for a drug without a price only if a course of it happens; so does aggregate."""
    model = build(load("base.yaml"))
    costs = load_cost_table()
    ct = costs.table[costs.table["item"] != "mesenchymal_stem_cells"].reset_index(drop=True)
    costs = dataclasses.replace(costs, table=ct)
    with pytest.raises(sim.InputError):
        aggregate(model, 300, 1, cost_table=costs)          # some of 300 patients reach MSC
    ok = build(load("base.yaml", [
        "strategies.0.ladder=[rituximab_belimumab, tacrolimus_multitarget, immunoadsorption]",
        "strategies.1.ladder=[rituximab, tacrolimus_multitarget, immunoadsorption]"]))
    aggregate(ok, 300, 1, cost_table=costs)


def test_aggregate_refuses_capacity_limits():
    from sim.errors import InputError
    with pytest.raises(InputError, match="capacity"):
        aggregate(build(load("capacity.yaml")), 10, 1)


# Strategies that differ only in their ladder share each life until the ladder (the batch driver runs
# that part once): exactly the results of running every strategy whole, whatever re-enters the ladder
LADDER_ONLY = {
    "base": CASES["base"],
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
    file, overrides, n, seed = LADDER_ONLY[name]
    model = build(load(file, overrides))
    assert compile_model(model).same_until_ladder(1), "the case must exercise the sharing"
    shared, whole = aggregate(model, n, seed, 1), aggregate(model, n, seed, 1, share=False)
    assert_same_aggregate(shared, whole)
    # the strategies do differ (a control: equal strategies would pass trivially)
    assert not np.array_equal(shared.cost[0], shared.cost[1])


@pytest.mark.parametrize("override", ["strategies.1.first_assessment_months=4", "strategies.1.workup.repeat_biopsy=true",
                                      "strategies.1.flare_reentry=induction", "strategies.1.induction=cyc_nih"])
def test_only_ladder_differences_are_shared(override):
    """A strategy that differs before the ladder (timing, work-up, re-entry, induction agent) is run whole."""
    assert compile_model(build(load("base.yaml", []))).same_until_ladder(1)
    assert not compile_model(build(load("base.yaml", [override]))).same_until_ladder(1)


def test_a_run_after_other_runs_equals_a_fresh_run(monkeypatch):
    """Aggregate mode takes the memory of the previous run (block and record buffers,
    sim.economics.aggregate._SCRATCH). A run after runs of other scenarios and patient counts (a work-up,
    whose records hold work-up numbers; a longer block; more streams) equals the same run from fresh memory."""
    from sim.economics import aggregate as aggregate_module
    runs = {name: (build(load(CASES[name][0], CASES[name][1])), n, seed)
            for name, n, seed in (("workup", 300, 8), ("stream_chunks", 100, 17), ("base", 130, 11))}

    def fresh(name):
        monkeypatch.setattr(aggregate_module, "_SCRATCH", [])
        model, n, seed = runs[name]
        return aggregate(model, n, seed, 3)
    want = {name: fresh(name) for name in runs}
    monkeypatch.setattr(aggregate_module, "_SCRATCH", [])
    for i, name in enumerate(("workup", "stream_chunks", "base", "workup", "base", "stream_chunks")):
        model, n, seed = runs[name]
        assert bool(aggregate_module._SCRATCH) == (i > 0)          # every run but the first reuses memory
        got = aggregate(model, n, seed, 3)
        assert_same_aggregate(got, want[name], name)


def test_the_events_aggregate_mode_ignores_are_not_priced_by_the_table_route():
    """Aggregate mode looks up what to do with each event code (ACTION) and skips the codes mapped to
    nothing. The table route (evaluate) gives the same costs and QALYs when those events are dropped
    from the events table, on scenarios holding every kind of event (a work-up with screening and
    repeat biopsies, flares, renal replacement): so the table route prices none of them. The control:
    dropping a code aggregate mode prices (renal flares, adverse events) changes the costs."""
    import pandas.testing as pdt
    from sim.economics.aggregate import ACTION, DO_NOTHING
    from sim.model import events as E
    ignored = [E.CODES[c] for c in range(len(E.CODES)) if ACTION[c] == DO_NOTHING]
    assert {"assessment", "switch", "refractory"} <= set(ignored)
    assert not {"therapy_start", "maintenance_start", "renal_flare", "adverse_event", "transplant",
                "lookalike_screen", "repeat_biopsy", "death", "end_of_followup"} & set(ignored)
    for name in ("workup", "renal_replacement"):
        file, overrides, _, seed = CASES[name]
        res = sim.simulate(load(file, overrides), patients=150, seed=seed, costed=False)
        assert {"renal_flare", "adverse_event"} <= set(res.events["event"])
        ref = evaluate(res).patients
        kept = dataclasses.replace(res, events=res.events[~res.events["event"].isin(ignored)])
        pdt.assert_frame_equal(evaluate(kept).patients, ref, check_exact=True)
        for priced in ("renal_flare", "adverse_event"):
            other = dataclasses.replace(res, events=res.events[res.events["event"] != priced])
            assert not evaluate(other).patients["cost"].equals(ref["cost"])
