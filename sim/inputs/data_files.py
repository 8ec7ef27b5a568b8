"""The package's own data files (``sim/data/*.yaml``), parsed once per process."""
from __future__ import annotations

import copy
from functools import lru_cache
from importlib import resources

import yaml


def read_data_yaml(filename: str) -> dict:
    """Read one of the package's data files (safe YAML loader). Parsed once per process; each caller
    gets its own copy, so no caller can change what another reads."""
    return copy.deepcopy(_parsed_data_yaml(filename))


@lru_cache(maxsize=None)
def _parsed_data_yaml(filename: str) -> dict:
    text = resources.files("sim").joinpath("data", filename).read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))     # libyaml when present
