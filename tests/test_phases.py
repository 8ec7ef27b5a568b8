"""The phase table of sim.model.phases against what the clinical core does.

Shipped scenarios (and a few variants that reach the rarer branches: the rescue rule with a work-up,
other flare re-entry rules, an induction mix, a strategy without a ladder) run through an
instrumented copy of the batch driver's loop written here in Python: it calls
``sim.model.pathway.step`` per patient exactly as ``sim/engine/batch_driver.py::run_patients`` does,
and reads ``P[i]["phase"]`` before and after each call. The capacity scenario runs through the SimPy
driver instrumented the same way (a step that asks for a service ends when its queue does). Each
observed transition is also given its decision, read from the events the step wrote (the public
event vocabulary, not the core's internals), so the check is on (before, after, decision).

Every observed transition must be a row of ``TRANSITIONS`` (with that decision), and a transition of
the strategy's own pathway (``strategy_pathway``); the main transitions must actually be observed
(the table is not vacuous); and removing any observed row from the table makes the same check fail.
"""
from __future__ import annotations

import collections
import re
from pathlib import Path

import numpy as np
import pytest
import simpy

from sim.engine import streams
from sim.engine.services import Services
from sim.engine.block import Block, block_rows, draw_cohort, serve_request
from sim.engine.records import Records
from sim.engine.simpy_driver import SimpyDriver
from sim.model import course, pathway
from sim.model import events as E
from sim.model import layout as L
from sim.model import phases as PH
from sim.model.build import compile_model
from sim.model.pathway import step
from sim.inputs.build import build
from tests.conftest import load

N_PATIENTS = 300
SEED = 20211227
NAMES = L.PHASE_NAMES

#: run name -> (scenario file, overrides, driver)
RUNS = {
    "base": ("base.yaml", (), "batch"),
    "workup": ("workup.yaml", (), "batch"),
    "last_step": ("last_step.yaml", (), "batch"),
    "exploratory": ("exploratory.yaml", (), "batch"),
    # a work-up and the rescue rule in one strategy (the option scenarios/workup.yaml describes)
    "workup_rescue": ("workup.yaml", ("strategies.screen_and_biopsy.after_severe_infection=immunoadsorption",
                                      "strategies.screen_only.after_severe_infection=immunoadsorption"), "batch"),
    # the other flare re-entry rules, an induction mix, and a strategy with no ladder at all
    "reentry": ("workup.yaml", ("strategies.escalate_directly.flare_reentry=induction",
                                "strategies.escalate_directly.induction={mmf: 0.5, cyc_eurolupus: 0.5}",
                                "strategies.screen_only.flare_reentry=ladder",
                                "strategies.screen_and_biopsy.flare_reentry=msc"), "batch"),
    "no_ladder": ("base.yaml", ("strategies.rtx_belimumab.ladder=[]", "strategies.rtx_belimumab.flare_reentry=ladder",
                                "strategies.rtx_alone.ladder=[]"), "batch"),
    "capacity": ("capacity.yaml", (), "simpy"),
}

FLARE_KEYS = {L.FIRST_ASSESSMENT: "flare_induction", L.MANAGEMENT_ASSESSMENT: "flare_management",
              L.LADDER_ASSESSMENT: "flare_ladder", L.SUPPORTIVE: "flare_no_ladder"}
COURSE_PHASES = {L.INDUCTION: L.FIRST_ASSESSMENT, L.MANAGEMENT: L.MANAGEMENT_ASSESSMENT, L.LADDER: L.LADDER_ASSESSMENT,
                 L.RESCUE: L.RESCUE_ASSESSMENT}


