"""The results of a PSA given to the report (``lnsim report --psa DIR``): read, checked, summarised."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sim.errors import InputError

PSA_FILE = "psa.csv"
PSA_COLUMNS = ("draw", "strategy", "cost", "qaly")


def read_psa(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Read and check ``psa.csv`` (columns draw, strategy, cost, qaly) from a PSA result folder
    (or the CSV file itself). Returns (table, path read). Raises :class:`InputError`."""
    p = Path(path)
    allowed = f"a folder holding {PSA_FILE} with columns {', '.join(PSA_COLUMNS)}"
    if not p.exists():
        raise InputError("PSA result folder not found", file=str(p), field="--psa", allowed=allowed)
    f = p / PSA_FILE if p.is_dir() else p
    if not f.is_file():
        raise InputError(f"no {PSA_FILE} in the PSA result folder", file=str(p), field="--psa", allowed=allowed)
    try:
        df = pd.read_csv(f)
    except Exception as e:  # pandas raises many kinds
        raise InputError(f"cannot read CSV ({e.__class__.__name__}: {e})", file=str(f), field="--psa",
                         allowed=allowed) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in PSA_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=str(f), field="--psa", allowed=allowed)
    if df.empty:
        raise InputError("no rows", file=str(f), field="--psa", allowed="one row per draw and strategy")
    df["strategy"] = df["strategy"].astype(str).str.strip()
    for col in ("draw", "cost", "qaly"):
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = ~np.isfinite(vals.to_numpy(dtype=float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"not a finite number in row {i + 2}", file=str(f), field=col,
                             value=df[col].iloc[i], allowed="a number")
        df[col] = vals
    if df.duplicated(["draw", "strategy"]).any():
        row = df[df.duplicated(["draw", "strategy"])].iloc[0]
        raise InputError("duplicated draw and strategy", file=str(f), field="draw",
                         value=f"{row['draw']:g}, {row['strategy']}", allowed="one row per draw and strategy")
    return df, str(f)


def check_psa_strategies(psa: pd.DataFrame, strategies: Sequence[str], source: str) -> None:
    """Every strategy of the PSA table must be a strategy of the scenario."""
    unknown = sorted(set(psa["strategy"]) - set(strategies))
    if unknown:
        raise InputError("PSA strategies are not those of the scenario", file=source, field="strategy",
                         value=", ".join(unknown), allowed=", ".join(strategies))


def psa_summary(psa: pd.DataFrame, wtp: float, order: Sequence[str]) -> pd.DataFrame:
    """Per strategy: draws, mean and 95% interval of cost and QALYs, P(highest net monetary benefit)."""
    from sim.analysis.voi import ceac
    # P(highest net monetary benefit) with voi's tie rule, over the draws that have every strategy
    complete = psa.groupby("draw")["strategy"].transform("size") == psa["strategy"].nunique()
    p_ce = (ceac(psa[complete], [wtp]).set_index("strategy")["probability"] if complete.any()
            else pd.Series(dtype=float))
    rows = []
    for s in [x for x in order if x in set(psa["strategy"])]:
        d = psa[psa["strategy"] == s]
        rows.append({
            "strategy": s, "draws": len(d),
            "cost": d["cost"].mean(), "cost_lo": d["cost"].quantile(0.025), "cost_hi": d["cost"].quantile(0.975),
            "qaly": d["qaly"].mean(), "qaly_lo": d["qaly"].quantile(0.025), "qaly_hi": d["qaly"].quantile(0.975),
            "p_ce": float(p_ce.get(s, float("nan"))),
        })
    return pd.DataFrame(rows)
