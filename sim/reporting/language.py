"""The report's text in English or Spanish (``sim/data/report_strings.yaml``) and its number formats."""
from __future__ import annotations

import html
import math
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from sim.errors import InputError
from sim.reporting.html import Markup, esc

LANGS = ("en", "es")


@lru_cache(maxsize=None)
def _all_strings() -> dict:
    with resources.files("sim").joinpath("data", "report_strings.yaml").open("r", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def strings(lang: str = "en") -> dict:
    """The report's text in one language (``en`` or ``es``), as nested dicts."""
    if lang not in LANGS:
        raise InputError("unknown report language", field="--lang", value=lang, allowed=", ".join(LANGS))
    return _all_strings()[lang]


class _Lang:
    """Text and number formatting in one language."""

    def __init__(self, lang: str):
        self.lang = lang
        self.d = strings(lang)

    def raw(self, key: str) -> Any:
        node: Any = self.d
        for part in key.split("."):
            node = node[part]
        return node

    def get(self, group: str, key: str, default: str | None = None) -> str:
        """``group[key]``; ``default`` (or the key itself) when the group has no such entry."""
        value = self.d.get(group, {}).get(key)
        return value if value is not None else (default if default is not None else key)

    def t(self, key: str, **kw: Any) -> Markup:
        """A template, escaped, with escaped values filled in."""
        return Markup(html.escape(self.raw(key)).format(**{k: esc(v) for k, v in kw.items()}))

    # -- numbers ------------------------------------------------------------------------------
    def _loc(self, s: str) -> str:
        return s.translate(str.maketrans({",": ".", ".": ","})) if self.lang == "es" else s

    def num(self, v: Any, spec: str = ",.2f") -> str:
        if v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v))):
            return "–"
        return self._loc(format(v, spec))

    def pct(self, v: Any, digits: int = 1) -> str:
        if v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v))):
            return "–"
        s = self._loc(f"{float(v) * 100:.{digits}f}")
        return s + (" %" if self.lang == "es" else "%")

    def money(self, v: Any) -> str:
        return self.num(v, ",.0f")

    def rate(self, v: float) -> str:
        """An annual rate as a percentage with no trailing zeros (3%, 3.5%)."""
        s = self._loc(f"{float(v) * 100:.2f}".rstrip("0").rstrip("."))
        return s + (" %" if self.lang == "es" else "%")
