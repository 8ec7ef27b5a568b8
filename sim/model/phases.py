"""The phases of the clinical core and the transitions allowed between them, as data.

A patient is always in one phase of :data:`sim.model.layout.PHASE_NAMES`. The core
(:mod:`sim.model.pathway`) enters a phase only in ``wait_for`` (and leaves it for ``DONE`` only in
``course.close``); a driver calls ``step`` when the time the patient waits for has come, and one
step may pass several instantaneous decisions (a non-response to the second agent is worked up,
classed refractory and starts ladder step 1 at the same instant). What a driver observes is
therefore the phase before a step and the phase after it (with capacity limits: after the queue
for the service the course needs, see :func:`sim.model.pathway.service_found` and
:func:`sim.model.pathway.queue_left`). :data:`TRANSITIONS` lists, for every such (before, after)
pair that can happen, the decisions that lead there (:data:`DECISIONS`: each a named decision of
Figures 2 and 3 with the functions of ``pathway.py`` it runs through). A pair not listed cannot
happen; ``tests/test_phases.py`` runs scenarios through an instrumented driver loop and checks that
every observed transition, and the decision behind it, is listed. (When strategies share lives until
the ladder, the batch driver stops a step where the patient first reaches the ladder, ``AT_LADDER``,
and resumes it at once: the step, and its transition, are the same.)

:func:`strategy_pathway` narrows the table to one strategy of a compiled model (no
``management_assessment`` without a work-up, no ``rescue_assessment`` without
``after_severe_infection``, no ``manufacture`` without capacity limits and a cell therapy, ...),
expands the ladder into its steps, and labels each transition with the strategy's timings.
:mod:`sim.reporting.pathway_figure` prints and draws it (``lnsim pathway``).
"""
from __future__ import annotations

from dataclasses import dataclass

from sim.model import layout as L

START, FIRST, REASSESS, MANAGE, LADDER, RESCUE = (L.START, L.FIRST_ASSESSMENT, L.REASSESSMENT,
                                                  L.MANAGEMENT_ASSESSMENT, L.LADDER_ASSESSMENT, L.RESCUE_ASSESSMENT)
MANUFACTURE, MAINTENANCE, OFF, SUPPORTIVE, RRT, DONE = (L.MANUFACTURE, L.MAINTENANCE, L.OFF_TREATMENT,
                                                        L.SUPPORTIVE, L.RENAL_REPLACEMENT, L.DONE)

#: The phases in which a patient waits (a driver calls ``step`` when the wait is over).
WAITING = (FIRST, REASSESS, MANAGE, LADDER, RESCUE, MANUFACTURE, MAINTENANCE, OFF, SUPPORTIVE, RRT)


@dataclass(frozen=True)
class Decision:
    """A named decision of the pathway: what the review's figures call it, and the functions of
    :mod:`sim.model.pathway` (or :mod:`sim.model.course`) a step runs through to take it."""

    key: str
    text: str
    steps: tuple[str, ...]


