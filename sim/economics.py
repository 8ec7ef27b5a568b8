"""Health economics: costs, QALYs and life years from a finished simulation ("simulate, then cost").

The pathway writes health-state segments and events only; this module prices them afterwards,
vectorised over the ``states`` and ``events`` tables, so a new cost table, utility table or
discount rate never needs a new simulation (:func:`recost`).

Inputs
------
* ``sim/data/costs.csv`` (or a scenario's own table): one unit cost per row with currency, price
  year, source and note. Item names form a fixed vocabulary (:data:`REQUIRED_COST_ITEMS`, plus one
  row per drug of the dose rules and one per adverse-event kind); a local table (e.g. Colombian
  pesos) replaces the whole file.
* ``sim/data/utilities.csv``: utility per health state (``unit = utility``) and one-off QALY loss
  per adverse-event kind (``unit = qaly_loss``).
* ``economics:`` section of the scenario (:class:`Economics`): tables, discounting, perspective,
  currency and price year (checked against the table), willingness to pay, vial wastage, dialysis
  modality mix.

What is costed (and when)
-------------------------
Flows accrue at a constant annual rate over an interval and are discounted exactly with
:func:`sim.cea.discounted_duration`; one-off amounts are discounted at their instant with
:func:`sim.cea.discount_factor`.

* Courses: each ``therapy_start`` (induction or ladder step) and ``maintenance_start`` event starts
  a course; it lasts while the patient's therapy stays the same (to the next course, death, ESRD
  or the horizon).

  - Dose components given a number of ``times`` (units mg, mg/kg, mg/m2, cells/kg, session) are
    administered at ``start + k * duration / times`` (k = 0 .. times - 1; ``duration`` =
    the therapy's ``duration_months``) and only while the course lasts, each discounted at its own
    instant. Each mg-type administration is one infusion visit; a cells/kg administration is one
    MSC infusion; a session component is priced per session (administration category).
  - Daily components (mg/day, mg/kg/day, g/day) accrue for the time actually spent on the course,
    capped at ``days`` from its start; maintenance courses accrue for all time on maintenance
    (their ``days`` is per year).
  - Doses use the patient's own weight and body-surface area. With ``vial_wastage`` each
    administration uses the cheapest whole-vial combination covering the dose; without it the
    dose is priced per mg at the cheapest price per mg among the vial sizes (so wastage can never
    lower a cost). A drug priced ``per administration`` costs the same whatever the dose.
  - Administration: an item ``<drug>_administration`` (category administration), when the table
    has one, replaces the default visit of that drug (``infusion_visit`` for mg-type doses,
    ``msc_infusion`` for cells/kg doses); e.g. CAR T lymphodepletion and inpatient monitoring.
  - Monitoring: immunosuppression safety labs for time on any course; CNI trough levels for time on
    a therapy of family ``cni``.
* Health states (per year): nephrology follow-up by state (active, partial, complete response);
  CKD care while on supportive care (``therapy == "supportive_care"``, or active nephritis off
  therapy after the ladder is exhausted); RAAS blockade, antimalarial and lipid control for all time
  before ESRD (A71); dialysis at ``(1 - pd_share) * haemodialysis + pd_share * peritoneal``; transplant
  follow-up from one year after the transplant.
* Events: adverse event (cost item = its kind, plus a one-off QALY loss), renal flare by severity
  (detail ``"n:severe"`` / ``"n:moderate"``; a bare number counts as moderate), transplant (first
  year, one-off), repeat biopsy and look-alike screening (at their ``repeat_biopsy`` and
  ``lookalike_screen`` events: only strategies with a ``workup`` have them).

Utilities: by state; active nephritis after a renal flare takes the flare-severity utility until
the next response; supportive care takes the CKD utility. Life years are the discounted time alive
within the horizon (outcome discount rate).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from functools import cached_property
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sim.cea import DISCOUNT_PRESETS, discount_factor, discounted_duration, incremental_analysis
from sim.errors import InputError

__all__ = [
    "CATEGORIES",
    "COST_COLUMNS",
    "UTILITY_COLUMNS",
    "REQUIRED_COST_ITEMS",
    "REQUIRED_UTILITY_STATES",
    "DEFAULT_WTP_USD",
    "CostTable",
    "UtilityTable",
    "Economics",
    "EconomicResult",
    "load_cost_table",
    "load_utility_table",
    "evaluate",
    "recost",
]

#: Cost categories, in the order of the ``cost_<category>`` columns.
CATEGORIES = ("drug", "administration", "monitoring", "adverse_event", "flare", "dialysis",
              "transplant", "supportive_care", "state")
COST_UNITS = ("per mg", "per vial", "per million cells", "per administration", "per session",
              "per infusion visit", "per year", "per event")
#: How a drug may be priced: by mg, by whole vials (``vial_mg`` gives the size), per million cells
#: (cell products dosed in cells/kg), or at a flat price per administration whatever the dose
#: (e.g. a CAR T product).
DRUG_UNITS = ("per mg", "per vial", "per million cells", "per administration")
KINDS = ("evidence", "derived", "assumption")
COST_COLUMNS = ("item", "category", "unit", "value", "currency", "price_year", "source", "note")
UTILITY_COLUMNS = ("state", "value", "source", "note")
UTILITY_UNITS = ("utility", "qaly_loss")
UTILITY_RANGE = (-0.6, 1.0)   # the lowest EQ-5D-3L (UK tariff) value is -0.594: states worse than death

#: Non-drug items every cost table must price: item -> (category, unit).
REQUIRED_COST_ITEMS: dict[str, tuple[str, str]] = {
    "infusion_visit": ("administration", "per infusion visit"),
    "msc_infusion": ("administration", "per infusion visit"),
    "immunosuppression_labs": ("monitoring", "per year"),
    "cni_trough_monitoring": ("monitoring", "per year"),
    "repeat_biopsy": ("monitoring", "per event"),
    "lookalike_screening": ("monitoring", "per event"),
    "state_active_nephritis": ("state", "per year"),
    "state_partial_response": ("state", "per year"),
    "state_complete_response": ("state", "per year"),
    "renal_flare_moderate": ("flare", "per event"),
    "renal_flare_severe": ("flare", "per event"),
    "haemodialysis": ("dialysis", "per year"),
    "peritoneal_dialysis": ("dialysis", "per year"),
    "transplant_first_year": ("transplant", "per event"),
    "transplant_followup": ("transplant", "per year"),
    "raas_blockade": ("supportive_care", "per year"),
    "antimalarial": ("supportive_care", "per year"),
    "lipid_control": ("supportive_care", "per year"),
    "ckd_supportive_care": ("supportive_care", "per year"),
}
#: Utility rows every utility table must have (unit ``utility``).
REQUIRED_UTILITY_STATES = ("active_nephritis", "partial_response", "complete_response", "flare_moderate",
                           "flare_severe", "ckd", "dialysis", "transplant")

#: Why 10% of dialysis time is costed as peritoneal dialysis (printed in the parameter table)
DIALYSIS_PD_SHARE_NOTE = ("share of dialysis time on peritoneal dialysis, the rest haemodialysis: assumption (about "
                          "one in ten dialysis patients in high-income registries, from memory; no modality mix "
                          "in the evidence tables); set economics.dialysis_pd_share")

#: Default willingness to pay per QALY in US dollars: the lower of the $100,000-$150,000 per QALY
#: thresholds of the ICER (Institute for Clinical and Economic Review) LN assessment (B58).
DEFAULT_WTP_USD = 100_000.0

DAYS_PER_YEAR = 365.25
ONE_TIME_UNITS = ("mg", "mg/kg", "mg/m2", "cells/kg", "session")
DAILY_UNITS = ("mg/day", "mg/kg/day", "g/day")
SUPPORTIVE = "supportive_care"
#: Supportive care every patient receives before ESRD (A71): RAAS blockade (blood pressure and
#: proteinuria), antimalarial, lipid control; priced per year
SUPPORTIVE_BACKGROUND = ("raas_blockade", "antimalarial", "lipid_control")


def supportive_background(costs) -> float:
    """Yearly cost of the supportive care of A71 given to every patient before ESRD."""
    return sum(costs.value(item) for item in SUPPORTIVE_BACKGROUND)
_PRE_ESRD = ("active_nephritis", "partial_response", "complete_response")
_TOL = 1e-9


# ==============================================================================================
# Scenario section
# ==============================================================================================

class Economics(BaseModel):
    """The ``economics:`` section of a scenario (every field has a default).

    ``discount`` names a preset of :data:`sim.cea.DISCOUNT_PRESETS` ("default" 3%/3%, "nice"
    3.5%/3.5%, "iets_colombia" 5%/5%); ``discount_costs`` / ``discount_outcomes`` override the
    preset's rate for costs / for QALYs and life years. ``currency`` and ``price_year`` default to
    those of the cost table; when given they must agree with it. ``wtp`` (per QALY, in the table's
    currency) defaults to US$100,000 (B58, ICER thresholds $100k-$150k/QALY) and must be set for
    any other currency.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost_table: str | None = None
    utility_table: str | None = None
    discount: str = "default"
    discount_costs: float | None = Field(default=None, ge=0, lt=1)
    discount_outcomes: float | None = Field(default=None, ge=0, lt=1)
    perspective: Literal["health care system", "health care payer"] = "health care system"
    currency: str | None = Field(default=None, min_length=1)
    price_year: int | None = Field(default=None, ge=1900, le=2200)
    wtp: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    vial_wastage: bool = True
    dialysis_pd_share: float = Field(default=0.10, ge=0, le=1, description=DIALYSIS_PD_SHARE_NOTE)

    @field_validator("discount")
    @classmethod
    def _preset(cls, v: str) -> str:
        if v not in DISCOUNT_PRESETS:
            raise ValueError(f"unknown discount preset '{v}'; allowed: {', '.join(DISCOUNT_PRESETS)}")
        return v

    def rates(self) -> tuple[float, float]:
        """Annual discount rates (costs, outcomes): the preset, overridden by explicit rates."""
        rc, ro = DISCOUNT_PRESETS[self.discount]
        if self.discount_costs is not None:
            rc = self.discount_costs
        if self.discount_outcomes is not None:
            ro = self.discount_outcomes
        return float(rc), float(ro)


