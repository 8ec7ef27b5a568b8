"""Property: the two engines agree patient by patient on random valid scenarios.

``sim.simulate(..., engine="simpy")`` and ``engine="fast"`` must give the same ``patients``, ``events``
and ``states`` tables, bit for bit, on every scenario without a ``capacity:`` section. Both drivers
run the same clinical core, so this checks the drivers' plumbing (waiting, random-number chunks,
record buffers, clocks) rather than two copies of the rules. tests/test_batch_driver.py checks this on a handful of hand-picked
scenarios; here hypothesis builds random ones from a scenario file and ``--set``-style overrides (the
path a user takes: :func:`sim.load_scenario` with overrides, validated by the schema of
sim/inputs/schema.py and sim/inputs/checks.py), and runs each on a small random cohort (sometimes more than one block of 256).

Every generated scenario is valid by construction (the strategy follows the schema's rules: timing
order, induction shares that sum to 1, switch partners for every agent, each ladder step at most
once, ladder-only therapies on the ladder, an extracorporeal therapy after a severe infection, a
flare re-entry rule or a step of the ladder, cohort shares that sum to 1), so a refusal by the
schema fails the test rather than being skipped.
"""
from __future__ import annotations

from typing import NamedTuple

import pandas.testing as pdt
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import sim
from sim.inputs.build import build
from sim.inputs.checks import REENTRY_RULES
from sim.inputs.therapies import TherapyCatalogue
from tests.conftest import NO_INDUCTION_RESPONSE, load

_CATALOGUE = TherapyCatalogue.default()
INDUCTION = tuple(_CATALOGUE.names("induction"))                        # mmf, cyc_nih, cyc_eurolupus
LADDER = tuple(_CATALOGUE.names("ladder"))
EXTRACORPOREAL = tuple(n for n in LADDER if _CATALOGUE[n].family == "extracorporeal")
MAINTENANCE = tuple(_CATALOGUE.names("maintenance"))
# the scenario files a case starts from, and how many strategies each has
FILES = {"base.yaml": 2, "workup.yaml": 3}
FIRST_MONTHS = (1, 2, 3, 4, 4.5, 6, 9, 12, 18, 24)
LATER_MONTHS = (2, 3, 4.5, 6, 7.5, 9, 12, 18, 24, 30, 36)
COHORT_SHARES = {
    "isn_class": ("III", "IV", "V", "III+V", "IV+V"),
    "ancestry": ("white", "african", "latin_american", "asian"),
    "chronicity": ("low", "moderate", "high"),
    "lookalike": ("none", "tma", "aps_nephropathy", "membranous"),
}


# Optional stresses, so that the overrides of the ladder, re-entry and rescue rules matter for many of
# a few dozen patients: induction never works (everyone climbs the ladder), kidneys fail fast
# (dialysis, transplant, graft failure), adverse events stop courses and damage the kidney.
STRESS = {
    "no_induction_response": NO_INDUCTION_RESPONSE,
    "renal_replacement": ["parameters.esrd_rate_active=0.3", "parameters.esrd_rate_partial=0.15",
                          "parameters.esrd_rate_complete=0.08", "parameters.transplant_rate_on_dialysis=0.5",
                          "parameters.graft_failure_rate=0.3"],
    "severe_adverse_events": ["parameters.adverse_event_severe_share_cni_nephrotoxicity=1",
                              "parameters.adverse_event_severe_share_hypertension=1",
                              "parameters.adverse_event_esrd_hr_cni_nephrotoxicity=4"],
}


class Case(NamedTuple):
    """One generated example: what to pass to load(file, overrides) and simulate(patients, seed)."""

    file: str
    overrides: tuple[str, ...]
    patients: int
    seed: int


