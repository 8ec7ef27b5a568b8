"""The drivers' record buffers: when they fill up, the core stops before it changes anything
(RECORDS_FULL), the driver flushes or grows them, and the tables are the same as with room to spare."""
from __future__ import annotations

import pandas.testing as pdt
import pytest

import sim
from sim.economics import aggregate as aggregate_module
from sim.economics.aggregate import aggregate
from sim.engine import records
from sim.inputs.build import build
from tests.conftest import assert_same_aggregate, load

OVERRIDES = ["parameters.flare_rate_remission=0.5", "horizon_years=20"]


@pytest.fixture(scope="module")
def model():
    return build(load("workup.yaml", OVERRIDES))


@pytest.fixture
def tiny_buffers(monkeypatch):
    """Record buffers with room for one step (64 records) and a little, none left by an earlier run;
    counts how often the drivers flush and grow them."""
    monkeypatch.setattr(records.Records, "CAPACITY", 80)
    monkeypatch.setattr(aggregate_module, "_SCRATCH", [])
    counts = {"flush": 0, "grow": 0}
    for name in counts:
        method = getattr(records.Records, name)

        def counted(self, method=method, name=name):
            counts[name] += 1
            return method(self)
        monkeypatch.setattr(records.Records, name, counted)
    return counts


def test_tiny_buffers_give_the_same_tables(model, engine, request):
    roomy = sim.simulate(model, patients=120, seed=4, engine=engine, costed=False)
    counts = request.getfixturevalue("tiny_buffers")
    tiny = sim.simulate(model, patients=120, seed=4, engine=engine, costed=False)
    assert counts["flush"] > 50                                     # the buffers did fill, many times
    for t in ("patients", "events", "states"):
        pdt.assert_frame_equal(getattr(tiny, t), getattr(roomy, t), check_exact=True)


def test_tiny_buffers_grow_in_aggregate_mode(model, request):
    roomy = aggregate(model, 120, 4)
    counts = request.getfixturevalue("tiny_buffers")
    tiny = aggregate(model, 120, 4)
    assert counts["grow"] > 0                                       # the buffers did grow
    assert_same_aggregate(tiny, roomy)


def test_tiny_buffers_grow_while_strategies_share_lives(monkeypatch, request):
    """Strategies that differ only in their ladder share each life until the ladder
    (sim.engine.batch_driver.run_block_shared): buffers too small for the records of strategy 0's
    whole block, and for those the other strategy writes from the ladder on, must grow, and nothing
    changes. Buffers smaller than one step's records make the other strategy ask for room before the
    ladder's first step, too (the check run_from_ladder makes before it resumes a patient)."""
    from sim.model.build import compile_model
    model = build(load("base.yaml", OVERRIDES))
    assert compile_model(model).same_until_ladder(1)
    roomy = aggregate(model, 200, 5)
    counts = request.getfixturevalue("tiny_buffers")
    monkeypatch.setattr(records.Records, "CAPACITY", 40)            # below one step's records
    from sim.engine import batch_driver
    from sim.model import layout as L
    from_ladder, statuses = batch_driver.run_from_ladder, []

    def watched(*a):
        st, i = from_ladder(*a)
        P = a[0]
        statuses.append((st, i < len(P) and P[i]["phase"] == L.START))
        return st, i
    monkeypatch.setattr(batch_driver, "run_from_ladder", watched)
    tiny = aggregate(model, 200, 5)
    assert counts["grow"] > 4
    assert (L.RECORDS_FULL, True) in statuses          # asked for room before resuming a patient at the ladder
    assert (L.RECORDS_FULL, False) in statuses         # and while going on from there
    assert_same_aggregate(tiny, roomy)
