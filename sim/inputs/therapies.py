"""Therapies as data: each regimen is a frozen record with evidence-traced numbers.

A :class:`Therapy` holds the regimen and dose rule, the course duration, the time point at which
response is judged (``assessment_months``, the time point of its evidence), the probabilities of
complete and of partial response by then (before patient modifiers), optional class-specific
response, the effect on later flare hazard and adverse-event rates. The pathway reads these
records; it contains no therapy-specific numbers of its own.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

from sim.errors import InputError
from sim.inputs.parameters import Param, param_from_record
from sim.inputs.data_files import read_data_yaml

ISN_CLASSES = ("III", "IV", "V", "III+V", "IV+V")
FAMILIES = ("antimetabolite", "alkylating", "b_cell", "cni", "cell", "extracorporeal", "ivig", "other")
ROLES = ("induction", "ladder", "maintenance", "management")
#: conditions that look like refractory nephritis but need other management (A71; review ref 42)
LOOKALIKE_CONDITIONS = ("tma", "aps_nephropathy", "membranous")
DOSE_UNITS = ("mg", "mg/kg", "mg/m2", "mg/day", "mg/kg/day", "g/day", "cells/kg", "session")
SOURCE = "sim/data/therapies.yaml"
RECORD_KEYS = ("label", "regimen", "family", "class_or_group", "roles", "dose", "duration_months",
               "assessment_months", "response", "responders_by_class", "flare_hr", "flare_hr_years",
               "flare_hr_applies_to", "response_stream", "adverse_events", "asian_evidence", "exploratory",
               "evidence", "assessment_note", "duration_note", "targets", "glucocorticoids", "evidence_population",
               "treats")
EVIDENCE_POPULATIONS = ("first_line", "refractory")
GC_KEYS = ("pulse_mg", "pulses", "start_mg_day", "start_mg_kg_day", "full_weeks", "taper_weeks", "then_mg_day",
           "evidence", "kind", "evidence_keys", "note")
REQUIRED_KEYS = ("label", "family", "roles", "response", "duration_months", "assessment_months")
VALUE_FORMS = ("value", "count", "survival", "annual_probability", "deaths_over")
PARAM_KEYS = VALUE_FORMS + ("kind", "unit", "evidence", "note", "n", "interval")
DOSE_KEYS = ("drug", "amount", "unit", "times", "days", "evidence", "kind", "note")
DOSE_KINDS = ("evidence", "derived", "assumption")


def _number(v: Any, source: str, field: str, allowed: str = "a number") -> float:
    """A number from a record (not a yes/no, not text), or an error naming the field."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError("must be a number", file=source, field=field, value=v, allowed=allowed)
    return float(v)


def _known_keys(rec: Mapping[str, Any], keys: tuple[str, ...], source: str, field: str) -> None:
    import difflib
    for k in rec:
        if k not in keys:
            close = difflib.get_close_matches(str(k), keys, n=1)
            raise InputError(f"unknown key '{k}'", file=source, field=f"{field}.{k}",
                             allowed=", ".join(keys) + (f" (did you mean {close[0]}?)" if close else ""))


@dataclass(frozen=True)
class DoseComponent:
    """One drug (or procedure) of a regimen and its dose rule."""

    drug: str
    amount: float
    unit: str
    times: int | None = None    # number of administrations (infusions, pulses, sessions)
    days: float | None = None   # days of daily use (oral drugs), per course
    evidence: tuple[str, ...] = ()
    kind: str = "assumption"    # evidence (as published), derived (e.g. a midpoint) or assumption
    note: str = ""


@dataclass(frozen=True)
class GlucocorticoidSchedule:
    """The glucocorticoids that come with a course (prednisolone equivalents, per day).

    Methylprednisolone pulses at the start (``pulses`` x ``pulse_mg``), then oral prednisolone at
    ``start_mg_day`` (or ``start_mg_kg_day`` x body weight) for ``full_weeks``, tapered linearly over
    ``taper_weeks`` to ``then_mg_day``, which is kept until the course's therapy ends.
    """

    pulse_mg: float = 0.0
    pulses: int = 0
    start_mg_day: float = 0.0
    start_mg_kg_day: float = 0.0
    full_weeks: float = 0.0
    taper_weeks: float = 0.0
    then_mg_day: float = 0.0
    evidence: tuple[str, ...] = ()
    kind: str = "assumption"                 # of the numbers not listed in evidence_keys
    evidence_keys: tuple[str, ...] = ()      # the numbers that are as published (kind evidence)
    note: str = ""


