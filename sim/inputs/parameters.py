"""Model parameters as frozen, evidence-traced records.

Each number the model uses is a :class:`Param`: its value, unit, the evidence rows behind it
(``A..`` from the source review, ``B..`` from the external inputs), how it was obtained
(``evidence``, ``derived``, ``assumption`` or ``calibrated``) and a note. Counts stay counts
(``count=(4, 6)``) because they set the width of the parameter's uncertainty.

The records live in ``sim/data/parameters.yaml`` (model-level) and ``sim/data/therapies.yaml``
(one record per regimen, see :mod:`sim.inputs.therapies`). ``lnsim parameters`` prints them all.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from sim.errors import InputError
from sim.inputs.data_files import read_data_yaml

KINDS = ("evidence", "derived", "assumption", "calibrated")


@dataclass(frozen=True)
class Param:
    """One model parameter with its provenance."""

    name: str
    value: float
    unit: str = ""
    evidence: tuple[str, ...] = ()
    kind: str = "assumption"
    note: str = ""
    count: tuple[int, int] | None = None   # k of n, when the figure is a count
    n: int | None = None                    # sample size behind a proportion
    interval: tuple[float, float] | None = None  # published interval (e.g. 95% CI)
    formula: str = ""                       # how value follows from the published figure
    form: str = "value"                     # value | count | survival | annual_probability | deaths_over
    args: tuple = ()                        # the published figures the value is computed from
    psa: Mapping[str, Any] | None = None    # explicit uncertainty distribution (see sim.analysis.psa)

    def with_value(self, value: float, note: str = "set by scenario") -> "Param":
        """A copy with a new value (scenario override); provenance says it was overridden."""
        # what dataclasses.replace gives, without running the frozen __init__ field by field (a
        # probabilistic analysis overrides about 75 parameters per draw; 6 us -> 2 us each)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, value=float(value), kind="assumption", count=None, formula="",
                            note=f"{note} (default {self.value:g}: {self.note})")
        return new


def param_from_record(name: str, rec: Mapping[str, Any], source: str = "") -> Param:
    """Build a :class:`Param` from a YAML record, evaluating its value form."""
    if not isinstance(rec, Mapping):
        raise InputError("parameter record must be a mapping", file=source, field=name, value=rec)
    value, count, formula, form, args = None, None, "", "value", ()
    if "count" in rec:
        k, n = rec["count"]
        form, args = "count", (k, n)
        count = (int(k), int(n))
        if not (0 <= count[0] <= count[1] and count[1] > 0):
            raise InputError("count must be [k, n] with 0 <= k <= n, n > 0", file=source, field=name,
                             value=rec["count"])
        value, formula = k / n, f"{k}/{n}"
    elif "survival" in rec:
        s, years = rec["survival"]
        form, args = "survival", (s, years)
        value, formula = -math.log(s) / years, f"-ln({s})/{years}"
    elif "annual_probability" in rec:
        p = rec["annual_probability"]
        form, args = "annual_probability", (p,)
        value, formula = -math.log1p(-p), f"-ln(1-{p})"
    elif "deaths_over" in rec:
        k, n, years = rec["deaths_over"]
        form, args = "deaths_over", (k, n, years)
        value, formula = -math.log1p(-k / n) / years, f"-ln(1-{k}/{n})/{years}"
        count = (int(k), int(n))
    elif "value" in rec:
        value = float(rec["value"])
    else:
        raise InputError("parameter record needs one of value, count, survival, annual_probability,"
                         " deaths_over", file=source, field=name)
    kind = rec.get("kind", "assumption")
    if kind not in KINDS:
        raise InputError("unknown kind", file=source, field=f"{name}.kind", value=kind,
                         allowed=", ".join(KINDS))
    interval = rec.get("interval")
    return Param(name=name, value=float(value), unit=str(rec.get("unit", "")),
                 evidence=tuple(rec.get("evidence") or ()), kind=kind, note=str(rec.get("note", "")),
                 count=count, n=rec.get("n"), formula=formula, form=form, args=tuple(args),
                 psa=rec.get("psa"),
                 interval=tuple(float(x) for x in interval) if interval else None)


@dataclass(frozen=True)
class ModelParameters:
    """The model-level parameters (mortality, ESRD, flares, timing, modifiers): frozen."""

    params: Mapping[str, Param] = field(default_factory=dict)

    @classmethod
    def default(cls) -> "ModelParameters":
        raw = read_data_yaml("parameters.yaml")
        return cls({k: param_from_record(k, v, "sim/data/parameters.yaml") for k, v in raw.items()})

    def __getitem__(self, name: str) -> float:
        return self.params[name].value

    def __contains__(self, name: str) -> bool:
        return name in self.params

    def names(self) -> list[str]:
        return list(self.params)

    def by_prefix(self, prefix: str) -> dict[str, float]:
        """A family of parameters by what follows ``prefix`` (e.g. ``adverse_event_severe_share_`` ->
        {kind: share})."""
        return {k[len(prefix):]: p.value for k, p in self.params.items() if k.startswith(prefix)}

    def with_overrides(self, overrides: Mapping[str, float], source: str = "scenario") -> "ModelParameters":
        """A copy with some values changed; unknown names are an error."""
        new = dict(self.params)
        for name, value in overrides.items():
            if name not in new:
                raise InputError("unknown model parameter", file=source, field=f"parameters.{name}",
                                 allowed="a name listed by 'lnsim parameters'")
            new[name] = new[name].with_value(value)
        return ModelParameters(new)


def parameter_rows(params: Mapping[str, Param], prefix: str = "") -> list[dict]:
    """Rows of the printable parameter table."""
    rows = []
    for p in params.values():
        rows.append({
            "parameter": prefix + p.name,
            "value": p.value,
            "unit": p.unit,
            "evidence": " ".join(p.evidence) if p.evidence else "-",
            "kind": p.kind,
            "count": f"{p.count[0]}/{p.count[1]}" if p.count else (f"n={p.n}" if p.n else ""),
            "formula": p.formula,
            "note": p.note,
        })
    return rows


def table_hash(rows: list[dict]) -> str:
    """SHA-256 of the parameter table (names, values, provenance), for the run manifest."""
    blob = json.dumps(rows, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()
