"""Shared fixtures: small runs of the shipped scenarios, simulated once per test session."""
from __future__ import annotations

import subprocess
import sys
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
# Class-specific response all zero (for an agent that must never work)
CLASSES_0 = "{III: 0, IV: 0, V: 0, III+V: 0, IV+V: 0}"
# A fixed path: IV CYC (NIH) fails at 6 months, MMF at 12, the patient is classed refractory and
# rituximab + belimumab (from 1 year) gives complete response at exactly 2 years; no adverse events.
# Add the strategy: induction cyc_nih, first assessment 6, reassessment 9, ladder [rituximab_belimumab].
FIXED_REFRACTORY_PATH = [
    "parameters.response_onset_months=12", "parameters.late_response_given_none=0",
    "therapies.cyc_nih.response.complete=0", "therapies.cyc_nih.response.partial=0",
    f"therapies.cyc_nih.responders_by_class={CLASSES_0}",
    "therapies.mmf.response.complete=0", "therapies.mmf.response.partial=0",
    f"therapies.mmf.responders_by_class={CLASSES_0}",
    "therapies.rituximab_belimumab.response.complete=1", "therapies.rituximab_belimumab.response.partial=0",
    "therapies.cyc_nih.adverse_events.serious_infection=0", "therapies.mmf.adverse_events.serious_infection=0",
    "therapies.rituximab_belimumab.adverse_events.serious_infection=0",
]
FIXED_REFRACTORY_STRATEGY = ("{name: det, induction: cyc_nih, first_assessment_months: 6, reassessment_months: 9,"
                             " ladder: [rituximab_belimumab]")
# Every patient-level response modifier set to 1 (so inputs are the evidence figures themselves).
NEUTRAL_MODIFIERS = [
    "cohort.nonadherent=0", "parameters.ancestry_response_or_african=1",
    "parameters.ancestry_response_or_latin_american=1", "parameters.asian_evidence_transfer_or=1",
    "parameters.chronicity_response_or_moderate=1", "parameters.chronicity_response_or_high=1",
    "parameters.lookalike_response_or=1",
] + [f"parameters.class_response_or_{g}_{c}=1" for g in ("b_cell", "cni") for c in ("III", "IV", "V", "III+V", "IV+V")]


