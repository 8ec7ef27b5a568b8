"""Deterministic and global sensitivity analysis.

* **One-way**: every uncertain quantity (see :mod:`sim.analysis.psa`) is set in turn to the low and the
  high end of its central 95% interval, everything else at base case (unit costs and utilities
  re-price one base-case simulation: simulate, then cost); the outcome is the
  incremental net monetary benefit (INMB) of each strategy against the first, at the scenario's
  willingness to pay. All runs use the same seed and patients (common random numbers), so a swing
  is the parameter's, not noise. A tornado plot orders the parameters by swing.
* **Scenario analysis**: named sets of ``--set`` overrides, each run once with the same patients.
* **Global (Morris elementary effects, SALib)**: all varied quantities move together over their
  95% intervals along ``r`` trajectories; mu* and sigma rank their influence on the INMB.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sim.analysis import psa as _psa
from sim.errors import InputError


def priced(model):
    """The scenario's cost and utility tables and its willingness to pay (in the tables' currency)."""
    from sim.inputs.economic_tables import resolve_tables
    from sim.inputs.economic_settings import willingness_to_pay
    econ, costs, utilities = resolve_tables(model.scenario)
    return costs, utilities, willingness_to_pay(econ, costs.currency)


def _inmb(rows: list[dict], strategies: list[str], wtp: float) -> dict[str, float]:
    """Incremental NMB of each strategy against the first, and each strategy's cost and QALYs."""
    by = {r["strategy"]: r for r in rows}
    ref = by[strategies[0]]
    out = {}
    for s in strategies:
        out[f"cost:{s}"] = by[s]["cost"]
        out[f"qaly:{s}"] = by[s]["qaly"]
        if s != strategies[0]:
            out[f"inmb:{s}"] = wtp * (by[s]["qaly"] - ref["qaly"]) - (by[s]["cost"] - ref["cost"])
    return out


def _dirichlet_row(u: "_psa.Uncertain", value: float, model) -> dict:
    """One-way on a response: move P(complete) to ``value``, P(partial) kept (capped so the sum <= 1)."""
    tname = u.name.split(".")[1]
    th = model.therapies[tname]
    partial = min(th.partial.value, 1.0 - value)
    return {u.columns[0]: value, u.columns[1]: partial}


def one_way(model, patients: int, seed: int, engine: str = "simpy", names: list[str] | None = None,
            progress: bool = False) -> pd.DataFrame:
    """Low/high runs per uncertain quantity; returns one row per quantity and strategy comparison."""
    costs, utils, wtp = priced(model)
    strategies = [s.name for s in model.scenario.strategies]
    if len(strategies) < 2:
        raise InputError("one-way analysis compares strategies: the scenario needs at least two",
                         field="strategies")
    items = [u for u in _psa.uncertainties(model, costs, utils) if u.kind != "fixed"]
    if names:
        unknown = sorted(set(names) - {u.name for u in items})
        if unknown:
            raise InputError("not an uncertain quantity of this scenario", field="--parameter",
                             value=", ".join(unknown), allowed="names listed by 'lnsim parameters --psa'")
        items = [u for u in items if u.name in names]
    # one simulation of the base case serves every price and utility: re-priced, never re-simulated
    from sim.analysis.simulate import simulate
    base_run = simulate(model, patients=patients, seed=seed, draw=0, costed=False, engine=engine)
    base = _inmb(_psa._draw_means(model, base_run, 0, costs, utils), strategies, wtp)

    def outcome(row: dict) -> dict:
        if all(k.startswith(("costs.", "utilities.")) for k in row):
            ct, ut = _psa.tables_for_draw(costs, utils, row)
            return _inmb(_psa._draw_means(model, base_run, 0, ct, ut), strategies, wtp)
        return _inmb(_psa.run_draw(model, {"draw": 0, **row}, patients, seed, costs, utils, engine), strategies, wtp)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(items), unit="parameter", desc="one-way")
    rows = []
    for u in items:
        lo, hi = u.interval()
        res = {}
        for end, value in (("low", lo), ("high", hi)):
            row = _dirichlet_row(u, value, model) if u.kind == "dirichlet" else {u.name: value}
            res[end] = outcome(row)
        for s in strategies[1:]:
            key = f"inmb:{s}"
            rows.append({"comparison": f"{s} vs {strategies[0]}", "parameter": u.name, "low_value": lo,
                         "high_value": hi, "outcome_low": res["low"][key], "outcome_high": res["high"][key],
                         "base": base[key], "evidence": u.evidence, "why": u.why})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def scenario_analysis(model_loader, named_overrides: dict[str, list[str]], patients: int, seed: int,
                      engine: str = "simpy") -> pd.DataFrame:
    """Each named list of ``--set`` overrides run once (same seed): costs, QALYs and INMB per strategy."""
    out = []
    for name, overrides in {"base case": [], **named_overrides}.items():
        model = model_loader(overrides)
        costs, utils, wtp = priced(model)
        strategies = [s.name for s in model.scenario.strategies]
        rows = _psa.run_draw(model, {"draw": 0}, patients, seed, costs, utils, engine)
        inmb = _inmb(rows, strategies, wtp)
        for r in rows:
            out.append({"scenario": name, "overrides": " ".join(overrides), "strategy": r["strategy"],
                        "cost": r["cost"], "qaly": r["qaly"], "life_years": r["life_years"],
                        "inmb_vs_first": inmb.get(f"inmb:{r['strategy']}", 0.0), "wtp": wtp})
    return pd.DataFrame(out)