NO_GLUCOCORTICOIDS = GlucocorticoidSchedule(note="no glucocorticoids are attributed to this course")


@dataclass(frozen=True)
class Therapy:
    """One regimen of the pathway (induction agent, ladder step or maintenance)."""

    name: str
    label: str
    regimen: str
    family: str
    class_or_group: str
    roles: tuple[str, ...]
    dose: tuple[DoseComponent, ...]
    duration_months: float
    assessment_months: float
    complete: Param
    partial: Param
    responders_by_class: Mapping[str, Param] = field(default_factory=dict)
    flare_hr: Param | None = None
    flare_hr_years: float | None = None
    flare_hr_applies_to: str = "all"          # "all" flares or only "severe" ones
    response_stream: str = ""                 # random stream of its courses (variants of a drug share one)
    assessment_note: str = ""                 # set when the assessment time is an assumption: why
    duration_note: str = ""                   # set when the course length is an assumption: why
    adverse_events: Mapping[str, Param] = field(default_factory=dict)
    asian_evidence: bool = False
    exploratory: bool = False
    evidence: tuple[str, ...] = ()
    targets: str = ""                         # management of a look-alike: which one (role management)
    treats: tuple[str, ...] = ()              # look-alikes it treats too (no look-alike odds ratio for them)
    evidence_population: str = "first_line"   # who its response evidence comes from (sets the centring)
    glucocorticoids: GlucocorticoidSchedule = NO_GLUCOCORTICOIDS

    @property
    def cr_share(self) -> float:
        """Share of responders (by the assessment time) who are complete responders."""
        total = self.complete.value + self.partial.value
        return self.complete.value / total if total > 0 else 0.0

    def response_probability(self, isn_class: str) -> float:
        """P(complete or partial response by ``assessment_months``) for a class, before modifiers."""
        if isn_class in self.responders_by_class:
            return self.responders_by_class[isn_class].value
        return self.complete.value + self.partial.value

    def params(self) -> dict[str, Param]:
        """Every number of the record as a named parameter, for the parameter table."""
        ev = self.evidence
        out = {
            "assessment_months": Param("assessment_months", self.assessment_months, "months", ev,
                                       "assumption" if self.assessment_note else "evidence",
                                       self.assessment_note or
                                       "time point of the response evidence; response is judged then"),
            "duration_months": Param("duration_months", self.duration_months, "months", ev,
                                     "assumption" if self.duration_note else "evidence",
                                     self.duration_note or f"course length: {self.regimen}"),
            "response.complete": self.complete,
            "response.partial": self.partial,
        }
        for cls, p in self.responders_by_class.items():
            out[f"responders_by_class.{cls}"] = p
        if self.flare_hr is not None:
            out["flare_hr"] = self.flare_hr
            out["flare_hr_years"] = Param("flare_hr_years", self.flare_hr_years or 0.0, "years from the start of "
                                          "remission", self.flare_hr.evidence, self.flare_hr.kind,
                                          "how long the flare hazard ratio applies")
        for kind, p in self.adverse_events.items():
            out[f"adverse_events.{kind}"] = p
        g = self.glucocorticoids
        if g is not NO_GLUCOCORTICOIDS:
            for key in ("pulse_mg", "pulses", "start_mg_day", "start_mg_kg_day", "full_weeks", "taper_weeks",
                        "then_mg_day"):
                v = getattr(g, key)
                if v:
                    out[f"glucocorticoids.{key}"] = Param(f"glucocorticoids.{key}", float(v), _GC_UNITS[key],
                                                          g.evidence,
                                                          "evidence" if key in g.evidence_keys else g.kind, g.note)
        for i, d in enumerate(self.dose):
            out[f"dose.{d.drug}"] = Param(f"dose.{d.drug}", d.amount, d.unit + (f" x {d.times}" if d.times else "")
                                          + (f" for {d.days:g} days" if d.days else ""), d.evidence,
                                          d.kind, d.note)
        return {f"{self.name}.{k}": (p if p.name == f"{self.name}.{k}" else _renamed(p, f"{self.name}.{k}"))
                for k, p in out.items()}


_GC_UNITS = {"pulse_mg": "mg methylprednisolone per pulse", "pulses": "pulses", "start_mg_day": "mg/day prednisolone",
             "start_mg_kg_day": "mg/kg/day prednisolone", "full_weeks": "weeks at the starting dose",
             "taper_weeks": "weeks of linear taper", "then_mg_day": "mg/day prednisolone after the taper"}


