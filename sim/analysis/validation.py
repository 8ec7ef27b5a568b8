"""Validation: simulate the populations of published studies and compare with what they reported.

Three kinds of comparison, kept apart in every table and plot (ISPOR-SMDM good practice, CHEERS 2022):

* ``calibration`` -- targets the model was *fitted* to (:mod:`sim.analysis.calibration`); reproducing them
  shows the fit, not validity;
* ``internal`` -- *internal validity (input reproduced)*: the published figure is itself a model
  input (or the source of one), so agreement checks that the machinery turns inputs into the
  outcomes they describe, with patient modifiers, competing risks and the pathway around them;
* ``external`` -- *external validation*: outcomes the model was not built from.

Targets are data (``sim/data/targets.csv``): one row per published figure with the study
population, metric, time point, value, interval, sample size, source id, role
(``calibration`` | ``validation``) and validity (``calibration`` | ``internal`` | ``external``).
A study's population is a scenario file (``scenarios/validation/*.yaml``): class mix, ancestry,
adherence, first-line or refractory (the pathway itself makes patients refractory before the
ladder step the study is about), follow-up (horizon). No study has special code.

The model being validated is a scenario too (``lnsim validate [SCENARIO] [--set ...]``): its
``parameters``, ``therapies`` and ``life_table`` are applied to every study population (the
study file's own therapy changes, e.g. a ladder drug used first-line, go on top). Cohort, horizon
and strategies come from the study files.

Every simulated figure has a Monte Carlo 95% interval (Wilson for shares of patients, Greenwood for
Kaplan-Meier, the ratio estimator over patients for rates and standardised mortality ratios,
paired normal for differences between arms on the same patients): it measures simulation noise only, not parameter uncertainty.
A comparison is ``inside`` when the simulated value lies within the published interval.
"""
from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import ValidationError

from sim.analysis import outcomes as oc
from sim.analysis.validation_metrics import METRICS, evaluate, wilson_interval
from sim.errors import InputError

STUDIES_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "validation"
TARGETS_NAME = "targets.csv"

ROLES = ("calibration", "validation")
VALIDITY = {
    "calibration": "calibration target",
    "internal": "internal validity (input reproduced)",
    "external": "external validation",
}
BASES = ("published", "wilson", "derived", "assumed")
UNITS = ("proportion", "difference", "ratio", "per patient-year")
TARGET_COLUMNS = ["id", "comparison", "source_id", "role", "validity", "population", "strategy", "versus",
                  "subgroup", "metric", "step", "time_years", "value", "lower", "upper", "interval_basis", "n",
                  "unit", "note"]
TABLE_COLUMNS = ["comparison", "source_id", "metric", "time_years", "published_value", "published_lower",
                 "published_upper", "simulated_value", "simulated_lower", "simulated_upper", "inside", "role",
                 "validity", "overlaps", "interval_basis", "n_published", "n_simulated", "unit", "subgroup",
                 "population", "strategy", "versus", "step", "target_id", "note"]
TIME_TOL = oc.TIME_TOL


# ==============================================================================================
# Targets
# ==============================================================================================

def _read_targets_csv(path: str | Path | None) -> tuple[pd.DataFrame, str]:
    if path is None:
        src = f"sim/data/{TARGETS_NAME}"
        with resources.files("sim").joinpath("data", TARGETS_NAME).open("r", encoding="utf-8") as fh:
            df = pd.read_csv(fh, comment="#", dtype=str, keep_default_na=False)
        return df, src
    p = Path(path)
    if not p.is_file():
        raise InputError("targets file not found", file=str(p), allowed="a CSV file like sim/data/targets.csv")
    try:
        df = pd.read_csv(p, comment="#", dtype=str, keep_default_na=False)
    except Exception as e:  # pandas raises many kinds
        raise InputError(f"cannot read the targets CSV ({e.__class__.__name__}: {e})", file=str(p)) from None
    return df, str(p)


def _num(text: str, src: str, row: str, col: str, required: bool = False) -> float:
    text = str(text).strip()
    if text == "":
        if required:
            raise InputError("a number is required", file=src, field=f"{row}.{col}")
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError("not a number", file=src, field=f"{row}.{col}", value=text) from None


