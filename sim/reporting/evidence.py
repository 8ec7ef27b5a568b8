"""The evidence tables (``sim/data/evidence/``): rows by id, and evidence ids in text as links."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

import pandas as pd

from sim.reporting.html import Markup, _link, esc

_EVIDENCE_ID = re.compile(r"\b[ABCP]\d{2,3}\b")


@lru_cache(maxsize=None)
def _evidence_rows() -> dict[str, dict]:
    """Rows of the evidence tables by id: the review's (A..) and the external inputs (B.., C.. for the
    observable renal course, P.. added by the project from primary papers)."""
    out: dict[str, dict] = {}
    for fname, kind in (("seed_parameters.csv", "review"), ("external_inputs.csv", "external")):
        with resources.files("sim").joinpath("data", "evidence", fname).open("r", encoding="utf-8") as fh:
            df = pd.read_csv(fh, dtype=str, keep_default_na=False)
        for rec in df.to_dict("records"):
            rec["_kind"] = kind
            out[rec["id"]] = rec
    return out


def _unverified(rec: Mapping[str, Any]) -> bool:
    return rec.get("_kind") == "external" and not str(rec.get("verification_status", "")).upper().startswith("VERIFIED")


def _evidence_ids(text: Any) -> list[str]:
    return _EVIDENCE_ID.findall(str(text)) if text is not None else []


def _evidence_links(text: Any) -> Markup:
    """Evidence ids as links to the evidence table (other text escaped as is)."""
    s = "" if text is None else str(text)
    known = _evidence_rows()
    out, last = [], 0
    for m in _EVIDENCE_ID.finditer(s):
        out.append(esc(s[last:m.start()]))
        eid = m.group(0)
        out.append(_link(f"ev-{eid}", eid) if eid in known else esc(eid))
        last = m.end()
    out.append(esc(s[last:]))
    return Markup("".join(out))
