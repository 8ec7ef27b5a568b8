"""The patient pathway of Santacruz et al. 2021, Figures 2 and 3: the clinical core of lnsim.

Figure 2 (how a patient is classed refractory)::

    start induction (CYC or MMF)
    -> first assessment at first_assessment_months (3 EULAR-style, 6 ACR-style)
         responding  -> maintenance
         improving   -> reassessment at reassessment_months; responding -> maintenance, else switch
         no response -> switch CYC <-> MMF
    -> assess the second agent the same way; no response -> work-up, then classify refractory

Before a patient is classed refractory the strategy may work the non-response up (A71; review text
around ref 42): non-invasive screening for thrombotic microangiopathy and antiphospholipid
nephropathy, and a repeat biopsy, which can also show membranous transformation or chronic damage.
A look-alike found goes to its own management; chronic damage found stops escalation (supportive
care); only the rest are classed refractory.

Figure 3 (the refractory ladder, in the order the strategy sets)::

    rituximab (+ belimumab) -> tacrolimus multitarget -> MSC -> immunoadsorption / IVIG

each ladder step judged at its own assessment time; no response moves the patient on, and so does a
severe adverse event, which ends the step early (stopping rule); after a severe infection the
strategy may give extracorporeal therapy before intensifying (rescue, A59). Responders enter
maintenance; a renal flare sends them back into treatment at the step the strategy sets.

How it runs
-----------
A patient is always *in a phase* (:data:`sim.model.layout.PHASE_NAMES`; the allowed transitions
are in :mod:`sim.model.phases`), waiting for something — the first assessment, the reassessment, a
ladder step's assessment, the end of maintenance — while biology runs underneath
(:mod:`sim.model.course`: responses and adverse events at their pre-drawn times; death, ESRD and
renal flares through the hazard clocks of :mod:`sim.model.clocks`). A driver (:mod:`sim.engine`)
calls :func:`step` when the time the patient waits for has come; the core does what happens then,
takes every decision that follows at that instant, and returns what the driver must do next: wait
(``p.w_delay`` years), nothing more (the follow-up is over), supply more random numbers, make room
for records, find the service a course needs (scenarios with limited capacity), or — when the
batch driver asks — note that the patient has just reached the ladder (``AT_LADDER``: strategies
that differ only in their ladder share the life until then). The driver's arrays reach the core as
one WORK record (:mod:`sim.model.work`). A decision at time t reads only what has happened by t.
Each function below is one step of the figures, named as the review names it.
"""
from __future__ import annotations

from sim.model import events as E
from sim.model import layout as L
from sim.model.clocks import clock_times
from sim.model.course import (begin_course, begin_wait, close, finish_wait, in_remission,
                              judge, plan_wait, reach_esrd, record, set_state, set_therapy, start_course)
from sim.model.hazards import patient_tables
from sim.model.jit import core, inlined
from sim.model.work import attach, counts, courses_short, drawn, flare_draws, flares_short

INF = L.INF


@core
def wait_for(m, p, clock, until, flares, course, phase):
    """Enter ``phase``: wait until ``until`` (see :func:`sim.model.course.begin_wait`)."""
    p.phase = phase
    begin_wait(p, until, flares, course)
    plan_wait(m, p, clock)
    return L.WAIT


@core
def induction_agent(m, u):
    """The induction agent a patient starts with: the strategy's agent, or one of its mix by share."""
    n = m.n_induction
    if n == 1:
        return m.induction_agent[0]
    acc = 0.0
    for j in range(n):
        acc += m.induction_share[j]
        if u < acc:
            return m.induction_agent[j]
    return m.induction_agent[n - 1]


@core
def induction_agents(M, s, u, out):
    """:func:`induction_agent` for every patient of a block (``u``: their uniforms; one call)."""
    m = M[s]
    for i in range(len(u)):
        out[i] = induction_agent(m, u[i])


