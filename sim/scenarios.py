"""Scenarios: what to simulate, read from YAML with a strict schema.

A scenario names the population, the horizon, any parameter or therapy changes, and one or more
strategies (protocols) that differ only in data. Files are read with ``yaml.safe_load`` only (no
tags that build objects). Every error names the file, the field path, the value and what is
allowed; the command line turns it into exit status 2 without a traceback.

``--set PATH=VALUE`` overrides any field by dotted path (``strategies.eular.ladder``, with list
items chosen by index or by their ``name``) and is validated exactly like the file.
"""
from __future__ import annotations

import copy
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from sim.cohort import _CATEGORIES, Population, TruncatedLogNormal, TruncatedNormal, preset, preset_names
from sim.capacity import Capacity
from sim.economics import Economics
from sim.psa import PsaSettings
from sim.errors import InputError
from sim.parameters import ModelParameters
from sim.therapies import LOOKALIKE_CONDITIONS, TherapyCatalogue

_STRICT = ConfigDict(extra="forbid", frozen=True)
DEFAULT_LADDER = ["rituximab_belimumab", "tacrolimus_multitarget", "msc", "immunoadsorption"]
DEFAULT_SWITCH = {"mmf": "cyc_eurolupus", "cyc_eurolupus": "mmf", "cyc_nih": "mmf"}
REENTRY_RULES = ("same_step", "induction", "ladder")
NAME_RE = r"^[A-Za-z0-9_.+-]+$"


class _FieldError(ValueError):
    """A validator's error about a sub-field: ``path`` extends pydantic's location (for the message)."""

    def __init__(self, message: str, *path: str | int, value: Any = None, allowed: str | None = None):
        super().__init__(message)
        self.path, self.value, self.allowed = path, value, allowed


def _no_bools(v: Any, *path: str | int) -> Any:
    """YAML reads yes/no/true/false/on/off as booleans; refuse them where a number is expected."""
    items = v.items() if isinstance(v, dict) else [((), v)]
    for k, x in items:
        if isinstance(x, bool):
            sub = path + ((k,) if k != () else ())
            raise _FieldError("yes/no (true/false) is not a number", *sub, value=x, allowed="a number")
    return v


def _suggest(word: str, choices, fallback: str | None = None) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3, cutoff=0.6)
    text = fallback if fallback is not None else ", ".join(str(c) for c in choices)
    return (f"{text} (did you mean {' or '.join(close)}?)" if close else text)


DEFAULT_MANAGEMENT = {"tma": "plasma_exchange_tma", "aps_nephropathy": "anticoagulation_immunoadsorption",
                      "membranous": "membranous_cni"}


class Workup(BaseModel):
    """How a strategy works up a non-response before classing a patient refractory (A71; ref 42)."""

    model_config = _STRICT
    screen_lookalikes: bool = Field(default=False, description="non-invasive screening for thrombotic "
                                    "microangiopathy and antiphospholipid nephropathy")
    repeat_biopsy: bool = Field(default=False, description="repeat kidney biopsy (also shows membranous "
                                "transformation and chronic damage)")
    management: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MANAGEMENT),
                                       description="the therapy (role management) for each look-alike found")

    @property
    def active(self) -> bool:
        """Does the strategy work a non-response up at all?"""
        return self.screen_lookalikes or self.repeat_biopsy

    @field_validator("management", mode="before")
    @classmethod
    def _conditions(cls, v):
        if not isinstance(v, dict):
            raise _FieldError("must be a mapping of look-alike: therapy", value=v,
                              allowed=", ".join(LOOKALIKE_CONDITIONS))
        v = {**DEFAULT_MANAGEMENT, **v}          # a scenario changes some, the rest keep their default
        for k in v:
            if k not in LOOKALIKE_CONDITIONS:
                raise _FieldError("unknown look-alike condition", k, value=k, allowed=", ".join(LOOKALIKE_CONDITIONS))
        missing = [c for c in LOOKALIKE_CONDITIONS if c not in v]
        if missing:
            raise _FieldError("a management therapy is needed for every look-alike", missing[0], value=None,
                              allowed=", ".join(LOOKALIKE_CONDITIONS))
        return v


