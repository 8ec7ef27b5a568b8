"""The ``capacity:`` section of a scenario: limited services patients compete for (how they are
simulated: :mod:`sim.engine.services`)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.inputs.units import DAYS_PER_YEAR

HOURS_PER_YEAR = DAYS_PER_YEAR * 24
MONTH = 1 / 12
IV_UNITS = ("mg", "mg/kg", "mg/m2", "cells/kg")
SERVICES = ("msc_manufacturing", "apheresis", "infusion_chairs")


class Capacity(BaseModel):
    """The scenario's ``capacity:`` section (all services optional; absent = unlimited)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    arrivals_per_year: float = Field(gt=0, description="patients starting induction per year")
    msc_slots_per_month: int | None = Field(default=None, ge=1)
    msc_manufacture_months: float = Field(default=1.0, gt=0, le=12, description="months to manufacture one "
                                          "patient's cells (assumption: no figure in the evidence tables)")
    apheresis_sessions_per_week: int | None = Field(default=None, ge=1)
    sessions_per_patient_week: float = Field(default=3.0, gt=0, le=7, description="extracorporeal sessions a "
                                             "patient needs per week (Lewis 1992 design: 3 per week, A57)")
    infusion_chairs: int | None = Field(default=None, ge=1)
    infusion_hours: float = Field(default=4.0, gt=0, le=24, description="chair hours per infusion "
                                  "(assumption: no figure in the evidence tables)")

    @model_validator(mode="after")
    def _places(self):
        if self.apheresis_sessions_per_week is not None and self.apheresis_sessions_per_week < self.sessions_per_patient_week:
            raise ValueError(f"apheresis_sessions_per_week ({self.apheresis_sessions_per_week}) must allow at least "
                             f"one patient ({self.sessions_per_patient_week} sessions a week)")
        return self

    def services(self) -> dict[str, int]:
        """The limited services and how many patients each serves at once."""
        out = {}
        if self.msc_slots_per_month:
            out["msc_manufacturing"] = self.msc_slots_per_month
        if self.apheresis_sessions_per_week:
            out["apheresis"] = int(self.apheresis_sessions_per_week // self.sessions_per_patient_week)
        if self.infusion_chairs:
            out["infusion_chairs"] = self.infusion_chairs
        return out

    def made_before(self, therapy) -> float:
        """How long (years) after the service is found the course starts: the cells are made before an
        MSC infusion; every other service is used as the course starts."""
        need = self.needs(therapy)
        return need[1] if need is not None and need[0] == "msc_manufacturing" else 0.0

    def needs(self, therapy) -> tuple[str, float] | None:
        """The service a course of ``therapy`` needs first, and how long (years) it holds it; None if
        it needs none that is limited."""
        limited = self.services()
        if therapy.family == "cell" and "msc_manufacturing" in limited:
            return "msc_manufacturing", self.msc_manufacture_months * MONTH
        if therapy.family == "extracorporeal" and "apheresis" in limited:
            return "apheresis", therapy.duration_months * MONTH
        if "infusion_chairs" in limited and any(d.unit in IV_UNITS and d.times for d in therapy.dose):
            return "infusion_chairs", self.infusion_hours / HOURS_PER_YEAR
        return None
