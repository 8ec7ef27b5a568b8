"""Every parameter traces to evidence rows that exist, or is marked as an assumption."""
from __future__ import annotations

import csv
from importlib import resources

import pytest

from sim.inputs.parameters import KINDS, ModelParameters
from sim.reporting.run_output import parameter_table
from sim.inputs.therapies import TherapyCatalogue
from tests.conftest import load


def evidence_ids() -> set[str]:
    ids = set()
    for name in ("seed_parameters.csv", "external_inputs.csv"):
        with resources.files("sim").joinpath("data", "evidence", name).open(encoding="utf-8") as fh:
            ids |= {row["id"] for row in csv.DictReader(fh)}
    return ids


@pytest.fixture(scope="module")
def table():
    from sim.inputs.build import build
    return parameter_table(build(load("base.yaml")))


def test_every_parameter_has_a_kind_and_a_source_or_is_an_assumption(table):
    assert set(table["kind"]) <= set(KINDS)
    sourced = table[table["kind"].isin(["evidence", "derived", "calibrated"])]
    missing = sourced[sourced["evidence"] == "-"]
    assert missing.empty, missing["parameter"].tolist()


def test_every_cited_evidence_id_exists(table):
    known = evidence_ids()
    cited = {i for cell in table["evidence"] for i in cell.split() if i != "-"}
    assert cited <= known, sorted(cited - known)


def _count_records(node, path=""):
    """Every record of a YAML tree that gives a count: (path, [k, n])."""
    if isinstance(node, dict):
        if "count" in node:
            yield path, node["count"]
        for k, v in node.items():
            yield from _count_records(v, f"{path}.{k}" if path else str(k))


def test_counts_stay_counts():
    """Every count of the data files reaches the model as a count (k of n), with value k/n: the
    uncertainty analysis weighs it by its n."""
    from sim.inputs.data_files import read_data_yaml
    th, mp = TherapyCatalogue.default(), ModelParameters.default()
    params = {**{f"therapies.{k}": v for k, v in th.params().items()}, **mp.params}
    seen = 0
    for filename, prefix in (("therapies.yaml", "therapies."), ("parameters.yaml", "")):
        for path, (k, n) in _count_records(read_data_yaml(filename)):
            p = params[prefix + path]
            assert p.count == (k, n) and p.value == pytest.approx(k / n), path
            seen += 1
    assert seen >= 30
    # deaths_over keeps its count too (B12: 4 of 370 in 24 weeks)
    raw = read_data_yaml("parameters.yaml")["death_rate_active_nephritis"]["deaths_over"]
    assert mp.params["death_rate_active_nephritis"].count == tuple(raw[:2])


def test_review_errors_use_primary_figures():
    """Known errors of the review (evidence README): the primary paper's figures are used, both noted."""
    import re
    rows = {}
    with resources.files("sim").joinpath("data", "evidence", "external_inputs.csv").open(encoding="utf-8") as fh:
        rows = {row["id"]: row["value"] for row in csv.DictReader(fh)}
    glob, cr, pr = (float(x) / 100 for x in re.findall(r"(\d+)%", rows["B30"]))      # "72% / 46% / 32%"
    th = TherapyCatalogue.default()
    rtx = th["rituximab"]
    assert rtx.complete.value == cr and rtx.partial.value == pr                 # Alshaiki, not 51/27
    assert cr + pr > glob and "72%" in rtx.partial.note     # the abstract's own mismatch is noted
    assert "B30" in rtx.complete.evidence and "51%" in rtx.complete.note
    msc = th["msc"]
    major, partial = (tuple(map(int, m)) for m in re.findall(r"(\d+)/(\d+)", rows["B32"])[:2])
    assert msc.complete.count == major and msc.partial.count == partial      # Wang 2014, not swapped
    assert "swap" in msc.complete.note


def test_a13_horizon_is_declared_an_assumption():
    p = ModelParameters.default().params["esrd_target_class_iv_horizon_years"]
    assert p.kind == "assumption" and "A13" in p.evidence


def test_scenario_override_is_recorded_as_assumption():
    default = ModelParameters.default()
    before = default.params["flare_rate_remission"]
    mp = default.with_overrides({"flare_rate_remission": before.value * 2})
    p = mp.params["flare_rate_remission"]
    assert p.value == before.value * 2 and p.kind == "assumption" and "set by scenario" in p.note
    assert default.params["flare_rate_remission"] is before          # the shared default is untouched


def test_a_scenario_can_use_a_calibrated_parameter_file(tmp_path):
    """The calibrated set written by sim.analysis.calibration is used through the scenario's parameters_file;
    the scenario's own parameters take precedence."""
    import shutil
    import yaml
    from importlib import resources
    from sim.inputs.build import build
    src = resources.files("sim").joinpath("data", "calibrated_parameters.yaml")
    fitted = yaml.safe_load(src.read_text())["parameters"]
    shutil.copy(str(src), tmp_path / "fit.yaml")
    from tests.conftest import SCENARIOS
    base = yaml.safe_load((SCENARIOS / "base.yaml").read_text())
    base["parameters_file"] = "fit.yaml"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(base))
    import sim
    m = build(sim.load_scenario(tmp_path / "s.yaml"))
    for name, v in fitted.items():
        assert m.params[name] == pytest.approx(v)
    base["parameters"] = {"second_induction_response_or": 0.9}
    (tmp_path / "s2.yaml").write_text(yaml.safe_dump(base))
    assert build(sim.load_scenario(tmp_path / "s2.yaml")).params["second_induction_response_or"] == 0.9


def test_doses_and_course_lengths_say_which_are_assumed(table):
    """A dose or course length shown as evidence does not say, in its own note, that it is assumed
    or a midpoint (the kind is the record's, not the default of a record that cites a source)."""
    rows = table[table["parameter"].str.contains(r"\.dose\.|\.duration_months$")]
    assert len(rows) > 30
    shown = rows[rows["kind"] == "evidence"]
    said = shown[shown["note"].str.contains(r"assum|midpoint|remembered|from memory", case=False)]
    assert said.empty, said["parameter"].tolist()
    assert (rows["kind"] == "assumption").sum() >= 10 and (rows["kind"] == "derived").sum() >= 5


def test_a_scenario_changing_one_cohort_field_keeps_the_others_provenance():
    from sim.inputs.build import build
    t = parameter_table(build(load("cni_first_class_iv_v.yaml")))
    cohort = t[t["parameter"].str.startswith("cohort.")].set_index("parameter")
    default = parameter_table(build(load("base.yaml")))
    default = default[default["parameter"].str.startswith("cohort.")].set_index("parameter")
    assert set(cohort.index) == set(default.index)             # chronicity and look-alike included
    assert "renormalised" in cohort.loc["cohort.isn_class", "note"]
    for field in ("cohort.age_years", "cohort.chronicity", "cohort.lookalike"):
        assert cohort.loc[field, "note"] == default.loc[field, "note"]
