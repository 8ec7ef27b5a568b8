"""Who the patients are: the population a scenario describes, and virtual patients sampled from it.

Patients are sampled in blocks (see :mod:`sim.engine.streams`): one call draws every attribute of the
256 patients of a block as numpy arrays, from the named stream ``"cohort"``. A patient's
attributes depend only on the seed, the parameter draw and the patient's index, never on the
strategy, so every strategy of a scenario sees the same patients.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sim.inputs.data_files import read_data_yaml
from sim.inputs.therapies import ISN_CLASSES, LOOKALIKE_CONDITIONS

ANCESTRIES = ("white", "african", "latin_american", "asian")
#: chronic irreversible damage on the diagnostic biopsy (NIH chronicity index bands: low 0-2,
#: moderate 3-5, high >= 6): lowers the chance of response to every therapy and raises ESRD risk
CHRONICITY = ("low", "moderate", "high")
#: conditions that look like refractory nephritis but need other management (A71; review ref 42):
#: thrombotic microangiopathy (TTP or complement-mediated), antiphospholipid-syndrome nephropathy,
#: transformation to membranous nephritis
LOOKALIKES = ("none", *LOOKALIKE_CONDITIONS)
_STRICT = ConfigDict(extra="forbid", frozen=True)
#: categorical attributes of a population: allowed categories and what to call them in a message
_CATEGORIES = {"isn_class": (ISN_CLASSES, "ISN/RPS class"), "ancestry": (ANCESTRIES, "ancestry group"),
               "chronicity": (CHRONICITY, "chronicity band"), "lookalike": (LOOKALIKES, "look-alike condition")}


class TruncatedNormal(BaseModel):
    """A normal distribution truncated to [min, max] (quantiles: :func:`sim.model.quantiles.truncated_normal`)."""

    model_config = _STRICT
    mean: float
    sd: float = Field(gt=0)
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if not self.min <= self.mean <= self.max:
            raise ValueError(f"mean ({self.mean}) must lie within [min, max] = [{self.min}, {self.max}]")
        return self



class TruncatedLogNormal(BaseModel):
    """A lognormal distribution (median, geometric SD) truncated to [min, max] (quantiles:
    :func:`sim.model.quantiles.truncated_lognormal`)."""

    model_config = _STRICT
    median: float = Field(gt=0)
    gsd: float = Field(gt=1)
    min: float = Field(gt=0)
    max: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.min < self.median < self.max:
            raise ValueError(f"need min < median < max, got {self.min}, {self.median}, {self.max}")
        return self



class FieldProvenance(BaseModel):
    model_config = _STRICT
    kind: Literal["evidence", "derived", "assumption", "calibrated"] = "assumption"
    evidence: list[str] = []
    note: str = ""


def _shares(v: dict[str, float], allowed: tuple[str, ...], what: str) -> dict[str, float]:
    unknown = sorted(set(v) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; allowed: {', '.join(allowed)}")
    if any(x < 0 for x in v.values()):
        raise ValueError(f"{what} shares must be >= 0")
    total = sum(v.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"{what} shares must sum to 1 (they sum to {total:.6g})")
    return v


class Population(BaseModel):
    """The population virtual patients are sampled from (a scenario's ``cohort``)."""

    model_config = _STRICT
    description: str = ""
    age_years: TruncatedNormal
    female: float = Field(ge=0, le=1)
    isn_class: dict[str, float]
    ancestry: dict[str, float]
    weight_kg: TruncatedNormal
    height_cm: TruncatedNormal
    proteinuria_g_day: TruncatedLogNormal
    egfr_ml_min: TruncatedNormal
    nonadherent: float = Field(ge=0, le=1)
    chronicity: dict[str, float]
    lookalike: dict[str, float]
    prevalence_per_10000: float | None = Field(default=None, ge=0)
    ln_share_of_sle: float | None = Field(default=None, ge=0, le=1)
    provenance: dict[str, FieldProvenance] = {}

    @field_validator(*("isn_class", "ancestry", "chronicity", "lookalike"))
    @classmethod
    def _categories(cls, v, info):
        allowed, what = _CATEGORIES[info.field_name]
        return _shares(v, allowed, what)

    @field_validator("age_years")
    @classmethod
    def _adult(cls, v):
        if v.min < 0 or v.max > 105:
            raise ValueError("ages must lie within [0, 105] years")
        return v


def preset(name: str) -> dict:
    """The raw record of a named population preset (``default``, ``colombia``)."""
    presets = read_data_yaml("cohorts.yaml")
    if name not in presets:
        raise KeyError(name)
    return presets[name]


def preset_names() -> list[str]:
    return list(read_data_yaml("cohorts.yaml"))
