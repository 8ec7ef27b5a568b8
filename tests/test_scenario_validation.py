"""Scenario validation: a corpus of malformed scenarios, each refused with its specific message.

Every file in ``tests/scenarios_bad/`` is a small valid scenario with exactly one thing wrong (the
comment at its top says what). For each one:

* ``sim.load_scenario`` + ``sim.inputs.build.build`` raise :class:`InputError` whose message names the
  file, the field path (as the user would write it in ``--set``) and the defect (the table below);
* ``lnsim validate-scenario FILE`` exits with status 2, prints that message on stderr and no
  traceback, and ``lnsim run FILE --out DIR`` writes nothing at DIR.

Bad ``--set`` overrides, the shipped scenarios, the ``--out`` guard and the safe YAML loader are
tested below the corpus.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import sim
from sim.errors import InputError
from sim.inputs.loading import apply_override
from sim.inputs.build import build
from sim.inputs.yaml_files import read_yaml

from tests.conftest import ROOT, SCENARIOS  # noqa: E402
BAD = Path(__file__).resolve().parent / "scenarios_bad"
SET_PATH = re.compile(r"[A-Za-z0-9_.+\-]+")   # what `--set PATH=VALUE` accepts as PATH

# file name -> (field path in the message, or None for defects of the file itself; regex of the defect's words)
CORPUS: dict[str, tuple[str | None, str]] = {
    # economic tables and parameter files are read when the scenario is checked, not at the end of a run
    "negative_cost.yaml": ("economics.cost_table", r"negative cost .*negative_cost\.csv.*\(got -100\.0\); allowed: >= 0"),
    "missing_cost_table.yaml": ("economics.cost_table", r"file not found .*no_such_table\.csv"),
    "missing_parameters_file.yaml": ("parameters_file", r"parameters file not found.*\(got 'no_such_calibration\.yaml'\)"),
    # the clinical picture: chronic damage, the work-up of a non-response, steroid schedules
    "chronicity_shares_not_one.yaml": ("cohort.chronicity", r"chronicity band shares must sum to 1 \(they sum to 0\.9\)"
                                                            r".*allowed: shares of low, moderate, high that are >= 0 and sum to 1"),
    "workup_wrong_management.yaml": ("strategies.0.workup.management.tma",
                                     r"therapy 'membranous_cni' manages 'membranous', not 'tma'.*allowed: plasma_exchange_tma"),
    "workup_unknown_key.yaml": ("strategies.0.workup.repeat_biopsies",
                                r"unknown key 'repeat_biopsies'.*\(did you mean repeat_biopsy\?\)"),
    "glucocorticoid_negative.yaml": ("therapies.mmf.glucocorticoids.start_mg_day", r"out of range \(got -10\.0\); allowed: >= 0"),
    # a switch map that leaves an agent reachable by switching without a partner
    "switch_not_closed.yaml": ("strategies.0.switch.cyc_nih", r"no switch partner for 'cyc_nih'.*reach by switching"),
    # unknown keys
    "unknown_top_level_key.yaml": ("horizon_year", r"unknown key 'horizon_year'; allowed: name, .*"
                                                   r"\(did you mean horizon_years\?\)"),
    "unknown_strategy_key.yaml": ("strategies.0.first_assesment_months",
                                  r"unknown key 'first_assesment_months'; allowed: .*first_assessment_months"),
    "unknown_cohort_key.yaml": ("cohort.females", r"unknown key 'females'; allowed: .*preset \(did you mean female\?\)"),
    # wrong types and missing values
    "string_for_number.yaml": ("horizon_years", r"valid number.*\(got 'twenty'\); allowed: a number > 0 and <= 100"),
    "list_for_mapping.yaml": ("cohort", r"valid dictionary.*\(got \['default'\]\); allowed: a mapping with keys "
                                        r"description, age_years, female"),
    "missing_value.yaml": ("horizon_years", r"no value given \(got an empty value\); allowed: a number > 0 and <= 100"),
    "boolean_for_number.yaml": ("cohort.female", r"yes/no \(true/false\) is not a number \(got True\); allowed: a number"),
    "patients_fractional.yaml": ("patients", r"valid integer.*fractional part \(got 200.5\); allowed: a whole number"),
    # probabilities
    "cohort_female_above_one.yaml": ("cohort.female", r"less than or equal to 1 \(got 1.3\); allowed: a number >= 0 and <= 1"),
    "cohort_nonadherent_negative.yaml": ("cohort.nonadherent",
                                         r"greater than or equal to 0 \(got -0.1\); allowed: a number >= 0 and <= 1"),
    "therapy_complete_above_one.yaml": ("therapies.rituximab.response.complete",
                                        r"probability outside \[0, 1\] \(got 1.2\); allowed: 0 to 1"),
    "therapy_response_sum_above_one.yaml": ("therapies.rituximab.response",
                                            r"complete \+ partial response above 1 \(got 1.1\); allowed: sum at most 1"),
    "probability_parameter_above_one.yaml": ("parameters.late_cr_given_partial",
                                             r"probability outside \[0, 1\] \(got 1.5\); allowed: 0 to 1"),
    # therapy overrides
    "therapy_override_unknown_therapy.yaml": ("therapies.rituximabb", r"unknown therapy 'rituximabb'.*allowed: mmf, .*"
                                                                      r"did you mean rituximab\?.*full new record"),
    "therapy_override_unknown_key.yaml": ("therapies.rituximab.respons",
                                          r"unknown key 'respons'; allowed: label, .*\(did you mean response\?\)"),
    "therapy_override_text_value.yaml": ("therapies.rituximab.response.complete",
                                         r"must be a number \(got 'high'\); allowed: a number"),
    # therapies in strategies
    "ladder_unknown_therapy.yaml": ("strategies.0.ladder.3", r"unknown therapy 'immunoadsorbtion'.*allowed: rituximab, "
                                                             r".*\(did you mean immunoadsorption\?\)"),
    "induction_agent_as_ladder_step.yaml": ("strategies.0.ladder.0", r"therapy 'cyc_eurolupus' \(induction\) cannot be "
                                                                     r"used as a ladder step.*allowed: rituximab, "),
    "ladder_step_as_induction.yaml": ("strategies.0.induction", r"therapy 'rituximab' \(ladder\) cannot be used as an "
                                                                r"induction agent.*allowed: mmf, cyc_nih, cyc_eurolupus"),
    "unknown_maintenance.yaml": ("strategies.0.maintenance", r"therapy 'rituximab' \(ladder\) cannot be used as "
                                                             r"maintenance.*allowed: mmf_maintenance"),
    "duplicate_ladder_step.yaml": ("strategies.0.ladder.3", r"ladder step repeated.*already step 1.*"
                                                            r"\(got 'tacrolimus_multitarget'\)"),
    "ladder_assessment_not_in_ladder.yaml": ("strategies.0.ladder_assessment_months.ivig",
                                             r"not in the ladder \(got 'ivig'\); allowed: rituximab_belimumab, "),
    "unknown_flare_reentry.yaml": ("strategies.0.flare_reentry", r"unknown flare re-entry rule \(got 'restart'\); "
                                                                 r"allowed: same_step, induction, ladder or a step"),
    # strategies
    "duplicate_strategy_names.yaml": ("strategies.1.name", r"strategy names must be unique; 'rtx_belimumab' is also "
                                                           r"strategy 0"),
    "bad_strategy_name.yaml": ("strategies.1.name", r"match pattern.*\(got 'rtx alone'\); allowed: .*only letters, "
                                                    r"digits and _ \. \+ -"),
    "no_strategies.yaml": ("strategies", r"at least 1 item.*\(got \[\]\); allowed: a list of strategy mappings"),
    "reassessment_before_first.yaml": ("strategies.0.reassessment_months",
                                       r"reassessment must come after the first assessment.*\(got 2.0\); "
                                       r"allowed: > 3 and <= 36 months"),
    "induction_shares_sum.yaml": ("strategies.0.induction", r"induction shares must sum to 1 \(they sum to 0.8\)"),
    # sizes
    "horizon_zero.yaml": ("horizon_years", r"greater than 0 \(got 0\); allowed: a number > 0 and <= 100"),
    "horizon_above_100.yaml": ("horizon_years", r"less than or equal to 100 \(got 150\); allowed: a number > 0"),
    "patients_zero.yaml": ("patients", r"greater than 0 \(got 0\); allowed: a whole number > 0"),
    "patients_negative.yaml": ("patients", r"greater than 0 \(got -5\); allowed: a whole number > 0"),
    "seed_negative.yaml": ("seed", r"greater than or equal to 0 \(got -1\); allowed: a whole number >= 0 and < 2\^63"),
    # cohort
    "isn_class_shares_sum.yaml": ("cohort.isn_class", r"class shares must sum to 1 \(they sum to 1.1\).*"
                                                      r"allowed: shares of III, IV, V, III\+V, IV\+V"),
    "unknown_isn_class.yaml": ("cohort.isn_class", r"unknown ISN/RPS class \['VI'\]; allowed: III, IV, V, III\+V, IV\+V"),
    "unknown_ancestry.yaml": ("cohort.ancestry", r"unknown ancestry group \['european'\]; allowed: white, african"),
    "truncnorm_min_above_max.yaml": ("cohort.age_years", r"min \(75.0\) must be below max \(18.0\); allowed: .*min < max"),
    "truncnorm_mean_outside.yaml": ("cohort.egfr_ml_min", r"mean \(200.0\) must lie within \[min, max\] = "
                                                          r"\[15.0, 140.0\]; allowed: .*min <= mean <= max"),
    "unknown_cohort_preset.yaml": ("cohort.preset", r"unknown cohort preset \(got 'peru'\); allowed: default, colombia"),
    # model parameters
    "unknown_parameter.yaml": ("parameters.esrd_rate_activ", r"unknown model parameter 'esrd_rate_activ'.*"
                                                             r"did you mean esrd_rate_active"),
    "negative_rate.yaml": ("parameters.esrd_rate_active", r"must not be negative \(got -0.01\); allowed: >= 0"),
    "odds_ratio_zero.yaml": ("parameters.nonadherent_response_or", r"odds ratios must be positive \(got 0.0\); "
                                                                   r"allowed: > 0"),
    # life tables
    "life_table_missing.yaml": ("life_table", r"life table file not found .*no_such_table.csv.*allowed: a CSV file "
                                              r"with columns age,female,male"),
    "life_table_gap.yaml": ("life_table", r"gap.csv: column 'age': ages must be 0, 1, 2, \.\.\. without gaps; "
                                          r"data row 42 should be age 41 \(got 42\)"),
    "life_table_negative_hazard.yaml": ("life_table", r"negative_hazard.csv: column 'male' at age 60: hazards must be "
                                                      r"positive finite numbers \(got -0.002\); allowed: > 0"),
    "life_table_missing_column.yaml": ("life_table", r"no_male_column.csv: missing column 'male' \(found: age, female\)"),
    # the file itself
    "python_object_tag.yaml": ("description", r"YAML tag '!!python/object/apply:os.system' at line 4 is not allowed: "
                                              r"scenario files are read with a safe loader"),
    "duplicate_key.yaml": ("patients", r"duplicate key 'patients' at line 7 \(first given at line 5\)"),
    "invalid_yaml_syntax.yaml": (None, r"not valid YAML at line 16, column 18: expected ',' or '\]'"),
    "top_level_list.yaml": (None, r"the top level must be a mapping of scenario fields, not a list"),
    "empty.yaml": (None, r"the file is empty"),
    "not_utf8.yaml": (None, r"not UTF-8 text: byte 0xf3 at line 3 cannot be decoded; allowed: a UTF-8 encoded"),
}


def expected(name: str) -> str:
    """The regex a case's message must match: file name, then field path, then the defect's words."""
    field, words = CORPUS[name]
    head = re.escape(str(BAD / name)) + (f": field '{re.escape(field)}'" if field else "")
    return head + r": .*" + words


def test_corpus_is_complete():
    """Every file of the corpus has an expected message, and every expected message has its file."""
    files = sorted(p.name for p in BAD.glob("*.yaml"))
    assert files == sorted(CORPUS)
    assert len(files) >= 35
    for field, _ in CORPUS.values():
        assert field is None or SET_PATH.fullmatch(field), field


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_load_and_build_refuse(name):
    with pytest.raises(InputError, match=expected(name)) as info:
        build(sim.load_scenario(BAD / name))
    assert "\n" not in str(info.value)   # one defect, one line


@pytest.mark.parametrize("name", sorted(n for n, (field, _) in CORPUS.items() if field))
def test_field_path_is_one_set_accepts(name):
    """The field path named in the message is one the user can pass to --set, and it addresses an
    existing place of the file (a key of a mapping, an item of a list), not a new one."""
    field = CORPUS[name][0].split(" ")[0]
    assert SET_PATH.fullmatch(field), field
    if name in ("python_object_tag.yaml", "duplicate_key.yaml"):
        return                                   # the file cannot be read as a mapping at all
    data = read_yaml(BAD / name)
    parts = field.split(".")
    node = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]     # every container exists
    assert isinstance(node, (dict, list)), (field, type(node))
    last = parts[-1]
    if name != "switch_not_closed.yaml":         # that message names the partner the user must add
        assert (int(last) < len(node)) if isinstance(node, list) else (last in node), (name, field)
    changed = apply_override(data, f"{field}=__probe__")
    for part in parts[:-1]:                      # the override reached that place of the file's data
        changed = changed[int(part)] if isinstance(changed, list) else changed[part]
    assert (changed[int(last)] if isinstance(changed, list) else changed[last]) == "__probe__"


# -- the command line -------------------------------------------------------------------------

def lnsim_process(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The real command in a child process (a few cases: proves exit status and no traceback end to end)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def lnsim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The command's entry point called in this process (the same code path as the console script,
    without paying a Python start-up per case): exit status, stdout and stderr."""
    import contextlib
    import io
    from sim.reporting.cli import main
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 2
            except Exception:                       # a traceback would reach the user
                import traceback
                traceback.print_exc(file=err)
                code = 1
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def _parallel(request, test_name: str, param: str, command) -> dict:
    """Run `command(value)` for the selected parameters of a test (sequentially: in-process calls
    redirect the process's stdout and stderr)."""
    selected = {item.callspec.params[param] for item in request.session.items
                if getattr(item, "originalname", "") == test_name}
    return {v: command(v) for v in sorted(selected, key=str)}


