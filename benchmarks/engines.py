"""Speed and memory of the two engines, in one run on one machine.

    python benchmarks/engines.py [--scenario scenarios/base.yaml] [--simpy-patients 2000]
                                 [--fast-patients 20000] [--psa-patients 2000] [--draws 100] [--cold]

Each measurement runs in its own process (so its peak memory is its own) and reports
patient-trajectories per second (a trajectory = one patient under one strategy over the scenario
horizon; patients x strategies per run):

* ``simpy``: the SimPy engine, ``simulate(costed=False)`` (result tables, no economics);
* ``fast tables``: the fast engine, ``simulate(engine="fast", costed=False)`` (the same tables);
* ``fast aggregate``: aggregate mode (costs, QALYs, life years per patient, no tables), one
  draw after another with the scenario's parameters, one process, one thread;
* ``fast aggregate, 2 threads``: the same with each draw's patient blocks split over two threads
  (``aggregate(threads=2)``; the kernel releases the GIL);
* ``PSA loop``: what one PSA worker does per draw with the fast engine: the draw's model and
  sampled cost/utility tables (sim.analysis.psa.model_for_draw, tables_for_draw), then aggregate mode;
  the per-draw model and table construction is counted;
* setup costs: the SimPy engine's per-block BlockInputs (cohort sampling with scipy's truncated
  normal, SeedSequence streams) and the fast engine's cohort quantiles, per trajectory;
* memory: peak resident memory of each measurement, and the resident memory of the aggregate loop
  after 1/4 and after all of its draws (flat in the number of draws: nothing accumulates).

``--cold`` also times the first compilation of the fast engine (an empty numba cache in a
temporary folder); otherwise the compiled code is loaded from the cache. Timings vary with the
machine and its load: the script prints the load average. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model(scenario: str):
    import sim
    from sim.inputs.build import build
    return build(sim.load_scenario(scenario))


def measure(kind: str, a) -> dict:
    """One measurement, in this process (called in a child process)."""
    import sim
    from sim.engine import fast_engine as fe
    from sim.engine import rng
    model = _model(a.scenario)
    ns = len(model.scenario.strategies)
    out: dict = {"kind": kind}
    if kind == "simpy":
        t = time.perf_counter()
        sim.simulate(model, patients=a.simpy_patients, seed=1, costed=False)
        dt = time.perf_counter() - t
        out.update(trajectories=a.simpy_patients * ns, seconds=dt)
    elif kind == "fast_tables":
        sim.simulate(model, patients=256, seed=1, costed=False, engine="fast")      # load compiled code
        t = time.perf_counter()
        sim.simulate(model, patients=a.fast_patients, seed=1, costed=False, engine="fast")
        dt = time.perf_counter() - t
        out.update(trajectories=a.fast_patients * ns, seconds=dt)
    elif kind in ("aggregate", "aggregate_threads"):
        eng = fe.FastEngine(model)
        eng.aggregate(256, 1, 0)
        n, draws = a.psa_patients, a.draws
        rss = []
        t = time.perf_counter()
        if kind == "aggregate":
            for d in range(draws):
                eng.aggregate(n, 1, d).means()
                if d + 1 in (max(draws // 4, 1), draws):
                    rss.append(_rss_mb())
        else:
            eng.aggregate(n, 1, 0, threads=2)
            t = time.perf_counter()
            for d in range(draws):
                eng.aggregate(n, 1, d, threads=2).means()
        dt = time.perf_counter() - t
        out.update(trajectories=n * ns * draws, seconds=dt, rss_quarter_mb=rss[0] if rss else None,
                   rss_end_mb=rss[-1] if rss else None)
    elif kind == "psa_loop":
        from sim.analysis import psa
        from sim.inputs.economic_tables import resolve_tables
        _, costs, utils = resolve_tables(model.scenario)
        rows = psa.draw_table(psa.uncertainties(model, costs, utils), 1, a.draws).to_dict(orient="records")
        fe.aggregate(model, 256, 1, 0)
        n = a.psa_patients
        t_model = t_agg = 0.0
        t = time.perf_counter()
        for row in rows:
            t0 = time.perf_counter()
            md = psa.model_for_draw(model, row)
            ct, ut = psa.tables_for_draw(costs, utils, row)
            t1 = time.perf_counter()
            fe.aggregate(md, n, 1, int(row["draw"]), cost_table=ct, utility_table=ut).means()
            t_model += t1 - t0
            t_agg += time.perf_counter() - t1
        dt = time.perf_counter() - t
        out.update(trajectories=n * ns * len(rows), seconds=dt, psa_layer_seconds=t_model, engine_seconds=t_agg)
    elif kind == "setup":
        from sim.engine.sampling import sample_block
        from sim.analysis.simulate import BlockInputs
        blocks = 20
        t = time.perf_counter()
        for b in range(blocks):
            BlockInputs(model, 1, 0, b)
        out["blockinputs_ms_per_block"] = (time.perf_counter() - t) / blocks * 1e3
        t = time.perf_counter()
        for b in range(blocks):
            sample_block(model.scenario.cohort, 1, 0, b)
        out["sample_block_ms_per_block"] = (time.perf_counter() - t) / blocks * 1e3
        from sim.engine import streams
        t = time.perf_counter()
        for b in range(blocks * 10):
            streams.uniforms(1, 0, b, "course:mmf", (8, 5))
        out["numpy_stream_us"] = (time.perf_counter() - t) / (blocks * 10) * 1e6
        eng = fe.FastEngine(model)
        pop = model.scenario.cohort
        n = 20000
        rng.sample_cohort(pop, 1, 0, 256, weight=eng.needs_weight, height=eng.needs_bsa, other=False)
        t = time.perf_counter()
        rng.sample_cohort(pop, 1, 0, n, weight=eng.needs_weight, height=eng.needs_bsa, other=False)
        out["fast_cohort_us_per_patient"] = (time.perf_counter() - t) / n * 1e6
        from sim.inputs.economic_tables import resolve_tables
        _, costs, utils = resolve_tables(model.scenario)
        t = time.perf_counter()
        for _ in range(20):
            fe.FastEngine(model).economics(cost_table=costs, utility_table=utils)
        out["fast_compile_model_ms"] = (time.perf_counter() - t) / 20 * 1e3
        out["strategies"] = ns
    elif kind == "compile":
        t = time.perf_counter()
        fe.FastEngine(model).aggregate(256, 1, 0)
        fe.FastEngine(model).tables(256, 1, 0)
        out["first_call_seconds"] = time.perf_counter() - t
    out["peak_rss_mb"] = _peak_mb()
    return out


def _child(kind: str, a, env=None) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--scenario", a.scenario, "--simpy-patients",
           str(a.simpy_patients), "--fast-patients", str(a.fast_patients), "--psa-patients", str(a.psa_patients),
           "--draws", str(a.draws)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "base.yaml"))
    ap.add_argument("--simpy-patients", type=int, default=2000)
    ap.add_argument("--fast-patients", type=int, default=20000)
    ap.add_argument("--psa-patients", type=int, default=2000, help="patients per PSA draw")
    ap.add_argument("--draws", type=int, default=100, help="draws of the aggregate and PSA loops")
    ap.add_argument("--cold", action="store_true", help="also time the first compilation (empty numba cache)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.child, a)))
        return
    import numba
    import numpy
    import sim
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {numpy.__version__}, numba {numba.__version__}, lnsim {sim.__version__}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"scenario: {a.scenario}")
    _child("compile", a)                                   # make sure the numba cache is warm
    if a.cold:
        with tempfile.TemporaryDirectory() as d:
            r = _child("compile", a, env={**os.environ, "NUMBA_CACHE_DIR": d})
        print(f"fast engine first compilation (empty cache): {r['first_call_seconds']:.1f} s")
    r = _child("compile", a)
    print(f"fast engine first call with the numba cache:  {r['first_call_seconds']:.1f} s (incl. loading)")
    rows = {}
    for kind in ("simpy", "fast_tables", "aggregate", "aggregate_threads", "psa_loop", "setup"):
        rows[kind] = _child(kind, a)

    def rate(r):
        return r["trajectories"] / r["seconds"]
    print()
    print(f"{'measurement':42s} {'trajectories/s':>15s} {'x SimPy':>8s} {'peak RSS MB':>12s}")
    base = rate(rows["simpy"])
    labels = {"simpy": "SimPy engine, tables (simulate)",
              "fast_tables": "fast engine, tables (simulate engine=fast)",
              "aggregate": "fast engine, aggregate mode, 1 thread",
              "aggregate_threads": "fast engine, aggregate mode, 2 threads",
              "psa_loop": "PSA loop (model+tables per draw), 1 thread"}
    for kind, label in labels.items():
        r = rows[kind]
        print(f"{label:42s} {rate(r):15,.0f} {rate(r) / base:8.0f} {r['peak_rss_mb']:12.0f}")
    ag, pl, st = rows["aggregate"], rows["psa_loop"], rows["setup"]
    print()
    print(f"aggregate loop: {a.draws} draws x {a.psa_patients} patients x {st['strategies']} strategies; resident "
          f"memory {ag['rss_quarter_mb']:.0f} MB after {max(a.draws // 4, 1)} draws, {ag['rss_end_mb']:.0f} MB "
          f"after {a.draws}")
    per = 1e6 / (pl["trajectories"])
    print(f"PSA loop per trajectory: {pl['psa_layer_seconds'] * per:.2f} us building the draw's model and "
          f"tables (sim.analysis.psa), {pl['engine_seconds'] * per:.2f} us fast engine")
    print(f"setup per block of 256 patients, SimPy engine: BlockInputs {st['blockinputs_ms_per_block']:.2f} ms "
          f"(of which cohort sampling {st['sample_block_ms_per_block']:.2f} ms; one numpy stream "
          f"{st['numpy_stream_us']:.0f} us)")
    print(f"fast engine: cohort quantiles (scipy truncnorm) {st['fast_cohort_us_per_patient']:.2f} us per patient "
          f"= {st['fast_cohort_us_per_patient'] / st['strategies']:.2f} us per trajectory; model and economics "
          f"compiled per draw in {st['fast_compile_model_ms']:.2f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
