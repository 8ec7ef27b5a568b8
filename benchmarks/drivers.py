"""Speed of the two drivers of the clinical core, and of the PSA loop against the old port.

Measures, on the base scenario (2 strategies, 50-year horizon), in this one run on this machine:

* ``simpy``: the SimPy driver, full tables (``sim.engine.run.run_simpy``), trajectories per second;
* ``batch``: the batch driver, full tables (``sim.engine.batch_driver.run_batch``);
* ``psa``: the PSA loop of ``lnsim psa --engine fast`` (each draw: ``model_for_draw``,
  ``tables_for_draw``, then aggregate mode), draws x patients, for
  - ``aggregate (batch driver)``: the clinical core through the batch driver, priced from records
    (``sim.economics.aggregate.aggregate``, what the PSA runs),
  - ``aggregate (old port)``: ``sim.fast_engine.aggregate`` of commit 310ba8f (:data:`OLD_PORT`: the
    last one with the old compiled port of the pathway, from which the goldens were first made),
    checked out in a temporary git worktree and
    timed in a child process, interleaved with the others;
* the per-draw set-up cost of each (the same loop with 1 patient per draw).

CPU time of the process (``time.process_time``) is reported beside wall time: on a shared machine it
moves less with the load. Each process collects its garbage once before timing (as ``timeit`` keeps the
collector out of its timings): the first full collection of a process walks every object the imports
left (about 0.1 s, once), which is no part of a draw's cost but fell inside the 50 timed draws.
Not a test: nothing here asserts a speed. ``python benchmarks/drivers.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the last commit with the old compiled port of the pathway (sim/fast_engine.py), whose PSA loop the
#: batch driver must be no slower than (issue 11); the goldens were first made from it
OLD_PORT = "310ba8f7879ad950a104633dd6f3023496659814"

PSA_LOOP = textwrap.dedent("""
    import gc, json, sys, time
    {imports}
    model = build(load_scenario(str(ROOT / "scenarios" / "base.yaml")))
    _, costs, utils = resolve_tables(model.scenario)
    rows = psa.draw_table(psa.uncertainties(model, costs, utils), 7, {draws} + 2).to_dict(orient="records")
    def loop(rows, patients):
        t, c = time.perf_counter(), time.process_time()
        for row in rows:
            md = psa.model_for_draw(model, row)
            ct, ut = psa.tables_for_draw(costs, utils, row)
            aggregate(md, patients, 7, int(row["draw"]), cost_table=ct, utility_table=ut)
        return time.perf_counter() - t, time.process_time() - c
    loop(rows[:2], 300)                          # compile or load the compiled code
    gc.collect()     # the one full collection of what the imports left (~0.1 s a process), as timeit would
    out = {{}}
    for rep in range({repeats}):
        out.setdefault("run", []).append(loop(rows[2:], {patients}))
        out.setdefault("setup", []).append(loop(rows[2:], 1))
    print(json.dumps(out))
""")

IMPORTS = {
    "batch driver": ("from sim.economics.aggregate import aggregate\nfrom sim.analysis import psa\n"
                     "from sim.inputs.build import build\nfrom sim.inputs.loading import load_scenario\n"
                     "from sim.inputs.economic_tables import resolve_tables\n"),
    "old port": ("from sim.fast_engine import aggregate\nfrom sim import psa\nfrom sim.scenarios import build\n"
                      "from sim.scenarios import load_scenario\nfrom sim.economics import resolve_tables\n"),
}


def psa_loop(label: str, root: Path, a) -> dict:
    """One repeat of the PSA loop of ``label`` in a new process."""
    code = f"from pathlib import Path\nROOT = Path({str(root)!r})\n" + PSA_LOOP.format(
        imports=IMPORTS[label], draws=a.draws, patients=a.patients, repeats=1)
    env = dict(os.environ, PYTHONPATH=str(root))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
    if res.returncode != 0:
        raise RuntimeError(f"{label}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def tables(a) -> dict:
    code = textwrap.dedent(f"""
        import json, time
        from sim.engine.batch_driver import run_batch
        from sim.engine.run import run_simpy
        from sim.inputs.build import build
        from sim.inputs.loading import load_scenario
        model = build(load_scenario("scenarios/base.yaml"))
        run_simpy(model, 300, 1); run_batch(model, 300, 1)
        out = {{}}
        for name, f in (("simpy", run_simpy), ("batch", run_batch)):
            for rep in range({a.repeats}):
                t, c = time.perf_counter(), time.process_time()
                f(model, {a.table_patients}, 7)
                out.setdefault(name, []).append((time.perf_counter() - t, time.process_time() - c))
        print(json.dumps(out))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table-patients", type=int, default=10_000)
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--patients", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-old-port", action="store_true", help="skip the old port")
    ap.add_argument("--psa-only", action="store_true", help="skip the full-table runs")
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    t = {} if a.psa_only else tables(a)
    n = 2 * a.table_patients
    for name in t:
        best_wall = min(w for w, _ in t[name])
        best_cpu = min(c for _, c in t[name])
        print(f"{name:6s} driver, full tables: {n / best_wall:10,.0f} trajectories/s wall, {n / best_cpu:10,.0f} per CPU-second")
    labels = ["batch driver"] + ([] if a.no_old_port else ["old port"])
    with tempfile.TemporaryDirectory() as tmp:
        roots = {"batch driver": ROOT}
        if not a.no_old_port:
            wt = Path(tmp) / "old_port"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(wt), OLD_PORT],
                           check=True, capture_output=True)
            roots["old port"] = wt
        try:
            # one repeat of each in turn, so that a change of the machine's load falls on all alike
            res = {label: {"run": [], "setup": []} for label in labels}
            for _ in range(a.repeats):
                for label in labels:
                    r = psa_loop(label, roots[label], a)
                    res[label]["run"] += r["run"]
                    res[label]["setup"] += r["setup"]
        finally:
            if not a.no_old_port:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(wt)], capture_output=True)
    traj = 2 * a.draws * a.patients
    print(f"PSA loop, {a.draws} draws x {a.patients} patients x 2 strategies (best of {a.repeats}):")
    for label in labels:
        r = res[label]
        wall, cpu = min(w for w, _ in r["run"]), min(c for _, c in r["run"])
        sc = min(c for _, c in r["setup"])
        print(f"  aggregate ({label:13s}): {traj / wall:10,.0f} trajectories/s wall ({wall / a.draws * 1e3:6.1f} ms/draw), "
              f"{traj / cpu:10,.0f} per CPU-second; set-up {sc / a.draws * 1e3:5.1f} ms CPU per draw")
    if not a.no_old_port:
        # repeats run in turn, so repeat i of each met about the same machine: their ratio moves less
        # with the machine's load than either time
        ratios = sorted(b[0] / o[0] for b, o in zip(res["batch driver"]["run"], res["old port"]["run"]))
        print(f"  wall time, batch driver / old port, repeat by repeat: median {statistics.median(ratios):.2f} "
              f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}, {len(ratios)} repeats)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