PROCESS_CASES = ["python_object_tag.yaml", "unknown_top_level_key.yaml", "life_table_missing.yaml"]


@pytest.mark.parametrize("name", [n for n in PROCESS_CASES])
def test_cli_refuses_in_a_real_process(name, tmp_path):
    assert name in CORPUS
    r = lnsim_process("run", str(BAD / name), "--out", str(tmp_path / "o"), "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    assert re.search(expected(name), r.stderr), r.stderr
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="session")
def cli_results(request, tmp_path_factory):
    """`validate-scenario` and `run --out` for every selected corpus file, run in parallel once per session."""
    out_root = tmp_path_factory.mktemp("bad_runs")

    def both(name: str):
        return (lnsim("validate-scenario", str(BAD / name)),
                lnsim("run", str(BAD / name), "--out", str(out_root / Path(name).stem), "--quiet"))

    return _parallel(request, "test_cli_refuses", "name", both), out_root


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_cli_refuses(name, cli_results):
    results, out_root = cli_results
    val, run = results[name]
    assert val.returncode == 2, val.stdout + val.stderr
    assert re.search(expected(name), val.stderr), val.stderr
    assert val.stderr.startswith("lnsim: error: ")
    assert "Traceback" not in val.stderr + val.stdout
    assert val.stdout == ""
    assert run.returncode == 2, run.stdout + run.stderr
    assert re.search(expected(name), run.stderr), run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert not (out_root / Path(name).stem).exists()


