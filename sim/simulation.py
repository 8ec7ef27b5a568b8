"""Running a scenario: patient blocks x strategies through the pathway, then one table each.

For each block of 256 patients (see :mod:`sim.streams`) the patients' attributes, hazard tables
and random numbers are prepared once (:class:`BlockInputs`) and shared by every strategy: the
same patients with the same random streams (common random numbers). Each strategy then runs the
block in its own SimPy environment. Results are light tuples, turned into DataFrames at the end.
"""
from __future__ import annotations

import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim import streams
from sim.cohort import sample_block
from sim.hazards import HEALTH_STATES, PRE_ESRD, death_tables, esrd_multiplier, esrd_tables
from sim.outcomes import summarise
from sim.parameters import parameter_rows, table_hash
from sim.pathway import EVENTS, Pathway, Patient
from sim.scenarios import Model, Scenario, build

K_COURSES = 8     # courses of one therapy per patient per stream chunk
K_FLARES = 16     # flare thresholds per stream chunk


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def chronicity_log_or(p) -> dict[str, float]:
    """Log odds ratio of response by chronicity band (vs low chronicity)."""
    return {"low": 0.0, "moderate": math.log(p["chronicity_response_or_moderate"]),
            "high": math.log(p["chronicity_response_or_high"])}


def centring(p, therapy) -> float:
    """What centres the chronic-damage and look-alike log odds ratios on the case mix of the
    therapy's evidence population (first-line trials or refractory series), so that a population
    like that one keeps, approximately, the evidence's pooled response (an assumption; the mixes are
    the trial_* and refractory_* parameters)."""
    pop = "trial" if therapy.evidence_population == "first_line" else "refractory"
    chron = chronicity_log_or(p)
    shift = -(p[f"{pop}_chronicity_share_moderate"] * chron["moderate"]
              + p[f"{pop}_chronicity_share_high"] * chron["high"])
    if not therapy.targets:                        # the look-alikes' own management: no look-alike effect
        shift -= p[f"{pop}_lookalike_share"] * math.log(p["lookalike_response_or"])
    return shift


def lookalike_penalised(therapy, lookalike: str) -> bool:
    """Does a patient with this look-alike respond less to this therapy (it does not treat it)?"""
    return lookalike != "none" and lookalike not in therapy.treats


