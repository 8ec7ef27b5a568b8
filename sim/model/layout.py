"""What the clinical core reads and writes, declared as data (numpy record layouts and codes).

The core (:mod:`sim.model.pathway`) works on four kinds of records, declared here once:

* ``MODEL`` — one record per strategy: the model's parameters, the therapy records the strategy can
  reach, and the strategy itself (Figure 2 timing, the Figure 3 ladder, the work-up, re-entry);
  built from a :class:`sim.inputs.build.Model` by :func:`sim.model.build.compile_model`;
* ``PATIENT`` — one record per patient and strategy: who the patient is, the hazard-clock
  thresholds, and the trajectory so far (health state, the course being given, the phase of the
  pathway, what the patient is waiting for);
* the records the core writes: events ``(patient, code, a, b, c, time)`` and health-state segments
  ``(patient, state, therapy, start, stop)``, decoded into the tables' strings by
  :mod:`sim.model.events`;
* ``WORK`` — where the driver's arrays are (:mod:`sim.model.work`).

Sizes are fixed (``MAX_*``) so that one compiled core serves every scenario (numba compiles once
per record layout). Codes are small integers; their names are the tuples below.
"""
from __future__ import annotations

import numpy as np

from sim.inputs.cohort import CHRONICITY, LOOKALIKES
from sim.inputs.therapies import ISN_CLASSES

INF = float("inf")
FAR = 1e6                      # years: last breakpoint of a hazard table, beyond any horizon

MAX_THERAPIES = 48             # therapies one strategy can reach
MAX_LADDER = 16                # steps of a ladder
MAX_AE = 8                     # adverse-event kinds of one therapy
MAX_KINDS = 32                 # adverse-event kinds of a model
MAX_STREAMS = 48               # response streams of a model (variants of one drug share one)
MAX_INDUCTION = 8              # induction agents of a strategy's mix
MAX_BPS = 104                  # breakpoints of a death table: ceil(horizon <= 100 years) + 3
MAX_AGES = 128                 # rows of a life table (single years of age from 0)

# health states, in the order of sim.model.hazards.HEALTH_STATES
ACTIVE, PARTIAL, COMPLETE, DIALYSIS, TRANSPLANT = range(5)
STATE_NAMES = ("active_nephritis", "partial_response", "complete_response", "dialysis", "transplant")
# the therapy label of a health-state segment: >= 0 a therapy of the model, or one of these
NO_THERAPY, SUPPORTIVE_CARE, WAITING = -1, -2, -1000     # WAITING - th: queueing for therapy th

# what a course is given as (the context of its assessment)
INDUCTION, MANAGEMENT, LADDER, RESCUE = range(4)
# kinds of response (what a flare re-enters from)
RESP_NONE, RESP_INDUCTION, RESP_LADDER, RESP_MANAGEMENT = -1, 0, 1, 2
# work-up findings: NOT_WORKED_UP, then the look-alikes in the order of sim.inputs.cohort.LOOKALIKES, then chronic damage
NOT_WORKED_UP = -1
FINDINGS = (*LOOKALIKES, "chronic_damage")
FINDING_NONE, FINDING_CHRONIC = 0, len(LOOKALIKES)
FINDINGS_TMA, FINDINGS_APS = LOOKALIKES.index("tma"), LOOKALIKES.index("aps_nephropathy")   # labs see these
CHRONICITY_HIGH = CHRONICITY.index("high")
# flare re-entry rules (a ladder step's index is RULE_STEP with reentry_step)
RULE_SAME_STEP, RULE_INDUCTION, RULE_LADDER, RULE_STEP = range(4)
REENTRY_CODES = {"same_step": RULE_SAME_STEP, "induction": RULE_INDUCTION, "ladder": RULE_LADDER}
# verdicts of an assessment
RESPONDING, IMPROVING, NO_RESPONSE, STOPPED = range(4)
VERDICTS = ("responding", "improving", "no_response", "stopped")
# how a wait ended: its time came (UNTIL), a renal flare, a severe adverse event stopped the course;
# or it goes on (biology that needs no decision), or the follow-up ended or left the pathway
UNTIL, FLARE, STOPPED_BY_AE, GOES_ON, DIED, REACHED_ESRD, HORIZON = range(7)

