"""The lnsim command end to end (as a user runs it)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import SCENARIOS, run_lnsim


lnsim = run_lnsim


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    r = lnsim("run", SCENARIOS / "base.yaml", "--patients", 150, "--seed", 3, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    return out, r


def test_run_writes_every_table(run_dir):
    out, r = run_dir
    for name in ("patients.parquet", "events.parquet", "states.parquet", "summary.csv", "manifest.json"):
        assert (out / name).is_file(), name
    p = pd.read_parquet(out / "patients.parquet")
    assert len(p) == 150 * 2
    s = pd.read_csv(out / "summary.csv")
    assert list(s.columns)[:3] == ["strategy", "metric", "value"]
    assert "classed refractory" in r.stdout           # the readable summary table


def test_manifest_records_what_was_run(run_dir):
    out, _ = run_dir
    m = json.loads((out / "manifest.json").read_text())
    assert m["seed"] == 3 and m["patients"] == 150
    assert m["scenario"]["name"] == "base"
    assert len(m["parameter_table_sha256"]) == 64
    assert m["libraries"]["simpy"] and m["libraries"]["numpy"]
    assert "lnsim_version" in m


def test_set_overrides_reach_the_model(tmp_path):
    out = tmp_path / "o"
    r = lnsim("run", SCENARIOS / "base.yaml", "--patients", 40, "--out", out, "--quiet",
              "--set", "horizon_years=2", "--set", "strategies.rtx_alone.first_assessment_months=6",
              "--set", "strategies.rtx_alone.reassessment_months=12")
    assert r.returncode == 0, r.stderr
    p = pd.read_parquet(out / "patients.parquet")
    assert p["followup_years"].max() <= 2.0
    m = json.loads((out / "manifest.json").read_text())
    assert m["scenario"]["strategies"][1]["first_assessment_months"] == 6


def test_missing_scenario_is_exit_2_without_traceback(tmp_path):
    r = lnsim("run", tmp_path / "nope.yaml", "--out", tmp_path / "x")
    assert r.returncode == 2
    assert "nope.yaml" in r.stderr and "not found" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_bad_override_is_exit_2_naming_field(tmp_path):
    r = lnsim("run", SCENARIOS / "base.yaml", "--out", tmp_path / "x", "--set", "horizon_years=-3")
    assert r.returncode == 2
    assert "horizon_years" in r.stderr and "-3" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    r = lnsim("run", SCENARIOS / "base.yaml", "--patients", 10, "--out", out, "--quiet")
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert (out / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_parameters_prints_every_parameter_with_provenance():
    r = lnsim("parameters", SCENARIOS / "base.yaml")
    assert r.returncode == 0, r.stderr
    for needle in ("smr_lupus_nephritis", "B42", "therapy.rituximab.response.complete", "B30",
                   "second_induction_response_or", "calibrated", "assumption", "16/185"):
        assert needle in r.stdout, needle


def test_events_vocabulary_command():
    r = lnsim("events")
    assert r.returncode == 0
    for e in ("complete_response", "partial_response", "switch", "refractory", "therapy_start", "renal_flare",
              "esrd", "death"):
        assert e in r.stdout