DECISIONS: dict[str, Decision] = {d.key: d for d in (
    Decision("start", "start induction",
             ("step", "start_induction", "give_course", "start_and_wait", "wait_for")),
    Decision("improving", "improving: reassess",
             ("after_wait", "first_assessment", "wait_for")),
    Decision("respond", "responding: maintenance",
             ("after_wait", "first_assessment", "reassessment", "induction_judged", "management_assessment",
              "ladder_step_assessment", "rescue_assessment", "judge", "follow_up", "wait_for")),
    Decision("switch", "no response: switch agent",
             ("first_assessment", "reassessment", "induction_judged", "switch", "give_course", "start_and_wait")),
    Decision("workup_lookalike", "work-up finds a look-alike: its management",
             ("induction_judged", "work_up_non_response", "work_up", "manage_lookalike", "give_course",
              "start_and_wait")),
    Decision("workup_chronic", "work-up finds chronic damage: supportive care",
             ("induction_judged", "work_up_non_response", "work_up", "follow_up")),
    Decision("refractory", "classify refractory: ladder step 1",
             ("induction_judged", "work_up_non_response", "management_assessment", "classify_refractory",
              "ladder_from", "ladder_step", "give_course", "start_and_wait")),
    Decision("refractory_no_ladder", "classify refractory: no ladder, supportive care",
             ("work_up_non_response", "management_assessment", "classify_refractory", "ladder_from",
              "ladder_step", "follow_up")),
    Decision("next_step", "no response (or stopped): next ladder step",
             ("ladder_step_assessment", "judge", "ladder_step", "give_course", "start_and_wait")),
    Decision("exhausted", "ladder exhausted: supportive care",
             ("ladder_step_assessment", "rescue_assessment", "ladder_step", "follow_up")),
    Decision("rescue", "severe infection: rescue",
             ("ladder_step_assessment", "give_course", "start_and_wait")),
    Decision("rescue_next", "no response to rescue: next ladder step",
             ("rescue_assessment", "judge", "ladder_step", "give_course", "start_and_wait")),
    Decision("manufactured", "cells made: start the course",
             ("after_wait", "start_and_wait", "wait_for")),
    Decision("maintenance_over", "maintenance over: off treatment",
             ("maintenance_over", "wait_for")),
    Decision("flare_induction", "renal flare: re-induce",
             ("maintenance_over", "renal_flare", "reenter_after_flare", "start_induction", "give_course")),
    Decision("flare_management", "renal flare: the look-alike's management again",
             ("maintenance_over", "renal_flare", "reenter_after_flare", "manage_lookalike", "give_course")),
    Decision("flare_ladder", "renal flare: back to the ladder",
             ("maintenance_over", "renal_flare", "reenter_after_flare", "ladder_from", "ladder_step",
              "give_course")),
    Decision("flare_no_ladder", "renal flare: no ladder, supportive care",
             ("maintenance_over", "renal_flare", "reenter_after_flare", "ladder_from", "ladder_step", "follow_up")),
    Decision("goes_on", "the wait goes on",
             ("step", "finish_wait", "plan_wait")),
    Decision("esrd", "ESRD: renal replacement",
             ("step", "finish_wait", "reach_esrd", "queue_left", "wait_for")),
    Decision("end", "death, or the horizon",
             ("step", "finish_wait", "close", "queue_left")),
)}