f8, i8 = np.float64, np.int64

MODEL = np.dtype([
    # -- parameters ------------------------------------------------------------------------------
    ("horizon", f8), ("improvement_lead", f8), ("max_time_to_cr", f8), ("late_cr_given_partial", f8),
    ("late_response_given_none", f8), ("late_response_window", f8), ("flare_rate", f8),
    ("flare_hr_partial", f8), ("flare_severe_share", f8), ("maintenance_years", f8),
    ("transplant_rate", f8), ("graft_failure_rate", f8), ("labs_detect_lookalike", f8),
    ("biopsy_detects_lookalike", f8), ("biopsy_detects_chronic_damage", f8),
    ("kind_esrd_hr", f8, MAX_KINDS), ("n_streams", i8), ("n_bps", i8), ("capacity", i8),
    # the hazard clocks' inputs (sim.model.hazards): death (the life table, female and male; the hazard
    # by state) and ESRD (rate by pre-ESRD state, hazard ratio by ISN class and by chronicity band, first year)
    ("life", f8, (2, MAX_AGES)), ("n_life", i8), ("d_spec", f8, (5, 3)), ("d_slot", i8, 5),
    ("e_rate", f8, 3), ("e_class_hr", f8, len(ISN_CLASSES)), ("e_band_hr", f8, len(CHRONICITY)), ("e_hr1", f8),
    # -- therapies (by index; names in the model's therapy list) ---------------------------------------
    ("th_t_ref", f8, MAX_THERAPIES),            # evidence time point, years
    ("th_onset", f8, MAX_THERAPIES),            # earliest response, years (min(onset, t_ref))
    ("th_cr_share", f8, MAX_THERAPIES),
    ("th_duration", f8, MAX_THERAPIES),         # course length, years (adverse events happen within it)
    ("th_assessment", f8, MAX_THERAPIES),       # the therapy's own assessment time, years
    ("th_flare_hr", f8, MAX_THERAPIES), ("th_flare_hr_years", f8, MAX_THERAPIES),
    ("th_has_flare_hr", i8, MAX_THERAPIES), ("th_flare_hr_severe_only", i8, MAX_THERAPIES),
    ("th_stream", i8, MAX_THERAPIES), ("th_n_ae", i8, MAX_THERAPIES),
    ("th_ae_kind", i8, (MAX_THERAPIES, MAX_AE)),       # kind index (kinds sorted by name)
    ("th_ae_draws", i8, (MAX_THERAPIES, MAX_AE)),      # its random numbers: the (stream, kind) pair
    ("th_ae_p", f8, (MAX_THERAPIES, MAX_AE)),           # P(event) per course
    ("th_ae_p_severe", f8, (MAX_THERAPIES, MAX_AE)),    # P(severe event) = p x severe share
    # -- the strategy -----------------------------------------------------------------------------------
    ("first_assessment", f8), ("reassessment", f8),      # years after the course starts
    ("switch", i8, MAX_THERAPIES),                       # induction partner (-1 none)
    ("n_induction", i8), ("induction_agent", i8, MAX_INDUCTION), ("induction_share", f8, MAX_INDUCTION),
    ("screen_lookalikes", i8), ("repeat_biopsy", i8), ("management", i8, len(LOOKALIKES)),
    ("n_ladder", i8), ("ladder", i8, MAX_LADDER), ("ladder_assessment", f8, MAX_LADDER),
    ("rescue", i8), ("rescue_assessment", f8), ("infection_kind", i8),
    ("maintenance", i8), ("reentry_rule", i8), ("reentry_step", i8),
    # -- for the batch driver: stop when the patient first reaches the ladder (AT_LADDER) ----------
    ("stop_at_ladder", i8),
])
# the fields of a strategy that only the Figure 3 ladder reads (strategies equal in every other field
# live the same lives until a patient first reaches the ladder: the batch driver shares that part)
LADDER_FIELDS = ("n_ladder", "ladder", "ladder_assessment", "rescue", "rescue_assessment", "stop_at_ladder")

