"""Tests for sim.analysis.voi: properties of CEAC/CEAF/EVPI/EVPPI, hand-worked values, determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.economics import cea
from sim.analysis import voi

GRID = np.array([0.0, 1_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0, 200_000.0])


def tidy(cost: np.ndarray, qaly: np.ndarray, names=None, draw_ids=None) -> pd.DataFrame:
    """PSA table from (draws x strategies) arrays."""
    n, s = cost.shape
    names = names or [f"S{j}" for j in range(s)]
    draw_ids = np.arange(n) if draw_ids is None else np.asarray(draw_ids)
    return pd.DataFrame({
        "draw": np.repeat(draw_ids, s),
        "strategy": np.tile(np.array(names, dtype=object), n),
        "cost": np.asarray(cost, dtype=float).ravel(),
        "qaly": np.asarray(qaly, dtype=float).ravel(),
    })


def centred(rng: np.random.Generator, n: int, scale: np.ndarray) -> np.ndarray:
    """Noise with column means exactly 0 (so the PSA means are exactly the chosen ones)."""
    e = rng.normal(size=(n, len(scale))) * scale
    return e - e.mean(axis=0)


def random_psa(seed: int = 1, n: int = 400, spread: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mc = np.array([10_000.0, 14_000.0, 21_000.0, 15_000.0])
    mq = np.array([5.0, 5.15, 5.30, 5.10])
    common = rng.normal(size=(n, 1))
    cost = mc + spread * (centred(rng, n, np.array([1500.0, 2000, 2500, 2000])) + 1000 * (common - common.mean()))
    qaly = mq + spread * (centred(rng, n, np.array([0.1, 0.12, 0.15, 0.12])) + 0.05 * (common - common.mean()))
    return tidy(cost, qaly, ["usual care", "rituximab", "rituximab+belimumab", "CNI first"])


# Hand-worked example: at WTP 1000, NMB(A) = 0; NMB(B) = -30, 10, 20, -10 (mean -2.5);
# NMB(C) = -20, -10, 30, 50 (mean 12.5). Best per draw: A, B, C, C -> CEAC 1/4, 1/4, 1/2.
# E[max NMB] = (0 + 10 + 30 + 50) / 4 = 22.5, max E[NMB] = 12.5 (C) -> EVPI = 10.
HAND = tidy(
    np.array([[0, 100, 50]] * 4, dtype=float),
    np.array([[0, 0.07, 0.03], [0, 0.11, 0.04], [0, 0.12, 0.08], [0, 0.09, 0.10]]),
    ["A", "B", "C"],
)


# ---------------------------------------------------------------------------
# CE plane
# ---------------------------------------------------------------------------


def test_ce_plane_increments_against_reference():
    psa = random_psa(n=50)
    out = voi.ce_plane_data(psa, "rituximab")
    assert set(out["strategy"]) == {"usual care", "rituximab+belimumab", "CNI first"}
    assert list(out.columns) == ["draw", "strategy", "cost", "qaly", "inc_cost", "inc_qaly"]
    wide_c = psa.pivot(index="draw", columns="strategy", values="cost")
    wide_q = psa.pivot(index="draw", columns="strategy", values="qaly")
    for r in out.sample(20, random_state=0).itertuples():
        assert r.inc_cost == pytest.approx(wide_c.loc[r.draw, r.strategy] - wide_c.loc[r.draw, "rituximab"])
        assert r.inc_qaly == pytest.approx(wide_q.loc[r.draw, r.strategy] - wide_q.loc[r.draw, "rituximab"])
    with pytest.raises(ValueError, match="unknown strategy"):
        voi.ce_plane_data(psa, "nope")


# ---------------------------------------------------------------------------
# CEAC / CEAF
# ---------------------------------------------------------------------------


def test_ceac_sums_to_one_at_every_wtp():
    out = voi.ceac(random_psa(), GRID)
    assert list(out.columns) == ["wtp", "strategy", "probability", "se"]
    sums = out.groupby("wtp")["probability"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=0, atol=1e-12)
    assert ((out["probability"] >= 0) & (out["probability"] <= 1)).all()
    assert out["wtp"].unique().tolist() == GRID.tolist()


def test_ceac_exact_ties_go_to_one_strategy_deterministically():
    # Two identical strategies: every draw is a tie; the rule picks the first by name.
    psa = random_psa(n=100)
    twin = psa[psa["strategy"] == "rituximab"].assign(strategy="a twin of rituximab")
    both = pd.concat([psa, twin], ignore_index=True)
    out = voi.ceac(both, GRID)
    np.testing.assert_allclose(out.groupby("wtp")["probability"].sum(), 1.0, atol=1e-12)
    assert (out.loc[out["strategy"] == "rituximab", "probability"] == 0).all()
    # same result whatever the row order
    again = voi.ceac(both.sample(frac=1, random_state=3), GRID)
    key = ["wtp", "strategy"]
    pd.testing.assert_frame_equal(out.sort_values(key).reset_index(drop=True),
                                  again.sort_values(key).reset_index(drop=True))


def test_ceac_tie_prefers_more_qalys_like_cea():
    # At WTP 100 both have NMB 0 in every draw; "adopt if ICER <= WTP" -> the more effective.
    psa = tidy(np.array([[0.0, 100.0]] * 3), np.array([[0.0, 1.0]] * 3), ["cheap", "dear"])
    c = voi.ceac(psa, [100.0])
    assert c.set_index("strategy")["probability"].to_dict() == {"cheap": 0.0, "dear": 1.0}
    assert voi.ceaf(psa, [100.0])["strategy"].tolist() == ["dear"]
    nmb = cea.net_monetary_benefit(pd.DataFrame({"strategy": ["cheap", "dear"], "cost": [0.0, 100.0],
                                                 "effect": [0.0, 1.0]}), 100.0)
    assert nmb.loc[nmb["optimal"], "strategy"].tolist() == ["dear"]


def test_dominant_strategy_has_ceac_one_and_evpi_zero():
    rng = np.random.default_rng(7)
    n = 300
    cost = rng.gamma(5, 2000, size=(n, 3)) + 500
    qaly = rng.normal(5, 0.4, size=(n, 3))
    cost[:, 1] = cost.min(axis=1) - 100          # strategy 1 cheaper in every draw
    qaly[:, 1] = qaly.max(axis=1) + 0.05          # and more effective in every draw
    psa = tidy(cost, qaly, ["x", "best", "y"])
    c = voi.ceac(psa, GRID)
    assert (c.loc[c["strategy"] == "best", "probability"] == 1.0).all()
    assert (c.loc[c["strategy"] == "best", "se"] == 0.0).all()
    e = voi.evpi(psa, GRID)
    assert (e["evpi"] == 0.0).all()
    assert (e["evpi_se"] == 0.0).all()
    assert (voi.ceaf(psa, GRID)["strategy"] == "best").all()


def test_hand_worked_ceac_ceaf_evpi():
    c = voi.ceac(HAND, [1000.0]).set_index("strategy")["probability"]
    assert c.to_dict() == {"A": 0.25, "B": 0.25, "C": 0.5}
    f = voi.ceaf(HAND, [0.0, 1000.0])
    assert f["strategy"].tolist() == ["A", "C"]  # at WTP 0 the cheapest, A (cost 0)
    assert f["probability"].tolist() == [1.0, 0.5]
    assert f["expected_nmb"].iloc[1] == pytest.approx(12.5)
    e = voi.evpi(HAND, [0.0, 1000.0], population=250.0)
    assert e["evpi"].iloc[0] == 0.0
    assert e["evpi"].iloc[1] == pytest.approx(10.0)
    assert e["strategy"].tolist() == ["A", "C"]
    assert e["population_evpi"].iloc[1] == pytest.approx(2500.0)
    assert e["population_evpi_se"].iloc[1] == pytest.approx(250.0 * e["evpi_se"].iloc[1])


def test_ceaf_matches_incremental_analysis_between_icers():
    # Five strategies incl. one dominated (D) and one extendedly dominated (ED);
    # PSA means are exactly the chosen values (centred noise).
    rng = np.random.default_rng(11)
    names = ["A", "B", "C", "D", "E"]
    mc = np.array([1_000.0, 11_000.0, 16_000.0, 31_000.0, 26_000.0])
    mq = np.array([1.00, 1.50, 1.60, 2.00, 1.40])
    n = 500
    psa = tidy(mc + centred(rng, n, 0.3 * mc), mq + centred(rng, n, np.full(5, 0.2)), names)
    table = pd.DataFrame({"strategy": names, "cost": psa.groupby("strategy", sort=False)["cost"].mean().to_numpy(),
                          "effect": psa.groupby("strategy", sort=False)["qaly"].mean().to_numpy()})
    icers = cea.incremental_analysis(table)
    frontier = icers[icers["status"] == "ND"].reset_index(drop=True)
    assert set(icers["status"]) == {"ND", "ED", "D"}
    cut = frontier["icer"].to_numpy()[1:]
    # thresholds below the first ICER, between consecutive ICERs and above the last
    points = np.concatenate([[0.5 * cut[0]], 0.5 * (cut[:-1] + cut[1:]), [2 * cut[-1]]])
    expected = frontier["strategy"].tolist()
    f = voi.ceaf(psa, points)
    assert f["strategy"].tolist() == expected
    assert not set(f["strategy"]) & set(icers.loc[icers["status"] != "ND", "strategy"])
    # and the same as net_monetary_benefit's optimum on the means
    nmb = cea.net_monetary_benefit(table, points)
    assert nmb.loc[nmb["optimal"], "strategy"].tolist() == expected
    # the CEAF probability is that strategy's CEAC value
    c = voi.ceac(psa, points).set_index(["wtp", "strategy"])["probability"]
    for r in f.itertuples():
        assert r.probability == c.loc[(r.wtp, r.strategy)]


# ---------------------------------------------------------------------------
# EVPI
# ---------------------------------------------------------------------------


def test_evpi_nonnegative_and_equals_definition():
    psa = random_psa()
    e = voi.evpi(psa, GRID)
    assert (e["evpi"] >= 0).all()
    cost = psa.pivot(index="draw", columns="strategy", values="cost").to_numpy()
    qaly = psa.pivot(index="draw", columns="strategy", values="qaly").to_numpy()
    for lam, value in zip(GRID, e["evpi"]):
        nmb = lam * qaly - cost
        assert value == pytest.approx(nmb.max(axis=1).mean() - nmb.mean(axis=0).max(), abs=1e-6)


def test_evpi_increases_when_draws_disagree_more():
    # Same means, draws spread further apart around them: EVPI(k) is convex in the
    # spread k with EVPI(0) = 0, so it cannot decrease.
    values = np.array([voi.evpi(random_psa(spread=k), GRID, n_boot=0)["evpi"].to_numpy()
                       for k in (0.0, 0.5, 1.0, 2.0, 4.0)])
    assert (values[0] == 0).all()
    assert (np.diff(values, axis=0) >= -1e-9).all()
    assert (values[-1] > values[1]).all()


def test_evpi_standard_error_matches_replicate_variation():
    # The bootstrap SE from one PSA should match the SD of EVPI over independent PSAs.
    def one(seed: int, n: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        cost = np.column_stack([rng.normal(1000, 300, n), rng.normal(3000, 600, n)])
        qaly = np.column_stack([rng.normal(2.0, 0.05, n), rng.normal(2.1, 0.08, n)])
        return tidy(cost, qaly)

    lam = [20_000.0]
    n = 300
    reps = np.array([voi.evpi(one(s, n), lam, n_boot=0)["evpi"].iloc[0] for s in range(300)])
    se = voi.evpi(one(10_000, n), lam, n_boot=400)["evpi_se"].iloc[0]
    # SD of 300 replicates is known to ~ +-4%; a bootstrap SE from one sample to ~ +-25%.
    assert 0.6 < se / reps.std(ddof=1) < 1.6


def test_effective_population():
    assert voi.effective_population(1200, 10, 0.0) == pytest.approx(12_000)
    r, years = 0.035, 10
    closed = 1200 * (1 - (1 + r) ** -years) / math.log1p(r)
    assert voi.effective_population(1200, years, r) == pytest.approx(closed, rel=1e-12)
    assert voi.effective_population(1200, years, r) < 12_000
    assert voi.effective_population(0, years, r) == 0.0
    with pytest.raises(ValueError, match="annual_incidence must be finite and >= 0"):
        voi.effective_population(-1, 10, 0.03)
    with pytest.raises(ValueError, match="discount rate must be in the allowed range"):
        voi.effective_population(100, 10, 1.5)


# ---------------------------------------------------------------------------
# EVPPI
# ---------------------------------------------------------------------------


def evppi_case(n: int, seed: int = 3):
    """Two strategies vs a reference; net benefit driven by a, b (and c for the third)."""
    rng = np.random.default_rng(seed)
    a, b, c, junk, junk2 = rng.normal(size=(5, n))
    cost = np.column_stack([np.zeros(n), 1_000 + 400 * a, 1_500 + 300 * np.tanh(c)])
    qaly = np.column_stack([np.zeros(n), 0.05 + 0.03 * b + 0.01 * a * b, 0.07 + 0.02 * c])
    draws = pd.DataFrame({"draw": np.arange(n), "a": a, "b": b, "c": c, "junk": junk, "junk2": junk2,
                          "fixed": 0.3})
    return tidy(cost, qaly, ["ref", "new", "newer"]), draws


def test_evppi_of_all_drivers_equals_evpi_and_irrelevant_is_zero():
    n = 1000
    psa, draws = evppi_case(n)
    lam = [20_000.0, 30_000.0]  # thresholds where the decision is uncertain
    out = voi.evppi(psa, draws, {"drivers": ["a", "b", "c"], "junk": ["junk"], "fixed": ["fixed"]}, lam)
    ev = voi.evpi(psa, lam, n_boot=0)["evpi"].to_numpy()
    drivers = out[out["group"] == "drivers"]
    assert (drivers["method"] == "gam").all()
    # NMB is a smooth function of (a, b, c) with no noise: the smoother recovers it.
    np.testing.assert_allclose(drivers["evppi"], ev, rtol=0.02)
    assert (drivers["evppi"] <= drivers["evpi"]).all()
    # An irrelevant parameter: the fitted INB is flat up to noise of order sd(INB)/sqrt(n).
    wide_c = psa.pivot(index="draw", columns="strategy", values="cost")
    wide_q = psa.pivot(index="draw", columns="strategy", values="qaly")
    tol = np.array([4 * max((w * wide_q[s] - wide_c[s]).std() for s in ("new", "newer")) / math.sqrt(n)
                    for w in lam])
    junk = out[out["group"] == "junk"]
    assert (junk["evppi"] >= 0).all()
    assert (junk["evppi"].to_numpy() <= tol).all(), (junk["evppi"].tolist(), tol)
    assert (tol < 0.5 * ev).all()  # the tolerance is small enough for this to be a real test
    fixed = out[out["group"] == "fixed"]
    assert (fixed["evppi"] == 0).all() and (fixed["method"] == "constant").all()
    assert (fixed["n_parameters"] == 0).all()


def test_evppi_bounds_and_subgroups():
    psa, draws = evppi_case(600, seed=5)
    lam = [5_000.0, 20_000.0, 50_000.0]
    groups = {"a": ["a"], "b": ["b"], "ab": ["a", "b"], "abc": ["a", "b", "c"], "all": ["a", "b", "c", "junk", "junk2"]}
    out = voi.evppi(psa, draws, groups, lam, population=1000.0).set_index(["group", "wtp"])
    assert (out["evppi"] >= 0).all()
    assert (out["evppi"] <= out["evpi"]).all()
    assert (out["population_evppi"] == 1000.0 * out["evppi"]).all()
    assert (out["clipped"] == ((out["evppi"] - out["evppi_raw"]).abs() > 1e-6 * out["evpi"])).all()
    for w in lam:  # more information is worth at least as much (up to fitting noise)
        slack = 3 * out.loc[("ab", w), "evppi_se"] + 1e-6
        assert out.loc[("ab", w), "evppi"] + slack >= max(out.loc[("a", w), "evppi"], out.loc[("b", w), "evppi"])
    # five parameters: polynomial fallback; the net benefits are in its span up to tanh(c)
    assert out.xs("all", level="group")["method"].eq("poly2").all()
    np.testing.assert_allclose(out.xs("all", level="group")["evppi_raw"],
                               out.xs("abc", level="group")["evpi"], rtol=0.05)


def test_evppi_method_selection_for_few_draws():
    # At least 2 draws per coefficient: with 12 draws a 1-parameter GAM fits (5 splines + 1),
    # 3 parameters need the linear model (4 terms; quadratic has 10), and with 8 draws
    # 4 parameters (5 linear terms) cannot be fitted at all.
    psa, draws = evppi_case(12, seed=2)
    out = voi.evppi(psa, draws, {"a": ["a"], "abc": ["a", "b", "c"]}, 20_000.0)
    assert out.set_index("group")["method"].to_dict() == {"a": "gam", "abc": "linear"}
    assert out["evppi"].notna().all()
    psa, draws = evppi_case(8, seed=2)
    out = voi.evppi(psa, draws, {"abcj": ["a", "b", "c", "junk"]}, 20_000.0)
    assert out["method"].tolist() == ["none"]
    assert out[["evppi", "evppi_se", "evppi_raw"]].isna().all(axis=None)
    assert not out["clipped"].any()


def test_evppi_standard_error_is_plausible():
    # SD of EVPPI over independent PSAs vs the coefficient-sampling SE from single PSAs.
    lam = [20_000.0]

    def one(seed: int) -> pd.Series:
        rng = np.random.default_rng(seed)
        n = 300
        a = rng.normal(size=n)
        cost = np.column_stack([np.zeros(n), 1_000 + 400 * a + rng.normal(0, 300, n)])
        qaly = np.column_stack([np.zeros(n), 0.05 + rng.normal(0, 0.03, n)])
        draws = pd.DataFrame({"draw": np.arange(n), "a": a})
        return voi.evppi(tidy(cost, qaly), draws, ["a"], lam).iloc[0]

    reps = np.array([one(s)["evppi"] for s in range(20)])
    ses = np.array([one(s)["evppi_se"] for s in range(100, 103)])
    ratio = ses.mean() / reps.std(ddof=1)
    assert 0.33 < ratio < 3.0, ratio


def test_evppi_input_errors():
    psa, draws = evppi_case(100)
    with pytest.raises(ValueError, match="not columns"):
        voi.evppi(psa, draws, {"x": ["nope"]}, 1.0)
    with pytest.raises(ValueError, match="lacks"):
        voi.evppi(psa, draws.iloc[:50], ["a"], 1.0)
    with pytest.raises(ValueError, match="at most 4"):
        voi.evppi(psa, draws, {"g": ["a", "b", "c", "junk", "junk2"]}, 1.0, method="gam")
    with pytest.raises(ValueError, match="unknown method"):
        voi.evppi(psa, draws, ["a"], 1.0, method="magic")
    with pytest.raises(ValueError, match="twice"):
        voi.evppi(psa, draws, {"g": ["a", "a"]}, 1.0)


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------


def test_results_are_deterministic_and_independent_of_row_order():
    psa, draws = evppi_case(300, seed=9)
    lam = [10_000.0, 30_000.0]
    groups = {"a": ["a"], "bc": ["b", "c"]}
    e1 = voi.evpi(psa, lam, population=10.0)
    v1 = voi.evppi(psa, draws, groups, lam)
    pd.testing.assert_frame_equal(e1, voi.evpi(psa, lam, population=10.0))
    pd.testing.assert_frame_equal(v1, voi.evppi(psa, draws, groups, lam))
    shuffled = psa.sample(frac=1, random_state=1)
    shuffled_draws = draws.sample(frac=1, random_state=2)
    # strategies keep the same order of first appearance only if the first row is kept
    shuffled = pd.concat([psa.iloc[:3], shuffled[~shuffled.index.isin(psa.index[:3])]])
    pd.testing.assert_frame_equal(e1, voi.evpi(shuffled, lam, population=10.0))
    pd.testing.assert_frame_equal(v1, voi.evppi(shuffled, shuffled_draws, groups, lam),
                                  check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(voi.ceac(psa, lam), voi.ceac(shuffled, lam))
    # a group's SE does not depend on the other groups requested
    alone = voi.evppi(psa, draws, {"bc": ["b", "c"]}, lam)
    pd.testing.assert_frame_equal(alone, v1[v1["group"] == "bc"].reset_index(drop=True))
    # another seed changes the standard errors, never the estimates
    e2 = voi.evpi(psa, lam, seed=123)
    np.testing.assert_array_equal(e2["evpi"], e1["evpi"])
    assert not np.array_equal(e2["evpi_se"], e1["evpi_se"])


# ---------------------------------------------------------------------------
# Monte Carlo error of the means
# ---------------------------------------------------------------------------


def test_mc_error_matches_standard_error_of_the_mean():
    psa = random_psa(n=200)
    out = voi.mc_error(psa)
    g = psa.groupby("strategy", sort=False)
    assert out["strategy"].tolist() == list(pd.unique(psa["strategy"]))       # order of first appearance
    np.testing.assert_allclose(out["cost_se"], g["cost"].sem().reindex(out["strategy"]).to_numpy())
    np.testing.assert_allclose(out["qaly_mean"], g["qaly"].mean().reindex(out["strategy"]).to_numpy())
    long = voi.mc_error(psa, wtp=[0.0, 50_000.0], reference="usual care")
    assert len(long) == 2 * 4
    at = long[long["wtp"] == 50_000.0].set_index("strategy")
    nmb = 50_000.0 * psa["qaly"] - psa["cost"]
    assert at.loc["rituximab", "nmb_se"] == pytest.approx(nmb[psa["strategy"] == "rituximab"].sem())
    paired = (nmb[psa["strategy"] == "rituximab"].to_numpy() - nmb[psa["strategy"] == "usual care"].to_numpy())
    assert at.loc["rituximab", "inc_nmb_se"] == pytest.approx(paired.std(ddof=1) / math.sqrt(200))
    assert at.loc["usual care", "inc_nmb_se"] == 0.0
    assert (long.loc[long["wtp"] == 0.0, "nmb_se"].to_numpy() == out["cost_se"].to_numpy()).all()


# ---------------------------------------------------------------------------
# One-way (tornado)
# ---------------------------------------------------------------------------


def one_way_table() -> pd.DataFrame:
    return pd.DataFrame({
        "parameter": ["p1", "p2", "p3", "p4"],
        "low_value": [0.1, 10, 1, 5],
        "high_value": [0.3, 20, 2, 6],
        "outcome_low": [95.0, 80.0, 100.0, 110.0],
        "outcome_high": [105.0, 130.0, 100.0, 60.0],
        "base": 100.0,
    })


def test_one_way_orders_by_swing():
    out = voi.one_way(one_way_table())
    assert out["parameter"].tolist() == ["p2", "p4", "p1", "p3"]
    assert out["swing"].tolist() == [50.0, 50.0, 10.0, 0.0]  # ties keep the input order
    assert out["rank"].tolist() == [1, 2, 3, 4]
    r = out.set_index("parameter")
    assert r.loc["p4", "delta_low"] == 10.0 and r.loc["p4", "delta_high"] == -40.0
    assert r.loc["p4", "outcome_min"] == 60.0 and r.loc["p4", "outcome_max"] == 110.0
    assert voi.one_way(one_way_table(), top=2)["parameter"].tolist() == ["p2", "p4"]


def test_one_way_input_errors():
    t = one_way_table()
    with pytest.raises(ValueError, match="missing column"):
        voi.one_way(t.drop(columns="base"))
    with pytest.raises(ValueError, match="base-case outcome differs"):
        voi.one_way(t.assign(base=[100.0, 100.0, 101.0, 100.0]))
    with pytest.raises(ValueError, match="more than once"):
        voi.one_way(pd.concat([t, t.iloc[:1]]))
    with pytest.raises(ValueError, match="NaN"):
        voi.one_way(t.assign(outcome_low=[1.0, np.nan, 1.0, 1.0]))


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


def test_psa_validation_errors():
    psa = random_psa(n=10)
    with pytest.raises(ValueError, match="every draw must have every strategy"):
        voi.ceac(psa.iloc[1:], GRID)
    with pytest.raises(ValueError, match="NaN"):
        voi.evpi(psa.assign(cost=np.where(np.arange(len(psa)) == 3, np.nan, psa["cost"])), GRID)
    with pytest.raises(ValueError, match="missing column"):
        voi.ceac(psa.drop(columns="qaly"), GRID)
    with pytest.raises(ValueError, match="more than one row"):
        voi.ceac(pd.concat([psa, psa.iloc[:1]]), GRID)
    with pytest.raises(ValueError, match="wtp"):
        voi.ceac(psa, [-1.0])
    with pytest.raises(ValueError, match="wtp"):
        voi.evpi(psa, [np.nan])


def test_a_prepared_table_gives_the_same_answers_as_the_table():
    """voi.prepare checks and pivots once; every measure is the same from the table or from it."""
    psa = random_psa(n=120)
    p = voi.prepare(psa)
    assert voi.prepare(p) is p
    grid = [0.0, 20_000.0, 80_000.0]
    pd.testing.assert_frame_equal(voi.ceac(p, grid), voi.ceac(psa, grid))
    pd.testing.assert_frame_equal(voi.ceaf(p, grid), voi.ceaf(psa, grid))
    pd.testing.assert_frame_equal(voi.evpi(p, grid), voi.evpi(psa, grid))
    pd.testing.assert_frame_equal(voi.mc_error(p, wtp=grid), voi.mc_error(psa, wtp=grid))