class BlockInputs:
    """Everything random or patient-specific about one block, shared by all strategies."""

    def __init__(self, model: Model, seed: int, draw: int, block: int):
        self.model, self.seed, self.draw, self.block = model, seed, draw, block
        sc = model.scenario
        self.cohort = sample_block(sc.cohort, seed, draw, block)
        c = self.cohort
        lt = model.life_table
        self.d_bps, self.d_tables = death_tables(c.age, c.female, lt.female, lt.male, model.params, sc.horizon_years)
        self.e_bps, self.e_tables = esrd_tables(c.isn_class, model.params, esrd_multiplier(model.params, c.chronicity))
        self.thresholds = {name: streams.exponentials(seed, draw, block, f"clock:{name}")
                           for name in ("death", "esrd", "transplant", "graft_failure")}
        self._cache: dict[str, np.ndarray] = {}
        self._resp: dict[tuple, float] = {}
        self._lists: dict[int, tuple] = {}
        self._lo_patient = self._patient_log_odds()

    # -- streams, drawn in bulk for the block on first use --------------------------------------
    def _stream(self, name: str, shape: tuple[int, ...], kind: str = "uniform") -> np.ndarray:
        arr = self._cache.get(name)
        if arr is None:
            f = streams.uniforms if kind == "uniform" else streams.exponentials
            arr = self._cache[name] = f(self.seed, self.draw, self.block, name, shape)
        return arr

    def _element(self, base: str, k: int, per_chunk: int, width: tuple[int, ...], row: int,
                 kind: str = "uniform") -> np.ndarray:
        """Element ``k`` of a patient's sequence of draws (the courses of a drug, the flares): a
        sequence is drawn ``per_chunk`` elements at a time, as streams ``base``, ``base#1``, ..."""
        chunk, j = divmod(k, per_chunk)
        return self._stream(base + (f"#{chunk}" if chunk else ""), (per_chunk, *width), kind)[row, j]

    def course_uniforms(self, therapy: str, k: int, row: int) -> np.ndarray:
        return self._element(f"course:{therapy}", k, K_COURSES, (5,), row)

    def adverse_event_uniforms(self, therapy: str, kind: str, k: int, row: int) -> np.ndarray:
        return self._element(f"adverse_event:{therapy}:{kind}", k, K_COURSES, (2,), row)

    def flare_threshold(self, row: int, k: int) -> float:
        return float(self._element("clock:flare", k, K_FLARES, (), row, "exponential"))

    def flare_severity_uniform(self, row: int, k: int) -> float:
        return float(self._element("flare_severity", k, K_FLARES, (), row))

    def workup_uniforms(self, row: int) -> np.ndarray:
        """The patient's draws for the work-up of a non-response (biopsy sees chronic damage, biopsy
        sees a look-alike, screening sees a look-alike): one set per patient, shared by strategies."""
        return self._stream("workup", (3,))[row]

    def induction_agent(self, row: int, shares: dict[str, float]) -> str:
        if len(shares) == 1:
            return next(iter(shares))
        u = self._stream("induction_choice", ())[row]
        acc = 0.0
        for agent, w in shares.items():
            acc += w
            if u < acc:
                return agent
        return agent

    # -- response probability of a course for a patient ------------------------------------------
    def _patient_log_odds(self) -> np.ndarray:
        """Log odds ratio of ancestry, adherence and chronic damage (apply to every therapy)."""
        p, c = self.model.params, self.cohort
        anc = np.array([math.log(p[f"ancestry_response_or_{a}"]) for a in c.ancestry])
        chron = chronicity_log_or(p)
        return (anc + np.where(c.nonadherent, math.log(p["nonadherent_response_or"]), 0.0)
                + np.array([chron[x] for x in c.chronicity]))

    def response_probability(self, row: int, therapy, second_line: bool) -> float:
        """P(partial or complete response by the therapy's evidence time point) for this patient."""
        key = (row, therapy.name, second_line)
        got = self._resp.get(key)
        if got is not None:
            return got
        p = self.model.params
        cls = self.cohort.isn_class[row]
        base = therapy.response_probability(cls)
        if base <= 0.0 or base >= 1.0:
            prob = base
        else:
            lo = _logit(base) + self._lo_patient[row]
            lo += centring(p, therapy)
            if lookalike_penalised(therapy, self.cohort.lookalike[row]):
                lo += math.log(p["lookalike_response_or"])
            if therapy.class_or_group in ("b_cell", "cni"):
                lo += math.log(p[f"class_response_or_{therapy.class_or_group}_{cls}"])
            if therapy.asian_evidence and self.cohort.ancestry[row] != "asian":
                lo += math.log(p["asian_evidence_transfer_or"])
            if second_line:
                lo += math.log(p["second_induction_response_or"])
            prob = 1.0 / (1.0 + math.exp(-lo))
        self._resp[key] = prob
        return prob

    def _clock_lists(self, row: int) -> tuple:
        """The patient's hazard tables as Python lists (read-only in the pathway), made once per block
        and shared by every strategy."""
        got = self._lists.get(row)
        if got is None:
            got = self._lists[row] = (
                self.d_bps[row].tolist(),
                {s: self.d_tables[s][0][row].tolist() for s in HEALTH_STATES},
                {s: self.d_tables[s][1][row].tolist() for s in HEALTH_STATES},
                {s: self.e_tables[s][0][row].tolist() for s in PRE_ESRD},
                {s: self.e_tables[s][1][row].tolist() for s in PRE_ESRD},
            )
        return got

    # -- a fresh patient object for one strategy ---------------------------------------------------
    def patient(self, row: int, first_agent: str) -> Patient:
        pt = Patient(self.block * streams.BLOCK_SIZE + row, row)
        c = self.cohort
        pt.isn_class, pt.ancestry, pt.nonadherent = c.isn_class[row], c.ancestry[row], bool(c.nonadherent[row])
        pt.first_agent = first_agent
        pt.chronicity, pt.lookalike = c.chronicity[row], c.lookalike[row]
        pt.d_bps, pt.d_cum, pt.d_rates, pt.e_cum, pt.e_rates = self._clock_lists(row)
        pt.e_bps = self.e_bps
        th = self.thresholds
        pt.e_death, pt.e_esrd = float(th["death"][row]), float(th["esrd"][row])
        pt.tx_left, pt.graft_left = float(th["transplant"][row]), float(th["graft_failure"][row])
        pt.flare_left = self.flare_threshold(row, 0)
        pt.inputs = self
        return pt


