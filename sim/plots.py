"""Figures of the simulation results (matplotlib, Agg canvas, no pyplot state).

Every plotting function builds a fresh :class:`matplotlib.figure.Figure` with an
Agg canvas attached and returns it; nothing is registered with ``pyplot``, so no
figures leak and the global backend is never changed.  Save with
:func:`save_figure`, which writes PNG and SVG (SVG with a fixed hash salt and no
date, so it is reproducible).

Each strategy keeps one colour across all figures: :func:`strategy_colours`
assigns the ``tab10`` colours in order of first appearance in ``patients``.
Pass the same ``colours`` mapping explicitly to force consistency across
figures drawn from different tables.

The curves reuse the estimators and censoring rules of :mod:`sim.outcomes`,
so they match the numbers in :func:`sim.outcomes.summarise`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from sim import outcomes as oc

__all__ = [
    "strategy_colours",
    "pathway_shares",
    "plot_time_to_cr",
    "plot_esrd_incidence",
    "plot_pathway_flow",
    "save_figure",
]

FIGSIZE = (7.0, 4.5)


def strategy_colours(strategies: Sequence[str]) -> dict[str, str]:
    """One ``tab10`` colour (hex string) per strategy, in the given order.

    Duplicates are ignored (first appearance counts); colours cycle after 10.
    """
    palette = matplotlib.colormaps["tab10"].colors
    ordered = list(dict.fromkeys(strategies))
    return {s: to_hex(palette[i % len(palette)]) for i, s in enumerate(ordered)}


def _strategies(patients: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(patients["strategy"].tolist()))


def _colours_for(patients: pd.DataFrame, colours: Mapping[str, str] | None) -> dict[str, str]:
    strategies = _strategies(patients)
    if colours is None:
        return strategy_colours(strategies)
    missing = [s for s in strategies if s not in colours]
    if missing:
        raise KeyError(f"no colour given for strategies {missing}")
    return dict(colours)


def _new_figure(figsize=FIGSIZE) -> tuple[Figure, object]:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    return fig, ax


def _style(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.spines[["top", "right"]].set_visible(False)


def plot_time_to_cr(
    patients: pd.DataFrame,
    colours: Mapping[str, str] | None = None,
    column: str = "cr_time_years",
) -> Figure:
    """Cumulative probability of first complete response by strategy.

    Kaplan-Meier step curves drawn as ``1 - S(t)`` (time to CR censored at
    min(death, ESRD, end of follow-up), as in :func:`sim.outcomes.summarise`).
    Each line is labelled with its strategy name.
    """
    cols = _colours_for(patients, colours)
    fig, ax = _new_figure()
    for strategy in _strategies(patients):
        p = patients[patients["strategy"] == strategy]
        t, o = oc.time_to_event_data(p, column)
        kt, ks = oc.kaplan_meier(t, o)
        ax.step(kt, 1.0 - ks, where="post", color=cols[strategy], label=strategy, linewidth=1.8)
    what = "complete response" if column == "cr_time_years" else column.replace("_time_years", "")
    _style(ax, f"Time to first {what} (Kaplan-Meier)", "Time since start of induction (years)",
           f"Cumulative probability of {what} (proportion)")
    ax.set_ylim(0, 1)
    ax.set_xlim(left=0)
    ax.legend(title="Strategy", frameon=False)
    return fig


def plot_esrd_incidence(
    patients: pd.DataFrame,
    colours: Mapping[str, str] | None = None,
    show_death: bool = False,
) -> Figure:
    """Cumulative incidence of ESRD by strategy, death before ESRD competing.

    Aalen-Johansen step curves (see :mod:`sim.outcomes`; no jitter).  With
    ``show_death=True`` the competing cumulative incidence of death before
    ESRD is added as a dashed line in the same colour.
    """
    cols = _colours_for(patients, colours)
    fig, ax = _new_figure()
    ymax = 0.0
    for strategy in _strategies(patients):
        p = patients[patients["strategy"] == strategy]
        t, c = oc.esrd_competing_risk_data(p)
        at, _, inc = oc.aalen_johansen(t, c)
        f_esrd = inc.get(oc.ESRD, np.zeros_like(at))
        ax.step(at, f_esrd, where="post", color=cols[strategy], label=strategy, linewidth=1.8)
        ymax = max(ymax, float(f_esrd.max()))
        if show_death:
            f_death = inc.get(oc.DEATH, np.zeros_like(at))
            ax.step(at, f_death, where="post", color=cols[strategy], linestyle="--",
                    linewidth=1.2, label=f"{strategy}: death before ESRD")
            ymax = max(ymax, float(f_death.max()))
    ylabel = "Cumulative incidence (proportion)" if show_death else "Cumulative incidence of ESRD (proportion)"
    _style(ax, "Cumulative incidence of ESRD (death as competing risk)",
           "Time since start of induction (years)", ylabel)
    ax.set_xlim(left=0)
    ax.set_ylim(0, min(1.0, max(0.05, ymax * 1.15)))
    ax.legend(title="Strategy", frameon=False)
    return fig


def pathway_shares(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    ladders: Mapping[str, Sequence[str]],
    switch_event: str | None = "switch",
) -> pd.DataFrame:
    """Share of patients reaching each pathway stage, by strategy.

    Returns a wide table: index = stages, columns = strategies (first
    appearance order).  Stages: ``"Induction switch"`` (share with >= 1 event
    named ``switch_event``, by default the simulation's ``"switch"`` event,
    e.g. detail ``"mmf->cyc_eurolupus"``; omitted if ``switch_event`` is None),
    ``"Refractory"`` (``refractory`` column) and every ladder step (share with
    >= 1 ``therapy_start`` of that step, as ``reached_<step>`` in
    :func:`sim.outcomes.summarise`).  Ladder steps are the union of all
    strategies' ladders, ordered by their earliest position in any ladder
    (ties: first appearance), so alternative first steps sit side by side; a
    step that is not in a strategy's ladder is NaN for that strategy.
    """
    strategies = _strategies(patients)
    rank: dict[str, tuple[int, int]] = {}  # step -> (earliest ladder position, first appearance)
    for s in strategies:
        if s not in ladders:
            raise KeyError(f"no ladder given for strategy {s!r}")
        for pos, step in enumerate(ladders[s]):
            old = rank.get(step)
            rank[step] = (pos, len(rank)) if old is None else (min(old[0], pos), old[1])
    steps = sorted(rank, key=rank.__getitem__)
    stages = (["Induction switch"] if switch_event is not None else []) + ["Refractory"] + steps
    table = pd.DataFrame(index=pd.Index(stages, name="stage"), columns=strategies, dtype=float)
    for s in strategies:
        p = patients[patients["strategy"] == s]
        ev = events[events["strategy"] == s]
        n = len(p)
        if switch_event is not None:
            switched = ev.loc[ev["event"] == switch_event, "patient"]
            table.loc["Induction switch", s] = (
                float(np.isin(pd.unique(p["patient"]), pd.unique(switched)).sum()) / n if n else np.nan
            )
        table.loc["Refractory", s] = float(p["refractory"].astype(bool).mean()) if n else np.nan
        for step in steps:
            table.loc[step, s] = oc.reached_share(p, ev, step) if step in ladders[s] else np.nan
    return table


def plot_pathway_flow(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    ladders: Mapping[str, Sequence[str]],
    colours: Mapping[str, str] | None = None,
    switch_event: str | None = "switch",
) -> Figure:
    """Grouped bars: share of patients reaching each pathway stage, by strategy.

    Stages as in :func:`pathway_shares` (induction switch, refractory, each
    ladder step in order).  Bars of one strategy share its colour and carry
    its name as label (one legend entry per strategy).
    """
    cols = _colours_for(patients, colours)
    table = pathway_shares(patients, events, ladders, switch_event=switch_event)
    strategies = list(table.columns)
    stages = list(table.index)
    width = 0.8 / max(1, len(strategies))
    fig, ax = _new_figure(figsize=(max(FIGSIZE[0], 1.1 * len(stages) + 2), FIGSIZE[1]))
    x = np.arange(len(stages))
    for i, s in enumerate(strategies):
        vals = table[s].to_numpy(dtype=float)
        ok = ~np.isnan(vals)
        ax.bar(x[ok] + (i - (len(strategies) - 1) / 2) * width, vals[ok], width=width * 0.95,
               color=cols[s], label=s)
    ax.set_xticks(x, stages, rotation=20, ha="right")
    _style(ax, "Treatment pathway: patients reaching each stage", "Pathway stage",
           "Share of patients (proportion)")
    ax.grid(False, axis="x")
    ax.set_ylim(0, 1)
    ax.legend(title="Strategy", frameon=False)
    return fig


def save_figure(fig: Figure, path_stem: str | Path) -> tuple[Path, Path]:
    """Write ``<path_stem>.png`` (150 dpi) and ``<path_stem>.svg``.

    Parent directories are created.  A trailing ``.png``/``.svg`` suffix on
    ``path_stem`` is dropped.  Returns the two paths.
    """
    stem = Path(path_stem)
    if stem.suffix.lower() in {".png", ".svg"}:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.parent / (stem.name + ".png")
    svg = stem.parent / (stem.name + ".svg")
    fig.savefig(png, format="png", dpi=150)
    with matplotlib.rc_context({"svg.hashsalt": "lnsim"}):
        fig.savefig(svg, format="svg", metadata={"Date": None})
    return png, svg