# The phases of the pathway: what a patient is doing (waiting for) now. The names follow Figures 2
# and 3 of the review; sim.model.phases holds the allowed transitions between them.
(START, FIRST_ASSESSMENT, REASSESSMENT, MANAGEMENT_ASSESSMENT, LADDER_ASSESSMENT, RESCUE_ASSESSMENT,
 MANUFACTURE, MAINTENANCE, OFF_TREATMENT, SUPPORTIVE, RENAL_REPLACEMENT, DONE) = range(12)
PHASE_NAMES = ("start", "first_assessment", "reassessment", "management_assessment", "ladder_assessment",
               "rescue_assessment", "manufacture", "maintenance", "off_treatment", "supportive_care",
               "renal_replacement", "done")

PATIENT = np.dtype([
    # -- who the patient is -------------------------------------------------------------------------
    ("pid", i8), ("row", i8), ("isn_class", i8), ("ancestry", i8), ("nonadherent", i8), ("chronicity", i8),
    ("lookalike", i8), ("age", f8), ("female", i8),
    ("e_death", f8), ("e_esrd", f8),                  # exponential thresholds of the hazard clocks
    # death tables: the breakpoints, and per table slot (MODEL d_slot: states whose hazards are equal
    # share one) the cumulative hazard and the rates, written when the patient first enters a state of
    # the slot (d_written: a bit per slot; 0 also says that none of the patient's tables is written yet,
    # sim.model.hazards.patient_tables, which always writes active nephritis's and sets its bit)
    ("d_bps", f8, MAX_BPS), ("d_cum", f8, (5, MAX_BPS)), ("d_rates", f8, (5, MAX_BPS)), ("d_written", i8),
    ("e_bps", f8, 3), ("e_cum", f8, (3, 3)), ("e_rates", f8, (3, 3)),                   # ESRD tables
    ("workup_u", f8, 3),                              # biopsy sees chronic damage, a look-alike; labs see one
    # -- the trajectory (from here to the end: reset for each strategy) --------------------------------
    ("first_agent", i8),
    ("t0", f8),                                       # when the patient starts induction (simulation time)
    ("now", f8),                                      # the simulation time the core has reached
    # -- health and therapy -------------------------------------------------------------------------
    ("state", i8), ("therapy", i8), ("seg_start", f8),
    ("used_death", f8), ("used_esrd", f8), ("hd_since", f8), ("he_since", f8), ("esrd_k", f8),
    ("clocks_known", i8), ("t_death", f8), ("t_esrd", f8),   # when the clocks ring, until they change
    ("d_at", i8),                                     # where the death table was last read (a search's start)
    ("tx_left", f8), ("graft_left", f8), ("flare_left", f8),
    ("pending_response", f8), ("pending_cr", f8), ("course_therapy", i8),
    ("n_ae", i8), ("ae_next", i8), ("ae_time", f8, MAX_AE), ("ae_kind", i8, MAX_AE), ("ae_severe", i8, MAX_AE),
    ("courses", i8, MAX_STREAMS),                     # courses started per response stream
    ("flare_hr", f8), ("flare_hr_years", f8), ("flare_hr_until", f8), ("flare_hr_severe_only", i8),
    ("severe_p", f8), ("n_flares", i8),
    # -- where the pathway has brought the patient ---------------------------------------------------------
    ("responding_kind", i8), ("responding_where", i8),
    ("refractory", i8), ("refractory_initial", i8), ("failed_induction", i8), ("workup_finding", i8),
    ("n_stopped", i8), ("stop_kind", i8), ("highest_step", i8),
    ("cr_time", f8), ("response_time", f8), ("esrd_time", f8), ("death_time", f8), ("tx_time", f8),
    ("end_time", f8),
    # -- the phase, and the course being given ----------------------------------------------------------
    ("phase", i8), ("agent", i8), ("second_line", i8), ("initial", i8),
    ("course_kind", i8), ("course_next", i8), ("course_assessment", f8), ("course_start", f8),
    ("ladder_index", i8), ("rescued", i8), ("condition", i8), ("at_ladder", i8),
    # -- the current wait ------------------------------------------------------------------------------
    ("w_until", f8), ("w_flares", i8), ("w_course", i8), ("w_reached", f8), ("w_now", f8), ("w_t", f8),
    ("w_death", f8), ("w_esrd", f8), ("w_resp", f8), ("w_cr", f8), ("w_ae", f8), ("w_flare", f8),
    ("w_rrt", f8), ("w_rate", f8), ("w_delay", f8),
])

