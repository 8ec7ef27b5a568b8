"""The patient pathway of Santacruz et al. 2021, Figures 2 and 3, as one SimPy process per patient.

Figure 2 (how a patient is classed refractory)::

    start induction (CYC or MMF)
    -> assess at first_assessment_months (3 EULAR-style, 6 ACR-style)
         responding  -> maintenance
         improving   -> reassess at reassessment_months; responding -> maintenance, else switch
         no response -> switch CYC <-> MMF
    -> assess the second agent the same way; no response -> classed refractory

Before a patient is classed refractory the strategy may work the non-response up (A71; review text
around ref 42): non-invasive screening for thrombotic microangiopathy and antiphospholipid
nephropathy, and a repeat biopsy (when the response is unclear), which can also show membranous
transformation or chronic damage. A look-alike found goes to its own management; chronic damage
found stops escalation (supportive care); only the rest are classed refractory.

Figure 3 (the refractory ladder, in the order the strategy sets; default)::

    rituximab (+ belimumab) -> tacrolimus multitarget -> MSC -> immunoadsorption / IVIG

each step judged at its own assessment time; no response moves the patient on, and so does a
severe adverse event, which ends the step early (stopping rule). Responders enter
maintenance; a renal flare sends them back into treatment at the step the strategy sets.

Biology runs underneath the decisions: a course's response happens at its own (pre-drawn) time,
and death and ESRD compete at every moment through the hazard clocks of :mod:`sim.hazards`. The
pathway writes light tuples only: events ``(patient, time, event, detail)`` and health-state
segments ``(patient, state, therapy, start, stop)``; costs and utilities are applied afterwards.
"""
from __future__ import annotations

import math

import simpy

from sim.hazards import (ACTIVE, COMPLETE, DIALYSIS, INF, PARTIAL, PRE_ESRD, TRANSPLANT, cumulative,
                         time_reaching)

REMISSION = (PARTIAL, COMPLETE)
YEAR = 12.0  # months per year

#: The fixed event vocabulary of ``events.parquet`` (event -> meaning of ``detail``).
EVENTS = {
    "therapy_start": "a course of a therapy starts; detail = therapy name",
    "assessment": "response judged; detail = 'therapy:responding|improving|no_response|stopped' "
                  "(stopped: a severe adverse event ended the course before its assessment)",
    "partial_response": "first partial (or better) response of a course; detail = therapy",
    "complete_response": "complete response of a course; detail = therapy",
    "switch": "induction agent switched after no response; detail = 'from->to'",
    "lookalike_screen": "non-invasive work-up of a non-response for look-alikes; detail = finding "
                        "('tma', 'aps_nephropathy' or 'none')",
    "repeat_biopsy": "repeat kidney biopsy of a non-response; detail = finding ('chronic_damage', 'tma', "
                     "'aps_nephropathy', 'membranous' or 'active_nephritis')",
    "reclassified": "the non-response is not refractory nephritis; detail = 'chronic_damage' or the look-alike",
    "refractory": "classed refractory (no response after the switch); detail = ''",
    "ladder_exhausted": "no response to the last ladder step; detail = last step",
    "maintenance_start": "maintenance after response; detail = maintenance therapy",
    "maintenance_end": "maintenance stopped after maintenance_years; detail = therapy",
    "renal_flare": "renal flare after a response; detail = 'n:severe' or 'n:moderate' (n = flare number)",
    "adverse_event": "adverse event of a course; detail = 'therapy:kind' or 'therapy:kind:severe' (a severe "
                     "event stops the course)",
    "esrd": "end-stage renal disease: starts dialysis; detail = ''",
    "transplant": "kidney transplant; detail = ''",
    "graft_failure": "transplant failed, back to dialysis; detail = ''",
    "queue": "waiting for a service with limited capacity; detail = 'service:therapy'",
    "death": "death; detail = health state at death",
    "end_of_followup": "alive at the horizon; detail = health state",
}


# what Figure 2 ends in
RESPONDING, REFRACTORY, NO_ESCALATION = "responding", "refractory", "no_escalation"


class Died(Exception):
    """The patient died (ends every phase)."""


class ReachedESRD(Exception):
    """The patient reached end-stage renal disease (ends the nephritis pathway)."""