def morris(model, patients: int, seed: int, trajectories: int = 10, levels: int = 4, engine: str = "simpy",
           progress: bool = False, names: list[str] | None = None) -> pd.DataFrame:
    """Morris elementary effects (SALib) of every varied quantity on the INMB of each strategy vs the first."""
    try:
        from SALib.analyze import morris as morris_analyze
        from SALib.sample import morris as morris_sample
    except ImportError:
        raise InputError("the Morris method needs SALib", field="--morris", allowed="pip install SALib") from None
    costs, utils, wtp = priced(model)
    strategies = [s.name for s in model.scenario.strategies]
    items = [u for u in _psa.uncertainties(model, costs, utils) if u.kind != "fixed"]
    if names:
        items = [u for u in items if u.name in names]
    bounds = []
    for u in items:
        lo, hi = u.interval()
        bounds.append([lo, hi] if hi > lo else [lo, lo + 1e-12])
    problem = {"num_vars": len(items), "names": [u.name for u in items], "bounds": bounds}
    x = morris_sample.sample(problem, trajectories, num_levels=levels, seed=seed % (2**32))
    y = {s: np.empty(len(x)) for s in strategies[1:]}
    it = range(len(x))
    if progress:
        from tqdm import tqdm
        it = tqdm(it, unit="run", desc="Morris")
    for i in it:
        row = {"draw": 0}
        for u, v in zip(items, x[i]):
            row.update(_dirichlet_row(u, float(v), model) if u.kind == "dirichlet" else {u.name: float(v)})
        res = _inmb(_psa.run_draw(model, row, patients, seed, costs, utils, engine), strategies, wtp)
        for s in strategies[1:]:
            y[s][i] = res[f"inmb:{s}"]
    out = []
    for s in strategies[1:]:
        si = morris_analyze.analyze(problem, x, y[s], num_levels=levels, print_to_console=False, seed=seed % (2**32))
        for j, name in enumerate(problem["names"]):
            out.append({"comparison": f"{s} vs {strategies[0]}", "parameter": name, "mu_star": float(si["mu_star"][j]),
                        "mu": float(si["mu"][j]), "sigma": float(si["sigma"][j]),
                        "mu_star_conf": float(si["mu_star_conf"][j])})
    df = pd.DataFrame(out)
    return df.sort_values(["comparison", "mu_star"], ascending=[True, False], kind="stable").reset_index(drop=True)
