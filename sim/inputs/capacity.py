"""The ``capacity:`` section of a scenario: limited services patients compete for (how they are
simulated: :mod:`sim.engine.services`)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
