"""Scenarios: what to simulate, with a strict schema (the pydantic models of a scenario file).

A scenario names the population, the horizon, any parameter or therapy changes, and one or more
strategies (protocols) that differ only in data. Files are read with ``yaml.safe_load`` only (no
tags that build objects, :mod:`sim.inputs.yaml_files`) and loaded with any ``--set`` overrides by
:func:`sim.inputs.loading.load_scenario`. Every error names the file, the field path, the value and
what is allowed (:mod:`sim.inputs.messages`); the command line turns it into exit status 2 without
a traceback. :meth:`Scenario.build` checks cross-references (:mod:`sim.inputs.checks`) and compiles
the scenario into a :class:`sim.inputs.build.Model`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from sim.errors import InputError
from sim.inputs.build import Model
from sim.inputs.capacity import Capacity
from sim.inputs.checks import (REENTRY_RULES, _check_adverse_event_kinds, _check_economic_tables,
                               _check_parameter_values, _check_strategy, _strip, _suggest)
from sim.inputs.cohort import Population, preset, preset_names
from sim.inputs.economic_settings import Economics
from sim.inputs.life_table import load_life_table
from sim.inputs.parameter_files import _parameters_file
from sim.inputs.parameters import ModelParameters
from sim.inputs.psa_settings import PsaSettings
from sim.inputs.therapies import LOOKALIKE_CONDITIONS, TherapyCatalogue

_STRICT = ConfigDict(extra="forbid", frozen=True)
DEFAULT_LADDER = ["rituximab_belimumab", "tacrolimus_multitarget", "msc", "immunoadsorption"]
DEFAULT_SWITCH = {"mmf": "cyc_eurolupus", "cyc_eurolupus": "mmf", "cyc_nih": "mmf"}
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
            # e.g. a calibrated set written by sim.analysis.calibration; the scenario's own `parameters` win
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