# ==============================================================================================
# Tables
# ==============================================================================================

def _resolve(path: str | None, base_dir: Path | None, default: str) -> tuple[Path | None, str]:
    if path is None:
        return None, f"sim/data/{default} (built-in)"
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:     # relative to the scenario file, like life_table
        p = Path(base_dir) / p
    return p, str(p)


def _read_csv(path: Path | None, default: str, src: str, field: str, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        if path is None:
            with resources.files("sim").joinpath("data", default).open("r", encoding="utf-8") as fh:
                df = pd.read_csv(fh, dtype=str, keep_default_na=False)
        else:
            if not path.is_file():
                raise InputError("file not found", file=src, field=field,
                                 allowed=f"a CSV file with columns {','.join(columns)}")
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except InputError:
        raise
    except Exception as e:  # pandas raises many kinds
        raise InputError(f"cannot read CSV ({e.__class__.__name__}: {e})", file=src, field=field) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=src, field=missing[0],
                         allowed=f"columns {','.join(columns)}")
    return df.apply(lambda s: s.str.strip())


def _numbers(df: pd.DataFrame, col: str, key: str, src: str) -> np.ndarray:
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("not a finite number", file=src, field=f"{df[key].iloc[i]}.{col}",
                         value=df[col].iloc[i], allowed="a number")
    return vals


