"""Cross-checks of a scenario when it is built: what the schema alone cannot see (therapy names and
roles, switch partners, adverse-event kinds, parameter values, the economic tables)."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import InputError
from sim.inputs.economic_settings import Economics
from sim.inputs.parameters import ModelParameters
from sim.inputs.therapies import TherapyCatalogue

if TYPE_CHECKING:
    from sim.inputs.schema import Strategy

#: where a strategy's patients re-enter after a renal flare (``Strategy.flare_reentry``), besides a step of its ladder
REENTRY_RULES = ("same_step", "induction", "ladder")


def _suggest(word: str, choices, fallback: str | None = None) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3, cutoff=0.6)
    text = fallback if fallback is not None else ", ".join(str(c) for c in choices)
    return (f"{text} (did you mean {' or '.join(close)}?)" if close else text)


def _check_economic_tables(econ: Economics, base_dir: Path | None, source: str) -> None:
    """Read and check the cost and utility tables now, so a bad table fails before any simulation."""
    from types import SimpleNamespace
    from sim.inputs.economic_tables import load_cost_table, load_utility_table, resolve_tables
    tables = {}
    for field, loader in (("cost_table", load_cost_table), ("utility_table", load_utility_table)):
        try:
            tables[field] = loader(getattr(econ, field), base_dir)
        except InputError as e:
            where = ", ".join(x for x in (e.file, None if (e.field or "").startswith("economics") else e.field) if x)
            raise InputError(f"{_strip(e)} (in {where})" if where else _strip(e), file=source,
                             field=f"economics.{field}", value=e.value, allowed=e.allowed) from None
    try:
        resolve_tables(SimpleNamespace(economics=econ, _base_dir=base_dir), econ, tables["cost_table"],
                       tables["utility_table"])
    except InputError as e:
        raise InputError(_strip(e), file=source, field=e.field, value=e.value, allowed=e.allowed) from None


def _strip(e: InputError) -> str:
    msg = e.args[0]
    for part in (f"{e.file}: ", f"field '{e.field}': "):
        msg = msg.replace(part, "", 1)
    if e.value is not None:
        msg = msg.replace(f" (got {e.value!r})", "")
    if e.allowed:
        msg = msg.replace(f"; allowed: {e.allowed}", "")
    return msg


_PROBABILITY_PARAMS = ("late_cr_given_partial", "late_response_given_none", "flare_severe_share",
                       "trial_chronicity_share_moderate", "trial_chronicity_share_high", "trial_lookalike_share",
                       "refractory_chronicity_share_moderate", "refractory_chronicity_share_high",
                       "refractory_lookalike_share",
                       "biopsy_detects_chronic_damage", "biopsy_detects_lookalike", "labs_detect_lookalike")


def _is_probability(name: str) -> bool:
    return name in _PROBABILITY_PARAMS or name.startswith("adverse_event_severe_share_")


def _check_adverse_event_kinds(params: ModelParameters, therapies: TherapyCatalogue, source: str) -> None:
    """Every adverse-event kind of a therapy needs its severe share (a parameter of parameters.yaml):
    a kind without one must not silently become 'never severe'."""
    known = sorted(params.by_prefix("adverse_event_severe_share_"))
    for name, th in therapies.therapies.items():
        for kind in th.adverse_events:
            if kind not in known:
                raise InputError(f"adverse-event kind '{kind}' has no severe share (parameter "
                                 f"adverse_event_severe_share_{kind} in sim/data/parameters.yaml)", file=source,
                                 field=f"therapies.{name}.adverse_events.{kind}", value=kind,
                                 allowed=_suggest(kind, known))


def _check_parameter_values(params: ModelParameters, source: str) -> None:
    for name in params.names():
        v = params[name]
        if _is_probability(name) and not 0 <= v <= 1:
            raise InputError("probability outside [0, 1]", file=source, field=f"parameters.{name}", value=v,
                             allowed="0 to 1")
        if v < 0:
            raise InputError("must not be negative", file=source, field=f"parameters.{name}", value=v,
                             allowed=">= 0")
        if name.endswith("_chronicity_share_moderate"):
            high = params[name.replace("_moderate", "_high")]
            if v + high > 1:
                raise InputError("the moderate and high chronicity shares sum to more than 1", file=source,
                                 field=f"parameters.{name}", value=v, allowed=f"<= {1 - high:g} (1 - the high share)")
        if (name.endswith("_or") or "_or_" in name) and v <= 0:
            raise InputError("odds ratios must be positive", file=source, field=f"parameters.{name}",
                             value=v, allowed="> 0")


_ROLE_TEXT = {"induction": "an induction agent", "ladder": "a ladder step", "maintenance": "maintenance",
              "management": "the management of a look-alike"}


def _check_strategy(s: Strategy, i: int, therapies: TherapyCatalogue, source: str) -> None:
    where = f"strategies.{i}"

    def need(name: str, role: str, field: str) -> None:
        if name not in therapies:
            raise InputError(f"unknown therapy '{name}' in strategy '{s.name}'", file=source,
                             field=f"{where}.{field}", value=name,
                             allowed=_suggest(name, therapies.names(role)))
        if role not in therapies[name].roles:
            raise InputError(f"therapy '{name}' ({'/'.join(therapies[name].roles)}) cannot be used as "
                             f"{_ROLE_TEXT[role]}", file=source, field=f"{where}.{field}",
                             value=name, allowed=", ".join(therapies.names(role)))

    for agent in s.induction_shares():
        need(agent, "induction", "induction" if isinstance(s.induction, str) else f"induction.{agent}")
        if agent not in s.switch:
            raise InputError("no switch partner for this induction agent", file=source, field=f"{where}.switch",
                             value=agent, allowed="a mapping agent: partner for every induction agent")
    for a, b in s.switch.items():
        need(a, "induction", f"switch.{a}")
        need(b, "induction", f"switch.{a}")
    # every agent a patient can reach by switching needs a partner too: a responder to the partner who
    # flares is re-induced with it (flare re-entry) and may have to switch again
    for agent in s.induction_shares():
        seen = [agent]
        while s.switch[seen[-1]] not in seen:
            nxt = s.switch[seen[-1]]
            if nxt not in s.switch:
                raise InputError(f"no switch partner for '{nxt}', which patients reach by switching from "
                                 f"'{seen[-1]}'", file=source, field=f"{where}.switch.{nxt}", value=None,
                                 allowed="a partner for every agent reachable by switching (e.g. "
                                         f"{nxt}: {seen[-1]})")
            seen.append(nxt)
    for j, step in enumerate(s.ladder):
        need(step, "ladder", f"ladder.{j}")
    need(s.maintenance, "maintenance", "maintenance")
    if s.after_severe_infection is not None:
        need(s.after_severe_infection, "ladder", "after_severe_infection")
        if therapies[s.after_severe_infection].family != "extracorporeal":
            raise InputError("the therapy after a severe infection is an extracorporeal one (A59)", file=source,
                             field=f"{where}.after_severe_infection", value=s.after_severe_infection,
                             allowed=", ".join(n for n in therapies.names("ladder")
                                               if therapies[n].family == "extracorporeal"))
    for condition, name in s.workup.management.items():
        need(name, "management", f"workup.management.{condition}")
        if therapies[name].targets != condition:
            raise InputError(f"therapy '{name}' manages '{therapies[name].targets or 'lupus nephritis'}', "
                             f"not '{condition}'", file=source, field=f"{where}.workup.management.{condition}",
                             value=name, allowed=", ".join(n for n in therapies.names("management")
                                                           if therapies[n].targets == condition))
    if s.flare_reentry not in REENTRY_RULES and s.flare_reentry not in s.ladder:
        raise InputError("unknown flare re-entry rule", file=source, field=f"{where}.flare_reentry",
                         value=s.flare_reentry, allowed=", ".join(REENTRY_RULES) + " or a step of the ladder")