class Strategy(BaseModel):
    """One protocol: induction agent(s), Figure 2 timing, the Figure 3 ladder, flare re-entry."""

    model_config = _STRICT
    name: str = Field(pattern=NAME_RE, min_length=1, max_length=64)
    description: str = ""
    induction: str | dict[str, float] = Field(
        default="mmf", description="a therapy name, or a mapping of therapy name: share (shares sum to 1)")
    switch: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SWITCH))
    first_assessment_months: float = Field(default=3.0, gt=0, le=24)
    reassessment_months: float = Field(default=6.0, gt=0, le=36)
    ladder: list[str] = Field(default_factory=lambda: list(DEFAULT_LADDER))
    ladder_assessment_months: dict[str, float] = {}
    maintenance: str = "mmf_maintenance"
    flare_reentry: str = Field(default="same_step", description=", ".join(REENTRY_RULES) + " or a step of the ladder")
    workup: Workup = Workup()
    after_severe_infection: str | None = Field(
        default=None, description="a therapy (e.g. immunoadsorption) given when a severe infection stopped a "
        "ladder step, before intensifying further (A59: extracorporeal therapy when infection contraindicates "
        "intensification); none by default")

    @field_validator("first_assessment_months", "reassessment_months", "induction", "ladder_assessment_months",
                     mode="before")
    @classmethod
    def _numbers(cls, v):
        return _no_bools(v)

    @model_validator(mode="after")
    def _timing(self):
        if self.reassessment_months <= self.first_assessment_months:
            raise _FieldError(f"reassessment must come after the first assessment "
                              f"(first_assessment_months is {self.first_assessment_months:g})",
                              "reassessment_months", value=self.reassessment_months,
                              allowed=f"> {self.first_assessment_months:g} and <= 36 months")
        if isinstance(self.induction, dict):
            for k, v in self.induction.items():
                if v < 0:
                    raise _FieldError("induction share must not be negative", "induction", k, value=v,
                                      allowed="0 to 1")
            total = sum(self.induction.values())
            if abs(total - 1) > 1e-6:
                raise _FieldError(f"induction shares must sum to 1 (they sum to {total:.6g})", "induction",
                                  value=dict(self.induction), allowed="shares >= 0 that sum to 1")
        for j, step in enumerate(self.ladder):
            if step in self.ladder[:j]:
                raise _FieldError(f"ladder step repeated: a ladder lists each therapy once "
                                  f"(already step {self.ladder.index(step)})", "ladder", j, value=step,
                                  allowed="each therapy at most once")
        for k, v in self.ladder_assessment_months.items():
            if k not in self.ladder:
                raise _FieldError("ladder_assessment_months names a therapy that is not in the ladder",
                                  "ladder_assessment_months", k, value=k, allowed=", ".join(self.ladder))
            if not 0 < v <= 36:
                raise _FieldError("assessment time out of range", "ladder_assessment_months", k, value=v,
                                  allowed="> 0 and <= 36 months")
        return self

    def induction_shares(self) -> dict[str, float]:
        return {self.induction: 1.0} if isinstance(self.induction, str) else dict(self.induction)

    def therapies_reached(self) -> list[str]:
        """Every therapy a patient of this strategy can receive, in a fixed order: the induction agents
        and their switch partners (closed under switching), the ladder, maintenance, the management of
        look-alikes (with a work-up) and the therapy after a severe infection."""
        names: list[str] = []
        todo = list(self.induction_shares())
        while todo:
            a = todo.pop(0)
            if a not in names:
                names.append(a)
                if a in self.switch:
                    todo.append(self.switch[a])
        management = list(self.workup.management.values()) if self.workup.active else []
        rescue = [self.after_severe_infection] if self.after_severe_infection else []
        return list(dict.fromkeys([*names, *self.ladder, self.maintenance, *management, *rescue]))