class EndOfHorizon(Exception):
    """The simulation horizon was reached."""


class Patient:
    """One virtual patient's attributes, clocks and course of events (light object)."""

    __slots__ = (
        "pid", "row", "isn_class", "ancestry", "nonadherent", "first_agent", "chronicity", "lookalike",
        "esrd_k", "workup_finding", "failed_induction", "n_stopped", "stop_kind",
        "d_bps", "d_cum", "d_rates", "e_bps", "e_cum", "e_rates",
        "e_death", "e_esrd", "tx_left", "graft_left", "flare_left",
        "state", "therapy", "seg_start", "used_death", "used_esrd", "hd_since", "he_since",
        "pending_response", "pending_cr", "pending_ae", "course_therapy", "courses",
        "flare_hr", "flare_hr_years", "flare_hr_until", "flare_hr_severe_only", "severe_p", "n_flares", "responding", "refractory", "refractory_initial",
        "highest_step", "cr_time", "response_time", "esrd_time", "death_time", "tx_time", "end_time",
        "t0", "inputs",
    )

    def __init__(self, pid: int, row: int):
        self.pid, self.row = pid, row
        self.t0 = 0.0          # when the patient starts induction on the simulation clock (open populations)
        self.state, self.therapy, self.seg_start = ACTIVE, "", 0.0
        self.used_death = self.used_esrd = self.hd_since = self.he_since = 0.0
        self.pending_response = self.pending_cr = INF
        self.pending_ae: list[tuple[float, str]] = []
        self.course_therapy = ""
        self.courses: dict[str, int] = {}
        self.flare_hr, self.flare_hr_years, self.flare_hr_until, self.n_flares = 1.0, 0.0, -1.0, 0
        self.flare_hr_severe_only, self.severe_p = False, 0.0
        self.responding: tuple[str, object] | None = None
        self.refractory = self.refractory_initial = False
        self.highest_step = -1
        self.cr_time = self.response_time = self.esrd_time = self.death_time = self.tx_time = math.nan
        self.end_time = math.nan
        self.esrd_k = 1.0              # ESRD hazard multiplier from adverse events (CNI nephrotoxicity, HUS)
        self.workup_finding = ""       # what the work-up of a non-response found ("" = not worked up)
        self.failed_induction = False  # failed both induction agents at least once
        self.n_stopped = 0             # courses stopped by a severe adverse event
        self.stop_kind = ""            # the kind of the last severe adverse event that stopped a course

    # -- hazard clocks -------------------------------------------------------------------------
    def death_time_from(self) -> float:
        s = self.state
        target = self.e_death - self.used_death + self.hd_since
        return time_reaching(self.d_bps, self.d_cum[s], self.d_rates[s], target)

    def esrd_time_from(self) -> float:
        s = self.state
        if s not in PRE_ESRD:
            return INF
        target = (self.e_esrd - self.used_esrd) / self.esrd_k + self.he_since
        return time_reaching(self.e_bps, self.e_cum[s], self.e_rates[s], target)

    def restart_clocks(self, now: float) -> None:
        """The hazard accumulated at ``now`` in the current state: the reference of the clocks from now
        on (after the state or the ESRD multiplier changed)."""
        s = self.state
        self.hd_since = cumulative(self.d_bps, self.d_cum[s], self.d_rates[s], now)
        if s in PRE_ESRD:
            self.he_since = cumulative(self.e_bps, self.e_cum[s], self.e_rates[s], now)

    def consume(self, now: float) -> None:
        """Bank the hazard accumulated in the current state up to ``now``."""
        s = self.state
        self.used_death += cumulative(self.d_bps, self.d_cum[s], self.d_rates[s], now) - self.hd_since
        if s in PRE_ESRD:
            self.used_esrd += self.esrd_k * (cumulative(self.e_bps, self.e_cum[s], self.e_rates[s], now) - self.he_since)