def run_lnsim(*args, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """The command line in a child process (exit status, stdout, stderr), as a user runs it."""
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def metric(run, strategy: str, name: str) -> float:
    """One summary metric of one strategy of a run."""
    s = run.summary
    return float(s[(s["strategy"] == strategy) & (s["metric"] == name)]["value"].iloc[0])


def load(name: str, overrides=()):
    return sim.load_scenario(SCENARIOS / name, list(overrides))


def run_plain_python(code: str, *args) -> str:
    """Run ``code`` (``python -c``, with ``args``) with the compiler switched off (NUMBA_DISABLE_JIT=1:
    the clinical core as plain Python); its standard output. The calling test must itself run compiled,
    since it compares the two."""
    import os
    assert os.environ.get("NUMBA_DISABLE_JIT", "0") == "0", "run this test compiled: it compares against plain Python"
    r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                       env=dict(os.environ, NUMBA_DISABLE_JIT="1"), cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def compiled_stream(seed: int, draw: int, block: int, name: str, shape=(), exponential: bool = False):
    """Stream ``name`` of a block as the compiled generator draws it (:func:`sim.engine.rng.draw_into`),
    shaped as :func:`sim.engine.streams.uniforms` (or ``exponentials``) gives it: (BLOCK_SIZE, *shape)."""
    import numpy as np
    from sim.engine import rng, streams
    shape = tuple(shape)
    k, m = (shape[0] if shape else 1), int(np.prod(shape[1:], dtype=np.int64))
    dest = np.full((streams.BLOCK_SIZE, 1, k, m), np.nan)
    rng.draw_into(dest, seed, draw, block, [name], exponential=[exponential])
    return dest.reshape((streams.BLOCK_SIZE, *shape))


#: Hand-picked scenarios that exercise every branch of the core and every pricing rule:
#: name -> (scenario file, overrides, patients, seed)
CASES = {
    "base": ("base.yaml", [], 300, 11),
    "eular_vs_acr": ("eular_vs_acr.yaml", [], 300, 5),
    # flare re-entry at the start of the ladder / at induction, mixed induction agents (induction_choice stream)
    "ladder_reentry_mixed_induction": ("base.yaml", [
        "strategies.0.flare_reentry=ladder", "strategies.0.induction={cyc_nih: 0.5, mmf: 0.5}",
        "strategies.1.flare_reentry=induction", "strategies.1.induction={cyc_nih: 0.3, mmf: 0.7}",
        "parameters.flare_rate_remission=0.3"], 300, 7),
    # many flares and ESRD in a short horizon: dialysis, transplant and graft failure
    "renal_replacement": ("base.yaml", [
        "horizon_years=12", "parameters.flare_rate_remission=0.8", "parameters.esrd_rate_active=0.3",
        "parameters.esrd_rate_partial=0.15", "parameters.esrd_rate_complete=0.08",
        "parameters.transplant_rate_on_dialysis=0.5", "parameters.graft_failure_rate=0.3"], 300, 9),
    # more than 16 flares and 8 courses of one drug per patient: the '#1', '#2' stream chunks
    "stream_chunks": ("base.yaml", ["parameters.flare_rate_remission=3", "parameters.maintenance_years=0.5",
                                    "horizon_years=30"], 100, 17),
    # work-up of a non-response (screening and repeat biopsy; screening only), many look-alikes and much
    # chronic damage: reclassification, no escalation, the look-alikes' management, also after a flare
    "workup": ("base.yaml", [
        "strategies.0.workup.repeat_biopsy=true", "strategies.0.workup.screen_lookalikes=true",
        "strategies.1.workup.screen_lookalikes=true",
        "cohort.lookalike={none: 0.4, tma: 0.2, aps_nephropathy: 0.2, membranous: 0.2}",
        "cohort.chronicity={low: 0.3, moderate: 0.3, high: 0.4}", "parameters.flare_rate_remission=0.4"], 400, 8),
    # every serious infection and CNI nephrotoxicity severe (stops the course), kidney-damaging adverse
    # events with large ESRD hazard ratios (rebased hazard clocks), with a work-up; immunoadsorption after
    # a severe infection (A59) in the strategy whose ladder also ends with it
    "severe_adverse_events": ("base.yaml", [
        "strategies.0.after_severe_infection=immunoadsorption",
        "parameters.adverse_event_severe_share_serious_infection=1",
        "parameters.adverse_event_severe_share_cni_nephrotoxicity=1",
        "parameters.adverse_event_esrd_hr_cni_nephrotoxicity=4", "parameters.adverse_event_severe_share_hypertension=1",
        "strategies.1.workup.repeat_biopsy=true"], 400, 12),
}


#: The engines the behavioural, invariant and direction tests run on. Both must give the same
#: trajectories on scenarios without a ``capacity:`` section (tests/test_engines_agree.py), so every
#: such test checks the clinical core through each of them; a test that exercises capacity limits
#: does not take the ``engine`` fixture (the fast engine refuses capacities) and says why.
ENGINES = ("simpy", "fast")


@pytest.fixture(scope="session", params=ENGINES, ids=[f"engine={e}" for e in ENGINES])
def engine(request) -> str:
    """The engine a test simulates with (``sim.simulate(..., engine=engine)``); session-scoped so
    module- and session-scoped runs can be cached per engine."""
    return request.param


_BASE_RUNS: dict[str, sim.SimulationResult] = {}


def base_run_on(engine: str) -> sim.SimulationResult:
    """The base scenario, 600 patients, full horizon, on one engine (simulated once per session)."""
    if engine not in _BASE_RUNS:
        _BASE_RUNS[engine] = sim.simulate(load("base.yaml"), patients=600, seed=11, engine=engine)
    return _BASE_RUNS[engine]


@pytest.fixture(scope="session")
def base_run():
    """The base scenario, 600 patients, full horizon (SimPy engine)."""
    return base_run_on("simpy")


@pytest.fixture(scope="session")
def engine_base_run(engine):
    """The base scenario, 600 patients, full horizon, on each engine (the ``engine`` fixture)."""
    return base_run_on(engine)


def assert_figure_files(png, svg) -> None:
    """A saved figure: both files exist, are non-trivial, and are what their suffix says."""
    assert png.exists() and svg.exists()
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()


def assert_same_aggregate(got, want, label: str = "") -> None:
    """Two aggregate-mode results (sim.economics.aggregate.AggregateResult) are the same, bit for bit:
    every outcome, the costs by category and the times of ESRD and death."""
    import numpy as np
    from sim.inputs.economic_tables import OUTCOMES
    for f in (*OUTCOMES, "cost_by_category", "esrd_time", "death_time"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f"{label} {f}")


def assert_aggregate_equals(agg, ev) -> None:
    """Aggregate mode's per-patient results (sim.economics.aggregate.AggregateResult) equal evaluate's
    (``ev``: sim.economics.evaluate's result) to rounding."""
    import numpy as np
    import pandas.testing as pdt
    got = agg.frame()
    want = ev.patients.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    pdt.assert_frame_equal(got[["strategy", "patient"]], want[["strategy", "patient"]])
    for col in got.columns[2:]:
        np.testing.assert_allclose(got[col].to_numpy(), want[col].to_numpy(), rtol=1e-9, atol=0, err_msg=col)
