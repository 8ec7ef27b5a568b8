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
from sim.model import clocks, course

checked = [0]


def clock_times(p, n_bps):
    # the cached times must always be those computed afresh from the clocks' state
    got = clocks.clock_times(p, n_bps)
    fresh = (clocks.death_time(p, n_bps), clocks.esrd_time(p))
    assert got == fresh or all(a == b or (a != a and b != b) for a, b in zip(got, fresh)), (got, fresh)
    checked[0] += 1
    return got


course.clock_times = clock_times
sim.simulate(sim.load_scenario(sys.argv[1], sys.argv[2:]), patients=40, seed=6, engine="fast", costed=False)
print(checked[0])
"""


def test_cached_clock_times_equal_fresh_ones():
    """Run as plain Python, every wait's death and ESRD times (cached until the clocks change) equal
    those computed afresh, with kidney-damaging adverse events that rebase the ESRD clock."""
    from tests.conftest import CASES, SCENARIOS, run_plain_python
    file, overrides, _, _ = CASES["severe_adverse_events"]
    out = run_plain_python(CACHE_CHECK, SCENARIOS / file, *overrides, "horizon_years=20")
    assert int(out.split()[-1]) > 500                  # many waits checked