class Scenario(BaseModel):
    """A scenario file, validated."""

    model_config = _STRICT
    name: str = Field(default="scenario", pattern=NAME_RE)
    description: str = ""
    patients: int = Field(default=1000, gt=0, le=50_000_000)
    seed: int = Field(default=20211227, ge=0, lt=2**63)
    horizon_years: float = Field(default=50.0, gt=0, le=100)
    cohort: Population
    parameters: dict[str, float] = {}
    therapies: dict[str, dict[str, Any]] = {}
    life_table: str | None = None
    parameters_file: str | None = None
    economics: Economics = Economics()
    psa: PsaSettings = PsaSettings()
    capacity: Capacity | None = None
    strategies: list[Strategy] = Field(min_length=1)
    _source: str = PrivateAttr(default="scenario")
    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _cohort_preset(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            cohort = data.get("cohort", {}) or {}
            if isinstance(cohort, dict):
                cohort = dict(cohort)
                name = cohort.pop("preset", "default")
                if not isinstance(name, str) or name not in preset_names():
                    raise _FieldError("unknown cohort preset", "cohort", "preset", value=name,
                                      allowed=_suggest(name, preset_names()))
                for k, v in cohort.items():
                    _no_bools(v, "cohort", k)
                base = preset(name)
                merged = {**base, **cohort}
                # provenance is merged per field: a scenario documents what it changes, the rest keeps
                # the preset's
                merged["provenance"] = {**(base.get("provenance") or {}), **(cohort.get("provenance") or {})}
                data["cohort"] = merged
        return data

    @field_validator("patients", "seed", "horizon_years", "parameters", mode="before")
    @classmethod
    def _numbers(cls, v):
        return _no_bools(v)

    @field_validator("parameters")
    @classmethod
    def _finite(cls, v):
        for k, x in v.items():
            if not math.isfinite(x):
                raise _FieldError("must be a finite number", k, value=x, allowed="a finite number")
        return v

    @field_validator("strategies")
    @classmethod
    def _unique(cls, v):
        names = [s.name for s in v]
        for j, n in enumerate(names):
            if n in names[:j]:
                raise _FieldError(f"strategy names must be unique; '{n}' is also strategy {names.index(n)}",
                                  j, "name", value=n, allowed="a name used by no other strategy")
        return v

    def therapies_reached(self) -> list[str]:
        """Every therapy a patient of any strategy can receive (Strategy.therapies_reached, in order)."""
        return list(dict.fromkeys(n for s in self.strategies for n in s.therapies_reached()))

    # -- compilation --------------------------------------------------------------------------
    def build(self, source: str = "scenario", base_dir: Path | None = None) -> "Model":
        """Resolve parameters, therapies and life table, and check cross-references."""
        defaults = ModelParameters.default()
        values = dict(self.parameters)
        if self.parameters_file is not None:
            # e.g. a calibrated set written by sim.calibration; the scenario's own `parameters` win
            values = {**_parameters_file(self.parameters_file, base_dir, source), **values}
        for name, v in values.items():
            if name not in defaults:
                raise InputError(f"unknown model parameter '{name}'", file=source, field=f"parameters.{name}",
                                 value=v, allowed=_suggest(name, defaults.names(),
                                                           "a name listed by 'lnsim parameters'"))
        params = defaults.with_overrides(values, source)
        _check_parameter_values(params, source)
        try:
            therapies = TherapyCatalogue.default().with_overrides(self.therapies, source)
        except InputError as e:
            if e.field and not e.field.startswith("therapies."):
                raise InputError(_strip(e), file=source,
                                 field=f"therapies.{e.field}", value=e.value, allowed=e.allowed) from None
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"malformed therapy record ({e})", file=source, field="therapies") from None
        _check_adverse_event_kinds(params, therapies, source)
        for i, s in enumerate(self.strategies):
            _check_strategy(s, i, therapies, source)
        life = load_life_table(self.life_table, base_dir, source)
        _check_economic_tables(self.economics, base_dir, source)
        return Model(self, params, therapies, life, source)


def _parameters_file(path: str, base_dir: Path | None, source: str) -> dict[str, float]:
    """The ``parameters:`` mapping of a parameter file (such as sim/data/calibrated_parameters.yaml)."""
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.is_file():
        raise InputError(f"parameters file not found: {p}", file=source, field="parameters_file", value=path,
                         allowed="a YAML file with a 'parameters:' mapping of name: value")
    data = read_yaml(p)
    values = data.get("parameters")
    if not isinstance(values, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               for v in values.values()):
        raise InputError("the file needs a 'parameters:' mapping of name: number", file=str(p),
                         field="parameters", allowed="e.g. parameters: {second_induction_response_or: 0.47}")
    return {str(k): float(v) for k, v in values.items()}


