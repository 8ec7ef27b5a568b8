"""One-way sensitivity analysis: the tornado's data."""
from __future__ import annotations

import numpy as np
import pandas as pd

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
