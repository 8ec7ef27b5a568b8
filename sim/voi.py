"""Probabilistic analysis of PSA results: CE plane, CEAC/CEAF, EVPI, EVPPI, Monte Carlo error.

Everything here is a pure function of tidy tables, so it can be applied to the
output of :mod:`sim.psa` or to any other probabilistic sensitivity analysis.

Inputs
------
``psa``
    One row per (draw, strategy) with columns ``draw, strategy, cost, qaly``:
    the mean (discounted) cost and QALYs per patient of that strategy in that
    parameter draw. Extra columns are ignored. Every draw must contain every
    strategy exactly once. Draws are processed in ascending ``draw`` order and
    strategies in order of first appearance (the order :func:`sim.plots.strategy_colours`
    uses), so results do not depend on the row order of the table.
``draws``
    The draws x parameters table: column ``draw`` plus one numeric column per
    parameter (as written by :func:`sim.psa.draw_table`).
``wtp`` / ``wtp_grid``
    Willingness to pay per QALY, one number or a 1-d sequence of finite numbers
    >= 0 (kept in the given order).

Net monetary benefit ``NMB = wtp * qaly - cost``; with S strategies and N draws:

* CEAC(wtp, s) = share of draws in which ``s`` has the highest NMB.
* CEAF(wtp) = the strategy with the highest *expected* NMB (the decision under
  current information, identical to the incremental analysis of
  :func:`sim.cea.incremental_analysis` on the mean costs and QALYs) and its CEAC value.
* EVPI(wtp) = E[max_s NMB] - max_s E[NMB] >= 0 (computed as the mean
  opportunity loss ``mean_d(max_s NMB_ds - NMB_ds*)`` with ``s*`` the optimal
  strategy, so it is non-negative by construction and exactly 0 when ``s*`` is
  best in every draw).
* EVPPI(wtp, group) by non-parametric regression (Strong, Oakley & Brennan 2014,
  *Med Decis Making* 34:311-326), see :func:`evppi`.

Ties
----
Wherever one strategy must be picked (the winner of a draw for the CEAC, the
optimal strategy for the CEAF and EVPI), exact ties in NMB go to the strategy
with more QALYs, then to the cheaper one, then to the first by name: the rule
of :func:`sim.cea.net_monetary_benefit` ("adopt when ICER <= WTP").

Monte Carlo error and random numbers
------------------------------------
Standard errors use no global random state. The EVPI bootstrap and the EVPPI
coefficient sampling draw from ``numpy.random.Generator(PCG64(SeedSequence([seed, k...])))``
with ``seed = VOI_SEED`` unless given and a fixed key ``k`` per purpose (EVPI:
``[0]``; EVPPI: ``[1, crc32(group name)]``), so the same inputs always give the
same standard errors, and the SE of one EVPPI group does not depend on which
other groups are requested.
"""

from __future__ import annotations

import contextlib
import math
import warnings
import zlib
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from sim import cea

__all__ = [
    "VOI_SEED",
    "ce_plane_data",
    "ceac",
    "ceaf",
    "effective_population",
    "evpi",
    "evppi",
    "mc_error",
    "one_way",
]

#: Default seed of the EVPI bootstrap and EVPPI coefficient sampling.
VOI_SEED = 20140311

_N_BOOT = 1000      # bootstrap resamples for the EVPI standard error
_BOOT_BLOCK = 100   # resamples generated per block (bounds memory; part of the stream definition)
_N_COEF_SIM = 500   # coefficient draws for the EVPPI standard error
_SIM_BLOCK = 50     # coefficient draws generated per block (bounds memory; part of the stream definition)

# pygam basis: splines per margin for a group of k parameters (tensor product for k >= 2);
# reduced (down to 4, the minimum for cubic splines) when there are few draws.
_GAM_SPLINES = {1: 10, 2: 6, 3: 5, 4: 4}
_GAM_MIN_SPLINES = 4
#: Smoothing parameters tried by GCV (one shared value for all margins of a tensor product).
GAM_LAMBDAS = tuple(float(x) for x in np.logspace(-3, 6, 10))
_DRAWS_PER_COEF = 2  # a regression needs at least this many draws per coefficient
_CLIP_TOL = 1e-9      # relative size of a clipping that counts as floating-point noise, not "clipped"