def run_block(model: Model, strategy, inputs: BlockInputs, n_rows: int):
    """Simulate rows ``0..n_rows-1`` of a block under one strategy: (patients, events, segments)."""
    path = Pathway(model, strategy, model.scenario.horizon_years)
    patients = start_patients(path, inputs, n_rows)
    path.env.run()
    return patient_rows(strategy, inputs, patients), path.events, path.segments


def start_patients(path: Pathway, inputs: BlockInputs, n_rows: int, arrivals=None) -> list:
    """Create the block's patients and start their processes (at their arrival time, if any)."""
    shares = path.strategy.induction_shares()
    patients = []
    for row in range(n_rows):
        pt = inputs.patient(row, inputs.induction_agent(row, shares))
        patients.append(pt)
        if arrivals is None:
            path.env.process(path.life(pt))
        else:
            pt.t0 = float(arrivals[pt.pid])
            path.env.process(_arrive(path, pt))
    return patients


def _arrive(path: Pathway, pt):
    yield path.env.timeout(pt.t0)
    yield path.env.process(path.life(pt))


def patient_rows(strategy, inputs: BlockInputs, patients: list) -> list[tuple]:
    c = inputs.cohort
    ladder = strategy.ladder
    rows = []
    for pt in patients:
        r = pt.row
        rows.append((
            pt.pid, pt.isn_class, pt.ancestry, float(c.age[r]), "female" if c.female[r] else "male",
            float(c.weight_kg[r]), float(c.height_cm[r]), float(c.bsa_m2[r]), float(c.proteinuria_g_day[r]),
            float(c.egfr_ml_min[r]), pt.nonadherent, pt.chronicity, pt.lookalike, pt.first_agent,
            pt.refractory_initial, pt.refractory, pt.failed_induction, pt.workup_finding,
            nonresponse_cause(pt) if pt.failed_induction else "", pt.n_stopped,
            ladder[pt.highest_step] if pt.highest_step >= 0 else "induction", pt.n_flares,
            pt.cr_time, pt.response_time, pt.esrd_time, pt.death_time, pt.tx_time, pt.end_time,
            "death" if pt.death_time == pt.death_time else "alive",
        ))
    return rows


def nonresponse_cause(pt) -> str:
    """Why a patient who failed both induction agents did not respond, from what the model knows
    (the truth, whether or not the strategy looked): a look-alike, chronic damage, non-adherence,
    or refractory nephritis proper. Only the last is truly refractory disease."""
    if pt.lookalike != "none":
        return pt.lookalike
    if pt.chronicity == "high":
        return "chronic_damage"
    if pt.nonadherent:
        return "nonadherence"
    return "refractory_nephritis"


PATIENT_COLUMNS = [
    "patient", "isn_class", "ancestry", "age", "sex", "weight_kg", "height_cm", "bsa_m2",
    "proteinuria_g_day", "egfr_ml_min", "nonadherent", "chronicity", "lookalike", "induction", "refractory",
    "refractory_ever", "failed_induction", "workup_finding", "nonresponse_cause", "courses_stopped_by_adverse_event",
    "highest_step", "n_renal_flares", "cr_time_years", "response_time_years", "esrd_time_years",
    "death_time_years", "transplant_time_years", "followup_years", "end_state",
]