# ==============================================================================================
# Courses: given as induction, as the management of a look-alike, as a ladder step or as rescue
# ==============================================================================================
@core
def give_course(m, w, p, clock, th, kind, second_line, assessment):
    """Give a course of therapy ``th``, judged ``assessment`` years after it starts. With limited
    capacity the driver first finds the service the course needs (:func:`service_found`)."""
    p.course_next = th
    p.course_kind = kind
    p.second_line = second_line
    p.course_assessment = assessment
    if m.capacity:
        return L.ASK_SERVICE
    return start_and_wait(m, w, p, clock)


@core
def start_and_wait(m, w, p, clock):
    th = p.course_next
    start_course(m, w, p, clock, th, p.second_line)
    p.course_start = clock
    kind = p.course_kind
    if kind == L.INDUCTION:
        return wait_for(m, p, clock, clock + p.course_assessment, 0, 1, L.FIRST_ASSESSMENT)
    phase = L.MANAGEMENT_ASSESSMENT if kind == L.MANAGEMENT else (
        L.LADDER_ASSESSMENT if kind == L.LADDER else L.RESCUE_ASSESSMENT)
    return wait_for(m, p, clock, clock + p.course_assessment, 0, 1, phase)


# ==============================================================================================
# Figure 2: induction, first assessment, reassessment, switch, work-up, classify refractory
# ==============================================================================================
@core
def start_induction(m, w, p, clock, agent, initial):
    """Figure 2 from the start: induction with ``agent`` (``initial``: the first time in life)."""
    p.agent = agent
    p.initial = initial
    return give_course(m, w, p, clock, agent, L.INDUCTION, 0, m.first_assessment)


@core
def first_assessment(m, w, p, clock, why):
    """Responding, improving (partial response due within improvement_lead_months: reassess later)
    or not responding."""
    if (why == L.UNTIL and not in_remission(p)
            and p.pending_response <= p.w_until + m.improvement_lead):
        record(w, p, clock, E.ASSESSMENT, p.agent, L.IMPROVING, 0)
        return wait_for(m, p, clock, p.course_start + m.reassessment, 0, 1, L.REASSESSMENT)
    return induction_judged(m, w, p, clock, judge(w, p, clock, p.agent, why))


@core
def reassessment(m, w, p, clock, why):
    """The improving patient is judged again at reassessment_months: responding, or not."""
    return induction_judged(m, w, p, clock, judge(w, p, clock, p.agent, why))


@core
def induction_judged(m, w, p, clock, responding):
    if responding:
        p.responding_kind = L.RESP_INDUCTION
        p.responding_where = p.agent
        return follow_up(m, w, p, clock)
    if not p.second_line:
        return switch(m, w, p, clock)
    return work_up_non_response(m, w, p, clock)


@core
def switch(m, w, p, clock):
    """No response to the first agent: switch CYC <-> MMF, judged the same way."""
    partner = m.switch[p.agent]
    record(w, p, clock, E.SWITCH, p.agent, partner, 0)
    p.agent = partner
    return give_course(m, w, p, clock, partner, L.INDUCTION, 1, m.first_assessment)


@core
def labs_can_find(look):
    """Can non-invasive screening find look-alike ``look``? Thrombotic microangiopathy and
    antiphospholipid nephropathy have laboratory signs; the others need a repeat biopsy (A71)."""
    return look == L.FINDINGS_TMA or look == L.FINDINGS_APS


@core
def work_up(m, w, p, clock):
    """Look for what else a non-response can be (A71; ref 42): non-invasive screening for
    thrombotic microangiopathy and antiphospholipid nephropathy, then a repeat biopsy, which also
    shows membranous transformation and chronic damage. Done once; the finding is kept."""
    if p.workup_finding != L.NOT_WORKED_UP:
        return p.workup_finding
    u = p.workup_u
    finding = L.FINDING_NONE
    look = p.lookalike
    if m.screen_lookalikes:
        if labs_can_find(look) and u[2] < m.labs_detect_lookalike:
            finding = look
        record(w, p, clock, E.LOOKALIKE_SCREEN, finding, 0, 0)
    if m.repeat_biopsy and finding == L.FINDING_NONE:
        if look != L.FINDING_NONE and u[1] < m.biopsy_detects_lookalike:
            finding = look
        elif p.chronicity == L.CHRONICITY_HIGH and u[0] < m.biopsy_detects_chronic_damage:
            finding = L.FINDING_CHRONIC
        record(w, p, clock, E.REPEAT_BIOPSY, finding, 0, 0)
    p.workup_finding = finding
    return finding


