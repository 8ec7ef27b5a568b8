"""Speed of the SimPy pathway engine on the base scenario.

    python benchmarks/pathway_speed.py [--patients 10000] [--scenario scenarios/base.yaml]

Prints patient-trajectories per second (patients x strategies), events per second and peak
memory (resident set size of this process). Not a test: timings vary with the machine.
"""
from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import sim
from sim.inputs.build import build

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "base.yaml"))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    sc = sim.load_scenario(a.scenario)
    model = build(sc)
    t0 = time.perf_counter()
    result = sim.simulate(model, patients=a.patients, seed=a.seed)
    dt = time.perf_counter() - t0
    n_traj = a.patients * len(sc.strategies)
    n_events = len(result.events)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, lnsim {sim.__version__}")
    print(f"scenario {sc.name}: {a.patients} patients x {len(sc.strategies)} strategies, "
          f"horizon {sc.horizon_years:g} y")
    print(f"wall time               {dt:8.2f} s (simulation + tables + summary)")
    print(f"patient-trajectories/s  {n_traj / dt:8.0f}")
    print(f"events/s                {n_events / dt:8.0f}   ({n_events} events, {len(result.states)} state segments)")
    print(f"peak memory (RSS)       {peak_mb:8.0f} MB")


if __name__ == "__main__":
    main()
