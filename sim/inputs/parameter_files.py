"""Parameter files: a mapping ``parameters: {name: value}`` of model parameters in YAML, such as the
calibrated set ``sim/data/calibrated_parameters.yaml`` (written by :mod:`sim.analysis.calibration`).

A scenario names one with ``parameters_file`` (:func:`_parameters_file`); ``lnsim validate
--calibrated FILE`` reads one with :func:`read_parameter_file`.
"""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from sim.errors import InputError
from sim.inputs.yaml_files import read_yaml


def _parameters_file(path: str, base_dir: Path | None, source: str) -> dict[str, float]:
    """The ``parameters:`` mapping of a parameter file (such as sim/data/calibrated_parameters.yaml)."""
    p = Path(path)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.is_file():
        raise InputError(f"parameters file not found: {p}", file=source, field="parameters_file", value=path,
                         allowed="a YAML file with a 'parameters:' mapping of name: value")
    data = read_yaml(p)
    values = data.get("parameters")
    if not isinstance(values, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               for v in values.values()):
        raise InputError("the file needs a 'parameters:' mapping of name: number", file=str(p),
                         field="parameters", allowed="e.g. parameters: {second_induction_response_or: 0.47}")
    return {str(k): float(v) for k, v in values.items()}


def read_parameter_file(path: str | Path) -> dict[str, float]:
    """The ``parameters:`` mapping of a calibrated parameter file (checked against the model's names)."""
    from sim.inputs.parameters import ModelParameters
    p = Path(path)
    if not p.is_file():
        raise InputError("calibrated parameter file not found", file=str(p), field="--calibrated")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML ({e.__class__.__name__})", file=str(p)) from None
    params = (data or {}).get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict) or not params:
        raise InputError("no 'parameters:' mapping", file=str(p), allowed="parameters: {NAME: VALUE, ...}")
    names = ModelParameters.default()
    out = {}
    for k, v in params.items():
        if k not in names:
            raise InputError("unknown model parameter", file=str(p), field=f"parameters.{k}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError("must be a finite number", file=str(p), field=f"parameters.{k}", value=v)
        out[k] = float(v)
    return out
