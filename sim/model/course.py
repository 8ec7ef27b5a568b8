"""Courses of therapy and the passing of time: the mechanics under the pathway of :mod:`sim.model.pathway`.

A course's response and adverse events are decided when it starts, from pre-drawn random numbers
(:func:`start_course`); its assessment judges what has happened by then (:func:`judge`). While a
patient waits for something (an assessment, the end of maintenance), biology runs underneath:
:func:`plan_wait` finds the earliest of the wait's end, the horizon, death, ESRD, the course's
response, complete response, the next adverse event, a renal flare, transplant or graft failure;
:func:`finish_wait` makes it happen when the clock gets there. Events and health-state segments are
written as light records (:func:`record`, :func:`segment`).
"""
from __future__ import annotations

from sim.model import events as E
from sim.model import layout as L
from sim.model.clocks import clock_times, consume, damage_kidney, restart_clocks
from sim.model.hazards import enter_death_table
from sim.model.jit import core, inlined
from sim.model.work import ae_numbers, counts, course_numbers, events, response, segments

INF = L.INF


# ==============================================================================================
# Records
# ==============================================================================================
@inlined
def record(w, p, t, code, a, b, c):
    """An event (``w``: where the record buffers are, :mod:`sim.model.work`)."""
    ev, cnt = events(w), counts(w)
    n = cnt[0]
    ev[n, L.EV_PATIENT] = p.pid
    ev[n, L.EV_CODE] = code
    ev[n, L.EV_A] = a
    ev[n, L.EV_B] = b
    ev[n, L.EV_C] = c
    ev[n, L.EV_TIME] = t
    ev[n, L.EV_SEQ] = cnt[2]
    cnt[0] = n + 1
    cnt[2] += 1


@inlined
def segment(w, p, now):
    """Close the current health-state segment at ``now``."""
    if now > p.seg_start:
        sg, cnt = segments(w), counts(w)
        n = cnt[1]
        sg[n, L.SG_PATIENT] = p.pid
        sg[n, L.SG_STATE] = p.state
        sg[n, L.SG_THERAPY] = p.therapy
        sg[n, L.SG_START] = p.seg_start
        sg[n, L.SG_STOP] = now
        sg[n, L.SG_SEQ] = cnt[2]
        cnt[1] = n + 1
        cnt[2] += 1
    p.seg_start = now


@inlined
def set_state(m, w, p, now, state):
    """The patient's health state becomes ``state`` at ``now``: the clocks bank the hazard used in the
    old state, the segment closes, and the new state's death table is written if this is the first
    time the patient is in it. The only way a health state may change: a table not yet written holds
    another patient's numbers (records are reused), so a state entered otherwise would read them."""
    if state == p.state:
        return
    consume(m, p, now)
    segment(w, p, now)
    p.state = state
    enter_death_table(m, p, state)
    restart_clocks(m, p, now)


@inlined
def give(w, p, now, therapy):
    """The therapy given becomes ``therapy`` at ``now``: if it changes, the segment closes. Whether it
    changed."""
    if therapy == p.therapy:
        return False
    segment(w, p, now)
    p.therapy = therapy
    return True


@inlined
def set_therapy(w, p, now, therapy):
    """The therapy given becomes ``therapy`` (none, supportive care, waiting for a service): a change
    is recorded (THERAPY_CHANGE: it ends any course)."""
    if give(w, p, now, therapy):
        record(w, p, now, E.THERAPY_CHANGE, therapy, 0, 0)


@inlined
def begin_course(w, p, now, therapy, code):
    """A course of ``therapy`` starts (``code``: THERAPY_START or MAINTENANCE_START): the therapy given
    becomes ``therapy`` and the start is recorded, which is the change (no THERAPY_CHANGE record: a
    course's start ends the course before it)."""
    give(w, p, now, therapy)
    record(w, p, now, code, therapy, 0, 0)


@inlined
def in_remission(p):
    return p.state == L.PARTIAL or p.state == L.COMPLETE


@core
def close(w, p, t, died):
    """The end of the patient's follow-up: death, or alive at the horizon."""
    segment(w, p, t)
    p.end_time = t
    if died:
        p.death_time = t
    record(w, p, t, E.DEATH if died else E.END_OF_FOLLOWUP, p.state, 0, 0)
    p.phase = L.DONE


