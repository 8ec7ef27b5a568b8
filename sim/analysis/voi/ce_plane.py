"""The cost-effectiveness plane: incremental cost and QALYs of every draw against a reference."""
from __future__ import annotations

import pandas as pd

from sim.analysis.voi.prepare import prepare


def ce_plane_data(psa: pd.DataFrame, reference) -> pd.DataFrame:
    """Incremental cost and QALYs of each strategy against ``reference``, draw by draw.

    Returns
    -------
    pandas.DataFrame
        ``draw, strategy, cost, qaly, inc_cost, inc_qaly`` for every strategy other
        than the reference (strategies in order of first appearance, draws ascending),
        ``inc_* = strategy - reference`` within the same draw.
    """
    p = prepare(psa)
    r = p.index_of(reference)
    others = [i for i in range(p.s) if i != r]
    frames = [
        pd.DataFrame({
            "draw": p.draws,
            "strategy": p.strategies[i],
            "cost": p.cost[:, i],
            "qaly": p.qaly[:, i],
            "inc_cost": p.cost[:, i] - p.cost[:, r],
            "inc_qaly": p.qaly[:, i] - p.qaly[:, r],
        })
        for i in others
    ]
    if not frames:
        return pd.DataFrame(columns=["draw", "strategy", "cost", "qaly", "inc_cost", "inc_qaly"])
    return pd.concat(frames, ignore_index=True)