@core
def work_up_non_response(m, w, p, clock):
    """Both induction agents failed: work the non-response up (if the strategy does); chronic damage
    found stops escalation, a look-alike found goes to its own management (the first time), the
    rest are classed refractory."""
    p.failed_induction = 1
    first_time = p.workup_finding == L.NOT_WORKED_UP
    finding = L.FINDING_NONE
    if m.screen_lookalikes or m.repeat_biopsy:
        finding = work_up(m, w, p, clock)
    if finding == L.FINDING_CHRONIC:             # no potential for remission: do not escalate
        if first_time:
            record(w, p, clock, E.RECLASSIFIED, finding, 0, 0)
        return follow_up(m, w, p, clock)
    if finding != L.FINDING_NONE and first_time:
        record(w, p, clock, E.RECLASSIFIED, finding, 0, 0)
        return manage_lookalike(m, w, p, clock, finding)
    return classify_refractory(m, w, p, clock)


@core
def manage_lookalike(m, w, p, clock, condition):
    """The look-alike's own management (e.g. plasma exchange for thrombotic microangiopathy,
    anticoagulation with extracorporeal therapy for antiphospholipid nephropathy, A59)."""
    p.condition = condition
    th = m.management[condition]
    return give_course(m, w, p, clock, th, L.MANAGEMENT, 0, m.th_assessment[th])


@core
def management_assessment(m, w, p, clock, why):
    """The look-alike's management judged: responding (maintenance), or classed refractory."""
    if judge(w, p, clock, m.management[p.condition], why):
        p.responding_kind = L.RESP_MANAGEMENT
        p.responding_where = p.condition
        return follow_up(m, w, p, clock)
    return classify_refractory(m, w, p, clock)      # managed, still not responding


@core
def classify_refractory(m, w, p, clock):
    p.refractory = 1
    if p.initial:
        p.refractory_initial = 1
    record(w, p, clock, E.REFRACTORY, 0, 0, 0)
    return ladder_from(m, w, p, clock, 0)


# ==============================================================================================
# Figure 3: the refractory ladder and its rescue rule
# ==============================================================================================
@core
def ladder_from(m, w, p, clock, first_step):
    """Climb the ladder from ``first_step``. (A strategy record may ask to stop when a patient
    first gets here, AT_LADDER: the batch driver then shares the life so far with the strategies
    that differ only in their ladder, and goes on with :func:`resume_at_ladder`.)"""
    p.rescued = 0
    p.ladder_index = first_step
    if m.stop_at_ladder and not p.at_ladder:
        p.at_ladder = 1
        return L.AT_LADDER
    return ladder_step(m, w, p, clock)


@core
def step_to_give(m, i, rescued):
    """The ladder step given from step ``i`` on: the rescue therapy, once given in this climb
    (``rescued``), is not repeated. ``m.n_ladder``: past the last step."""
    while i < m.n_ladder and rescued and m.ladder[i] == m.rescue:
        i += 1
    return i


@core
def rescue_follows(m, th, stop_kind, rescued):
    """A severe adverse event of kind ``stop_kind`` stopped a ladder step of therapy ``th``: does the
    strategy's extracorporeal rescue follow (``after_severe_infection``, A59)? After a severe
    infection, once per climb (``rescued``), and not after the rescue therapy itself."""
    return (m.rescue >= 0 and m.infection_kind >= 0 and stop_kind == m.infection_kind and not rescued
            and th != m.rescue)


