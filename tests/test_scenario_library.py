"""The scenario library (scenarios/*.yaml): every file loads, builds and runs; its strategies
differ in data only and see the same patients; exploratory files say so."""
from __future__ import annotations

import itertools

import pytest

import sim
from sim.inputs.build import build
from sim.inputs.therapies import TherapyCatalogue

from tests.conftest import ROOT  # noqa: E402
SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.yaml"))
IDS = [p.stem for p in SCENARIO_FILES]
PATIENTS = 100
HORIZON = 2

# Patient attributes drawn from the scenario's cohort: identical in every strategy of a file.
COHORT_COLUMNS = ["patient", "isn_class", "ancestry", "age", "sex", "weight_kg", "height_cm", "bsa_m2",
                  "proteinuria_g_day", "egfr_ml_min", "nonadherent", "chronicity", "lookalike"]
# Emerging options whose records predate the `exploratory` flag of therapies.yaml (AURORA 1 is
# first-line evidence; the review names voclosporin without numbers, A56).
EMERGING = {"voclosporin"}


def test_library_is_there():
    names = set(IDS)
    for wanted in ("base", "eular_vs_acr", "rituximab_belimumab", "cni_first_class_iv_v", "no_msc",
                   "last_step", "colombia", "exploratory", "workup"):
        assert wanted in names, f"scenarios/{wanted}.yaml is missing"


@pytest.fixture(scope="module", params=SCENARIO_FILES, ids=IDS)
def run(request):
    """Each scenario, 100 patients for 2 horizon years."""
    path = request.param
    sc = sim.load_scenario(path, [f"horizon_years={HORIZON}"])
    model = build(sc)
    return path, model, sim.simulate(model, patients=PATIENTS, seed=7)


def test_scenario_loads_builds_and_runs(run):
    path, model, result = run
    sc = model.scenario
    assert sc.name == path.stem, "a scenario's name is its file name"
    assert sc.description.strip(), "every scenario has a description"
    assert path.read_text(encoding="utf-8").lstrip().startswith("#"), \
        "every scenario starts with a header comment (question, evidence rows, assumptions)"
    strategies = [s.name for s in sc.strategies]
    pts = result.patients
    assert list(dict.fromkeys(pts["strategy"])) == strategies
    assert (pts.groupby("strategy").size() == PATIENTS).all()
    assert (pts["followup_years"] <= HORIZON + 1e-9).all()
    assert not result.events.empty and not result.summary.empty
    assert set(result.summary["strategy"]) == set(strategies)


def test_strategies_differ_in_data_only_and_see_the_same_patients(run):
    path, model, result = run
    sc = model.scenario
    # strategies are pure data records (validated by the schema); each pair differs in some field
    # other than its name and description
    for a, b in itertools.combinations(sc.strategies, 2):
        da = a.model_dump(exclude={"name", "description"})
        db = b.model_dump(exclude={"name", "description"})
        assert da != db, f"{path.name}: strategies {a.name} and {b.name} are the same protocol"
    # one cohort per file: every strategy simulates the same virtual patients
    pts = result.patients
    groups = [g[COHORT_COLUMNS].reset_index(drop=True) for _, g in pts.groupby("strategy", sort=False)]
    for g in groups[1:]:
        assert g.equals(groups[0]), f"{path.name}: strategies see different patients"


def _emerging_used(model) -> set[str]:
    used = set()
    for s in model.scenario.strategies:
        for t in [*s.ladder, *s.induction_shares()]:
            if t in EMERGING or model.therapies[t].exploratory:
                used.add(t)
    return used


def test_exploratory_scenarios_say_so(run):
    path, model, _ = run
    sc = model.scenario
    used = _emerging_used(model)
    if not used and "exploratory" not in path.stem:
        # a scenario without emerging options must not be labelled exploratory either
        assert "exploratory" not in sc.description.lower(), path.name
        return
    assert "exploratory" in sc.description.lower(), \
        f"{path.name} uses {sorted(used)} but its description does not say 'exploratory'"
    head = path.read_text(encoding="utf-8").split("\nname:")[0].lower()
    assert "exploratory" in head, f"{path.name}: the header comment must say 'exploratory'"
    for s in sc.strategies:
        if set(s.ladder) & used:
            assert "exploratory" in s.description.lower(), f"{path.name}: strategy {s.name}"


def test_exploratory_library_covers_the_emerging_options():
    model = build(sim.load_scenario(ROOT / "scenarios" / "exploratory.yaml"))
    steps = {t for s in model.scenario.strategies for t in s.ladder}
    assert {"voclosporin", "obinutuzumab", "car_t"} <= steps


def test_car_t_is_weighted_as_a_single_case_report():
    t = TherapyCatalogue.default()["car_t"]
    assert t.exploratory and "A69" in t.evidence
    assert t.complete.count[1] == t.partial.count[1] == 1                   # one patient (A69: a single case)
    assert t.complete.count[0] + t.partial.count[0] == 1                     # ... with a favourable result
    assert "case report" in t.complete.note and "hypothetical" in t.complete.note.lower()


def _evidence_row(row_id: str) -> dict:
    import csv
    with open(ROOT / "sim" / "data" / "evidence" / "seed_parameters.csv", encoding="utf-8") as fh:
        return next(r for r in csv.DictReader(fh) if r["id"] == row_id)


def test_colombian_rituximab_uses_the_colombian_cohort_counts():
    import re
    model = build(sim.load_scenario(ROOT / "scenarios" / "colombia.yaml"))
    ratio = float(_evidence_row("A06")["value"].split(":")[0])                  # female:male "8.07:1"
    assert model.scenario.cohort.female == pytest.approx(ratio / (ratio + 1), abs=1e-3)   # preset colombia
    t = model.therapies["rituximab_colombia"]
    for rec, row_id in ((t.complete, "A34"), (t.partial, "A35")):
        row = _evidence_row(row_id)                                              # "28%" of "42 patients"
        n = int(re.match(r"\d+", row["denominator_or_n"]).group())
        share = float(row["value"].rstrip("%")) / 100
        assert rec.count == (round(share * n), n) and row_id in rec.evidence
    assert "not LN only" in t.complete.note
    assert t.response_stream == model.therapies["rituximab"].response_stream   # common random numbers


def test_cni_first_population_is_class_iv_v_only():
    sc = sim.load_scenario(ROOT / "scenarios" / "cni_first_class_iv_v.yaml", [f"horizon_years={HORIZON}"])
    assert set(sc.cohort.isn_class) == {"IV", "V", "IV+V"}
    pts = sim.simulate(sc, patients=PATIENTS, seed=7).patients
    assert set(pts["isn_class"]) <= {"IV", "V", "IV+V"}
