"""What the model knows about a patient that the strategy may not (the truth behind a non-response)."""
from __future__ import annotations


def nonresponse_cause(lookalike: str, chronicity: str, nonadherent: bool) -> str:
    """Why a patient who failed both induction agents did not respond, from what the model knows
    (the truth, whether or not the strategy looked): a look-alike, chronic damage, non-adherence,
    or refractory nephritis proper. Only the last is truly refractory disease."""
    if lookalike != "none":
        return lookalike
    if chronicity == "high":
        return "chronic_damage"
    if nonadherent:
        return "nonadherence"
    return "refractory_nephritis"
