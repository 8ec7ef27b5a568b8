"""The expected value of perfect information (EVPI), per patient and for a population."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.voi.prepare import _Psa, _check_population, _generator, _wtp_grid, prepare
from sim.economics import discounting

_N_BOOT = 1000      # bootstrap resamples for the EVPI standard error
_BOOT_BLOCK = 100   # resamples generated per block (bounds memory; part of the stream definition)


def _opportunity_loss(p: _Psa, grid: np.ndarray) -> np.ndarray:
    """``loss[d, s, k] = max_s' NMB(d, s', wtp_k) - NMB(d, s, wtp_k)`` (>= 0)."""
    loss = np.empty((p.n, p.s, grid.size))
    for k, lam in enumerate(grid):
        nmb = p.nmb(lam)
        loss[:, :, k] = nmb.max(axis=1, keepdims=True) - nmb
    return loss


def _evpi_values(p: _Psa, grid: np.ndarray, best: np.ndarray) -> np.ndarray:
    """EVPI at each threshold: the mean opportunity loss of the optimal strategy ``best``.

    Equal to E[max NMB] - max E[NMB]; the optimal strategy has the smallest mean loss.
    """
    loss = _opportunity_loss(p, grid)
    return loss[:, best, np.arange(grid.size)].mean(axis=0)


def effective_population(annual_incidence: float, years: float, discount_rate: float) -> float:
    """Discounted number of patients affected by the decision over ``years``.

    Patients are assumed to present at a constant rate of ``annual_incidence``
    per year over ``[0, years]``, each weighted by the discount factor of the time
    at which they present, with the continuous-time convention of :mod:`sim.economics.cea`
    (an amount at time t is worth ``(1 + r) ** -t``):

        annual_incidence * integral_0^years (1 + r) ** -t dt

    which equals ``annual_incidence * years`` when ``r = 0``. Multiply a
    per-patient EVPI/EVPPI by this to get the population value.
    """
    inc = float(annual_incidence)
    yrs = float(years)
    if not math.isfinite(inc) or inc < 0:
        raise ValueError(f"annual_incidence must be finite and >= 0, got {annual_incidence!r}")
    if not math.isfinite(yrs) or yrs < 0:
        raise ValueError(f"years must be finite and >= 0, got {years!r}")
    return inc * float(discounting.discounted_duration(0.0, yrs, discount_rate))


def evpi(
    psa: pd.DataFrame,
    wtp_grid: Any,
    population: float | None = None,
    *,
    n_boot: int = _N_BOOT,
    seed: int | None = None,
) -> pd.DataFrame:
    """Expected value of perfect information per patient (and for a population).

    ``EVPI = E_draws[max_s NMB] - max_s E_draws[NMB]``, computed as the mean
    opportunity loss of the optimal strategy, hence always >= 0.

    The Monte Carlo standard error is the standard deviation of the EVPI over
    ``n_boot`` non-parametric bootstrap resamples of the draws (the estimator,
    including the choice of optimal strategy, is recomputed in each resample),
    using a generator seeded as described in the module docstring.

    Parameters
    ----------
    population
        Number of patients the decision affects, e.g. from
        :func:`effective_population`; adds ``population, population_evpi,
        population_evpi_se``.

    Returns
    -------
    pandas.DataFrame
        ``wtp, strategy, evpi, evpi_se`` (``strategy`` is the optimal strategy
        under current information) and the population columns if requested.
    """
    p = prepare(psa)
    grid = _wtp_grid(wtp_grid)
    pop = _check_population(population)
    if int(n_boot) < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot!r}")
    best = p.optimal(grid)
    loss = _opportunity_loss(p, grid)
    value = loss[:, best, np.arange(grid.size)].mean(axis=0)

    se = np.full(grid.size, np.nan)
    if n_boot > 1 and p.n > 1:
        # In a resample the optimal strategy is the one with the smallest mean loss,
        # so the resampled EVPI is min_s of the weighted mean loss (>= 0 exactly).
        rng = _generator(seed, 0)
        reps = []
        pvals = np.full(p.n, 1.0 / p.n)
        flat = loss.reshape(p.n, p.s * grid.size)
        for start in range(0, int(n_boot), _BOOT_BLOCK):
            size = min(_BOOT_BLOCK, int(n_boot) - start)
            w = rng.multinomial(p.n, pvals, size=size) / p.n  # resampling weights, rows sum to 1
            reps.append((w @ flat).reshape(size, p.s, grid.size).min(axis=1))
        se = np.concatenate(reps).std(axis=0, ddof=1)

    out = pd.DataFrame({
        "wtp": grid,
        "strategy": np.array(p.strategies, dtype=object)[best],
        "evpi": value,
        "evpi_se": se,
    })
    if pop is not None:
        out["population"] = pop
        out["population_evpi"] = value * pop
        out["population_evpi_se"] = se * pop
    return out
