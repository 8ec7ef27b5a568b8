"""The expected value of partial perfect information (EVPPI) of parameter groups, by non-parametric
regression (Strong, Oakley & Brennan 2014, *Med Decis Making* 34:311-326)."""
from __future__ import annotations

import contextlib
import math
import warnings
import zlib
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from sim.analysis.voi.evpi import _evpi_values
from sim.analysis.voi.prepare import _check_population, _generator, _wtp_grid, prepare

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
