"""Tests for the cost-effectiveness figures of sim.reporting.plots (CE plane, CEAC/CEAF, EVPI, tornado)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from sim.reporting import plots
from sim.analysis import voi
from tests.conftest import assert_figure_files

STRATEGIES = ["Base ladder", "Rituximab alone", "Rituximab then belimumab"]
GRID = np.linspace(0, 300_000, 31)


@pytest.fixture(scope="module")
def psa() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 400
    mc = np.array([60_000.0, 72_000.0, 95_000.0])
    mq = np.array([8.0, 8.25, 8.45])
    cost = mc + rng.normal(size=(n, 1)) * 8_000 + rng.normal(0, 4_000, (n, 3))
    qaly = mq + rng.normal(size=(n, 1)) * 0.3 + rng.normal(0, 0.15, (n, 3))
    return pd.DataFrame({"draw": np.repeat(np.arange(n), 3), "strategy": np.tile(STRATEGIES, n),
                         "cost": cost.ravel(), "qaly": qaly.ravel()})


@pytest.fixture(scope="module")
def one_way_df() -> pd.DataFrame:
    return pd.DataFrame({
        "parameter": ["rituximab CR", "belimumab cost", "ESRD rate", "utility CR"],
        "low_value": [0.2, 1_000, 0.01, 0.7],
        "high_value": [0.5, 3_000, 0.05, 0.9],
        "outcome_low": [120_000.0, 80_000.0, 95_000.0, 110_000.0],
        "outcome_high": [70_000.0, 125_000.0, 101_000.0, 85_000.0],
        "base": 100_000.0,
    })


def _figures(psa, one_way_df) -> dict[str, Figure]:
    c, f = voi.ceac(psa, GRID), voi.ceaf(psa, GRID)
    e = voi.evpi(psa, GRID, population=voi.effective_population(1_000, 10, 0.035), n_boot=100)
    return {
        "ce_plane": plots.plot_ce_plane(psa, STRATEGIES[0], wtp=100_000, currency="USD"),
        "ceac": plots.plot_ceac(c, f, currency="USD"),
        "evpi": plots.plot_evpi(e, currency="USD"),
        "tornado": plots.plot_tornado(one_way_df, "ICER (USD per QALY)"),
    }


def test_each_plot_writes_png_and_svg(psa, one_way_df, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    for name, fig in _figures(psa, one_way_df).items():
        assert isinstance(fig, Figure)
        png, svg = plots.save_figure(fig, tmp_path / "ce" / name)
        assert_figure_files(png, svg)
    assert plt.get_fignums() == before  # nothing registered with pyplot


def test_svg_is_reproducible(psa, one_way_df, tmp_path):
    first = {k: plots.save_figure(f, tmp_path / "a" / k)[1].read_bytes()
             for k, f in _figures(psa, one_way_df).items()}
    second = {k: plots.save_figure(f, tmp_path / "b" / k)[1].read_bytes()
              for k, f in _figures(psa, one_way_df).items()}
    assert first == second


def test_axes_labelled_with_units(psa, one_way_df):
    figs = _figures(psa, one_way_df)
    ax = figs["ce_plane"].axes[0]
    assert ax.get_xlabel() == "Incremental QALYs"
    assert ax.get_ylabel() == "Incremental cost (USD)"
    ax = figs["ceac"].axes[0]
    assert ax.get_xlabel() == "Willingness to pay (USD per QALY)"
    assert "(proportion)" in ax.get_ylabel()
    ax = figs["evpi"].axes[0]
    assert ax.get_ylabel() == "EVPI per patient (USD)"
    assert "(USD per QALY)" in ax.get_xlabel()
    secondary = ax.child_axes  # the population axis (secondary_yaxis)
    assert secondary and "Population EVPI" in secondary[0].get_ylabel() and "(USD)" in secondary[0].get_ylabel()
    assert figs["tornado"].axes[0].get_xlabel() == "ICER (USD per QALY)"
    # without a currency the unit is still stated
    assert plots.plot_ce_plane(psa, STRATEGIES[0]).axes[0].get_ylabel() == "Incremental cost (currency units)"
    c = plots.plot_ceac(voi.ceac(psa, GRID)).axes[0]
    assert c.get_xlabel() == "Willingness to pay (currency units per QALY)"


def test_strategy_colours_consistent(psa, one_way_df):
    expected = plots.strategy_colours(STRATEGIES)
    figs = _figures(psa, one_way_df)
    scatter = {col.get_label(): to_hex(col.get_facecolor()[0], keep_alpha=False)
               for col in figs["ce_plane"].axes[0].collections if not col.get_label().startswith("_")}
    assert scatter == {s: expected[s] for s in STRATEGIES[1:]}  # the reference is not plotted
    lines = {ln.get_label(): to_hex(ln.get_color()) for ln in figs["ceac"].axes[0].get_lines()
             if ln.get_label() in STRATEGIES}
    assert lines == expected


def test_ce_plane_wtp_line_and_means(psa):
    fig = plots.plot_ce_plane(psa, STRATEGIES[0], wtp=50_000, currency="EUR")
    ax = fig.axes[0]
    wtp_lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("WTP")]
    assert len(wtp_lines) == 1 and "50,000 EUR per QALY" in wtp_lines[0].get_label()
    x, y = wtp_lines[0].get_data()
    np.testing.assert_allclose(np.asarray(y), 50_000 * np.asarray(x))
    # the origin is in view
    assert ax.get_xlim()[0] <= 0 <= ax.get_xlim()[1] and ax.get_ylim()[0] <= 0 <= ax.get_ylim()[1]
    plane = voi.ce_plane_data(psa, STRATEGIES[0])
    means = [col for col in ax.collections if col.get_label().startswith("_mean")]
    assert {col.get_label() for col in means} == {f"_mean {s}" for s in STRATEGIES[1:]}   # one per comparator
    for col in means:
        s = col.get_label().removeprefix("_mean ")
        d = plane[plane["strategy"] == s]
        np.testing.assert_allclose(col.get_offsets()[0], [d["inc_qaly"].mean(), d["inc_cost"].mean()])


def test_ceac_marks_frontier_segments(psa):
    c, f = voi.ceac(psa, GRID), voi.ceaf(psa, GRID)
    ax = plots.plot_ceac(c, f).axes[0]
    band = [ln for ln in ax.get_lines() if ln.get_label() in ("CEAF (highest expected net benefit)", "_ceaf")]
    runs = (f["strategy"] != f["strategy"].shift()).sum()
    assert len(band) == runs >= 2
    # the band follows the CEAF probabilities
    ys = np.concatenate([ln.get_ydata() for ln in band])
    np.testing.assert_allclose(ys, f["probability"].to_numpy())


def test_tornado_puts_largest_swing_on_top(one_way_df):
    fig = plots.plot_tornado(one_way_df, "ICER (USD per QALY)")
    ax = fig.axes[0]
    ordered = voi.one_way(one_way_df)["parameter"].tolist()
    ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]), reverse=True)
    assert [label.split("  (")[0] for _, label in ticks] == ordered
    assert "belimumab cost  (1,000 to 3,000)" in [label for _, label in ticks]
    assert len(ax.patches) == 2 * len(one_way_df)
    top = plots.plot_tornado(one_way_df, "ICER (USD per QALY)", top=2).axes[0]
    assert len(top.get_yticks()) == 2
