"""Validation (sim/analysis/validation.py, `lnsim validate`): the targets table, the study populations, the
command end to end at small size, and a cross-check of the DES against a closed-form /
Markov-cohort answer under constant hazards."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.analysis import outcomes as oc
from sim.analysis import validation as val
from sim.analysis.validation_metrics import evaluate
from sim.inputs.parameters import ModelParameters
from sim.reporting.plots import plot_validation_forest, save_figure

from tests.conftest import ROOT, run_lnsim

STUDIES = ROOT / "scenarios" / "validation"
CLASSES = ("III", "IV", "V", "III+V", "IV+V")


lnsim = run_lnsim


# ----------------------------------------------------------------------------------------------
# The targets table and the study populations
# ----------------------------------------------------------------------------------------------

def test_targets_cover_the_required_comparisons_and_say_which_are_inputs():
    t = val.load_targets()
    sources = set(" ".join(t["source_id"]).split())
    for sid in ("A12", "B10", "B11", "B08", "B27", "B28", "A29", "A30", "B29", "B30", "B31", "B32", "B37", "B38",
                "B42", "A13"):
        assert sid in sources, sid
    by = t.groupby("validity")["source_id"].apply(lambda s: set(" ".join(s).split()))
    # figures that are themselves model inputs are internal-validity checks, not external validation
    assert {"B10", "B11", "B30", "B32", "B42"} <= by["internal"]
    assert not {"B10", "B11", "B30"} & by["external"]
    assert {"B08", "B27", "B28", "A29", "B29", "B31", "B37", "A13"} <= by["external"]
    assert set(t.loc[t["role"] == "calibration", "source_id"]) == {"A12"}
    # A13's horizon is the documented assumption of parameters.yaml
    a13 = t[t["source_id"] == "A13"].iloc[0]
    horizon = ModelParameters.default()["esrd_target_class_iv_horizon_years"]
    assert a13["time_years"] == horizon and a13["interval_basis"] == "assumed"
    assert ((t["lower"] <= t["value"]) & (t["value"] <= t["upper"])).all()


def test_every_study_population_builds_and_names_its_strategies():
    t = val.load_targets()
    files = sorted(STUDIES.glob("*.yaml"))
    assert {f.name for f in files} >= set(t["population"])
    for f in files:
        assert f.read_text(encoding="utf-8").lstrip().startswith("#"), f"{f.name}: header comment"
        model = val.study_model(f)
        assert model.scenario.name == f.stem
        names = {s.name for s in model.scenario.strategies}
        rows = t[t["population"] == f.name]
        assert set(rows["strategy"]) <= names and set(rows["versus"]) - {""} <= names, f.name


def test_model_under_test_is_applied_to_every_population_and_the_study_data_win(tmp_path):
    model = val.model_under_test(None, ["parameters.flare_rate_remission=0.05",
                                       "therapies.tacrolimus_multitarget.roles=[ladder]"])
    built = val.study_model(STUDIES / "liu2015_multitarget.yaml", model)
    assert built.params["flare_rate_remission"] == 0.05
    assert "induction" in built.therapies["tacrolimus_multitarget"].roles      # the study's own change wins
    with pytest.raises(sim.InputError, match="only parameters, therapies and life_table"):
        val.model_under_test(None, ["horizon_years=3"])


def test_bad_targets_are_reported_with_file_and_field(tmp_path):
    good = pd.read_csv(ROOT / "sim" / "data" / "targets.csv", comment="#", dtype=str, keep_default_na=False)
    bad = good.head(2).copy()
    bad.loc[1, "metric"] = "no_such_metric"
    path = tmp_path / "t.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(sim.InputError, match="unknown metric"):
        val.load_targets(path)
    bad = good.head(2).copy()
    bad.loc[1, "role"] = "calibration"          # a validation comparison cannot also be a calibration target
    bad.to_csv(path, index=False)
    with pytest.raises(sim.InputError, match="calibration targets have role"):
        val.load_targets(path)


def test_time_points_beyond_the_horizon_are_refused():
    res = val.simulate_population(STUDIES / "alms.yaml", None, 40, 1)
    with pytest.raises(sim.InputError, match="horizon"):
        evaluate(res, "esrd_by", "mmf", 5.0)


# ----------------------------------------------------------------------------------------------
# The command end to end at small size
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def validate_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("validate") / "out"
    r = lnsim("validate", ROOT / "scenarios" / "base.yaml", "--patients", 300, "--seed", 5, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    return out, r


def test_validate_writes_the_table_the_plot_and_a_manifest(validate_dir):
    out, r = validate_dir
    for name in ("validation.csv", "validation_forest.png", "validation_forest.svg", "validation_manifest.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    table = pd.read_csv(out / "validation.csv")
    assert list(table.columns[:12]) == ["comparison", "source_id", "metric", "time_years", "published_value",
                                        "published_lower", "published_upper", "simulated_value", "simulated_lower",
                                        "simulated_upper", "inside", "role"]
    targets = val.load_targets()
    assert sorted(table["target_id"]) == sorted(targets["id"])
    assert set(table["validity"]) == set(val.VALIDITY.values())
    # calibration first, then internal validity, then external validation
    order = [list(val.VALIDITY.values()).index(v) for v in table["validity"]]
    assert order == sorted(order)
    ok = table["simulated_value"].notna()
    assert ok.mean() > 0.9
    judged = table.loc[ok, "inside"]
    assert judged.isin([True, False]).all()
    inside = (table["published_lower"] <= table["simulated_value"] + 1e-9) & \
             (table["simulated_value"] <= table["published_upper"] + 1e-9)
    assert (judged.astype(bool) == inside[ok]).all()
    assert (table.loc[ok, "simulated_lower"] <= table.loc[ok, "simulated_value"] + 1e-12).all()
    m = json.loads((out / "validation_manifest.json").read_text())
    assert m["patients"] == 300 and m["seed"] == 5 and len(m["targets_sha256"]) == 64
    assert "scenarios/base.yaml" in m["model"]["source"]
    assert "inside the published interval" in r.stdout


def test_validate_refuses_a_non_empty_folder_before_simulating(validate_dir, capsys):
    from sim.reporting.cli import main
    out, _ = validate_dir
    assert main(["validate", "--patients", "300", "--out", str(out), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_forest_plot_has_a_panel_per_scale(tmp_path):
    rows = []
    for i, (unit, v) in enumerate([("proportion", 0.5), ("difference", 0.2), ("ratio", 3.8), ("per patient-year", 0.1)]):
        rows.append({"comparison": f"c{i}", "source_id": "X", "published_value": v, "published_lower": v * 0.8,
                     "published_upper": v * 1.2, "simulated_value": v * 1.1, "simulated_lower": v,
                     "simulated_upper": v * 1.3, "inside": True, "validity": list(val.VALIDITY.values())[i % 3],
                     "unit": unit})
    fig = plot_validation_forest(pd.DataFrame(rows))
    assert len(fig.axes) == 3
    png, svg = save_figure(fig, tmp_path / "forest")
    assert png.stat().st_size > 0 and svg.stat().st_size > 0


# ----------------------------------------------------------------------------------------------
# Cross-check: the DES against a Markov cohort / closed form under constant hazards
# ----------------------------------------------------------------------------------------------

H_DEATH, H_ESRD, H_DIALYSIS = 0.03, 0.08, 0.25


def _constant_hazard_scenario(tmp_path: Path, esrd_rate: float) -> sim.Scenario:
    """No heterogeneity and exponential times: a flat life table (the same hazard at every age and for
    both sexes), SMR 1 and no excess death, one class (IV, hazard ratio 1), no first-year ESRD factor,
    no response to anything (so nobody leaves active nephritis and nobody flares), no transplant."""
    table = tmp_path / "flat_life_table.csv"
    table.write_text("age,female,male\n" + "".join(f"{a},{H_DEATH},{H_DEATH}\n" for a in range(111)))
    zero = {a: {"response": {"complete": 0, "partial": 0}, "responders_by_class": {c: 0 for c in CLASSES}}
            for a in ("mmf", "cyc_eurolupus")}
    data = {
        "name": "constant_hazards", "horizon_years": 12, "life_table": str(table),
        "cohort": {"preset": "default", "isn_class": {"IV": 1.0}},
        "parameters": {"smr_lupus_nephritis": 1.0, "death_rate_active_nephritis": 0.0, "esrd_hr_first_year": 1.0,
                       "esrd_rate_active": esrd_rate, "death_rate_dialysis": H_DIALYSIS,
                       "transplant_rate_on_dialysis": 0.0, "late_response_given_none": 0.0},
        "therapies": zero,
        "strategies": [{"name": "no_response", "ladder": []}],
    }
    return sim.Scenario.model_validate(data)


@pytest.fixture(scope="module")
def constant_hazard_run(tmp_path_factory):
    sc = _constant_hazard_scenario(tmp_path_factory.mktemp("flat"), H_ESRD)
    return sim.simulate(sc, patients=4000, seed=21, costed=False)


def test_des_agrees_with_the_markov_cohort_within_monte_carlo_error(constant_hazard_run):
    """Constant hazards of ESRD (0.08/y) and death (0.03/y), then death on dialysis (0.25/y): the DES's
    Aalen-Johansen cumulative incidence of ESRD equals h_e/(h_e+h_d)(1-exp(-(h_e+h_d)t)), its
    death-before-ESRD incidence and all-cause mortality equal the Markov cohort's (matrix
    exponential), each within 4 Monte Carlo standard errors."""
    p = constant_hazard_run.patients
    n = len(p)
    assert p["response_time_years"].isna().all() and (p["n_renal_flares"] == 0).all()
    times = [1.0, 3.0, 6.0, 10.0]
    cohort = val.constant_hazard_cohort(H_ESRD, H_DEATH, H_DIALYSIS, times)
    t_e, c_e = oc.esrd_competing_risk_data(p)
    t_d, o_d = oc.death_data(p)
    for _, row in cohort.iterrows():
        t = row["time_years"]
        for simulated, expected in (
                (oc.cumulative_incidence_at(t_e, c_e, oc.ESRD, t), row["esrd_cumulative_incidence"]),
                (oc.cumulative_incidence_at(t_e, c_e, oc.DEATH, t), row["death_before_esrd"]),
                (1 - oc.km_survival_at(t_d, o_d, t), row["dead"])):
            se = math.sqrt(expected * (1 - expected) / n)
            assert abs(simulated - expected) <= 4 * se, (t, simulated, expected, se)
    # the Markov cohort (matrix exponential) against the closed forms written here, independently:
    # s = h_e + h_d; F_esrd = h_e/s (1 - e^-st); F_death = h_d/s (1 - e^-st);
    # P_dialysis = h_e/(h_dial - s) (e^-st - e^-h_dial t); dead = 1 - e^-st - P_dialysis
    s = H_ESRD + H_DEATH
    for _, row in cohort.iterrows():
        t = row["time_years"]
        e_st = math.exp(-s * t)
        assert row["esrd_cumulative_incidence"] == pytest.approx(H_ESRD / s * (1 - e_st), rel=1e-9)
        assert row["death_before_esrd"] == pytest.approx(H_DEATH / s * (1 - e_st), rel=1e-9)
        p_dial = H_ESRD / (H_DIALYSIS - s) * (e_st - math.exp(-H_DIALYSIS * t))
        assert row["dialysis"] == pytest.approx(p_dial, rel=1e-9)
        assert row["dead"] == pytest.approx(1 - e_st - p_dial, rel=1e-9)


def test_smr_is_one_without_excess_mortality(tmp_path):
    """With no ESRD and no excess death the simulated SMR against the (flat) life table is 1."""
    res = sim.simulate(_constant_hazard_scenario(tmp_path, 0.0), patients=2000, seed=4, costed=False)
    est = evaluate(res, "smr", "no_response")
    assert est.lower <= 1.0 <= est.upper, est
    assert abs(est.value - 1.0) < 4 * est.se
