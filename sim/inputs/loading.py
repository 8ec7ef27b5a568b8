"""Loading a scenario: read the file, apply ``--set PATH=VALUE`` overrides, validate.

``--set PATH=VALUE`` overrides any field by dotted path (``strategies.eular.ladder``, with list
items chosen by index or by their ``name``) and is validated exactly like the file.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.errors import InputError
from sim.inputs.messages import format_validation_error
from sim.inputs.schema import Scenario
from sim.inputs.yaml_files import read_yaml


def apply_override(data: dict, assignment: str, source: str | None = None) -> dict:
    """Apply one ``PATH=VALUE`` override (VALUE parsed as YAML) to a copy of ``data`` (read from ``source``)."""
    src = (f"{source} " if source else "") + f"--set {assignment}"
    if "=" not in assignment:
        raise InputError("override must look like PATH=VALUE", file=src, allowed="e.g. --set horizon_years=20")
    path, raw = assignment.split("=", 1)
    path = path.strip()
    if not path or not re.match(r"^[A-Za-z0-9_.+\-]+$", path) or "" in path.split("."):
        raise InputError("bad field path", file=src, value=path,
                         allowed="dotted names and list indexes, e.g. strategies.0.ladder or strategies.eular.ladder")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise InputError("value is not valid YAML", file=src, value=raw) from None
    out = copy.deepcopy(data)
    node: Any = out
    parts = path.split(".")
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            idx = _list_index(node, key, src, ".".join(parts[: i + 1]))
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if key not in node or node[key] is None:
                    node[key] = {}
                node = node[key]
        else:
            raise InputError("path goes inside a value that is not a mapping or list", file=src,
                             field=".".join(parts[:i]), value=node,
                             allowed="a path that stops at this field, e.g. " + ".".join(parts[:i]))
    return out


def _list_index(node: list, key: str, src: str, field: str) -> int:
    if key.isdigit():
        idx = int(key)
        if idx >= len(node):
            raise InputError("list index out of range", file=src, field=field, value=idx,
                             allowed=f"0 to {len(node) - 1}")
        return idx
    for j, item in enumerate(node):
        if isinstance(item, dict) and item.get("name") == key:
            return j
    names = [str(x.get("name")) for x in node if isinstance(x, dict)]
    raise InputError("no list item with this name", file=src, field=field, value=key, allowed=", ".join(names))


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file (raises :class:`InputError`)."""
    data = read_yaml(path)
    for a in overrides:
        data = apply_override(data, a, str(path))
    source = str(path) + (" with --set " + " ".join(overrides) if overrides else "")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        raise format_validation_error(e, source) from None
    sc._source = source
    sc._base_dir = Path(path).resolve().parent
    return sc