@core
def ladder_step(m, w, p, clock):
    """The next step of the ladder (a rescue therapy already given in this climb is not repeated),
    or, past the last step, supportive care."""
    i = step_to_give(m, p.ladder_index, p.rescued)
    if i < m.n_ladder:
        if i > p.highest_step:
            p.highest_step = i
        p.ladder_index = i
        return give_course(m, w, p, clock, m.ladder[i], L.LADDER, 0, m.ladder_assessment[i])
    record(w, p, clock, E.LADDER_EXHAUSTED, m.ladder[m.n_ladder - 1] if m.n_ladder > 0 else -1, 0, 0)
    return follow_up(m, w, p, clock)


@core
def ladder_step_assessment(m, w, p, clock, why):
    """Responding: maintenance. A step a severe infection stopped may be followed by extracorporeal
    therapy instead of intensifying at once (strategy ``after_severe_infection``; A59), once per
    climb, and not after the extracorporeal therapy itself. Otherwise: the next step."""
    i = p.ladder_index
    th = m.ladder[i]
    if judge(w, p, clock, th, why):
        p.responding_kind = L.RESP_LADDER
        p.responding_where = i
        return follow_up(m, w, p, clock)
    if why == L.STOPPED_BY_AE and rescue_follows(m, th, p.stop_kind, p.rescued):
        p.rescued = 1
        return give_course(m, w, p, clock, m.rescue, L.RESCUE, 0, m.rescue_assessment)
    p.ladder_index = i + 1
    return ladder_step(m, w, p, clock)


@core
def rescue_assessment(m, w, p, clock, why):
    """The extracorporeal rescue after a severe infection judged: responding, or the next ladder step."""
    if judge(w, p, clock, m.rescue, why):
        p.responding_kind = L.RESP_LADDER          # a later flare is re-treated at this step
        p.responding_where = p.ladder_index
        return follow_up(m, w, p, clock)
    p.ladder_index += 1
    return ladder_step(m, w, p, clock)


# ==============================================================================================
# After the response: maintenance, flares and re-entry; or active disease with no options
# ==============================================================================================
@core
def follow_up(m, w, p, clock):
    """Maintenance for a patient in remission; supportive care for active disease with no options
    left (until ESRD, death or the horizon)."""
    if not in_remission(p):
        set_therapy(w, p, clock, L.SUPPORTIVE_CARE)
        return wait_for(m, p, clock, INF, 0, 0, L.SUPPORTIVE)
    begin_course(w, p, clock, m.maintenance, E.MAINTENANCE_START)
    if p.flare_hr_years > 0:                 # e.g. belimumab after rituximab, for 52 weeks (A37, A41)
        p.flare_hr_until = clock + p.flare_hr_years
    return wait_for(m, p, clock, clock + m.maintenance_years, 1, 0, L.MAINTENANCE)


@core
def maintenance_over(m, w, p, clock, why):
    if why == L.UNTIL:                       # maintenance stops after maintenance_years
        record(w, p, clock, E.MAINTENANCE_END, m.maintenance, 0, 0)
        set_therapy(w, p, clock, L.NO_THERAPY)
        return wait_for(m, p, clock, INF, 1, 0, L.OFF_TREATMENT)
    return renal_flare(m, w, p, clock)


@core
def renal_flare(m, w, p, clock):
    """A renal flare: nephritis is active again; severe with the share in force."""
    flares = flare_draws(w)
    k = p.n_flares
    severe = 1 if flares[p.row, k, 1] < p.severe_p else 0
    p.n_flares = k + 1
    record(w, p, clock, E.RENAL_FLARE, k + 1, severe, 0)
    p.pending_cr = INF
    set_state(m, w, p, clock, L.ACTIVE)
    p.flare_left = flares[p.row, k + 1, 0]
    return reenter_after_flare(m, w, p, clock)


