"""The clinical core run as plain Python (NUMBA_DISABLE_JIT=1, for debugging) gives the very same
tables as compiled, with either driver, and the same aggregate-mode results (strategies sharing their
lives until the ladder, priced from records)."""
from __future__ import annotations

import pandas as pd
import pytest

import sim
from tests.conftest import CASES, SCENARIOS, load, run_plain_python

OVERRIDES = ["horizon_years=15", "parameters.flare_rate_remission=0.4"]
RUN = """
import sys
import sim
r = sim.simulate(sim.load_scenario(sys.argv[1], sys.argv[4:]), patients=60, seed=3, engine=sys.argv[2], costed=False)
for t in ("patients", "events", "states"):
    getattr(r, t).to_parquet(f"{sys.argv[3]}_{t}.parquet")
"""


def test_plain_python_equals_compiled(engine, tmp_path):
    run_plain_python(RUN, SCENARIOS / "workup.yaml", engine, tmp_path / "plain", *OVERRIDES)
    compiled = sim.simulate(load("workup.yaml", OVERRIDES), patients=60, seed=3, engine=engine, costed=False)
    for t in ("patients", "events", "states"):
        plain = pd.read_parquet(tmp_path / f"plain_{t}.parquet")
        pd.testing.assert_frame_equal(plain, getattr(compiled, t), check_exact=True)
    assert len(compiled.events) > 500                      # a real run, with work-ups and flares
    assert compiled.events["event"].isin(["repeat_biopsy", "renal_flare"]).sum() > 10


AGGREGATE = """
import sys
import numpy as np
import sim
from sim.economics.aggregate import aggregate
from sim.inputs.build import build
n, seed = int(sys.argv[3]), int(sys.argv[4])
a = aggregate(build(sim.load_scenario(sys.argv[1], sys.argv[5:])), n, seed, 2)
np.savez(sys.argv[2], cost=a.cost, qaly=a.qaly, life_years=a.life_years, esrd=a.esrd_time, death=a.death_time)
"""


@pytest.mark.parametrize("name", ["sharing", "stream_chunks"])
def test_plain_python_aggregate_equals_compiled(name, tmp_path, monkeypatch):
    """Strategies sharing their lives until the ladder (base), and patients who need a ninth course of
    one drug (the block adds the next chunk of the course streams: stream_chunks)."""
    from sim.economics.aggregate import aggregate
    from sim.engine.block import K_COURSES, Block
    from sim.inputs.build import build
    from sim.model.build import compile_model
    import numpy as np
    file, overrides, n, seed = ("base.yaml", OVERRIDES, 60, 3) if name == "sharing" else (*CASES["stream_chunks"][:2], 40, 17)
    model = build(load(file, overrides))
    out = tmp_path / "plain.npz"
    run_plain_python(AGGREGATE, SCENARIOS / file, out, n, seed, *overrides)
    plain = np.load(out)
    drawn = []
    more = Block.more_courses
    monkeypatch.setattr(Block, "more_courses", lambda self: (drawn.append(int(self.have[0])), more(self))[1])
    compiled = aggregate(model, n, seed, 2)
    if name == "sharing":
        assert compile_model(model).same_until_ladder(1)          # the sharing path runs
    else:
        assert max(drawn) >= K_COURSES                     # a chunk was added after the first (a patient needed it)
    for field, got in (("cost", compiled.cost), ("qaly", compiled.qaly), ("life_years", compiled.life_years),
                       ("esrd", compiled.esrd_time), ("death", compiled.death_time)):
        np.testing.assert_array_equal(plain[field], got, err_msg=field)
    assert compiled.cost.sum() > 0