# -- --set overrides ----------------------------------------------------------------------------

BASE = ROOT / "tests" / "data" / "small_scenario.yaml"   # the valid file the corpus was copied from


def test_template_of_the_corpus_is_valid():
    build(sim.load_scenario(BASE))

BAD_OVERRIDES = [
    # (override, field path or None, regex of the defect's words)
    ("strategies..ladder=[msc]", None, r"bad field path \(got 'strategies\.\.ladder'\); allowed: dotted names"),
    ("strategies.0.ladder[1]=msc", None, r"bad field path \(got 'strategies\.0\.ladder\[1\]'\)"),
    ("horizon_years", None, r"override must look like PATH=VALUE"),
    ("name.part=1", "name", r"path goes inside a value that is not a mapping or list \(got 'bad_case'\)"),
    ("strategies.5.ladder=[msc]", "strategies.5", r"list index out of range \(got 5\); allowed: 0 to 1"),
    ("strategies.0.ladder.9=msc", "strategies.0.ladder.9", r"list index out of range \(got 9\); allowed: 0 to 3"),
    ("strategies.rtx_alon.ladder=[msc]", "strategies.rtx_alon",
     r"no list item with this name \(got 'rtx_alon'\); allowed: rtx_belimumab, rtx_alone"),
    ("strategies.0.ladders=[msc]", "strategies.0.ladders", r"unknown key 'ladders'.*did you mean ladder\?"),
    ("horizon_years=abc", "horizon_years", r"valid number.*\(got 'abc'\); allowed: a number > 0 and <= 100"),
    ("patients=[1, 2]", "patients", r"valid integer \(got \[1, 2\]\); allowed: a whole number > 0"),
    ("cohort.female=yes", "cohort.female", r"yes/no \(true/false\) is not a number"),
    ("strategies.0.induction=[mmf]", "strategies.0.induction",
     r"wrong type of value \(got \['mmf'\]\); allowed: a therapy name, or a mapping"),
    ("strategies.rtx_alone.ladder.1=mmf", "strategies.1.ladder.1", r"therapy 'mmf' \(induction\) cannot be used as a "
                                                                   r"ladder step"),
    ("parameters.esrd_rate_active=.nan", "parameters.esrd_rate_active", r"must be a finite number \(got nan\)"),
    ("therapies.rituximab.roles=ladder", "therapies.rituximab.roles", r"roles must be a list \(got 'ladder'\)"),
    ("therapies.rituximab.dose=[5]", "therapies.rituximab.dose.0", r"dose entry must be a mapping"),
    ("cohort.preset=[default]", "cohort.preset", r"unknown cohort preset \(got \['default'\]\)"),
]


