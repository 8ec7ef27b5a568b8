"""Start-up time of ``lnsim psa``: imports, and the time until the first draw begins.

    python benchmarks/startup.py [--repeats 7] [--scenario scenarios/base.yaml] [--engine fast]

Each repeat is a new Python process, timed from just before it is started (interpreter start-up
included) by the wall clock:

* ``python -c pass``: the interpreter alone;
* ``import sim.reporting.cli``: what every ``lnsim`` command pays before it parses its arguments;
* ``lnsim psa SCENARIO --draws 2 --patients 50 --engine ENGINE`` (``sim.reporting.cli.main`` in the child):
  the time until the first draw begins (``sim.analysis.psa.run_draw`` is entered: arguments parsed, the
  scenario loaded and validated, the draws sampled and written), then, reported separately,
  the import of the engine's modules for the first draw (``sim.economics.aggregate``, which loads the
  clinical core and the batch driver: numba, llvmlite) and the first draw, which with the batch
  driver loads the compiled code from numba's cache (``cache=True``; the first run on a machine
  compiles instead, for about a minute of CPU: run this script twice), against the second draw,
  which does not. The child stops after its second draw.

It also lists the heavy libraries loaded when the first draw begins (matplotlib, pygam, SALib,
lifelines, distributed should not be). Prints medians over the repeats (and the range). Timings
vary with the machine and its load (the CPU time of the child until its first draw, also printed,
much less so); not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "pygam", "SALib", "lifelines", "distributed", "dask", "tqdm", "numba", "llvmlite",
         "scipy.stats", "scipy.optimize", "pyarrow", "simpy")

# Runs in the child: times the first two draws of ``lnsim psa`` and exits after the second.
CHILD = r"""
import json, os, sys, time
import sim.analysis.psa as psa
original, marks = psa.run_draw, {}
HEAVY = %(heavy)r

def timed_draw(*a, **k):
    first = "first_draw" not in marks
    if first:
        marks["first_draw"] = time.time()
        marks["cpu"] = time.process_time()
        marks["loaded"] = [m for m in HEAVY if m in sys.modules]
        t = time.perf_counter()
        if k.get("engine", a[6] if len(a) > 6 else "simpy") == "fast":
            import sim.economics.aggregate, sim.engine.batch_driver  # noqa: E401
        marks["engine_import"] = time.perf_counter() - t
    t = time.perf_counter()
    out = original(*a, **k)
    marks["draw_1" if first else "draw_2"] = time.perf_counter() - t
    if not first:
        print(json.dumps(marks), flush=True)
        os._exit(0)
    return out

psa.run_draw = timed_draw
import sim.reporting.cli
sim.reporting.cli.main(sys.argv[1:])
"""


def _time(cmd: list[str]) -> tuple[float, str]:
    t0 = time.time()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return dt, r.stdout, t0


def _summary(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.3f} s  (min {min(xs):.3f}, max {max(xs):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--scenario", default="scenarios/base.yaml")
    ap.add_argument("--engine", choices=["simpy", "fast"], default="fast")
    a = ap.parse_args()
    py = sys.executable
    bare = [_time([py, "-c", "pass"])[0] for _ in range(a.repeats)]
    imp = [_time([py, "-c", "import sim.reporting.cli"])[0] for _ in range(a.repeats)]
    first, cpu, eng, d1, d2, loaded = [], [], [], [], [], set()
    child = CHILD % {"heavy": HEAVY}
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            _, out, t0 = _time([py, "-c", child, "psa", a.scenario, "--draws", "2", "--patients", "50",
                                "--workers", "1", "--quiet", "--engine", a.engine, "--out", str(Path(tmp) / "psa")])
        marks = json.loads(out.strip().splitlines()[-1])
        first.append(marks["first_draw"] - t0)
        cpu.append(marks["cpu"])
        eng.append(marks["engine_import"])
        d1.append(marks["draw_1"])
        d2.append(marks["draw_2"])
        loaded.update(marks["loaded"])
    print(f"lnsim start-up, {a.repeats} repeats, median (range); load average {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"  python -c pass                     {_summary(bare)}")
    print(f"  import sim.reporting.cli           {_summary(imp)}")
    print(f"  lnsim psa: start to first draw     {_summary(first)}")
    print(f"    of which CPU time of the process {_summary(cpu)}")
    print("  then, in the first draw:")
    print(f"    import of the {a.engine} engine       {_summary(eng)}")
    print(f"    first draw (cache load included)  {_summary(d1)}")
    print(f"    second draw                      {_summary(d2)}")
    print(f"  loaded when the first draw begins: {', '.join(m for m in HEAVY if m in loaded) or 'none'}")
    print(f"  not loaded then: {', '.join(m for m in HEAVY if m not in loaded)}")


if __name__ == "__main__":
    main()
