"""The event vocabulary of ``events.parquet``, the core's event codes, and their decoding.

The core writes events as small integers (:data:`CODES`); :func:`decode_events` turns them into the
``event`` and ``detail`` strings of the tables, once, after the simulation.
"""
from __future__ import annotations

import numpy as np

from sim.model import layout as L

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

CODES = tuple(EVENTS)
(THERAPY_START, ASSESSMENT, PARTIAL_RESPONSE, COMPLETE_RESPONSE, SWITCH, LOOKALIKE_SCREEN, REPEAT_BIOPSY,
 RECLASSIFIED, REFRACTORY, LADDER_EXHAUSTED, MAINTENANCE_START, MAINTENANCE_END, RENAL_FLARE, ADVERSE_EVENT,
 ESRD, TRANSPLANT, GRAFT_FAILURE, QUEUE, DEATH, END_OF_FOLLOWUP) = range(len(CODES))
#: Internal record (not in the events table): the therapy given changed other than by a course's start
#: (to none, supportive care, waiting; a = the new therapy code); costing per trajectory closes a
#: course there (sim.economics.aggregate), as at a course's start.
THERAPY_CHANGE = len(CODES)


def therapy_label(code: int, therapies: list[str]) -> str:
    """The ``therapy`` column of a health-state segment."""
    if code >= 0:
        return therapies[code]
    if code == L.SUPPORTIVE_CARE:
        return "supportive_care"
    if code <= L.WAITING:
        return f"waiting:{therapies[L.WAITING - code]}"
    return ""


def detail(code: int, a: int, b: int, c: int, therapies: list[str], kinds: list[str], services: list[str]) -> str:
    """The ``detail`` string of one event record."""
    if code in (THERAPY_START, PARTIAL_RESPONSE, COMPLETE_RESPONSE, MAINTENANCE_START, MAINTENANCE_END):
        return therapies[a]
    if code == ASSESSMENT:
        return f"{therapies[a]}:{L.VERDICTS[b]}"
    if code == SWITCH:
        return f"{therapies[a]}->{therapies[b]}"
    if code in (LOOKALIKE_SCREEN, RECLASSIFIED):
        return L.FINDINGS[a]
    if code == REPEAT_BIOPSY:
        return "active_nephritis" if a == L.FINDING_NONE else L.FINDINGS[a]
    if code == LADDER_EXHAUSTED:
        return therapies[a] if a >= 0 else ""
    if code == RENAL_FLARE:
        return f"{a}:{'severe' if b else 'moderate'}"
    if code == ADVERSE_EVENT:
        return f"{therapies[a]}:{kinds[b]}" + (":severe" if c else "")
    if code == QUEUE:
        return f"{services[a]}:{therapies[b]}"
    if code in (DEATH, END_OF_FOLLOWUP):
        return L.STATE_NAMES[a]
    return ""


def decode_events(ev_i: np.ndarray, therapies: list[str], kinds: list[str], services: list[str]):
    """Event names and details (object arrays) of the records ``ev_i`` (columns patient, code, a, b, c;
    no internal records)."""
    names = np.asarray(CODES, dtype=object)[ev_i[:, 1]]
    # one key per distinct (code, a, b, c); a may be -1 (no ladder), the others are small and >= 0
    key = ((ev_i[:, 1] * (1 << 20) + (ev_i[:, 2] + 1)) * (1 << 20) + ev_i[:, 3]) * 4 + ev_i[:, 4]
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rows = ev_i[first, 1:].tolist()
    text = np.array([detail(code, a, b, c, therapies, kinds, services) for code, a, b, c in rows], dtype=object)
    return names, text[inverse.reshape(-1)]
