"""Background mortality: the life table a scenario names (or the built-in one), read and checked."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError


@dataclass(frozen=True)
class LifeTable:
    """Background mortality: annual hazard by single year of age (0 .. max) and sex."""

    female: np.ndarray
    male: np.ndarray
    source: str


def load_life_table(path: str | None, base_dir: Path | None = None, source: str | None = None) -> LifeTable:
    """Read a life table (columns age, female, male). Errors name the scenario ``source`` and the CSV."""
    from importlib import resources
    if path is None:
        src = "sim/data/life_table.csv (illustrative Gompertz assumption)"
        with resources.files("sim").joinpath("data", "life_table.csv").open("r") as fh:
            df = pd.read_csv(fh, comment="#")
    else:
        p = Path(path)
        if not p.is_absolute() and base_dir is not None:
            p = base_dir / p
        src = str(p)
        if not p.is_file():
            raise InputError(f"life table file not found (looked for {src})", file=source or src,
                             field="life_table", value=path,
                             allowed="a CSV file with columns age,female,male (relative to the scenario file)")
        try:
            df = pd.read_csv(p, comment="#")
        except Exception as e:  # pandas raises many kinds
            raise InputError(f"life table {src}: cannot read CSV ({e.__class__.__name__}: {e})",
                             file=source or src, field="life_table", value=path,
                             allowed="a CSV file with columns age,female,male") from None

    def bad(message: str, value=None, allowed: str | None = None):
        return InputError(f"life table {src}: {message}", file=source or src, field="life_table", value=value,
                          allowed=allowed)

    for col in ("age", "female", "male"):
        if col not in df.columns:
            raise bad(f"missing column '{col}' (found: {', '.join(map(str, df.columns))})",
                      allowed="columns age,female,male")
    ages = pd.to_numeric(df["age"], errors="coerce").to_numpy(dtype=float)
    expected = np.arange(len(ages))
    if len(ages) < 2 or not np.array_equal(ages, expected):
        row = int(np.argmax(ages != expected)) if len(ages) >= 2 else 0
        got = _scalar(df["age"].iloc[row]) if len(ages) else None
        raise bad(f"column 'age': ages must be 0, 1, 2, ... without gaps; data row {row + 1} should be age {row}",
                  value=got, allowed="consecutive whole ages starting at 0 (at least 2 rows)")
    for col in ("female", "male"):
        h = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(h) & (h > 0)
        if not np.all(ok):
            row = int(np.argmin(ok))
            raise bad(f"column '{col}' at age {row}: hazards must be positive finite numbers",
                      value=_scalar(df[col].iloc[row]), allowed="> 0 (annual hazard)")
    return LifeTable(df["female"].to_numpy(float), df["male"].to_numpy(float), src)


def _scalar(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x
