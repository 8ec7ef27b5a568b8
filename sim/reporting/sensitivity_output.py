"""One-way sensitivity analysis written out: tornado tables and plots (``lnsim sensitivity``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_one_way(table: pd.DataFrame, out: Path, top: int = 15, currency: str = "") -> list[Path]:
    """Tornado data and plots, one per comparison."""
    from sim.reporting import plots
    from sim.analysis import voi
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for comp, g in table.groupby("comparison", sort=False):
        ordered = voi.one_way(g[["parameter", "low_value", "high_value", "outcome_low", "outcome_high", "base"]],
                              top=top)
        slug = comp.replace(" ", "_")
        ordered.to_csv(out / f"tornado_{slug}.csv", index=False)
        fig = plots.plot_tornado(ordered, f"INMB, {comp} ({currency})")
        written += list(plots.save_figure(fig, out / f"tornado_{slug}"))
    return written
