"""The clinical core run as plain Python (NUMBA_DISABLE_JIT=1, for debugging) gives the very same
tables as compiled, with either driver."""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

import sim
from tests.conftest import ROOT, SCENARIOS, load

OVERRIDES = ["horizon_years=15", "parameters.flare_rate_remission=0.4"]
RUN = """
import sys
import sim
r = sim.simulate(sim.load_scenario(sys.argv[1], sys.argv[4:]), patients=60, seed=3, engine=sys.argv[2], costed=False)
for t in ("patients", "events", "states"):
    getattr(r, t).to_parquet(f"{sys.argv[3]}_{t}.parquet")
"""


def test_plain_python_equals_compiled(engine, tmp_path):
    assert os.environ.get("NUMBA_DISABLE_JIT", "0") == "0", "run this test compiled: it compares against plain Python"
    scenario = SCENARIOS / "workup.yaml"
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    r = subprocess.run([sys.executable, "-c", RUN, str(scenario), engine, str(tmp_path / "plain"), *OVERRIDES],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    compiled = sim.simulate(load("workup.yaml", OVERRIDES), patients=60, seed=3, engine=engine, costed=False)
    for t in ("patients", "events", "states"):
        plain = pd.read_parquet(tmp_path / f"plain_{t}.parquet")
        pd.testing.assert_frame_equal(plain, getattr(compiled, t), check_exact=True)
    assert len(compiled.events) > 500                      # a real run, with work-ups and flares
    assert compiled.events["event"].isin(["repeat_biopsy", "renal_flare"]).sum() > 10
