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
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from sim.cohort import Population, preset, preset_names
from sim.errors import InputError
from sim.parameters import ModelParameters
from sim.therapies import TherapyCatalogue

_STRICT = ConfigDict(extra="forbid", frozen=True)
DEFAULT_LADDER = ["rituximab_belimumab", "tacrolimus_multitarget", "msc", "immunoadsorption"]
DEFAULT_SWITCH = {"mmf": "cyc_eurolupus", "cyc_eurolupus": "mmf", "cyc_nih": "mmf"}
REENTRY_RULES = ("same_step", "induction", "ladder")
NAME_RE = r"^[A-Za-z0-9_.+-]+$"


class Strategy(BaseModel):
    """One protocol: induction agent(s), Figure 2 timing, the Figure 3 ladder, flare re-entry."""

    model_config = _STRICT
    name: str = Field(pattern=NAME_RE, min_length=1, max_length=64)
    description: str = ""
    induction: str | dict[str, float] = "mmf"
    switch: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_SWITCH))
    first_assessment_months: float = Field(default=3.0, gt=0, le=24)
    reassessment_months: float = Field(default=6.0, gt=0, le=36)
    ladder: list[str] = Field(default_factory=lambda: list(DEFAULT_LADDER))
    ladder_assessment_months: dict[str, float] = {}
    maintenance: str = "mmf_maintenance"
    flare_reentry: str = "same_step"

    @model_validator(mode="after")
    def _timing(self):
        if self.reassessment_months <= self.first_assessment_months:
            raise ValueError(f"reassessment_months ({self.reassessment_months}) must be later than "
                             f"first_assessment_months ({self.first_assessment_months})")
        if isinstance(self.induction, dict):
            total = sum(self.induction.values())
            if any(v < 0 for v in self.induction.values()) or abs(total - 1) > 1e-6:
                raise ValueError(f"induction shares must be >= 0 and sum to 1 (sum {total:.6g})")
        if len(set(self.ladder)) != len(self.ladder):
            raise ValueError("a ladder lists each therapy once")
        for k, v in self.ladder_assessment_months.items():
            if k not in self.ladder:
                raise ValueError(f"ladder_assessment_months names '{k}', which is not in the ladder")
            if not 0 < v <= 36:
                raise ValueError(f"ladder_assessment_months.{k} must lie in (0, 36] months")
        return self

    def induction_shares(self) -> dict[str, float]:
        return {self.induction: 1.0} if isinstance(self.induction, str) else dict(self.induction)


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
                try:
                    base = preset(name)
                except KeyError:
                    raise ValueError(f"cohort.preset '{name}' is unknown; allowed: {', '.join(preset_names())}")
                merged = {**base, **cohort}
                data["cohort"] = merged
        return data

    @field_validator("parameters")
    @classmethod
    def _finite(cls, v):
        for k, x in v.items():
            if not math.isfinite(x):
                raise ValueError(f"parameters.{k} must be a finite number")
        return v

    @field_validator("strategies")
    @classmethod
    def _unique(cls, v):
        names = [s.name for s in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"strategy names must be unique; repeated: {', '.join(dup)}")
        return v

    # -- compilation --------------------------------------------------------------------------
    def build(self, source: str = "scenario", base_dir: Path | None = None) -> "Model":
        """Resolve parameters, therapies and life table, and check cross-references."""
        params = ModelParameters.default().with_overrides(self.parameters, source)
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
        for i, s in enumerate(self.strategies):
            _check_strategy(s, i, therapies, source)
        life = load_life_table(self.life_table, base_dir)
        return Model(self, params, therapies, life, source)


def _strip(e: InputError) -> str:
    msg = e.args[0]
    for part in (f"{e.file}: ", f"field '{e.field}': "):
        msg = msg.replace(part, "", 1)
    if e.value is not None:
        msg = msg.replace(f" (got {e.value!r})", "")
    if e.allowed:
        msg = msg.replace(f"; allowed: {e.allowed}", "")
    return msg


_PROBABILITY_PARAMS = ("late_cr_given_partial", "late_response_given_none")


def _check_parameter_values(params: ModelParameters, source: str) -> None:
    for name in params.names():
        v = params[name]
        if name in _PROBABILITY_PARAMS and not 0 <= v <= 1:
            raise InputError("probability outside [0, 1]", file=source, field=f"parameters.{name}", value=v,
                             allowed="0 to 1")
        if v < 0:
            raise InputError("must not be negative", file=source, field=f"parameters.{name}", value=v,
                             allowed=">= 0")
        if (name.endswith("_or") or "_or_" in name) and v <= 0:
            raise InputError("odds ratios must be positive", file=source, field=f"parameters.{name}",
                             value=v, allowed="> 0")


