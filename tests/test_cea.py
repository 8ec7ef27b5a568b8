"""Tests of sim.economics.cea: incremental analysis (vs dampack), net benefit, discounting.

Expected values are either read from the dampack reference file, worked out by hand
in the test, or checked as properties (dominance, convexity of the frontier,
agreement between the ICER rule and net benefit, integrals vs numerical quadrature).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from sim.inputs.economic_settings import DISCOUNT_PRESETS
from sim.economics.cea import ICER_COLUMNS, incremental_analysis, net_health_benefit, net_monetary_benefit
from sim.economics.discounting import discount_factor, discount_rate_to_continuous, discounted_duration

DAMPACK_REF = Path(__file__).parent / "data" / "dampack_cdiff_icers.csv"


def make_table(rows):
    """Table with columns strategy, cost, effect from (name, cost, effect) tuples."""
    return pd.DataFrame(rows, columns=["strategy", "cost", "effect"])


def by_name(result):
    """Result indexed by strategy name, for readable assertions."""
    return result.set_index("strategy")


def random_table(rng, n, integer=False):
    """Random strategies; integer grids create many exact ties in cost and effect."""
    if integer:
        effect = rng.integers(0, 8, n).astype(float)
        cost = 10 * effect**2 + 50 * rng.integers(0, 4, n)
    else:
        effect = rng.uniform(5, 15, n)
        # Cost rising convexly with effect plus noise gives a mix of ND, ED and D.
        cost = 1000 * (effect - 5) ** 1.5 + rng.normal(0, 3000, n) + 50_000
    names = [f"s{i}" for i in rng.permutation(n)]
    return make_table(list(zip(names, cost, effect)))


def icer_rule_choice(result, wtp):
    """Strategy chosen by the ICER decision rule: the last frontier strategy whose
    ICER does not exceed the threshold (the first frontier strategy is the default)."""
    frontier = result[result["status"] == "ND"]
    chosen = frontier["strategy"].iloc[0]
    for name, icer in zip(frontier["strategy"].iloc[1:], frontier["icer"].iloc[1:]):
        if icer <= wtp:
            chosen = name
    return chosen


def nmb_choice(table, wtp):
    nmb = net_monetary_benefit(table, wtp)
    return nmb.loc[nmb["optimal"], "strategy"].item()


def interesting_wtps(result):
    """Thresholds below, between and above the frontier ICERs, plus 0."""
    icers = result.loc[result["status"] == "ND", "icer"].dropna().to_numpy()
    if len(icers) == 0:
        return [0.0, 1.0, 1e6]
    points = [0.0, icers[0] / 2, icers[-1] * 2]
    points += list((icers[:-1] + icers[1:]) / 2)
    return points


# ---------------------------------------------------------------------------
# Incremental analysis: dampack reference
# ---------------------------------------------------------------------------


def load_reference():
    ref = pd.read_csv(DAMPACK_REF)  # "NA" is read as NaN
    assert list(ref.columns) == [
        "Strategy", "Cost", "Effect", "Inc_Cost", "Inc_Effect", "ICER", "Status"
    ]
    return ref


@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3])
def test_reproduces_dampack_reference(seed):
    ref = load_reference()
    inputs = ref[["Strategy", "Cost", "Effect"]]
    if seed is not None:  # the input order must not matter
        inputs = inputs.sample(frac=1, random_state=seed)
    out = incremental_analysis(inputs, cost="Cost", effect="Effect", strategy="Strategy")

    assert list(out.columns) == ICER_COLUMNS
    assert out["strategy"].tolist() == ref["Strategy"].tolist()
    assert out["status"].tolist() == ref["Status"].tolist()
    for ours, theirs in [("cost", "Cost"), ("effect", "Effect"), ("inc_cost", "Inc_Cost"),
                         ("inc_effect", "Inc_Effect"), ("icer", "ICER")]:
        a, b = out[ours].to_numpy(dtype=float), ref[theirs].to_numpy(dtype=float)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=ours)
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-6, err_msg=ours)


# ---------------------------------------------------------------------------
# Incremental analysis: hand-worked examples
# ---------------------------------------------------------------------------


def test_textbook_example_worked_by_hand():
    table = make_table([("A", 0, 0), ("B", 100, 1), ("C", 150, 1.2),
                        ("D", 300, 2), ("E", 250, 0.9)])
    out = incremental_analysis(table)
    # By cost: A 0, B 100, C 150, E 250, D 300. E costs more than B and is less
    # effective: dominated. Among A, B, C, D the ICERs are B: 100/1 = 100,
    # C: 50/0.2 = 250, D: 150/0.8 = 187.5; 250 > 187.5 so C is extendedly
    # dominated. Without C: B 100, D: (300 - 100)/(2 - 1) = 200, increasing.
    assert out["strategy"].tolist() == ["A", "B", "D", "C", "E"]
    assert out["status"].tolist() == ["ND", "ND", "ND", "ED", "D"]
    r = by_name(out)
    assert np.isnan(r.loc["A", ["inc_cost", "inc_effect", "icer"]].astype(float)).all()
    assert r.loc["B", "inc_cost"] == pytest.approx(100 - 0)
    assert r.loc["B", "inc_effect"] == pytest.approx(1 - 0)
    assert r.loc["B", "icer"] == pytest.approx((100 - 0) / (1 - 0))
    assert r.loc["D", "inc_cost"] == pytest.approx(300 - 100)
    assert r.loc["D", "inc_effect"] == pytest.approx(2 - 1)
    assert r.loc["D", "icer"] == pytest.approx((300 - 100) / (2 - 1))
    for name in ["C", "E"]:
        assert np.isnan(r.loc[name, ["inc_cost", "inc_effect", "icer"]].astype(float)).all()
    # Input values are carried through unchanged.
    assert r.loc["C", "cost"] == 150 and r.loc["C", "effect"] == 1.2


def test_extended_dominance_needs_a_second_pass():
    # ICERs B 10, C 15, D 2, E 33: first pass removes C (15 > 2). Then B 10,
    # D (27 - 10)/(3 - 1) = 8.5, E 33: second pass removes B (10 > 8.5).
    table = make_table([("A", 0, 0), ("B", 10, 1), ("C", 25, 2), ("D", 27, 3), ("E", 60, 4)])
    r = by_name(incremental_analysis(table))
    assert r["status"].to_dict() == {"A": "ND", "D": "ND", "E": "ND", "B": "ED", "C": "ED"}
    assert r.loc["D", "icer"] == pytest.approx((27 - 0) / (3 - 0))
    assert r.loc["E", "icer"] == pytest.approx((60 - 27) / (4 - 3))


def test_single_strategy():
    out = incremental_analysis(make_table([("only", 123.0, 4.5)]))
    assert out["strategy"].tolist() == ["only"]
    assert out["status"].tolist() == ["ND"]
    assert out[["inc_cost", "inc_effect", "icer"]].isna().all(axis=None)


@pytest.mark.parametrize("order", [["b", "a"], ["a", "b"]])
def test_exact_duplicates_keep_first_by_name(order):
    table = make_table([(name, 100.0, 2.0) for name in order])
    r = by_name(incremental_analysis(table))
    assert r.loc["a", "status"] == "ND"
    assert r.loc["b", "status"] == "D"
    assert np.isnan(r.loc["a", "icer"])  # no 0/0 ICER between the twins


def test_duplicates_of_a_frontier_strategy_among_others():
    table = make_table([("A", 0, 0), ("B2", 100, 1), ("B1", 100, 1), ("C", 300, 2)])
    out = incremental_analysis(table)
    assert out["strategy"].tolist() == ["A", "B1", "C", "B2"]
    assert out["status"].tolist() == ["ND", "ND", "ND", "D"]
    assert by_name(out).loc["C", "icer"] == pytest.approx((300 - 100) / (2 - 1))


def test_all_dominated_but_one():
    # "best" is cheapest (tied) and most effective (tied): everything else is dominated.
    table = make_table([("x", 20, 4), ("best", 10, 5), ("y", 30, 5), ("z", 10, 1), ("w", 50, 0)])
    out = incremental_analysis(table)
    assert out["strategy"].tolist() == ["best", "z", "x", "y", "w"]  # D group by cost
    assert out["status"].tolist() == ["ND", "D", "D", "D", "D"]
    assert out[["inc_cost", "inc_effect", "icer"]].isna().all(axis=None)


def test_equal_costs_different_effects():
    table = make_table([("ref", 0, 0), ("lo", 100, 1), ("hi", 100, 2)])
    r = by_name(incremental_analysis(table))
    assert r.loc["lo", "status"] == "D"  # same cost, less effect
    assert r.loc["hi", "status"] == "ND"
    assert r.loc["hi", "icer"] == pytest.approx((100 - 0) / (2 - 0))


def test_equal_effects_different_costs():
    table = make_table([("ref", 0, 0), ("dear", 200, 1), ("cheap", 100, 1)])
    r = by_name(incremental_analysis(table))
    assert r.loc["dear", "status"] == "D"  # same effect, more cost
    assert r.loc["cheap", "icer"] == pytest.approx(100 / 1)


def test_tied_icers_stay_on_frontier():
    # Collinear: ICER of B and of C are both 100; mixing A and C only reproduces B.
    table = make_table([("A", 0, 0), ("B", 100, 1), ("C", 200, 2), ("D", 500, 3)])
    r = by_name(incremental_analysis(table))
    assert (r["status"] == "ND").all()
    assert r.loc["B", "icer"] == pytest.approx(100) and r.loc["C", "icer"] == pytest.approx(100)
    assert r.loc["D", "icer"] == pytest.approx(300)


def test_icer_tie_tolerance_absorbs_rounding_noise():
    # Three collinear strategies whose computed ICERs differ only by rounding.
    c0, slope, e0, d1, d2 = 83426.82, 1134.2, 13.574, 0.043, 0.732
    table = make_table([("A", c0, e0), ("B", c0 + slope * d1, e0 + d1),
                        ("C", c0 + slope * (d1 + d2), e0 + d1 + d2)])
    c, e = table["cost"].to_numpy(), table["effect"].to_numpy()
    icer_b, icer_c = (c[1] - c[0]) / (e[1] - e[0]), (c[2] - c[1]) / (e[2] - e[1])
    assert icer_b > icer_c and icer_b == pytest.approx(icer_c, rel=1e-12)  # the premise
    assert (incremental_analysis(table)["status"] == "ND").all()
    exact = by_name(incremental_analysis(table, icer_rtol=0))  # dampack's strict ">"
    assert exact.loc["B", "status"] == "ED"


def test_dominant_strategy_makes_others_dominated():
    # "new" is cheaper and more effective than "old": a negative ICER is never reported.
    r = by_name(incremental_analysis(make_table([("old", 500, 1), ("new", 300, 2)])))
    assert r.loc["new", "status"] == "ND" and r.loc["old", "status"] == "D"
    assert r["icer"].isna().all()


def test_custom_column_names_and_extra_columns():
    table = pd.DataFrame({"arm": ["A", "B"], "usd": [0.0, 50.0], "qaly": [1.0, 2.0],
                          "note": ["x", "y"]})
    out = incremental_analysis(table, cost="usd", effect="qaly", strategy="arm")
    assert list(out.columns) == ICER_COLUMNS
    assert out["icer"].iloc[1] == pytest.approx(50.0)


# ---------------------------------------------------------------------------
# Incremental analysis: properties on random tables
# ---------------------------------------------------------------------------

RANDOM_CASES = [(seed, n, integer) for seed in range(8) for n, integer in
                [(2, False), (6, False), (25, False), (12, True), (40, True)]]


@pytest.mark.parametrize("seed,n,integer", RANDOM_CASES)
def test_random_tables_satisfy_the_definitions(seed, n, integer):
    rng = np.random.default_rng(seed)
    table = random_table(rng, n, integer)
    out = incremental_analysis(table)

    # Every strategy appears once, with its own cost and effect.
    merged = out.merge(table, on="strategy", suffixes=("", "_in"))
    assert len(merged) == len(table) == len(out)
    assert (merged["cost"] == merged["cost_in"]).all()
    assert (merged["effect"] == merged["effect_in"]).all()

    # Ordering: ND, then ED, then D; by cost within each group.
    groups = out["status"].map({"ND": 0, "ED": 1, "D": 2}).to_numpy()
    assert (np.diff(groups) >= 0).all()
    for _, g in out.groupby("status"):
        assert g["cost"].is_monotonic_increasing

    c, e, names = table["cost"].to_numpy(), table["effect"].to_numpy(), table["strategy"]
    status = by_name(out)["status"]

    def dominators(i):
        weakly_better = (c <= c[i]) & (e >= e[i])
        strictly = (c < c[i]) | (e > e[i])
        twin_first = (c == c[i]) & (e == e[i]) & (names < names[i])
        return weakly_better & (strictly | twin_first)

    for i, name in enumerate(names):
        assert (status[name] == "D") == dominators(i).any(), name

    # Frontier: cost and effect strictly increasing, ICERs positive and non-decreasing.
    nd = out[out["status"] == "ND"]
    assert (np.diff(nd["cost"]) > 0).all() and (np.diff(nd["effect"]) > 0).all()
    icers = nd["icer"].to_numpy()[1:]
    assert (icers > 0).all()
    assert (np.diff(icers) >= -1e-9 * np.abs(icers[1:])).all()
    np.testing.assert_allclose(nd["inc_cost"].to_numpy()[1:], np.diff(nd["cost"]))
    np.testing.assert_allclose(nd["inc_effect"].to_numpy()[1:], np.diff(nd["effect"]))

    # Extendedly dominated strategies lie strictly above the frontier (a mix of two
    # frontier strategies gives their effect at a lower cost).
    for _, row in out[out["status"] == "ED"].iterrows():
        assert nd["effect"].iloc[0] < row["effect"] < nd["effect"].iloc[-1]
        frontier_cost = np.interp(row["effect"], nd["effect"], nd["cost"])
        assert row["cost"] > frontier_cost

    # Input order does not matter.
    shuffled = table.sample(frac=1, random_state=seed)
    pd.testing.assert_frame_equal(incremental_analysis(shuffled), out)


# ---------------------------------------------------------------------------
# Net benefit
# ---------------------------------------------------------------------------

TEXTBOOK = make_table([("A", 0, 0), ("B", 100, 1), ("C", 150, 1.2),
                       ("D", 300, 2), ("E", 250, 0.9)])


def test_nmb_values_and_layout():
    wtps = [0.0, 150.0, 1000.0]
    out = net_monetary_benefit(TEXTBOOK, wtps)
    assert list(out.columns) == ["wtp", "strategy", "cost", "effect", "nmb", "optimal"]
    assert len(out) == len(wtps) * len(TEXTBOOK)
    np.testing.assert_allclose(out["nmb"], out["effect"] * out["wtp"] - out["cost"])
    assert (out.groupby("wtp")["optimal"].sum() == 1).all()
    # By hand: at 150 per unit A 0, B 50, C 30, D 0, E -115 -> B.
    assert out.loc[out["optimal"], "strategy"].tolist() == ["A", "B", "D"]
    assert isinstance(net_monetary_benefit(TEXTBOOK, 150.0), pd.DataFrame)


def test_nmb_tie_at_an_icer_adopts_the_more_effective_strategy():
    # At WTP = 100 (the ICER of B vs A) NMB(A) = 0 = NMB(B): "adopt if ICER <= WTP".
    assert nmb_choice(TEXTBOOK, 100.0) == "B"
    assert nmb_choice(TEXTBOOK, 200.0) == "D"
    assert nmb_choice(TEXTBOOK, 99.0) == "A"


def test_nhb_is_nmb_over_wtp_and_picks_the_same_strategy():
    wtps = [50.0, 150.0, 250.0, 1000.0]
    nmb = net_monetary_benefit(TEXTBOOK, wtps)
    nhb = net_health_benefit(TEXTBOOK, wtps)
    assert "nhb" in nhb.columns
    np.testing.assert_allclose(nhb["nhb"], nhb["effect"] - nhb["cost"] / nhb["wtp"])
    np.testing.assert_allclose(nhb["nhb"], nmb["nmb"] / nmb["wtp"])
    assert (nhb["optimal"] == nmb["optimal"]).all()


def test_nmb_reference_case_matches_icer_rule():
    ref = load_reference()[["Strategy", "Cost", "Effect"]]
    table = ref.rename(columns={"Strategy": "strategy", "Cost": "cost", "Effect": "effect"})
    result = incremental_analysis(table)
    for wtp in interesting_wtps(result):
        assert nmb_choice(table, wtp) == icer_rule_choice(result, wtp), wtp


@pytest.mark.parametrize("seed,n,integer", RANDOM_CASES)
def test_nmb_agrees_with_icer_rule_on_random_tables(seed, n, integer):
    table = random_table(np.random.default_rng(seed), n, integer)
    result = incremental_analysis(table)
    for wtp in interesting_wtps(result):
        assert nmb_choice(table, wtp) == icer_rule_choice(result, wtp), wtp
    # Every frontier strategy is optimal somewhere; ED and D strategies never are.
    wtps = np.concatenate([interesting_wtps(result), np.linspace(0, 5e4, 201)])
    nmb = net_monetary_benefit(table, wtps)
    ever_optimal = set(nmb.loc[nmb["optimal"], "strategy"])
    assert ever_optimal <= set(result.loc[result["status"] == "ND", "strategy"])
    assert set(result.loc[result["status"] == "ND", "strategy"]) <= ever_optimal


def test_nmb_at_zero_wtp_picks_cheapest_then_most_effective():
    table = make_table([("a", 10, 1), ("b", 10, 3), ("c", 20, 9)])
    assert nmb_choice(table, 0.0) == "b"


@pytest.mark.parametrize("wtp,match", [(-1.0, "wtp must be finite"), (np.nan, "wtp must be finite"),
                                       ([], "non-empty")])
def test_nmb_bad_wtp(wtp, match):
    with pytest.raises(ValueError, match=match):
        net_monetary_benefit(TEXTBOOK, wtp)


def test_nhb_needs_positive_wtp():
    with pytest.raises(ValueError, match="wtp must be finite and > 0"):
        net_health_benefit(TEXTBOOK, 0.0)


# ---------------------------------------------------------------------------
# Input validation (shared by all table functions)
# ---------------------------------------------------------------------------

TABLE_FUNCTIONS = [
    lambda t, **kw: incremental_analysis(t, **kw),
    lambda t, **kw: net_monetary_benefit(t, 1000.0, **kw),
    lambda t, **kw: net_health_benefit(t, 1000.0, **kw),
]


@pytest.mark.parametrize("func", TABLE_FUNCTIONS)
@pytest.mark.parametrize("table,match", [
    (make_table([]), "empty table"),
    (make_table([("A", 0, 0), ("B", np.nan, 1)]), r"'cost' has NaN or infinite.*\['B'\]"),
    (make_table([("A", 0, np.inf), ("B", 1, 1)]), r"'effect' has NaN or infinite.*\['A'\]"),
    (make_table([("A", 0, 0), ("A", 1, 1)]), r"duplicate strategy name.*\['A'\]"),
    (make_table([(None, 0, 0), ("B", 1, 1)]), "missing strategy name"),
    (make_table([("A", "cheap", 0)]), "'cost' must be numeric"),
    (pd.DataFrame({"strategy": ["A"], "cost": [1.0]}), r"missing column.*'effect'"),
])
def test_bad_tables_raise_value_error(func, table, match):
    with pytest.raises(ValueError, match=match):
        func(table)


def test_missing_custom_column_named_in_message():
    with pytest.raises(ValueError, match=r"missing column.*'QALY'"):
        incremental_analysis(TEXTBOOK, effect="QALY")


def test_negative_icer_rtol_rejected():
    with pytest.raises(ValueError, match="icer_rtol"):
        incremental_analysis(TEXTBOOK, icer_rtol=-1)


# ---------------------------------------------------------------------------
# Discounting
# ---------------------------------------------------------------------------

RATES = [0.0, 1e-12, 1e-6, 0.03, 0.035, 0.05, 0.5, 0.99]


def random_intervals(seed, n=50):
    rng = np.random.default_rng(seed)
    t0 = rng.uniform(0, 60, n)
    return t0, t0 + rng.exponential(5, n)


def test_presets():
    assert set(DISCOUNT_PRESETS) == {"default", "nice", "iets_colombia"}
    assert DISCOUNT_PRESETS["nice"] == (0.035, 0.035)
    assert DISCOUNT_PRESETS["iets_colombia"] == (0.05, 0.05)
    assert DISCOUNT_PRESETS["default"] == (0.03, 0.03)
    for costs, outcomes in DISCOUNT_PRESETS.values():
        assert 0 <= costs < 1 and 0 <= outcomes < 1
        discounted_duration(0, 1, costs)  # accepted by the functions


@pytest.mark.parametrize("r", RATES)
def test_continuous_rate_reproduces_annual_compounding(r):
    delta = discount_rate_to_continuous(r)
    assert np.exp(delta) == pytest.approx(1 + r, rel=1e-14)
    t = np.linspace(0, 40, 81)
    np.testing.assert_allclose(np.exp(-delta * t), (1 + r) ** -t, rtol=1e-12)
    np.testing.assert_allclose(discount_factor(t, r), (1 + r) ** -t, rtol=1e-12)


@pytest.mark.parametrize("r", RATES)
def test_factor_after_one_year(r):
    assert discount_factor(1.0, r) == pytest.approx(1 / (1 + r), rel=1e-14)
    assert discount_factor(0.0, r) == 1.0


def test_rate_zero_is_undiscounted():
    t0, t1 = random_intervals(0)
    np.testing.assert_array_equal(discounted_duration(t0, t1, 0.0), t1 - t0)
    np.testing.assert_array_equal(discount_factor(t1, 0.0), np.ones_like(t1))
    assert discount_rate_to_continuous(0.0) == 0.0


def test_tiny_rate_has_no_cancellation_error():
    t0, t1 = random_intervals(1)
    for r in [1e-300, 1e-15, 1e-12, 1e-9]:
        delta = np.log1p(r)
        # First-order expansion of the integral in delta, accurate far beyond 1e-10.
        approx = (t1 - t0) - delta * (t1**2 - t0**2) / 2
        np.testing.assert_allclose(discounted_duration(t0, t1, r), approx, rtol=1e-10)


@pytest.mark.parametrize("r", RATES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duration_matches_numerical_integral(r, seed):
    t0, t1 = random_intervals(seed, n=15)
    got = discounted_duration(t0, t1, r)
    for a, b, value in zip(t0, t1, got):
        expected, _ = integrate.quad(lambda s: (1 + r) ** -s, a, b, epsabs=0, epsrel=1e-12)
        assert value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("r", RATES)
def test_duration_is_additive_over_adjacent_intervals(r):
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 50, 100)
    b = a + rng.exponential(3, 100)
    c = b + rng.exponential(3, 100)
    np.testing.assert_allclose(discounted_duration(a, b, r) + discounted_duration(b, c, r),
                               discounted_duration(a, c, r), rtol=1e-12)


@pytest.mark.parametrize("r", RATES)
def test_duration_and_factor_are_consistent(r):
    # integral_0^t (1+r)^-s ds = (1 - factor(t)) / delta, and the average of the
    # integrand over a short interval centred on t is the factor at t.
    t = np.linspace(0.5, 30, 60)
    delta = discount_rate_to_continuous(r)
    if delta > 1e-6:
        np.testing.assert_allclose(discounted_duration(0, t, r),
                                   (1 - discount_factor(t, r)) / delta, rtol=1e-10)
    h = 1e-4
    average = discounted_duration(t - h, t + h, r) / (2 * h)
    np.testing.assert_allclose(average, discount_factor(t, r), rtol=1e-7)


def test_higher_rate_never_raises_value():
    t0, t1 = random_intervals(4, n=200)
    rates = np.linspace(0, 0.95, 40)
    durations = np.array([discounted_duration(t0, t1, r) for r in rates])
    factors = np.array([discount_factor(t1, r) for r in rates])
    assert (np.diff(durations, axis=0) <= 0).all()
    assert (np.diff(factors, axis=0) <= 0).all()
    assert (durations <= (t1 - t0) + 1e-12).all()  # never worth more than undiscounted


def test_vectorised_and_scalar_results_agree():
    t0, t1 = random_intervals(5, n=20)
    vector = discounted_duration(t0, t1, 0.035)
    assert isinstance(vector, np.ndarray) and vector.shape == t0.shape
    scalars = [discounted_duration(a, b, 0.035) for a, b in zip(t0, t1)]
    assert all(isinstance(s, float) for s in scalars)
    np.testing.assert_allclose(vector, scalars, rtol=1e-15)
    # Broadcasting a scalar start against an array of ends, and a 2-d array.
    np.testing.assert_allclose(discounted_duration(0.0, t1, 0.03),
                               [discounted_duration(0.0, b, 0.03) for b in t1], rtol=1e-15)
    grid = discounted_duration(t0.reshape(4, 5), t1.reshape(4, 5), 0.03)
    assert grid.shape == (4, 5)
    assert isinstance(discount_factor(2.0, 0.03), float)
    assert isinstance(discount_rate_to_continuous(0.03), float)


def test_empty_interval_is_zero():
    assert discounted_duration(7.5, 7.5, 0.05) == 0.0


@pytest.mark.parametrize("r", [-0.01, 1.0, 1.5, np.nan, np.inf, [0.03, -0.1]])
def test_bad_rates_raise(r):
    for call in (lambda: discounted_duration(0, 1, r), lambda: discount_factor(1, r),
                 lambda: discount_rate_to_continuous(r)):
        with pytest.raises(ValueError, match=r"allowed range \[0, 1\)"):
            call()


def test_reversed_interval_raises():
    with pytest.raises(ValueError, match="t1 must be >= t0"):
        discounted_duration(2.0, 1.0, 0.03)
    with pytest.raises(ValueError, match="t1 must be >= t0"):
        discounted_duration([0.0, 3.0], [1.0, 2.0], 0.03)


@pytest.mark.parametrize("t0,t1", [(np.nan, 1.0), (0.0, np.inf), (0.0, [1.0, np.nan])])
def test_non_finite_times_raise(t0, t1):
    with pytest.raises(ValueError, match="must be finite"):
        discounted_duration(t0, t1, 0.03)


def test_non_finite_time_in_factor_raises():
    with pytest.raises(ValueError, match="t must be finite"):
        discount_factor(np.nan, 0.03)
