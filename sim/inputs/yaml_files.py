"""Reading a YAML input file safely: UTF-8, the safe loader, no object tags, no duplicate keys."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.errors import InputError


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_SAFE_TAGS = (set(yaml.SafeLoader.yaml_constructors) - {None}) | {"tag:yaml.org,2002:merge",
                                                                  "tag:yaml.org,2002:value"}


def _check_yaml_nodes(root: yaml.Node, src: str) -> None:
    """Refuse tags that would build objects, and duplicate keys, naming the field path and line."""
    seen: set[int] = set()

    def walk(node: yaml.Node, path: tuple) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        where = ".".join(map(str, path)) or "(top level)"
        line = node.start_mark.line + 1
        if node.tag not in _SAFE_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise InputError(f"YAML tag '{tag}' at line {line} is not allowed: scenario files are read with a safe "
                             f"loader that never builds Python objects or runs code", file=src, field=where,
                             allowed="plain YAML values (mappings, lists, text, numbers, true/false)")
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for k, v in node.value:
                walk(k, path)
                key = k.value if isinstance(k, yaml.ScalarNode) else None
                if key is not None and key != "<<":
                    if key in first:
                        raise InputError(f"duplicate key '{key}' at line {k.start_mark.line + 1} (first given at "
                                         f"line {first[key]})", file=src, field=".".join(map(str, path + (key,))),
                                         allowed="each key once per mapping")
                    first[key] = k.start_mark.line + 1
                walk(v, path + ((key,) if key is not None else ()))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    walk(root, ())


def read_yaml(path: str | Path) -> dict:
    """Read a scenario file: UTF-8 text, plain YAML (safe loader, no object tags), a mapping at the top."""
    p = Path(path)
    if not p.is_file():
        raise InputError("scenario file not found", file=str(p), allowed="path to a YAML scenario file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text: byte 0x{raw[e.start]:02x} at line {line} cannot be decoded",
                         file=str(p), allowed="a UTF-8 encoded text file (re-save it as UTF-8)") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            _check_yaml_nodes(root, str(p))
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        context = getattr(e, "context", None)
        raise InputError(f"not valid YAML{where}: {problem}" + (f" ({context})" if context else ""), file=str(p),
                         allowed="plain YAML (see scenarios/base.yaml)") from None
    if data is None:
        raise InputError("the file is empty (or holds only comments)", file=str(p),
                         allowed="a YAML mapping of scenario fields (see scenarios/base.yaml)")
    if not isinstance(data, dict):
        raise InputError(f"the top level must be a mapping of scenario fields, not a {type(data).__name__}",
                         file=str(p), value=_show(data) if not isinstance(data, (list, dict)) else None,
                         allowed="a YAML mapping of scenario fields (name, patients, cohort, strategies, ...)")
    return data
