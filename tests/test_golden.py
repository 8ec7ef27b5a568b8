"""Backtest against the golden outputs in tests/golden/data (see tests/golden/README.md).

Every golden folder is re-simulated with the call that made it and each frozen table must come
back exactly (``check_exact=True``, dtypes, column order and index included), with the SimPy
engine and, for every scenario without a ``capacity:`` section, with the fast engine too. The
PSA aggregate route is reproduced exactly with one worker and with two. A scenario file without
a golden (or a golden without its scenario file) fails the suite.

Regenerate the goldens (``python3 tests/golden/make_goldens.py``) ONLY in a commit that fixes a
real bug, and say why in that commit's message.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sim
from tests.conftest import ROOT, SCENARIOS

GOLDEN = ROOT / "tests" / "golden" / "data"
MANIFEST = json.loads((GOLDEN / "MANIFEST.json").read_text())
PSA_GOLDENS = sorted(MANIFEST["psa"])
# discovered from the folders: every folder but the PSA ones is a scenario golden
SCENARIO_GOLDENS = sorted(d.name for d in GOLDEN.iterdir() if d.is_dir() and d.name not in PSA_GOLDENS)
TABLES = ("patients", "events", "states", "cea", "summary", "capacity")
CAPACITY_SKIP = "the fast engine has no capacity limits: capacity scenarios run on the SimPy engine only"


def scenario_path(name: str) -> Path:
    """The scenario file a golden folder stands for (``validation_<stem>`` -> scenarios/validation/)."""
    if name.startswith("validation_"):
        return SCENARIOS / "validation" / f"{name[len('validation_'):]}.yaml"
    return SCENARIOS / f"{name}.yaml"


def expected_goldens() -> set[str]:
    names = {p.stem for p in SCENARIOS.glob("*.yaml")}
    names |= {f"validation_{p.stem}" for p in (SCENARIOS / "validation").glob("*.yaml")}
    return names


def frame_difference(got: pd.DataFrame, want: pd.DataFrame) -> str | None:
    try:
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    except AssertionError as e:
        return str(e)
    return None


def test_every_scenario_has_a_golden():
    """A new scenario or validation population must come with its golden (and a removed one's goes)."""
    assert PSA_GOLDENS, "the PSA golden is missing from the manifest"
    have = set(SCENARIO_GOLDENS)
    want = expected_goldens()
    assert not want - have, (f"scenario files without a golden: {sorted(want - have)}; "
                             "run python3 tests/golden/make_goldens.py and commit the new folders")
    assert not have - want, f"goldens without a scenario file: {sorted(have - want)}"
    assert set(MANIFEST["scenarios"]) == have, "MANIFEST.json does not list exactly the golden folders"


@pytest.mark.parametrize("name", SCENARIO_GOLDENS)
def test_scenario_reproduces_its_golden(name, engine):
    entry = MANIFEST["scenarios"][name]
    path = scenario_path(name)
    assert path.is_file(), f"{name}: scenario file {path} is gone"
    assert str(path.relative_to(ROOT)) == entry["scenario"]
    scenario = sim.load_scenario(path)
    if engine == "fast" and scenario.capacity is not None:
        pytest.skip(CAPACITY_SKIP)
    result = sim.simulate(scenario, patients=entry["patients"], seed=entry["seed"], engine=engine)
    frozen = {p.stem for p in (GOLDEN / name).glob("*.parquet")}
    assert frozen == set(entry["tables"]), f"{name}: golden files {sorted(frozen)} differ from the manifest"
    problems = []
    for table in TABLES:
        got = getattr(result, table, None)
        if table not in frozen:
            if got is not None:
                problems.append(f"{table}: the run has this table, the golden does not")
            continue
        if got is None:
            problems.append(f"{table}: the golden has this table, the run ({engine}) does not")
            continue
        diff = frame_difference(got, pd.read_parquet(GOLDEN / name / f"{table}.parquet"))
        if diff:
            problems.append(f"{table}: {diff}")
    assert not problems, f"{name} ({engine} engine) differs from its golden:\n" + "\n\n".join(problems)


def _run_psa(name: str, out: Path, workers: int) -> None:
    from sim.analysis.psa import run_psa
    from sim.inputs.build import build
    spec = MANIFEST["psa"][name]
    s = spec["settings"]
    model = build(sim.load_scenario(ROOT / spec["scenario"]))
    run_psa(model, out, draws=s["draws"], patients=s["patients"], seed=s["seed"], workers=workers,
            chunk_size=s["chunk_size"], progress=False, engine=s["engine"])


def _compare_psa_file(got: Path, want: Path) -> str | None:
    if not got.is_file():
        return "not written"
    if want.suffix == ".parquet":
        return frame_difference(pd.read_parquet(got), pd.read_parquet(want))
    if want.suffix == ".csv":
        diff = frame_difference(pd.read_csv(got), pd.read_csv(want))
        if diff is None and got.read_bytes() != want.read_bytes():
            diff = "same table, different bytes"
        return diff
    if want.suffix == ".json":
        return None if json.loads(got.read_text()) == json.loads(want.read_text()) else "different content"
    return None if got.read_bytes() == want.read_bytes() else "different bytes"


@pytest.mark.parametrize("workers", (1, 2))
@pytest.mark.parametrize("name", PSA_GOLDENS)
def test_psa_reproduces_its_golden(name, workers, tmp_path):
    """The PSA's per-draw tables (fast engine, aggregate route), identical for one or two workers."""
    files = MANIFEST["psa"][name]["files"]
    frozen = {str(p.relative_to(GOLDEN / name)) for p in (GOLDEN / name).rglob("*") if p.is_file()}
    assert files and set(files) == frozen, "every frozen PSA file is compared, and only those"
    _run_psa(name, tmp_path / "psa", workers)
    problems = []
    for f in MANIFEST["psa"][name]["files"]:
        diff = _compare_psa_file(tmp_path / "psa" / f, GOLDEN / name / f)
        if diff:
            problems.append(f"{f}: {diff}")
    assert not problems, f"PSA {name} (workers={workers}) differs from its golden:\n" + "\n\n".join(problems)
