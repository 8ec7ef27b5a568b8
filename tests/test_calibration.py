"""Calibration (sim/analysis/calibration.py): recovers parameter values from targets the model itself generated,
and writes/reads the calibrated parameter file; the shipped value matches its calibration record."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

import sim
from sim.analysis import calibration as cal
from sim.analysis.calibration import CalibrationResult, FreeParameter
from sim.inputs.parameter_files import read_parameter_file
from sim.inputs.parameters import ModelParameters
from sim.analysis.validation import ModelUnderTest, load_targets, simulate_population
from sim.analysis.validation_metrics import evaluate

from tests.conftest import ROOT  # noqa: E402

# A small population with both a refractory share and flares after remission (4-year horizon).
POPULATION = """\
# Test population for calibration recovery: default cohort, MMF first, EULAR timing.
name: calibration_test
description: "default cohort, MMF first, EULAR timing, 4 years"
horizon_years: 4
cohort:
  preset: default
strategies:
  - name: eular_mmf
    induction: mmf
    first_assessment_months: 3
    reassessment_months: 6
    ladder: [rituximab, tacrolimus_multitarget]
"""


def _targets(path: Path, rows: list[dict]) -> pd.DataFrame:
    base = {"comparison": "test", "source_id": "TEST", "role": "calibration", "validity": "calibration",
            "population": str(path), "strategy": "eular_mmf", "versus": "", "subgroup": "", "step": "",
            "interval_basis": "assumed", "n": math.nan, "unit": "proportion", "note": ""}
    df = pd.DataFrame([{**base, **r} for r in rows])
    df.attrs["source"] = "test"
    return df


def _simulated(path: Path, params: dict, rows: list[dict], patients: int, seed: int) -> list[float]:
    res = simulate_population(path, ModelUnderTest(params), patients, seed)
    return [evaluate(res, r["metric"], "eular_mmf", r.get("time_years", math.nan)).value for r in rows]


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cal") / "calibration_test.yaml"
    p.write_text(POPULATION, encoding="utf-8")
    return p


def test_recovers_a_known_odds_ratio_from_a_model_generated_target():
    """One parameter, one target (brentq): the refractory share simulated at OR 0.9 in the A12
    calibration population gives back 0.9."""
    population = ROOT / "scenarios" / "validation" / "a12_refractory.yaml"
    true, n, seed = 0.9, 1000, 7
    rows = [{"id": "refr", "metric": "refractory", "time_years": math.nan}]
    value = _simulated(population, {"second_induction_response_or": true}, rows, n, seed)[0]
    tg = _targets(population, [{**rows[0], "value": value, "lower": value - 0.03, "upper": value + 0.03}])
    res = cal.calibrate([FreeParameter("second_induction_response_or", 0.1, 5.0)], tg, patients=n, seed=seed)
    got = res.values["second_induction_response_or"]
    assert abs(res.fit["simulated"].iloc[0] - value) < 1.5 / n       # fitted to within a patient or so
    # how far that lets the odds ratio move: the share's slope in log OR, measured around the truth
    lo, hi = (_simulated(population, {"second_induction_response_or": true * math.exp(d)}, rows, n, seed)[0]
              for d in (-0.1, 0.1))
    slope = abs(hi - lo) / 0.2
    assert slope > 0
    # the fitted share is within 1.5/n of the target; the share moves in whole patients (1/n) and the
    # slope is a secant over +-0.1: allow three times 1.5/n, turned into log OR by the slope
    assert abs(math.log(got / true)) <= 3 * (1.5 / n) / slope, (got, true, slope)
    assert "brentq" in res.method


def test_recovers_two_parameters_jointly(population):
    """Two parameters, two targets (least_squares): second-induction odds ratio and the flare rate in
    remission, from the refractory share and 2-year flare-free survival simulated at known values."""
    true = {"second_induction_response_or": 0.8, "flare_rate_remission": 0.2}
    n, seed = 600, 11
    rows = [{"id": "refr", "metric": "refractory", "time_years": math.nan},
            {"id": "flare", "metric": "flare_free_after_remission", "time_years": 2.0}]
    values = _simulated(population, true, rows, n, seed)
    tg = _targets(population, [{**r, "value": v, "lower": v - 0.03, "upper": v + 0.03} for r, v in zip(rows, values)])
    free = [FreeParameter("second_induction_response_or", 0.1, 5.0), FreeParameter("flare_rate_remission", 0.02, 1.0)]
    res = cal.calibrate(free, tg, patients=n, seed=seed,
                        start={"second_induction_response_or": 0.466, "flare_rate_remission": 0.108})
    # tolerance: the resolution of 600 patients (one patient moves the refractory share by 0.0017,
    # and about 13% on the odds ratio moves it by one standard error of the target)
    assert abs(math.log(res.values["second_induction_response_or"] / 0.8)) < 0.15, res.values
    assert abs(math.log(res.values["flare_rate_remission"] / 0.2)) < 0.05, res.values
    assert (res.fit["z"].abs() < 1.0).all(), res.fit       # within half of each (tight) target interval
    assert "least_squares" in res.method


def test_parameter_file_round_trip_and_use_in_a_scenario(tmp_path):
    fit = pd.DataFrame({"id": ["a12_refractory"], "source_id": ["A12"], "population": ["a12_refractory.yaml"],
                        "metric": ["refractory"], "target": [0.35], "se": [0.0255], "simulated": [0.3501],
                        "simulated_mc_se": [0.0034], "z": [0.004]})
    res = CalibrationResult({"second_induction_response_or": 0.4567}, fit, "brentq", 12, 1.6e-5, 20000, 2021,
                            cal.CALIBRATED)
    path = cal.write_parameter_file(res, tmp_path / "fitted.yaml")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#")
    data = yaml.safe_load(text)
    assert data["calibration"]["targets"][0]["id"] == "a12_refractory"
    assert data["calibration"]["common_random_numbers"] == {"seed": 2021, "patients": 20000}
    assert read_parameter_file(path) == {"second_induction_response_or": 0.4567}
    sc = sim.load_scenario(ROOT / "scenarios" / "base.yaml", cal.overrides_from_file(path))
    assert sc.parameters["second_induction_response_or"] == pytest.approx(0.4567)
    bad = tmp_path / "bad.yaml"
    bad.write_text("parameters: {no_such_parameter: 1}\n")
    with pytest.raises(sim.InputError, match="unknown model parameter"):
        read_parameter_file(bad)


def test_shipped_value_matches_its_calibration_record_and_targets_stay_apart():
    record = yaml.safe_load((ROOT / "sim" / "data" / "calibrated_parameters.yaml").read_text(encoding="utf-8"))
    params = ModelParameters.default()
    for name, value in record["parameters"].items():
        assert params.params[name].kind == "calibrated"
        assert params[name] == pytest.approx(value, abs=5e-4), name
        assert "a12_refractory" in params.params[name].note
    targets = load_targets()
    cal_ids = {t["id"] for t in record["calibration"]["targets"]}
    assert cal_ids <= set(targets.loc[targets["role"] == "calibration", "id"])
    # a calibration target is never a validation comparison (and the reverse)
    calib = targets[targets["role"] == "calibration"]
    assert (calib["validity"] == "calibration").all()
    assert not (targets.loc[targets["role"] == "validation", "validity"] == "calibration").any()
    assert not set(calib["source_id"]) & set(targets.loc[targets["role"] == "validation", "source_id"])