def _check_economic_tables(econ: Economics, base_dir: Path | None, source: str) -> None:
    """Read and check the cost and utility tables now, so a bad table fails before any simulation."""
    from types import SimpleNamespace
    from sim.economics import load_cost_table, load_utility_table, resolve_tables
    tables = {}
    for field, loader in (("cost_table", load_cost_table), ("utility_table", load_utility_table)):
        try:
            tables[field] = loader(getattr(econ, field), base_dir)
        except InputError as e:
            where = ", ".join(x for x in (e.file, None if (e.field or "").startswith("economics") else e.field) if x)
            raise InputError(f"{_strip(e)} (in {where})" if where else _strip(e), file=source,
                             field=f"economics.{field}", value=e.value, allowed=e.allowed) from None
    try:
        resolve_tables(SimpleNamespace(economics=econ, _base_dir=base_dir), econ, tables["cost_table"],
                       tables["utility_table"])
    except InputError as e:
        raise InputError(_strip(e), file=source, field=e.field, value=e.value, allowed=e.allowed) from None


def _strip(e: InputError) -> str:
    msg = e.args[0]
    for part in (f"{e.file}: ", f"field '{e.field}': "):
        msg = msg.replace(part, "", 1)
    if e.value is not None:
        msg = msg.replace(f" (got {e.value!r})", "")
    if e.allowed:
        msg = msg.replace(f"; allowed: {e.allowed}", "")
    return msg


_PROBABILITY_PARAMS = ("late_cr_given_partial", "late_response_given_none", "flare_severe_share",
                       "trial_chronicity_share_moderate", "trial_chronicity_share_high", "trial_lookalike_share",
                       "refractory_chronicity_share_moderate", "refractory_chronicity_share_high",
                       "refractory_lookalike_share",
                       "biopsy_detects_chronic_damage", "biopsy_detects_lookalike", "labs_detect_lookalike")


def _is_probability(name: str) -> bool:
    return name in _PROBABILITY_PARAMS or name.startswith("adverse_event_severe_share_")


def _check_adverse_event_kinds(params: ModelParameters, therapies: TherapyCatalogue, source: str) -> None:
    """Every adverse-event kind of a therapy needs its severe share (a parameter of parameters.yaml):
    a kind without one must not silently become 'never severe'."""
    known = sorted(params.by_prefix("adverse_event_severe_share_"))
    for name, th in therapies.therapies.items():
        for kind in th.adverse_events:
            if kind not in known:
                raise InputError(f"adverse-event kind '{kind}' has no severe share (parameter "
                                 f"adverse_event_severe_share_{kind} in sim/data/parameters.yaml)", file=source,
                                 field=f"therapies.{name}.adverse_events.{kind}", value=kind,
                                 allowed=_suggest(kind, known))


def _check_parameter_values(params: ModelParameters, source: str) -> None:
    for name in params.names():
        v = params[name]
        if _is_probability(name) and not 0 <= v <= 1:
            raise InputError("probability outside [0, 1]", file=source, field=f"parameters.{name}", value=v,
                             allowed="0 to 1")
        if v < 0:
            raise InputError("must not be negative", file=source, field=f"parameters.{name}", value=v,
                             allowed=">= 0")
        if name.endswith("_chronicity_share_moderate"):
            high = params[name.replace("_moderate", "_high")]
            if v + high > 1:
                raise InputError("the moderate and high chronicity shares sum to more than 1", file=source,
                                 field=f"parameters.{name}", value=v, allowed=f"<= {1 - high:g} (1 - the high share)")
        if (name.endswith("_or") or "_or_" in name) and v <= 0:
            raise InputError("odds ratios must be positive", file=source, field=f"parameters.{name}",
                             value=v, allowed="> 0")


_ROLE_TEXT = {"induction": "an induction agent", "ladder": "a ladder step", "maintenance": "maintenance",
              "management": "the management of a look-alike"}