def load_targets(path: str | Path | None = None) -> pd.DataFrame:
    """Read and check the targets table; fill the published interval where it follows from n.

    ``interval_basis``: ``published`` (the interval as published), ``wilson`` (Wilson 95% interval
    from ``value`` and ``n``), ``derived`` (computed from published counts, method in the note) or
    ``assumed`` (no interval published: the interval is an assumption, stated in the note).
    """
    df, src = _read_targets_csv(path)
    missing = [c for c in TARGET_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing columns {missing}", file=src, allowed=", ".join(TARGET_COLUMNS))
    rows = []
    seen: set[str] = set()
    for _, r in df.iterrows():
        rid = r["id"].strip()
        if not rid:
            raise InputError("every target needs an id", file=src, field="id")
        if rid in seen:
            raise InputError("duplicate target id", file=src, field="id", value=rid)
        seen.add(rid)
        rec = {c: str(r[c]).strip() for c in TARGET_COLUMNS}
        if rec["role"] not in ROLES:
            raise InputError("unknown role", file=src, field=f"{rid}.role", value=rec["role"], allowed=", ".join(ROLES))
        if rec["validity"] not in VALIDITY:
            raise InputError("unknown validity", file=src, field=f"{rid}.validity", value=rec["validity"],
                             allowed=", ".join(VALIDITY))
        if (rec["role"] == "calibration") != (rec["validity"] == "calibration"):
            raise InputError("calibration targets have role 'calibration' and validity 'calibration' (and only they)",
                             file=src, field=f"{rid}.validity", value=rec["validity"])
        if rec["metric"] not in METRICS:
            raise InputError("unknown metric", file=src, field=f"{rid}.metric", value=rec["metric"],
                             allowed=", ".join(METRICS))
        spec = METRICS[rec["metric"]]
        if rec["versus"] and not spec.paired:
            raise InputError("a difference between arms ('versus') needs a per-patient metric", file=src,
                             field=f"{rid}.versus", allowed=", ".join(k for k, m in METRICS.items() if m.paired))
        if spec.needs_step and not rec["step"]:
            raise InputError("this metric needs a therapy in 'step'", file=src, field=f"{rid}.step")
        if rec["unit"] not in UNITS:
            raise InputError("unknown unit", file=src, field=f"{rid}.unit", value=rec["unit"], allowed=", ".join(UNITS))
        if rec["interval_basis"] not in BASES:
            raise InputError("unknown interval basis", file=src, field=f"{rid}.interval_basis",
                             value=rec["interval_basis"], allowed=", ".join(BASES))
        t = _num(rec["time_years"], src, rid, "time_years")
        if spec.needs_time and not np.isfinite(t):
            raise InputError("this metric needs a time point", file=src, field=f"{rid}.time_years")
        value = _num(rec["value"], src, rid, "value", required=True)
        n = _num(rec["n"], src, rid, "n")
        lower, upper = _num(rec["lower"], src, rid, "lower"), _num(rec["upper"], src, rid, "upper")
        if rec["interval_basis"] == "wilson":
            if not np.isfinite(n) or n <= 0:
                raise InputError("a Wilson interval needs n", file=src, field=f"{rid}.n")
            lower, upper = wilson_interval(value, n)
        elif not (np.isfinite(lower) and np.isfinite(upper)):
            raise InputError(f"interval basis '{rec['interval_basis']}' needs lower and upper", file=src,
                             field=f"{rid}.lower")
        if not lower <= value <= upper:
            raise InputError("the value must lie within [lower, upper]", file=src, field=f"{rid}.value", value=value)
        rec.update(time_years=t, value=value, n=n, lower=lower, upper=upper)
        rows.append(rec)
    out = pd.DataFrame(rows, columns=TARGET_COLUMNS)
    out.attrs["source"] = src
    return out


def targets_sha256(path: str | Path | None = None) -> str:
    if path is None:
        data = resources.files("sim").joinpath("data", TARGETS_NAME).read_bytes()
    else:
        data = Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest()


# ==============================================================================================
# Study populations: a study scenario with the model (parameters, therapies, life table) under test
# ==============================================================================================

def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict:
    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@dataclass(frozen=True)
class ModelUnderTest:
    """The model variant being validated: what a scenario changes in parameters, therapies and life table."""

    parameters: Mapping[str, float] = field(default_factory=dict)
    therapies: Mapping[str, Any] = field(default_factory=dict)
    life_table: str | None = None
    source: str = "default model (sim/data)"

    def describe(self) -> dict:
        return {"source": self.source, "parameters": dict(self.parameters), "therapies": dict(self.therapies),
                "life_table": self.life_table}


def model_under_test(scenario: str | Path | None = None, overrides: Sequence[str] = (),
                     calibrated: str | Path | None = None) -> ModelUnderTest:
    """The model a validation run tests: defaults, then a calibrated parameter file, then the
    scenario's ``parameters``/``therapies``/``life_table``, then ``--set`` overrides."""
    from sim.inputs.loading import apply_override, load_scenario
    from sim.inputs.yaml_files import read_yaml
    params: dict[str, float] = {}
    if calibrated is not None:
        from sim.inputs.parameter_files import read_parameter_file
        params.update(read_parameter_file(calibrated))
    if scenario is None:
        data: dict = {}
        for a in overrides:
            data = apply_override(data, a, "default model")
        for key in data:
            if key not in ("parameters", "therapies", "life_table"):
                raise InputError("without a scenario file only parameters, therapies and life_table can be set",
                                 file="--set", field=key, allowed="parameters.NAME=VALUE, therapies.NAME...=VALUE")
        life = data.get("life_table")
        if life is not None:
            life = str(Path(life).resolve())
        source = "default model" + (" with --set " + " ".join(overrides) if overrides else "")
        if data:   # check the overrides now, naming them (not a study file) in any error
            from sim.inputs.schema import Scenario
            from sim.inputs.build import build
            from sim.inputs.messages import format_validation_error
            probe = {**data, "cohort": {}, "strategies": [{"name": "probe"}]}
            if life is not None:
                probe["life_table"] = life
            try:
                sc = Scenario.model_validate(probe)
            except ValidationError as e:
                raise format_validation_error(e, source) from None
            sc._source = source
            build(sc)
    else:
        sc = load_scenario(scenario, list(overrides))      # validates the scenario and overrides
        data = read_yaml(scenario)
        for a in overrides:
            data = apply_override(data, a, str(scenario))
        life = sc.life_table
        if life is not None and not Path(life).is_absolute():
            life = str((Path(scenario).resolve().parent / life).resolve())
        source = sc._source
    params.update(data.get("parameters") or {})
    return ModelUnderTest(parameters=params, therapies=data.get("therapies") or {}, life_table=life, source=source)


def study_path(population: str, targets_source: str | None = None) -> Path:
    """Where a target's population scenario lives: absolute, beside the targets file, or scenarios/validation/."""
    p = Path(population)
    if p.is_absolute():
        return p
    if targets_source and not targets_source.startswith("sim/data/"):
        near = Path(targets_source).resolve().parent / p
        if near.is_file():
            return near
    return STUDIES_DIR / p


def study_model(path: str | Path, model: ModelUnderTest | None = None, extra: Sequence[str] = ()):
    """Build a study population scenario with the model under test (returns a compiled Model)."""
    from sim.inputs.schema import Scenario
    from sim.inputs.loading import apply_override
    from sim.inputs.build import build
    from sim.inputs.messages import format_validation_error
    from sim.inputs.yaml_files import read_yaml
    model = model or ModelUnderTest()
    path = Path(path)
    data = read_yaml(path)
    for a in extra:
        data = apply_override(data, a, str(path))
    merged = dict(data)
    merged["parameters"] = {**dict(model.parameters), **(data.get("parameters") or {})}
    merged["therapies"] = _deep_merge(model.therapies, data.get("therapies") or {})
    if model.life_table is not None and data.get("life_table") is None:
        merged["life_table"] = model.life_table
    source = f"{path} (model: {model.source})"
    try:
        sc = Scenario.model_validate(merged)
    except ValidationError as e:
        raise format_validation_error(e, source) from None
    sc._source = source
    sc._base_dir = path.resolve().parent
    return build(sc)


# ==============================================================================================
# Running the validation
# ==============================================================================================

@dataclass
class ValidationRun:
    """The comparison table and what produced it."""

    table: pd.DataFrame
    model: ModelUnderTest
    patients: int
    seed: int
    targets_source: str
    populations: dict[str, str]          # population -> resolved path
    targets_sha256: str = ""


def simulate_population(path: str | Path, model: ModelUnderTest | None, patients: int, seed: int,
                        extra: Sequence[str] = ()):
    """Simulate one study population (all its strategies, common random numbers), uncosted."""
    from sim.analysis.simulate import simulate
    return simulate(study_model(path, model, extra), patients=patients, seed=seed, costed=False)


def compare(targets: pd.DataFrame, results: Mapping[str, Any]) -> pd.DataFrame:
    """The comparison table: one row per target, simulated figure beside the published one."""
    rows = []
    for _, tg in targets.iterrows():
        est = evaluate(results[tg["population"]], tg["metric"], tg["strategy"], float(tg["time_years"]),
                       tg["step"], tg["subgroup"], tg["versus"])
        inside = (bool(tg["lower"] - TIME_TOL <= est.value <= tg["upper"] + TIME_TOL)
                  if np.isfinite(est.value) else pd.NA)
        overlaps = (bool(est.lower <= tg["upper"] and est.upper >= tg["lower"])
                    if np.isfinite(est.lower) and np.isfinite(est.upper) else inside)
        rows.append({
            "comparison": tg["comparison"], "source_id": tg["source_id"], "metric": tg["metric"],
            "time_years": tg["time_years"], "published_value": tg["value"], "published_lower": tg["lower"],
            "published_upper": tg["upper"], "simulated_value": est.value, "simulated_lower": est.lower,
            "simulated_upper": est.upper, "inside": inside, "role": tg["role"],
            "validity": VALIDITY[tg["validity"]], "overlaps": overlaps, "interval_basis": tg["interval_basis"],
            "n_published": tg["n"], "n_simulated": est.n, "unit": tg["unit"], "subgroup": tg["subgroup"],
            "population": tg["population"], "strategy": tg["strategy"], "versus": tg["versus"], "step": tg["step"],
            "target_id": tg["id"], "note": tg["note"],
        })
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    order = {v: i for i, v in enumerate(VALIDITY.values())}
    table = table.iloc[np.argsort(table["validity"].map(order).to_numpy(), kind="stable")].reset_index(drop=True)
    table["inside"] = table["inside"].astype("boolean")
    table["overlaps"] = table["overlaps"].astype("boolean")
    return table


def run_validation(scenario: str | Path | None = None, overrides: Sequence[str] = (), patients: int = 5000,
                   seed: int = 20211227, targets: str | Path | pd.DataFrame | None = None,
                   calibrated: str | Path | None = None, roles: Sequence[str] = ROLES,
                   progress: Callable[[str], None] | None = None) -> ValidationRun:
    """Simulate every study population named by the targets and compare (see module doc)."""
    if patients <= 0:
        raise InputError("must be a positive whole number", file="command line", field="--patients", value=patients)
    if isinstance(targets, pd.DataFrame):
        tg, src, sha = targets, targets.attrs.get("source", "table"), ""
    else:
        tg, src, sha = load_targets(targets), None, targets_sha256(targets)
        src = tg.attrs["source"]
    tg = tg[tg["role"].isin(roles)]
    model = model_under_test(scenario, overrides, calibrated)
    results, paths = {}, {}
    for pop in dict.fromkeys(tg["population"]):
        path = study_path(pop, src)
        if progress:
            progress(f"simulating {pop} ({patients} patients per strategy)")
        results[pop] = simulate_population(path, model, patients, seed)
        paths[pop] = str(path)
    return ValidationRun(compare(tg, results), model, patients, seed, src, paths, sha)








# ==============================================================================================
# Cross-check: constant hazards in closed form / as a Markov cohort
# ==============================================================================================

def constant_hazard_cohort(h_esrd: float, h_death: float, h_death_dialysis: float, times) -> pd.DataFrame:
    """Markov cohort (continuous time) of active nephritis -> ESRD (dialysis) -> death with constant
    hazards, and death from active nephritis: state probabilities at ``times`` by the matrix
    exponential, with the closed-form cumulative incidence of ESRD (death competing)
    ``h_e / (h_e + h_d) * (1 - exp(-(h_e + h_d) t))`` beside it."""
    from scipy.linalg import expm
    q = np.array([[-(h_esrd + h_death), h_esrd, h_death],
                  [0.0, -h_death_dialysis, h_death_dialysis],
                  [0.0, 0.0, 0.0]])
    rows = []
    for t in np.atleast_1d(np.asarray(times, dtype=float)):
        p = np.array([1.0, 0.0, 0.0]) @ expm(q * t)
        total = h_esrd + h_death
        closed = h_esrd / total * (1.0 - math.exp(-total * t)) if total > 0 else 0.0
        rows.append({"time_years": t, "active": p[0], "dialysis": p[1], "dead": p[2],
                     "esrd_cumulative_incidence": closed,
                     "death_before_esrd": h_death / total * (1.0 - math.exp(-total * t)) if total > 0 else 0.0})
    return pd.DataFrame(rows)
