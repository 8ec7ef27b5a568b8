"""Deterministic one-way, scenario and Morris sensitivity analysis."""
from __future__ import annotations


import pytest

from sim.analysis import sensitivity
from sim.inputs.build import build
from tests.conftest import SCENARIOS, load, run_lnsim

OVR = ["horizon_years=5"]


@pytest.fixture(scope="module")
def model():
    return build(load("base.yaml", OVR))


def test_one_way_moves_with_the_price_of_the_add_on(model):
    t = sensitivity.one_way(model, 80, 5, names=["costs.belimumab", "parameters.flare_rate_remission"])
    assert set(t["parameter"]) == {"costs.belimumab", "parameters.flare_rate_remission"}
    assert t["base"].nunique() == 1                      # one base case, common random numbers
    bel = t[t["parameter"] == "costs.belimumab"].iloc[0]
    # rtx_alone vs rtx_belimumab: a dearer belimumab makes leaving it out worth more
    assert bel["outcome_high"] > bel["base"] > bel["outcome_low"]


def test_scenario_analysis_base_row_matches_one_way_base(model):
    loader = lambda extra: build(load("base.yaml", OVR + list(extra)))  # noqa: E731
    sa = sensitivity.scenario_analysis(loader, {"acr": ["strategies.rtx_alone.first_assessment_months=6",
                                                        "strategies.rtx_alone.reassessment_months=12"]}, 80, 5)
    ow = sensitivity.one_way(model, 80, 5, names=["costs.belimumab"])
    base = sa[(sa["scenario"] == "base case") & (sa["strategy"] == "rtx_alone")]["inmb_vs_first"].item()
    assert base == pytest.approx(ow["base"].iloc[0], rel=1e-12)
    acr = sa[sa["scenario"] == "acr"].set_index("strategy")
    # the first strategy is untouched by the override: identical results (same patients and streams)
    b0 = sa[sa["scenario"] == "base case"].set_index("strategy")
    assert acr.loc["rtx_belimumab", "cost"] == b0.loc["rtx_belimumab", "cost"]
    # ... and the override did reach the strategy it names
    assert acr.loc["rtx_alone", "cost"] != b0.loc["rtx_alone", "cost"]


def test_morris_ranks_named_parameters(model):
    m = sensitivity.morris(model, 40, 5, trajectories=2, names=["costs.belimumab", "parameters.flare_rate_remission",
                                                                 "utilities.dialysis.utility"])
    assert set(m["parameter"]) == {"costs.belimumab", "parameters.flare_rate_remission", "utilities.dialysis.utility"}
    # the INMB is linear in belimumab's price multiplier; its slope (the discounted belimumab use)
    # moves only a little with the other two parameters, so the elementary effects barely vary
    bel = m.set_index("parameter").loc["costs.belimumab"]
    assert bel["sigma"] <= 0.1 * bel["mu_star"]
    ow = sensitivity.one_way(model, 40, 5, names=["costs.belimumab"]).iloc[0]
    slope = abs(ow["outcome_high"] - ow["outcome_low"]) / (ow["high_value"] - ow["low_value"])
    lo, hi = psa_interval(model, "costs.belimumab")
    # SALib scales elementary effects by the range: mu* = slope x (high - low)
    assert bel["mu_star"] == pytest.approx(slope * (hi - lo), rel=0.1)


def psa_interval(model, name):
    from sim.analysis import psa
    costs, utils, _ = sensitivity.priced(model)
    return next(u for u in psa.uncertainties(model, costs, utils) if u.name == name).interval()


def test_sensitivity_command_writes_tornado(tmp_path):
    out = tmp_path / "s"
    r = run_lnsim("sensitivity", SCENARIOS / "base.yaml", "--set", "horizon_years=3", "--patients", "40",
                  "--parameter", "costs.belimumab", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert (out / "one_way.csv").is_file()
    assert list(out.glob("tornado_*.png")) and list(out.glob("tornado_*.svg"))


def test_one_way_reprices_costs_without_resimulating(model, monkeypatch):
    """A price is varied on the base-case simulation: no new simulation for costs.* quantities."""
    from sim.analysis import psa
    calls = []
    real = psa.run_draw
    monkeypatch.setattr(psa, "run_draw", lambda *a, **k: calls.append(1) or real(*a, **k))
    t = sensitivity.one_way(model, 40, 5, names=["costs.belimumab"])
    assert calls == [] and len(t) == 1