def _check_strategy(s: Strategy, i: int, therapies: TherapyCatalogue, source: str) -> None:
    where = f"strategies.{i}"

    def need(name: str, role: str, field: str) -> None:
        if name not in therapies:
            raise InputError(f"unknown therapy '{name}' in strategy '{s.name}'", file=source,
                             field=f"{where}.{field}", value=name,
                             allowed=_suggest(name, therapies.names(role)))
        if role not in therapies[name].roles:
            raise InputError(f"therapy '{name}' ({'/'.join(therapies[name].roles)}) cannot be used as "
                             f"{_ROLE_TEXT[role]}", file=source, field=f"{where}.{field}",
                             value=name, allowed=", ".join(therapies.names(role)))

    for agent in s.induction_shares():
        need(agent, "induction", "induction" if isinstance(s.induction, str) else f"induction.{agent}")
        if agent not in s.switch:
            raise InputError("no switch partner for this induction agent", file=source, field=f"{where}.switch",
                             value=agent, allowed="a mapping agent: partner for every induction agent")
    for a, b in s.switch.items():
        need(a, "induction", f"switch.{a}")
        need(b, "induction", f"switch.{a}")
    # every agent a patient can reach by switching needs a partner too: a responder to the partner who
    # flares is re-induced with it (flare re-entry) and may have to switch again
    for agent in s.induction_shares():
        seen = [agent]
        while s.switch[seen[-1]] not in seen:
            nxt = s.switch[seen[-1]]
            if nxt not in s.switch:
                raise InputError(f"no switch partner for '{nxt}', which patients reach by switching from "
                                 f"'{seen[-1]}'", file=source, field=f"{where}.switch.{nxt}", value=None,
                                 allowed="a partner for every agent reachable by switching (e.g. "
                                         f"{nxt}: {seen[-1]})")
            seen.append(nxt)
    for j, step in enumerate(s.ladder):
        need(step, "ladder", f"ladder.{j}")
    need(s.maintenance, "maintenance", "maintenance")
    if s.after_severe_infection is not None:
        need(s.after_severe_infection, "ladder", "after_severe_infection")
        if therapies[s.after_severe_infection].family != "extracorporeal":
            raise InputError("the therapy after a severe infection is an extracorporeal one (A59)", file=source,
                             field=f"{where}.after_severe_infection", value=s.after_severe_infection,
                             allowed=", ".join(n for n in therapies.names("ladder")
                                               if therapies[n].family == "extracorporeal"))
    for condition, name in s.workup.management.items():
        need(name, "management", f"workup.management.{condition}")
        if therapies[name].targets != condition:
            raise InputError(f"therapy '{name}' manages '{therapies[name].targets or 'lupus nephritis'}', "
                             f"not '{condition}'", file=source, field=f"{where}.workup.management.{condition}",
                             value=name, allowed=", ".join(n for n in therapies.names("management")
                                                           if therapies[n].targets == condition))
    if s.flare_reentry not in REENTRY_RULES and s.flare_reentry not in s.ladder:
        raise InputError("unknown flare re-entry rule", file=source, field=f"{where}.flare_reentry",
                         value=s.flare_reentry, allowed=", ".join(REENTRY_RULES) + " or a step of the ladder")


@dataclass(frozen=True)
class LifeTable:
    """Background mortality: annual hazard by single year of age (0 .. max) and sex."""

    female: np.ndarray
    male: np.ndarray
    source: str


def load_life_table(path: str | None, base_dir: Path | None = None, source: str | None = None) -> LifeTable:
    """Read a life table (columns age, female, male). Errors name the scenario ``source`` and the CSV."""
    from importlib import resources
    if path is None:
        src = "sim/data/life_table.csv (illustrative Gompertz assumption)"
        with resources.files("sim").joinpath("data", "life_table.csv").open("r") as fh:
            df = pd.read_csv(fh, comment="#")
    else:
        p = Path(path)
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        src = str(p)
        if not p.is_file():
            raise InputError(f"life table file not found (looked for {src})", file=source or src,
                             field="life_table", value=path,
                             allowed="a CSV file with columns age,female,male (relative to the scenario file)")
        try:
            df = pd.read_csv(p, comment="#")
        except Exception as e:  # pandas raises many kinds
            raise InputError(f"life table {src}: cannot read CSV ({e.__class__.__name__}: {e})",
                             file=source or src, field="life_table", value=path,
                             allowed="a CSV file with columns age,female,male") from None

    def bad(message: str, value=None, allowed: str | None = None):
        return InputError(f"life table {src}: {message}", file=source or src, field="life_table", value=value,
                          allowed=allowed)

    for col in ("age", "female", "male"):
        if col not in df.columns:
            raise bad(f"missing column '{col}' (found: {', '.join(map(str, df.columns))})",
                      allowed="columns age,female,male")
    ages = pd.to_numeric(df["age"], errors="coerce").to_numpy(dtype=float)
    expected = np.arange(len(ages))
    if len(ages) < 2 or not np.array_equal(ages, expected):
        row = int(np.argmax(ages != expected)) if len(ages) >= 2 else 0
        got = _scalar(df["age"].iloc[row]) if len(ages) else None
        raise bad(f"column 'age': ages must be 0, 1, 2, ... without gaps; data row {row + 1} should be age {row}",
                  value=got, allowed="consecutive whole ages starting at 0 (at least 2 rows)")
    for col in ("female", "male"):
        h = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(h) & (h > 0)
        if not np.all(ok):
            row = int(np.argmin(ok))
            raise bad(f"column '{col}' at age {row}: hazards must be positive finite numbers",
                      value=_scalar(df[col].iloc[row]), allowed="> 0 (annual hazard)")
    return LifeTable(df["female"].to_numpy(float), df["male"].to_numpy(float), src)


