"""The ``economics:`` section of a scenario: tables, discounting, perspective, currency, price year,
willingness to pay, vial wastage and dialysis modality mix (how these are applied:
:mod:`sim.economics.evaluate`)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sim.errors import InputError

#: Named annual discount rates as ``(costs, outcomes)``.
DISCOUNT_PRESETS: dict[str, tuple[float, float]] = {
    # 3% for costs and outcomes: the US Second Panel on Cost-Effectiveness in Health
    # and Medicine (Sanders et al., JAMA 2016) and the most common default.
    "default": (0.03, 0.03),
    # NICE reference case, England: 3.5% for costs and health effects (NICE health
    # technology evaluations manual, PMG36, 2022).
    "nice": (0.035, 0.035),
    # Colombia, IETS methods manual for economic evaluations (Manual para la
    # elaboración de evaluaciones económicas en salud, 2014): 5% for both.
    "iets_colombia": (0.05, 0.05),
}


#: Why 10% of dialysis time is costed as peritoneal dialysis (printed in the parameter table)
DIALYSIS_PD_SHARE_NOTE = ("share of dialysis time on peritoneal dialysis, the rest haemodialysis: assumption, about "
                          "one in ten, as in the United States, where 11% of incident ESKD patients started on "
                          "peritoneal dialysis in 2018 (P01; an incident share, the prevalent share of dialysis "
                          "time was not retrieved); set economics.dialysis_pd_share")


#: Default willingness to pay per QALY in US dollars: the lower of the $100,000-$150,000 per QALY
#: thresholds of the ICER (Institute for Clinical and Economic Review) LN assessment (B58).
DEFAULT_WTP_USD = 100_000.0


class Economics(BaseModel):
    """The ``economics:`` section of a scenario (every field has a default).

    ``discount`` names a preset of :data:`sim.inputs.economic_settings.DISCOUNT_PRESETS` ("default" 3%/3%, "nice"
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


def willingness_to_pay(econ: Economics, currency: str) -> float:
    if econ.wtp is not None:
        return float(econ.wtp)
    if currency.upper() == "USD":
        return DEFAULT_WTP_USD
    raise InputError("no default willingness to pay for this currency", field="economics.wtp", value=currency,
                     allowed=f"set economics.wtp in {currency} per QALY (the default US$100,000 is for USD)")
