"""The fast engine (sim.engine.fast_engine) against the SimPy engine: identical trajectories, tables, costs
and QALYs; aggregate mode equal to sim.economics.evaluate; its random streams and cohort equal to
sim.engine.streams and sim.inputs.cohort bit for bit."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas.testing as pdt
import pytest

import sim
from sim.engine import fast_engine as fe
from sim.engine import rng as compiled_rng
from sim.engine import streams
from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.inputs.economic_settings import Economics
from sim.economics.evaluate import evaluate
from sim.inputs.economic_tables import load_cost_table, load_utility_table
from sim.inputs.build import build
from sim.inputs.therapies import ISN_CLASSES
from tests.conftest import load

# name -> (scenario file, overrides, patients, seed)
SCENARIOS = {
    "base": ("base.yaml", [], 300, 11),
    "eular_vs_acr": ("eular_vs_acr.yaml", [], 300, 5),
    # flare re-entry at the start of the ladder / at induction, mixed induction agents (induction_choice stream)
    "ladder_reentry_mixed_induction": ("base.yaml", [
        "strategies.0.flare_reentry=ladder", "strategies.0.induction={cyc_nih: 0.5, mmf: 0.5}",
        "strategies.1.flare_reentry=induction", "strategies.1.induction={cyc_nih: 0.3, mmf: 0.7}",
        "parameters.flare_rate_remission=0.3"], 300, 7),
    # many flares and ESRD in a short horizon: dialysis, transplant and graft failure
    "renal_replacement": ("base.yaml", [
        "horizon_years=12", "parameters.flare_rate_remission=0.8", "parameters.esrd_rate_active=0.3",
        "parameters.esrd_rate_partial=0.15", "parameters.esrd_rate_complete=0.08",
        "parameters.transplant_rate_on_dialysis=0.5", "parameters.graft_failure_rate=0.3"], 300, 9),
    # more than 16 flares and 8 courses of one drug per patient: the '#1', '#2' stream chunks
    "stream_chunks": ("base.yaml", ["parameters.flare_rate_remission=3", "parameters.maintenance_years=0.5",
                                    "horizon_years=30"], 100, 17),
    # work-up of a non-response (screening and repeat biopsy; screening only), many look-alikes and much
    # chronic damage: reclassification, no escalation, the look-alikes' management, also after a flare
    "workup": ("base.yaml", [
        "strategies.0.workup.repeat_biopsy=true", "strategies.0.workup.screen_lookalikes=true",
        "strategies.1.workup.screen_lookalikes=true",
        "cohort.lookalike={none: 0.4, tma: 0.2, aps_nephropathy: 0.2, membranous: 0.2}",
        "cohort.chronicity={low: 0.3, moderate: 0.3, high: 0.4}", "parameters.flare_rate_remission=0.4"], 400, 8),
    # every serious infection and CNI nephrotoxicity severe (stops the course), kidney-damaging adverse
    # events with large ESRD hazard ratios (rebased hazard clocks), with a work-up; immunoadsorption after
    # a severe infection (A59) in the strategy whose ladder also ends with it
    "severe_adverse_events": ("base.yaml", [
        "strategies.0.after_severe_infection=immunoadsorption",
        "parameters.adverse_event_severe_share_serious_infection=1",
        "parameters.adverse_event_severe_share_cni_nephrotoxicity=1",
        "parameters.adverse_event_esrd_hr_cni_nephrotoxicity=4", "parameters.adverse_event_severe_share_hypertension=1",
        "strategies.1.workup.repeat_biopsy=true"], 400, 12),
}


@pytest.fixture(scope="module", params=list(SCENARIOS))
def pair(request):
    file, overrides, n, seed = SCENARIOS[request.param]
    model = build(load(file, overrides))
    ref = sim.simulate(model, patients=n, seed=seed)
    fast = sim.simulate(model, patients=n, seed=seed, engine="fast")
    return request.param, model, n, seed, ref, fast


def test_identical_tables_costs_and_qalys(pair):
    name, _, _, _, ref, fast = pair
    for table in ("patients", "events", "states", "summary"):
        pdt.assert_frame_equal(getattr(fast, table), getattr(ref, table), check_exact=True, obj=f"{name}.{table}")
    pdt.assert_frame_equal(fast.economics.patients, ref.economics.patients, check_exact=True)
    pdt.assert_frame_equal(fast.cea, ref.cea, check_exact=True)
    if name == "renal_replacement":
        ev = set(ref.events["event"])
        assert {"esrd", "transplant", "graft_failure", "renal_flare", "adverse_event", "death"} <= ev
    if name == "stream_chunks":
        assert ref.patients["n_renal_flares"].max() > 16
    if name == "ladder_reentry_mixed_induction":
        assert set(ref.patients["induction"]) == {"cyc_nih", "mmf"}
    ev = ref.events
    if name == "workup":
        assert {"lookalike_screen", "repeat_biopsy", "reclassified"} <= set(ev["event"])
        assert {"chronic_damage", "tma", "aps_nephropathy", "membranous"} <= set(ev.loc[ev["event"] == "reclassified",
                                                                                        "detail"])
        management = ev[(ev["event"] == "therapy_start") & ev["detail"].isin(
            ["plasma_exchange_tma", "anticoagulation_immunoadsorption", "membranous_cni"])]
        flares = ev.loc[ev["event"] == "renal_flare", ["strategy", "patient", "time_years"]]
        assert len(management.merge(flares, on=["strategy", "patient", "time_years"])) > 0   # after a flare
        assert ref.patients["failed_induction"].any() and (ref.patients["workup_finding"] == "none").any()
    if name == "severe_adverse_events":
        assert ev["detail"].str.endswith("_nephrotoxicity:severe").any()
        assert ev["detail"].str.endswith(":stopped").any()
        assert ref.patients["courses_stopped_by_adverse_event"].max() > 1
        s0 = ev[ev["strategy"] == ref.model.scenario.strategies[0].name]
        stopped = s0[(s0["event"] == "assessment") & s0["detail"].str.endswith(":stopped")
                     & ~s0["detail"].str.startswith(("mmf", "cyc"))]
        rescue = s0[(s0["event"] == "therapy_start") & (s0["detail"] == "immunoadsorption")]
        assert len(rescue.merge(stopped[["patient", "time_years"]], on=["patient", "time_years"])) > 0


def _assert_aggregate_equals(agg: fe.AggregateResult, ev) -> None:
    got = agg.frame()
    want = ev.patients.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    pdt.assert_frame_equal(got[["strategy", "patient"]], want[["strategy", "patient"]])
    for col in got.columns[2:]:
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-9, atol=0, err_msg=col)


def test_aggregate_mode_equals_evaluate(pair):
    _, model, n, seed, ref, _ = pair
    agg = fe.aggregate(model, n, seed)
    _assert_aggregate_equals(agg, ref.economics)
    means = agg.means().set_index("strategy")
    for s in model.scenario.strategies:
        p = ref.patients[ref.patients["strategy"] == s.name]
        assert means.loc[s.name, "esrd"] == p["esrd_time_years"].notna().mean()
        assert means.loc[s.name, "death"] == p["death_time_years"].notna().mean()


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
    eng = fe.FastEngine(model)
    _assert_aggregate_equals(eng.aggregate(200, 3, econ=econ, cost_table=costs, utility_table=utils), want)
    # undiscounted
    econ0 = Economics(discount_costs=0, discount_outcomes=0)
    _assert_aggregate_equals(eng.aggregate(200, 3, econ=econ0), evaluate(ref, econ0))


def test_aggregate_resumes_strategies_that_differ_only_in_the_ladder():
    """Aggregate mode resumes such strategies from strategy 0's state at its first ladder entry; here
    with re-entry at a strategy-specific ladder step and a third strategy with a shorter ladder."""
    sc = load("base.yaml", [
        "strategies=[{name: a, ladder: [rituximab_belimumab, tacrolimus_multitarget, msc], "
        "flare_reentry: tacrolimus_multitarget}, {name: b, ladder: [rituximab, msc, tacrolimus_multitarget], "
        "flare_reentry: msc}, {name: c, ladder: [msc]}]"])
    model = build(sc)
    assert fe.FastEngine(model)._equiv.tolist() == [0, 1, 0]       # c re-enters at its induction agent
    ref = sim.simulate(model, patients=300, seed=4)
    _assert_aggregate_equals(fe.aggregate(model, 300, 4), ref.economics)
    _assert_aggregate_equals(fe.aggregate(model, 300, 4, threads=2), ref.economics)


def test_aggregate_resumes_only_strategies_with_the_same_workup():
    """The work-up and the look-alikes' management come before the ladder: strategies that differ in
    them are simulated in full; strategies with the same work-up are resumed (also where strategy 0
    first climbs the ladder after a look-alike's management failed at a flare: from step 0, whatever
    the resumed strategy's re-entry rule)."""
    wk = "workup: {screen_lookalikes: true, repeat_biopsy: true}"
    sc = load("base.yaml", [
        f"strategies=[{{name: a, ladder: [rituximab_belimumab, tacrolimus_multitarget, msc], {wk}, "
        f"flare_reentry: tacrolimus_multitarget}}, {{name: b, ladder: [rituximab, msc, tacrolimus_multitarget], "
        f"{wk}, flare_reentry: msc}}, {{name: c, ladder: [rituximab_belimumab, tacrolimus_multitarget, msc], "
        f"flare_reentry: tacrolimus_multitarget, workup: {{screen_lookalikes: true}}}}]",
        "cohort.lookalike={none: 0.4, tma: 0.2, aps_nephropathy: 0.2, membranous: 0.2}",
        "parameters.flare_rate_remission=0.6", "parameters.adverse_event_severe_share_serious_infection=0.8"])
    model = build(sc)
    assert fe.FastEngine(model)._equiv.tolist() == [0, 1, 0]
    ref = sim.simulate(model, patients=400, seed=4)
    _assert_aggregate_equals(fe.aggregate(model, 400, 4), ref.economics)


def test_draws_key_the_streams():
    model = build(load("base.yaml"))
    a = sim.simulate(model, patients=100, seed=2, draw=3, costed=False)
    b = sim.simulate(model, patients=100, seed=2, draw=3, costed=False, engine="fast")
    pdt.assert_frame_equal(b.events, a.events, check_exact=True)
    c = fe.FastEngine(model).aggregate(100, 2, draw=4)
    assert not np.array_equal(c.cost, fe.FastEngine(model).aggregate(100, 2, draw=3).cost)


# ----------------------------------------------------------------------------------------------
# The building blocks, bit for bit
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed,draw,block", [(0, 0, 0), (20211227, 0, 3), (2**63 - 1, 2**40, 7), (5, 12, 1000)])
def test_streams_bit_for_bit(seed, draw, block):
    for name, shape in (("course:mmf", (8, 5)), ("cohort", (9,)), ("x", ())):
        np.testing.assert_array_equal(compiled_rng.uniforms(seed, draw, block, name, shape),
                                      streams.uniforms(seed, draw, block, name, shape))
    for name, shape in (("clock:death", ()), ("clock:flare#1", (16,))):
        np.testing.assert_array_equal(compiled_rng.exponentials(seed, draw, block, name, shape),
                                      streams.exponentials(seed, draw, block, name, shape))


def test_jumps_reach_the_same_numbers():
    """Uniforms are read by jumping the generator to a row's position, not by drawing the block."""
    rng = np.random.default_rng(0)
    for K, m in ((8, 5), (8, 2), (16, 1), (1, 1)):
        name = f"adverse_event:rituximab:x{K}{m}#2"
        full = streams.uniforms(7, 1, 2, name, (K, m) if m > 1 else ((K,) if K > 1 else ()))
        full = full.reshape(streams.BLOCK_SIZE, K, m)
        for row, j in zip(rng.integers(0, 256, 20), rng.integers(0, K, 20)):
            got = compiled_rng.jump_uniforms(7, 1, 2, name, K, m, int(row), int(j))
            np.testing.assert_array_equal(got, full[row, j])


def _oracle_block(pop, seed: int, draw: int, block: int) -> dict:
    """One block of patients sampled the plain way (numpy's generators, scipy's public quantile
    functions), the oracle of the compiled sampler."""
    def categorical(u, shares, order):
        labels = [k for k in order if shares.get(k, 0) > 0]
        cum = np.cumsum([shares[k] for k in labels])
        idx = np.searchsorted(cum / cum[-1], u, side="right")
        return np.asarray(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]
    u = streams.uniforms(seed, draw, block, "cohort", (9,))
    weight, height = pop.weight_kg.ppf(u[:, 4]), pop.height_cm.ppf(u[:, 5])
    return {"age": pop.age_years.ppf(u[:, 0]), "female": u[:, 1] < pop.female,
            "isn_class": categorical(u[:, 2], pop.isn_class, ISN_CLASSES),
            "ancestry": categorical(u[:, 3], pop.ancestry, ANCESTRIES), "weight_kg": weight, "height_cm": height,
            "bsa_m2": np.sqrt(weight * height / 3600.0), "proteinuria_g_day": pop.proteinuria_g_day.ppf(u[:, 6]),
            "egfr_ml_min": pop.egfr_ml_min.ppf(u[:, 7]), "nonadherent": u[:, 8] < pop.nonadherent,
            "chronicity": categorical(streams.uniforms(seed, draw, block, "chronicity", ()), pop.chronicity, CHRONICITY),
            "lookalike": categorical(streams.uniforms(seed, draw, block, "lookalike", ()), pop.lookalike, LOOKALIKES)}


def test_cohort_equals_the_plain_sampler():
    pop = load("colombia.yaml").cohort
    c = compiled_rng.sample_cohort(pop, 8, 2, 600)
    blocks = [_oracle_block(pop, 8, 2, b) for b in range(3)]
    for attr in ("age", "female", "nonadherent", "weight_kg", "height_cm", "bsa_m2", "proteinuria_g_day",
                 "egfr_ml_min"):
        np.testing.assert_array_equal(getattr(c, attr), np.concatenate([b[attr] for b in blocks])[:600])
    for attr, order in (("chronicity", CHRONICITY), ("lookalike", LOOKALIKES), ("isn_class", ISN_CLASSES),
                        ("ancestry", ANCESTRIES)):
        labels = np.concatenate([b[attr] for b in blocks])[:600]
        assert list(np.array(order, dtype=object)[getattr(c, attr)]) == list(labels)


def test_capacity_scenarios_are_refused():
    sc = load("capacity.yaml")
    with pytest.raises(sim.InputError, match="no capacity limits.*allowed: simpy"):
        sim.simulate(sc, patients=10, engine="fast")
    with pytest.raises(ValueError, match="without capacity limits only"):
        fe.FastEngine(build(sc))


def test_unpriced_drug_raises_only_when_used():
    """evaluate() raises for a drug without a price only if a course of it happens; so does aggregate."""
    model = build(load("base.yaml"))
    costs = load_cost_table()
    ct = costs.table[costs.table["item"] != "mesenchymal_stem_cells"].reset_index(drop=True)
    costs = dataclasses.replace(costs, table=ct)
    eng = fe.FastEngine(model)
    with pytest.raises(sim.InputError):
        eng.aggregate(300, 1, cost_table=costs)          # some of 300 patients reach MSC
    ok = fe.FastEngine(build(load("base.yaml", [
        "strategies.0.ladder=[rituximab_belimumab, tacrolimus_multitarget, immunoadsorption]",
        "strategies.1.ladder=[rituximab, tacrolimus_multitarget, immunoadsorption]"])))
    ok.aggregate(300, 1, cost_table=costs)
