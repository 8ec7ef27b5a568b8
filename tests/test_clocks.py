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


@settings(max_examples=300, deadline=None, derandomize=True)
@given(a=st.lists(st.integers(0, 20), max_size=12).map(lambda xs: sorted(float(x) for x in xs)),
       x=st.floats(allow_nan=True, allow_infinity=True), top=st.booleans(), junk=st.floats(-5, 25))
def test_branchless_search_equals_python_bisect_everywhere(a, x, top, junk):
    """The branchless search (no jump depends on the data) on any non-decreasing table: empty ones,
    a last breakpoint at infinity, and targets that are NaN or infinite; what lies past the table's
    end is never read."""
    if top and a:
        a[-1] = float("inf")
    arr = np.array(a + [junk, junk])
    assert bisect_right(arr, len(a), x) == bisect.bisect_right(a, x)


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
from sim.inputs.build import build
from sim.model import clocks, course, pathway
from sim.model.hazards import death_slots, death_spec

checked = {"course": 0, "pathway": 0}


def checking(where):
    def clock_times(m, p):
        # the cached times must always be those computed afresh from the clocks' state
        slot = int(m.d_slot[int(p.state)])
        assert slot == SLOTS[int(p.state)]                   # the current state's table (death_slots)
        assert (int(p.d_written) >> slot) & 1                # the table death_time reads is written
        got = clocks.clock_times(m, p)
        fresh = (clocks.death_time(m, p), clocks.esrd_time(p))
        assert got == fresh or all(a == b or (a != a and b != b) for a, b in zip(got, fresh)), (got, fresh)
        checked[where] += 1
        return got
    return clock_times


course.clock_times = checking("course")          # every module of the core that reads the cached times
pathway.clock_times = checking("pathway")
tables = {"read": 0}
death_cumulative = clocks.death_cumulative


def read_after_written(m, p, now):
    # the death table read (the current state's) was written when the patient entered the state
    slot = int(m.d_slot[int(p.state)])
    assert slot == SLOTS[int(p.state)]
    assert (int(p.d_written) >> slot) & 1, (int(p.d_written), int(p.state))
    tables["read"] += 1
    return death_cumulative(m, p, now)


clocks.death_cumulative = read_after_written
for scenario, engine in ((sim.load_scenario(sys.argv[2], sys.argv[3:]), "fast"),
                         (sim.load_scenario(sys.argv[1]), "simpy")):               # queues: capacity limits
    SLOTS = tuple(death_slots(death_spec(build(scenario).params)))   # each state's death table
    sim.simulate(scenario, patients=40 if engine == "fast" else 60, seed=6, engine=engine, costed=False)