@dataclass
class SimulationResult:
    """The tables of one run (one row per patient and strategy; long event and state tables)."""

    model: Model
    patients: pd.DataFrame
    events: pd.DataFrame
    states: pd.DataFrame
    summary: pd.DataFrame
    seed: int
    n_patients: int
    cea: pd.DataFrame | None = None
    economics: object | None = None
    capacity: pd.DataFrame | None = None
    engine: str = "simpy"

    def ladders(self) -> dict[str, list[str]]:
        return {s.name: list(s.ladder) for s in self.model.scenario.strategies}


ENGINES = ("simpy", "fast")


def simulate(scenario: Scenario | Model, patients: int | None = None, seed: int | None = None,
             progress: bool = False, draw: int = 0, costed: bool = True, engine: str = "simpy") -> SimulationResult:
    """Simulate every strategy of a scenario for the same virtual patients.

    ``draw`` is the parameter draw of a probabilistic analysis (it keys the random streams);
    ``costed`` adds costs, QALYs and the incremental analysis (:func:`attach_economics`);
    ``engine`` is ``"simpy"`` (one process per patient) or ``"fast"`` (:mod:`sim.fast_engine`,
    the same model for a whole block at once, identical results without capacity limits).
    """
    model = scenario if isinstance(scenario, Model) else build(scenario)
    sc = model.scenario
    n = int(patients if patients is not None else sc.patients)
    seed = int(seed if seed is not None else sc.seed)
    if engine not in ENGINES:
        from sim.errors import InputError
        raise InputError("unknown engine", field="--engine", value=engine, allowed=", ".join(ENGINES))
    if engine == "fast" and sc.capacity is not None:
        from sim.errors import InputError
        raise InputError("the fast engine has no capacity limits (patients do not compete there)",
                         field="--engine", value=engine, allowed="simpy for scenarios with a capacity section")
    if engine == "fast":
        from sim import fast_engine
        result = fast_engine.simulate_tables(model, n, seed, draw)
        result.engine = "fast"
        add_exposures(result)
        if costed:
            attach_economics(result)
        return result
    strategies = sc.strategies
    out = {s.name: ([], [], []) for s in strategies}
    block_ids = list(streams.blocks(n))
    if sc.capacity is not None:
        return _simulate_with_capacity(model, n, seed, draw, costed)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n * len(strategies), unit="patient", desc="simulating", leave=False)
    for b in block_ids:
        inputs = BlockInputs(model, seed, draw, b)
        n_rows = min(streams.BLOCK_SIZE, n - b * streams.BLOCK_SIZE)
        for s in strategies:
            rows, ev, seg = run_block(model, s, inputs, n_rows)
            acc = out[s.name]
            acc[0].extend(rows)
            acc[1].extend(ev)
            acc[2].extend(seg)
            if bar is not None:
                bar.update(n_rows)
    if bar is not None:
        bar.close()
    return _assemble(model, out, seed, n, costed)


def _assemble(model: Model, out: dict, seed: int, n: int, costed: bool) -> "SimulationResult":
    strategies = model.scenario.strategies
    pats, evs, segs = [], [], []
    for s in strategies:
        rows, ev, seg = out[s.name]
        df = pd.DataFrame.from_records(rows, columns=PATIENT_COLUMNS)
        df.insert(0, "strategy", s.name)
        pats.append(df)
        e = pd.DataFrame.from_records(ev, columns=["patient", "time_years", "event", "detail"])
        e.insert(0, "strategy", s.name)
        evs.append(e)
        g = pd.DataFrame.from_records(seg, columns=["patient", "state", "therapy", "start", "stop"])
        g.insert(0, "strategy", s.name)
        segs.append(g)
    patients_df = pd.concat(pats, ignore_index=True)
    events_df = pd.concat(evs, ignore_index=True)
    # stable order: strategy (scenario order), patient, time, then record order
    events_df["_o"] = np.arange(len(events_df))
    events_df["_s"] = events_df["strategy"].map({s.name: i for i, s in enumerate(strategies)})
    events_df = events_df.sort_values(["_s", "patient", "_o"], kind="stable").drop(columns=["_o", "_s"])
    events_df = events_df.reset_index(drop=True)
    states_df = pd.concat(segs, ignore_index=True)
    states_df["_s"] = states_df["strategy"].map({s.name: i for i, s in enumerate(strategies)})
    states_df = states_df.sort_values(["_s", "patient", "start"], kind="stable").drop(columns=["_s"]).reset_index(drop=True)
    result = SimulationResult(model, patients_df, events_df, states_df, None, seed, n)
    add_exposures(result)
    if costed:
        attach_economics(result)
    return result


