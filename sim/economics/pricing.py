"""Drug pricing: how one dose component of a regimen is priced (the rules shared by
:func:`sim.economics.evaluate.evaluate` and aggregate mode, :mod:`sim.economics.aggregate`), with
whole-vial wastage, and the yearly supportive care every patient receives before ESRD."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import InputError
from sim.inputs.economic_tables import CostTable
from sim.inputs.units import DAYS_PER_YEAR

ONE_TIME_UNITS = ("mg", "mg/kg", "mg/m2", "cells/kg", "session")
DAILY_UNITS = ("mg/day", "mg/kg/day", "g/day")
SUPPORTIVE = "supportive_care"
#: Supportive care every patient receives before ESRD (A71): RAAS blockade (blood pressure and
#: proteinuria), antimalarial, lipid control; priced per year
SUPPORTIVE_BACKGROUND = ("raas_blockade", "antimalarial", "lipid_control")


def supportive_background(costs) -> float:
    """Yearly cost of the supportive care of A71 given to every patient before ESRD."""
    return sum(costs.value(item) for item in SUPPORTIVE_BACKGROUND)


_TOL = 1e-9


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


def daily_dose_mg(unit: str, amount: float, weight):
    """The daily dose in mg of a component taken daily (:data:`DAILY_UNITS`), for patients of ``weight`` kg."""
    if unit == "mg/day":
        return amount
    if unit == "g/day":
        return amount * 1000.0
    if unit == "mg/kg/day":
        return amount * weight
    raise ValueError(f"not a daily dose unit: {unit}")  # pragma: no cover - units are checked by sim.inputs.therapies


def administration_drug_cost(kind: str, amount: float, price: float, vials, weight: np.ndarray,
                             bsa: np.ndarray) -> np.ndarray:
    """The drug cost of one administration of a one-off component (:class:`PricedComponent` ``kind``,
    ``amount``, ``price``) to patients of ``weight`` kg and body-surface area ``bsa`` m2: a fixed
    cost, cells per kg at a price per million cells, or a dose in mg (flat, per kg, per m2) at a
    price per mg, or in whole ``vials`` (largest first) when vial wastage is priced (``vials`` empty: not)."""
    n = len(weight)
    if kind == "fixed":
        return np.full(n, amount)
    if kind == "cells":
        return amount * weight / 1e6 * price
    if kind == "mg":
        dose = np.full(n, amount)
    elif kind == "mg/kg":
        dose = amount * weight
    elif kind == "mg/m2":
        dose = amount * bsa
    else:  # pragma: no cover - kinds come from price_component
        raise ValueError(f"not a one-off drug kind: {kind}")
    return _vial_cost(dose, list(vials)) if len(vials) else dose * price


@dataclass(frozen=True)
class PricedComponent:
    """How one drug (or procedure) of a regimen is priced: the rules shared by :func:`evaluate` and
    aggregate mode (:mod:`sim.economics.aggregate`; one place raises the pricing errors).

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


def dialysis_rate(costs, pd_share: float) -> float:
    """Yearly cost of dialysis: haemodialysis, with a share ``pd_share`` of the time on peritoneal
    dialysis (``economics.dialysis_pd_share``)."""
    return (1 - pd_share) * costs.value("haemodialysis") + pd_share * costs.value("peritoneal_dialysis")


def price_component(comp, costs: CostTable, infusion: float, msc: float, wastage: bool) -> PricedComponent:
    """The pricing of one dose component (InputError when the table cannot price it); with ``wastage``
    (``economics.vial_wastage``) a drug sold in vials is priced in whole vials, else per mg."""
    if comp.unit in DAILY_UNITS:
        unit, per_mg, _ = costs.drug(comp.drug)
        if unit != "per mg":
            raise InputError("a drug taken daily is priced per mg or per vial", file=costs.source,
                             field=comp.drug, value=unit, allowed="per mg, per vial")
        cap = math.inf if comp.days is None else comp.days / DAYS_PER_YEAR
        return PricedComponent("daily", comp.amount, per_mg, cap_years=cap)
    if comp.unit not in ONE_TIME_UNITS:  # pragma: no cover - units are checked by sim.inputs.therapies
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
    return PricedComponent(kind, amount, price, tuple(vials) if wastage else (), times=times, visit=visit_cost)