print(tables["read"], checked["course"], checked["pathway"])
"""


def test_cached_clock_times_equal_fresh_ones():
    """Run as plain Python, every wait's death and ESRD times (cached until the clocks change) equal
    those computed afresh, with kidney-damaging adverse events that rebase the ESRD clock; and so do
    the times a queue for a limited service reads (capacity limits). Every death table read is one
    the patient's record has written (a state's table is written when the patient first enters it)."""
    from tests.conftest import CASES, SCENARIOS, run_plain_python
    file, overrides, _, _ = CASES["severe_adverse_events"]
    out = run_plain_python(CACHE_CHECK, SCENARIOS / "capacity.yaml", SCENARIOS / file, *overrides, "horizon_years=20")
    reads, waits, queues = (int(x) for x in out.split()[-3:])
    assert waits > 500 and queues > 10 and reads > 500      # many waits, queues and table reads checked


def test_death_tables_are_written_when_first_needed_and_equal_the_hand_oracle():
    """Each patient's death table of a health state is written the first time the patient enters the
    state (sim.model.hazards.enter_death_table): after a block's lives under every strategy, each
    state a patient was ever in has its table, patients who never reached ESRD have none for renal
    replacement (the control: some did reach it), partial and complete response share one table (their
    hazards are equal: the slot of the first), and every table written equals one computed by hand
    from the life table and the death hazard by state (rates max(m * background + e, floor) by whole
    year of age, the cumulative hazard their running sum times the breakpoints' widths)."""
    from sim.engine import streams
    from sim.engine.batch_driver import run_block
    from sim.engine.block import Block, block_rows, draw_cohort
    from sim.engine.records import Records
    from sim.inputs.build import build
    from sim.inputs.loading import load_scenario
    from sim.model import layout as L
    from sim.model.build import compile_model
    from sim.model.hazards import death_spec
    from tests.conftest import SCENARIOS
    model = build(load_scenario(str(SCENARIOS / "base.yaml")))
    cm = compile_model(model)
    n = streams.BLOCK_SIZE
    block = Block(cm, 3, 0, 0, block_rows(draw_cohort(cm, 3, 0, n), 0))
    entered = np.zeros((n, 5), dtype=bool)
    entered[:, L.ACTIVE] = True
    for k in range(len(cm.strategies)):
        rec = Records()
        P = run_block(cm, k, block, n, rec, keep=True)
        ev, sg = rec.arrays()
        entered[sg[:, L.SG_PATIENT].astype(int), sg[:, L.SG_STATE].astype(int)] = True
        entered[P["esrd_time"] == P["esrd_time"], L.DIALYSIS] = True      # a last segment may be empty
        entered[P["tx_time"] == P["tx_time"], L.TRANSPLANT] = True
    slots = cm.records["d_slot"][0]
    assert list(slots) == [L.ACTIVE, L.PARTIAL, L.PARTIAL, L.DIALYSIS, L.TRANSPLANT]
    written = (P["d_written"][:, None] >> np.arange(5)) & 1 == 1
    assert not written[:, L.COMPLETE].any()                  # complete response reads partial's table
    assert (written[:, slots] >= entered).all()
    esrd = entered[:, L.DIALYSIS]
    assert 0 < esrd.sum() < n and not written[~esrd][:, L.DIALYSIS].any()
    spec, lt, G = death_spec(model.params), model.life_table, int(cm.records["n_bps"][0]) - 1
    for i in range(n):
        p = P[i]
        life = lt.female if p["female"] else lt.male
        ages = np.minimum(np.floor(p["age"]) + np.arange(G), len(life) - 1).astype(int)
        widths = np.diff(p["d_bps"][:G + 1])
        for s in np.flatnonzero(written[i]):
            rates = np.maximum(spec[s, 0] * life[ages] + spec[s, 1], spec[s, 2])
            assert np.array_equal(p["d_rates"][s, :G], rates)
            assert np.array_equal(p["d_cum"][s, :G + 1], np.concatenate([[0.0], np.cumsum(rates * widths)]))


def test_states_with_equal_death_hazards_share_a_table():
    """death_slots: a state reads the table of the first state whose hazard (m, e, floor) is the same
    (by hand); with the base parameters partial and complete response share, and a scenario without
    excess mortality in active nephritis shares that table too (the control: no excess, no floor)."""
    from sim.model.hazards import death_slots, death_spec
    spec = np.array([(2.0, 0.01, 0.0), (2.0, 0.0, 0.0), (2.0, 0.0, 0.0), (1.0, 0.0, 0.1), (1.0, 0.0, 0.1)])
    assert death_slots(spec).tolist() == [0, 1, 1, 3, 3]
    spec[0, 1] = 0.0
    assert death_slots(spec).tolist() == [0, 0, 0, 3, 3]
    assert death_slots(np.arange(15.0).reshape(5, 3)).tolist() == [0, 1, 2, 3, 4]
    params = {"smr_lupus_nephritis": 2.4, "death_rate_active_nephritis": 0.02, "death_rate_dialysis": 0.1,
              "death_rate_transplant": 0.03}
    assert death_slots(death_spec(params)).tolist() == [0, 1, 1, 3, 4]


def test_a_life_table_longer_than_the_core_holds_is_refused(tmp_path):
    """The core keeps the life table in each strategy record (layout.MAX_AGES rows): a longer one is
    refused with an error naming the field and the limit, and one that fits is taken (the control)."""
    import pytest
    import sim
    from sim.inputs.build import build
    from sim.model import layout as L
    from sim.model.build import compile_model
    from tests.conftest import SCENARIOS

    def model_with(rows):
        table = tmp_path / f"life_{rows}.csv"
        table.write_text("age,female,male\n" + "".join(f"{a},0.01,0.012\n" for a in range(rows)))
        return build(sim.load_scenario(str(SCENARIOS / "base.yaml"), [f"life_table={table}"]))
    compile_model(model_with(L.MAX_AGES))
    with pytest.raises(sim.InputError, match=f"at most {L.MAX_AGES}") as err:
        compile_model(model_with(L.MAX_AGES + 1))
    assert err.value.field == "life_table"
