"""Monte Carlo error of the PSA means."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.voi.prepare import _wtp_grid, prepare


def mc_error(psa: pd.DataFrame, wtp: Any = None, reference=None) -> pd.DataFrame:
    """Monte Carlo standard errors of the PSA means, per strategy.

    The SE of a mean over N draws is ``sd(draw values) / sqrt(N)`` (sample SD,
    ddof = 1): the error of the expected cost, QALYs or NMB due to using a finite
    number of draws (each draw's value already contains the patient-level noise
    of its simulation, so this covers both sources).

    Parameters
    ----------
    wtp
        Optional threshold(s): adds ``wtp, nmb_mean, nmb_se`` (long format, one
        row per (wtp, strategy)).
    reference
        Optional strategy: adds the paired (within-draw) incremental means and
        SEs ``inc_cost_mean, inc_cost_se, inc_qaly_mean, inc_qaly_se`` (and
        ``inc_nmb_*`` with ``wtp``); zero for the reference itself.

    Returns
    -------
    pandas.DataFrame
        ``strategy, n_draws, cost_mean, cost_se, qaly_mean, qaly_se`` [+ the above].
    """
    p = prepare(psa)

    def mean_se(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        se = a.std(axis=0, ddof=1) / math.sqrt(p.n) if p.n > 1 else np.full(a.shape[1], np.nan)
        return a.mean(axis=0), se

    cols: dict[str, Any] = {"strategy": np.array(p.strategies, dtype=object), "n_draws": p.n}
    cols["cost_mean"], cols["cost_se"] = mean_se(p.cost)
    cols["qaly_mean"], cols["qaly_se"] = mean_se(p.qaly)
    r = None
    if reference is not None:
        r = p.index_of(reference)
        cols["inc_cost_mean"], cols["inc_cost_se"] = mean_se(p.cost - p.cost[:, [r]])
        cols["inc_qaly_mean"], cols["inc_qaly_se"] = mean_se(p.qaly - p.qaly[:, [r]])
    base = pd.DataFrame(cols)
    if wtp is None:
        return base
    frames = []
    for lam in _wtp_grid(wtp):
        nmb = p.nmb(lam)
        f = base.copy()
        f.insert(0, "wtp", lam)
        f["nmb_mean"], f["nmb_se"] = mean_se(nmb)
        if r is not None:
            f["inc_nmb_mean"], f["inc_nmb_se"] = mean_se(nmb - nmb[:, [r]])
        frames.append(f)
    return pd.concat(frames, ignore_index=True)