# the fields a patient's record keeps from strategy to strategy: who the patient is, the clocks'
# thresholds and tables; the others are the trajectory, reset for each strategy
PATIENT_FIXED = ("pid", "row", "isn_class", "ancestry", "nonadherent", "chronicity", "lookalike", "age", "female",
                 "e_death", "e_esrd", "d_bps", "d_cum", "d_rates", "d_written", "e_bps", "e_cum", "e_rates",
                 "workup_u")
#: the trajectory is the record's tail, from this byte on; the record is a whole number of 8-byte words
#: and the tail starts on one, so a driver may copy it as one run of words from TRAJECTORY_WORD on
TRAJECTORY_OFFSET = PATIENT.fields["first_agent"][1]
assert all((PATIENT.fields[f][1] < TRAJECTORY_OFFSET) == (f in PATIENT_FIXED) for f in PATIENT.names)
assert TRAJECTORY_OFFSET % 8 == 0 and PATIENT.itemsize % 8 == 0
TRAJECTORY_WORD, PATIENT_WORDS = TRAJECTORY_OFFSET // 8, PATIENT.itemsize // 8

# Where the driver's arrays are (:mod:`sim.model.work`): the record buffers, the response table and
# the random numbers of the block, by address and shape. The core passes this one record from step to
# step instead of the arrays themselves, which would cost every call a dozen words and reference counts each.
WORK = np.dtype([
    ("events", i8), ("event_rows", i8), ("segments", i8), ("segment_rows", i8), ("counts", i8),
    ("response", i8), ("response_shape", i8, 7),
    ("flares", i8), ("flares_shape", i8, 3), ("drawn", i8),
    # the course and adverse-event streams, drawn by the core when a course starts: each chunk's
    # streams' start states (chunk after chunk) and the jump tables to a row's course within a chunk
    # (sim.model.work.course_numbers)
    ("course_starts", i8), ("n_course_starts", i8), ("course_stride", i8), ("ae_starts", i8),
    ("n_ae_starts", i8), ("ae_stride", i8), ("course_jumps", i8), ("ae_jumps", i8), ("n_jumps", i8),
])

#: courses of one therapy per patient in each chunk of a course stream (the core finds a course's
#: chunk and its place there: sim.model.work.course_numbers)
COURSE_CHUNK = 8

# what the core asks of its driver
WAIT, DONE_STATUS, NEED_DRAWS, ASK_SERVICE, RECORDS_FULL, AT_LADDER = range(6)
RECORDS_MARGIN = 64            # records one step of the core writes, at most

# records, one float64 row each, numbered in the order they were written (seq, shared by both kinds):
# events (patient, code, a, b, c, time, seq); segments (patient, state, therapy, start, stop, seq)
EV_PATIENT, EV_CODE, EV_A, EV_B, EV_C, EV_TIME, EV_SEQ = range(7)
SG_PATIENT, SG_STATE, SG_THERAPY, SG_START, SG_STOP, SG_SEQ = range(6)
EVENT_WIDTH, SEGMENT_WIDTH = 7, 6
# a driver that shares each life until the ladder between strategies marks where each patient reached
# it (sim.engine.batch_driver.run_block_shared): the record counters (events, segments) then, and
# whether the patient did (1) or never did (0)
MARK_EV, MARK_SG, MARK_AT = range(3)

