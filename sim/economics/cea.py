"""Cost-effectiveness analysis helpers: incremental analysis and net benefit.

Everything here is a pure function of its arguments (no simulation state), so the
functions can be applied to any table of per-strategy mean costs and effects,
whether it comes from lnsim, from a probabilistic sensitivity analysis draw, or
from a published study.

Contents
--------
* :func:`incremental_analysis` -- the incremental cost-effectiveness analysis
  (dominance, extended dominance, ICERs along the efficiency frontier) exactly as
  implemented by ``calculate_icers`` in the R package dampack
  (Alarid-Escudero et al., https://github.com/DARTH-git/dampack).
* :func:`net_monetary_benefit`, :func:`net_health_benefit` -- per-strategy net
  benefit at one or more willingness-to-pay thresholds and the optimal strategy.
Discounting: :mod:`sim.economics.discounting`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ICER_COLUMNS",
    "incremental_analysis",
    "net_health_benefit",
    "net_monetary_benefit",
]

#: Output columns of :func:`incremental_analysis`, in order.
ICER_COLUMNS = ["strategy", "cost", "effect", "inc_cost", "inc_effect", "icer", "status"]

# Order of the status groups in the output of incremental_analysis (as in dampack).
_STATUS_ORDER = {"ND": 0, "ED": 1, "D": 2}


# ---------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------


def _validated_table(table: Any, cost: str, effect: str, strategy: str) -> pd.DataFrame:
    """Return a clean copy of ``table`` with columns ``strategy``, ``cost``, ``effect``.

    Raises ``ValueError`` (never a bare KeyError or a silent NaN) for: a missing
    column, an empty table, non-numeric / NaN / infinite costs or effects, missing
    strategy names, and duplicated strategy names. Catching these here matters
    because a NaN silently fails every comparison in the dominance checks and would
    otherwise produce a plausible-looking but wrong frontier.
    """
    if not isinstance(table, pd.DataFrame):
        try:
            table = pd.DataFrame(table)
        except Exception as exc:  # pragma: no cover - depends on the input type
            raise ValueError(f"cannot interpret the input as a table: {exc}") from exc

    missing = [c for c in (strategy, cost, effect) if c not in table.columns]
    if missing:
        raise ValueError(
            f"missing column(s) {missing}; the table has columns {list(table.columns)}"
        )
    if len(table) == 0:
        raise ValueError("empty table: at least one strategy is required")

    names = table[strategy]
    if names.isna().any():
        raise ValueError(f"missing strategy name(s) in column {strategy!r}")
    duplicated = names[names.duplicated(keep=False)].unique().tolist()
    if duplicated:
        raise ValueError(f"duplicate strategy name(s) in column {strategy!r}: {duplicated}")

    out = pd.DataFrame({"strategy": names.to_numpy()})
    for src, dst in ((cost, "cost"), (effect, "effect")):
        try:
            values = pd.to_numeric(table[src], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {src!r} must be numeric: {exc}") from exc
        bad = ~np.isfinite(values)
        if bad.any():
            raise ValueError(
                f"column {src!r} has NaN or infinite values for strategies "
                f"{names[bad].tolist()}"
            )
        out[dst] = values
    return out


# ---------------------------------------------------------------------------
# Incremental analysis (dampack::calculate_icers)
# ---------------------------------------------------------------------------


def _frontier_icers(cost: np.ndarray, effect: np.ndarray) -> tuple[np.ndarray, ...]:
    """Incremental cost, effect and ICER of consecutive strategies (first is NaN).

    This is dampack's ``compute_icers``: each strategy is compared with the
    previous one in the (cost-sorted) list, not with a common comparator.
    """
    inc_cost = np.full(len(cost), np.nan)
    inc_effect = np.full(len(cost), np.nan)
    inc_cost[1:] = np.diff(cost)
    inc_effect[1:] = np.diff(effect)
    with np.errstate(divide="ignore", invalid="ignore"):
        icer = inc_cost / inc_effect
    return inc_cost, inc_effect, icer


def incremental_analysis(
    table: pd.DataFrame,
    cost: str = "cost",
    effect: str = "effect",
    strategy: str = "strategy",
    *,
    icer_rtol: float = 1e-9,
) -> pd.DataFrame:
    """Full incremental cost-effectiveness analysis of mutually exclusive strategies.

    Reproduces ``dampack::calculate_icers`` (R package dampack, DARTH workgroup),
    the standard textbook procedure (Drummond et al., *Methods for the Economic
    Evaluation of Health Care Programmes*, ch. 4):

    1. Sort strategies by cost ascending, ties by effect descending (remaining ties,
       i.e. exact duplicates of cost *and* effect, by strategy name).
    2. **Dominance (D)**: a strategy is dominated if an earlier strategy in that order
       has an effect greater than or equal to its own. Since the earlier one costs no
       more, it is at least as good on both axes and strictly better on one, except
       for exact duplicates: of two strategies with identical cost and effect the
       first by name is kept and the other is marked D (they cannot both be
       removed, and keeping both would give a 0/0 ICER).
    3. **Extended dominance (ED)**: compute ICERs between consecutive remaining
       strategies; every strategy (other than the first and last) whose ICER is
       greater than the next strategy's ICER is marked ED, all in one pass; repeat
       until no ICER decreases. The survivors are the efficiency frontier (the lower
       convex hull in the effect-cost plane), with strictly increasing ICERs.
    4. Recompute incremental cost, incremental effect and ICER along the frontier,
       each strategy relative to the previous frontier strategy; the first (cheapest)
       frontier strategy has NaN. D and ED strategies get NaN in all three.

    Ties in ICER (collinear strategies) are *not* extended dominance: like dampack,
    which tests ``ICER[i] > ICER[i + 1]``, the middle strategy stays on the frontier
    (mixing its neighbours would only reproduce it, not beat it). ICERs that differ by
    no more than ``icer_rtol`` relative are treated as tied so that floating-point
    noise from subtracting large, nearly equal costs cannot flip a collinear strategy
    to ED; ``icer_rtol=0`` gives dampack's exact comparison.

    Parameters
    ----------
    table
        One row per strategy; extra columns are ignored.
    cost, effect, strategy
        Names of the columns holding the mean cost, mean effect (e.g. QALYs) and the
        unique strategy name.
    icer_rtol
        Relative tolerance for treating two ICERs as equal (see above).

    Returns
    -------
    pandas.DataFrame
        Columns ``strategy, cost, effect, inc_cost, inc_effect, icer, status`` with
        ``status`` in {"ND", "ED", "D"} (non-dominated, extendedly dominated,
        dominated). Rows are ordered as in dampack: frontier (ND) strategies by cost,
        then ED, then D, each group by cost (ties by effect descending, then name).
        The index is a fresh ``RangeIndex``.

    Raises
    ------
    ValueError
        For an empty table, a missing column, non-numeric/NaN/infinite costs or
        effects, missing or duplicate strategy names, or a negative ``icer_rtol``.
    """
    if not (icer_rtol >= 0):
        raise ValueError(f"icer_rtol must be >= 0, got {icer_rtol!r}")
    df = _validated_table(table, cost, effect, strategy)

    # 1. Sort by cost, then effect descending, then name for exact duplicates. A
    # stable sort on an explicit key makes the result independent of input order.
    df["_name"] = df["strategy"].astype(str)
    df = df.sort_values(
        ["cost", "effect", "_name"], ascending=[True, False, True], kind="mergesort"
    ).reset_index(drop=True)
    c = df["cost"].to_numpy()
    e = df["effect"].to_numpy()

    # 2. Strong dominance: j is dominated if some i < j has e[i] >= e[j], i.e. e[j]
    # does not exceed the running maximum of the effects before it.
    status = np.full(len(df), "ND", dtype=object)
    if len(df) > 1:
        best_before = np.maximum.accumulate(e)[:-1]
        status[1:][e[1:] <= best_before] = "D"

    # 3. Extended dominance, iterated as in dampack: flag, in one pass, every
    # interior frontier strategy whose ICER exceeds the next one; repeat.
    while True:
        nd = np.flatnonzero(status == "ND")
        if len(nd) <= 2:
            break
        _, _, icer = _frontier_icers(c[nd], e[nd])
        cur, nxt = icer[1:-1], icer[2:]
        flagged = cur - nxt > icer_rtol * np.maximum(np.abs(cur), np.abs(nxt))
        if not flagged.any():
            break
        status[nd[1:-1][flagged]] = "ED"

    # 4. ICERs along the final frontier.
    nd = np.flatnonzero(status == "ND")
    inc_cost = np.full(len(df), np.nan)
    inc_effect = np.full(len(df), np.nan)
    icer = np.full(len(df), np.nan)
    inc_cost[nd], inc_effect[nd], icer[nd] = _frontier_icers(c[nd], e[nd])

    df["inc_cost"] = inc_cost
    df["inc_effect"] = inc_effect
    df["icer"] = icer
    df["status"] = status
    # Group order ND, ED, D; within each group the existing (cost, effect, name)
    # order is kept by the stable sort.
    df["_group"] = df["status"].map(_STATUS_ORDER)
    df = df.sort_values("_group", kind="mergesort")
    return df[ICER_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------
# Net benefit
# ---------------------------------------------------------------------------


def validated_wtp(wtp: Any, *, allow_zero: bool = True) -> np.ndarray:
    """Willingness-to-pay threshold(s) as a 1-d float array: finite, and >= 0 (``> 0`` without
    ``allow_zero``); a ``ValueError`` otherwise."""
    try:
        values = np.atleast_1d(np.asarray(wtp, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"wtp must be a number or a 1-d sequence of numbers: {exc}") from exc
    if values.ndim != 1 or values.size == 0:
        raise ValueError("wtp must be a number or a non-empty 1-d sequence of numbers")
    low_ok = values >= 0 if allow_zero else values > 0
    if not np.all(np.isfinite(values)) or not np.all(low_ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"wtp must be finite and {bound}, got {wtp!r}")
    return values


def _net_benefit(
    table: Any,
    wtp: Any,
    cost: str,
    effect: str,
    strategy: str,
    *,
    kind: str,
) -> pd.DataFrame:
    """Shared implementation of net monetary / net health benefit."""
    df = _validated_table(table, cost, effect, strategy)
    thresholds = validated_wtp(wtp, allow_zero=(kind == "nmb"))
    n = len(df)
    c = df["cost"].to_numpy()
    e = df["effect"].to_numpy()

    lam = np.repeat(thresholds, n)
    cc = np.tile(c, thresholds.size)
    ee = np.tile(e, thresholds.size)
    benefit = ee * lam - cc if kind == "nmb" else ee - cc / lam

    # Optimal strategy per threshold: highest net benefit; exact ties (WTP equal to
    # an ICER) go to the more effective strategy, i.e. "adopt if ICER <= WTP", then
    # to the cheaper one, then to the first by name, so that exactly one is chosen.
    names = df["strategy"].astype(str).to_numpy()
    order = np.lexsort((names, c, -e))  # primary key last: -e, then c, then name
    rank = np.empty(n, dtype=float)
    rank[order] = np.arange(n)
    grid = benefit.reshape(thresholds.size, n)
    best = grid.max(axis=1, keepdims=True)
    tied_rank = np.where(grid == best, rank, np.inf)
    optimal = tied_rank == tied_rank.min(axis=1, keepdims=True)

    return pd.DataFrame(
        {
            "wtp": lam,
            "strategy": np.tile(df["strategy"].to_numpy(), thresholds.size),
            "cost": cc,
            "effect": ee,
            kind: benefit,
            "optimal": optimal.ravel(),
        }
    )


def net_monetary_benefit(
    table: pd.DataFrame,
    wtp: float | Any,
    cost: str = "cost",
    effect: str = "effect",
    strategy: str = "strategy",
) -> pd.DataFrame:
    """Net monetary benefit ``NMB = effect * wtp - cost`` of each strategy.

    The strategy with the highest NMB at a threshold ``wtp`` is the one the
    incremental analysis recommends at that threshold (the frontier strategy with
    the largest ICER not exceeding ``wtp``); NMB needs no dominance bookkeeping and
    is what probabilistic analyses (CEACs, EVPI) are built on.

    Parameters
    ----------
    table
        One row per strategy (see :func:`incremental_analysis`).
    wtp
        Willingness to pay per unit of effect (e.g. currency per QALY): one number
        or a 1-d sequence; must be finite and >= 0.
    cost, effect, strategy
        Column names in ``table``.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per (wtp, strategy), thresholds in the given order and
        strategies in input order: ``wtp, strategy, cost, effect, nmb, optimal``.
        ``optimal`` is True for exactly one strategy per threshold: the highest NMB,
        exact ties broken towards the higher effect (adopt when ICER <= WTP), then
        lower cost, then name.

    Raises
    ------
    ValueError
        For invalid tables (as :func:`incremental_analysis`) or a negative,
        non-finite or empty ``wtp``.
    """
    return _net_benefit(table, wtp, cost, effect, strategy, kind="nmb")


def net_health_benefit(
    table: pd.DataFrame,
    wtp: float | Any,
    cost: str = "cost",
    effect: str = "effect",
    strategy: str = "strategy",
) -> pd.DataFrame:
    """Net health benefit ``NHB = effect - cost / wtp`` of each strategy.

    NHB is NMB expressed in units of effect (``NHB = NMB / wtp``), so it selects the
    same optimal strategy; ``wtp`` must be strictly positive. Output as
    :func:`net_monetary_benefit` with column ``nhb`` instead of ``nmb``.

    Raises
    ------
    ValueError
        For invalid tables or a non-positive, non-finite or empty ``wtp``.
    """
    return _net_benefit(table, wtp, cost, effect, strategy, kind="nhb")