def add_exposures(result: "SimulationResult") -> "SimulationResult":
    """Measure what is computed from the tables after the simulation (glucocorticoid exposure, see
    :mod:`sim.glucocorticoids`) into the patients table, and summarise the run."""
    from sim.glucocorticoids import COLUMNS, exposure
    gc = exposure(result)
    pats = result.patients.drop(columns=[c for c in COLUMNS if c in result.patients])
    result.patients = pats.merge(gc, on=["strategy", "patient"], how="left", validate="one_to_one")
    result.summary = summarise(result.patients, result.events, result.ladders())
    return result


def arrival_times(n: int, rate_per_year: float, seed: int, draw: int) -> np.ndarray:
    """Start of induction of each patient of an open population (Poisson arrivals), by patient index."""
    gaps = np.concatenate([streams.exponentials(seed, draw, b, "arrival") for b in streams.blocks(n)])[:n]
    return np.cumsum(gaps / rate_per_year)


def _simulate_with_capacity(model: Model, n: int, seed: int, draw: int, costed: bool) -> "SimulationResult":
    """Open population with limited services: one SimPy environment per strategy, all patients in it."""
    import simpy
    from sim.capacity import Services
    sc = model.scenario
    arrivals = arrival_times(n, sc.capacity.arrivals_per_year, seed, draw)
    inputs = [BlockInputs(model, seed, draw, b) for b in streams.blocks(n)]
    out, service_rows = {}, []
    for s in sc.strategies:
        env = simpy.Environment()
        services = Services(env, sc.capacity)
        runs = []
        for b, inp in enumerate(inputs):
            path = Pathway(model, s, sc.horizon_years, services=services, env=env)
            n_rows = min(streams.BLOCK_SIZE, n - b * streams.BLOCK_SIZE)
            runs.append((path, inp, start_patients(path, inp, n_rows, arrivals)))
        env.run()
        rows, ev, seg = [], [], []
        for path, inp, pts in runs:
            rows.extend(patient_rows(s, inp, pts))
            ev.extend(path.events)
            seg.extend(path.segments)
        out[s.name] = (rows, ev, seg)
        for r in services.table(env.now):
            service_rows.append({"strategy": s.name, **r})
    result = _assemble(model, out, seed, n, costed)
    result.capacity = pd.DataFrame(service_rows)
    extra = []
    for r in service_rows:
        extra += [(r["strategy"], f"wait_{r['service']}_mean_days", r["mean_wait_days"]),
                  (r["strategy"], f"utilisation_{r['service']}", r["utilisation"])]
    if extra:
        result.summary = pd.concat([result.summary, pd.DataFrame(extra, columns=["strategy", "metric", "value"])],
                                   ignore_index=True)
    return result


