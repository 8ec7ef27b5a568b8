"""Cost and utility tables: read, checked, and resolved against a scenario's ``economics:`` section.

* ``sim/data/costs.csv`` (or a scenario's own table): one unit cost per row with currency, price
  year, source and note. Item names form a fixed vocabulary (:data:`REQUIRED_COST_ITEMS`, plus one
  row per drug of the dose rules and one per adverse-event kind); a local table (e.g. Colombian
  pesos) replaces the whole file.
* ``sim/data/utilities.csv``: utility per health state (``unit = utility``) and one-off QALY loss
  per adverse-event kind (``unit = qaly_loss``).

A scenario's tables are read when it is built (:func:`sim.inputs.checks._check_economic_tables`),
so a bad table fails before any simulation. How they price a run: :mod:`sim.economics.evaluate`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.inputs.economic_settings import Economics

#: Cost categories, in the order of the ``cost_<category>`` columns.
CATEGORIES = ("drug", "administration", "monitoring", "adverse_event", "flare", "dialysis",
              "transplant", "supportive_care", "state")
#: what every costing reports per patient (and a probabilistic analysis keeps as per-strategy means)
OUTCOMES = ("cost", "qaly", "life_years", "cost_undiscounted", "qaly_undiscounted", "life_years_undiscounted")


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


def _variant(tab, values: np.ndarray, **lookups):
    """A copy of the table ``tab`` with each row's value replaced by ``values``, its cached ``keys`` and
    ``lookups`` (cached properties) given rather than read from the DataFrame again."""
    t = tab.table.copy()
    t["value"] = values
    new = dataclasses.replace(tab, table=t)
    new.__dict__.update(keys=tab.keys, **lookups)      # where functools.cached_property keeps its values
    return new


def _cost_rows(keys, values) -> dict[str, list[tuple[str, str, float, float]]]:
    rows: dict[str, list[tuple[str, str, float, float]]] = {}
    for (item, cat, unit, vial), value in zip(keys, values):
        rows.setdefault(item, []).append((cat, unit, float(value), vial))
    return rows


@dataclass(frozen=True)
class CostTable:
    """A validated table of unit costs in one currency and price year."""

    table: pd.DataFrame
    currency: str
    price_year: int
    source: str

    @cached_property
    def keys(self) -> list[tuple[str, str, str, float]]:
        """Each row's (item, category, unit, vial_mg), in the table's order."""
        t = self.table
        vial = t["vial_mg"].tolist() if "vial_mg" in t.columns else [np.nan] * len(t)
        return [(item, cat, unit, float(v)) for item, cat, unit, v in
                zip(t["item"].tolist(), t["category"].tolist(), t["unit"].tolist(), vial)]

    @cached_property
    def _rows(self) -> dict[str, list[tuple[str, str, float, float]]]:
        """item -> its rows (category, unit, value, vial_mg), built in one pass on first use (a lookup
        that filtered the DataFrame took about 0.1 ms; a probabilistic analysis prices every draw)."""
        return _cost_rows(self.keys, self.table["value"].tolist())

    def with_values(self, values) -> "CostTable":
        """The table with each row's value replaced by ``values`` (in the table's order; a parameter
        draw's prices), its lookups made from this table's rows without reading the DataFrame again."""
        values = np.asarray(values, dtype=float)
        return _variant(self, values, _rows=_cost_rows(self.keys, values.tolist()))

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


def _first_values(keys, values) -> dict[tuple[str, str], float]:
    first: dict[tuple[str, str], float] = {}
    for key, value in zip(keys, values):
        first.setdefault(key, float(value))
    return first


@dataclass(frozen=True)
class UtilityTable:
    """A validated table of state utilities and one-off QALY losses of adverse events."""

    table: pd.DataFrame
    source: str

    @cached_property
    def keys(self) -> list[tuple[str, str]]:
        """Each row's (state, unit), in the table's order."""
        return list(zip(self.table["state"].tolist(), self.table["unit"].tolist()))

    @cached_property
    def _first(self) -> dict[tuple[str, str], float]:
        """(state, unit) -> value of its first row, built in one pass on first use."""
        return _first_values(self.keys, self.table["value"].tolist())

    def with_values(self, values) -> "UtilityTable":
        """The table with each row's value replaced by ``values`` (in the table's order; a parameter
        draw's utilities), its lookups made from this table's rows without reading the DataFrame again."""
        values = np.asarray(values, dtype=float)
        return _variant(self, values, _first=_first_values(self.keys, values.tolist()))

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
