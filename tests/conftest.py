"""Shared fixtures: small runs of the shipped scenarios, simulated once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

# Everything that makes death, ESRD and flares impossible, for tests of the response mechanism.
NO_COMPETING_EVENTS = [
    "parameters.smr_lupus_nephritis=0", "parameters.death_rate_active_nephritis=0",
    "parameters.esrd_rate_active=0", "parameters.esrd_rate_partial=0", "parameters.esrd_rate_complete=0",
]
# Induction never works (every patient is classed refractory and climbs the ladder).
NO_INDUCTION_RESPONSE = [
    f"therapies.{a}.response.{k}=0" for a in ("mmf", "cyc_eurolupus") for k in ("complete", "partial")
] + [f"therapies.{a}.responders_by_class.{c}=0" for a in ("mmf", "cyc_eurolupus")
     for c in ("III", "IV", "V", "III+V", "IV+V")] + ["parameters.late_response_given_none=0"]
# No adverse event stops a course (so a course's response is judged at its assessment time).
NO_SEVERE_ADVERSE_EVENTS = [f"parameters.adverse_event_severe_share_{k}=0" for k in (
    "serious_infection", "cni_nephrotoxicity", "hypertension", "hyperglycaemia", "haemolytic_uraemic_syndrome",
    "bleeding")]
# Every patient-level response modifier set to 1 (so inputs are the evidence figures themselves).
NEUTRAL_MODIFIERS = [
    "cohort.nonadherent=0", "parameters.ancestry_response_or_african=1",
    "parameters.ancestry_response_or_latin_american=1", "parameters.asian_evidence_transfer_or=1",
    "parameters.chronicity_response_or_moderate=1", "parameters.chronicity_response_or_high=1",
    "parameters.lookalike_response_or=1",
] + [f"parameters.class_response_or_{g}_{c}=1" for g in ("b_cell", "cni") for c in ("III", "IV", "V", "III+V", "IV+V")]


def load(name: str, overrides=()):
    return sim.load_scenario(SCENARIOS / name, list(overrides))


@pytest.fixture(scope="session")
def base_run():
    """The base scenario, 600 patients, full horizon."""
    return sim.simulate(load("base.yaml"), patients=600, seed=11)


def assert_figure_files(png, svg) -> None:
    """A saved figure: both files exist, are non-trivial, and are what their suffix says."""
    assert png.exists() and svg.exists()
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()
