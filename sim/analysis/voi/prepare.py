"""A PSA table checked and turned into arrays once (:func:`prepare`), shared by every measure; the
tie rule, the WTP grid and the seeded generators of the standard errors."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.economics import cea

#: Default seed of the EVPI bootstrap and EVPPI coefficient sampling.
VOI_SEED = 20140311


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
        """Index of the strategy with the highest expected NMB at each wtp (sim.economics.cea's rule)."""
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
    """The thresholds of a VOI measure (:func:`sim.economics.cea.validated_wtp`: finite, >= 0)."""
    return cea.validated_wtp(wtp, allow_zero=True)


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