def _glucocorticoids(rec: Any, name: str, source: str) -> GlucocorticoidSchedule:
    if rec is None:
        return NO_GLUCOCORTICOIDS
    field = f"{name}.glucocorticoids"
    if not isinstance(rec, Mapping):
        raise InputError("glucocorticoids must be a mapping", file=source, field=field, value=rec,
                         allowed="keys " + ", ".join(GC_KEYS))
    _known_keys(rec, GC_KEYS, source, field)
    vals = {}
    for key in GC_KEYS[:7]:
        if key in rec:
            v = _number(rec[key], source, f"{field}.{key}", ">= 0")
            if v < 0 or (key == "full_weeks" and v > 520) or (key == "taper_weeks" and v > 520):
                raise InputError("out of range", file=source, field=f"{field}.{key}", value=v,
                                 allowed=">= 0" + (" and <= 520 weeks" if key.endswith("weeks") else ""))
            vals[key] = int(v) if key == "pulses" else v
    if "start_mg_day" in vals and "start_mg_kg_day" in vals:
        raise InputError("give the starting dose once", file=source, field=f"{field}.start_mg_kg_day",
                         allowed="start_mg_day or start_mg_kg_day, not both")
    if ("start_mg_day" in vals or "start_mg_kg_day" in vals) and "then_mg_day" not in vals:
        raise InputError("a schedule with a starting dose says what dose follows it", file=source,
                         field=f"{field}.then_mg_day", allowed="then_mg_day >= 0 (with full_weeks and taper_weeks)")
    if "start_mg_day" in vals and vals["start_mg_day"] < vals["then_mg_day"]:
        raise InputError("a taper goes down: the steady dose is above the starting dose", file=source,
                         field=f"{field}.then_mg_day", value=vals["then_mg_day"],
                         allowed=f"<= start_mg_day ({vals['start_mg_day']:g})")
    kind = rec.get("kind", "assumption")
    if kind not in ("evidence", "derived", "assumption"):
        raise InputError("unknown kind", file=source, field=f"{field}.kind", value=kind,
                         allowed="evidence, derived, assumption")
    keys = rec.get("evidence_keys") or []
    if not isinstance(keys, list) or any(k not in vals for k in keys):
        raise InputError("evidence_keys lists numbers the schedule gives", file=source,
                         field=f"{field}.evidence_keys", value=keys, allowed=", ".join(vals) or "none")
    return GlucocorticoidSchedule(**vals, evidence=tuple(rec.get("evidence") or ()), kind=kind,
                                  evidence_keys=tuple(keys), note=str(rec.get("note", "")))


def _renamed(p: Param, name: str) -> Param:
    from dataclasses import replace
    return replace(p, name=name)


