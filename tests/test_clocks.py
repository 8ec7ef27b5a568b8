"""The hazard clocks' searches (sim.model.clocks) against Python's bisect, the oracle."""
from __future__ import annotations

import bisect

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.clocks import bisect_from, bisect_right, cumulative, cumulative_in

sorted_lists = st.lists(st.integers(0, 20), min_size=1, max_size=30).map(lambda xs: sorted(float(x) for x in xs))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(a=sorted_lists, x=st.floats(-2, 22, allow_nan=False), guess=st.integers(0, 40))
def test_searches_equal_python_bisect(a, x, guess):
    """Ties and repeated breakpoints included, from any guess (also past the end)."""
    arr = np.array(a)
    want = bisect.bisect_right(a, x)
    assert bisect_right(arr, len(a), x) == want
    assert bisect_from(arr, len(a), x, guess) == want


def test_cumulative_in_equals_cumulative():
    bps = np.array([0.0, 0.4, 1.4, 2.4, 1e6])
    rates = np.array([0.1, 0.2, 0.3, 0.4])
    cum = np.concatenate([[0.0], np.cumsum(rates * np.diff(bps))])
    for t in (0.0, 0.2, 0.4, 1.0, 2.4, 30.0):
        k = bisect.bisect_right(list(bps), t)
        assert cumulative_in(bps, 5, cum, rates, t, k) == cumulative(bps, 5, cum, rates, t)
    assert cumulative(bps, 5, cum, rates, 1.0) == cum[1] + rates[1] * (1.0 - 0.4)      # by hand


CACHE_CHECK = """
import sys
import sim
from sim.model import clocks, course, pathway

checked = {"course": 0, "pathway": 0}


def checking(where):
    def clock_times(p, n_bps):
        # the cached times must always be those computed afresh from the clocks' state
        got = clocks.clock_times(p, n_bps)
        fresh = (clocks.death_time(p, n_bps), clocks.esrd_time(p))
        assert got == fresh or all(a == b or (a != a and b != b) for a, b in zip(got, fresh)), (got, fresh)
        checked[where] += 1
        return got
    return clock_times


course.clock_times = checking("course")          # every module of the core that reads the cached times
pathway.clock_times = checking("pathway")
sim.simulate(sim.load_scenario(sys.argv[2], sys.argv[3:]), patients=40, seed=6, engine="fast", costed=False)
sim.simulate(sim.load_scenario(sys.argv[1]), patients=60, seed=6, costed=False)      # queues: capacity limits
print(checked["course"], checked["pathway"])
"""


def test_cached_clock_times_equal_fresh_ones():
    """Run as plain Python, every wait's death and ESRD times (cached until the clocks change) equal
    those computed afresh, with kidney-damaging adverse events that rebase the ESRD clock; and so do
    the times a queue for a limited service reads (capacity limits)."""
    from tests.conftest import CASES, SCENARIOS, run_plain_python
    file, overrides, _, _ = CASES["severe_adverse_events"]
    out = run_plain_python(CACHE_CHECK, SCENARIOS / "capacity.yaml", SCENARIOS / file, *overrides, "horizon_years=20")
    waits, queues = (int(x) for x in out.split()[-2:])
    assert waits > 500 and queues > 10                 # many waits and queues checked