def attach_economics(result: "SimulationResult", econ=None) -> "SimulationResult":
    """Cost the run (simulate, then cost): add costs, QALYs and life years to the patients table,
    their means to the summary, and the incremental analysis as ``result.cea``."""
    from sim.economics import evaluate
    ev = evaluate(result, econ)
    keys = ["strategy", "patient"]
    base = result.patients.drop(columns=[c for c in ev.patients.columns if c not in keys and c in result.patients])
    result.patients = base.merge(ev.patients, on=keys, how="left", validate="one_to_one")
    natural = result.summary[~result.summary["metric"].isin(set(ev.summary["metric"]))]
    result.summary = pd.concat([natural, ev.summary], ignore_index=True)
    order = {s.name: i for i, s in enumerate(result.model.scenario.strategies)}
    result.summary = result.summary.sort_values("strategy", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
    result.cea = ev.cea
    result.economics = ev
    return result


# ----------------------------------------------------------------------------------------------
# Writing results
# ----------------------------------------------------------------------------------------------

def parameter_table(model: Model) -> pd.DataFrame:
    """Every parameter with value, unit, evidence ids, kind and note (``lnsim parameters``)."""
    rows = parameter_rows(model.params.params)
    rows += parameter_rows(model.therapies.params(), prefix="therapy.")
    pop = model.scenario.cohort
    for field, prov in pop.provenance.items():
        val = getattr(pop, field)
        value = val if isinstance(val, (int, float)) else json.dumps(
            val.model_dump() if hasattr(val, "model_dump") else val)
        rows.append({"parameter": f"cohort.{field}", "value": value, "unit": "", "evidence":
                     " ".join(prov.evidence) or "-", "kind": prov.kind, "count": "", "formula": "", "note": prov.note})
    rows.append({"parameter": "background_life_table", "value": model.life_table.source, "unit": "annual hazard",
                 "evidence": "-", "kind": "assumption" if "assumption" in model.life_table.source else "evidence",
                 "count": "", "formula": "", "note": "background mortality by age and sex"})
    econ = model.scenario.economics
    rows.append({"parameter": "economics.dialysis_pd_share", "value": econ.dialysis_pd_share, "unit": "share",
                 "evidence": "-", "kind": "assumption", "count": "", "formula": "",
                 "note": type(econ).model_fields["dialysis_pd_share"].description})
    return pd.DataFrame(rows)


def library_versions(names) -> dict[str, str | None]:
    """Installed version of each library (None if absent), for a run's manifest."""
    import importlib.metadata as md
    out = {}
    for lib in names:
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            out[lib] = None
    return out


def manifest(result: SimulationResult) -> dict:
    import sim
    libs = library_versions(("simpy", "numpy", "scipy", "pandas", "pyarrow", "pydantic", "lifelines", "PyYAML"))
    params = parameter_table(result.model)
    return {
        "lnsim_version": sim.__version__,
        "scenario": result.model.scenario.model_dump(mode="json"),
        "scenario_source": result.model.source,
        "seed": result.seed,
        "patients": result.n_patients,
        "strategies": [s.name for s in result.model.scenario.strategies],
        "parameter_table_sha256": table_hash(params.to_dict(orient="records")),
        "event_vocabulary": EVENTS,
        "python": platform.python_version(),
        "libraries": libs,
        "stream_block_size": streams.BLOCK_SIZE,
        "engine": result.engine,
        "economics": result.economics.settings() if result.economics is not None else None,
    }


def write_outputs(result: SimulationResult, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Write patients.parquet, events.parquet, states.parquet, summary.csv and manifest.json.

    Everything is written to a temporary folder beside ``out_dir`` and renamed into place at the
    end, so a failed run never leaves a half-written result.
    """
    from sim.outputs import check_new_folder, staged_folder
    out = check_new_folder(Path(out_dir), overwrite)
    with staged_folder(out) as tmp:
        result.patients.to_parquet(tmp / "patients.parquet", index=False)
        result.events.to_parquet(tmp / "events.parquet", index=False)
        result.states.to_parquet(tmp / "states.parquet", index=False)
        result.summary.to_csv(tmp / "summary.csv", index=False, float_format="%.10g")
        if result.capacity is not None:
            result.capacity.to_csv(tmp / "capacity.csv", index=False, float_format="%.10g")
        if result.cea is not None:
            result.cea.to_csv(tmp / "cea.csv", index=False, float_format="%.10g")
            result.economics.cost_table.to_csv(tmp / "costs_used.csv", index=False)
            result.economics.utility_table.to_csv(tmp / "utilities_used.csv", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest(result), indent=2, sort_keys=True, default=str))
    return out