def decision(before: int, after: int, ev: np.ndarray, course_kind: int) -> str:
    """The decision a step took, from the events it wrote for the patient (rows of the event buffer)."""
    codes = [int(c) for c in ev[:, L.EV_CODE]]
    has = set(codes)
    rows = [(int(r[L.EV_CODE]), int(r[L.EV_A]), int(r[L.EV_B])) for r in ev]
    if E.DEATH in has or E.END_OF_FOLLOWUP in has:
        return "end"
    if E.ESRD in has:
        return "esrd"
    if before == L.START:
        return "start"
    if E.RENAL_FLARE in has:
        return FLARE_KEYS.get(COURSE_PHASES[course_kind] if after == L.MANUFACTURE else after, "unclassified")
    if E.MAINTENANCE_END in has:
        return "maintenance_over"
    if E.MAINTENANCE_START in has:
        return "respond"
    if any(c == E.ASSESSMENT and b == L.IMPROVING for c, a, b in rows):
        return "improving"
    if E.SWITCH in has:
        return "switch"
    if any(c == E.RECLASSIFIED and a != L.FINDING_CHRONIC for c, a, b in rows):
        return "workup_lookalike"
    if E.REFRACTORY in has:
        return "refractory_no_ladder" if E.LADDER_EXHAUSTED in has else "refractory"
    if E.LADDER_EXHAUSTED in has:
        return "exhausted"
    if E.ASSESSMENT in has and after == L.SUPPORTIVE:
        return "workup_chronic"
    if before == L.MANUFACTURE and E.THERAPY_START in has:
        return "manufactured"
    if E.ASSESSMENT in has and after == L.RESCUE_ASSESSMENT:
        return "rescue"
    if E.ASSESSMENT in has and before == L.RESCUE_ASSESSMENT:
        return "rescue_next"
    if E.ASSESSMENT in has and before == L.LADDER_ASSESSMENT:
        return "next_step"
    if not has & {E.ASSESSMENT, E.THERAPY_START, E.QUEUE}:
        return "goes_on"
    return "unclassified"


def _note(seen: collections.Counter, P, i: int, before: int, out, n0: int) -> None:
    ev = out[0][n0:int(out[2][0])]
    ev = ev[ev[:, L.EV_PATIENT] == P[i]["pid"]]
    after = int(P[i]["phase"])
    seen[(before, after, decision(before, after, ev, int(P[i]["course_kind"])))] += 1


def blocks(cm, n: int, seed: int) -> list[tuple[Block, int]]:
    """The blocks of ``n`` patients and their sizes, as the drivers make them (sim.engine.run)."""
    cohort = draw_cohort(cm, seed, 0, n)
    return [(Block(cm, seed, 0, b, block_rows(cohort, b)), min(streams.BLOCK_SIZE, n - b * streams.BLOCK_SIZE))
            for b in streams.blocks(n)]


def run_batch_instrumented(cm, k: int, n: int, seed: int) -> collections.Counter:
    """Strategy ``k`` through the batch driver's loop (run_patients + run_block), in Python, noting
    (phase before, phase after, decision) of every step."""
    M, R = cm.records_for_core, cm.response
    seen: collections.Counter = collections.Counter()
    rec = Records()
    for block, n_rows in blocks(cm, n, seed):
        P = block.patients(k, n_rows)
        for i in range(n_rows):
            while True:
                before, n0 = int(P[i]["phase"]), int(rec.cnt[0])
                st = step(P, i, M, k, rec.work, R, block.draws, rec.out)
                if st == L.WAIT or st == L.DONE_STATUS:
                    _note(seen, P, i, before, rec.out, n0)
                    if st == L.DONE_STATUS:
                        break
                    continue
                assert int(P[i]["phase"]) == before and int(rec.cnt[0]) == n0, "the core acted before asking"
                assert serve_request(st, block, P, i, rec), f"unexpected status {st} without capacity limits"
    return seen