def therapy_from_record(name: str, rec: Mapping[str, Any], source: str = SOURCE) -> Therapy:
    """Build and check one therapy record."""
    def need(key):
        if key not in rec:
            raise InputError("therapy record lacks a required field", file=source, field=f"{name}.{key}",
                             allowed="a record with " + ", ".join(REQUIRED_KEYS))
        return rec[key]

    _known_keys(rec, RECORD_KEYS, source, name)
    family = need("family")
    if family not in FAMILIES:
        raise InputError("unknown therapy family", file=source, field=f"{name}.family", value=family,
                         allowed=", ".join(FAMILIES))
    roles = need("roles")
    if not isinstance(roles, list):
        raise InputError("roles must be a list", file=source, field=f"{name}.roles", value=roles,
                         allowed="a list of " + ", ".join(ROLES))
    roles = tuple(roles)
    for r in roles:
        if r not in ROLES:
            raise InputError("unknown role", file=source, field=f"{name}.roles", value=r, allowed=", ".join(ROLES))
    response = need("response")
    if not isinstance(response, Mapping):
        raise InputError("response must be a mapping with complete and partial", file=source,
                         field=f"{name}.response", value=response, allowed="complete: P, partial: P")
    _known_keys(response, ("complete", "partial"), source, f"{name}.response")
    complete = param_from_record(f"{name}.response.complete", response.get("complete"), source)
    partial = param_from_record(f"{name}.response.partial", response.get("partial"), source)
    for p in (complete, partial):
        if not 0.0 <= p.value <= 1.0:
            raise InputError("probability outside [0, 1]", file=source, field=p.name, value=p.value, allowed="0 to 1")
    if complete.value + partial.value > 1.0 + 1e-12:
        raise InputError("complete + partial response above 1", file=source, field=f"{name}.response",
                         value=round(complete.value + partial.value, 6), allowed="sum at most 1")
    by_class = {}
    for cls, r in (rec.get("responders_by_class") or {}).items():
        if cls not in ISN_CLASSES:
            raise InputError("unknown ISN/RPS class", file=source, field=f"{name}.responders_by_class.{cls}",
                             allowed=", ".join(ISN_CLASSES))
        by_class[cls] = param_from_record(f"{name}.responders_by_class.{cls}", r, source)
        if not 0.0 <= by_class[cls].value <= 1.0:
            raise InputError("probability outside [0, 1]", file=source, field=f"{name}.responders_by_class.{cls}",
                             value=by_class[cls].value, allowed="0 to 1")
    flare_hr = rec.get("flare_hr")
    flare_hr = param_from_record(f"{name}.flare_hr", flare_hr, source) if flare_hr is not None else None
    if flare_hr is not None and flare_hr.value < 0:
        raise InputError("hazard ratio must be >= 0", file=source, field=f"{name}.flare_hr", value=flare_hr.value)
    aes = {k: param_from_record(f"{name}.adverse_events.{k}", v, source)
           for k, v in (rec.get("adverse_events") or {}).items()}
    for k, p in aes.items():
        if not 0.0 <= p.value <= 1.0:
            raise InputError("probability outside [0, 1]", file=source, field=p.name, value=p.value, allowed="0 to 1")
    dose = []
    doses = rec.get("dose") or []
    if not isinstance(doses, list):
        raise InputError("dose must be a list of drug records", file=source, field=f"{name}.dose", value=doses,
                         allowed="a list of mappings with drug, amount, unit")
    for i, d in enumerate(doses):
        if not isinstance(d, Mapping) or "drug" not in d or "amount" not in d:
            raise InputError("dose entry must be a mapping with drug, amount and unit", file=source,
                             field=f"{name}.dose.{i}", value=d, allowed="keys " + ", ".join(DOSE_KEYS))
        _known_keys(d, DOSE_KEYS, source, f"{name}.dose.{i}")
        unit = d.get("unit")
        if unit not in DOSE_UNITS:
            raise InputError("unknown dose unit", file=source, field=f"{name}.dose.{i}.unit", value=unit,
                             allowed=", ".join(DOSE_UNITS))
        amount = _number(d["amount"], source, f"{name}.dose.{i}.amount", ">= 0")
        if amount < 0:
            raise InputError("dose must not be negative", file=source, field=f"{name}.dose.{i}.amount",
                             value=amount, allowed=">= 0")
        kind = d.get("kind", "assumption")
        if kind not in DOSE_KINDS:
            raise InputError("unknown kind", file=source, field=f"{name}.dose.{i}.kind", value=kind,
                             allowed=", ".join(DOSE_KINDS))
        dose.append(DoseComponent(drug=str(d["drug"]), amount=amount, unit=unit, times=d.get("times"),
                                  days=d.get("days"), evidence=tuple(d.get("evidence") or ()), kind=kind,
                                  note=str(d.get("note", ""))))
    for key in ("duration_months", "assessment_months"):
        if _number(need(key), source, f"{name}.{key}", "> 0 months") <= 0:
            raise InputError("must be positive", file=source, field=f"{name}.{key}", value=rec[key], allowed="> 0 months")
    return Therapy(
        name=name, label=str(need("label")), regimen=str(rec.get("regimen", "")), family=family,
        class_or_group=str(rec.get("class_or_group", "none")), roles=roles, dose=tuple(dose),
        duration_months=float(rec["duration_months"]), assessment_months=float(rec["assessment_months"]),
        complete=complete, partial=partial, responders_by_class=by_class, flare_hr=flare_hr,
        flare_hr_years=rec.get("flare_hr_years"), flare_hr_applies_to=_applies(rec, name, source),
        response_stream=str(rec.get("response_stream") or name),
        assessment_note=str(rec.get("assessment_note", "")), duration_note=str(rec.get("duration_note", "")),
        adverse_events=aes,
        asian_evidence=bool(rec.get("asian_evidence", False)), exploratory=bool(rec.get("exploratory", False)),
        evidence=tuple(rec.get("evidence") or ()), targets=_targets(rec, roles, name, source),
        treats=_treats(rec, name, source), evidence_population=_population(rec, name, source),
        glucocorticoids=_glucocorticoids(rec.get("glucocorticoids"), name, source))


def _treats(rec: Mapping[str, Any], name: str, source: str) -> tuple[str, ...]:
    v = rec.get("treats") or []
    if not isinstance(v, list) or any(x not in LOOKALIKE_CONDITIONS for x in v):
        raise InputError("treats lists look-alikes", file=source, field=f"{name}.treats", value=v,
                         allowed="a list of " + ", ".join(LOOKALIKE_CONDITIONS))
    target = rec.get("targets")
    return tuple(dict.fromkeys([*v, *([target] if target else [])]))