#: (phase before a step, phase after it) -> the decisions that lead there. A step that asks for a
#: service (capacity limits) ends when the queue does: the course starts (or, for a cell therapy,
#: its manufacture does), or death, ESRD or the horizon comes first.
TRANSITIONS: dict[tuple[int, int], tuple[str, ...]] = {
    # -- the first course ------------------------------------------------------------------------------
    (START, FIRST): ("start",),
    (START, MANUFACTURE): ("start",),                   # an induction agent that is manufactured (capacity)
    (START, RRT): ("esrd",),                            # while queueing for the first course (capacity)
    (START, DONE): ("end",),                            # while queueing for the first course (capacity)
    # -- Figure 2: the first assessment of an induction agent ---------------------------------------------
    (FIRST, FIRST): ("switch", "goes_on"),
    (FIRST, REASSESS): ("improving",),
    (FIRST, MAINTENANCE): ("respond",),
    (FIRST, MANAGE): ("workup_lookalike",),
    (FIRST, LADDER): ("refractory",),
    (FIRST, MANUFACTURE): ("switch", "workup_lookalike", "refractory"),
    (FIRST, SUPPORTIVE): ("workup_chronic", "refractory_no_ladder"),
    (FIRST, RRT): ("esrd",),
    (FIRST, DONE): ("end",),
    # -- Figure 2: the reassessment of an improving patient ----------------------------------------------
    (REASSESS, REASSESS): ("goes_on",),
    (REASSESS, FIRST): ("switch",),
    (REASSESS, MAINTENANCE): ("respond",),
    (REASSESS, MANAGE): ("workup_lookalike",),
    (REASSESS, LADDER): ("refractory",),
    (REASSESS, MANUFACTURE): ("switch", "workup_lookalike", "refractory"),
    (REASSESS, SUPPORTIVE): ("workup_chronic", "refractory_no_ladder"),
    (REASSESS, RRT): ("esrd",),
    (REASSESS, DONE): ("end",),
    # -- the management of a look-alike the work-up found --------------------------------------------------
    (MANAGE, MANAGE): ("goes_on",),
    (MANAGE, MAINTENANCE): ("respond",),
    (MANAGE, LADDER): ("refractory",),
    (MANAGE, MANUFACTURE): ("refractory",),
    (MANAGE, SUPPORTIVE): ("refractory_no_ladder",),
    (MANAGE, RRT): ("esrd",),
    (MANAGE, DONE): ("end",),
    # -- Figure 3: a ladder step -----------------------------------------------------------------------------
    (LADDER, LADDER): ("next_step", "goes_on"),
    (LADDER, MAINTENANCE): ("respond",),
    (LADDER, RESCUE): ("rescue",),
    (LADDER, MANUFACTURE): ("next_step",),
    (LADDER, SUPPORTIVE): ("exhausted",),
    (LADDER, RRT): ("esrd",),
    (LADDER, DONE): ("end",),
    # -- Figure 3: extracorporeal rescue after a severe infection (A59) -------------------------------------
    (RESCUE, RESCUE): ("goes_on",),
    (RESCUE, MAINTENANCE): ("respond",),
    (RESCUE, LADDER): ("rescue_next",),
    (RESCUE, MANUFACTURE): ("rescue_next",),
    (RESCUE, SUPPORTIVE): ("exhausted",),
    (RESCUE, RRT): ("esrd",),
    (RESCUE, DONE): ("end",),
    # -- cells being made before a cell therapy (capacity limits) -----------------------------------------
    (MANUFACTURE, MANUFACTURE): ("goes_on",),          # e.g. an adverse event of the course before
    (MANUFACTURE, LADDER): ("manufactured",),
    (MANUFACTURE, FIRST): ("manufactured",),           # a manufactured induction agent (none shipped)
    (MANUFACTURE, MANAGE): ("manufactured",),          # a manufactured management (none shipped)
    (MANUFACTURE, RRT): ("esrd",),
    (MANUFACTURE, DONE): ("end",),
    # -- maintenance after a response, then off treatment; renal flares re-enter -------------------------
    (MAINTENANCE, MAINTENANCE): ("goes_on",),
    (MAINTENANCE, OFF): ("maintenance_over",),
    (MAINTENANCE, FIRST): ("flare_induction",),
    (MAINTENANCE, MANAGE): ("flare_management",),
    (MAINTENANCE, LADDER): ("flare_ladder",),
    (MAINTENANCE, MANUFACTURE): ("flare_induction", "flare_management", "flare_ladder"),
    (MAINTENANCE, SUPPORTIVE): ("flare_no_ladder",),
    (MAINTENANCE, RRT): ("esrd",),
    (MAINTENANCE, DONE): ("end",),
    (OFF, OFF): ("goes_on",),
    (OFF, FIRST): ("flare_induction",),
    (OFF, MANAGE): ("flare_management",),
    (OFF, LADDER): ("flare_ladder",),
    (OFF, MANUFACTURE): ("flare_induction", "flare_management", "flare_ladder"),
    (OFF, SUPPORTIVE): ("flare_no_ladder",),
    (OFF, RRT): ("esrd",),
    (OFF, DONE): ("end",),
    # -- active disease with no option left; renal replacement ------------------------------------------
    (SUPPORTIVE, SUPPORTIVE): ("goes_on",),             # an adverse event of the course before a flare
    (SUPPORTIVE, RRT): ("esrd",),
    (SUPPORTIVE, DONE): ("end",),
    (RRT, RRT): ("goes_on",),                           # transplant, graft failure
    (RRT, DONE): ("end",),
}


def allowed(before: int, after: int) -> tuple[str, ...]:
    """The decisions that take a patient from phase ``before`` to phase ``after`` in one step (none: it
    cannot happen)."""
    return TRANSITIONS.get((before, after), ())


