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
