"""The ``psa:`` section of a scenario: the willingness-to-pay grid, population EVPI and the
parameter groups of the EVPPI (used by :mod:`sim.reporting.psa_output`)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_GROUPS = {
    "induction response": ["therapies.mmf.", "therapies.cyc_", "parameters.second_induction_response_or"],
    "rituximab and belimumab": ["therapies.rituximab"],
    "calcineurin inhibitors": ["therapies.tacrolimus", "therapies.cyclosporine", "therapies.voclosporin"],
    "MSC and last steps": ["therapies.msc", "therapies.immunoadsorption", "therapies.plasmapheresis",
                           "therapies.ivig", "therapies.mizoribine"],
    "emerging options": ["therapies.obinutuzumab", "therapies.car_t", "therapies.anifrolumab", "therapies.ofatumumab"],
    "chronic damage and look-alikes": ["parameters.chronicity_", "parameters.lookalike_", "parameters.biopsy_",
                                       "parameters.labs_", "therapies.plasma_exchange_tma",
                                       "therapies.anticoagulation_immunoadsorption", "therapies.membranous_cni"],
    "adverse events": ["parameters.adverse_event_"],
    "ESRD hazards": ["parameters.esrd_"],
    "mortality": ["parameters.smr_", "parameters.death_"],
    "flares": ["parameters.flare_"],
    "costs": ["costs."],
    "utilities": ["utilities."],
}


class PsaSettings(BaseModel):
    """The scenario's ``psa:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    wtp_max: float | None = Field(default=None, gt=0, description="top of the WTP grid (default 3 x economics.wtp)")
    wtp_steps: int = Field(default=61, ge=2, le=1001)
    annual_incidence: float | None = Field(default=None, ge=0, description="new patients per year, for population EVPI")
    decision_years: float = Field(default=10, gt=0, le=100, description="years over which the decision "
                                  "affects new patients (population EVPI): assumption, a common choice "
                                  "for the life of a guideline; set psa.decision_years")
    parameter_groups: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_GROUPS))

    def wtp_grid(self, wtp: float):
        """The willingness-to-pay values of the CEAC, CEAF and EVPI: ``wtp_steps`` from 0 to ``wtp_max``
        (default three times the scenario's threshold ``wtp``)."""
        import numpy as np
        return np.linspace(0.0, self.wtp_max or 3 * wtp, self.wtp_steps)
