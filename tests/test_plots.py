"""Tests for sim.reporting.plots: files are written, colours are consistent, no pyplot leaks."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from sim.reporting import plots
from tests.conftest import assert_figure_files

STRATEGIES = ["EULAR early switch", "ACR late switch"]
LADDERS = {
    "EULAR early switch": ["rituximab", "multitarget", "MSC"],
    "ACR late switch": ["rituximab", "multitarget", "immunoadsorption"],
}


def _cohort(rng: np.random.Generator, strategy: str, n: int, horizon: float = 15.0) -> pd.DataFrame:
    death = rng.exponential(30.0, n)
    esrd = rng.exponential(25.0, n)
    cr = rng.exponential(1.2, n)
    followup = np.minimum(death, horizon)
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
            "response_time_years": np.where(cr / 2 <= followup, cr / 2, np.nan),
            "esrd_time_years": np.where(esrd <= followup, esrd, np.nan),
            "death_time_years": np.where(death <= horizon, death, np.nan),
            "followup_years": followup,
        }
    )


def _events(rng: np.random.Generator, patients: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in patients.iterrows():
        rows.append((r.strategy, r.patient, 0.0, "therapy_start", "MMF"))
        if rng.uniform() < 0.5:
            rows.append((r.strategy, r.patient, 0.5, "switch", "MMF->CYC"))
        if r.refractory:
            t = 1.0
            for step in LADDERS[r.strategy]:
                rows.append((r.strategy, r.patient, t, "therapy_start", step))
                t += 0.5
                if rng.uniform() < 0.5:
                    break
    return pd.DataFrame(rows, columns=["strategy", "patient", "time_years", "event", "detail"])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    patients = pd.concat([_cohort(rng, s, 150) for s in STRATEGIES], ignore_index=True)
    events = _events(rng, patients)
    return patients, events


def _all_figures(patients, events):
    return {
        "time_to_cr": plots.plot_time_to_cr(patients),
        "esrd": plots.plot_esrd_incidence(patients),
        "pathway": plots.plot_pathway_flow(patients, events, LADDERS),
    }


def test_each_plot_writes_png_and_svg(data, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    patients, events = data
    for name, fig in _all_figures(patients, events).items():
        assert isinstance(fig, Figure)
        png, svg = plots.save_figure(fig, tmp_path / "sub" / name)
        assert_figure_files(png, svg)
    assert plt.get_fignums() == before  # nothing registered with pyplot


def test_save_figure_strips_known_suffix_and_svg_is_reproducible(data, tmp_path):
    patients, _ = data
    fig = plots.plot_time_to_cr(patients)
    png, svg = plots.save_figure(fig, tmp_path / "km.png")
    assert png.name == "km.png" and svg.name == "km.svg"
    first = svg.read_bytes()
    plots.save_figure(plots.plot_time_to_cr(patients), tmp_path / "km")
    assert svg.read_bytes() == first


def test_strategy_colours_tab10_in_order():
    cols = plots.strategy_colours(["b", "a", "b", "c"])
    tab10 = [to_hex(c) for c in matplotlib.colormaps["tab10"].colors]
    assert list(cols) == ["b", "a", "c"]
    assert list(cols.values()) == tab10[:3]


def _line_colours(fig) -> dict[str, str]:
    ax = fig.axes[0]
    return {ln.get_label(): to_hex(ln.get_color()) for ln in ax.get_lines()}


def _bar_colours(fig) -> dict[str, str]:
    ax = fig.axes[0]
    out: dict[str, set] = {}
    for container in ax.containers:
        out.setdefault(container.get_label(), set()).update(to_hex(p.get_facecolor()) for p in container)
    assert all(len(v) == 1 for v in out.values())
    return {k: v.pop() for k, v in out.items()}


def test_colours_consistent_between_plots(data):
    patients, events = data
    expected = plots.strategy_colours(STRATEGIES)
    figs = _all_figures(patients, events)
    assert _line_colours(figs["time_to_cr"]) == expected
    assert _line_colours(figs["esrd"]) == expected
    assert _bar_colours(figs["pathway"]) == expected
    assert len(set(expected.values())) == len(STRATEGIES)


def test_axes_labelled_with_units(data):
    patients, events = data
    figs = _all_figures(patients, events)
    for name in ("time_to_cr", "esrd"):
        ax = figs[name].axes[0]
        assert "(years)" in ax.get_xlabel()
        assert "(proportion)" in ax.get_ylabel()
    assert "(proportion)" in figs["pathway"].axes[0].get_ylabel()


def test_pathway_shares_match_events(data):
    patients, events = data
    table = plots.pathway_shares(patients, events, LADDERS)
    assert list(table.columns) == STRATEGIES
    assert list(table.index) == ["Induction switch", "Refractory", "rituximab", "multitarget",
                                 "MSC", "immunoadsorption"]
    # alternative first steps are grouped by ladder position, not appended at the end
    other = plots.pathway_shares(patients, events, {STRATEGIES[0]: ["a", "b"], STRATEGIES[1]: ["c", "b"]})
    assert list(other.index) == ["Induction switch", "Refractory", "a", "c", "b"]
    for s in STRATEGIES:
        p = patients[patients["strategy"] == s]
        ev = events[events["strategy"] == s]
        switched = ev.loc[ev["event"] == "switch", "patient"].nunique()
        assert table.loc["Induction switch", s] == switched / len(p)
        assert table.loc["Refractory", s] == p["refractory"].mean()
        # ladder reached only by refractory patients and shares decrease along the ladder
        steps = [table.loc[x, s] for x in LADDERS[s]]
        assert steps[0] == table.loc["Refractory", s]
        assert steps == sorted(steps, reverse=True)
    assert np.isnan(table.loc["immunoadsorption", "EULAR early switch"])
    assert np.isnan(table.loc["MSC", "ACR late switch"])


def test_explicit_colours_override(data):
    patients, _ = data
    custom = {"EULAR early switch": "#000000", "ACR late switch": "#ff0000"}
    assert _line_colours(plots.plot_time_to_cr(patients, colours=custom)) == custom
    with pytest.raises(KeyError, match="ACR late switch"):
        plots.plot_esrd_incidence(patients, colours={"EULAR early switch": "#000000"})