def _check_strategy(s: Strategy, i: int, therapies: TherapyCatalogue, source: str) -> None:
    where = f"strategies[{i}]({s.name})"

    def need(name: str, role: str, field: str) -> None:
        if name not in therapies:
            raise InputError(f"unknown therapy", file=source, field=f"{where}.{field}", value=name,
                             allowed=", ".join(therapies.names(role)))
        if role not in therapies[name].roles:
            raise InputError(f"therapy cannot be used as {role}", file=source, field=f"{where}.{field}",
                             value=name, allowed=", ".join(therapies.names(role)))

    for agent in s.induction_shares():
        need(agent, "induction", "induction")
        if agent not in s.switch:
            raise InputError("no switch partner for this induction agent", file=source, field=f"{where}.switch",
                             value=agent, allowed="a mapping agent: partner for every induction agent")
    for a, b in s.switch.items():
        need(a, "induction", f"switch.{a}")
        need(b, "induction", f"switch.{a}")
    for step in s.ladder:
        need(step, "ladder", "ladder")
    need(s.maintenance, "maintenance", "maintenance")
    if s.flare_reentry not in REENTRY_RULES and s.flare_reentry not in s.ladder:
        raise InputError("unknown flare re-entry rule", file=source, field=f"{where}.flare_reentry",
                         value=s.flare_reentry, allowed=", ".join(REENTRY_RULES) + " or a step of the ladder")


@dataclass(frozen=True)
class LifeTable:
    """Background mortality: annual hazard by single year of age (0 .. max) and sex."""

    female: np.ndarray
    male: np.ndarray
    source: str


def load_life_table(path: str | None, base_dir: Path | None = None) -> LifeTable:
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
            raise InputError("life table file not found", file=src, field="life_table",
                             allowed="a CSV file with columns age,female,male")
        try:
            df = pd.read_csv(p, comment="#")
        except Exception as e:  # pandas raises many kinds
            raise InputError(f"cannot read CSV ({e.__class__.__name__})", file=src, field="life_table") from None
    for col in ("age", "female", "male"):
        if col not in df.columns:
            raise InputError("missing column", file=src, field=col, allowed="columns age,female,male")
    ages = df["age"].to_numpy()
    if len(ages) < 2 or ages[0] != 0 or not np.array_equal(ages, np.arange(len(ages))):
        raise InputError("ages must be 0, 1, 2, ... without gaps", file=src, field="age")
    for col in ("female", "male"):
        h = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(h)) or np.any(h <= 0):
            bad = df[col][~(np.isfinite(h) & (h > 0))].iloc[0]
            raise InputError("hazards must be positive finite numbers", file=src, field=col, value=bad,
                             allowed="> 0 (annual hazard)")
    return LifeTable(df["female"].to_numpy(float), df["male"].to_numpy(float), src)


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

def format_validation_error(err: ValidationError, source: str) -> InputError:
    lines = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        inp = e.get("input")
        got = ""
        if inp is not None and not isinstance(inp, (dict, list)):
            got = f" (got {inp!r})"
        elif isinstance(inp, (dict, list)) and e["type"] in ("extra_forbidden",):
            got = ""
        if e["type"] == "extra_forbidden":
            msg = "unknown key; check the spelling against the documented fields"
        lines.append(f"{source}: field '{loc}': {msg}{got}")
    return InputError("\n".join(lines))


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError("scenario file not found", file=str(p), allowed="path to a YAML scenario file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputError(f"not valid YAML{where}: {problem}", file=str(p),
                         allowed="plain YAML (no object-building tags)") from None
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file", file=str(p)) from None
    if not isinstance(data, dict):
        raise InputError("a scenario must be a YAML mapping of fields", file=str(p), value=type(data).__name__)
    return data


def apply_override(data: dict, assignment: str) -> dict:
    """Apply one ``PATH=VALUE`` override (VALUE parsed as YAML) to a copy of ``data``."""
    src = f"--set {assignment}"
    if "=" not in assignment:
        raise InputError("override must look like PATH=VALUE", file=src)
    path, raw = assignment.split("=", 1)
    path = path.strip()
    if not path or not re.match(r"^[A-Za-z0-9_.+\-]+$", path):
        raise InputError("bad field path", file=src, value=path, allowed="dotted names, e.g. strategies.0.ladder")
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
                             field=".".join(parts[:i]))
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
        data = apply_override(data, a)
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