@core
def reentry_point(m, kind, where, first_agent):
    """Where a renal flare is re-treated, after a response of ``kind`` at ``where`` (an induction
    agent, a ladder step or a look-alike; RESP_NONE: none yet) of a patient first induced with
    ``first_agent``: the strategy's rule (default: the step that worked). A look-alike that flares
    gets its own management again. Returns (RESP_INDUCTION, agent), (RESP_LADDER, step) or
    (RESP_MANAGEMENT, look-alike)."""
    rule = m.reentry_rule
    if kind == L.RESP_NONE:
        kind = L.RESP_INDUCTION
        where = first_agent
    if kind == L.RESP_MANAGEMENT:
        return L.RESP_MANAGEMENT, where
    if rule == L.RULE_SAME_STEP and kind == L.RESP_INDUCTION:
        return L.RESP_INDUCTION, where
    if rule == L.RULE_INDUCTION:
        return L.RESP_INDUCTION, first_agent
    if rule == L.RULE_SAME_STEP:
        return L.RESP_LADDER, where
    if rule == L.RULE_LADDER:
        return L.RESP_LADDER, 0
    return L.RESP_LADDER, m.reentry_step


@core
def reenter_after_flare(m, w, p, clock):
    """Re-treat a flare where the strategy says (:func:`reentry_point`)."""
    p.initial = 0
    to, at = reentry_point(m, p.responding_kind, p.responding_where, p.first_agent)
    if to == L.RESP_MANAGEMENT:
        return manage_lookalike(m, w, p, clock, at)
    if to == L.RESP_INDUCTION:
        return start_induction(m, w, p, clock, at, 0)
    return ladder_from(m, w, p, clock, at)


# ==============================================================================================
# The step function the drivers call
# ==============================================================================================
@inlined
def draws_ready(m, w, p):
    """Are the random numbers this step may read drawn (the next course of every stream, the next
    flare)? If not, the driver draws the next chunk and calls again; nothing has changed."""
    have = drawn(w)
    return not courses_short(p.courses, m.n_streams, have[0]) and not flares_short(p.n_flares, have[1])


@inlined
def records_full(w):
    """Could this step overflow the record buffers? (the driver then flushes them and calls again)"""
    cnt = counts(w)
    return w.event_rows - cnt[0] < L.RECORDS_MARGIN or w.segment_rows - cnt[1] < L.RECORDS_MARGIN


@inlined
def driver_first(m, w, p):
    """What the driver must do before this step may change anything: draw random numbers
    (NEED_DRAWS), make room for records (RECORDS_FULL), or nothing (WAIT)."""
    if not draws_ready(m, w, p):
        return L.NEED_DRAWS
    if records_full(w):
        return L.RECORDS_FULL
    return L.WAIT


@core
def after_wait(m, w, p, clock, why):
    """The phase's wait ended (its time came, a flare, or a severe adverse event stopped the course)."""
    ph = p.phase
    if ph == L.FIRST_ASSESSMENT:
        return first_assessment(m, w, p, clock, why)
    if ph == L.REASSESSMENT:
        return reassessment(m, w, p, clock, why)
    if ph == L.MANAGEMENT_ASSESSMENT:
        return management_assessment(m, w, p, clock, why)
    if ph == L.LADDER_ASSESSMENT:
        return ladder_step_assessment(m, w, p, clock, why)
    if ph == L.RESCUE_ASSESSMENT:
        return rescue_assessment(m, w, p, clock, why)
    if ph == L.MANUFACTURE:
        return start_and_wait(m, w, p, clock)
    if ph == L.MAINTENANCE:
        return maintenance_over(m, w, p, clock, why)
    if ph == L.OFF_TREATMENT:                            # waits for a flare only
        return renal_flare(m, w, p, clock)
    raise RuntimeError("a wait without an end ended (supportive care, renal replacement)")


@inlined
def advance(p):
    """The patient's clock moves on by the wait the core asked for, with the floating-point
    operation a SimPy timeout makes (``now + delay``, on the simulation clock); returns the time
    since the patient started induction."""
    if p.w_delay > 0.0:
        p.now = p.now + p.w_delay
        p.w_delay = 0.0
    return p.now - p.t0