def _population(rec: Mapping[str, Any], name: str, source: str) -> str:
    v = rec.get("evidence_population", "first_line")
    if v not in EVIDENCE_POPULATIONS:
        raise InputError("unknown evidence population", file=source, field=f"{name}.evidence_population", value=v,
                         allowed=", ".join(EVIDENCE_POPULATIONS))
    return v


def _targets(rec: Mapping[str, Any], roles: tuple[str, ...], name: str, source: str) -> str:
    v = rec.get("targets", "")
    if "management" in roles and v not in LOOKALIKE_CONDITIONS:
        raise InputError("a management therapy names the look-alike it treats", file=source,
                         field=f"{name}.targets", value=v or None, allowed=", ".join(LOOKALIKE_CONDITIONS))
    if v and "management" not in roles:
        raise InputError("only a therapy with role management targets a look-alike", file=source,
                         field=f"{name}.targets", value=v, allowed="role management, or no targets")
    return str(v)


def _applies(rec: Mapping[str, Any], name: str, source: str) -> str:
    v = rec.get("flare_hr_applies_to", "all")
    if v not in ("all", "severe"):
        raise InputError("unknown value", file=source, field=f"{name}.flare_hr_applies_to", value=v,
                         allowed="all, severe")
    return v


def _merge(base: dict, override: Mapping[str, Any], name: str, source: str = "scenario") -> dict:
    """Deep-merge a scenario override into a raw record; a bare number replaces a parameter record."""
    out = copy.deepcopy(base)
    for key, val in override.items():
        cur = out.get(key)
        is_param = isinstance(cur, dict) and any(f in cur for f in VALUE_FORMS)
        if is_param and not isinstance(val, Mapping):
            old = param_from_record(f"{name}.{key}", cur)
            out[key] = {"value": _number(val, source, f"{name}.{key}", "a number, or a parameter record (value: ...)"),
                        "kind": "assumption", "evidence": list(old.evidence),
                        "note": f"set by scenario (default {old.value:g}: {old.note})"}
        elif is_param:
            _known_keys(val, PARAM_KEYS, source, f"{name}.{key}")
            # a new value form replaces the old one (a count would otherwise win over a new value)
            new_value = any(f in val for f in VALUE_FORMS)
            kept = {k: v for k, v in cur.items() if k not in VALUE_FORMS} if new_value else cur
            out[key] = {**kept, **val}
            if new_value and "kind" not in val:
                old = param_from_record(f"{name}.{key}", cur)
                out[key].update(kind="assumption", note=val.get("note", f"set by scenario (default {old.value:g}: {old.note})"))
        elif isinstance(cur, dict) and isinstance(val, Mapping):
            out[key] = _merge(cur, val, f"{name}.{key}", source)
        else:
            out[key] = val
    return out


@dataclass(frozen=True)
class TherapyCatalogue:
    """All therapy records by name (frozen); scenario variants are copies."""

    records: Mapping[str, Mapping[str, Any]]
    therapies: Mapping[str, Therapy]

    @classmethod
    def default(cls) -> "TherapyCatalogue":
        raw = read_data_yaml("therapies.yaml")
        return cls(raw, {k: therapy_from_record(k, v) for k, v in raw.items()})

    def __getitem__(self, name: str) -> Therapy:
        return self.therapies[name]

    def __contains__(self, name: str) -> bool:
        return name in self.therapies

    def names(self, role: str | None = None) -> list[str]:
        return [n for n, t in self.therapies.items() if role is None or role in t.roles]

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]], source: str = "scenario") -> "TherapyCatalogue":
        """A copy with records changed (nested override) or added (a full new record)."""
        records = dict(self.records)
        for name, ov in overrides.items():
            if name not in records and not {"family", "roles"} & set(ov):
                import difflib
                close = difflib.get_close_matches(name, list(records), n=1)
                raise InputError(f"unknown therapy '{name}'", file=source, field=name, value=name,
                                 allowed=", ".join(records) + (f" (did you mean {close[0]}?)" if close else "")
                                 + "; or a full new record with " + ", ".join(REQUIRED_KEYS))
            rec = _merge(records[name], ov, name, source) if name in records else dict(ov)
            records[name] = rec
        therapies = dict(self.therapies)          # records not overridden are already built and frozen
        for k in overrides:
            therapies[k] = therapy_from_record(k, records[k], source)
        return TherapyCatalogue(records, therapies)

    def params(self) -> dict:
        out = {}
        for t in self.therapies.values():
            out.update(t.params())
        return out
