"""Probabilistic sensitivity analysis: parameter uncertainty from the evidence, draws, and runs.

Every uncertain parameter gets a distribution derived from its evidence (:func:`uncertainties`):

* a count ``k/n`` -> ``Beta(k, n - k)`` (Jeffreys ``Beta(k + 1/2, n - k + 1/2)`` when k is 0 or n);
  a rate derived from a count (``deaths_over``) is the same Beta pushed through its formula;
* a proportion with a sample size ``n`` -> ``Beta(p n, (1 - p) n)``;
* complete / partial / no response of a therapy -> ``Dirichlet`` over the three counts (or the
  proportions times ``n``), so the three always sum to one;
* a ratio with a published interval -> ``LogNormal`` with ``sd = (ln hi - ln lo) / (2 x 1.96)``;
* a parameter record's own ``psa:`` entry (lognormal with ``sd_log``, beta with ``n``, uniform,
  gamma with ``cv``, or fixed), used for assumptions and for figures published without an interval;
* unit costs -> a ``Gamma`` relative-price multiplier per item, mean 1 (coefficient of variation
  0.1 for published items, 0.25 for assumptions; every vial size of a drug moves together; drugs
  of therapies the scenario does not use are not varied); one-off QALY losses of adverse events ->
  ``Gamma`` with CV 0.5. These spreads are assumptions (no source gives them) and say so in the
  table's ``why`` column;
* utilities -> ``Beta`` with standard deviation 0.05 (assumptions, stated in the table);
* anything else is fixed, and the table says why.

Draws are made once for the whole analysis into a draws x parameters table (saved with the
results), from one named stream per parameter (inverse CDF of uniforms), so the values of draw d do
not depend on how many draws, workers or chunks there are. Each draw is then simulated with its
own patients (streams keyed by the draw number) and costed; per-draw, per-strategy means are
written chunk by chunk, atomically, so an interrupted run can ``--resume``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from sim.model import libm

from sim.engine import streams
from sim.errors import InputError
from sim.inputs.economic_tables import OUTCOMES
from sim.analysis.outcomes import Z95
from sim.outputs import write_table, write_text
from sim.inputs.parameters import Param

COST_CV_PUBLISHED, COST_CV_ASSUMPTION, UTILITY_SD, QALY_LOSS_CV = 0.10, 0.25, 0.05, 0.5


@dataclass(frozen=True)
class Uncertain:
    """One uncertain quantity: its name (a ``--set``-style path), base value, distribution and why."""

    name: str
    base: float
    kind: str            # beta | lognormal | uniform | gamma | dirichlet | fixed
    args: tuple          # distribution parameters (see sample)
    why: str
    evidence: str = ""
    transform: str = ""  # "" or "deaths_over:<years>" / "survival:<years>" / "annual_probability"
    columns: tuple[str, ...] = ()   # for dirichlet: the names of the first components

    def describe(self) -> str:
        a = self.args
        if self.kind == "beta":
            return f"Beta({a[0]:.4g}, {a[1]:.4g})"
        if self.kind == "lognormal":
            return f"LogNormal(ln {math.exp(a[0]):.4g}, {a[1]:.3g})"
        if self.kind == "uniform":
            return f"Uniform({a[0]:.4g}, {a[1]:.4g})"
        if self.kind == "gamma":
            return f"Gamma(shape {a[0]:.4g}, scale {a[1]:.4g})"
        if self.kind == "dirichlet":
            return "Dirichlet(" + ", ".join(f"{x:.4g}" for x in a) + ")"
        return "fixed"

    def interval(self) -> tuple[float, float]:
        """Central 95% interval of the (first) quantity, for one-way sensitivity analysis."""
        u = np.array([0.025, 0.975])
        if self.kind == "dirichlet":
            a = np.asarray(self.args, float)
            q = stats.beta.ppf(u, a[0], a.sum() - a[0])
            return float(q[0]), float(q[1])
        q = self._ppf(u)
        return float(q[0]), float(q[1])

    def _ppf(self, u: np.ndarray) -> np.ndarray:
        a = self.args
        if self.kind == "beta":
            x = stats.beta.ppf(u, a[0], a[1])
        elif self.kind == "lognormal":
            x = libm.exp(a[0] + a[1] * stats.norm.ppf(u))
        elif self.kind == "uniform":
            x = a[0] + (a[1] - a[0]) * u
        elif self.kind == "gamma":
            x = stats.gamma.ppf(u, a[0], scale=a[1])
        else:
            x = np.full_like(u, self.base, dtype=float)
        return self._transform(x)

    def _transform(self, x: np.ndarray) -> np.ndarray:
        if not self.transform:
            return x
        how, _, arg = self.transform.partition(":")
        if how == "deaths_over":
            return -libm.log1p(-x) / float(arg)
        if how == "survival":
            return -libm.log(x) / float(arg)
        if how == "annual_probability":
            return -libm.log1p(-x)
        raise ValueError(self.transform)

    def sample(self, seed: int, n_draws: int) -> np.ndarray:
        """Values for draws 0..n_draws-1 (shape (n,) or (n, k) for a Dirichlet's first k components)."""
        g = streams.generator(seed, 0, 0, f"psa:{self.name}")
        if self.kind == "dirichlet":
            a = np.asarray(self.args, float)
            u = g.random((n_draws, len(a)))
            gam = stats.gamma.ppf(u, a[None, :])
            return (gam / gam.sum(axis=1, keepdims=True))[:, : len(self.columns)]
        return self._ppf(g.random(n_draws))


def _beta_from_count(k: float, n: float) -> tuple[float, float]:
    if k <= 0 or k >= n:
        return k + 0.5, n - k + 0.5
    return float(k), float(n - k)


def param_uncertainty(name: str, p: Param) -> Uncertain:
    """The distribution of one parameter record (see module docstring for the rules)."""
    spec = dict(p.psa) if p.psa else None
    ev = " ".join(p.evidence)
    if spec:
        why = spec.get("why", "")
        dist = spec.get("dist")
        if dist == "fixed":
            return Uncertain(name, p.value, "fixed", (), why or "fixed", ev)
        if dist == "lognormal":
            return Uncertain(name, p.value, "lognormal", (math.log(p.value), float(spec["sd_log"])), why, ev)
        if dist == "uniform":
            return Uncertain(name, p.value, "uniform", (float(spec["low"]), float(spec["high"])), why, ev)
        if dist == "gamma":
            cv = float(spec["cv"])
            return Uncertain(name, p.value, "gamma", (1 / cv**2, p.value * cv**2), why, ev)
        if dist == "beta":
            n = float(spec["n"])
            return Uncertain(name, p.value, "beta", (p.value * n, (1 - p.value) * n), why, ev)
        raise InputError("unknown psa distribution", field=f"{name}.psa.dist", value=dist,
                         allowed="fixed, lognormal, uniform, gamma, beta")
    if p.form == "count" and p.count:
        k, n = p.count
        return Uncertain(name, p.value, "beta", _beta_from_count(k, n), f"count {k}/{n}", ev)
    if p.form == "deaths_over":
        k, n, years = p.args
        return Uncertain(name, p.value, "beta", _beta_from_count(k, n), f"{k} deaths of {n} in {years} y",
                         ev, transform=f"deaths_over:{years}")
    if p.interval and p.value > 0:
        lo, hi = p.interval
        sd = (math.log(hi) - math.log(lo)) / (2 * Z95)
        return Uncertain(name, p.value, "lognormal", (math.log(p.value), sd),
                         f"published interval {lo:g}-{hi:g}", ev)
    if p.n and 0 <= p.value <= 1:
        return Uncertain(name, p.value, "beta", (p.value * p.n, (1 - p.value) * p.n), f"proportion with n={p.n}", ev)
    return Uncertain(name, p.value, "fixed", (), "no uncertainty information in the evidence: fixed "
                     "(vary it in one-way analysis)", ev)


def uncertainties(model, costs=None, utilities=None) -> list[Uncertain]:
    """Every uncertain quantity of a compiled scenario (model parameters, therapies, costs, utilities)."""
    out: list[Uncertain] = []
    for name, p in model.params.params.items():
        out.append(param_uncertainty(f"parameters.{name}", p))
    used = model.scenario.therapies_reached()
    for tname in used:
        th = model.therapies[tname]
        base = f"therapies.{tname}"
        c, q = th.complete, th.partial
        if c.count and q.count and c.count[1] == q.count[1]:
            n = c.count[1]
            counts = [c.count[0], q.count[0], n - c.count[0] - q.count[0]]
            why = f"counts {counts[0]}/{counts[1]}/{counts[2]} of {n}"
        elif (c.n or c.count) and (c.n or (c.count and c.count[1])):
            n = c.n or c.count[1]
            counts = [c.value * n, q.value * n, (1 - c.value - q.value) * n]
            why = f"proportions with n={n}"
        else:
            counts = None
        if counts is not None and c.value + q.value > 0:
            alpha = tuple(float(x) for x in counts)
            if min(counts) <= 0:
                alpha = tuple(x + 0.5 for x in alpha)
                why += " (+1/2 each: a count is zero)"
            out.append(Uncertain(f"{base}.response", c.value + q.value, "dirichlet", alpha, why,
                                 " ".join(sorted(set(c.evidence) | set(q.evidence))),
                                 columns=(f"{base}.response.complete", f"{base}.response.partial")))
        else:
            out.append(Uncertain(f"{base}.response", c.value + q.value, "fixed", (), "no counts or sample size: fixed",
                                 " ".join(c.evidence)))
        for cls, p in th.responders_by_class.items():
            out.append(param_uncertainty(f"{base}.responders_by_class.{cls}", p))
        if th.flare_hr is not None:
            out.append(param_uncertainty(f"{base}.flare_hr", th.flare_hr))
        for kind, p in th.adverse_events.items():
            out.append(param_uncertainty(f"{base}.adverse_events.{kind}", p))
    if costs is not None:
        # one relative-price multiplier per cost item (all vial sizes of a drug move together)
        drugs = {d.drug for t in used for d in model.therapies[t].dose}
        for item, g in costs.table.groupby("item", sort=False):
            if (g["category"] == "drug").all() and item not in drugs:
                continue                          # a drug of no therapy this scenario uses
            if item.endswith("_administration") and item[: -len("_administration")] not in drugs:
                continue
            published = not (g["kind"].astype(str).str.strip() == "assumption").all()
            cv = COST_CV_PUBLISHED if published else COST_CV_ASSUMPTION
            if (g["value"] > 0).any():
                out.append(Uncertain(f"costs.{item}", 1.0, "gamma", (1 / cv**2, cv**2),
                                     f"relative unit cost (x base price), CV {cv:.0%} "
                                     f"({'published' if published else 'assumption'})", str(g["source"].iloc[0])))
    if utilities is not None:
        for row in utilities.table.itertuples():
            v = float(row.value)
            key = f"utilities.{row.state}.{row.unit}"
            if row.unit == "utility" and 0 < v < 1:
                sd = UTILITY_SD
                common = v * (1 - v) / sd**2 - 1
                out.append(Uncertain(key, v, "beta", (v * common, (1 - v) * common),
                                     f"utility, SD {sd} (assumption)", str(row.source)))
            elif v > 0:
                cv = QALY_LOSS_CV
                out.append(Uncertain(key, v, "gamma", (1 / cv**2, v * cv**2), f"QALY loss, CV {cv:.0%} (assumption)",
                                     str(row.source)))
            else:
                out.append(Uncertain(key, v, "fixed", (), "zero", str(row.source)))
    return out


def uncertainty_table(items: Sequence[Uncertain]) -> pd.DataFrame:
    """What ``lnsim parameters --psa`` prints: distribution and why, per uncertain quantity."""
    rows = []
    for u in items:
        lo, hi = u.interval() if u.kind != "fixed" else (u.base, u.base)
        rows.append({"parameter": u.name, "base": u.base, "distribution": u.describe(), "low95": lo, "high95": hi,
                     "evidence": u.evidence or "-", "why": u.why})
    return pd.DataFrame(rows)


def draw_table(items: Sequence[Uncertain], seed: int, n_draws: int) -> pd.DataFrame:
    """The draws x parameters table (column ``draw`` then one column per varied quantity)."""
    cols: dict[str, np.ndarray] = {"draw": np.arange(n_draws)}
    for u in items:
        if u.kind == "fixed":
            continue
        x = u.sample(seed, n_draws)
        if u.kind == "dirichlet":
            for j, c in enumerate(u.columns):
                cols[c] = x[:, j]
        else:
            cols[u.name] = x
    return pd.DataFrame(cols)


# ---------------------------------------------------------------------------------------------
# Applying one draw
# ---------------------------------------------------------------------------------------------

def model_for_draw(model, row: dict):
    """A copy of the compiled scenario with the draw's values (shared state is never edited)."""
    params, therapies = {}, {}
    for key, value in row.items():
        if key.startswith("parameters."):
            params[key[len("parameters."):]] = float(value)
        elif key.startswith("therapies."):
            _, tname, rest = key.split(".", 2)
            therapies.setdefault(tname, {})[rest] = float(value)
    new_params = model.params.with_overrides(params, "psa draw") if params else model.params
    if not therapies:
        return dataclasses.replace(model, params=new_params)
    from sim.inputs.therapies import TherapyCatalogue
    built = dict(model.therapies.therapies)
    for tname, values in therapies.items():
        built[tname] = _therapy_with_values(built[tname], values)
    return dataclasses.replace(model, params=new_params,
                               therapies=TherapyCatalogue(model.therapies.records, built))


def _therapy_with_values(th, values: dict):
    """A therapy record with some numbers replaced (the quantities :func:`uncertainties` varies)."""
    changes: dict = {}
    by_class = dict(th.responders_by_class)
    aes = dict(th.adverse_events)
    for path, v in values.items():
        if path == "response.complete":
            changes["complete"] = th.complete.with_value(v, "psa draw")
        elif path == "response.partial":
            changes["partial"] = th.partial.with_value(v, "psa draw")
        elif path == "flare_hr":
            changes["flare_hr"] = th.flare_hr.with_value(v, "psa draw")
        elif path.startswith("responders_by_class."):
            cls = path.split(".", 1)[1]
            by_class[cls] = by_class[cls].with_value(v, "psa draw")
        elif path.startswith("adverse_events."):
            kind = path.split(".", 1)[1]
            aes[kind] = aes[kind].with_value(v, "psa draw")
        else:
            raise KeyError(f"therapies.{th.name}.{path} is not a varied quantity")
    return dataclasses.replace(th, responders_by_class=by_class, adverse_events=aes, **changes)


def tables_for_draw(costs, utilities, row: dict):
    """Cost and utility tables with the draw's values."""
    mult = np.array([float(row.get(f"costs.{key[0]}", 1.0)) for key in costs.keys])
    ut = [float(row.get(f"utilities.{st}.{un}", v))
          for (st, un), v in zip(utilities.keys, utilities.table["value"].tolist())]
    return costs.with_values(costs.table["value"].to_numpy(dtype=float) * mult), utilities.with_values(ut)




TABLE_PATIENT_COLUMNS = ["strategy", "patient", "weight_kg", "height_cm", "bsa_m2", "age", "sex",
                         "esrd_time_years", "death_time_years", "transplant_time_years", "followup_years"]


def run_draw(model, row: dict, patients: int, seed: int, costs, utilities, engine: str = "simpy",
             keep_tables: Path | None = None) -> list[dict]:
    """Simulate and cost one draw; per-strategy means of the outcomes. With ``keep_tables`` (a
    folder) the draw's patients, events and states tables are saved there, so the analysis can be
    re-costed later without re-simulating (:func:`recost_psa`)."""
    from sim.analysis.simulate import simulate
    d = int(row["draw"])
    md = model_for_draw(model, row)
    ct, ut = tables_for_draw(costs, utilities, row)
    if engine == "fast" and keep_tables is None:
        # aggregate mode: the batch driver runs the clinical core and each trajectory is priced from
        # its records, no event tables (equal to the SimPy route's to rounding: the same
        # trajectories, sums in another order)
        from sim.economics.aggregate import aggregate
        return _draw_records(d, aggregate(md, patients, seed, d, cost_table=ct, utility_table=ut).means())
    res = simulate(md, patients=patients, seed=seed, draw=d, costed=False, engine=engine)
    if keep_tables is not None:
        write_table(res.patients[TABLE_PATIENT_COLUMNS], keep_tables / f"draw_{d:07d}_patients.parquet")
        write_table(res.events, keep_tables / f"draw_{d:07d}_events.parquet")
        write_table(res.states, keep_tables / f"draw_{d:07d}_states.parquet")
    return _draw_means(model, res, d, ct, ut)


def _draw_means(model, res, d: int, ct, ut, econ=None) -> list[dict]:
    """One draw's per-strategy means (:func:`sim.economics.aggregate.strategy_means`) from the tables."""
    from sim.economics.aggregate import strategy_means
    from sim.economics.evaluate import evaluate
    ev = evaluate(res, econ, cost_table=ct, utility_table=ut)
    p = ev.patients.merge(res.patients[["strategy", "patient", "esrd_time_years", "death_time_years"]],
                          on=["strategy", "patient"])
    names = [s.name for s in model.scenario.strategies]
    g = [p[p["strategy"] == s] for s in names]

    def rows(c):
        return np.array([x[c].to_numpy(dtype=float) for x in g])
    return _draw_records(d, strategy_means(names, {c: rows(c) for c in OUTCOMES}, rows("esrd_time_years"),
                                           rows("death_time_years")))


def _draw_records(d: int, means: pd.DataFrame) -> list[dict]:
    """The rows of ``psa.csv`` for draw ``d`` (:func:`sim.economics.aggregate.strategy_means`)."""
    return [{"draw": d, "strategy": r["strategy"], **{c: float(r[c]) for c in (*OUTCOMES, "esrd", "death")}}
            for r in means.to_dict(orient="records")]


def run_chunk(model, rows: list[dict], patients: int, seed: int, costs, utilities, engine: str = "simpy",
              keep_tables: Path | None = None) -> pd.DataFrame:
    recs = []
    for row in rows:
        recs.extend(run_draw(model, row, patients, seed, costs, utilities, engine, keep_tables))
    return pd.DataFrame.from_records(recs)


# ---------------------------------------------------------------------------------------------
# The whole analysis: chunks, workers, resume
# ---------------------------------------------------------------------------------------------

def _run_key(model, draws: int, patients: int, seed: int, chunk: int, engine: str) -> dict:
    sc = model.scenario.model_dump(mode="json")
    blob = json.dumps(sc, sort_keys=True).encode()
    return {"scenario_sha256": hashlib.sha256(blob).hexdigest(), "draws": draws, "patients": patients,
            "seed": seed, "chunk_size": chunk, "engine": engine}


def default_chunk_size(draws: int) -> int:
    """Draws per chunk: about 20 chunks (few enough that per-chunk overhead is small, enough to resume
    and to spread over workers), between 10 and 100. Depends on ``draws`` only, so a resumed run
    finds the same chunks whatever its worker count."""
    return int(min(100, max(10, draws // 20)))


def run_psa(model, out_dir: str | Path, draws: int, patients: int, seed: int | None = None, workers: int | None = None,
            chunk_size: int | None = None, resume: bool = False, scheduler: str | None = None,
            progress: bool = True, engine: str = "simpy", keep_tables: bool = False) -> Path:
    """Run a probabilistic sensitivity analysis and write its tables to ``out_dir``.

    Writes ``draws.parquet`` (draws x parameters), ``uncertainty.csv`` (distributions and why),
    ``chunks/`` (per-draw, per-strategy means, one atomic file per chunk) and, when all chunks are
    done, ``psa.csv``. Identical, to the byte, for any ``workers`` and ``chunk_size``.
    """
    from sim.inputs.economic_tables import resolve_tables
    out = Path(out_dir)
    seed = int(model.scenario.seed if seed is None else seed)
    if chunk_size is None:
        chunk_size = default_chunk_size(draws)
    if draws <= 0 or patients <= 0 or chunk_size <= 0:
        raise InputError("draws, patients and chunk size must be positive", field="--draws/--patients/--chunk-size")
    key = _run_key(model, draws, patients, seed, chunk_size, engine)
    key["keep_tables"] = bool(keep_tables)
    key_file = out / "psa_run.json"
    if out.exists() and any(out.iterdir()):
        if not resume:
            raise InputError("output folder exists and is not empty", file=str(out), field="--out",
                             allowed="a new or empty folder, or --resume to finish an interrupted run")
        if not key_file.is_file():
            raise InputError("folder holds no interrupted PSA to resume (psa_run.json missing)", file=str(out),
                             field="--resume")
        old = json.loads(key_file.read_text())
        if old != key:
            diff = sorted(k for k in key if old.get(k) != key[k])
            raise InputError("cannot resume: the run differs from the interrupted one in " + ", ".join(diff),
                             file=str(key_file), field="--resume", allowed="the same scenario, draws, patients, "
                             "seed and chunk size")
    out.mkdir(parents=True, exist_ok=True)
    (out / "chunks").mkdir(exist_ok=True)
    tables_dir = None
    if keep_tables:
        tables_dir = (out / "tables").resolve()
        tables_dir.mkdir(exist_ok=True)
    _, costs, utilities = resolve_tables(model.scenario)
    items = uncertainties(model, costs, utilities)
    table = draw_table(items, seed, draws)
    if not key_file.is_file():
        write_table(table, out / "draws.parquet")
        write_table(uncertainty_table(items), out / "uncertainty.csv")
        write_text(json.dumps(key, indent=2, sort_keys=True), key_file)
    records = table.to_dict(orient="records")
    chunks = [(i, records[i:i + chunk_size]) for i in range(0, draws, chunk_size)]
    todo = [(i, rows) for i, rows in chunks if not (out / "chunks" / f"draws_{i:07d}.parquet").is_file()]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=draws, initial=draws - sum(len(r) for _, r in todo), unit="draw", desc="PSA")

    def done(i: int, df: pd.DataFrame) -> None:
        write_table(df, out / "chunks" / f"draws_{i:07d}.parquet")
        if bar is not None:
            bar.update(int(df["draw"].nunique()))

    args = (patients, seed, costs, utilities, engine, tables_dir)
    n_workers = workers or os.cpu_count() or 1
    if scheduler:
        _run_dask(scheduler, model, todo, args, done)
    elif n_workers <= 1 or len(todo) <= 1:
        for i, rows in todo:
            done(i, run_chunk(model, rows, *args))
    else:
        _run_local(n_workers, model, todo, args, done)
    if bar is not None:
        bar.close()
    parts = [pd.read_parquet(out / "chunks" / f"draws_{i:07d}.parquet") for i, _ in chunks]
    psa = pd.concat(parts, ignore_index=True)
    order = {s.name: k for k, s in enumerate(model.scenario.strategies)}
    psa = psa.sort_values(["draw", "strategy"], key=lambda c: c.map(order) if c.name == "strategy" else c,
                          kind="stable").reset_index(drop=True)
    write_table(psa, out / "psa.csv")
    return out


_SHARED: tuple | None = None


def _share(model, args) -> None:
    """Worker initializer: the model and run arguments, given once per worker instead of per chunk."""
    global _SHARED
    _SHARED = (model, args)


def _run_shared_chunk(rows: list[dict]) -> pd.DataFrame:
    model, args = _SHARED
    return run_chunk(model, rows, *args)


def _run_local(workers: int, model, todo, args, done: Callable) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing as mp
    # fork where the platform has it (fast start; workers write nothing but return tables), else spawn
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_share,
                             initargs=(model, args)) as pool:
        futs = {pool.submit(_run_shared_chunk, rows): i for i, rows in todo}
        for f in as_completed(futs):
            done(futs[f], f.result())


def _run_dask(address: str, model, todo, args, done: Callable) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError("--scheduler needs the 'distributed' package", field="--scheduler",
                         allowed="pip install 'lnsim[cluster]'") from None
    with Client(address) as client:
        futs = {client.submit(run_chunk, model, rows, *args, pure=False): i for i, rows in todo}
        for f in as_completed(list(futs)):
            done(futs[f], f.result())


def recost_psa(model, psa_dir: str | Path, out_dir: str | Path, progress: bool = False) -> Path:
    """Re-cost a finished PSA that kept its tables (``--keep-tables``) with the economics of
    ``model`` (another cost or utility table, discount rates, wastage rule...), without re-simulating.

    Each draw keeps its sampled parameters: the same relative-price multipliers and utilities are
    applied to the new tables. Writes ``psa.csv`` (and copies ``draws.parquet``) into ``out_dir``.
    """
    from sim.inputs.economic_tables import resolve_tables
    from sim.outputs import check_new_folder, staged_folder
    from sim.engine.simulation import SimulationResult
    src = Path(psa_dir)
    key_file = src / "psa_run.json"
    if not key_file.is_file() or not (src / "tables").is_dir():
        raise InputError("not a PSA run that kept its tables", file=str(src), field="--recost",
                         allowed="an output folder of 'lnsim psa --keep-tables'")
    key = json.loads(key_file.read_text())
    draws = pd.read_parquet(src / "draws.parquet")
    econ, costs, utilities = resolve_tables(model.scenario)
    out = check_new_folder(Path(out_dir), overwrite=False)
    recs = []
    rows = draws.to_dict(orient="records")
    if progress:
        from tqdm import tqdm
        rows = tqdm(rows, unit="draw", desc="re-costing")
    for row in rows:
        d = int(row["draw"])
        tables = {k: src / "tables" / f"draw_{d:07d}_{k}.parquet" for k in ("patients", "events", "states")}
        if not all(p.is_file() for p in tables.values()):
            raise InputError("the kept tables of a draw are missing", file=str(tables["states"]), field="--recost")
        md = model_for_draw(model, row)
        res = SimulationResult(md, pd.read_parquet(tables["patients"]), pd.read_parquet(tables["events"]),
                               pd.read_parquet(tables["states"]), None, int(key["seed"]), int(key["patients"]))
        ct, ut = tables_for_draw(costs, utilities, row)
        recs.extend(_draw_means(model, res, d, ct, ut, econ))
    psa = pd.DataFrame.from_records(recs)
    with staged_folder(out) as tmp:
        write_table(psa, tmp / "psa.csv")
        write_table(draws, tmp / "draws.parquet")
        (tmp / "psa_run.json").write_text(json.dumps({**key, "recosted_from": str(src.resolve())}, indent=2,
                                                     sort_keys=True))
    return out