class InstrumentedSimpyDriver(SimpyDriver):
    """The SimPy driver, noting (phase before, phase after, decision) of every step; a step that asks
    for a service ends when the queue does (the course starts, its cells are being made, or death, ESRD
    or the horizon came first)."""

    def __init__(self, cm, k, env, services):
        super().__init__(cm, k, env=env, services=services)
        self.records = Records(1 << 18)           # never flushed: a step's events stay in the buffer
        self.records.flush = self._no_flush
        self.seen: collections.Counter = collections.Counter()
        self._asked: dict[int, tuple[int, int]] = {}

    @staticmethod
    def _no_flush():
        raise AssertionError("the instrumented driver's record buffer is too small")

    def step(self, block, P, i: int) -> int:             # SimpyDriver.step, noting each step
        before, n0 = int(P[i]["phase"]), int(self.records.cnt[0])
        st = super().step(block, P, i)
        if st in (L.WAIT, L.DONE_STATUS):
            _note(self.seen, P, i, before, self.records.out, n0)
        else:                                   # the phase changes only once the driver has answered
            assert int(P[i]["phase"]) == before
            if st == L.NEED_DRAWS:              # nothing at all was done before asking for numbers
                assert int(self.records.cnt[0]) == n0, "the core acted before asking"
            elif st == L.ASK_SERVICE:
                self._asked[int(P[i]["pid"])] = (before, n0)
        return st

    def queue(self, block, P, i: int, t0: float):        # the step that asked ends when the queue does
        st = yield from super().queue(block, P, i, t0)
        before, n0 = self._asked.pop(int(P[i]["pid"]))
        _note(self.seen, P, i, before, self.records.out, n0)
        return st


def run_capacity_instrumented(cm, n: int, seed: int) -> list[collections.Counter]:
    """An open population with limited services (as sim.engine.run.run_simpy_capacity)."""
    from sim.engine.simulation import arrival_times
    sc = cm.model.scenario
    arrivals = arrival_times(n, sc.capacity.arrivals_per_year, seed, 0)
    made = blocks(cm, n, seed)
    seen = []
    for k in range(len(cm.strategies)):
        env = simpy.Environment()
        drv = InstrumentedSimpyDriver(cm, k, env, Services(env, sc.capacity))
        for block, n_rows in made:
            drv.start(block, block.patients(k, n_rows), arrivals)
        env.run()
        seen.append(drv.seen)
    return seen


@pytest.fixture(scope="module")
def observed():
    """run -> (compiled model, per strategy: Counter of (before, after, decision))."""
    out = {}
    for run, (file, overrides, driver) in RUNS.items():
        model = build(load(file, overrides))
        if driver == "simpy":
            cm = compile_model(model, capacity=True)
            out[run] = (cm, run_capacity_instrumented(cm, N_PATIENTS, SEED))
        else:
            cm = compile_model(model)
            out[run] = (cm, [run_batch_instrumented(cm, k, N_PATIENTS, SEED) for k in range(len(cm.strategies))])
    return out


def violations(seen, table=PH.TRANSITIONS, strategy=None) -> list[str]:
    """Observed (before, after, decision) triples the table (and the strategy's pathway) does not allow."""
    bad = []
    allowed = strategy.triples() if strategy is not None else None
    for (a, b, key), count in sorted(seen.items()):
        what = f"{NAMES[a]} -> {NAMES[b]} via {key} ({count}x)"
        if key == "unclassified":
            bad.append(f"{what}: the test could not tell the decision from the step's events")
        elif (a, b) not in table:
            bad.append(f"{what}: no row ({NAMES[a]}, {NAMES[b]}) in TRANSITIONS")
        elif key not in table[(a, b)]:
            bad.append(f"{what}: the row ({NAMES[a]}, {NAMES[b]}) lists only {table[(a, b)]}")
        elif allowed is not None and (a, b, key) not in allowed:
            bad.append(f"{what}: not in strategy_pathway for '{strategy.name}'")
    return bad


# ==============================================================================================
# The table as data
# ==============================================================================================
def test_table_is_well_formed():
    phases = range(len(L.PHASE_NAMES))
    for (a, b), keys in PH.TRANSITIONS.items():
        assert a in phases and b in phases and keys, (a, b)
        assert b != L.START and a != L.DONE, (NAMES[a], NAMES[b])
        assert len(set(keys)) == len(keys) and all(k in PH.DECISIONS for k in keys), (NAMES[a], NAMES[b], keys)
    for key, d in PH.DECISIONS.items():
        assert any(key in keys for keys in PH.TRANSITIONS.values()), f"decision {key} leads nowhere"
        for name in d.steps:          # the named steps exist in the core
            assert hasattr(pathway, name) or hasattr(course, name), (key, name)
    for p in PH.WAITING:              # every waiting phase can end in death (or the horizon), and reach ESRD
        assert "end" in PH.allowed(p, L.DONE), NAMES[p]
        if p != L.RENAL_REPLACEMENT:
            assert "esrd" in PH.allowed(p, L.RENAL_REPLACEMENT), NAMES[p]
        assert any(a == p for a, b in PH.TRANSITIONS) and any(b == p for a, b in PH.TRANSITIONS), NAMES[p]


