"""The model as the core reads it: records built once per model from the scenario's inputs.

:func:`compile_model` turns a :class:`sim.inputs.build.Model` (parameters, therapy records, strategies)
into a :class:`CompiledModel`: one :data:`sim.model.layout.MODEL` record per strategy, the response
table (:mod:`sim.model.response`), and the names behind the codes (therapies, adverse-event kinds,
response streams) that the drivers need to draw random numbers and decode the records.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sim.model import layout as L
from sim.inputs.cohort import CHRONICITY
from sim.model.hazards import death_slots, death_spec, esrd_multiplier, esrd_spec, horizon_breakpoints
from sim.model.jit import records
from sim.model.response import response_table

YEAR = 12.0  # months per year


def _bytes_of(dtype, skip) -> np.ndarray:
    """The bytes of a ``dtype`` record that belong to its fields but those in ``skip`` (a mask)."""
    m = np.zeros(dtype.itemsize, dtype=bool)
    for f in dtype.names:
        if f not in skip:
            sub, offset = dtype.fields[f][:2]
            m[offset:offset + sub.itemsize] = True
    return m


#: the bytes of a MODEL record that Figure 3's ladder does not read (:meth:`CompiledModel.same_until_ladder`)
_BEFORE_LADDER = _bytes_of(L.MODEL, L.LADDER_FIELDS)


@dataclass
class CompiledModel:
    model: object                 # the sim.inputs.build.Model it was built from
    strategies: list              # the scenario's strategies, in order
    therapies: list[str]          # therapy names by code
    kinds: list[str]              # adverse-event kinds by code (sorted by name)
    streams: list[str]            # response streams by code
    ae_pairs: list[tuple[int, int]]   # (stream, kind) pairs with adverse-event draws
    records: np.ndarray           # MODEL records, one per strategy
    response: np.ndarray          # the response table
    horizon: float

    @property
    def records_for_core(self) -> np.ndarray:
        """The MODEL records as the core takes them (see :func:`sim.model.jit.records`)."""
        return records(self.records)

    def therapy(self, code: int):
        return self.model.therapies[self.therapies[code]]

    def same_until_ladder(self, k: int) -> bool:
        """Are the records of strategies ``k`` and 0 the same, byte for byte, but for what the Figure 3
        ladder reads (:data:`sim.model.layout.LADDER_FIELDS`)? Then each patient lives the same life
        under both until first reaching the ladder, and the batch driver simulates that part once."""
        a, b = np.asarray(self.records).view(np.uint8).reshape(len(self.records), L.MODEL.itemsize)[[0, k]]
        return bool(np.array_equal(a[_BEFORE_LADDER], b[_BEFORE_LADDER]))

    @cached_property
    def stopping_at_ladder(self) -> np.ndarray:
        """The MODEL records, with strategy 0 stopping when a patient first reaches the ladder."""
        M = self.records.copy()
        M["stop_at_ladder"][0] = 1
        return records(M)


def _check(n: int, limit: int, what: str, field: str) -> None:
    if n > limit:
        from sim.errors import InputError
        raise InputError(f"the model has {n} {what}; the core holds at most {limit} (sim/model/layout.py)",
                         field=field, value=n, allowed=f"at most {limit}")


def compile_model(model, capacity: bool = False) -> CompiledModel:
    """The core's view of ``model``; ``capacity``: courses ask the driver for limited services."""
    sc = model.scenario
    p = model.params
    cat = model.therapies
    names = list(sc.therapies_reached())
    tix = {n: i for i, n in enumerate(names)}
    ths = [cat[n] for n in names]
    streams = list(dict.fromkeys(th.response_stream for th in ths))
    kinds = sorted({k for th in ths for k in th.adverse_events})
    _check(len(names), L.MAX_THERAPIES, "therapies reached by the strategies", "strategies")
    _check(len(streams), L.MAX_STREAMS, "response streams", "therapies")
    _check(len(kinds), L.MAX_KINDS, "adverse-event kinds", "therapies")
    ae_severe = p.by_prefix("adverse_event_severe_share_")
    ae_esrd_hr = p.by_prefix("adverse_event_esrd_hr_")
    pairs = sorted({(streams.index(th.response_stream), kinds.index(k)) for th in ths for k in th.adverse_events})
    G = horizon_breakpoints(sc.horizon_years)
    _check(G + 1, L.MAX_BPS, "death-table breakpoints", "horizon_years")

    base = np.zeros((), dtype=L.MODEL)
    base["horizon"] = float(sc.horizon_years)
    base["improvement_lead"] = p["improvement_lead_months"] / YEAR
    base["max_time_to_cr"] = p["max_time_to_cr_years"]
    base["late_cr_given_partial"] = p["late_cr_given_partial"]
    base["late_response_given_none"] = p["late_response_given_none"]
    base["late_response_window"] = p["late_response_window_months"] / YEAR
    base["flare_rate"] = p["flare_rate_remission"]
    base["flare_hr_partial"] = p["flare_hr_partial"]
    base["flare_severe_share"] = p["flare_severe_share"]
    base["maintenance_years"] = p["maintenance_years"]
    base["transplant_rate"] = p["transplant_rate_on_dialysis"]
    base["graft_failure_rate"] = p["graft_failure_rate"]
    base["kind_esrd_hr"][:] = 1.0
    for j, kind in enumerate(kinds):
        base["kind_esrd_hr"][j] = ae_esrd_hr.get(kind, 1.0)
    base["n_streams"] = len(streams)
    base["n_bps"] = G + 1
    lt = model.life_table
    _check(len(lt.female), L.MAX_AGES, "life-table ages", "life_table")
    base["life"][0, :len(lt.female)], base["life"][1, :len(lt.male)] = lt.female, lt.male
    base["n_life"] = len(lt.female)
    base["d_spec"] = death_spec(p)
    base["d_slot"] = death_slots(base["d_spec"])
    base["e_rate"], base["e_class_hr"], base["e_hr1"] = esrd_spec(p)
    base["e_band_hr"] = esrd_multiplier(p, CHRONICITY)
    base["capacity"] = int(capacity)
    onset = p["response_onset_months"] / YEAR
    for i, th in enumerate(ths):
        _check(len(th.adverse_events), L.MAX_AE, "adverse-event kinds in one therapy", f"therapies.{th.name}.adverse_events")
        t_ref = th.assessment_months / YEAR
        base["th_t_ref"][i] = t_ref
        base["th_onset"][i] = min(onset, t_ref)
        base["th_cr_share"][i] = th.cr_share
        base["th_duration"][i] = th.duration_months / YEAR
        base["th_assessment"][i] = th.assessment_months / YEAR
        if th.flare_hr is not None:
            base["th_has_flare_hr"][i] = 1
            base["th_flare_hr"][i] = th.flare_hr.value
            base["th_flare_hr_years"][i] = th.flare_hr_years or 0.0
            base["th_flare_hr_severe_only"][i] = int(th.flare_hr_applies_to == "severe")
        base["th_stream"][i] = streams.index(th.response_stream)
        base["th_n_ae"][i] = len(th.adverse_events)
        for j, (kind, prob) in enumerate(th.adverse_events.items()):
            base["th_ae_kind"][i, j] = kinds.index(kind)
            base["th_ae_draws"][i, j] = pairs.index((streams.index(th.response_stream), kinds.index(kind)))
            base["th_ae_p"][i, j] = prob.value
            base["th_ae_p_severe"][i, j] = prob.value * ae_severe.get(kind, 0.0)
    workup = any(s.workup.active for s in sc.strategies)
    if workup:
        base["labs_detect_lookalike"] = p["labs_detect_lookalike"]
        base["biopsy_detects_lookalike"] = p["biopsy_detects_lookalike"]
        base["biopsy_detects_chronic_damage"] = p["biopsy_detects_chronic_damage"]

    records = np.zeros(len(sc.strategies), dtype=L.MODEL)
    for k, s in enumerate(sc.strategies):
        r = records[k:k + 1]
        r[0] = base
        r["first_assessment"] = s.first_assessment_months / YEAR
        r["reassessment"] = s.reassessment_months / YEAR
        r["switch"][0, :] = -1
        for a, b in s.switch.items():
            if a in tix and b in tix:
                r["switch"][0, tix[a]] = tix[b]
        shares = s.induction_shares()
        _check(len(shares), L.MAX_INDUCTION, "induction agents", f"strategies.{s.name}.induction")
        r["n_induction"] = len(shares)
        for j, (a, w) in enumerate(shares.items()):
            r["induction_agent"][0, j] = tix[a]
            r["induction_share"][0, j] = w
        r["screen_lookalikes"] = int(s.workup.screen_lookalikes)
        r["repeat_biopsy"] = int(s.workup.repeat_biopsy)
        r["management"][0, :] = -1
        if s.workup.active:
            for condition, name in s.workup.management.items():
                r["management"][0, L.FINDINGS.index(condition)] = tix[name]
        _check(len(s.ladder), L.MAX_LADDER, "ladder steps", f"strategies.{s.name}.ladder")
        r["n_ladder"] = len(s.ladder)
        for i, step in enumerate(s.ladder):
            r["ladder"][0, i] = tix[step]
            r["ladder_assessment"][0, i] = s.ladder_assessment_months.get(step, cat[step].assessment_months) / YEAR
        rescue = s.after_severe_infection
        r["rescue"] = tix[rescue] if rescue else -1
        r["rescue_assessment"] = (s.ladder_assessment_months.get(rescue, cat[rescue].assessment_months) / YEAR
                                  if rescue else 0.0)
        r["infection_kind"] = kinds.index("serious_infection") if "serious_infection" in kinds else -1
        r["maintenance"] = tix[s.maintenance]
        rule = s.flare_reentry
        r["reentry_rule"] = L.REENTRY_CODES.get(rule, L.RULE_STEP)
        r["reentry_step"] = s.ladder.index(rule) if rule not in L.REENTRY_CODES else 0
    return CompiledModel(model, list(sc.strategies), names, kinds, streams, pairs, records,
                         response_table(p, ths), float(sc.horizon_years))
