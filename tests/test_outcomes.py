"""Property tests for sim.analysis.outcomes (no numbers copied from the code's output)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis import outcomes as oc

NAN = float("nan")


# ---------------------------------------------------------------------------
# Synthetic inputs
# ---------------------------------------------------------------------------
def make_patients(rows: list[dict], strategy: str = "A") -> pd.DataFrame:
    base = {
        "strategy": strategy,
        "isn_class": "IV",
        "refractory": False,
        "nonadherent": False,
        "highest_step": "induction",
        "n_renal_flares": 0,
        "cr_time_years": NAN,
        "response_time_years": NAN,
        "esrd_time_years": NAN,
        "death_time_years": NAN,
        "followup_years": 20.0,
    }
    out = []
    for i, r in enumerate(rows):
        d = dict(base, patient=i)
        d.update(r)
        out.append(d)
    return pd.DataFrame(out)


def empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "strategy": pd.Series([], dtype=object),
            "patient": pd.Series([], dtype=int),
            "time_years": pd.Series([], dtype=float),
            "event": pd.Series([], dtype=object),
            "detail": pd.Series([], dtype=object),
        }
    )


def random_cohort(seed: int, n: int, strategy: str, horizon: float = 20.0) -> pd.DataFrame:
    """Random but reproducible cohort built with a *local* Generator."""
    rng = np.random.default_rng(seed)
    death = rng.exponential(25.0, n)
    esrd = rng.exponential(30.0, n)
    cr = rng.exponential(1.5, n)
    resp = cr * rng.uniform(0.3, 1.0, n)
    followup = np.minimum(death, horizon)
    died = death <= horizon
    return pd.DataFrame(
        {
            "strategy": strategy,
            "patient": np.arange(n),
            "isn_class": rng.choice(["III", "IV", "V"], n),
            "refractory": rng.uniform(size=n) < 0.35,
            "nonadherent": rng.uniform(size=n) < 0.2,
            "highest_step": "induction",
            "n_renal_flares": rng.poisson(1.0, n),
            "cr_time_years": np.where(cr <= followup, cr, np.nan),
            "response_time_years": np.where(resp <= followup, resp, np.nan),
            "esrd_time_years": np.where(esrd <= followup, esrd, np.nan),
            "death_time_years": np.where(died, death, np.nan),
            "followup_years": followup,
        }
    )


# ---------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------
def test_km_hand_computed_five_patients():
    # times 1(event) 2(event) 2(censored) 3(event) 4(censored)
    times = [1.0, 2.0, 2.0, 3.0, 4.0]
    observed = [True, True, False, True, False]
    t, s = oc.kaplan_meier(times, observed)
    # By hand: t=1: 5 at risk, 1 event -> 4/5
    #          t=2: 4 at risk (censored-at-2 still at risk), 1 event -> 4/5*3/4
    #          t=3: 2 at risk, 1 event -> 4/5*3/4*1/2
    #          t=4: censoring only, curve extended flat to the last time
    s1 = 4 / 5
    s2 = s1 * 3 / 4
    s3 = s2 * 1 / 2
    np.testing.assert_allclose(t, [0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(s, [1.0, s1, s2, s3, s3])
    # evaluation: right-continuous, flat between events, NaN past follow-up
    at = [0.0, 0.999, 1.0, 2.5, 3.0, 4.0, 4.5]
    np.testing.assert_allclose(
        oc.km_survival_at(times, observed, at), [1.0, 1.0, s1, s2, s3, s3, NAN]
    )
    # median = first time S <= 1/2: S(2) = 0.6 > 0.5, S(3) = 0.3
    assert oc.km_median(times, observed) == 3.0


def test_km_agrees_with_lifelines():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(3)
    times = np.round(rng.exponential(2.0, 200), 1)  # rounding creates ties
    observed = rng.uniform(size=200) < 0.7
    t, s = oc.kaplan_meier(times, observed)
    kmf = KaplanMeierFitter().fit(times, observed)
    grid = np.linspace(0, times.max(), 57)
    np.testing.assert_allclose(
        oc.km_survival_at(times, observed, grid),
        kmf.survival_function_at_times(grid).to_numpy(),
        rtol=1e-12,
    )
    assert oc.km_median(times, observed) == pytest.approx(kmf.median_survival_time_)


def test_km_absorbed_curve_defined_beyond_last_time():
    times = [1.0, 2.0, 3.0]
    observed = [True, True, True]
    assert oc.km_survival_at(times, observed, 10.0) == 0.0
    assert np.isnan(oc.km_median([1.0, 2.0], [False, False]))


def test_km_and_aj_equal_empirical_proportions_without_censoring():
    rng = np.random.default_rng(11)
    n = 500
    times = rng.exponential(3.0, n)
    at = np.array([0.5, 1.0, 2.0, 5.0, 8.0])
    at = at[at <= times.max()]
    km = 1.0 - oc.km_survival_at(times, np.ones(n, bool), at)
    np.testing.assert_allclose(km, [(times <= a).mean() for a in at], rtol=0, atol=1e-12)

    cause = np.where(rng.uniform(size=n) < 0.4, 1, 2)  # no censoring
    for k in (1, 2):
        aj = oc.cumulative_incidence_at(times, cause, k, at)
        emp = [((times <= a) & (cause == k)).mean() for a in at]
        np.testing.assert_allclose(aj, emp, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------
# Aalen-Johansen
# ---------------------------------------------------------------------------
def _competing_sample(seed=5, n=400):
    rng = np.random.default_rng(seed)
    t1 = rng.exponential(10.0, n)
    t2 = rng.exponential(15.0, n)
    c = rng.uniform(0, 20.0, n)
    times = np.round(np.minimum.reduce([t1, t2, c]), 1)  # ties across causes
    cause = np.select([t1 <= np.minimum(t2, c), t2 <= np.minimum(t1, c)], [1, 2], 0)
    return times, cause


def test_aj_sums_to_one_minus_overall_km():
    times, cause = _competing_sample()
    grid = np.linspace(0.0, times.max(), 101)
    f1 = oc.cumulative_incidence_at(times, cause, 1, grid)
    f2 = oc.cumulative_incidence_at(times, cause, 2, grid)
    s_any = oc.km_survival_at(times, cause != 0, grid)
    assert np.all(f1 + f2 <= 1.0 + 1e-12)
    np.testing.assert_allclose(f1 + f2, 1.0 - s_any, atol=1e-12)
    assert np.all(np.diff(f1) >= 0) and np.all(np.diff(f2) >= 0)


def test_aj_between_naive_share_and_one_minus_km():
    times, cause = _competing_sample(seed=8)
    assert (cause == 0).any() and (cause == 2).any()
    grid = np.linspace(0.5, times.max(), 40)
    aj = oc.cumulative_incidence_at(times, cause, 1, grid)
    naive = np.array([((times <= g) & (cause == 1)).mean() for g in grid])
    one_minus_km = 1.0 - oc.km_survival_at(times, cause == 1, grid)  # death censored
    assert np.all(aj >= naive - 1e-12)
    assert np.all(aj <= one_minus_km + 1e-12)
    # the biases are strict somewhere once censoring/competing events occurred
    assert (aj > naive + 1e-9).any()
    assert (aj < one_minus_km - 1e-9).any()


def test_aj_does_not_touch_global_rng_and_handles_cross_cause_ties():
    times = np.array([1.0, 1.0, 2.0, 2.0, 3.0])
    cause = np.array([1, 2, 1, 0, 2])
    state = np.random.get_state()
    t, f1 = oc.cumulative_incidence(times, cause, 1)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    # by hand: t=1: 5 at risk, one of each cause -> F1 += 1 * 1/5, S = 3/5
    #          t=2: 3 at risk, one cause-1 event -> F1 += 3/5 * 1/3, S = 3/5*2/3
    #          t=3: 1 at risk, cause 2 -> F1 unchanged, S = 0
    np.testing.assert_allclose(t, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(f1, [0.0, 1 / 5, 1 / 5 + 1 / 5, 2 / 5])
    # everyone has had an event by t=3, so the curve is defined afterwards
    assert oc.cumulative_incidence_at(times, cause, 1, 50.0) == pytest.approx(2 / 5)


# ---------------------------------------------------------------------------
# Censoring rules on the patients table
# ---------------------------------------------------------------------------
def test_cr_after_esrd_or_death_is_not_counted():
    p = make_patients(
        [
            {"cr_time_years": 0.3},
            {"cr_time_years": 0.8, "esrd_time_years": 0.4},  # CR after ESRD: censored at 0.4
            {"cr_time_years": 0.9, "death_time_years": 0.6, "followup_years": 0.6},
            {},
        ]
    )
    t, o = oc.time_to_event_data(p, "cr_time_years")
    np.testing.assert_allclose(t, [0.3, 0.4, 0.6, 20.0])
    assert o.tolist() == [True, False, False, False]


def test_esrd_competing_data_rules():
    p = make_patients(
        [
            {"esrd_time_years": 2.0},  # ESRD, then lives on
            {"esrd_time_years": 2.0, "death_time_years": 3.0, "followup_years": 3.0},  # ESRD first
            {"death_time_years": 1.0, "followup_years": 1.0},  # death first
            {},  # censored at horizon
        ]
    )
    t, c = oc.esrd_competing_risk_data(p)
    np.testing.assert_allclose(t, [2.0, 2.0, 1.0, 20.0])
    assert c.tolist() == [oc.ESRD, oc.ESRD, oc.DEATH, oc.CENSORED]


# ---------------------------------------------------------------------------
# summarise
# ---------------------------------------------------------------------------
LADDERS = {"A": ["rituximab", "multitarget", "MSC"], "B": ["multitarget", "immunoadsorption"]}


def _events_table() -> pd.DataFrame:
    rows = [
        ("A", 0, 0.0, "therapy_start", "MMF"),
        ("A", 0, 0.5, "therapy_start", "rituximab"),
        ("A", 0, 0.9, "therapy_start", "rituximab"),  # second course, same patient
        ("A", 0, 1.2, "therapy_start", "multitarget"),
        ("A", 1, 0.7, "therapy_start", "rituximab"),
        ("A", 2, 0.7, "renal_flare", "rituximab"),  # wrong event type: ignored
        ("A", 3, 0.7, "therapy_start", "belimumab"),  # not a ladder step
        ("B", 0, 0.6, "therapy_start", "rituximab"),  # other strategy: ignored for A
        ("B", 1, 0.6, "therapy_start", "multitarget"),
        ("A", 99, 0.6, "therapy_start", "MSC"),  # patient not in table: ignored
    ]
    return pd.DataFrame(rows, columns=["strategy", "patient", "time_years", "event", "detail"])


def _two_strategy_patients() -> pd.DataFrame:
    a = make_patients([{} for _ in range(4)], "A")
    b = make_patients([{} for _ in range(5)], "B")
    return pd.concat([a, b], ignore_index=True)


def test_reached_shares_hand_built():
    s = oc.summarise(_two_strategy_patients(), _events_table(), LADDERS)
    v = s.set_index(["strategy", "metric"])["value"]
    assert v["A", "reached_rituximab"] == 2 / 4
    assert v["A", "reached_multitarget"] == 1 / 4
    assert v["A", "reached_MSC"] == 0.0
    assert v["B", "reached_multitarget"] == 1 / 5
    assert v["B", "reached_immunoadsorption"] == 0.0
    assert ("B", "reached_rituximab") not in v.index


def test_metric_set_complete_and_ordered():
    pa = random_cohort(1, 300, "B-strategy")
    pb = random_cohort(2, 250, "A-strategy")
    patients = pd.concat([pa, pb], ignore_index=True)
    ladders = {"B-strategy": ["rituximab", "multitarget"], "A-strategy": ["MSC"], "unused": ["x"]}
    s = oc.summarise(patients, empty_events(), ladders)
    assert list(s.columns) == ["strategy", "metric", "value"]
    assert list(pd.unique(s["strategy"])) == ["B-strategy", "A-strategy"]  # first appearance
    expected_base = {
        "patients", "cr_6m", "cr_12m", "cr_24m", "response_6m", "response_12m",
        "median_time_to_cr_years", "refractory", "refractory_nonadherent",
        "flares_per_patient_year", "esrd_5y", "esrd_10y", "esrd_15y",
        "death_5y", "death_10y", "life_years",
    }
    for strat, ladder in [("B-strategy", ladders["B-strategy"]), ("A-strategy", ladders["A-strategy"])]:
        got = s.loc[s["strategy"] == strat, "metric"].tolist()
        assert len(got) == len(set(got))
        # the clinical metrics without their columns (a hand-made table): adverse events only
        assert set(got) == expected_base | {f"reached_{x}" for x in ladder} | {
            "adverse_events_per_patient", "severe_adverse_events_per_patient"}
        assert got == oc.metric_names(ladder)
    v = s.set_index(["strategy", "metric"])["value"]
    assert v["B-strategy", "patients"] == 300 and v["A-strategy", "patients"] == 250
    # horizon 20 years: all time points are within follow-up, so all defined
    props = [m for m in expected_base if m not in {"patients", "median_time_to_cr_years",
                                                   "flares_per_patient_year", "life_years"}]
    for strat in ["B-strategy", "A-strategy"]:
        vals = np.array([v[strat, m] for m in props])
        assert np.all((vals >= 0) & (vals <= 1)), strat
        assert v[strat, "cr_6m"] <= v[strat, "cr_12m"] <= v[strat, "cr_24m"]
        assert v[strat, "esrd_5y"] <= v[strat, "esrd_10y"] <= v[strat, "esrd_15y"]
        assert 0 < v[strat, "life_years"] <= 20.0


def test_simple_metrics_against_hand_computation():
    p = make_patients(
        [
            {"refractory": True, "nonadherent": True, "n_renal_flares": 2, "followup_years": 10.0},
            {"refractory": True, "nonadherent": False, "n_renal_flares": 1, "followup_years": 10.0},
            {"refractory": True, "nonadherent": False, "n_renal_flares": 0,
             "death_time_years": 5.0, "followup_years": 5.0},
            {"refractory": False, "nonadherent": True, "n_renal_flares": 3, "followup_years": 10.0},
        ]
    )
    s = oc.summarise(p, empty_events(), {"A": []})
    v = s.set_index("metric")["value"]
    assert v["refractory"] == 3 / 4
    assert v["refractory_nonadherent"] == pytest.approx(1 / 3)
    assert v["flares_per_patient_year"] == pytest.approx(6 / 35)
    assert v["life_years"] == pytest.approx(35 / 4)
    assert v["death_5y"] == pytest.approx(1 / 4)  # no censoring before 5 y
    # nobody followed beyond 10 years and curve not absorbed -> NaN, no extrapolation
    assert np.isnan(v["esrd_15y"])
    assert v["esrd_10y"] == 0.0  # followed to 10 y, flat curve -> its value
    assert np.isnan(v["median_time_to_cr_years"])


def test_no_censoring_summary_equals_empirical_shares():
    rng = np.random.default_rng(21)
    n = 400
    cr = rng.uniform(0.1, 3.0, n)
    esrd_first = rng.uniform(size=n) < 0.3
    t_event = rng.uniform(0.5, 12.0, n)
    p = make_patients([{} for _ in range(n)])
    p["cr_time_years"] = cr
    p["response_time_years"] = cr / 2
    # everyone has ESRD or dies (no censoring); ESRD patients are followed to the horizon
    p["esrd_time_years"] = np.where(esrd_first, t_event, np.nan)
    p["death_time_years"] = np.where(esrd_first, np.nan, t_event + 3.5)
    p["followup_years"] = np.where(esrd_first, 20.0, t_event + 3.5)
    # CR only counts if before ESRD/death: remove those that are not, to keep it uncensored
    censor = np.minimum(np.where(esrd_first, t_event, np.inf), p["death_time_years"].fillna(np.inf))
    keep = cr <= censor
    p = p[keep].reset_index(drop=True)
    s = oc.summarise(p, empty_events(), {"A": []}).set_index("metric")["value"]
    crt = p["cr_time_years"].to_numpy()
    for name, at in [("cr_6m", 0.5), ("cr_12m", 1.0), ("cr_24m", 2.0)]:
        assert s[name] == pytest.approx((crt <= at).mean(), abs=1e-12)
    esrd = p["esrd_time_years"].to_numpy()
    for name, at in [("esrd_5y", 5.0), ("esrd_10y", 10.0)]:
        assert s[name] == pytest.approx(np.mean(esrd <= at), abs=1e-12)


def test_missing_ladder_raises():
    with pytest.raises(KeyError, match="no ladder given for strategy 'B'"):
        oc.summarise(_two_strategy_patients(), _events_table(), {"A": ["rituximab"]})


def test_summarise_deterministic_bytes():
    patients = pd.concat([random_cohort(7, 300, "A"), random_cohort(8, 300, "B")], ignore_index=True)
    # force cross-cause ties (the case where lifelines' AJ would jitter)
    patients.loc[:20, "esrd_time_years"] = 3.0
    patients.loc[21:40, ["death_time_years", "followup_years", "esrd_time_years"]] = [3.0, 3.0, np.nan]
    events = _events_table()

    def run() -> bytes:
        buf = io.StringIO()
        oc.summarise(patients, events, LADDERS).to_csv(buf, index=False)
        return buf.getvalue().encode()

    np.random.seed(1)
    first = run()
    np.random.seed(999)
    second = run()
    assert first == second


def test_monte_carlo_se():
    assert oc.monte_carlo_se(0.5, 100) == pytest.approx(0.05)
    assert oc.monte_carlo_se(0.0, 10) == 0.0
    assert np.isnan(oc.monte_carlo_se(0.3, 0))
    np.testing.assert_allclose(
        oc.monte_carlo_se(np.array([0.1, 0.9]), 400), np.sqrt(0.09 / 400) * np.ones(2)
    )


def test_greenwood_standard_error_by_hand():
    """S(3.5) = (5/6)(4/5)(2/3); Var = S^2 (1/(6*5) + 1/(5*4) + 1/(3*2)) (a censoring at 2 stays at
    risk at 2); beyond the last follow-up: NaN."""
    t = [1, 2, 2, 3, 4, 5]
    d = [True, True, False, True, False, True]
    s, se = oc.km_greenwood_at(t, d, 3.5)
    want = 5 / 6 * 4 / 5 * 2 / 3
    assert s == pytest.approx(want, rel=1e-12)
    assert se == pytest.approx(want * math.sqrt(1 / 30 + 1 / 20 + 1 / 6), rel=1e-12)
    assert s == pytest.approx(oc.km_survival_at(t, d, 3.5), rel=0, abs=0)
    t2, d2 = [1, 2, 3], [True, False, False]
    assert all(math.isnan(x) for x in oc.km_greenwood_at(t2, d2, 4.0))
