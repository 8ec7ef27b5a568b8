"""The cost-effectiveness acceptability frontier (CEAF)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.voi.prepare import _wtp_grid, prepare


def ceaf(psa: pd.DataFrame, wtp_grid: Any) -> pd.DataFrame:
    """Cost-effectiveness acceptability frontier.

    At each threshold, the strategy with the highest *expected* NMB (the decision
    under current information; exact ties as in :func:`sim.economics.cea.net_monetary_benefit`)
    and its probability of being cost-effective. This is not, in general, the
    strategy with the highest CEAC value (Fenwick, Claxton & Sculpher 2001).

    Returns
    -------
    pandas.DataFrame
        ``wtp, strategy, probability, se, expected_nmb``, one row per threshold in
        the given order.
    """
    p = prepare(psa)
    grid = _wtp_grid(wtp_grid)
    best = p.optimal(grid)
    prob = np.array([np.mean(p.winners(lam) == b) for lam, b in zip(grid, best)])
    expected = np.array([p.nmb(lam)[:, b].mean() for lam, b in zip(grid, best)])
    return pd.DataFrame({
        "wtp": grid,
        "strategy": np.array(p.strategies, dtype=object)[best],
        "probability": prob,
        "se": np.sqrt(prob * (1 - prob) / p.n),
        "expected_nmb": expected,
    })