class Pathway:
    """Runs the pathway of one strategy for the patients of one block in one SimPy environment."""

    def __init__(self, model, strategy, horizon_years: float, services=None, env=None):
        self.env = env if env is not None else simpy.Environment()
        self.services = services
        self.strategy = strategy
        self.therapies = model.therapies
        self.params = model.params
        self.horizon = float(horizon_years)
        self.events: list[tuple] = []
        self.segments: list[tuple] = []
        p = model.params
        self.lead = p["improvement_lead_months"] / YEAR
        self.onset = p["response_onset_months"] / YEAR
        self.max_cr = p["max_time_to_cr_years"]
        self.late_cr = p["late_cr_given_partial"]
        self.late_resp = p["late_response_given_none"]
        self.late_window = p["late_response_window_months"] / YEAR
        self.flare_rate = p["flare_rate_remission"]
        self.flare_hr_partial = p["flare_hr_partial"]
        self.severe_share = p["flare_severe_share"]
        self.maintenance_years = p["maintenance_years"]
        self.tx_rate = p["transplant_rate_on_dialysis"]
        self.graft_rate = p["graft_failure_rate"]
        self.ae_severe = p.by_prefix("adverse_event_severe_share_")
        self.ae_esrd_hr = p.by_prefix("adverse_event_esrd_hr_")

    # ==========================================================================================
    # One life
    # ==========================================================================================
    def life(self, p: Patient):
        """From the start of induction to death or the end of the horizon."""
        env = self.env
        try:
            try:
                outcome = yield env.process(self.figure2_induction(p, p.first_agent, initial=True))
                if outcome == REFRACTORY:
                    yield env.process(self.figure3_ladder(p, 0))
                yield env.process(self.follow_up(p))
            except ReachedESRD:
                yield env.process(self.renal_replacement(p))
        except (Died, EndOfHorizon):
            pass

    # ==========================================================================================
    # Figure 2: induction, assessment, switch, refractory
    # ==========================================================================================
    def figure2_induction(self, p: Patient, agent: str, initial: bool):
        """Induction with ``agent``; on no response switch CYC <-> MMF; no response again: work the
        non-response up (if the strategy does), then class refractory. Returns RESPONDING,
        REFRACTORY (climb the ladder) or NO_ESCALATION (chronic damage: supportive care)."""
        s = self.strategy
        if (yield from self.induction_course(p, agent, second_line=False)):
            p.responding = ("induction", agent)
            return RESPONDING
        partner = s.switch[agent]
        self.record(p, "switch", f"{agent}->{partner}")
        if (yield from self.induction_course(p, partner, second_line=True)):
            p.responding = ("induction", partner)
            return RESPONDING
        p.failed_induction = True
        first_time = p.workup_finding == ""
        finding = self.refractory_workup(p) if s.workup.active else "none"
        if finding == "chronic_damage":             # no potential for remission: do not escalate
            if first_time:
                self.record(p, "reclassified", finding)
            return NO_ESCALATION
        if finding != "none" and first_time:          # a look-alike: its own management (once)
            self.record(p, "reclassified", finding)
            if (yield self.env.process(self.lookalike_management(p, finding))):
                return RESPONDING
        p.refractory = True
        p.refractory_initial = p.refractory_initial or initial
        self.record(p, "refractory", "")
        return REFRACTORY

    def refractory_workup(self, p: Patient) -> str:
        """Look for what else a non-response can be (A71; ref 42): non-invasive screening for
        thrombotic microangiopathy and antiphospholipid nephropathy, then a repeat biopsy, which also
        shows membranous transformation and chronic damage. Done once; the finding is kept."""
        if p.workup_finding:
            return p.workup_finding
        w, prm = self.strategy.workup, self.params
        u = p.inputs.workup_uniforms(p.row)
        finding = "none"
        if w.screen_lookalikes:
            if p.lookalike in ("tma", "aps_nephropathy") and u[2] < prm["labs_detect_lookalike"]:
                finding = p.lookalike
            self.record(p, "lookalike_screen", finding)
        if w.repeat_biopsy and finding == "none":
            if p.lookalike != "none" and u[1] < prm["biopsy_detects_lookalike"]:
                finding = p.lookalike
            elif p.chronicity == "high" and u[0] < prm["biopsy_detects_chronic_damage"]:
                finding = "chronic_damage"
            self.record(p, "repeat_biopsy", "active_nephritis" if finding == "none" else finding)
        p.workup_finding = finding
        return finding

    def lookalike_management(self, p: Patient, condition: str):
        """The look-alike's own management (e.g. plasma exchange for thrombotic microangiopathy,
        anticoagulation with extracorporeal therapy for antiphospholipid nephropathy, A59)."""
        name = self.strategy.workup.management[condition]
        why = yield from self.course_until_assessment(p, name, self.therapies[name].assessment_months)
        if self.judge(p, name, why):
            p.responding = ("management", condition)
            return True
        return False

    def induction_course(self, p: Patient, agent: str, second_line: bool):
        """One induction course judged as in Figure 2: first assessment, then (if improving) reassessment."""
        s = self.strategy
        start = yield from self.begin_course(p, agent, second_line)
        first = start + s.first_assessment_months / YEAR
        why = yield from self.wait(p, first, course=True)
        if why == "until" and p.state not in REMISSION and p.pending_response <= first + self.lead:
            self.record(p, "assessment", f"{agent}:improving")
            why = yield from self.wait(p, start + s.reassessment_months / YEAR, course=True)
        return self.judge(p, agent, why)

    def judge(self, p: Patient, name: str, why: str) -> bool:
        """The assessment of a course: responding, or not (the course stops). A course a severe
        adverse event stopped is judged then: a patient already in remission goes on to maintenance."""
        if p.state in REMISSION:
            self.record(p, "assessment", f"{name}:{'stopped' if why == 'stopped' else 'responding'}")
            return True
        self.record(p, "assessment", f"{name}:{'stopped' if why == 'stopped' else 'no_response'}")
        self.stop_course(p)
        return False

    # ==========================================================================================
    # Figure 3: the refractory ladder
    # ==========================================================================================
    def figure3_ladder(self, p: Patient, first_step: int):
        """Climb the ladder from ``first_step``; each step is judged at its own assessment time. A step
        a severe infection stopped may be followed by extracorporeal therapy instead of going on to
        intensify at once (strategy ``after_severe_infection``; A59), once per climb, and not after the
        extracorporeal therapy itself."""
        s = self.strategy
        ladder = s.ladder
        rescue = s.after_severe_infection
        rescued = False
        for i in range(first_step, len(ladder)):
            step = ladder[i]
            if rescued and step == rescue:            # already given in this climb, after the infection
                continue
            p.highest_step = max(p.highest_step, i)
            why = yield from self.course_until_assessment(p, step, self.ladder_months(step))
            if self.judge(p, step, why):
                p.responding = ("ladder", i)
                return True
            if why == "stopped" and p.stop_kind == "serious_infection" and rescue and not rescued and step != rescue:
                rescued = True
                if self.judge(p, rescue, (yield from self.course_until_assessment(p, rescue, self.ladder_months(rescue)))):
                    p.responding = ("ladder", i)      # a later flare is re-treated at this step
                    return True
        self.record(p, "ladder_exhausted", ladder[-1] if ladder else "")
        return False

    def course_until_assessment(self, p: Patient, name: str, months: float):
        """A course until its assessment, ``months`` after its start, or until a severe adverse event
        stops it; returns why the wait ended."""
        start = yield from self.begin_course(p, name)
        return (yield from self.wait(p, start + months / YEAR, course=True))

    def ladder_months(self, step: str) -> float:
        """When a ladder therapy is judged: the strategy's time for it, else the therapy's own."""
        return self.strategy.ladder_assessment_months.get(step, self.therapies[step].assessment_months)

    # ==========================================================================================
    # After the response: maintenance, flares and re-entry; or active disease with no options
    # ==========================================================================================
    def follow_up(self, p: Patient):
        while True:
            if p.state not in REMISSION:
                self.set_therapy(p, "supportive_care")
                yield from self.wait(p, INF)       # active disease until ESRD, death or the horizon
            yield from self.maintenance(p)        # returns at a renal flare
            yield self.env.process(self.reenter_after_flare(p))

    def maintenance(self, p: Patient):
        s = self.strategy
        self.set_therapy(p, s.maintenance)
        self.record(p, "maintenance_start", s.maintenance)
        if p.flare_hr_years > 0:                 # e.g. belimumab after rituximab, for 52 weeks (A37, A41)
            p.flare_hr_until = self.clock(p) + p.flare_hr_years
        why = yield from self.wait(p, self.clock(p) + self.maintenance_years, flares=True)
        if why == "until":
            self.record(p, "maintenance_end", s.maintenance)
            self.set_therapy(p, "")
            why = yield from self.wait(p, INF, flares=True)
        # a renal flare: nephritis is active again
        severity = "severe" if p.inputs.flare_severity_uniform(p.row, p.n_flares) < p.severe_p else "moderate"
        p.n_flares += 1
        self.record(p, "renal_flare", f"{p.n_flares}:{severity}")
        p.pending_cr = INF
        self.set_state(p, ACTIVE)
        p.flare_left = self.flare_threshold(p, p.n_flares)

    def reenter_after_flare(self, p: Patient):
        """Re-treat a flare at the step the strategy sets (default: the step that worked)."""
        s = self.strategy
        rule = s.flare_reentry
        kind, where = p.responding if p.responding else ("induction", p.first_agent)
        if kind == "management":                     # a look-alike flares: its own management again
            if (yield self.env.process(self.lookalike_management(p, where))):
                return
            p.refractory = True                      # managed, still not responding: refractory now
            self.record(p, "refractory", "")
            rule = "ladder"
        if rule == "same_step" and kind == "induction":
            rule = "induction_agent"
        if rule in ("induction", "induction_agent"):
            agent = where if rule == "induction_agent" else p.first_agent
            outcome = yield self.env.process(self.figure2_induction(p, agent, initial=False))
            if outcome != REFRACTORY:
                return
            step = 0
        elif rule == "same_step":
            step = where
        elif rule == "ladder":
            step = 0
        else:
            step = s.ladder.index(rule)
        yield self.env.process(self.figure3_ladder(p, step))

    # ==========================================================================================
    # End-stage renal disease: dialysis, transplant, graft failure
    # ==========================================================================================
    def renal_replacement(self, p: Patient):
        yield from self.wait(p, INF)               # transplant and graft failure happen inside wait

    # ==========================================================================================
    # Courses of therapy
    # ==========================================================================================
    def begin_course(self, p: Patient, name: str, second_line: bool = False):
        """Queue for a limited service if the course needs one, then start it; returns its start."""
        if self.services is not None:
            need = self.services.needs(self.therapies[name])
            if need is not None:
                yield from self.queue(p, name, *need)
        return self.start_course(p, name, second_line)

    def queue(self, p: Patient, name: str, service: str, hold: float):
        """Wait for a service (nephritis stays active; death, ESRD and the horizon still compete)."""
        env, services = self.env, self.services
        request = services.resources[service].request()
        asked = env.now
        self.set_therapy(p, f"waiting:{name}")
        self.record(p, "queue", f"{service}:{name}")
        while not request.triggered:
            now = env.now - p.t0
            t_death, t_esrd = p.death_time_from(), p.esrd_time_from()
            t = min(t_death, t_esrd, self.horizon)
            yield request | env.timeout(t - now)
            if request.triggered:
                break
            request.cancel()                                  # leaves the queue
            services.logs[service].waits.append((p.pid, env.now - asked))
            if t == t_death:
                self.close(p, env.now - p.t0, "death")
                raise Died
            if t == t_esrd:
                self.reach_esrd(p, env.now - p.t0)
                raise ReachedESRD
            self.close(p, self.horizon, "end_of_followup")
            raise EndOfHorizon
        services.logs[service].waits.append((p.pid, env.now - asked))
        env.process(services.release_later(service, request, hold))
        if service == "msc_manufacturing":                    # the cells are made before the infusion
            yield from self.wait(p, self.clock(p) + hold)

    def start_course(self, p: Patient, name: str, second_line: bool = False) -> float:
        """Start a course: decide its (pre-drawn) response times and adverse events."""
        now = self.clock(p)
        th = self.therapies[name]
        stream = th.response_stream
        k = p.courses.get(stream, 0)
        p.courses[stream] = k + 1
        u = p.inputs.course_uniforms(stream, k, p.row)
        p_resp = p.inputs.response_probability(p.row, th, second_line)
        p_cr = p_resp * th.cr_share
        t_ref = th.assessment_months / YEAR
        onset = min(self.onset, t_ref)
        t_resp = t_cr = INF
        if u[0] < p_cr:                                   # complete response by the evidence time point
            t_resp = onset + (t_ref - onset) * u[1]
            t_cr = t_resp + (t_ref - t_resp) * u[2]
        elif u[0] < p_resp:                               # partial response by then; CR may follow (A18)
            t_resp = onset + (t_ref - onset) * u[1]
            if u[3] < self.late_cr and t_ref < self.max_cr:
                t_cr = t_ref + (self.max_cr - t_ref) * u[4]
        elif u[3] < self.late_resp:                       # late partial response (A15, A20)
            t_resp = t_ref + self.late_window * u[1]
            if u[2] < self.late_cr and t_resp < self.max_cr:
                t_cr = t_resp + (self.max_cr - t_resp) * u[4]
        p.pending_response = now + t_resp
        p.pending_cr = now + t_cr
        p.course_therapy = name
        ae = []
        duration = th.duration_months / YEAR
        for kind, prob in th.adverse_events.items():
            a = p.inputs.adverse_event_uniforms(stream, kind, k, p.row)
            if a[0] < prob.value:      # severe (stops the course) with probability severe_share
                severe = a[0] < prob.value * self.ae_severe.get(kind, 0.0)
                ae.append((now + duration * a[1], kind, severe))
        ae.sort()
        p.pending_ae = ae
        p.flare_hr, p.flare_hr_years, p.flare_hr_until = 1.0, 0.0, -1.0
        if th.flare_hr is not None:              # takes effect when remission starts (maintenance)
            p.flare_hr = th.flare_hr.value
            p.flare_hr_years = th.flare_hr_years or 0.0
            p.flare_hr_severe_only = th.flare_hr_applies_to == "severe"
        self.set_therapy(p, name)
        self.record(p, "therapy_start", name)
        return now

    def stop_course(self, p: Patient) -> None:
        """A course that did not work is stopped: its future response and adverse events are void."""
        p.pending_response = p.pending_cr = INF
        p.pending_ae = []
        p.flare_hr, p.flare_hr_years, p.flare_hr_until = 1.0, 0.0, -1.0

    # ==========================================================================================
    # Time passing, with competing events
    # ==========================================================================================
    def wait(self, p: Patient, until: float, flares: bool = False, course: bool = False):
        """Let time pass until ``until``; biology (response, CR, adverse events, transplant) happens
        on the way; death, ESRD and the horizon end the phase by exception. Returns "until",
        "flare" (only when ``flares``) or "stopped" (only when ``course``: a severe adverse event
        ended the course being judged)."""
        env = self.env
        t0 = p.t0
        reached = -INF
        while True:
            now = env.now - t0
            if t0 != 0.0 and now < reached:   # open populations: relative time must not fall back by rounding
                now = reached
            state = p.state
            t_death = p.death_time_from()
            t_esrd = p.esrd_time_from()
            t_resp = p.pending_response if state == ACTIVE else INF
            t_cr = p.pending_cr if state == PARTIAL else INF
            t_ae = p.pending_ae[0][0] if p.pending_ae else INF
            t_flare = t_hr = t_rrt = INF
            rate = 0.0
            if flares and state in REMISSION:
                rate = self.flare_rate * (self.flare_hr_partial if state == PARTIAL else 1.0)
                severe, moderate = self.severe_share, 1.0 - self.severe_share
                if p.flare_hr_until > now:
                    t_hr = p.flare_hr_until
                    if p.flare_hr_severe_only:
                        severe *= p.flare_hr
                    else:
                        severe, moderate = severe * p.flare_hr, moderate * p.flare_hr
                rate *= severe + moderate
                p.severe_p = severe / (severe + moderate) if severe + moderate > 0 else 0.0
                if rate > 0.0:
                    t_flare = now + p.flare_left / rate
            elif state == DIALYSIS and p.tx_left < INF and self.tx_rate > 0:
                rate = self.tx_rate
                t_rrt = now + p.tx_left / rate
            elif state == TRANSPLANT and self.graft_rate > 0:
                rate = self.graft_rate
                t_rrt = now + p.graft_left / rate
            t = min(until, self.horizon, t_death, t_esrd, t_resp, t_cr, t_ae, t_flare, t_hr, t_rrt)
            reached = t
            if t > now:
                yield env.timeout(t - now)
            spent = rate * (t - now)
            if flares and state in REMISSION:
                p.flare_left -= spent
            elif state == DIALYSIS and t_rrt < INF:
                p.tx_left -= spent
            elif state == TRANSPLANT and t_rrt < INF:
                p.graft_left -= spent
            if t == t_death:
                self.close(p, env.now - t0, "death")
                raise Died
            if t == t_esrd:
                self.reach_esrd(p, env.now - t0)
                raise ReachedESRD
            if t >= self.horizon:
                self.close(p, self.horizon, "end_of_followup")
                raise EndOfHorizon
            if t == t_resp:
                self.respond(p, env.now - t0)
            elif t == t_cr:
                self.complete(p, env.now - t0)
            elif t == t_ae:
                _, kind, severe = p.pending_ae.pop(0)
                self.record(p, "adverse_event", f"{p.course_therapy}:{kind}" + (":severe" if severe else ""))
                hr = self.ae_esrd_hr.get(kind, 1.0)
                if hr != 1.0:                       # e.g. chronic CNI nephrotoxicity (A55)
                    self.rebase(p, env.now - t0)
                    p.esrd_k *= hr
                if severe and course:
                    self.stop_course(p)
                    p.n_stopped += 1
                    p.stop_kind = kind
                    return "stopped"
            elif t == t_flare:
                return "flare"
            elif t == t_rrt:
                self.renal_transition(p, env.now - t0)
            if t >= until:
                return "until"

    # -- what happens on the way -----------------------------------------------------------------
    def respond(self, p: Patient, t: float) -> None:
        p.pending_response = INF
        self.set_state(p, PARTIAL)
        self.record(p, "partial_response", p.course_therapy)
        if p.response_time != p.response_time:   # NaN: first response
            p.response_time = t
        if p.pending_cr <= t:
            self.complete(p, t)

    def complete(self, p: Patient, t: float) -> None:
        p.pending_cr = INF
        self.set_state(p, COMPLETE)
        self.record(p, "complete_response", p.course_therapy)
        if p.cr_time != p.cr_time:
            p.cr_time = t

    def reach_esrd(self, p: Patient, t: float) -> None:
        self.record(p, "esrd", "")
        p.esrd_time = t
        p.pending_response = p.pending_cr = INF
        p.pending_ae = []
        self.set_therapy(p, "")
        self.set_state(p, DIALYSIS)

    def renal_transition(self, p: Patient, t: float) -> None:
        if p.state == DIALYSIS:
            self.record(p, "transplant", "")
            p.tx_time = t
            p.tx_left = INF                      # one transplant per patient (assumption)
            self.set_state(p, TRANSPLANT)
        else:
            self.record(p, "graft_failure", "")
            self.set_state(p, DIALYSIS)

    # -- bookkeeping -------------------------------------------------------------------------------
    def clock(self, p: Patient) -> float:
        """Years since the patient started induction."""
        return self.env.now - p.t0

    def flare_threshold(self, p: Patient, k: int) -> float:
        return p.inputs.flare_threshold(p.row, k)

    def record(self, p: Patient, event: str, detail: str) -> None:
        self.events.append((p.pid, self.env.now - p.t0, event, detail))

    def rebase(self, p: Patient, now: float) -> None:
        """Bank the hazards used so far and restart the clocks' reference at ``now`` (before a
        change of the ESRD hazard multiplier)."""
        p.consume(now)
        p.restart_clocks(now)

    def set_state(self, p: Patient, state: str) -> None:
        now = self.env.now - p.t0
        if state == p.state:
            return
        p.consume(now)
        self._segment(p, now)
        p.state = state
        p.restart_clocks(now)

    def set_therapy(self, p: Patient, therapy: str) -> None:
        if therapy != p.therapy:
            self._segment(p, self.env.now - p.t0)
            p.therapy = therapy

    def _segment(self, p: Patient, now: float) -> None:
        if now > p.seg_start:
            self.segments.append((p.pid, p.state, p.therapy, p.seg_start, now))
        p.seg_start = now

    def close(self, p: Patient, t: float, how: str) -> None:
        self._segment(p, t)
        p.end_time = t
        if how == "death":
            p.death_time = t
        self.events.append((p.pid, t, how, p.state))
