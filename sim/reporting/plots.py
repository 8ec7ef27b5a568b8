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

The curves reuse the estimators and censoring rules of :mod:`sim.analysis.outcomes`,
so they match the numbers in :func:`sim.analysis.outcomes.summarise`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from sim.analysis import outcomes as oc
from sim.analysis.outcomes import Z95

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
    min(death, ESRD, end of follow-up), as in :func:`sim.analysis.outcomes.summarise`).
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

    Aalen-Johansen step curves (see :mod:`sim.analysis.outcomes`; no jitter).  With
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


def ladder_order(ladders: Iterable[Sequence[str]]) -> list[str]:
    """Every step of these ladders, ordered by its earliest position in any ladder (ties: first
    appearance), so alternative first steps sit side by side."""
    rank: dict[str, tuple[int, int]] = {}  # step -> (earliest ladder position, first appearance)
    for ladder in ladders:
        for pos, step in enumerate(ladder):
            old = rank.get(step)
            rank[step] = (pos, len(rank)) if old is None else (min(old[0], pos), old[1])
    return sorted(rank, key=rank.__getitem__)


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
    :func:`sim.analysis.outcomes.summarise`).  Ladder steps are the union of all
    strategies' ladders, ordered by their earliest position in any ladder
    (ties: first appearance), so alternative first steps sit side by side; a
    step that is not in a strategy's ladder is NaN for that strategy.
    """
    strategies = _strategies(patients)
    for s in strategies:
        if s not in ladders:
            raise KeyError(f"no ladder given for strategy {s!r}")
    steps = ladder_order(ladders[s] for s in strategies)
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


# ---------------------------------------------------------------------------
# Cost-effectiveness figures: CE plane, CEAC/CEAF, EVPI, tornado
# (tables from sim.analysis.voi; strategies keep their strategy_colours colour)
# ---------------------------------------------------------------------------

__all__ += ["plot_ce_plane", "plot_ceac", "plot_evpi", "plot_tornado"]

_WTP_LINE = "#555555"
_TORNADO_LOW, _TORNADO_HIGH = "#4c78a8", "#f58518"


def _money_label(what: str, currency: str | None) -> str:
    return f"{what} ({currency})" if currency else f"{what} (currency units)"


def _per_qaly_label(currency: str | None) -> str:
    unit = f"{currency} per QALY" if currency else "currency units per QALY"
    return f"Willingness to pay ({unit})"


def _number(v: float) -> str:
    """Compact label for a parameter value or outcome: 1,500 / 0.035 / 12.5."""
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _thousands(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.6g}"))


def plot_ce_plane(
    psa: pd.DataFrame,
    reference: str,
    wtp: float | None = None,
    currency: str | None = None,
    colours: Mapping[str, str] | None = None,
) -> Figure:
    """Cost-effectiveness plane: incremental cost vs incremental QALYs per draw.

    One scatter (label = strategy name, its ``strategy_colours`` colour; the
    colours are assigned over all strategies of ``psa`` in order of first
    appearance, reference included, so they match the other figures) for each
    strategy against ``reference`` (see :func:`sim.analysis.voi.ce_plane_data`), its mean
    as a larger diamond, the axes through the origin, and, with ``wtp``, the
    threshold line ``incremental cost = wtp x incremental QALYs`` (points below
    it are cost-effective at that threshold).
    """
    from sim.analysis import voi

    cols = _colours_for(psa, colours)
    data = voi.ce_plane_data(psa, reference)
    fig, ax = _new_figure()
    for strategy, d in data.groupby("strategy", sort=False):
        ax.scatter(d["inc_qaly"], d["inc_cost"], s=9, alpha=0.35, color=cols[strategy],
                   edgecolors="none", label=strategy, rasterized=len(d) > 2000)
        ax.scatter([d["inc_qaly"].mean()], [d["inc_cost"].mean()], s=70, marker="D",
                   color=cols[strategy], edgecolors="black", linewidths=0.8, zorder=3,
                   label=f"_mean {strategy}")
    ax.axhline(0, color="black", linewidth=0.7)
    ax.axvline(0, color="black", linewidth=0.7)
    # Symmetric-ish limits that always include the origin.
    ax.margins(0.08)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    ax.set_xlim(min(x0, 0), max(x1, 0))
    ax.set_ylim(min(y0, 0), max(y1, 0))
    if wtp is not None:
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        xs = np.array([x0, x1])
        ax.plot(xs, wtp * xs, linestyle="--", color=_WTP_LINE, linewidth=1.2,
                label=f"WTP {wtp:,.0f} {currency or ''} per QALY".replace("  ", " "))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
    n_draws = psa["draw"].nunique()
    _style(ax, f"Cost-effectiveness plane: each strategy vs {reference}\n"
               f"{n_draws:,} parameter draws (dots) and their mean (diamond)",
           "Incremental QALYs", _money_label("Incremental cost", currency))
    _thousands(ax.yaxis)
    legend = ax.legend(frameon=False, fontsize="small", markerscale=1.5)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    return fig


def _runs(values: Sequence) -> list[tuple[int, int]]:
    """[start, stop) index ranges of consecutive equal values."""
    runs, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            runs.append((start, i))
            start = i
    return runs


def plot_ceac(
    ceac_df: pd.DataFrame,
    ceaf_df: pd.DataFrame | None = None,
    currency: str | None = None,
    colours: Mapping[str, str] | None = None,
) -> Figure:
    """Cost-effectiveness acceptability curves, with the frontier (CEAF) marked.

    ``ceac_df`` from :func:`sim.analysis.voi.ceac` (one line per strategy, labelled with
    its name); ``ceaf_df`` from :func:`sim.analysis.voi.ceaf`, drawn as a wide grey band
    over the curve of the strategy with the highest expected net benefit,
    interrupted where the optimal strategy changes (dotted vertical lines).
    """
    cols = _colours_for(ceac_df, colours)
    fig, ax = _new_figure()
    if ceaf_df is not None and len(ceaf_df):
        f = ceaf_df.sort_values("wtp", kind="mergesort").reset_index(drop=True)
        first = True
        runs = _runs(f["strategy"].tolist())
        for start, stop in runs:
            seg = f.iloc[start:stop]
            ax.plot(seg["wtp"], seg["probability"], color="black", alpha=0.18, linewidth=7,
                    solid_capstyle="butt", label="CEAF (highest expected net benefit)" if first else "_ceaf",
                    zorder=1)
            first = False
        for start, _ in runs[1:]:
            ax.axvline(0.5 * (f["wtp"].iloc[start - 1] + f["wtp"].iloc[start]), color=_WTP_LINE,
                       linestyle=":", linewidth=1.0, zorder=1)
    for strategy, d in ceac_df.groupby("strategy", sort=False):
        ax.plot(d["wtp"], d["probability"], color=cols[strategy], linewidth=1.8, label=strategy, zorder=2)
    _style(ax, "Cost-effectiveness acceptability curves", _per_qaly_label(currency),
           "Probability cost-effective (proportion)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(ceac_df["wtp"].min(), ceac_df["wtp"].max())
    _thousands(ax.xaxis)
    ax.legend(frameon=False, fontsize="small")
    return fig


def plot_evpi(evpi_df: pd.DataFrame, currency: str | None = None) -> Figure:
    """EVPI per patient against willingness to pay, from :func:`sim.analysis.voi.evpi`.

    A line with a shaded 95% Monte Carlo interval (+-1.96 ``evpi_se``, when
    present). If the table has population columns, a right-hand axis gives the
    population EVPI (the same curve, scaled by the population).
    """
    d = evpi_df.sort_values("wtp", kind="mergesort")
    fig, ax = _new_figure()
    ax.plot(d["wtp"], d["evpi"], color="black", linewidth=1.8, label="EVPI per patient")
    if "evpi_se" in d and d["evpi_se"].notna().any():
        lo = np.clip(d["evpi"] - Z95 * d["evpi_se"], 0, None)
        hi = d["evpi"] + Z95 * d["evpi_se"]
        ax.fill_between(d["wtp"], lo, hi, color="black", alpha=0.15, linewidth=0,
                        label="95% Monte Carlo interval")
    _style(ax, "Expected value of perfect information", _per_qaly_label(currency),
           _money_label("EVPI per patient", currency))
    ax.set_ylim(bottom=0)
    ax.set_xlim(d["wtp"].min(), d["wtp"].max())
    _thousands(ax.xaxis)
    _thousands(ax.yaxis)
    if "population" in d and d["population"].notna().all() and len(d) and float(d["population"].iloc[0]) > 0:
        pop = float(d["population"].iloc[0])
        sec = ax.secondary_yaxis("right", functions=(lambda v: v * pop, lambda v: v / pop))
        sec.set_ylabel(_money_label(f"Population EVPI, {pop:,.0f} patients", currency))
        _thousands(sec.yaxis)
        ax.spines["right"].set_visible(True)
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    return fig


def plot_tornado(
    one_way_df: pd.DataFrame,
    outcome_label: str,
    top: int | None = None,
) -> Figure:
    """Tornado diagram of a one-way sensitivity analysis.

    ``one_way_df`` as returned by :func:`sim.analysis.voi.one_way` (or its raw input,
    which is ordered with it). One row per parameter, largest swing at the
    top; bars run from the base-case outcome to the outcome with the parameter
    at its low value (blue) and at its high value (orange); tick labels give
    the parameter and its range. ``outcome_label`` names the x axis and should
    carry the unit, e.g. ``"ICER (USD per QALY)"``.
    """
    from sim.analysis import voi

    t = voi.one_way(one_way_df, top=top)
    n = len(t)
    fig, ax = _new_figure(figsize=(FIGSIZE[0] + 1.5, max(2.5, 0.45 * n + 1.6)))
    y = np.arange(n)[::-1]  # rank 1 on top
    base = float(t["base"].iloc[0])
    d_low = t["outcome_low"].to_numpy(dtype=float) - base
    d_high = t["outcome_high"].to_numpy(dtype=float) - base
    # Longer bar first, so that when both outcomes lie on the same side of the base
    # case the shorter one is drawn over it and both stay visible.
    low_first = np.abs(d_low) >= np.abs(d_high)
    first = np.where(low_first, d_low, d_high)
    second = np.where(low_first, d_high, d_low)
    ax.barh(y, first, left=base, height=0.6,
            color=[_TORNADO_LOW if f else _TORNADO_HIGH for f in low_first], label="_longer")
    ax.barh(y, second, left=base, height=0.6,
            color=[_TORNADO_HIGH if f else _TORNADO_LOW for f in low_first], label="_shorter")
    ax.axvline(base, color="black", linewidth=1.0, label=f"Base case: {_number(base)}")
    from matplotlib.patches import Patch

    handles = [Patch(color=_TORNADO_LOW, label="Parameter at its low value"),
               Patch(color=_TORNADO_HIGH, label="Parameter at its high value")]
    labels = [f"{r.parameter}  ({_number(r.low_value)} to {_number(r.high_value)})" for r in t.itertuples()]
    ax.set_yticks(y, labels)
    _style(ax, "One-way sensitivity analysis", outcome_label, "Parameter (low to high value)")
    ax.grid(False, axis="y")
    _thousands(ax.xaxis)
    base_line = [ln for ln in ax.get_lines() if ln.get_label().startswith("Base case")]
    fig.legend(handles=base_line + handles, frameon=False, fontsize="small", loc="outside lower center", ncols=3)
    return fig


# ----------------------------------------------------------------------------------------------
# Validation (sim.analysis.validation): simulated vs published figures, forest-style
# ----------------------------------------------------------------------------------------------
__all__ += ["plot_validation_forest"]

def _validity_colours() -> dict[str, str]:
    """Colour of each validity label of sim.analysis.validation.VALIDITY (by role, so a renamed label keeps it)."""
    from sim.analysis.validation import VALIDITY
    by_role = {"calibration": "#7f7f7f", "internal": "#1f77b4", "external": "#d62728"}
    return {VALIDITY[role]: colour for role, colour in by_role.items()}
_UNIT_PANELS = (
    (("proportion", "difference"), "Proportion (or difference between arms)"),
    (("ratio",), "Ratio (standardised mortality ratio)"),
    (("per patient-year",), "Rate per patient-year"),
)


def plot_validation_forest(table: pd.DataFrame, max_label: int = 72) -> Figure:
    """Forest plot of a validation table (:func:`sim.analysis.validation.compare`).

    One row per comparison: the published value and 95% interval (black square and line) above
    the simulated value and Monte Carlo 95% interval (circle and line, coloured by validity:
    calibration target, internal validity, external validation). A filled circle lies inside the
    published interval, a hollow one outside. Rows are grouped by validity (in table order);
    figures on different scales go to separate panels (proportions and differences, ratios, rates).
    """
    panels = []
    for units, title in _UNIT_PANELS:
        sub = table[table["unit"].isin(units)]
        if len(sub):
            panels.append((title, sub))
    rest = table[~table["unit"].isin([u for units, _ in _UNIT_PANELS for u in units])]
    if len(rest):
        panels.append(("Other", rest))
    if not panels:
        raise ValueError("the validation table is empty")
    by_validity = _validity_colours()
    heights = [len(sub) + 1.5 for _, sub in panels]
    fig = Figure(figsize=(11.0, 0.3 * sum(heights) + 1.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
    for ax, (title, sub) in zip(axes, panels):
        n = len(sub)
        ys = np.arange(n)[::-1].astype(float)
        labels, colours = [], []
        for y, (_, r) in zip(ys, sub.iterrows()):
            colour = by_validity.get(r["validity"], "#2ca02c")
            ax.plot([r["published_lower"], r["published_upper"]], [y + 0.17] * 2, color="black", linewidth=1.2)
            ax.plot([r["published_value"]], [y + 0.17], marker="s", markersize=4.5, color="black", linestyle="none")
            if np.isfinite(r["simulated_lower"]) and np.isfinite(r["simulated_upper"]):
                ax.plot([r["simulated_lower"], r["simulated_upper"]], [y - 0.17] * 2, color=colour, linewidth=2.0)
            inside = r["inside"]
            filled = bool(inside) if not pd.isna(inside) else False
            ax.plot([r["simulated_value"]], [y - 0.17], marker="o", markersize=5.5, linestyle="none",
                    markeredgecolor=colour, markerfacecolor=colour if filled else "white", markeredgewidth=1.4)
            label = f"{r['source_id']}: {r['comparison']}"
            labels.append(label if len(label) <= max_label else label[: max_label - 3] + "...")
            colours.append(colour)
        ax.set_yticks(ys, labels, fontsize="small")
        for tick, colour in zip(ax.get_yticklabels(), colours):
            tick.set_color(colour)
        groups = sub["validity"].tolist()
        for i in range(1, n):
            if groups[i] != groups[i - 1]:
                ax.axhline(ys[i] + 0.5, color="0.6", linewidth=0.8, linestyle="--")
        if "difference" in set(sub["unit"]):
            ax.axvline(0.0, color="0.6", linewidth=0.8)
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel(title)
        ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_title("Simulated vs published outcomes (95% intervals)")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color="black", marker="s", markersize=4.5, linewidth=1.2, label="published (95% interval)")]
    present = list(dict.fromkeys(table["validity"]))
    for v in present:
        c = by_validity.get(v, "#2ca02c")
        handles.append(Line2D([], [], color=c, marker="o", markersize=5.5, linewidth=2.0,
                              label=f"simulated: {v} (Monte Carlo 95%)"))
    handles.append(Line2D([], [], color="0.3", marker="o", markersize=5.5, markerfacecolor="white", linestyle="none",
                          label="hollow: outside the published interval"))
    fig.legend(handles=handles, frameon=False, fontsize="small", loc="outside lower center", ncols=2)
    return fig
