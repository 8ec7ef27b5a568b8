"""Validation errors of a scenario in words: one line per problem naming the file, the field path (as for
``--set``), what is wrong, the value and what is allowed."""
from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.errors import InputError
from sim.inputs.cohort import _CATEGORIES, Population, TruncatedLogNormal, TruncatedNormal
from sim.inputs.schema import NAME_RE, Scenario, _FieldError
from sim.inputs.checks import _suggest
from sim.inputs.yaml_files import _show

_UNION_TAG = re.compile(r"^(str|int|float|bool|(list|dict|set|tuple|function-\w+|constrained-\w+)\[.*\])$")


def _unwrap(ann: Any) -> tuple[Any, tuple]:
    origin = typing.get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(ann) if a is not type(None)]
        return (members[0], ()) if len(members) == 1 else (None, tuple(members))
    return ann, ()


def _field_at(loc: tuple) -> tuple[Any, Any, type | None]:
    """Walk the schema along a location: (annotation, FieldInfo or None, model holding an unknown key)."""
    ann, info = Scenario, None
    for key in loc:
        ann, members = _unwrap(ann)
        if members:   # a union: go on with the member that can hold this key
            ann = next((m for m in members if typing.get_origin(m) in (dict, list)
                        or (isinstance(m, type) and issubclass(m, BaseModel))), None)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if key not in ann.model_fields:
                return None, None, ann
            info = ann.model_fields[key]
            ann = info.annotation
        elif typing.get_origin(ann) is list and isinstance(key, int):
            ann, info = typing.get_args(ann)[0], None
        elif typing.get_origin(ann) is dict:
            ann, info = typing.get_args(ann)[1], None
        else:
            return None, None, None
    return ann, info, None


def _describe(ann: Any, info: Any = None) -> str:
    """What a field allows, in words (from its type and constraints)."""
    if info is not None and info.description:
        return info.description
    ann, members = _unwrap(ann)
    if members:
        return " or ".join(_describe(m) for m in members)
    origin = typing.get_origin(ann)
    if ann is float:
        text = "a number"
    elif ann is int:
        text = "a whole number"
    elif ann is str:
        text = "text"
    elif origin is list:
        item = typing.get_args(ann)[0]
        text = (f"a list of {item.__name__.lower()} mappings" if isinstance(item, type) and issubclass(item, BaseModel)
                else "a list of names")
    elif origin is dict:
        value = typing.get_args(ann)[1]
        text = "a mapping of name: " + ("number" if value is float else "mapping" if typing.get_origin(value) is dict
                                        else "value")
    elif isinstance(ann, type) and issubclass(ann, BaseModel):
        keys = list(ann.model_fields) + (["preset"] if ann is Population else [])
        text = "a mapping with keys " + ", ".join(keys)
    else:
        text = "a value"
    limits, extra = [], []
    for m in (info.metadata if info is not None else ()):
        for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(m, attr, None) is not None:
                limits.append(f"{op} {_num(getattr(m, attr))}")
        if getattr(m, "min_length", None):
            extra.append(f"at least {m.min_length} item" + ("s" if m.min_length > 1 else "") if origin is list
                         else f"at least {m.min_length} character" + ("s" if m.min_length > 1 else ""))
        if getattr(m, "max_length", None):
            extra.append(f"at most {m.max_length} " + ("items" if origin is list else "characters"))
        if getattr(m, "pattern", None):
            extra.append("only letters, digits and _ . + -" if m.pattern == NAME_RE else f"matching {m.pattern}")
    return text + (" " + " and ".join(limits) if limits else "") + (" with " + ", ".join(extra) if extra else "")


def _num(v: float) -> str:
    if isinstance(v, int):
        return "2^63" if v == 2**63 else f"{v:,}"
    return f"{v:g}"


def _rule(ann: Any, info: Any) -> str | None:
    """What a cohort validator allows (its messages say what is wrong, not always what is right)."""
    if ann is TruncatedNormal:
        return "a mapping mean, sd, min, max with sd > 0, min < max and min <= mean <= max"
    if ann is TruncatedLogNormal:
        return "a mapping median, gsd, min, max with gsd > 1 and 0 < min < median < max"
    for name, (allowed, _) in _CATEGORIES.items():
        if info is Population.model_fields[name]:
            return "shares of " + ", ".join(allowed) + " that are >= 0 and sum to 1"
    return None


def format_validation_error(err: ValidationError, source: str) -> InputError:
    """One line per problem: file, dotted field path (as for ``--set``), what is wrong, the value, what is allowed."""
    entries: list[tuple[tuple, bool, str]] = []
    for e in err.errors():
        raw = tuple(e["loc"])
        loc = tuple(x for x in raw if not (isinstance(x, str) and _UNION_TAG.match(x)))
        from_union = len(loc) < len(raw)
        msg = e["msg"].removeprefix("Value error, ")
        inp = e.get("input")
        ctx_err = (e.get("ctx") or {}).get("error")
        ann, info, holder = _field_at(loc)
        allowed: str | None = None
        got = ""
        if isinstance(ctx_err, _FieldError):
            loc = loc + ctx_err.path
            msg, allowed = str(ctx_err), ctx_err.allowed
            got = f" (got {_show(ctx_err.value)})" if ctx_err.value is not None else ""
        elif e["type"] == "extra_forbidden":
            keys = list(holder.model_fields) + (["preset"] if holder is Population else []) if holder else []
            msg = f"unknown key '{loc[-1]}'"
            allowed = _suggest(loc[-1], keys) if keys else None
        elif e["type"] == "missing":
            msg, allowed = "required field is missing", _describe(ann, info)
        elif e["type"] in ("value_error", "assertion_error"):
            if "allowed" not in msg:   # a validator that says what is wrong: add what is allowed
                allowed = _rule(ann, info)
                if isinstance(inp, dict) and ann is not TruncatedNormal and ann is not TruncatedLogNormal:
                    got = f" (got {_show(inp)})"
        else:
            allowed = _describe(ann, info) if ann is not None else None
            if inp is None:
                msg, got = "no value given", " (got an empty value)"
            elif from_union:
                msg, got = "wrong type of value", f" (got {_show(inp)})"
            else:
                got = f" (got {_show(inp)})"
        path = ".".join(str(x) for x in loc) or "(top level)"
        line = f"{source}: field '{path}': {msg}{got}" + (f"; allowed: {allowed}" if allowed else "")
        entries.append((loc, from_union, line))
    lines = []
    for loc, from_union, line in entries:
        deeper = any(len(other) > len(loc) and other[:len(loc)] == loc for other, _, _ in entries)
        if (from_union and deeper) or line in lines:
            continue   # a union member that does not fit, when another member explains the problem
        lines.append(line)
    out = InputError("\n".join(lines))
    out.file = source
    return out