# ---------------------------------------------------------------------------
# Validation and reshaping
# ---------------------------------------------------------------------------


class _Psa:
    """PSA results as arrays: ``cost[d, s]`` and ``qaly[d, s]``, draws ascending."""

    def __init__(self, psa: Any):
        if not isinstance(psa, pd.DataFrame):
            raise ValueError("psa must be a pandas DataFrame with columns draw, strategy, cost, qaly")
        missing = [c for c in ("draw", "strategy", "cost", "qaly") if c not in psa.columns]
        if missing:
            raise ValueError(f"psa is missing column(s) {missing}; it has {list(psa.columns)}")
        if len(psa) == 0:
            raise ValueError("psa is empty: at least one draw of one strategy is required")
        if psa["strategy"].isna().any() or psa["draw"].isna().any():
            raise ValueError("psa has missing draw numbers or strategy names")
        for col in ("cost", "qaly"):
            try:
                values = pd.to_numeric(psa[col], errors="raise").to_numpy(dtype=float)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"psa column {col!r} must be numeric: {exc}") from exc
            if not np.all(np.isfinite(values)):
                bad = psa.loc[~np.isfinite(values), ["draw", "strategy"]].head(5)
                raise ValueError(f"psa column {col!r} has NaN or infinite values, e.g. at "
                                 f"{bad.to_dict('records')}")
        dup = psa.duplicated(["draw", "strategy"], keep=False)
        if dup.any():
            rows = psa.loc[dup, ["draw", "strategy"]].drop_duplicates().head(5).to_dict("records")
            raise ValueError(f"psa has more than one row for (draw, strategy), e.g. {rows}")
        self.strategies: list = list(dict.fromkeys(psa["strategy"].tolist()))
        cost = psa.pivot(index="draw", columns="strategy", values="cost")
        qaly = psa.pivot(index="draw", columns="strategy", values="qaly")
        cost = cost.sort_index()[self.strategies]
        qaly = qaly.sort_index()[self.strategies]
        incomplete = cost.index[cost.isna().any(axis=1)]
        if len(incomplete):
            raise ValueError(
                f"every draw must have every strategy; draws {incomplete[:5].tolist()} "
                f"(of {len(incomplete)}) lack some of {self.strategies}"
            )
        self.draws = cost.index.to_numpy()
        self.cost = cost.to_numpy(dtype=float)
        self.qaly = qaly.to_numpy(dtype=float)
        self.n, self.s = self.cost.shape
        # Tie-break rank of each strategy within each draw: more QALYs, then cheaper, then name.
        names = np.array([str(x) for x in self.strategies])
        name_rank = np.empty(self.s)
        name_rank[np.argsort(names, kind="stable")] = np.arange(self.s)
        keys = np.stack(np.broadcast_arrays(name_rank[None, :], self.cost, -self.qaly))  # lexsort: last is primary
        order = np.lexsort(keys, axis=-1)
        self.draw_rank = np.empty_like(order)
        np.put_along_axis(self.draw_rank, order, np.arange(self.s)[None, :], axis=1)

    def index_of(self, strategy) -> int:
        try:
            return self.strategies.index(strategy)
        except ValueError:
            raise ValueError(f"unknown strategy {strategy!r}; the PSA has {self.strategies}") from None

    def nmb(self, wtp: float) -> np.ndarray:
        return wtp * self.qaly - self.cost

    def winners(self, wtp: float) -> np.ndarray:
        """Index of the strategy with the highest NMB in each draw (ties as documented)."""
        nmb = self.nmb(wtp)
        tied = nmb == nmb.max(axis=1, keepdims=True)
        return np.argmin(np.where(tied, self.draw_rank, self.s), axis=1)

    def mean_table(self) -> pd.DataFrame:
        return pd.DataFrame({"strategy": self.strategies, "cost": self.cost.mean(axis=0),
                             "effect": self.qaly.mean(axis=0)})

    def optimal(self, grid: np.ndarray) -> np.ndarray:
        """Index of the strategy with the highest expected NMB at each wtp (sim.cea's rule)."""
        table = self.mean_table()
        nmb = cea.net_monetary_benefit(table, grid)
        # net_monetary_benefit lists strategies in input order within each threshold.
        flags = nmb["optimal"].to_numpy().reshape(len(grid), self.s)
        return np.argmax(flags, axis=1)