def _scalar(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


@dataclass(frozen=True)
class Model:
    """A compiled scenario: the validated spec with resolved parameters, therapies and life table."""

    scenario: Scenario
    params: ModelParameters
    therapies: TherapyCatalogue
    life_table: LifeTable
    source: str

    def strategy(self, name: str) -> Strategy:
        for s in self.scenario.strategies:
            if s.name == name:
                return s
        raise KeyError(name)


# -- reading files and overrides ----------------------------------------------------------------

_UNION_TAG = re.compile(r"^(str|int|float|bool|(list|dict|set|tuple|function-\w+|constrained-\w+)\[.*\])$")


def _unwrap(ann: Any) -> tuple[Any, tuple]:
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(ann) if a is not type(None)]
        return (members[0], ()) if len(members) == 1 else (None, tuple(members))
    return ann, ()


def _field_at(loc: tuple) -> tuple[Any, Any, type | None]:
    """Walk the schema along a location: (annotation, FieldInfo or None, model holding an unknown key)."""
    ann, info = Scenario, None
    for key in loc:
        ann, members = _unwrap(ann)
        if members:   # a union: go on with the member that can hold this key
            ann = next((m for m in members if typing.get_origin(m) in (dict, list)
                        or (isinstance(m, type) and issubclass(m, BaseModel))), None)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if key not in ann.model_fields:
                return None, None, ann
            info = ann.model_fields[key]
            ann = info.annotation
        elif typing.get_origin(ann) is list and isinstance(key, int):
            ann, info = typing.get_args(ann)[0], None
        elif typing.get_origin(ann) is dict:
            ann, info = typing.get_args(ann)[1], None
        else:
            return None, None, None
    return ann, info, None


def _describe(ann: Any, info: Any = None) -> str:
    """What a field allows, in words (from its type and constraints)."""
    if info is not None and info.description:
        return info.description
    ann, members = _unwrap(ann)
    if members:
        return " or ".join(_describe(m) for m in members)
    origin = typing.get_origin(ann)
    if ann is float:
        text = "a number"
    elif ann is int:
        text = "a whole number"
    elif ann is str:
        text = "text"
    elif origin is list:
        item = typing.get_args(ann)[0]
        text = (f"a list of {item.__name__.lower()} mappings" if isinstance(item, type) and issubclass(item, BaseModel)
                else "a list of names")
    elif origin is dict:
        value = typing.get_args(ann)[1]
        text = "a mapping of name: " + ("number" if value is float else "mapping" if typing.get_origin(value) is dict
                                        else "value")
    elif isinstance(ann, type) and issubclass(ann, BaseModel):
        keys = list(ann.model_fields) + (["preset"] if ann is Population else [])
        text = "a mapping with keys " + ", ".join(keys)
    else:
        text = "a value"
    limits, extra = [], []
    for m in (info.metadata if info is not None else ()):
        for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(m, attr, None) is not None:
                limits.append(f"{op} {_num(getattr(m, attr))}")
        if getattr(m, "min_length", None):
            extra.append(f"at least {m.min_length} item" + ("s" if m.min_length > 1 else "") if origin is list
                         else f"at least {m.min_length} character" + ("s" if m.min_length > 1 else ""))
        if getattr(m, "max_length", None):
            extra.append(f"at most {m.max_length} " + ("items" if origin is list else "characters"))
        if getattr(m, "pattern", None):
            extra.append("only letters, digits and _ . + -" if m.pattern == NAME_RE else f"matching {m.pattern}")
    return text + (" " + " and ".join(limits) if limits else "") + (" with " + ", ".join(extra) if extra else "")