# ==============================================================================================
# Courses of therapy: response and adverse events, decided when the course starts
# ==============================================================================================
@core
def start_course(m, w, p, now, th, second_line):
    """Start a course: its response times and adverse events, from the patient's own numbers of the
    block's streams (:func:`sim.model.work.course_numbers`). The probability of
    response comes from the response table (:mod:`sim.model.response`); the response happens
    uniformly between the onset and the evidence time point; partial responders may reach complete
    response later (up to max_time_to_cr, A18), and some non-responders respond late (A15, A20)."""
    R = response(w)
    stream = m.th_stream[th]
    k = p.courses[stream]
    p.courses[stream] = k + 1
    u0, u1, u2, u3, u4 = course_numbers(w, p.row, stream, k)
    p_resp = R[th, p.isn_class, p.ancestry, p.nonadherent, p.chronicity, p.lookalike, second_line]
    p_cr = p_resp * m.th_cr_share[th]
    t_ref = m.th_t_ref[th]
    onset = m.th_onset[th]
    max_cr = m.max_time_to_cr
    t_resp = INF
    t_cr = INF
    if u0 < p_cr:                                   # complete response by the evidence time point
        t_resp = onset + (t_ref - onset) * u1
        t_cr = t_resp + (t_ref - t_resp) * u2
    elif u0 < p_resp:                               # partial response by then; CR may follow (A18)
        t_resp = onset + (t_ref - onset) * u1
        if u3 < m.late_cr_given_partial and t_ref < max_cr:
            t_cr = t_ref + (max_cr - t_ref) * u4
    elif u3 < m.late_response_given_none:           # late partial response (A15, A20)
        t_resp = t_ref + m.late_response_window * u1
        if u2 < m.late_cr_given_partial and t_resp < max_cr:
            t_cr = t_resp + (max_cr - t_resp) * u4
    p.pending_response = now + t_resp
    p.pending_cr = now + t_cr
    p.course_therapy = th
    # adverse events of the course, in time order (then by kind, as the kinds' names sort)
    n = 0
    duration = m.th_duration[th]
    for j in range(m.th_n_ae[th]):
        kind = m.th_ae_kind[th, j]
        a0, a1 = ae_numbers(w, p.row, m.th_ae_draws[th, j], k)
        if a0 < m.th_ae_p[th, j]:
            t = now + duration * a1
            severe = 1 if a0 < m.th_ae_p_severe[th, j] else 0   # severe: stops the course
            pos = n
            while pos > 0 and (p.ae_time[pos - 1] > t or (p.ae_time[pos - 1] == t and (
                    p.ae_kind[pos - 1] > kind or (p.ae_kind[pos - 1] == kind and p.ae_severe[pos - 1] > severe)))):
                p.ae_time[pos] = p.ae_time[pos - 1]
                p.ae_kind[pos] = p.ae_kind[pos - 1]
                p.ae_severe[pos] = p.ae_severe[pos - 1]
                pos -= 1
            p.ae_time[pos] = t
            p.ae_kind[pos] = kind
            p.ae_severe[pos] = severe
            n += 1
    p.n_ae = n
    p.ae_next = 0
    p.flare_hr = 1.0
    p.flare_hr_years = 0.0
    p.flare_hr_until = -1.0
    if m.th_has_flare_hr[th]:                 # takes effect when remission starts (maintenance)
        p.flare_hr = m.th_flare_hr[th]
        p.flare_hr_years = m.th_flare_hr_years[th]
        p.flare_hr_severe_only = m.th_flare_hr_severe_only[th]
    begin_course(w, p, now, th, E.THERAPY_START)


@core
def void_course(p):
    """The course's future response and adverse events will not happen."""
    p.pending_response = INF
    p.pending_cr = INF
    p.n_ae = 0
    p.ae_next = 0


@core
def stop_course(p):
    """A course that did not work is stopped: its future response and adverse events are void, and
    so is any effect it had on the risk of flares."""
    void_course(p)
    p.flare_hr = 1.0
    p.flare_hr_years = 0.0
    p.flare_hr_until = -1.0


@core
def judge(w, p, now, th, why):
    """The assessment of a course: responding, or not (the course stops). A course a severe adverse
    event stopped is judged then: a patient already in remission goes on to maintenance."""
    stopped = why == L.STOPPED_BY_AE
    if in_remission(p):
        record(w, p, now, E.ASSESSMENT, th, L.STOPPED if stopped else L.RESPONDING, 0)
        return True
    record(w, p, now, E.ASSESSMENT, th, L.STOPPED if stopped else L.NO_RESPONSE, 0)
    stop_course(p)
    return False


# ==============================================================================================
# Time passing, with competing events
# ==============================================================================================
@core
def begin_wait(p, until, flares, course):
    """Wait until ``until``; with ``flares`` a renal flare ends the wait, with ``course`` a severe
    adverse event of the course being judged does."""
    p.w_until = until
    p.w_flares = flares
    p.w_course = course
    p.w_reached = -INF