def _kinds(df: pd.DataFrame, key: str, src: str) -> None:
    """Check the optional ``kind`` column; a table without one gets it empty (no kind stated)."""
    if "kind" not in df.columns:
        df["kind"] = ""
    else:
        for k, v in zip(df[key], df["kind"]):
            if v and v not in KINDS:
                raise InputError("unknown kind", file=src, field=f"{k}.kind", value=v, allowed=", ".join(KINDS))


@dataclass(frozen=True)
class CostTable:
    """A validated table of unit costs in one currency and price year."""

    table: pd.DataFrame
    currency: str
    price_year: int
    source: str

    @cached_property
    def _rows(self) -> dict[str, list[tuple[str, str, float, float]]]:
        """item -> its rows (category, unit, value, vial_mg), built in one pass on first use (a lookup
        that filtered the DataFrame took about 0.1 ms; a probabilistic analysis prices every draw)."""
        t = self.table
        vial = t["vial_mg"] if "vial_mg" in t.columns else [np.nan] * len(t)
        rows: dict[str, list[tuple[str, str, float, float]]] = {}
        for item, cat, unit, value, v in zip(t["item"], t["category"], t["unit"], t["value"], vial):
            rows.setdefault(item, []).append((cat, unit, float(value), float(v)))
        return rows

    def has(self, item: str) -> bool:
        return item in self._rows

    def value(self, item: str, category: str | None = None) -> float:
        """The unit cost of a non-vial item (InputError if it is missing)."""
        rows = [r for r in self._rows.get(item, ()) if category is None or r[0] == category]
        if len(rows) != 1:
            raise InputError("no unit cost for this item", file=self.source, field=item,
                             allowed=f"a row item={item}" + (f", category={category}" if category else ""))
        return rows[0][2]

    def drug(self, drug: str) -> tuple[str, float, list[tuple[float, float]]]:
        """Pricing of a drug: (unit, price per unit, vials [(size_mg, price)]); per-vial drugs come back
        as ``"per mg"`` at the cheapest price per mg, with their vials."""
        rows = [r for r in self._rows.get(drug, ()) if r[0] == "drug"]
        if not rows:
            raise InputError("no price for a drug of the dose rules", file=self.source, field=drug,
                             allowed="a row with category drug and unit " + ", ".join(DRUG_UNITS))
        unit = rows[0][1]
        if unit == "per vial":
            vials = sorted(((r[3], r[2]) for r in rows), reverse=True)
            return "per mg", min(p / s for s, p in vials), vials
        return unit, rows[0][2], []


