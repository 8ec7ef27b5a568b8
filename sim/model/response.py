"""The probability that a course of a therapy brings a patient to response, and its modifiers.

P(partial or complete response by the therapy's evidence time point) starts from the therapy's
published figure for the patient's ISN class and moves on the log-odds scale with:

* ancestry, non-adherence and chronic damage (odds ratios, assumptions in magnitude; A29, A49, A72);
* centring of the chronic-damage and look-alike effects on the case mix of the therapy's evidence
  population (first-line trials or refractory series), so that a population like that one keeps,
  approximately, the evidence's pooled response (:func:`centring`);
* a look-alike the therapy does not treat (OR ``lookalike_response_or``);
* class preference of B-cell and calcineurin-inhibitor therapies (``class_response_or_*``);
* transfer of Asian evidence to other ancestries (``asian_evidence_transfer_or``);
* the second induction agent (``second_induction_response_or``, calibrated to A12).

:func:`response_table` computes it for every combination of therapy, class, ancestry, adherence,
chronicity band, look-alike and line once per model; the core reads the table.
"""
from __future__ import annotations

import math

import numpy as np

from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.inputs.therapies import ISN_CLASSES


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def chronicity_log_or(p) -> dict[str, float]:
    """Log odds ratio of response by chronicity band (vs low chronicity)."""
    return {"low": 0.0, "moderate": math.log(p["chronicity_response_or_moderate"]),
            "high": math.log(p["chronicity_response_or_high"])}


def centring(p, therapy) -> float:
    """What centres the chronic-damage and look-alike log odds ratios on the case mix of the
    therapy's evidence population (first-line trials or refractory series), so that a population
    like that one keeps, approximately, the evidence's pooled response (an assumption; the mixes are
    the trial_* and refractory_* parameters)."""
    pop = "trial" if therapy.evidence_population == "first_line" else "refractory"
    chron = chronicity_log_or(p)
    shift = -(p[f"{pop}_chronicity_share_moderate"] * chron["moderate"]
              + p[f"{pop}_chronicity_share_high"] * chron["high"])
    if not therapy.targets:                        # the look-alikes' own management: no look-alike effect
        shift -= p[f"{pop}_lookalike_share"] * math.log(p["lookalike_response_or"])
    return shift


def lookalike_penalised(therapy, lookalike: str) -> bool:
    """Does a patient with this look-alike respond less to this therapy (it does not treat it)?"""
    return lookalike != "none" and lookalike not in therapy.treats


def response_table(p, therapies: list) -> np.ndarray:
    """P(response) indexed ``[therapy, class, ancestry, nonadherent, chronicity, look-alike, second line]``
    (the orders of ``therapies``, :data:`ISN_CLASSES`, :data:`ANCESTRIES`, (no, yes),
    :data:`CHRONICITY`, :data:`LOOKALIKES`, (first, second line))."""
    resp = np.zeros((len(therapies), len(ISN_CLASSES), len(ANCESTRIES), 2, len(CHRONICITY), len(LOOKALIKES), 2))
    log_chron = chronicity_log_or(p)
    log_anc = {a: math.log(p[f"ancestry_response_or_{a}"]) for a in ANCESTRIES}
    log_nonadh = math.log(p["nonadherent_response_or"])
    log_asian = math.log(p["asian_evidence_transfer_or"])
    log_second = math.log(p["second_induction_response_or"])
    log_look = math.log(p["lookalike_response_or"])
    # the patient's log odds: (ancestry + adherence) + chronicity
    lo_patient = ((np.array([log_anc[a] for a in ANCESTRIES])[:, None, None]
                   + np.array([0.0, log_nonadh])[None, :, None])
                  + np.array([log_chron[b] for b in CHRONICITY])[None, None, :])
    non_asian = np.array([a != "asian" for a in ANCESTRIES])
    for i, th in enumerate(therapies):
        grp = th.class_or_group if th.class_or_group in ("b_cell", "cni") else None
        base = np.array([th.response_probability(cls) for cls in ISN_CLASSES])
        valid = (base > 0.0) & (base < 1.0)
        lo_base = np.array([logit(b) if v else 0.0 for b, v in zip(base, valid)])
        lo = (lo_base[:, None, None, None] + lo_patient[None]) + centring(p, th)   # class, anc, adh, chron
        # look-alike (none, tma, aps_nephropathy, membranous): less response where it is not treated
        lo = np.stack([lo + log_look if lookalike_penalised(th, la) else lo for la in LOOKALIKES], axis=-1)
        if grp is not None:
            cls_lo = np.array([math.log(p[f"class_response_or_{grp}_{c}"]) if v else 0.0
                               for c, v in zip(ISN_CLASSES, valid)])
            lo = lo + cls_lo[:, None, None, None, None]
        if th.asian_evidence:
            lo[:, non_asian] += log_asian
        first = np.array([1.0 / (1.0 + math.exp(-x)) for x in lo.ravel().tolist()]).reshape(lo.shape)
        if "induction" in th.roles:          # second line: only induction agents are given second
            second = np.array([1.0 / (1.0 + math.exp(-x)) for x in (lo + log_second).ravel().tolist()])
            second = second.reshape(lo.shape)
        else:
            second = first
        resp[i] = np.stack([first, second], axis=-1)
        resp[i, ~valid] = base[~valid][:, None, None, None, None, None]     # 0 or 1: no modifiers
    return resp