@core
def step(P, i, M, s, W, R, draws, out):
    """Patient ``i`` of strategy ``s`` has waited as long as the core asked (``P[i].w_delay``): do
    what happens then (:func:`take_step`), with the driver's arrays (attached to ``W``,
    :func:`sim.model.work.attach`)."""
    return take_step(M[s], attach(W, R, draws, out), P[i])


@core
def take_step(m, w, p):
    """What happens when the patient's wait is over, and every decision that follows at that
    instant. Biology that needs no decision (a response, an adverse event that stops nothing, a
    transplant) is taken in its stride unless the scenario has limited capacity (then the driver sees
    every event, so its clock and the patient's stay one). Returns WAIT (for ``p.w_delay`` years,
    possibly 0), DONE_STATUS, NEED_DRAWS, RECORDS_FULL (nothing done: the driver acts, then calls
    again), ASK_SERVICE or AT_LADDER (see :func:`ladder_from`)."""
    first = driver_first(m, w, p)
    if first != L.WAIT:
        return first
    clock = advance(p)
    if p.phase == L.START:
        patient_tables(m, p)                      # the hazard tables, the first time the patient starts
        return start_induction(m, w, p, clock, p.first_agent, 1)
    why = finish_wait(m, w, p, clock)
    while why == L.GOES_ON:
        plan_wait(m, p, clock)
        if m.capacity or records_full(w):
            return L.WAIT
        clock = advance(p)
        why = finish_wait(m, w, p, clock)
    if why == L.DIED or why == L.HORIZON:
        return L.DONE_STATUS
    if why == L.REACHED_ESRD:                     # renal replacement: dialysis, transplant, graft failure
        return wait_for(m, p, clock, INF, 0, 0, L.RENAL_REPLACEMENT)
    return after_wait(m, w, p, clock, why)


@core
def resume_at_ladder(m, w, p):
    """Go on from where :func:`ladder_from` stopped (AT_LADDER), with strategy ``m``'s ladder: the
    rest of that step. Returns as :func:`take_step` does."""
    return ladder_step(m, w, p, p.now - p.t0)


# ==============================================================================================
# Limited services (scenarios with capacity): the driver queues, the core keeps the clocks
# ==============================================================================================
@core
def queue_started(P, i, W, R, draws, out, service):
    """The patient queues for ``service`` before the course ``course_next`` (nephritis stays active)."""
    p = P[i]
    w = attach(W, R, draws, out)
    clock = p.now - p.t0
    set_therapy(w, p, clock, L.WAITING - p.course_next)
    record(w, p, clock, E.QUEUE, service, p.course_next, 0)


@core
def queue_deadline(P, i, M, s):
    """While queueing, death, ESRD and the horizon still compete: the earliest of them."""
    p = P[i]
    m = M[s]
    t_death, t_esrd = clock_times(m, p)
    return min(t_death, t_esrd, m.horizon)


@core
def queue_left(P, i, M, s, W, R, draws, out, now, t):
    """The patient left the queue at simulation time ``now``, at the deadline ``t`` (:func:`queue_deadline`)."""
    p = P[i]
    m = M[s]
    w = attach(W, R, draws, out)
    p.now = now
    clock = now - p.t0
    t_death, t_esrd = clock_times(m, p)
    if t == t_death:
        close(w, p, clock, True)
        return L.DONE_STATUS
    if t == t_esrd:
        reach_esrd(m, w, p, clock)
        return wait_for(m, p, clock, INF, 0, 0, L.RENAL_REPLACEMENT)
    close(w, p, m.horizon, False)
    return L.DONE_STATUS


@core
def service_found(P, i, M, s, W, R, draws, out, now, hold):
    """The course may start (simulation time ``now``): at once, or after ``hold`` years (MSC manufacturing)."""
    p = P[i]
    m = M[s]
    w = attach(W, R, draws, out)
    first = driver_first(m, w, p)
    if first != L.WAIT:
        return first
    p.now = now
    clock = now - p.t0
    if hold > 0.0:
        return wait_for(m, p, clock, clock + hold, 0, 0, L.MANUFACTURE)
    return start_and_wait(m, w, p, clock)
