"""The batch driver (``engine="fast"``) against the SimPy driver on hand-picked scenarios that exercise every
branch of the clinical core: identical trajectories, tables, costs and QALYs; aggregate mode
(sim.economics.aggregate) equal to sim.economics.evaluate; the compiled random streams and cohort
sampler (sim.engine.rng) equal to sim.engine.streams and the plain sampler bit for bit.
(tests/test_engines_agree.py checks the drivers on random scenarios.)"""
from __future__ import annotations

import numpy as np
import pandas.testing as pdt
import pytest

import sim
from sim.economics.aggregate import aggregate
from sim.engine import rng as compiled_rng
from sim.engine import streams
from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.inputs.build import build
from sim.inputs.therapies import ISN_CLASSES
from sim.model.quantiles import truncated_lognormal, truncated_normal
from tests.conftest import CASES as SCENARIOS, assert_aggregate_equals, compiled_stream, load


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


def test_aggregate_mode_equals_evaluate(pair):
    _, model, n, seed, ref, _ = pair
    agg = aggregate(model, n, seed)
    assert_aggregate_equals(agg, ref.economics)
    means = agg.means().set_index("strategy")
    for s in model.scenario.strategies:
        p = ref.patients[ref.patients["strategy"] == s.name]
        assert means.loc[s.name, "esrd"] == p["esrd_time_years"].notna().mean()
        assert means.loc[s.name, "death"] == p["death_time_years"].notna().mean()


def test_draws_key_the_streams():
    model = build(load("base.yaml"))
    a = sim.simulate(model, patients=100, seed=2, draw=3, costed=False)
    b = sim.simulate(model, patients=100, seed=2, draw=3, costed=False, engine="fast")
    pdt.assert_frame_equal(b.events, a.events, check_exact=True)
    c = aggregate(model, 100, 2, draw=4)
    assert not np.array_equal(c.cost, aggregate(model, 100, 2, draw=3).cost)


# ----------------------------------------------------------------------------------------------
# The building blocks, bit for bit
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed,draw,block", [(0, 0, 0), (20211227, 0, 3), (2**63 - 1, 2**40, 7), (5, 12, 1000)])
def test_streams_bit_for_bit(seed, draw, block):
    for name, shape in (("course:mmf", (8, 5)), ("cohort", (9,)), ("x", ())):
        np.testing.assert_array_equal(compiled_stream(seed, draw, block, name, shape),
                                      streams.uniforms(seed, draw, block, name, shape))
    for name, shape in (("clock:death", ()), ("clock:flare#1", (16,))):
        np.testing.assert_array_equal(compiled_stream(seed, draw, block, name, shape, exponential=True),
                                      streams.exponentials(seed, draw, block, name, shape))


def _oracle_block(pop, seed: int, draw: int, block: int) -> dict:
    """One block of patients sampled the plain way (numpy's generators, one block at a time; the
    quantile functions of sim.model.quantiles, which tests/test_libm.py checks against scipy's), the
    oracle of the compiled sampler."""
    def categorical(u, shares, order):
        labels = [k for k in order if shares.get(k, 0) > 0]
        cum = np.cumsum([shares[k] for k in labels])
        idx = np.searchsorted(cum / cum[-1], u, side="right")
        return np.asarray(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]
    u = streams.uniforms(seed, draw, block, "cohort", (9,))
    weight, height = truncated_normal(pop.weight_kg, u[:, 4]), truncated_normal(pop.height_cm, u[:, 5])
    return {"age": truncated_normal(pop.age_years, u[:, 0]), "female": u[:, 1] < pop.female,
            "isn_class": categorical(u[:, 2], pop.isn_class, ISN_CLASSES),
            "ancestry": categorical(u[:, 3], pop.ancestry, ANCESTRIES), "weight_kg": weight, "height_cm": height,
            "bsa_m2": np.sqrt(weight * height / 3600.0), "proteinuria_g_day": truncated_lognormal(pop.proteinuria_g_day, u[:, 6]),
            "egfr_ml_min": truncated_normal(pop.egfr_ml_min, u[:, 7]), "nonadherent": u[:, 8] < pop.nonadherent,
            "chronicity": categorical(streams.uniforms(seed, draw, block, "chronicity", ()), pop.chronicity, CHRONICITY),
            "lookalike": categorical(streams.uniforms(seed, draw, block, "lookalike", ()), pop.lookalike, LOOKALIKES)}


def test_course_numbers_are_the_streams_numbers_in_every_chunk():
    """A course's numbers are numpy's stream numbers for the patient's row, in the first chunk and in
    a later one ('#1', ...) the block added when a patient needed a ninth course of one drug: the core
    draws them all, the chunk's stream jumped to the course. The control: the block did need a later
    chunk (a core that read only the first chunk would fail here)."""
    from sim.engine.batch_driver import run_block
    from sim.engine.block import K_COURSES as K, Block, _chunk_name, block_rows, draw_cohort
    from sim.engine.records import Records
    from sim.model import layout as L
    from sim.model.build import compile_model
    from sim.model.work import ae_numbers, attach, course_numbers
    file, overrides, n, seed = SCENARIOS["stream_chunks"]
    cm = compile_model(build(load(file, overrides)))
    block = Block(cm, seed, 0, 0, block_rows(draw_cohort(cm, seed, 0, n), 0))
    assert block.have[0] == K                             # one chunk to start with
    rec = Records()
    for k in range(len(cm.strategies)):
        run_block(cm, k, block, block.rows, rec, keep=True)
    have = int(block.have[0])
    assert have > K                                         # a later chunk, for the whole block
    assert len(block.starts[0]) == (have // K) * len(cm.streams)
    assert len(block.starts[1]) == (have // K) * len(cm.ae_pairs)
    W = np.zeros(1, dtype=L.WORK)
    attach(W, cm.response, block.draws, rec.out)
    for r in (0, 1, block.rows - 1):
        for c in range(have // K):
            for s, name in enumerate(cm.streams):
                u = streams.uniforms(seed, 0, 0, _chunk_name(f"course:{name}", c), (K, 5))[r]
                for j in range(K):
                    assert course_numbers(W[0], r, s, c * K + j) == tuple(u[j])
            for pair, (s, kind) in enumerate(cm.ae_pairs):
                u = streams.uniforms(seed, 0, 0, _chunk_name(f"adverse_event:{cm.streams[s]}:{cm.kinds[kind]}", c),
                                     (K, 2))[r]
                for j in range(K):
                    assert ae_numbers(W[0], r, pair, c * K + j) == tuple(u[j])


def test_cohort_equals_the_plain_sampler():
    from scipy import stats
    pop = load("colombia.yaml").cohort
    c = compiled_rng.sample_cohort(pop, 8, 2, 600)
    # the quantile functions themselves against scipy's, on the same uniforms
    u = np.concatenate([streams.uniforms(8, 2, b, "cohort", (9,)) for b in range(3)])[:600]
    tn = pop.age_years
    np.testing.assert_allclose(c.age, stats.truncnorm.ppf(u[:, 0], (tn.min - tn.mean) / tn.sd, (tn.max - tn.mean) / tn.sd,
                                                          loc=tn.mean, scale=tn.sd), rtol=1e-12)
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