def _yaml(value) -> str:
    """A value as the YAML text of a ``--set PATH=VALUE`` override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, float) else str(value)


@st.composite
def shares(draw, categories, min_categories: int = 1) -> dict[str, float]:
    """Shares of at least ``min_categories`` categories, > 0 and summing to 1 (weights 1..4, normalised;
    the categories left out have share 0)."""
    chosen = draw(st.lists(st.sampled_from(categories), min_size=min_categories, max_size=len(categories),
                           unique=True))
    weights = {c: draw(st.integers(1, 4)) for c in categories if c in chosen}     # in the schema's order
    total = sum(weights.values())
    out = {c: w / total for c, w in weights.items()}
    # a category may also be named with share 0 (allowed: shares >= 0)
    for c in draw(st.lists(st.sampled_from(categories), unique=True, max_size=1)):
        out.setdefault(c, 0.0)
    return out


@st.composite
def strategy_overrides(draw, i: int) -> list[str]:
    """Overrides of strategy ``i`` of the file: timing, induction, switch partners, ladder (steps and
    their order, assessment times), flare re-entry, maintenance, work-up, therapy after a severe
    infection."""
    at = f"strategies.{i}"
    first = draw(st.sampled_from(FIRST_MONTHS))
    again = draw(st.sampled_from([m for m in LATER_MONTHS if m > first]))
    out = [f"{at}.first_assessment_months={_yaml(first)}", f"{at}.reassessment_months={_yaml(again)}"]
    if draw(st.booleans()):
        induction = draw(st.sampled_from(INDUCTION))
    else:
        induction = draw(shares(INDUCTION, min_categories=2))
    # a partner for every induction agent (so every agent reachable by switching has one), never itself
    switch = {a: draw(st.sampled_from([b for b in INDUCTION if b != a])) for a in INDUCTION}
    size = draw(st.sampled_from((0, 1, 2, 3, 4, 5, 6)))          # uniform: lists would favour short ladders
    ladder = draw(st.lists(st.sampled_from(LADDER), min_size=size, max_size=size, unique=True))
    timed = draw(st.lists(st.sampled_from(ladder), unique=True, max_size=2)) if ladder else []
    ladder_months = {step: draw(st.sampled_from((1, 3, 4.5, 6, 12, 36))) for step in timed}
    reentry = draw(st.sampled_from(REENTRY_RULES + tuple(ladder)))
    rescue = draw(st.sampled_from((None,) + EXTRACORPOREAL))
    out += [f"{at}.induction={_yaml(induction)}", f"{at}.switch={_yaml(switch)}", f"{at}.ladder={_yaml(ladder)}",
            f"{at}.ladder_assessment_months={_yaml(ladder_months)}", f"{at}.flare_reentry={reentry}",
            f"{at}.maintenance={draw(st.sampled_from(MAINTENANCE))}",
            f"{at}.workup.screen_lookalikes={_yaml(draw(st.booleans()))}",
            f"{at}.workup.repeat_biopsy={_yaml(draw(st.booleans()))}",
            f"{at}.after_severe_infection={_yaml(rescue)}"]
    event(f"ladder steps: {len(ladder)}")
    event(f"flare re-entry: {reentry if reentry in REENTRY_RULES else 'a ladder step'}")
    event(f"after a severe infection: {rescue}")
    return out


@st.composite
def cases(draw) -> Case:
    """A valid scenario: a scenario file with random overrides, and a small random run of it."""
    file = draw(st.sampled_from(sorted(FILES)))
    horizon = draw(st.sampled_from((0.1, 0.25, 0.5, 1, 2.5, 5, 7.25, 10, 20, 40)))
    overrides = [f"horizon_years={_yaml(horizon)}", f"cohort.preset={draw(st.sampled_from(('default', 'colombia')))}"]
    n_strategies = FILES[file]
    if draw(st.booleans()):       # sometimes the file's strategies are replaced by a single one
        overrides.append("strategies=[{name: only}]")
        n_strategies = 1
    for field in draw(st.lists(st.sampled_from(sorted(COHORT_SHARES)), unique=True, max_size=2)):
        overrides.append(f"cohort.{field}={_yaml(draw(shares(COHORT_SHARES[field])))}")
    if draw(st.booleans()):
        overrides.append(f"cohort.nonadherent={_yaml(draw(st.sampled_from((0.0, 0.2, 0.6, 1.0))))}")
    # more flares (re-entry rules), severe infections (the therapy after one), maintenance length
    overrides.append(f"parameters.flare_rate_remission={_yaml(draw(st.sampled_from((0.108, 0.5, 1.5))))}")
    overrides.append("parameters.adverse_event_severe_share_serious_infection="
                     + _yaml(draw(st.sampled_from((0.3, 1.0)))))
    overrides.append(f"parameters.maintenance_years={_yaml(draw(st.sampled_from((0.5, 3.0, 10.0))))}")
    for stress in draw(st.lists(st.sampled_from(sorted(STRESS)), unique=True)):
        overrides += STRESS[stress]
        event(f"stress: {stress}")
    for i in range(n_strategies):
        overrides += draw(strategy_overrides(i))
    # mostly one block of patients; sometimes more than one (streams.BLOCK_SIZE is 256)
    patients = draw(st.one_of(st.integers(40, 120), st.integers(250, 300)))
    seed = draw(st.integers(0, 2**32 - 1))
    event(f"file: {file}")
    return Case(file, tuple(overrides), patients, seed)


def assert_engines_agree(case: Case) -> None:
    """Both engines on one case: identical patients, events and states tables."""
    model = build(load(case.file, case.overrides))          # a refusal here is a bug in the strategy: fail
    assert model.scenario.capacity is None
    ref = sim.simulate(model, patients=case.patients, seed=case.seed, costed=False, engine="simpy")
    fast = sim.simulate(model, patients=case.patients, seed=case.seed, costed=False, engine="fast")
    for table in ("patients", "events", "states"):
        pdt.assert_frame_equal(getattr(fast, table), getattr(ref, table), check_exact=True, obj=table)


# Time: the fast engine compiles on first use (about 25 s, cached on disk afterwards, and in a full
# run already paid by the engine-parametrised tests); each example then takes about 0.05-0.5 s for
# both engines, so the 100 examples take about 15-25 s once compiled, under a minute from cold.
@settings(max_examples=100, deadline=None, derandomize=True, database=None, print_blob=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_engines_agree_per_patient_on_random_valid_scenarios(case):
    assert_engines_agree(case)
