"""Freeze today's model outputs as golden fixtures (see README.md beside this file).

    python3 tests/golden/make_goldens.py

For every scenario in ``scenarios/*.yaml`` and every validation population in
``scenarios/validation/*.yaml`` this runs

    sim.simulate(sim.load_scenario(path), patients=PATIENTS, seed=SEED, engine="simpy")   # costed

and writes ``patients``, ``events``, ``states``, ``cea`` and ``summary`` (and ``capacity`` when the
scenario has a capacity section) as zstd parquet into ``tests/golden/data/<name>/`` (validation
populations are named ``validation_<stem>``). It also runs a tiny PSA on ``scenarios/base.yaml``
through the fast engine's aggregate route and keeps its result tables in ``tests/golden/data/psa_base/``,
and writes ``tests/golden/data/MANIFEST.json`` (seed, patients, git commit, library versions).

Every scenario without a capacity section is also run with ``engine="fast"``; the script reports
(and records in the manifest) whether the fast tables equal the SimPy ones exactly. It does not stop
on a difference: the goldens are the SimPy engine's output.

A golden is regenerated ONLY in a commit that fixes a real bug, and that commit message says why.
"""
from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import sim
from sim.analysis.psa import run_psa
from sim.inputs.build import build
from sim.reporting.run_output import library_versions

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SEED = 20261207
PATIENTS = 300
TABLES = ("patients", "events", "states", "cea", "summary", "capacity")   # capacity: only if the run has one
# zstd; dictionary pages for text columns only; no column statistics and no embedded Arrow schema
# (pandas restores dtypes and index from its own metadata): about 40% smaller than the defaults,
# and write_frame checks that every file reads back exactly as the frame it came from
PARQUET = {"compression": "zstd", "compression_level": 19, "write_statistics": False, "store_schema": False}

PSA_NAME = "psa_base"
PSA_SCENARIO = "scenarios/base.yaml"
PSA = {"draws": 4, "patients": 200, "seed": SEED, "chunk_size": 2, "engine": "fast"}
# what is kept of the PSA folder: the per-draw tables (not the plots, which analyse_psa would make)
PSA_FILES = ("psa.csv", "draws.parquet", "uncertainty.csv", "psa_run.json",
             "chunks/draws_0000000.parquet", "chunks/draws_0000002.parquet")
LIBRARIES = ("simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "numba", "llvmlite", "PyYAML")


def scenario_files() -> dict[str, Path]:
    """Golden name -> scenario file, for every shipped scenario and validation population."""
    out = {p.stem: p for p in sorted((ROOT / "scenarios").glob("*.yaml"))}
    out.update({f"validation_{p.stem}": p for p in sorted((ROOT / "scenarios" / "validation").glob("*.yaml"))})
    return out


def tables(result) -> dict[str, pd.DataFrame]:
    return {t: getattr(result, t) for t in TABLES if getattr(result, t, None) is not None}


def write_frame(df: pd.DataFrame, path: Path) -> None:
    text = [c for c in df.columns if df[c].dtype == object]
    df.to_parquet(path, use_dictionary=text or False, **PARQUET)
    back = pd.read_parquet(path)
    # a golden must hold exactly what the model returned (values, dtypes, index), or it freezes nothing
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError as e:
        return str(e).splitlines()[0] + " ..."
    return None


def git_commit() -> tuple[str, bool]:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "sim", "scenarios"], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    return head.stdout.strip(), bool(dirty.stdout.strip())


def make_psa(out: Path) -> dict:
    model = build(sim.load_scenario(ROOT / PSA_SCENARIO))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "psa"
        run_psa(model, run, draws=PSA["draws"], patients=PSA["patients"], seed=PSA["seed"], workers=1,
                chunk_size=PSA["chunk_size"], progress=False, engine=PSA["engine"])
        written = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
        missing = [f for f in PSA_FILES if f not in written]
        if missing:
            raise SystemExit(f"PSA did not write {missing} (wrote {written})")
        out.mkdir(parents=True)
        for f in PSA_FILES:
            (out / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run / f, out / f)
    return {"scenario": PSA_SCENARIO, "call": "sim.analysis.psa.run_psa(build(load_scenario(scenario)), out, workers=1, "
            "progress=False, **settings)", "settings": PSA, "files": list(PSA_FILES)}


def main() -> int:
    commit, dirty = git_commit()
    if dirty:
        print("warning: sim/ or scenarios/ has uncommitted changes; the goldens will not match the commit",
              file=sys.stderr)
    if DATA.exists():
        shutil.rmtree(DATA)
    DATA.mkdir(parents=True)
    entries, fast_report = {}, {}
    for name, path in scenario_files().items():
        sc = sim.load_scenario(path)
        t0 = time.perf_counter()
        res = sim.simulate(sc, patients=PATIENTS, seed=SEED, engine="simpy")
        secs = time.perf_counter() - t0
        folder = DATA / name
        folder.mkdir()
        frozen = tables(res)
        for t, df in frozen.items():
            write_frame(df, folder / f"{t}.parquet")
        capacity = sc.capacity is not None
        if capacity:
            fast_report[name] = "not run (capacity section: SimPy engine only)"
        else:
            fast = tables(sim.simulate(sc, patients=PATIENTS, seed=SEED, engine="fast"))
            diffs = {t: frames_equal(fast[t], df) if t in fast else "missing in the fast result"
                     for t, df in frozen.items()}
            diffs = {t: d for t, d in diffs.items() if d is not None}
            fast_report[name] = "equal" if not diffs else diffs
        entries[name] = {"scenario": str(path.relative_to(ROOT)), "patients": PATIENTS, "seed": SEED,
                         "strategies": [s.name for s in sc.strategies], "capacity": capacity,
                         "tables": sorted(frozen), "rows": {t: len(df) for t, df in frozen.items()}}
        print(f"{name:40s} simpy {secs:5.2f}s  fast: {fast_report[name]}", flush=True)
    psa = make_psa(DATA / PSA_NAME)
    print(f"{PSA_NAME:40s} {PSA}")
    manifest = {
        "git_commit": commit,
        "git_dirty_sim_or_scenarios": dirty,
        "seed": SEED,
        "patients_default": PATIENTS,
        "call": "sim.simulate(sim.load_scenario(scenario), patients=patients, seed=seed, engine='simpy') "
                "(costed=True, draw=0); the backtest also runs engine='fast' where there is no capacity section",
        "parquet": {**PARQUET, "use_dictionary": "text (object) columns"},
        "scenarios": entries,
        "psa": {PSA_NAME: psa},
        "fast_equals_simpy": fast_report,
        "python": platform.python_version(),
        "lnsim_version": sim.__version__,
        "libraries": library_versions(LIBRARIES),
    }
    (DATA / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    bad = sorted(k for k, v in fast_report.items() if v != "equal" and not entries[k]["capacity"])
    print(f"{len(entries)} scenario goldens + {PSA_NAME} written to {DATA}; fast == simpy: "
          + ("everywhere without capacity" if not bad else f"NOT for {bad}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