@pytest.mark.parametrize("override, field, words", BAD_OVERRIDES, ids=[o for o, _, _ in BAD_OVERRIDES])
def test_bad_override(override, field, words):
    head = re.escape(str(BASE)) + r" (with )?--set " + re.escape(override)
    pattern = head + (f": field '{re.escape(field)}'" if field else "") + r": .*" + words
    with pytest.raises(InputError, match=pattern):
        build(sim.load_scenario(BASE, [override]))


def test_bad_override_on_command_line():
    r = lnsim("validate-scenario", str(BASE), "--set", "strategies.5.ladder=[msc]")
    assert r.returncode == 2
    assert "field 'strategies.5': list index out of range (got 5); allowed: 0 to 1" in r.stderr
    assert "Traceback" not in r.stderr


def test_override_of_a_counted_therapy_value_takes_effect():
    """A `value` override replaces a `count` (which would otherwise win) and is marked as an assumption."""
    model = build(sim.load_scenario(BASE, ["therapies.mmf.response.complete.value=0.3"]))
    p = model.therapies["mmf"].complete
    assert p.value == 0.3 and p.count is None and p.kind == "assumption"


# -- shipped scenarios and the --out guard ------------------------------------------------------

SHIPPED = sorted(SCENARIOS.rglob("*.yaml"))