def test_every_phase_the_core_enters_is_a_target():
    """Every phase named in a wait_for call (or chosen for a course's assessment) in pathway.py is
    the target of some row, and every phase the core dispatches on in after_wait is a source."""
    src = Path(pathway.__file__).read_text(encoding="utf-8")
    constants = ("START", "FIRST_ASSESSMENT", "REASSESSMENT", "MANAGEMENT_ASSESSMENT", "LADDER_ASSESSMENT",
                 "RESCUE_ASSESSMENT", "MANUFACTURE", "MAINTENANCE", "OFF_TREATMENT", "SUPPORTIVE", "RENAL_REPLACEMENT",
                 "DONE")
    assert [getattr(L, n) for n in constants] == list(range(len(L.PHASE_NAMES)))
    named = {getattr(L, n) for n in re.findall(r"\bL\.([A-Z_]+)\b", src) if n in constants}
    assert len(named) >= 10, named
    targets = {b for a, b in PH.TRANSITIONS}
    sources = {a for a, b in PH.TRANSITIONS}
    assert named - {L.START} <= targets, [NAMES[p] for p in named - targets]
    assert named - {L.DONE} <= sources, [NAMES[p] for p in named - sources]


# ==============================================================================================
# What the core does
# ==============================================================================================
@pytest.mark.parametrize("run", list(RUNS))
def test_every_observed_transition_is_in_the_table(observed, run):
    cm, per = observed[run]
    bad = [f"{cm.strategies[k].name}: {v}" for k, seen in enumerate(per) for v in violations(seen)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("run", list(RUNS))
def test_every_observed_transition_is_in_the_strategy_pathway(observed, run):
    cm, per = observed[run]
    bad = []
    for k, seen in enumerate(per):
        sp = PH.strategy_pathway(cm, k)
        assert sp.triples() <= {(a, b, key) for (a, b), keys in PH.TRANSITIONS.items() for key in keys}
        bad += [f"{sp.name}: {v}" for v in violations(seen, strategy=sp)]
    assert not bad, "\n".join(bad)


MAIN = [  # (before, after, decision) that the runs above must show
    (L.START, L.FIRST_ASSESSMENT, "start"),
    (L.FIRST_ASSESSMENT, L.REASSESSMENT, "improving"),
    (L.FIRST_ASSESSMENT, L.FIRST_ASSESSMENT, "switch"),
    (L.REASSESSMENT, L.FIRST_ASSESSMENT, "switch"),
    (L.FIRST_ASSESSMENT, L.MAINTENANCE, "respond"),
    (L.REASSESSMENT, L.MAINTENANCE, "respond"),
    (L.FIRST_ASSESSMENT, L.LADDER_ASSESSMENT, "refractory"),
    (L.FIRST_ASSESSMENT, L.MANAGEMENT_ASSESSMENT, "workup_lookalike"),
    (L.FIRST_ASSESSMENT, L.SUPPORTIVE, "workup_chronic"),
    (L.FIRST_ASSESSMENT, L.SUPPORTIVE, "refractory_no_ladder"),
    (L.MANAGEMENT_ASSESSMENT, L.MAINTENANCE, "respond"),
    (L.MANAGEMENT_ASSESSMENT, L.LADDER_ASSESSMENT, "refractory"),
    (L.LADDER_ASSESSMENT, L.LADDER_ASSESSMENT, "next_step"),
    (L.LADDER_ASSESSMENT, L.MAINTENANCE, "respond"),
    (L.LADDER_ASSESSMENT, L.SUPPORTIVE, "exhausted"),
    (L.LADDER_ASSESSMENT, L.RESCUE_ASSESSMENT, "rescue"),
    (L.RESCUE_ASSESSMENT, L.LADDER_ASSESSMENT, "rescue_next"),
    (L.RESCUE_ASSESSMENT, L.MAINTENANCE, "respond"),
    (L.LADDER_ASSESSMENT, L.MANUFACTURE, "next_step"),
    (L.MANUFACTURE, L.LADDER_ASSESSMENT, "manufactured"),
    (L.MAINTENANCE, L.OFF_TREATMENT, "maintenance_over"),
    (L.MAINTENANCE, L.FIRST_ASSESSMENT, "flare_induction"),
    (L.OFF_TREATMENT, L.FIRST_ASSESSMENT, "flare_induction"),
    (L.MAINTENANCE, L.LADDER_ASSESSMENT, "flare_ladder"),
    (L.OFF_TREATMENT, L.LADDER_ASSESSMENT, "flare_ladder"),
    (L.OFF_TREATMENT, L.MANAGEMENT_ASSESSMENT, "flare_management"),
    (L.OFF_TREATMENT, L.SUPPORTIVE, "flare_no_ladder"),
    (L.SUPPORTIVE, L.RENAL_REPLACEMENT, "esrd"),
    (L.SUPPORTIVE, L.DONE, "end"),
    (L.FIRST_ASSESSMENT, L.RENAL_REPLACEMENT, "esrd"),
    (L.LADDER_ASSESSMENT, L.RENAL_REPLACEMENT, "esrd"),
    (L.MAINTENANCE, L.RENAL_REPLACEMENT, "esrd"),
    (L.OFF_TREATMENT, L.DONE, "end"),
    (L.RENAL_REPLACEMENT, L.DONE, "end"),
    (L.RENAL_REPLACEMENT, L.RENAL_REPLACEMENT, "goes_on"),
    (L.LADDER_ASSESSMENT, L.LADDER_ASSESSMENT, "goes_on"),
]


def _union(observed, runs=None) -> collections.Counter:
    total: collections.Counter = collections.Counter()
    for run, (cm, per) in observed.items():
        if runs is None or run in runs:
            for seen in per:
                total.update(seen)
    return total


def test_main_transitions_are_observed(observed):
    seen = _union(observed)
    missing = [f"{NAMES[a]} -> {NAMES[b]} via {key}" for a, b, key in MAIN if seen[(a, b, key)] == 0]
    assert not missing, "never observed:\n" + "\n".join(missing)
    # most of the table is exercised, not just a corner of it
    pairs = {(a, b) for a, b, key in seen}
    assert len(pairs) >= 0.6 * len(PH.TRANSITIONS), (len(pairs), len(PH.TRANSITIONS))


def test_each_run_shows_what_it_is_for(observed):
    def pairs(run, strategy=None):
        cm, per = observed[run]
        return {(a, b) for k, s in enumerate(per) if strategy in (None, cm.strategies[k].name) for a, b, _ in s}

    assert (L.LADDER_ASSESSMENT, L.RESCUE_ASSESSMENT) in pairs("workup_rescue", "screen_and_biopsy")
    assert (L.FIRST_ASSESSMENT, L.MANAGEMENT_ASSESSMENT) in pairs("workup", "screen_and_biopsy")
    assert (L.FIRST_ASSESSMENT, L.SUPPORTIVE) in pairs("workup", "screen_and_biopsy")
    assert (L.LADDER_ASSESSMENT, L.MANUFACTURE) in pairs("capacity")
    assert (L.MANUFACTURE, L.LADDER_ASSESSMENT) in pairs("capacity")
    for run in ("base", "last_step", "exploratory"):
        p = pairs(run)
        assert (L.FIRST_ASSESSMENT, L.LADDER_ASSESSMENT) in p and (L.LADDER_ASSESSMENT, L.LADDER_ASSESSMENT) in p
        assert not {L.MANAGEMENT_ASSESSMENT, L.RESCUE_ASSESSMENT, L.MANUFACTURE} & {x for pr in p for x in pr}


@pytest.mark.parametrize("row", [(a, b, key) for a, b, key in MAIN])
def test_the_check_fails_without_the_row(observed, row):
    """Take one row (or one decision of a row) out of the table: the check above must then fail."""
    a, b, key = row
    table = dict(PH.TRANSITIONS)
    keys = tuple(k for k in table[(a, b)] if k != key)
    if keys:
        table[(a, b)] = keys
    else:
        del table[(a, b)]
    before = {v for run, (cm, per) in observed.items() for seen in per for v in violations(seen)}
    after = {v for run, (cm, per) in observed.items() for seen in per for v in violations(seen, table)}
    new = after - before
    assert new and all(f"{NAMES[a]} -> {NAMES[b]} via {key}" in v for v in new), sorted(new)[:3]


# ==============================================================================================
# One strategy's pathway
# ==============================================================================================
def _pathways(file, overrides=(), capacity=False):
    cm = compile_model(build(load(file, overrides)), capacity=capacity)
    return {s.name: PH.strategy_pathway(cm, k) for k, s in enumerate(cm.strategies)}


def _phases_of(sp):
    return {t.src for t in sp.transitions} | {t.dst for t in sp.transitions}


def test_strategy_pathway_keeps_only_what_the_strategy_does():
    sp = _pathways("workup.yaml", ["strategies.screen_and_biopsy.after_severe_infection=immunoadsorption"])
    direct, screen, biopsy = sp["escalate_directly"], sp["screen_only"], sp["screen_and_biopsy"]
    assert L.MANAGEMENT_ASSESSMENT not in _phases_of(direct) and L.RESCUE_ASSESSMENT not in _phases_of(direct)
    assert L.MANUFACTURE not in _phases_of(direct)
    assert (L.FIRST_ASSESSMENT, L.MANAGEMENT_ASSESSMENT) in screen.pairs()
    assert "workup_chronic" not in {t.key for t in screen.transitions}       # screening sees no chronic damage
    assert L.RESCUE_ASSESSMENT not in _phases_of(screen)
    assert {"workup_chronic", "workup_lookalike", "rescue", "rescue_next"} <= {t.key for t in biopsy.transitions}
    # screening finds only TMA and APS nephropathy; the biopsy also membranous transformation
    assert [c for c, _ in screen.management] == ["tma", "aps_nephropathy"]
    assert [c for c, _ in biopsy.management] == ["tma", "aps_nephropathy", "membranous"]
    assert biopsy.rescue.therapy == "immunoadsorption" and direct.rescue is None
    # no rescue after the rescue therapy itself (immunoadsorption is also the last step)
    assert 3 not in biopsy.rescue_from and biopsy.rescue_from == (0, 1, 2)
    cap = _pathways("capacity.yaml", capacity=True)["figure3"]
    assert (L.LADDER_ASSESSMENT, L.MANUFACTURE) in cap.pairs() and (L.MANUFACTURE, L.LADDER_ASSESSMENT) in cap.pairs()
    assert [c.therapy for c in cap.ladder if c.manufacture_months] == ["msc"]
    # without capacity limits no manufacture, even with MSC on the ladder
    assert L.MANUFACTURE not in _phases_of(_pathways("capacity.yaml")["figure3"])


def test_strategy_pathway_labels_carry_the_timings():
    sp = _pathways("eular_vs_acr.yaml")
    for name, p in sp.items():
        labels = {t.key: t.label for t in p.transitions}
        assert f"{p.first_assessment_months:g} months" in labels["start"]
        assert f"reassess at {p.reassessment_months:g} months" in labels["improving"]
        steps = [t for t in p.transitions if t.key in ("refractory", "next_step") and t.dst == L.LADDER_ASSESSMENT]
        for i, c in enumerate(p.ladder):
            assert any(t.dst_step == i and c.therapy in t.label and f"{c.assessment_months:g} month" in t.label
                       for t in steps), (name, c)
        assert f"{p.maintenance_years:g} years" in labels["maintenance_over"]
    acr = [p for p in sp.values() if p.first_assessment_months == 6]
    assert acr and acr[0].reassessment_months == 12


def test_flare_reentry_rules_narrow_the_flare_transitions():
    sp = _pathways("base.yaml", ["strategies.rtx_belimumab.flare_reentry=induction",
                                 "strategies.rtx_alone.flare_reentry=msc"])
    induction = {t.key for t in sp["rtx_belimumab"].transitions}
    assert "flare_induction" in induction and "flare_ladder" not in induction
    step = [t for t in sp["rtx_alone"].transitions if t.key.startswith("flare_")]
    assert step and all(t.key == "flare_ladder" and t.dst_step == 2 for t in step)