def prepare(psa: Any) -> "_Psa":
    """A PSA table checked and turned into arrays once; every function of this module also accepts the
    result, so an analysis that calls several of them (CEAC, CEAF, EVPI, EVPPI, Monte Carlo errors)
    checks and pivots the table only once."""
    return psa if isinstance(psa, _Psa) else _Psa(psa)


def _wtp_grid(wtp: Any) -> np.ndarray:
    try:
        values = np.atleast_1d(np.asarray(wtp, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"wtp must be a number or a 1-d sequence of numbers: {exc}") from exc
    if values.ndim != 1 or values.size == 0:
        raise ValueError("wtp must be a number or a non-empty 1-d sequence of numbers")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"wtp must be finite and >= 0, got {wtp!r}")
    return values


def _generator(seed: int | None, *key: int) -> np.random.Generator:
    base = VOI_SEED if seed is None else int(seed)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([base, *key])))


def _check_population(population: Any) -> float | None:
    if population is None:
        return None
    value = float(population)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"population must be a finite number >= 0, got {population!r}")
    return value


# ---------------------------------------------------------------------------
# CE plane, CEAC, CEAF
# ---------------------------------------------------------------------------


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


def ceaf(psa: pd.DataFrame, wtp_grid: Any) -> pd.DataFrame:
    """Cost-effectiveness acceptability frontier.

    At each threshold, the strategy with the highest *expected* NMB (the decision
    under current information; exact ties as in :func:`sim.cea.net_monetary_benefit`)
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


# ---------------------------------------------------------------------------
# EVPI
# ---------------------------------------------------------------------------


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
    at which they present, with the continuous-time convention of :mod:`sim.cea`
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
    return inc * float(cea.discounted_duration(0.0, yrs, discount_rate))


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


# ---------------------------------------------------------------------------
# EVPPI (Strong, Oakley & Brennan 2014)
# ---------------------------------------------------------------------------


class _Fit:
    """A linear smoother's fitted values and a factor for sampling them.

    Draws of the fitted values from the (approximate) posterior of the regression
    coefficients are ``fitted + factor @ z`` with ``z ~ N(0, I)``.
    """

    def __init__(self, fitted: np.ndarray, factor: np.ndarray | None, edf: float, r2: float):
        self.fitted, self.factor, self.edf, self.r2 = fitted, factor, edf, r2


def _r2(y: np.ndarray, fitted: np.ndarray) -> float:
    tss = float(np.sum((y - y.mean()) ** 2))
    return float("nan") if tss == 0 else 1.0 - float(np.sum((y - fitted) ** 2)) / tss


def _gam_splines(k: int, n: int) -> int | None:
    """Splines per margin for a pygam fit of k parameters on n draws, None if too few draws."""
    if k not in _GAM_SPLINES:
        return None
    ns = _GAM_SPLINES[k]
    while ns > _GAM_MIN_SPLINES and _DRAWS_PER_COEF * (ns ** k + 1) > n:
        ns -= 1
    return ns if _DRAWS_PER_COEF * (ns ** k + 1) <= n else None


def _poly_terms(k: int, degree: int) -> int:
    return 1 + k if degree == 1 else 1 + 2 * k + k * (k - 1) // 2


def _fit_gam(x: np.ndarray, y: np.ndarray, n_splines: int) -> _Fit:
    """Penalised regression spline (pygam LinearGAM), smoothing parameter by GCV.

    One parameter: a cubic P-spline ``s(0)``; 2-4 parameters: a tensor-product
    spline ``te(...)`` (all interactions), with one smoothing parameter shared by
    the margins, chosen from :data:`GAM_LAMBDAS` by minimum GCV.
    """
    from pygam import LinearGAM, s, te

    k = x.shape[1]
    best = None
    for lam in GAM_LAMBDAS:
        if k == 1:
            term = s(0, n_splines=n_splines, lam=lam)
        else:
            term = te(*range(k), n_splines=[n_splines] * k, lam=[lam] * k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # p-value caveats etc.: not used here
            gam = LinearGAM(term).fit(x, y)
        gcv = float(gam.statistics_["GCV"])
        if best is None or gcv < best[0]:
            best = (gcv, gam)
    gam = best[1]
    fitted = np.asarray(gam.predict(x), dtype=float)
    # The fitted values are model_matrix @ coef; pygam exposes the model matrix only
    # through a private method, so check it reproduces predict() before using it
    # (if a future pygam changes this, the EVPPI is still estimated, its SE is NaN).
    factor = None
    try:
        modelmat = gam._modelmat(x)
        modelmat = modelmat.toarray() if hasattr(modelmat, "toarray") else np.asarray(modelmat)
        if np.allclose(modelmat @ gam.coef_, fitted, rtol=1e-8, atol=1e-8 * (1 + np.abs(fitted).max())):
            cov = np.asarray(gam.statistics_["cov"], dtype=float)
            vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
            factor = modelmat @ (vecs * np.sqrt(np.clip(vals, 0, None)))
    except Exception:  # pragma: no cover - depends on pygam internals
        factor = None
    return _Fit(fitted, factor, float(gam.statistics_["edof"]), _r2(y, fitted))


def _poly_design(x: np.ndarray, degree: int) -> np.ndarray:
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    cols = [np.ones(len(z))] + [z[:, j] for j in range(z.shape[1])]
    if degree == 2:
        k = z.shape[1]
        cols += [z[:, j] ** 2 for j in range(k)]
        cols += [z[:, i] * z[:, j] for i in range(k) for j in range(i + 1, k)]
    return np.column_stack(cols)


def _fit_poly(x: np.ndarray, y: np.ndarray, degree: int) -> _Fit:
    """Ordinary least squares on a polynomial of the (standardised) parameters.

    Degree 2: intercept, linear, squared and all pairwise interaction terms;
    degree 1: intercept and linear terms. Rank deficiency (e.g. the square of a
    binary parameter) is handled by the SVD.
    """
    design = _poly_design(x, degree)
    u, sv, _ = np.linalg.svd(design, full_matrices=False)
    keep = sv > sv[0] * max(design.shape) * np.finfo(float).eps
    u = u[:, keep]
    fitted = u @ (u.T @ y)
    rank = int(keep.sum())
    dof = len(y) - rank
    sigma = math.sqrt(float(np.sum((y - fitted) ** 2)) / dof) if dof > 0 else 0.0
    return _Fit(fitted, sigma * u, float(rank), _r2(y, fitted))


def _choose_method(method: str, k: int, n: int) -> tuple[str, Any]:
    """Regression used for a group of k (varying) parameters and n draws."""
    ns = _gam_splines(k, n)
    quad_ok = _DRAWS_PER_COEF * _poly_terms(k, 2) <= n
    lin_ok = _DRAWS_PER_COEF * _poly_terms(k, 1) <= n
    if method == "auto":
        if ns is not None:
            return "gam", ns
        if quad_ok:
            return "poly2", 2
        if lin_ok:
            return "linear", 1
        return "none", None
    if method == "gam":
        if k > max(_GAM_SPLINES):
            raise ValueError(f"method='gam' supports groups of at most {max(_GAM_SPLINES)} "
                             f"parameters, this group has {k}; use 'auto' or 'poly2'")
        if ns is None:
            raise ValueError(f"too few draws ({n}) for a GAM in {k} parameters")
        return "gam", ns
    if method in ("poly2", "linear"):
        degree = 2 if method == "poly2" else 1
        if _DRAWS_PER_COEF * _poly_terms(k, degree) > n:
            raise ValueError(f"too few draws ({n}) for method={method!r} in {k} parameters")
        return method, degree
    raise ValueError(f"unknown method {method!r}; use 'auto', 'gam', 'poly2' or 'linear'")


def _blas_single_thread():
    """Limit BLAS to one thread while fitting, if threadpoolctl is installed.

    The regressions work on matrices of a few thousand rows by at most a few
    hundred columns, where BLAS threads bring nothing; but on a busy machine
    (e.g. while PSA workers occupy every core) multi-threaded OpenBLAS
    factorisations (pygam's QR) were measured 50-100x slower than single-threaded
    ones. The limit applies to this process only and is restored on exit.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fit(kind: str, arg: Any, x: np.ndarray, y: np.ndarray) -> _Fit:
    if np.ptp(y) == 0:  # no variation (e.g. identical costs): the conditional mean is y itself
        return _Fit(y.astype(float).copy(), np.zeros((len(y), 1)), 1.0, float("nan"))
    if kind == "gam":
        return _fit_gam(x, y, arg)
    return _fit_poly(x, y, arg)


def _evppi_value(g: np.ndarray) -> np.ndarray:
    """EVPPI from fitted incremental net benefits ``g[..., d, s]`` (reference s = 0 is 0)."""
    return g.max(axis=-1).mean(axis=-1) - g.mean(axis=-2).max(axis=-1)


def _mean_r2(fits: list[_Fit]) -> float:
    values = [f.r2 for f in fits if np.isfinite(f.r2)]
    return float(np.mean(values)) if values else float("nan")


def _evppi_group(kind, arg, x, d_cost, d_qaly, grid, n_sim, rng):
    """Raw EVPPI, its SE, and fit diagnostics for one group (see :func:`evppi`)."""
    n, m = d_cost.shape
    fits_c = [_fit(kind, arg, x, d_cost[:, j]) for j in range(m)]
    fits_q = [_fit(kind, arg, x, d_qaly[:, j]) for j in range(m)]
    edf = float(np.mean([f.edf for f in fits_c + fits_q]))
    gc = np.column_stack([np.zeros(n)] + [f.fitted for f in fits_c])
    gq = np.column_stack([np.zeros(n)] + [f.fitted for f in fits_q])
    raw = np.array([_evppi_value(lam * gq - gc) for lam in grid])
    se = _evppi_se(fits_c, fits_q, d_cost, d_qaly, grid, n_sim, rng)
    return raw, se, edf, _mean_r2(fits_c), _mean_r2(fits_q)


def evppi(
    psa: pd.DataFrame,
    draws: pd.DataFrame,
    parameter_groups: Mapping[str, Sequence[str]] | Sequence[str],
    wtp: Any,
    *,
    population: float | None = None,
    method: str = "auto",
    n_sim: int = _N_COEF_SIM,
    seed: int | None = None,
) -> pd.DataFrame:
    """Expected value of partial perfect information by non-parametric regression.

    Method (Strong, Oakley & Brennan 2014): for each parameter group ``phi`` and
    each strategy s other than the reference (the first strategy), the draws'
    incremental costs ``dC_s`` and incremental QALYs ``dQ_s`` are regressed on the
    group's parameter values; the fitted values estimate ``E[dC_s | phi]`` and
    ``E[dQ_s | phi]``. Conditional expectation is linear, so at every threshold
    ``g_s(phi) = wtp * E[dQ_s | phi] - E[dC_s | phi]`` (``g_ref = 0``) and

        EVPPI = mean_d(max_s g_s) - max_s mean_d(g_s).

    Regressing costs and QALYs once each (rather than the net benefit at every
    threshold) makes the cost of a whole WTP grid that of a single threshold.

    Regression (``method``):

    ``"gam"``
        pygam ``LinearGAM``: a cubic P-spline for one parameter, a tensor-product
        spline (``te``, all interactions) for 2-4 parameters, with 10/6/5/4 splines
        per margin (fewer, down to 4, if there are fewer than two draws per
        coefficient); one smoothing parameter for all margins, chosen by GCV
        from :data:`GAM_LAMBDAS`.
    ``"poly2"``
        Least squares on a full second-order polynomial of the standardised
        parameters (linear, squares, pairwise interactions). Used for groups of
        more than 4 parameters, where tensor-product splines need too many
        coefficients. It captures smooth monotone/curved effects and two-way
        interactions but not stronger non-linearity; with many parameters
        (``1 + 2k + k(k-1)/2`` terms) and few draws it over-fits, which biases
        EVPPI upwards: check ``edf`` against the number of draws.
        (Strong et al. use a Gaussian process here; that needs O(N^3) work and
        hyperparameter optimisation and is not provided.)
    ``"linear"``
        Least squares on the parameters (last resort for very few draws).
    ``"auto"`` (default)
        ``gam`` for 1-4 parameters when there are enough draws, otherwise
        ``poly2``, otherwise ``linear``; with fewer than ``2 (k + 1)`` draws the
        EVPPI is NaN (``method == "none"``).

    Parameters that do not vary across the draws carry no information and are
    dropped (``n_parameters`` counts those used; a group with none left has
    EVPPI 0, ``method == "constant"``).

    Clipping: a regression estimate can fall slightly below 0 or above the EVPI
    (fitting noise); ``evppi`` is clipped to ``[0, evpi]``, ``evppi_raw`` keeps
    the unclipped value and ``clipped`` flags the rows.

    Standard error: ``evppi_se`` is the standard deviation of the EVPPI over
    ``n_sim`` draws of the fitted values from the approximate posterior of the
    regression coefficients (normal, with the fit's Bayesian covariance), as in
    Strong et al. (2014). Cost and QALY coefficients are drawn with the
    correlation of their residuals (exact when both fits use the same smoother).
    It measures the regression uncertainty, not the bias of the smoother.

    Parameters
    ----------
    psa, draws
        See the module docstring; ``draws`` must contain every draw of ``psa``.
    parameter_groups
        ``{group name: [parameter columns]}``, or a list of columns (each one
        parameter analysed on its own).
    wtp
        One threshold or a grid.
    population
        Adds ``population_evppi`` (= population x evppi).

    Returns
    -------
    pandas.DataFrame
        One row per (group, wtp): ``group, parameters, n_parameters, wtp, evppi,
        evppi_se, evppi_raw, clipped, evpi, method, edf, r2_cost, r2_qaly``
        (``edf``: effective degrees of freedom of the fits, and ``r2_*``: their
        R-squared, averaged over the non-reference strategies) and
        ``population_evppi`` if requested.
    """
    p = prepare(psa)
    grid = _wtp_grid(wtp)
    pop = _check_population(population)
    if int(n_sim) < 0:
        raise ValueError(f"n_sim must be >= 0, got {n_sim!r}")
    if isinstance(parameter_groups, Mapping):
        groups = {str(k): list(v) for k, v in parameter_groups.items()}
    else:
        groups = {str(c): [c] for c in parameter_groups}
    if not groups:
        raise ValueError("no parameter groups given")
    table = _draws_matrix(draws, p.draws, sorted({c for cols in groups.values() for c in cols}, key=str))
    evpi_values = _evpi_values(p, grid, p.optimal(grid))

    d_cost = p.cost[:, 1:] - p.cost[:, :1]
    d_qaly = p.qaly[:, 1:] - p.qaly[:, :1]
    rows = []
    for name, cols in groups.items():
        if len(cols) == 0:
            raise ValueError(f"parameter group {name!r} is empty")
        if len(set(cols)) != len(cols):
            raise ValueError(f"parameter group {name!r} lists a parameter twice: {cols}")
        x_all = table[list(cols)].to_numpy(dtype=float)
        varying = [j for j in range(x_all.shape[1]) if np.ptp(x_all[:, j]) > 0]
        x = x_all[:, varying]
        k = len(varying)
        raw = np.zeros(grid.size)
        se = np.zeros(grid.size)
        edf = r2c = r2q = float("nan")
        if p.s == 1 or k == 0:  # one strategy, or nothing varies: nothing to learn
            kind, arg = "constant", None
        else:
            kind, arg = _choose_method(method, k, p.n)
        if kind == "none":
            raw[:] = np.nan
            se[:] = np.nan
        elif kind != "constant":
            with _blas_single_thread():
                raw, se, edf, r2c, r2q = _evppi_group(kind, arg, x, d_cost, d_qaly, grid, int(n_sim),
                                                      _generator(seed, 1, zlib.crc32(name.encode("utf-8"))))
        clipped_value = np.clip(raw, 0.0, evpi_values)
        for k_w, lam in enumerate(grid):
            row = {
                "group": name,
                "parameters": ", ".join(str(c) for c in cols),
                "n_parameters": k,
                "wtp": lam,
                "evppi": clipped_value[k_w],
                "evppi_se": se[k_w],
                "evppi_raw": raw[k_w],
                "clipped": bool(np.isfinite(raw[k_w])
                                and abs(clipped_value[k_w] - raw[k_w]) > _CLIP_TOL * max(1.0, evpi_values[k_w])),
                "evpi": evpi_values[k_w],
                "method": kind,
                "edf": edf,
                "r2_cost": r2c,
                "r2_qaly": r2q,
            }
            if pop is not None:
                row["population_evppi"] = clipped_value[k_w] * pop
            rows.append(row)
    return pd.DataFrame(rows)


def _draws_matrix(draws: Any, wanted: np.ndarray, columns: list) -> pd.DataFrame:
    """Parameter values for the PSA's draws, in the PSA's (ascending) draw order."""
    if not isinstance(draws, pd.DataFrame) or "draw" not in draws.columns:
        raise ValueError("draws must be a DataFrame with a 'draw' column and one column per parameter")
    missing = [c for c in columns if c not in draws.columns]
    if missing:
        raise ValueError(f"parameter(s) {missing} are not columns of the draws table")
    if draws["draw"].duplicated().any():
        raise ValueError("the draws table has duplicated draw numbers")
    table = draws.set_index("draw")
    absent = pd.Index(wanted).difference(table.index)
    if len(absent):
        raise ValueError(f"the draws table lacks {len(absent)} draw(s) of the PSA, e.g. {absent[:5].tolist()}")
    out = table.loc[wanted, columns]
    for c in columns:
        try:
            values = pd.to_numeric(out[c], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"parameter {c!r} must be numeric: {exc}") from exc
        if not np.all(np.isfinite(values)):
            raise ValueError(f"parameter {c!r} has NaN or infinite values in the draws table")
    return out.astype(float)


def _evppi_se(fits_c, fits_q, d_cost, d_qaly, grid, n_sim, rng) -> np.ndarray:
    """Standard deviation of the EVPPI over draws of the fitted values (see :func:`evppi`).

    Simulations are made in blocks of :data:`_SIM_BLOCK` to bound memory.
    """
    if n_sim < 2 or any(f.factor is None for f in fits_c + fits_q):
        return np.full(grid.size, np.nan)
    n = d_cost.shape[0]
    rhos = []
    for j, (fc, fq) in enumerate(zip(fits_c, fits_q)):
        rc = d_cost[:, j] - fc.fitted
        rq = d_qaly[:, j] - fq.fitted
        sc, sq = rc.std(), rq.std()
        same_width = fc.factor.shape[1] == fq.factor.shape[1]
        rho = np.mean((rc - rc.mean()) * (rq - rq.mean())) / (sc * sq) if sc > 0 and sq > 0 and same_width else 0.0
        rhos.append(float(np.clip(rho, -1.0, 1.0)))
    values = []
    for start in range(0, n_sim, _SIM_BLOCK):
        size = min(_SIM_BLOCK, n_sim - start)
        gc = np.zeros((n, size, len(fits_c) + 1))
        gq = np.zeros((n, size, len(fits_q) + 1))
        for j, (fc, fq, rho) in enumerate(zip(fits_c, fits_q, rhos)):
            z1 = rng.standard_normal((fc.factor.shape[1], size))
            z2 = rng.standard_normal((fq.factor.shape[1], size))
            zq = rho * z1 + math.sqrt(1 - rho * rho) * z2 if rho != 0.0 else z2
            gc[:, :, j + 1] = fc.fitted[:, None] + fc.factor @ z1
            gq[:, :, j + 1] = fq.fitted[:, None] + fq.factor @ zq
        block = np.empty((size, grid.size))
        for k, lam in enumerate(grid):
            g = lam * gq - gc
            block[:, k] = g.max(axis=-1).mean(axis=0) - g.mean(axis=0).max(axis=-1)
        values.append(block)
    return np.concatenate(values).std(axis=0, ddof=1)


# ---------------------------------------------------------------------------
# Monte Carlo error of the means
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# One-way sensitivity analysis (tornado)
# ---------------------------------------------------------------------------

ONE_WAY_COLUMNS = ("parameter", "low_value", "high_value", "outcome_low", "outcome_high", "base")


def one_way(table: pd.DataFrame, top: int | None = None, *, base_rtol: float = 1e-9) -> pd.DataFrame:
    """Tornado ordering of a deterministic one-way sensitivity analysis.

    Parameters
    ----------
    table
        One row per parameter: ``parameter, low_value, high_value, outcome_low,
        outcome_high, base`` -- the outcome (e.g. ICER or incremental NMB) with
        the parameter at its low and at its high value, all else at base case, and
        the base-case outcome (the same on every row).
    top
        Keep only the ``top`` parameters with the largest swing.
    base_rtol
        Relative tolerance for the base outcome being the same on every row.

    Returns
    -------
    pandas.DataFrame
        The input columns plus ``delta_low = outcome_low - base``, ``delta_high``,
        ``outcome_min``, ``outcome_max``, ``swing = |outcome_high - outcome_low|``
        and ``rank`` (1 = largest swing), sorted by swing descending (ties keep
        the input order), with a fresh index.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError("one_way expects a DataFrame")
    missing = [c for c in ONE_WAY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"one-way table is missing column(s) {missing}; it has {list(table.columns)}")
    if len(table) == 0:
        raise ValueError("one-way table is empty")
    if table["parameter"].isna().any():
        raise ValueError("one-way table has missing parameter names")
    dup = table["parameter"][table["parameter"].duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"one-way table lists parameter(s) more than once: {dup}")
    out = table.copy().reset_index(drop=True)
    for c in ONE_WAY_COLUMNS[1:]:
        try:
            values = pd.to_numeric(out[c], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"one-way column {c!r} must be numeric: {exc}") from exc
        if not np.all(np.isfinite(values)):
            bad = out.loc[~np.isfinite(values), "parameter"].tolist()
            raise ValueError(f"one-way column {c!r} has NaN or infinite values for {bad}")
        out[c] = values
    base = out["base"].to_numpy()
    if not np.allclose(base, base[0], rtol=base_rtol, atol=0):
        raise ValueError("the base-case outcome differs between rows; one-way results must share one base case")
    if top is not None and int(top) < 1:
        raise ValueError(f"top must be >= 1, got {top!r}")
    lo, hi = out["outcome_low"].to_numpy(), out["outcome_high"].to_numpy()
    out["delta_low"] = lo - base
    out["delta_high"] = hi - base
    out["outcome_min"] = np.minimum(lo, hi)
    out["outcome_max"] = np.maximum(lo, hi)
    out["swing"] = np.abs(hi - lo)
    out = out.sort_values("swing", ascending=False, kind="mergesort").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    if top is not None:
        out = out.head(int(top)).reset_index(drop=True)
    return out