# ==============================================================================================
# One strategy's pathway
# ==============================================================================================
@dataclass(frozen=True)
class Transition:
    """A transition of one strategy: phases (with the ladder step, -1 if none), the decision
    (a key of :data:`DECISIONS`) and its label with the strategy's timings."""

    src: int
    dst: int
    key: str
    label: str
    src_step: int = -1
    dst_step: int = -1

    @property
    def decision(self) -> str:
        return DECISIONS[self.key].text


@dataclass(frozen=True)
class Course:
    """A course a strategy gives: the therapy, when it is assessed, the service it needs first (capacity
    limits) and the months its cells take to make (cell therapies with limited manufacturing)."""

    therapy: str
    assessment_months: float
    service: str | None = None
    manufacture_months: float = 0.0


@dataclass(frozen=True)
class StrategyPathway:
    """Figure 2 and Figure 3 as one strategy of a compiled model sets them."""

    name: str
    description: str
    induction: tuple[tuple[str, float], ...]        # agent, share
    switch: tuple[tuple[str, str], ...]             # agent -> partner, for every agent reachable
    first_assessment_months: float
    reassessment_months: float
    improvement_lead_months: float
    screen_lookalikes: bool
    repeat_biopsy: bool
    management: tuple[tuple[str, Course], ...]      # look-alike -> its management (with a work-up)
    ladder: tuple[Course, ...]
    rescue: Course | None                           # after a severe infection stopped a ladder step
    rescue_from: tuple[int, ...]                    # the ladder steps such an infection can stop
    rescue_after: str                               # the adverse-event kind that triggers it
    maintenance: str
    maintenance_years: float
    flare_reentry: str                              # same_step, induction, ladder or a ladder step
    capacity: bool
    horizon_years: float
    transitions: tuple[Transition, ...]

    @property
    def workup(self) -> bool:
        return self.screen_lookalikes or self.repeat_biopsy

    def pairs(self) -> set[tuple[int, int]]:
        """The (before, after) phase pairs of this strategy."""
        return {(t.src, t.dst) for t in self.transitions}

    def triples(self) -> set[tuple[int, int, str]]:
        """The (before, after, decision) triples of this strategy."""
        return {(t.src, t.dst, t.key) for t in self.transitions}

    def phases(self) -> list[int]:
        """The phases a patient of this strategy can be in, in the order of PHASE_NAMES."""
        seen = {t.src for t in self.transitions} | {t.dst for t in self.transitions}
        return [p for p in range(len(L.PHASE_NAMES)) if p in seen]


def months(years: float) -> float:
    return round(float(years) * 12.0, 6)


def months_text(x: float) -> str:
    """``3 months``, ``1 month`` (rounded to 6 decimals)."""
    x = round(float(x), 6)
    return f"{x:g} month" + ("" if x == 1 else "s")


def years_text(x: float) -> str:
    """``2 years``, ``1 year`` (rounded to 6 decimals)."""
    x = round(float(x), 6)
    return f"{x:g} year" + ("" if x == 1 else "s")