def load_cost_table(path: str | Path | None = None, base_dir: Path | None = None) -> CostTable:
    """Read and check a cost table (``None``: the built-in ``sim/data/costs.csv``).

    Raises :class:`InputError` for a missing file or column, a non-numeric, infinite or negative
    value, an unknown category, unit or kind, a per-vial row without a positive ``vial_mg``, a
    duplicated item, a drug priced on two bases, more than one currency or price year, and a
    missing or mis-specified required item (:data:`REQUIRED_COST_ITEMS`).
    """
    p, src = _resolve(None if path is None else str(path), base_dir, "costs.csv")
    field = "economics.cost_table"
    df = _read_csv(p, "costs.csv", src, field, COST_COLUMNS)
    if df.empty:
        raise InputError("empty cost table", file=src, field=field)
    if "vial_mg" not in df.columns:
        df["vial_mg"] = ""
    for col, allowed in (("category", CATEGORIES), ("unit", COST_UNITS)):
        bad = ~df[col].isin(allowed)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"unknown {col}", file=src, field=f"{df['item'].iloc[i]}.{col}",
                             value=df[col].iloc[i], allowed=", ".join(allowed))
    if (df["item"] == "").any():
        raise InputError("empty item name", file=src, field="item")
    values = _numbers(df, "value", "item", src)
    neg = values < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise InputError("negative cost", file=src, field=f"{df['item'].iloc[i]}.value",
                         value=float(values[i]), allowed=">= 0")
    df["value"] = values
    years = pd.to_numeric(df["price_year"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(years)) or np.any(years != np.round(years)):
        i = int(np.flatnonzero(~np.isfinite(years) | (years != np.round(years)))[0])
        raise InputError("price year must be a whole year", file=src, field=f"{df['item'].iloc[i]}.price_year",
                         value=df["price_year"].iloc[i], allowed="e.g. 2017")
    currencies = sorted(set(df["currency"]))
    if len(currencies) != 1 or not currencies[0]:
        raise InputError("the table mixes currencies; convert every row to one currency first", file=src,
                         field="currency", value=", ".join(currencies), allowed="one currency")
    if len(set(years)) != 1:
        raise InputError("the table mixes price years; inflate every row to one price year first", file=src,
                         field="price_year", value=", ".join(sorted({str(int(y)) for y in years})),
                         allowed="one price year")
    _kinds(df, "item", src)
    vial = df["unit"] == "per vial"
    sizes = pd.to_numeric(df["vial_mg"].where(vial, "0"), errors="coerce").to_numpy(dtype=float)
    badv = vial.to_numpy() & ~(np.isfinite(sizes) & (sizes > 0))
    if badv.any():
        i = int(np.flatnonzero(badv)[0])
        raise InputError("a per-vial price needs the vial size in mg", file=src, field=f"{df['item'].iloc[i]}.vial_mg",
                         value=df["vial_mg"].iloc[i], allowed="a number > 0")
    df["vial_mg"] = np.where(vial, sizes, np.nan)
    drug_unit_bad = (df["category"] == "drug") & ~df["unit"].isin(DRUG_UNITS)
    if drug_unit_bad.any():
        i = int(np.flatnonzero(drug_unit_bad)[0])
        raise InputError("a drug is priced " + ", ".join(DRUG_UNITS), file=src,
                         field=f"{df['item'].iloc[i]}.unit", value=df["unit"].iloc[i], allowed=", ".join(DRUG_UNITS))
    for item, rows in df.groupby("item", sort=False):
        if rows["unit"].nunique() > 1 or rows["category"].nunique() > 1:
            raise InputError("an item is priced on one basis only (e.g. per mg or per vial, not both)", file=src,
                             field=item, value=", ".join(rows["unit"].unique()))
        if len(rows) > 1 and (rows["unit"].iloc[0] != "per vial" or rows["vial_mg"].duplicated().any()):
            raise InputError("duplicated item", file=src, field=item,
                             allowed="one row per item (several rows only for different vial sizes)")
    for item, (cat, unit) in REQUIRED_COST_ITEMS.items():
        rows = df[df["item"] == item]
        if rows.empty:
            raise InputError("required cost item missing", file=src, field=item,
                             allowed=f"a row item={item}, category={cat}, unit={unit}")
        if rows["category"].iloc[0] != cat or rows["unit"].iloc[0] != unit:
            raise InputError("wrong category or unit for a required item", file=src, field=item,
                             value=f"{rows['category'].iloc[0]}, {rows['unit'].iloc[0]}", allowed=f"{cat}, {unit}")
    return CostTable(df.reset_index(drop=True), currencies[0], int(years[0]), src)


@dataclass(frozen=True)
class UtilityTable:
    """A validated table of state utilities and one-off QALY losses of adverse events."""

    table: pd.DataFrame
    source: str

    @cached_property
    def _first(self) -> dict[tuple[str, str], float]:
        """(state, unit) -> value of its first row, built in one pass on first use."""
        first: dict[tuple[str, str], float] = {}
        for state, unit, value in zip(self.table["state"], self.table["unit"], self.table["value"]):
            first.setdefault((state, unit), float(value))
        return first

    def utility(self, state: str) -> float:
        v = self._first.get((state, "utility"))
        if v is None:
            raise InputError("no utility for this state", file=self.source, field=state)
        return v

    def qaly_loss(self, kind: str) -> float:
        v = self._first.get((kind, "qaly_loss"))
        if v is None:
            raise InputError("no QALY loss for this adverse-event kind", file=self.source, field=kind,
                             allowed=f"a row state={kind}, unit=qaly_loss (0 if none)")
        return v


def load_utility_table(path: str | Path | None = None, base_dir: Path | None = None) -> UtilityTable:
    """Read and check a utility table (``None``: the built-in ``sim/data/utilities.csv``).

    Columns ``state, value, source, note`` and optional ``unit`` (``utility``, the default, or
    ``qaly_loss`` for a one-off loss per adverse event, named by its kind) and ``kind``. Utilities
    must lie in [-0.6, 1] and QALY losses in [0, 1]; every state of
    :data:`REQUIRED_UTILITY_STATES` must be present. Raises :class:`InputError` otherwise.
    """
    p, src = _resolve(None if path is None else str(path), base_dir, "utilities.csv")
    field = "economics.utility_table"
    df = _read_csv(p, "utilities.csv", src, field, UTILITY_COLUMNS)
    if "unit" not in df.columns:
        df["unit"] = "utility"
    df["unit"] = df["unit"].replace("", "utility")
    bad = ~df["unit"].isin(UTILITY_UNITS)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("unknown unit", file=src, field=f"{df['state'].iloc[i]}.unit", value=df["unit"].iloc[i],
                         allowed=", ".join(UTILITY_UNITS))
    values = _numbers(df, "value", "state", src)
    lo, hi = UTILITY_RANGE
    for i, (state, unit, v) in enumerate(zip(df["state"], df["unit"], values)):
        if unit == "utility" and not lo <= v <= hi:
            raise InputError("utility outside the allowed range", file=src, field=f"{state}.value", value=float(v),
                             allowed=f"{lo} to {hi}")
        if unit == "qaly_loss" and not 0 <= v <= 1:
            raise InputError("QALY loss outside the allowed range", file=src, field=f"{state}.value",
                             value=float(v), allowed="0 to 1")
    df["value"] = values
    dup = df[df.duplicated(["state", "unit"], keep=False)]
    if not dup.empty:
        raise InputError("duplicated row", file=src, field=dup["state"].iloc[0], allowed="one row per state and unit")
    _kinds(df, "state", src)
    have = set(df.loc[df["unit"] == "utility", "state"])
    for s in REQUIRED_UTILITY_STATES:
        if s not in have:
            raise InputError("required state missing", file=src, field=s,
                             allowed=", ".join(REQUIRED_UTILITY_STATES))
    return UtilityTable(df.reset_index(drop=True), src)


# ==============================================================================================
# Ledger: flows and one-off amounts per patient, discounted at the end
# ==============================================================================================

class _Ledger:
    """Collects flows (rate over [t0, t1]) and one-off amounts (at t), per patient and category."""

    def __init__(self, n: int, n_cat: int):
        self.n, self.n_cat = n, n_cat
        self.flows: list[tuple[np.ndarray, ...]] = []
        self.once: list[tuple[np.ndarray, ...]] = []

    def flow(self, pidx, cat, rate, t0, t1) -> None:
        pidx = np.asarray(pidx, dtype=np.int64)
        if pidx.size == 0:
            return
        t0 = np.asarray(t0, dtype=float)
        t1 = np.maximum(np.asarray(t1, dtype=float), t0)
        self.flows.append((pidx, np.broadcast_to(np.asarray(cat, dtype=np.int64), pidx.shape),
                           np.broadcast_to(np.asarray(rate, dtype=float), pidx.shape), t0, t1))

    def one_off(self, pidx, cat, amount, t) -> None:
        pidx = np.asarray(pidx, dtype=np.int64)
        if pidx.size == 0:
            return
        self.once.append((pidx, np.broadcast_to(np.asarray(cat, dtype=np.int64), pidx.shape),
                          np.broadcast_to(np.asarray(amount, dtype=float), pidx.shape), np.asarray(t, dtype=float)))

    def totals(self, r: float) -> np.ndarray:
        """(n patients, n categories) present values at annual rate ``r``."""
        out = np.zeros(self.n * self.n_cat)
        for pidx, cat, rate, t0, t1 in self.flows:
            v = rate * np.asarray(discounted_duration(t0, t1, r), dtype=float)
            out += np.bincount(pidx * self.n_cat + cat, weights=v, minlength=out.size)
        for pidx, cat, amount, t in self.once:
            v = amount * np.asarray(discount_factor(t, r), dtype=float)
            out += np.bincount(pidx * self.n_cat + cat, weights=v, minlength=out.size)
        return out.reshape(self.n, self.n_cat)


# ==============================================================================================
# Drug pricing
# ==============================================================================================

def _vial_cost(dose_mg: np.ndarray, vials: list[tuple[float, float]]) -> np.ndarray:
    """Cheapest cost of whole vials covering each dose (vials sorted by size, largest first)."""
    dose = np.maximum(np.asarray(dose_mg, dtype=float), 0.0)
    (size, price), rest = vials[0], vials[1:]
    if not rest:
        return np.ceil(dose / size - _TOL) * price
    best = np.full(dose.shape, np.inf)
    k_max = int(np.ceil(dose.max(initial=0.0) / size - _TOL)) if dose.size else 0
    for k in range(k_max + 1):
        remaining = np.maximum(dose - k * size, 0.0)
        best = np.minimum(best, k * price + _vial_cost(remaining, rest))
    return best


# ==============================================================================================
# Evaluation
# ==============================================================================================

@dataclass
class EconomicResult:
    """Costs, QALYs and life years of one run, and the incremental analysis.

    ``patients``: one row per strategy x patient (discounted ``cost``, ``qaly``, ``life_years``,
    their ``_undiscounted`` twins and discounted ``cost_<category>``). ``summary``: long table
    ``strategy, metric, value``. ``cea``: :func:`sim.cea.incremental_analysis` on mean cost
    (``cost``) and mean discounted QALYs (``effect``), plus ``life_years``, ``nmb`` at ``wtp`` and
    the analysis settings (``wtp, perspective, currency, price_year, horizon_years,
    discount_costs, discount_outcomes``) in every row.
    """

    patients: pd.DataFrame
    summary: pd.DataFrame
    cea: pd.DataFrame
    economics: Economics
    discount_costs: float
    discount_outcomes: float
    currency: str
    price_year: int
    perspective: str
    horizon_years: float
    wtp: float
    cost_table: pd.DataFrame = field(repr=False)
    utility_table: pd.DataFrame = field(repr=False)
    cost_source: str = ""
    utility_source: str = ""

    def settings(self) -> dict[str, Any]:
        """The analysis settings, for manifests and reports."""
        return {"perspective": self.perspective, "currency": self.currency, "price_year": self.price_year,
                "horizon_years": self.horizon_years, "discount_costs": self.discount_costs,
                "discount_outcomes": self.discount_outcomes, "wtp": self.wtp,
                "vial_wastage": self.economics.vial_wastage,
                "dialysis_pd_share": self.economics.dialysis_pd_share,
                "cost_table": self.cost_source, "utility_table": self.utility_source}


def _runs(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of the run of consecutive rows (same strategy, patient and ``col``) of each row."""
    s, p, v = df["strategy"].to_numpy(), df["patient"].to_numpy(), df[col].to_numpy()
    start, stop = df["start"].to_numpy(float), df["stop"].to_numpy(float)
    new = np.ones(len(df), dtype=bool)
    if len(df) > 1:
        new[1:] = (s[1:] != s[:-1]) | (p[1:] != p[:-1]) | (v[1:] != v[:-1]) | (np.abs(start[1:] - stop[:-1]) > _TOL)
    run = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, len(df) - 1] if len(df) else first
    return start[first][run], stop[last][run]


def _latest_before(left: pd.DataFrame, left_on: str, right: pd.DataFrame, values: Sequence[str]) -> np.ndarray:
    """For each row of ``left``: the ``values`` columns of the latest ``right`` row (same strategy and
    patient) at a time <= ``left[left_on]`` (NaN if none), one merge for all of them: an array
    (rows of left, values). ``right`` has columns strategy, patient, time and the values."""
    if left.empty:
        return np.zeros((0, len(values)))
    if right.empty:
        return np.full((len(left), len(values)), np.nan)
    a = left[["strategy", "patient", left_on]].copy()
    a["_row"] = np.arange(len(a))
    a["_t"] = a[left_on].astype(float) + _TOL
    b = right[["strategy", "patient"]].assign(_t=right["time"].astype(float))
    cols = [f"_v{i}" for i in range(len(values))]
    for c, v in zip(cols, values):
        b[c] = right[v].astype(float).to_numpy()
    m = pd.merge_asof(a.sort_values("_t"), b.sort_values("_t"), on="_t", by=["strategy", "patient"],
                      direction="backward")
    return m.sort_values("_row")[cols].to_numpy(dtype=float)


def _flare_severity(detail: pd.Series) -> np.ndarray:
    """True for a severe renal flare (detail 'n:severe'); 'n:moderate' and a bare number are moderate."""
    if detail.empty:
        return np.zeros(0, dtype=bool)
    sev = detail.astype(str).str.partition(":")[2].str.strip().str.lower()
    return (sev == "severe").to_numpy()


def willingness_to_pay(econ: Economics, currency: str) -> float:
    if econ.wtp is not None:
        return float(econ.wtp)
    if currency.upper() == "USD":
        return DEFAULT_WTP_USD
    raise InputError("no default willingness to pay for this currency", field="economics.wtp", value=currency,
                     allowed=f"set economics.wtp in {currency} per QALY (the default US$100,000 is for USD)")


def resolve_tables(scenario, econ: Economics | None = None, cost_table: "CostTable | None" = None,
                   utility_table: "UtilityTable | None" = None) -> tuple[Economics, "CostTable", "UtilityTable"]:
    """The economic settings and the cost and utility tables a scenario prices with (tables given
    explicitly win over the files the settings name); currency and price year checked against the
    cost table."""
    if econ is None:
        econ = getattr(scenario, "economics", None) or Economics()
    base_dir = getattr(scenario, "_base_dir", None)
    costs = cost_table if cost_table is not None else load_cost_table(econ.cost_table, base_dir)
    utils = utility_table if utility_table is not None else load_utility_table(econ.utility_table, base_dir)
    if econ.currency is not None and econ.currency != costs.currency:
        raise InputError("currency does not agree with the cost table", file=costs.source,
                         field="economics.currency", value=econ.currency, allowed=costs.currency)
    if econ.price_year is not None and econ.price_year != costs.price_year:
        raise InputError("price year does not agree with the cost table", file=costs.source,
                         field="economics.price_year", value=econ.price_year, allowed=str(costs.price_year))
    return econ, costs, utils


def evaluate(result, econ: Economics | None = None, *, cost_table: "CostTable | None" = None,
             utility_table: "UtilityTable | None" = None) -> EconomicResult:
    """Costs, QALYs and life years of every patient of ``result``, summaries and the incremental table.

    ``result`` is a :class:`sim.simulation.SimulationResult` (or any object with ``model``,
    ``patients``, ``events`` and ``states``). ``cost_table`` / ``utility_table`` replace the tables named
    by ``econ`` (a probabilistic analysis passes sampled tables). ``econ`` defaults to the scenario's ``economics``
    section if it has one, else :class:`Economics` defaults. Raises :class:`InputError` for bad
    tables, a currency or price year that disagrees with the cost table, or a drug or adverse
    event of the simulated pathway that the tables do not price.
    """
    model = result.model
    scenario = model.scenario
    econ, costs, utils = resolve_tables(scenario, econ, cost_table, utility_table)
    wtp = willingness_to_pay(econ, costs.currency)
    rc, ro = econ.rates()
    horizon = float(scenario.horizon_years)

    pats = result.patients
    n = len(pats)
    index = pd.MultiIndex.from_frame(pats[["strategy", "patient"]])
    if not index.is_unique:
        raise ValueError("result.patients has duplicated (strategy, patient) rows")

    def pidx_of(df: pd.DataFrame) -> np.ndarray:
        idx = index.get_indexer(pd.MultiIndex.from_frame(df[["strategy", "patient"]])) if len(df) else \
            np.array([], dtype=np.int64)
        if (idx < 0).any():
            raise ValueError("states/events rows for patients missing from result.patients")
        return idx

    cat = {c: i for i, c in enumerate(CATEGORIES)}
    cost = _Ledger(n, len(CATEGORIES))
    qaly = _Ledger(n, 1)
    weight = pats["weight_kg"].to_numpy(float)
    bsa = pats["bsa_m2"].to_numpy(float)

    # -- health-state segments ------------------------------------------------------------------
    st = result.states.reset_index(drop=True)
    ev = result.events
    sp = pidx_of(st)
    t0, t1 = st["start"].to_numpy(float), st["stop"].to_numpy(float)
    state, therapy = st["state"].to_numpy(), st["therapy"].astype(str).to_numpy()
    pre = np.isin(state, _PRE_ESRD)
    supportive = pre & ((therapy == SUPPORTIVE) | ((state == "active_nephritis") & (therapy == "")))
    u = np.full(len(st), np.nan)
    for s in ("partial_response", "complete_response", "dialysis", "transplant"):
        u[state == s] = utils.utility(s)
    active = state == "active_nephritis"
    u[active] = utils.utility("active_nephritis")
    flares = ev[ev["event"] == "renal_flare"]
    flare_severe = _flare_severity(flares["detail"])
    tx = state == "transplant"
    run_start = _runs(st, "state")[0] if (active.any() and not flares.empty) or tx.any() else None
    if active.any() and not flares.empty:
        fl = pd.DataFrame({"strategy": flares["strategy"], "patient": flares["patient"],
                           "time": flares["time_years"].astype(float), "severe": flare_severe.astype(float)})
        seg = st.loc[active, ["strategy", "patient", "start"]]
        last_time, last_sev = _latest_before(seg, "start", fl, ["time", "severe"]).T
        after = np.isfinite(last_time) & (last_time >= run_start[active] - _TOL)
        uu = u[active]
        uu[after & (last_sev == 1)] = utils.utility("flare_severe")
        uu[after & (last_sev == 0)] = utils.utility("flare_moderate")
        u[active] = uu
    u[supportive] = utils.utility("ckd")
    unknown = ~np.isfinite(u)
    if unknown.any():
        raise ValueError(f"unknown health state in result.states: {sorted(set(state[unknown]))}")
    qaly.flow(sp, 0, u, t0, t1)

    for s in _PRE_ESRD:
        m = (state == s) & ~supportive
        cost.flow(sp[m], cat["state"], costs.value(f"state_{s}"), t0[m], t1[m])
    cost.flow(sp[supportive], cat["supportive_care"], costs.value("ckd_supportive_care"), t0[supportive],
              t1[supportive])
    background = supportive_background(costs)
    cost.flow(sp[pre], cat["supportive_care"], background, t0[pre], t1[pre])
    dial = state == "dialysis"
    share = econ.dialysis_pd_share
    dial_rate = (1 - share) * costs.value("haemodialysis") + share * costs.value("peritoneal_dialysis")
    cost.flow(sp[dial], cat["dialysis"], dial_rate, t0[dial], t1[dial])
    if tx.any():
        txe = ev[ev["event"] == "transplant"]
        txe = pd.DataFrame({"strategy": txe["strategy"], "patient": txe["patient"],
                            "time": txe["time_years"].astype(float)})
        tx_time = _latest_before(st.loc[tx, ["strategy", "patient", "start"]], "start", txe, ["time"])[:, 0]
        tx_time = np.where(np.isfinite(tx_time), tx_time, run_start[tx])
        cost.flow(sp[tx], cat["transplant"], costs.value("transplant_followup"),
                  np.maximum(t0[tx], tx_time + 1.0), t1[tx])

    # -- courses of therapy -----------------------------------------------------------------------
    _courses(result, st, ev, pidx_of, costs, cost, cat, weight, bsa, econ.vial_wastage)

    # -- events -----------------------------------------------------------------------------------
    ae = ev[ev["event"] == "adverse_event"]
    if not ae.empty:
        kinds = ae["detail"].astype(str).str.split(":").str[1].to_numpy()    # 'therapy:kind[:severe]'

        ep, et = pidx_of(ae), ae["time_years"].to_numpy(float)
        for kind in np.unique(kinds):
            m = kinds == kind
            cost.one_off(ep[m], cat["adverse_event"], costs.value(kind, "adverse_event"), et[m])
            qaly.one_off(ep[m], 0, -utils.qaly_loss(kind), et[m])
    if not flares.empty:
        fp, ft = pidx_of(flares), flares["time_years"].to_numpy(float)
        cost.one_off(fp, cat["flare"], np.where(flare_severe, costs.value("renal_flare_severe"),
                                                costs.value("renal_flare_moderate")), ft)
    for event, item, c in (("transplant", "transplant_first_year", "transplant"),
                           ("repeat_biopsy", "repeat_biopsy", "monitoring"),
                           ("lookalike_screen", "lookalike_screening", "monitoring")):
        e = ev[ev["event"] == event]
        cost.one_off(pidx_of(e), cat[c], costs.value(item), e["time_years"].to_numpy(float))

    # -- totals -------------------------------------------------------------------------------------
    by_cat = cost.totals(rc)
    by_cat0 = cost.totals(0.0)
    follow = pats["followup_years"].to_numpy(float)
    out = pats[["strategy", "patient"]].copy().reset_index(drop=True)
    out["cost"] = by_cat.sum(axis=1)
    out["qaly"] = qaly.totals(ro)[:, 0]
    out["life_years"] = np.asarray(discounted_duration(np.zeros(n), follow, ro), dtype=float)
    out["cost_undiscounted"] = by_cat0.sum(axis=1)
    out["qaly_undiscounted"] = qaly.totals(0.0)[:, 0]
    out["life_years_undiscounted"] = follow
    for i, c in enumerate(CATEGORIES):
        out[f"cost_{c}"] = by_cat[:, i]

    summary = _summary(out)
    means = summary.pivot(index="strategy", columns="metric", values="value")
    order = list(dict.fromkeys(out["strategy"]))
    means = means.loc[order]
    table = pd.DataFrame({"strategy": order, "cost": means["mean_cost"].to_numpy(),
                          "effect": means["mean_qaly"].to_numpy()})
    cea = incremental_analysis(table)
    cea["life_years"] = cea["strategy"].map(means["mean_life_years"])
    cea["nmb"] = cea["effect"] * wtp - cea["cost"]
    cea["wtp"] = wtp
    cea["perspective"] = econ.perspective
    cea["currency"] = costs.currency
    cea["price_year"] = costs.price_year
    cea["horizon_years"] = horizon
    cea["discount_costs"] = rc
    cea["discount_outcomes"] = ro
    return EconomicResult(out, summary, cea, econ, rc, ro, costs.currency, costs.price_year, econ.perspective,
                          horizon, wtp, costs.table, utils.table, costs.source, utils.source)


def recost(result, econ: Economics) -> EconomicResult:
    """Re-price a finished simulation with other economic settings (no re-simulation)."""
    return evaluate(result, econ)


def _summary(out: pd.DataFrame) -> pd.DataFrame:
    """Long table strategy, metric, value: means, Monte Carlo SEs and mean cost by category."""
    metrics = ["cost", "qaly", "life_years", "cost_undiscounted", "qaly_undiscounted", "life_years_undiscounted"]
    rows = []
    for strategy, g in out.groupby("strategy", sort=False):
        k = len(g)
        for m in metrics:
            x = g[m].to_numpy(float)
            se = float(np.std(x, ddof=1) / math.sqrt(k)) if k > 1 else math.nan
            rows.append((strategy, f"mean_{m}", float(np.mean(x))))
            rows.append((strategy, f"mean_{m}_se", se))
        for c in CATEGORIES:
            rows.append((strategy, f"mean_cost_{c}", float(g[f"cost_{c}"].mean())))
    return pd.DataFrame(rows, columns=["strategy", "metric", "value"])


@dataclass(frozen=True)
class PricedComponent:
    """How one drug (or procedure) of a regimen is priced: the rules shared by :func:`evaluate` and
    the fast engine's pricing (one place raises the pricing errors).

    ``kind``: ``daily`` (``price`` per mg, taken each day for at most ``cap_years`` of a course),
    ``session`` (``amount`` = the administration cost of one session), ``fixed`` (``amount`` = the drug
    cost of one administration), ``cells`` (``amount`` cells/kg at ``price`` per million cells) or the
    dose unit ``mg``, ``mg/kg``, ``mg/m2`` (``amount`` at ``price`` per mg, ``vials`` for wastage);
    one-off kinds are given ``times`` per course, each with ``visit`` (administration) cost."""

    kind: str
    amount: float
    price: float = 0.0
    vials: tuple = ()
    cap_years: float = math.inf
    times: int = 1
    visit: float = 0.0


def price_component(comp, costs: CostTable, infusion: float, msc: float) -> PricedComponent:
    """The pricing of one dose component (InputError when the table cannot price it)."""
    if comp.unit in DAILY_UNITS:
        unit, per_mg, _ = costs.drug(comp.drug)
        if unit != "per mg":
            raise InputError("a drug taken daily is priced per mg or per vial", file=costs.source,
                             field=comp.drug, value=unit, allowed="per mg, per vial")
        cap = math.inf if comp.days is None else comp.days / DAYS_PER_YEAR
        return PricedComponent("daily", comp.amount, per_mg, cap_years=cap)
    if comp.unit not in ONE_TIME_UNITS:  # pragma: no cover - units are checked by sim.therapies
        raise ValueError(f"unknown dose unit {comp.unit}")
    times = int(comp.times or 1)
    if comp.unit == "session":
        return PricedComponent("session", comp.amount * costs.value(comp.drug), times=times)
    unit, price, vials = costs.drug(comp.drug)
    if unit == "per administration":
        kind, amount = "fixed", price
    elif comp.unit == "cells/kg":
        if unit != "per million cells":
            raise InputError("a cell product dosed in cells/kg is priced per million cells or per "
                             "administration", file=costs.source, field=comp.drug, value=unit,
                             allowed="per million cells, per administration")
        kind, amount = "cells", comp.amount
    else:
        if unit != "per mg":
            raise InputError("a drug dosed in mg is priced per mg, per vial or per administration",
                             file=costs.source, field=comp.drug, value=unit,
                             allowed="per mg, per vial, per administration")
        kind, amount = comp.unit, comp.amount
    visit = f"{comp.drug}_administration"
    visit_cost = (costs.value(visit, "administration") if costs.has(visit)
                  else msc if comp.unit == "cells/kg" else infusion)
    return PricedComponent(kind, amount, price, tuple(vials), times=times, visit=visit_cost)


def _courses(result, st, ev, pidx_of, costs: CostTable, ledger: _Ledger, cat, weight, bsa, wastage: bool) -> None:
    """Drug, administration and drug-monitoring costs of every course of therapy."""
    therapies = result.model.therapies
    c = ev[ev["event"].isin(("therapy_start", "maintenance_start"))]
    c = pd.DataFrame({"strategy": c["strategy"].to_numpy(), "patient": c["patient"].to_numpy(),
                      "start": c["time_years"].to_numpy(float), "therapy": c["detail"].astype(str).to_numpy(),
                      "maintenance": (c["event"] == "maintenance_start").to_numpy()})
    c = c[c["therapy"] != SUPPORTIVE].reset_index(drop=True)
    if c.empty:
        return
    unknown = sorted(set(c["therapy"]) - set(therapies.names()))
    if unknown:
        raise ValueError(f"courses of therapies missing from the model's catalogue: {unknown}")
    # next course of the same patient (any therapy): a course never outlasts it
    c = c.sort_values(["strategy", "patient", "start"], kind="stable").reset_index(drop=True)
    same = (c["strategy"].shift(-1) == c["strategy"]) & (c["patient"].shift(-1) == c["patient"])
    nxt = np.where(same, c["start"].shift(-1), np.inf)
    # end of the run of segments on this therapy that contains the course start
    runs = st[["strategy", "patient", "therapy", "start", "stop"]].copy()
    runs["therapy"] = runs["therapy"].astype(str)
    rs, re_ = _runs(runs, "therapy")
    runs["run_start"], runs["run_end"] = rs, re_
    runs = runs.drop_duplicates(["strategy", "patient", "run_start"])
    key = ["strategy", "patient", "therapy"]
    m = pd.merge_asof(c.assign(_t=c["start"] + _TOL, _row=np.arange(len(c))).sort_values("_t"),
                      runs.assign(_t=runs["run_start"])[key + ["_t", "run_end"]].sort_values("_t"),
                      on="_t", by=key, direction="backward").sort_values("_row")
    run_end = m["run_end"].to_numpy(float)
    start = c["start"].to_numpy(float)
    end = np.where(np.isfinite(run_end) & (run_end > start), run_end, start)
    end = np.minimum(end, nxt)
    pidx = pidx_of(c)
    w, b = weight[pidx], bsa[pidx]
    infusion, msc = costs.value("infusion_visit"), costs.value("msc_infusion")
    labs, trough = costs.value("immunosuppression_labs"), costs.value("cni_trough_monitoring")
    maint = c["maintenance"].to_numpy()
    names = c["therapy"].to_numpy()
    for name in np.unique(names):
        th = therapies[name]
        sel = names == name
        ps, s0, s1, mt = pidx[sel], start[sel], end[sel], maint[sel]
        ledger.flow(ps, cat["monitoring"], labs, s0, s1)
        if th.family == "cni":
            ledger.flow(ps, cat["monitoring"], trough, s0, s1)
        duration = th.duration_months / 12.0
        for comp in th.dose:
            pc = price_component(comp, costs, infusion, msc)
            if pc.kind == "daily":
                per_day = {"mg/day": comp.amount, "mg/kg/day": comp.amount * w[sel],
                           "g/day": comp.amount * 1000.0}[comp.unit]
                stop = np.where(mt, s1, np.minimum(s1, s0 + pc.cap_years))
                ledger.flow(ps, cat["drug"], np.asarray(per_day) * DAYS_PER_YEAR * pc.price, s0, stop)
                continue
            k = np.arange(pc.times)
            t = s0[:, None] + k[None, :] * (duration / pc.times)
            given = t < s1[:, None]          # administered only while the course lasts
            rows, cols = np.nonzero(given)
            pp, tt = ps[rows], t[rows, cols]
            if pc.kind == "session":
                ledger.one_off(pp, cat["administration"], pc.amount, tt)
                continue
            if pc.kind == "fixed":
                drug_cost = np.full(len(rows), pc.amount)
            elif pc.kind == "cells":
                drug_cost = pc.amount * w[sel][rows] / 1e6 * pc.price
            else:
                dose = {"mg": np.full(len(rows), pc.amount), "mg/kg": pc.amount * w[sel][rows],
                        "mg/m2": pc.amount * b[sel][rows]}[pc.kind]
                drug_cost = _vial_cost(dose, list(pc.vials)) if (wastage and pc.vials) else dose * pc.price
            ledger.one_off(pp, cat["drug"], drug_cost, tt)
            ledger.one_off(pp, cat["administration"], pc.visit, tt)


