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
from tests.test_fast_engine import SCENARIOS

FIELDS = ("cost", "qaly", "life_years", "cost_undiscounted", "qaly_undiscounted", "life_years_undiscounted",
          "cost_by_category", "esrd_time", "death_time")


@pytest.mark.parametrize("name", ["base", "renal_replacement", "stream_chunks", "workup", "severe_adverse_events"])
def test_aggregate_equals_the_kernel(name):
    file, overrides, n, seed = SCENARIOS[name]
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
