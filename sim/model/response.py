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
chronicity band, look-alike and line once per model (the sums and logistic compiled,
:func:`_fill_response`); the core reads the table.
"""
from __future__ import annotations

import math

import numpy as np

from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.inputs.therapies import ISN_CLASSES
from sim.model.jit import core


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def chronicity_log_or(p) -> dict[str, float]:
    """Log odds ratio of response by chronicity band (vs low chronicity)."""
    return {"low": 0.0, "moderate": math.log(p["chronicity_response_or_moderate"]),
            "high": math.log(p["chronicity_response_or_high"])}


def chronicity_mix(p, population: str) -> dict[str, float]:
    """The chronicity mix of an evidence population (``trial``: the first-line trials; ``refractory``:
    the refractory series): the share of each band of :data:`CHRONICITY` (parameters
    ``{population}_chronicity_share_*``; low chronicity is the rest)."""
    sm, sh = p[f"{population}_chronicity_share_moderate"], p[f"{population}_chronicity_share_high"]
    return {"low": 1.0 - sm - sh, "moderate": sm, "high": sh}


def centring(p, therapy) -> float:
    """What centres the chronic-damage and look-alike log odds ratios on the case mix of the
    therapy's evidence population (first-line trials or refractory series), so that a population
    like that one keeps, approximately, the evidence's pooled response (an assumption; the mixes are
    the trial_* and refractory_* parameters)."""
    pop = "trial" if therapy.evidence_population == "first_line" else "refractory"
    chron, mix = chronicity_log_or(p), chronicity_mix(p, pop)
    shift = -sum(mix[b] * chron[b] for b in CHRONICITY)
    if not therapy.targets:                        # the look-alikes' own management: no look-alike effect
        shift -= p[f"{pop}_lookalike_share"] * math.log(p["lookalike_response_or"])
    return shift


def lookalike_penalised(therapy, lookalike: str) -> bool:
    """Does a patient with this look-alike respond less to this therapy (it does not treat it)?"""
    return lookalike != "none" and lookalike not in therapy.treats


def response_table(p, therapies: list) -> np.ndarray:
    """P(response) indexed ``[therapy, class, ancestry, nonadherent, chronicity, look-alike, second line]``
    (the orders of ``therapies``, :data:`ISN_CLASSES`, :data:`ANCESTRIES`, (no, yes),
    :data:`CHRONICITY`, :data:`LOOKALIKES`, (first, second line)). A class whose published response is
    0 or 1 takes no modifiers; only induction agents are given second line."""
    n = len(therapies)
    resp = np.zeros((n, len(ISN_CLASSES), len(ANCESTRIES), 2, len(CHRONICITY), len(LOOKALIKES), 2))
    log_chron = chronicity_log_or(p)
    base = np.array([[th.response_probability(c) for c in ISN_CLASSES] for th in therapies]).reshape(resp.shape[:2])
    groups = [th.class_or_group if th.class_or_group in ("b_cell", "cni") else None for th in therapies]
    lo_base, cls_lo = np.zeros(base.shape), np.zeros(base.shape)
    for i, (grp, row) in enumerate(zip(groups, base.tolist())):
        for c, b in enumerate(row):
            if 0.0 < b < 1.0:
                lo_base[i, c] = logit(b)
                if grp is not None:
                    cls_lo[i, c] = math.log(p[f"class_response_or_{grp}_{ISN_CLASSES[c]}"])
    penalised = np.array([[lookalike_penalised(th, la) for la in LOOKALIKES] for th in therapies], dtype=np.bool_)
    _fill_response(resp, base, lo_base, np.array([centring(p, th) for th in therapies]),
                   penalised.reshape(n, len(LOOKALIKES)), np.array([g is not None for g in groups], dtype=np.bool_),
                   cls_lo, np.array([bool(th.asian_evidence) for th in therapies], dtype=np.bool_),
                   np.array(["induction" in th.roles for th in therapies], dtype=np.bool_),
                   np.array([math.log(p[f"ancestry_response_or_{a}"]) for a in ANCESTRIES]),
                   np.array([0.0, math.log(p["nonadherent_response_or"])]),
                   np.array([log_chron[b] for b in CHRONICITY]), math.log(p["lookalike_response_or"]),
                   math.log(p["asian_evidence_transfer_or"]), math.log(p["second_induction_response_or"]),
                   np.array([a != "asian" for a in ANCESTRIES], dtype=np.bool_))
    return resp


@core
def _fill_response(resp, base, lo_base, shift, penalised, has_cls, cls_lo, asian, induction, log_anc, log_adh,
                   log_chron, log_look, log_asian, log_second, non_asian):
    """The table of :func:`response_table` from its terms: per therapy and class the base log odds
    (``lo_base``, with ``base`` the published response), the centring ``shift``, the look-alikes it
    does not treat, the class preference (``has_cls``, ``cls_lo``), Asian evidence and whether it is an
    induction agent; per ancestry, adherence and chronicity band their log odds ratios. The log odds
    are summed in the order ((class + ((ancestry + adherence) + chronicity)) + centring), then
    look-alike, class preference, Asian transfer (and second line)."""
    n, n_cls, n_anc, n_adh, n_chr, n_look, _ = resp.shape
    for i in range(n):
        for c in range(n_cls):
            b0 = base[i, c]
            if not (0.0 < b0 < 1.0):                   # 0 or 1: no modifiers
                for a in range(n_anc):
                    for h in range(n_adh):
                        for b in range(n_chr):
                            for la in range(n_look):
                                resp[i, c, a, h, b, la, 0] = b0
                                resp[i, c, a, h, b, la, 1] = b0
                continue
            for a in range(n_anc):
                for h in range(n_adh):
                    for b in range(n_chr):
                        lo = (lo_base[i, c] + ((log_anc[a] + log_adh[h]) + log_chron[b])) + shift[i]
                        for la in range(n_look):
                            x = lo + log_look if penalised[i, la] else lo
                            if has_cls[i]:
                                x = x + cls_lo[i, c]
                            if asian[i] and non_asian[a]:
                                x = x + log_asian
                            first = 1.0 / (1.0 + math.exp(-x))
                            resp[i, c, a, h, b, la, 0] = first
                            resp[i, c, a, h, b, la, 1] = 1.0 / (1.0 + math.exp(-(x + log_second))) if induction[i] \
                                else first