@core
def plan_wait(m, p, clock):
    """What happens next in the current wait, and when: the earliest of the wait's end, the horizon,
    death, ESRD, the course's response, complete response, the next adverse event, a renal flare (and
    the end of a flare hazard ratio's effect), transplant or graft failure. Returns the delay."""
    now = clock
    if p.t0 != 0.0 and now < p.w_reached:     # open populations: relative time must not fall back by rounding
        now = p.w_reached
    state = p.state
    t_death, t_esrd = clock_times(m, p)
    t_resp = p.pending_response if state == L.ACTIVE else INF
    t_cr = p.pending_cr if state == L.PARTIAL else INF
    t_ae = p.ae_time[p.ae_next] if p.ae_next < p.n_ae else INF
    t_flare = INF
    t_hr = INF
    t_rrt = INF
    rate = 0.0
    if p.w_flares and (state == L.PARTIAL or state == L.COMPLETE):
        rate = m.flare_rate * (m.flare_hr_partial if state == L.PARTIAL else 1.0)
        severe = m.flare_severe_share
        moderate = 1.0 - m.flare_severe_share
        if p.flare_hr_until > now:        # e.g. belimumab after rituximab, for 52 weeks (A37, A41)
            t_hr = p.flare_hr_until
            if p.flare_hr_severe_only:
                severe *= p.flare_hr
            else:
                severe = severe * p.flare_hr
                moderate = moderate * p.flare_hr
        rate *= severe + moderate
        p.severe_p = severe / (severe + moderate) if severe + moderate > 0 else 0.0
        if rate > 0.0:
            t_flare = now + p.flare_left / rate
    elif state == L.DIALYSIS and p.tx_left < INF and m.transplant_rate > 0:
        rate = m.transplant_rate
        t_rrt = now + p.tx_left / rate
    elif state == L.TRANSPLANT and m.graft_failure_rate > 0:
        rate = m.graft_failure_rate
        t_rrt = now + p.graft_left / rate
    t = min(p.w_until, m.horizon, t_death, t_esrd, t_resp, t_cr, t_ae, t_flare, t_hr, t_rrt)
    p.w_reached = t
    p.w_now = now
    p.w_t = t
    p.w_death = t_death
    p.w_esrd = t_esrd
    p.w_resp = t_resp
    p.w_cr = t_cr
    p.w_ae = t_ae
    p.w_flare = t_flare
    p.w_rrt = t_rrt
    p.w_rate = rate
    p.w_delay = t - now if t > now else 0.0
    return p.w_delay


@core
def reach_esrd(m, w, p, t):
    record(w, p, t, E.ESRD, 0, 0, 0)
    p.esrd_time = t
    void_course(p)                           # renal replacement therapy ends the course
    set_therapy(w, p, t, L.NO_THERAPY)
    set_state(m, w, p, t, L.DIALYSIS)


@core
def respond(m, w, p, t):
    p.pending_response = INF
    set_state(m, w, p, t, L.PARTIAL)
    record(w, p, t, E.PARTIAL_RESPONSE, p.course_therapy, 0, 0)
    if p.response_time != p.response_time:   # NaN: the first response
        p.response_time = t
    if p.pending_cr <= t:
        complete(m, w, p, t)


@core
def complete(m, w, p, t):
    p.pending_cr = INF
    set_state(m, w, p, t, L.COMPLETE)
    record(w, p, t, E.COMPLETE_RESPONSE, p.course_therapy, 0, 0)
    if p.cr_time != p.cr_time:
        p.cr_time = t


@core
def renal_transition(m, w, p, t):
    if p.state == L.DIALYSIS:
        record(w, p, t, E.TRANSPLANT, 0, 0, 0)
        p.tx_time = t
        p.tx_left = INF                      # one transplant per patient (assumption)
        set_state(m, w, p, t, L.TRANSPLANT)
    else:
        record(w, p, t, E.GRAFT_FAILURE, 0, 0, 0)
        set_state(m, w, p, t, L.DIALYSIS)


@core
def finish_wait(m, w, p, clock):
    """What happens at the time :func:`plan_wait` found (the clock has reached it): returns L.GOES_ON
    (the wait continues), UNTIL, FLARE, STOPPED_BY_AE, DIED, REACHED_ESRD or HORIZON (sim.model.layout)."""
    t = p.w_t
    state = p.state
    spent = p.w_rate * (t - p.w_now)
    if p.w_flares and (state == L.PARTIAL or state == L.COMPLETE):
        p.flare_left -= spent
    elif state == L.DIALYSIS and p.w_rrt < INF:
        p.tx_left -= spent
    elif state == L.TRANSPLANT and p.w_rrt < INF:
        p.graft_left -= spent
    if t == p.w_death:
        close(w, p, clock, True)
        return L.DIED
    if t == p.w_esrd:
        reach_esrd(m, w, p, clock)
        return L.REACHED_ESRD
    if t >= m.horizon:
        close(w, p, m.horizon, False)
        return L.HORIZON
    if t == p.w_resp:
        respond(m, w, p, clock)
    elif t == p.w_cr:
        complete(m, w, p, clock)
    elif t == p.w_ae:
        j = p.ae_next
        p.ae_next = j + 1
        kind, severe = p.ae_kind[j], p.ae_severe[j]
        record(w, p, clock, E.ADVERSE_EVENT, p.course_therapy, kind, severe)
        hr = m.kind_esrd_hr[kind]
        if hr != 1.0:                       # e.g. chronic CNI nephrotoxicity (A55)
            damage_kidney(m, p, clock, hr)
        if severe and p.w_course:
            stop_course(p)
            p.n_stopped += 1
            p.stop_kind = kind
            return L.STOPPED_BY_AE
    elif t == p.w_flare:
        return L.FLARE
    elif t == p.w_rrt:
        renal_transition(m, w, p, clock)
    if t >= p.w_until:
        return L.UNTIL
    return L.GOES_ON