def _num(v: float) -> str:
    if isinstance(v, int):
        return "2^63" if v == 2**63 else f"{v:,}"
    return f"{v:g}"


def _rule(ann: Any, info: Any) -> str | None:
    """What a cohort validator allows (its messages say what is wrong, not always what is right)."""
    if ann is TruncatedNormal:
        return "a mapping mean, sd, min, max with sd > 0, min < max and min <= mean <= max"
    if ann is TruncatedLogNormal:
        return "a mapping median, gsd, min, max with gsd > 1 and 0 < min < median < max"
    for name, (allowed, _) in _CATEGORIES.items():
        if info is Population.model_fields[name]:
            return "shares of " + ", ".join(allowed) + " that are >= 0 and sum to 1"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_validation_error(err: ValidationError, source: str) -> InputError:
    """One line per problem: file, dotted field path (as for ``--set``), what is wrong, the value, what is allowed."""
    entries: list[tuple[tuple, bool, str]] = []
    for e in err.errors():
        raw = tuple(e["loc"])
        loc = tuple(x for x in raw if not (isinstance(x, str) and _UNION_TAG.match(x)))
        from_union = len(loc) < len(raw)
        msg = e["msg"].removeprefix("Value error, ")
        inp = e.get("input")
        ctx_err = (e.get("ctx") or {}).get("error")
        ann, info, holder = _field_at(loc)
        allowed: str | None = None
        got = ""
        if isinstance(ctx_err, _FieldError):
            loc = loc + ctx_err.path
            msg, allowed = str(ctx_err), ctx_err.allowed
            got = f" (got {_show(ctx_err.value)})" if ctx_err.value is not None else ""
        elif e["type"] == "extra_forbidden":
            keys = list(holder.model_fields) + (["preset"] if holder is Population else []) if holder else []
            msg = f"unknown key '{loc[-1]}'"
            allowed = _suggest(loc[-1], keys) if keys else None
        elif e["type"] == "missing":
            msg, allowed = "required field is missing", _describe(ann, info)
        elif e["type"] in ("value_error", "assertion_error"):
            if "allowed" not in msg:   # a validator that says what is wrong: add what is allowed
                allowed = _rule(ann, info)
                if isinstance(inp, dict) and ann is not TruncatedNormal and ann is not TruncatedLogNormal:
                    got = f" (got {_show(inp)})"
        else:
            allowed = _describe(ann, info) if ann is not None else None
            if inp is None:
                msg, got = "no value given", " (got an empty value)"
            elif from_union:
                msg, got = "wrong type of value", f" (got {_show(inp)})"
            else:
                got = f" (got {_show(inp)})"
        path = ".".join(str(x) for x in loc) or "(top level)"
        line = f"{source}: field '{path}': {msg}{got}" + (f"; allowed: {allowed}" if allowed else "")
        entries.append((loc, from_union, line))
    lines = []
    for loc, from_union, line in entries:
        deeper = any(len(other) > len(loc) and other[:len(loc)] == loc for other, _, _ in entries)
        if (from_union and deeper) or line in lines:
            continue   # a union member that does not fit, when another member explains the problem
        lines.append(line)
    out = InputError("\n".join(lines))
    out.file = source
    return out


_SAFE_TAGS = (set(yaml.SafeLoader.yaml_constructors) - {None}) | {"tag:yaml.org,2002:merge",
                                                                  "tag:yaml.org,2002:value"}