def strategy_pathway(cm, k: int) -> StrategyPathway:
    """The transitions of :data:`TRANSITIONS` that apply to strategy ``k`` of the compiled model ``cm``
    (:func:`sim.model.build.compile_model`; compile with ``capacity=True`` for a scenario with a
    ``capacity:`` section), the ladder expanded into its steps, each labelled with the strategy's timings."""
    from sim.model.pathway import labs_can_find, reentry_point, rescue_follows, step_to_give
    m = cm.records[k]
    mr = cm.records_for_core[k]                  # the same record, as the core's rules take it
    s = cm.strategies[k]
    names = cm.therapies
    sc = cm.model.scenario
    capacity = bool(m["capacity"]) and sc.capacity is not None
    services = sc.capacity if capacity else None

    def course(th: int, assessment_years: float) -> Course:
        name = names[th]
        therapy = cm.model.therapies[name]
        need = services.needs(therapy) if services is not None else None
        service = need[0] if need else None
        made = months(services.made_before(therapy)) if need else 0.0
        return Course(name, months(assessment_years), service, made)

    fa, re_ = months(m["first_assessment"]), months(m["reassessment"])
    n = int(m["n_ladder"])
    ladder = tuple(course(int(m["ladder"][i]), m["ladder_assessment"][i]) for i in range(n))
    agents = [int(m["induction_agent"][j]) for j in range(int(m["n_induction"]))]
    reach = list(agents)                      # induction agents reachable by switching
    for a in reach:
        b = int(m["switch"][a])
        if b >= 0 and b not in reach:
            reach.append(b)
    inductions = {a: course(a, m["first_assessment"]) for a in reach}
    workup = bool(m["screen_lookalikes"]) or bool(m["repeat_biopsy"])
    findable = [c for c in L.LOOKALIKES if m["repeat_biopsy"]
                or (m["screen_lookalikes"] and labs_can_find(L.FINDINGS.index(c)))]
    management = tuple((c, course(int(m["management"][L.FINDINGS.index(c)]),
                                  m["th_assessment"][int(m["management"][L.FINDINGS.index(c)])]))
                       for c in L.LOOKALIKES if workup and int(m["management"][L.FINDINGS.index(c)]) >= 0)
    managed = [(c, co) for c, co in management if c in findable]
    rescue_th = int(m["rescue"])
    infection = int(m["infection_kind"])
    rescue = course(rescue_th, m["rescue_assessment"]) if rescue_th >= 0 else None

    def stopped_by_infection(th: int) -> bool:
        """Can a severe infection stop a course of ``th`` (and so lead to the rescue)?"""
        return any(int(m["th_ae_kind"][th, j]) == infection and m["th_ae_p_severe"][th, j] > 0
                   for j in range(int(m["th_n_ae"][th])))

    rescued_from = [i for i in range(n) if stopped_by_infection(int(m["ladder"][i]))
                    and rescue_follows(mr, int(m["ladder"][i]), infection, False)]
    made = lambda c: c.manufacture_months > 0          # noqa: E731
    maint = names[int(m["maintenance"])]
    maint_years = float(m["maintenance_years"])
    rule = s.flare_reentry

    T: list[Transition] = []

    def add(src, dst, key, label, src_step=-1, dst_step=-1):
        assert key in TRANSITIONS.get((src, dst), ()), (src, dst, key)
        T.append(Transition(src, dst, key, label, src_step, dst_step))

    def to_course(src, key, c: Course, phase, label, src_step=-1, dst_step=-1):
        """A decision that starts course ``c`` (assessed in ``phase``): via manufacture if its cells are made."""
        if made(c):
            add(src, MANUFACTURE, key, f"{label} (cells made first: {months_text(c.manufacture_months)})", src_step, dst_step)
        else:
            add(src, phase, key, label, src_step, dst_step)

    def step_text(i: int) -> str:
        return f"ladder step {i + 1}: {ladder[i].therapy}, assessed at {months_text(ladder[i].assessment_months)}"

    def next_steps(i: int, rescued: bool) -> int:
        """The step after step ``i`` (``rescued``: the rescue therapy given in this climb is skipped)."""
        return int(step_to_give(mr, i + 1, rescued))

    def climb(src, key, i, rescued, src_step=-1, why=""):
        """Start the ladder at step ``i`` (or, past the last step, supportive care)."""
        if i < n:
            to_course(src, key, ladder[i], LADDER, f"{why}{step_text(i)}", src_step, i)
        else:
            add(src, SUPPORTIVE, "exhausted" if key in ("next_step", "rescue_next") else key,
                f"{why}ladder exhausted: supportive care", src_step)

    # -- the first course, and queueing for it ---------------------------------------------------------
    for a in agents:
        c = inductions[a]
        share = dict((names[x], float(w)) for x, w in zip(agents, m["induction_share"][:len(agents)]))
        text = f"start induction with {c.therapy}" + (f" ({share[c.therapy]:.0%})" if len(agents) > 1 else "")
        to_course(START, "start", c, FIRST, f"{text}; first assessment at {months_text(fa)}")
    if any(inductions[a].service for a in agents):
        add(START, RRT, "esrd", "ESRD while queueing for the first course")
        add(START, DONE, "end", "death (or the horizon) while queueing for the first course")
    # -- Figure 2 -------------------------------------------------------------------------------------------
    lead = months(m["improvement_lead"])
    add(FIRST, REASSESS, "improving", f"improving (response due within {months_text(lead)}): reassess at {months_text(re_)}")
    for src in (FIRST, REASSESS):
        add(src, MAINTENANCE, "respond", f"responding: maintenance ({maint}, {years_text(maint_years)})")
        for a in reach:
            b = int(m["switch"][a])
            to_course(src, "switch", inductions[b], FIRST,
                      f"no response to {names[a]}: switch to {names[b]}, assessed at {months_text(fa)}")
        if m["repeat_biopsy"]:
            add(src, SUPPORTIVE, "workup_chronic", "no response to both agents; repeat biopsy finds chronic "
                "damage: supportive care")
        for c, co in managed:
            to_course(src, "workup_lookalike", co, MANAGE, f"no response to both agents; the work-up finds {c}: "
                      f"{co.therapy}, assessed at {months_text(co.assessment_months)}")
        if n:
            climb(src, "refractory", 0, False, why="no response to both agents: classify refractory; ")
        else:
            add(src, SUPPORTIVE, "refractory_no_ladder", "no response to both agents: classify refractory; "
                "no ladder: supportive care")
    # -- the management of a look-alike ----------------------------------------------------------------------
    if managed:
        add(MANAGE, MAINTENANCE, "respond", f"responding: maintenance ({maint}, {years_text(maint_years)})")
        if n:
            climb(MANAGE, "refractory", 0, False, why="managed, still no response: classify refractory; ")
        else:
            add(MANAGE, SUPPORTIVE, "refractory_no_ladder", "managed, still no response: classify refractory; "
                "no ladder: supportive care")
    # -- Figure 3: the ladder, the rescue rule ---------------------------------------------------------------------
    for i in range(n):
        add(LADDER, MAINTENANCE, "respond", f"responding to {ladder[i].therapy}: maintenance", i)
        climb(LADDER, "next_step", next_steps(i, False), False, i, why=f"no response to {ladder[i].therapy}: ")
        if any(r < i for r in rescued_from):           # the rescue was given earlier in this climb
            j = next_steps(i, True)
            if j != next_steps(i, False):
                climb(LADDER, "next_step", j, True, i, why=f"no response to {ladder[i].therapy} "
                      f"({rescue.therapy} already given as rescue): ")
        if i in rescued_from:
            add(LADDER, RESCUE, "rescue", f"severe infection stops {ladder[i].therapy}: {rescue.therapy}, "
                f"assessed at {months_text(rescue.assessment_months)}", i)
    for i in rescued_from:
        add(RESCUE, MAINTENANCE, "respond", f"responding to {rescue.therapy}: maintenance", i)
        climb(RESCUE, "rescue_next", next_steps(i, True), True, i, why=f"no response to {rescue.therapy} "
              f"after {ladder[i].therapy}: ")
    # -- manufacture ---------------------------------------------------------------------------------------------
    for i, c in enumerate(ladder):
        if made(c):
            add(MANUFACTURE, LADDER, "manufactured", f"cells made ({months_text(c.manufacture_months)}): "
                f"{step_text(i)}", i, i)
    for a in reach:
        if made(inductions[a]):
            add(MANUFACTURE, FIRST, "manufactured", f"cells made: start {inductions[a].therapy}")
    for c, co in managed:
        if made(co):
            add(MANUFACTURE, MANAGE, "manufactured", f"cells made: start {co.therapy}")
    # -- maintenance, off treatment, renal flares --------------------------------------------------------------
    add(MAINTENANCE, OFF, "maintenance_over", f"after {years_text(maint_years)}: maintenance stops")
    # where a flare is re-treated after each response a patient can have (the core's rule,
    # reentry_point); the words of each transition follow the strategy's rule
    again: dict[int, list[int]] = {L.RESP_INDUCTION: [], L.RESP_LADDER: [], L.RESP_MANAGEMENT: []}
    responses = ([(L.RESP_INDUCTION, a) for a in reach] + [(L.RESP_LADDER, i) for i in range(n)]
                 + [(L.RESP_MANAGEMENT, L.FINDINGS.index(c)) for c, _ in managed])
    for kind, where in responses:
        for first in agents:
            to, at = (int(x) for x in reentry_point(mr, kind, where, first))
            if at not in again[to]:
                again[to].append(at)
    for src in (MAINTENANCE, OFF):
        flare = "renal flare: "
        for a in again[L.RESP_INDUCTION]:
            to_course(src, "flare_induction", inductions[a], FIRST,
                      f"{flare}after a response to {names[a]}: re-induce with it" if rule == "same_step"
                      else f"{flare}re-induce with {names[a]}")
        for i in sorted(again[L.RESP_LADDER]):
            if i >= n:
                add(src, SUPPORTIVE, "flare_no_ladder", f"{flare}no ladder: supportive care")
            else:
                climb(src, "flare_ladder", i, False, why=f"{flare}after a response at step {i + 1}: back to it; "
                      if rule == "same_step" else f"{flare}back to the ladder; " if rule == "ladder"
                      else f"{flare}to the step the strategy sets; ")
        for c, co in managed:
            if L.FINDINGS.index(c) in again[L.RESP_MANAGEMENT]:
                to_course(src, "flare_management", co, MANAGE, f"{flare}after {c} responded to {co.therapy}: "
                          "its management again")
    # -- the wait goes on; ESRD; death or the horizon -------------------------------------------------------------
    phases = {t.src for t in T} | {t.dst for t in T} | {RRT}
    goes_on = {FIRST: "a response, complete response or non-severe adverse event: the wait goes on",
               MAINTENANCE: "complete response, an adverse event or the end of a flare-risk effect: maintenance "
                            "goes on",
               OFF: "complete response or an adverse event: off treatment goes on",
               MANUFACTURE: "an adverse event of the course before: manufacture goes on",
               SUPPORTIVE: "an adverse event of the course before the flare: supportive care goes on",
               RRT: "transplant or graft failure"}
    horizon = float(sc.horizon_years)
    made_steps = [i for i, c in enumerate(ladder) if made(c)]
    for p in WAITING:
        if p not in phases:
            continue
        steps = range(n) if p == LADDER else made_steps if p == MANUFACTURE and made_steps else [-1]
        for i in steps:
            if p != SUPPORTIVE or any(t.key == "flare_no_ladder" for t in T):
                add(p, p, "goes_on", goes_on.get(p, goes_on[FIRST]), i, i)
            if p != RRT:
                add(p, RRT, "esrd", "ESRD: dialysis (then transplant)", i)
            add(p, DONE, "end", f"death, or the horizon ({years_text(horizon)})", i)
    share = tuple((names[a], float(m["induction_share"][j])) for j, a in enumerate(agents))
    return StrategyPathway(
        name=s.name, description=s.description, induction=share,
        switch=tuple((names[a], names[int(m["switch"][a])]) for a in reach),
        first_assessment_months=fa, reassessment_months=re_, improvement_lead_months=lead,
        screen_lookalikes=bool(m["screen_lookalikes"]), repeat_biopsy=bool(m["repeat_biopsy"]),
        management=tuple(managed), ladder=ladder, rescue=rescue, rescue_from=tuple(rescued_from),
        rescue_after=cm.kinds[infection] if infection >= 0 else "serious_infection", maintenance=maint,
        maintenance_years=maint_years, flare_reentry=rule, capacity=capacity, horizon_years=horizon,
        transitions=tuple(T))
