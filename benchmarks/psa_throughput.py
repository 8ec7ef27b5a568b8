"""Throughput of a whole probabilistic sensitivity analysis (simulation part of `lnsim psa`).

    python benchmarks/psa_throughput.py [--draws 1000] [--patients 1000] [--workers 2] [--engine fast]

Runs `sim.analysis.psa.run_psa` on scenarios/base.yaml into a temporary folder and prints patient-trajectories
per second (draws x patients x strategies / wall time) and the peak memory of the driver process.
Not a test: timings vary with the machine and its load.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import sim
from sim.analysis import psa
from sim.inputs.build import build

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engine", default="fast", choices=["fast", "simpy"])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "base.yaml"))
    a = ap.parse_args()
    model = build(sim.load_scenario(a.scenario))
    if a.engine == "fast":
        from sim.economics.aggregate import aggregate
        aggregate(model, 256, 1, 0)   # compile (or load) the core so its disk cache exists;
        #                               workers still load it inside the timed run, as a real run does
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        psa.run_psa(model, Path(tmp) / "psa", draws=a.draws, patients=a.patients, seed=1, workers=a.workers,
                    progress=False, engine=a.engine)
        dt = time.perf_counter() - t
    n = a.draws * a.patients * len(model.scenario.strategies)
    print(f"{a.draws} draws x {a.patients} patients x {len(model.scenario.strategies)} strategies, "
          f"{a.workers} workers, engine {a.engine}: {dt:.2f} s, {n / dt:,.0f} patient-trajectories/s, "
          f"driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