def _check_yaml_nodes(root: yaml.Node, src: str) -> None:
    """Refuse tags that would build objects, and duplicate keys, naming the field path and line."""
    seen: set[int] = set()

    def walk(node: yaml.Node, path: tuple) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        where = ".".join(map(str, path)) or "(top level)"
        line = node.start_mark.line + 1
        if node.tag not in _SAFE_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise InputError(f"YAML tag '{tag}' at line {line} is not allowed: scenario files are read with a safe "
                             f"loader that never builds Python objects or runs code", file=src, field=where,
                             allowed="plain YAML values (mappings, lists, text, numbers, true/false)")
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for k, v in node.value:
                walk(k, path)
                key = k.value if isinstance(k, yaml.ScalarNode) else None
                if key is not None and key != "<<":
                    if key in first:
                        raise InputError(f"duplicate key '{key}' at line {k.start_mark.line + 1} (first given at "
                                         f"line {first[key]})", file=src, field=".".join(map(str, path + (key,))),
                                         allowed="each key once per mapping")
                    first[key] = k.start_mark.line + 1
                walk(v, path + ((key,) if key is not None else ()))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    walk(root, ())


def read_yaml(path: str | Path) -> dict:
    """Read a scenario file: UTF-8 text, plain YAML (safe loader, no object tags), a mapping at the top."""
    p = Path(path)
    if not p.is_file():
        raise InputError("scenario file not found", file=str(p), allowed="path to a YAML scenario file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text: byte 0x{raw[e.start]:02x} at line {line} cannot be decoded",
                         file=str(p), allowed="a UTF-8 encoded text file (re-save it as UTF-8)") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _check_yaml_nodes(root, str(p))
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        context = getattr(e, "context", None)
        raise InputError(f"not valid YAML{where}: {problem}" + (f" ({context})" if context else ""), file=str(p),
                         allowed="plain YAML (see scenarios/base.yaml)") from None
    if data is None:
        raise InputError("the file is empty (or holds only comments)", file=str(p),
                         allowed="a YAML mapping of scenario fields (see scenarios/base.yaml)")
    if not isinstance(data, dict):
        raise InputError(f"the top level must be a mapping of scenario fields, not a {type(data).__name__}",
                         file=str(p), value=_show(data) if not isinstance(data, (list, dict)) else None,
                         allowed="a YAML mapping of scenario fields (name, patients, cohort, strategies, ...)")
    return data


def apply_override(data: dict, assignment: str, source: str | None = None) -> dict:
    """Apply one ``PATH=VALUE`` override (VALUE parsed as YAML) to a copy of ``data`` (read from ``source``)."""
    src = (f"{source} " if source else "") + f"--set {assignment}"
    if "=" not in assignment:
        raise InputError("override must look like PATH=VALUE", file=src, allowed="e.g. --set horizon_years=20")
    path, raw = assignment.split("=", 1)
    path = path.strip()
    if not path or not re.match(r"^[A-Za-z0-9_.+\-]+$", path) or "" in path.split("."):
        raise InputError("bad field path", file=src, value=path,
                         allowed="dotted names and list indexes, e.g. strategies.0.ladder or strategies.eular.ladder")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise InputError("value is not valid YAML", file=src, value=raw) from None
    out = copy.deepcopy(data)
    node: Any = out
    parts = path.split(".")
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            idx = _list_index(node, key, src, ".".join(parts[: i + 1]))
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if key not in node or node[key] is None:
                    node[key] = {}
                node = node[key]
        else:
            raise InputError("path goes inside a value that is not a mapping or list", file=src,
                             field=".".join(parts[:i]), value=node,
                             allowed="a path that stops at this field, e.g. " + ".".join(parts[:i]))
    return out


def _list_index(node: list, key: str, src: str, field: str) -> int:
    if key.isdigit():
        idx = int(key)
        if idx >= len(node):
            raise InputError("list index out of range", file=src, field=field, value=idx,
                             allowed=f"0 to {len(node) - 1}")
        return idx
    for j, item in enumerate(node):
        if isinstance(item, dict) and item.get("name") == key:
            return j
    names = [str(x.get("name")) for x in node if isinstance(x, dict)]
    raise InputError("no list item with this name", file=src, field=field, value=key, allowed=", ".join(names))


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file (raises :class:`InputError`)."""
    data = read_yaml(path)
    for a in overrides:
        data = apply_override(data, a, str(path))
    source = str(path) + (" with --set " + " ".join(overrides) if overrides else "")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        raise format_validation_error(e, source) from None
    sc._source = source
    sc._base_dir = Path(path).resolve().parent
    return sc


def build(sc: Scenario) -> Model:
    """Compile a scenario loaded by :func:`load_scenario` (or built in Python)."""
    return sc.build(sc._source, sc._base_dir)
