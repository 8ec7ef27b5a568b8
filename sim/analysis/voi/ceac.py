"""The cost-effectiveness acceptability curve (CEAC)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.voi.prepare import _wtp_grid, prepare


def ceac(psa: pd.DataFrame, wtp_grid: Any) -> pd.DataFrame:
    """Cost-effectiveness acceptability curves.

    The probability that a strategy is cost-effective at a threshold is the share
    of draws in which it has the highest NMB; ties within a draw are broken as in
    the module docstring, so each draw counts for exactly one strategy and the
    probabilities sum to 1 at every threshold.

    Returns
    -------
    pandas.DataFrame
        Long format ``wtp, strategy, probability, se``, thresholds in the given
        order and strategies in order of first appearance; ``se`` is the binomial
        Monte Carlo standard error ``sqrt(p (1 - p) / N)``.
    """
    p = prepare(psa)
    grid = _wtp_grid(wtp_grid)
    prob = np.empty((grid.size, p.s))
    for k, lam in enumerate(grid):
        prob[k] = np.bincount(p.winners(lam), minlength=p.s) / p.n
    return pd.DataFrame({
        "wtp": np.repeat(grid, p.s),
        "strategy": np.tile(np.array(p.strategies, dtype=object), grid.size),
        "probability": prob.ravel(),
        "se": np.sqrt(prob * (1 - prob) / p.n).ravel(),
    })