@pytest.fixture(scope="session")
def shipped_results(request):
    return _parallel(request, "test_shipped_scenarios_validate", "path",
                     lambda path: lnsim("validate-scenario", str(path)))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_shipped_scenarios_validate(path, shipped_results):
    build(sim.load_scenario(path))
    r = shipped_results[path]
    assert r.returncode == 0, r.stderr
    assert ": valid (" in r.stdout


def test_run_refuses_non_empty_out_folder(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    (out / "sub").mkdir()
    (out / "sub" / "table.csv").write_text("a,b\n1,2\n")
    before = {p.relative_to(out): p.read_bytes() if p.is_file() else None for p in out.rglob("*")}
    r = lnsim("run", str(BASE), "--patients", "10", "--out", str(out), "--quiet")
    assert r.returncode == 2
    assert "output folder exists and is not empty" in r.stderr and "--overwrite" in r.stderr
    assert "Traceback" not in r.stderr
    after = {p.relative_to(out): p.read_bytes() if p.is_file() else None for p in out.rglob("*")}
    assert after == before


# -- safe loading -------------------------------------------------------------------------------

def test_python_object_tag_does_not_execute(tmp_path):
    """A tag that would create a file when loaded unsafely is refused, and the file is not created."""
    target = tmp_path / "pwned.txt"
    scenario = tmp_path / "evil.yaml"
    text = BASE.read_text(encoding="utf-8")
    scenario.write_text(text.replace("description:", f'description: !!python/object/apply:builtins.open '
                                                      f'["{target.as_posix()}", "w"]\nold_description:', 1),
                        encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(str(scenario)) + r": field 'description': YAML tag "
                                         r"'!!python/object/apply:builtins.open' at line \d+ is not allowed"):
        sim.load_scenario(scenario)
    assert not target.exists()
    r = lnsim("validate-scenario", str(scenario))
    assert r.returncode == 2 and "is not allowed" in r.stderr and "Traceback" not in r.stderr
    assert not target.exists()
    # the payload is real: an unsafe loader would have created the file
    control = tmp_path / "control.yaml"
    control.write_text(f'x: !!python/object/apply:builtins.open ["{(tmp_path / "control.txt").as_posix()}", "w"]\n')
    yaml.unsafe_load(control.read_text()).get("x").close()
    assert (tmp_path / "control.txt").exists()


def test_yaml_anchors_and_merge_keys_are_allowed(tmp_path):
    """Plain YAML features that build no objects (anchors, aliases, merge keys) still work."""
    p = tmp_path / "anchors.yaml"
    p.write_text("""\
name: anchors
cohort: {preset: default}
strategies:
  - &eular {name: eular, induction: mmf, first_assessment_months: 3, reassessment_months: 6}
  - <<: *eular
    name: acr
    reassessment_months: 12
""", encoding="utf-8")
    sc = sim.load_scenario(p)
    assert [s.reassessment_months for s in sc.strategies] == [6, 12]
    build(sc)


def test_utf8_with_byte_order_mark_is_read(tmp_path):
    p = tmp_path / "bom.yaml"
    p.write_bytes(b"\xef\xbb\xbf" + BASE.read_bytes())
    build(sim.load_scenario(p))
