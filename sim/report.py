"""Readable reports of a run: the console summary table, the incremental-analysis text block and
the self-contained HTML report of ``lnsim report``.

The HTML report (:func:`html_report`, written by :func:`write_report`) is one file with its CSS
inline and its figures embedded as base64 PNG; it has no scripts and no links outside itself. It
holds the scenario, the CHEERS 2022 items a reader needs (as a checklist table and as sections),
the results tables, every figure of :mod:`sim.plots` (the CE plane and CEAC too when a PSA result
is given and :mod:`sim.plots` has them), the parameter table with sources and flagged assumptions,
the evidence rows cited and the event vocabulary. Its text is in English or Spanish (``lang``),
from ``sim/data/report_strings.yaml``; parameter notes and other text read from the model's data
files stay in English, which the Spanish report says. Every piece of text is HTML-escaped.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import inspect
import io
import math
import os
import platform
import re
import shlex
import shutil
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from sim.errors import InputError

HEADLINE = [
    ("cr_12m", "complete response by 12 months", "{:.1%}"),
    ("cr_24m", "complete response by 24 months", "{:.1%}"),
    ("response_6m", "any response by 6 months", "{:.1%}"),
    ("median_time_to_cr_years", "median time to complete response (years)", "{:.2f}"),
    ("refractory", "classed refractory", "{:.1%}"),
    ("truly_refractory", "  of whom refractory nephritis proper", "{:.1%}"),
    ("reclassified", "work-up found chronic damage or a look-alike", "{:.1%}"),
    ("flares_per_patient_year", "renal flares per patient-year", "{:.3f}"),
    ("esrd_10y", "ESRD by 10 years (death competing)", "{:.1%}"),
    ("death_10y", "death by 10 years", "{:.1%}"),
    ("severe_adverse_events_per_patient", "severe adverse events per patient", "{:.3f}"),
    ("mean_cumulative_glucocorticoid_mg", "glucocorticoid, mg prednisolone equivalent", "{:,.0f}"),
    ("mean_years_prednisolone_above_7_5mg", "years on more than 7.5 mg/day prednisolone", "{:.2f}"),
    ("life_years", "life years (undiscounted, within horizon)", "{:.2f}"),
    ("mean_cost", "mean cost (discounted)", "{:,.0f}"),
    ("mean_qaly", "mean QALYs (discounted)", "{:.3f}"),
    ("mean_life_years", "mean life years (discounted)", "{:.3f}"),
]


def console_summary(result) -> str:
    """A short table: headline metrics by strategy."""
    s = result.summary
    wide = s.pivot(index="metric", columns="strategy", values="value")
    wide = wide[[st.name for st in result.model.scenario.strategies]]
    rows = []
    for metric, label, fmt in HEADLINE:
        if metric in wide.index:
            rows.append([label] + [("n/a" if pd.isna(v) else fmt.format(v)) for v in wide.loc[metric]])
    table = pd.DataFrame(rows, columns=["metric"] + list(wide.columns))
    sc = result.model.scenario
    head = (f"lnsim: scenario '{sc.name}', {result.n_patients} patients per strategy, seed {result.seed}, "
            f"horizon {sc.horizon_years:g} years")
    text = head + "\n" + table.to_string(index=False)
    if getattr(result, "cea", None) is not None:
        text += "\n\n" + cea_text(result.cea)
    cap = getattr(result, "capacity", None)
    if cap is not None and len(cap):
        text += "\n\nServices with limited capacity (waits in days):\n" + cap.to_string(
            index=False, float_format=lambda v: f"{v:,.2f}")
    return text


def cea_text(cea: pd.DataFrame) -> str:
    """The incremental cost-effectiveness table as a readable block."""
    c = cea.iloc[0]
    head = (f"Incremental analysis ({c['perspective']} perspective, {c['currency']} {c['price_year']}, "
            f"discount {c['discount_costs']:.1%} costs / {c['discount_outcomes']:.1%} outcomes, "
            f"horizon {c['horizon_years']:g} y; WTP {c['wtp']:,.0f} per QALY)")
    t = pd.DataFrame({
        "strategy": cea["strategy"],
        "cost": [f"{v:,.0f}" for v in cea["cost"]],
        "QALYs": [f"{v:.3f}" for v in cea["effect"]],
        "inc. cost": ["" if pd.isna(v) else f"{v:,.0f}" for v in cea["inc_cost"]],
        "inc. QALYs": ["" if pd.isna(v) else f"{v:.3f}" for v in cea["inc_effect"]],
        "ICER": ["" if pd.isna(v) else f"{v:,.0f}" for v in cea["icer"]],
        "status": cea["status"].map({"ND": "frontier", "ED": "ext. dominated", "D": "dominated"}),
        "NMB": [f"{v:,.0f}" for v in cea["nmb"]],
    })
    return head + "\n" + t.to_string(index=False)


# ==============================================================================================
# HTML report
# ==============================================================================================

LANGS = ("en", "es")
REPORT_FILE = "report.html"
FIGURES_DIR = "figures"
PSA_FILE = "psa.csv"
PSA_COLUMNS = ("draw", "strategy", "cost", "qaly")

#: The sections that report CHEERS 2022 items, in order: keys of ``h`` in report_strings.yaml and
#: the ids of the sections in the HTML.
CHEERS_SECTIONS = ("perspective", "horizon", "discounting", "currency", "population", "comparators",
                   "outcomes", "valuation", "model", "evidence", "assumptions", "uncertainty")

#: CHEERS 2022 item number -> id of the section of the report that answers it (None: not covered,
#: the analyst supplies it).
CHEERS_TARGETS: dict[int, str | None] = {
    1: "top", 2: None, 3: "scenario", 4: "reproduce", 5: "population", 6: "population", 7: "comparators",
    8: "perspective", 9: "horizon", 10: "discounting", 11: "outcomes", 12: "model", 13: "valuation",
    14: "valuation", 15: "currency", 16: "model", 17: "assumptions", 18: "population", 19: None,
    20: "uncertainty", 21: None, 22: "parameters", 23: "results", 24: "uncertainty", 25: None,
    26: "assumptions", 27: None, 28: None,
}

_EVIDENCE_ID = re.compile(r"\b[AB]\d{2,3}\b")
_CAPACITY = re.compile(r"^(?:wait_(\w+)_mean_days|utilisation_(\w+))$")


#: categorical patient attributes whose category names the report translates (report_strings.yaml)
_NAMED_CATEGORIES = ("ancestry", "chronicity", "lookalike")

class Markup(str):
    """Text that is already HTML (escaped, or built from escaped parts)."""


def esc(value: Any) -> Markup:
    """HTML-escape a value (Markup passes through unchanged)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


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


# -- small HTML builders ------------------------------------------------------------------------

class _Group:
    """A row of a table that heads a group of rows."""

    def __init__(self, label: Any):
        self.label = label


class _Cell:
    """A table cell with its own CSS class."""

    def __init__(self, value: Any, cls: str):
        self.value, self.cls = value, cls


def _cell(value: Any, tag: str = "td", cls: str = "") -> str:
    if isinstance(value, _Cell):
        value, cls = value.value, " ".join(x for x in (cls, value.cls) if x)
    c = f' class="{esc(cls)}"' if cls else ""
    scope = ' scope="row"' if tag == "th" else ""
    return f"<{tag}{scope}{c}>{esc(value)}</{tag}>"


def _table(head: Sequence[Any], rows: Sequence[Any], *, cls: str = "", caption: Any = None,
           row_classes: Sequence[str] | None = None, num_cols: Iterable[int] = (), row_header: bool = True) -> Markup:
    num = set(num_cols)
    out = [f'<div class="scroll"><table class="{esc(cls)}">' if cls else '<div class="scroll"><table>']
    if caption is not None:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(rows):
        if isinstance(row, _Group):
            out.append(f'<tr class="group"><th colspan="{len(head)}" scope="rowgroup">{esc(row.label)}</th></tr>')
            continue
        rc = row_classes[i] if row_classes is not None and row_classes[i] else ""
        cells = [_cell(v, "th" if (j == 0 and row_header) else "td", "num" if j in num else "")
                 for j, v in enumerate(row)]
        out.append((f'<tr class="{esc(rc)}">' if rc else "<tr>") + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return Markup("".join(out))


def _section(sid: str, level: int, title: Any, *body: Any) -> Markup:
    return Markup(f'<section id="{esc(sid)}"><h{level}>{esc(title)}</h{level}>' + "".join(esc(b) for b in body)
                  + "</section>")


def _p(text: Any, cls: str = "") -> Markup:
    return Markup((f'<p class="{esc(cls)}">' if cls else "<p>") + esc(text) + "</p>")


def _ul(items: Iterable[Any]) -> Markup:
    return Markup("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def _link(target: str, text: Any) -> Markup:
    return Markup(f'<a href="#{esc(target)}">{esc(text)}</a>')


# -- evidence ------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _evidence_rows() -> dict[str, dict]:
    """Rows of the evidence tables by id: the review's (A..) and the external inputs (B..)."""
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


# -- PSA -----------------------------------------------------------------------------------------

def read_psa(path: str | Path) -> tuple[pd.DataFrame, str]:
    """Read and check ``psa.csv`` (columns draw, strategy, cost, qaly) from a PSA result folder
    (or the CSV file itself). Returns (table, path read). Raises :class:`InputError`."""
    p = Path(path)
    allowed = f"a folder holding {PSA_FILE} with columns {', '.join(PSA_COLUMNS)}"
    if not p.exists():
        raise InputError("PSA result folder not found", file=str(p), field="--psa", allowed=allowed)
    f = p / PSA_FILE if p.is_dir() else p
    if not f.is_file():
        raise InputError(f"no {PSA_FILE} in the PSA result folder", file=str(p), field="--psa", allowed=allowed)
    try:
        df = pd.read_csv(f)
    except Exception as e:  # pandas raises many kinds
        raise InputError(f"cannot read CSV ({e.__class__.__name__}: {e})", file=str(f), field="--psa",
                         allowed=allowed) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in PSA_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", file=str(f), field="--psa", allowed=allowed)
    if df.empty:
        raise InputError("no rows", file=str(f), field="--psa", allowed="one row per draw and strategy")
    df["strategy"] = df["strategy"].astype(str).str.strip()
    for col in ("draw", "cost", "qaly"):
        vals = pd.to_numeric(df[col], errors="coerce")
        bad = ~np.isfinite(vals.to_numpy(dtype=float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"not a finite number in row {i + 2}", file=str(f), field=col,
                             value=df[col].iloc[i], allowed="a number")
        df[col] = vals
    if df.duplicated(["draw", "strategy"]).any():
        row = df[df.duplicated(["draw", "strategy"])].iloc[0]
        raise InputError("duplicated draw and strategy", file=str(f), field="draw",
                         value=f"{row['draw']:g}, {row['strategy']}", allowed="one row per draw and strategy")
    return df, str(f)


def check_psa_strategies(psa: pd.DataFrame, strategies: Sequence[str], source: str) -> None:
    """Every strategy of the PSA table must be a strategy of the scenario."""
    unknown = sorted(set(psa["strategy"]) - set(strategies))
    if unknown:
        raise InputError("PSA strategies are not those of the scenario", file=source, field="strategy",
                         value=", ".join(unknown), allowed=", ".join(strategies))


def psa_summary(psa: pd.DataFrame, wtp: float, order: Sequence[str]) -> pd.DataFrame:
    """Per strategy: draws, mean and 95% interval of cost and QALYs, P(highest net monetary benefit)."""
    from sim.voi import ceac
    # P(highest net monetary benefit) with voi's tie rule, over the draws that have every strategy
    complete = psa.groupby("draw")["strategy"].transform("size") == psa["strategy"].nunique()
    p_ce = (ceac(psa[complete], [wtp]).set_index("strategy")["probability"] if complete.any()
            else pd.Series(dtype=float))
    rows = []
    for s in [x for x in order if x in set(psa["strategy"])]:
        d = psa[psa["strategy"] == s]
        rows.append({
            "strategy": s, "draws": len(d),
            "cost": d["cost"].mean(), "cost_lo": d["cost"].quantile(0.025), "cost_hi": d["cost"].quantile(0.975),
            "qaly": d["qaly"].mean(), "qaly_lo": d["qaly"].quantile(0.025), "qaly_hi": d["qaly"].quantile(0.975),
            "p_ce": float(p_ce.get(s, float("nan"))),
        })
    return pd.DataFrame(rows)


_REFERENCE_NAMES = ("reference", "ref", "comparator", "baseline", "base")


def _call_plot(fn, positional: Sequence[Any], named: Mapping[str, Any]):
    """Call a plotting function whose signature is not known in advance (it is written elsewhere).

    Its leading positional parameters get ``positional`` in order; any other parameter it requires is
    filled from ``named`` by name (a reference-strategy parameter such as ``reference`` gets
    ``named["reference"]``); optional parameters named in ``named`` are passed as keywords. If that
    call fails, the function is called with the required arguments only."""
    params = list(inspect.signature(fn).parameters.values())
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    required: dict[str, Any] = {}
    pos = list(positional)
    for prm in params:
        if prm.kind is prm.VAR_POSITIONAL:
            args.extend(pos)
            pos = []
            continue
        if prm.kind is prm.VAR_KEYWORD:
            continue
        if pos and prm.kind in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD):
            args.append(pos.pop(0))
            continue
        low = prm.name.lower()
        key = ("reference" if low in _REFERENCE_NAMES or any(w in low for w in ("ref", "compar", "baseline"))
               else prm.name)
        if prm.default is prm.empty:
            if key not in named:
                raise TypeError(f"{fn.__name__} needs an argument '{prm.name}' that the report cannot supply")
            if prm.kind is prm.POSITIONAL_ONLY:
                args.append(named[key])
            else:
                required[prm.name] = named[key]
        elif key in named and named[key] is not None and prm.kind is not prm.POSITIONAL_ONLY:
            kwargs[prm.name] = named[key]
    try:
        return fn(*args, **required, **kwargs)
    except Exception:
        if not kwargs:
            raise
        return fn(*args, **required)


def _as_figure(obj):
    if hasattr(obj, "savefig"):
        return obj
    fig = getattr(obj, "figure", None) or getattr(obj, "get_figure", lambda: None)()
    if fig is None and isinstance(obj, tuple) and obj:
        return _as_figure(obj[0])
    if fig is None:
        raise TypeError(f"the plotting function returned {type(obj).__name__}, not a figure")
    return fig


# -- figures -------------------------------------------------------------------------------------

def _translator(L: _Lang, neutral: Iterable[str] = ()):
    """A function translating one label of a figure into the report's language.

    Tried in turn: an exact label (``figtext``), a label with variable parts (``figpatterns``), and
    known phrases (``figphrases``) -- the last only if they cover every word of the label except
    ``neutral`` words (strategy names), numbers and currency codes, so a label is either translated
    whole or left as it is, never half-translated."""
    table = dict(L.d.get("figtext") or {})
    patterns = [(re.compile(a), b) for a, b in (L.d.get("figpatterns") or [])]
    phrases = L.d.get("figphrases") or {}
    rx = (re.compile(r"(?<!\w)(" + "|".join(re.escape(k) for k in sorted(phrases, key=len, reverse=True)) + r")(?!\w)")
          if phrases else None)
    keep = set(neutral)

    def tr(text: str) -> str:
        if not text or text in keep:
            return text
        if text in table:
            return table[text]
        for pattern, repl in patterns:
            if pattern.search(text):
                return pattern.sub(repl, text)
        if rx is None:
            return text
        rest = rx.sub(" ", text)
        words = [w for w in re.findall(r"[^\W\d_][\w-]*", rest) if w not in keep and not re.fullmatch(r"[A-Z]{2,4}", w)]
        return text if words else rx.sub(lambda m: phrases[m.group(1)], text)

    return tr


def _localise_figure(fig, L: _Lang, exact: Mapping[str, str], neutral: Iterable[str] = ()) -> None:
    """Translate the text of a figure: titles, axis labels, legend titles and entries (see
    :func:`_translator`); tick labels that are therapy codes or stage names get their readable
    ``exact`` label (in both languages)."""
    tr = _translator(L, neutral)
    for ax in fig.axes:
        for loc in ("center", "left", "right"):
            title = ax.get_title(loc)
            if title:
                ax.set_title(tr(title), loc=loc)
        ax.set_xlabel(tr(ax.get_xlabel()))
        ax.set_ylabel(tr(ax.get_ylabel()))
        for axis, get, set_ in ((ax.xaxis, ax.get_xticklabels, ax.set_xticks), (ax.yaxis, ax.get_yticklabels, ax.set_yticks)):
            labels = get()
            texts = [t.get_text() for t in labels]
            new = [exact.get(t, t) for t in texts]
            if new != texts and labels and len(texts) == len(axis.get_majorticklocs()):
                set_(axis.get_majorticklocs(), new, rotation=labels[0].get_rotation(), ha=labels[0].get_ha())
        leg = ax.get_legend()
        if leg is not None:
            leg.get_title().set_text(tr(leg.get_title().get_text()))
            for t in leg.get_texts():
                t.set_text(exact.get(t.get_text()) or tr(t.get_text()))
    for t in fig.texts:                  # figure-level texts (fig.suptitle's among them)
        t.set_text(tr(t.get_text()))


def _png(fig, stem: Path | None) -> bytes:
    if stem is not None:
        from sim.plots import save_figure
        png, _ = save_figure(fig, stem)
        return png.read_bytes()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    return buf.getvalue()


# ==============================================================================================
# The report
# ==============================================================================================

class _Report:
    def __init__(self, result, lang: str, psa: pd.DataFrame | None, psa_source: str | None,
                 command: str | None, figures_dir: Path | None, date: str | None):
        import sim
        from sim.simulation import parameter_table
        self.r = result
        self.L = _Lang(lang)
        self.model = result.model
        self.sc = result.model.scenario
        self.names = [s.name for s in self.sc.strategies]
        self.psa, self.psa_source = psa, psa_source
        self.command = command
        self.figures_dir = figures_dir
        self.version = sim.__version__
        self.date = date or _today()
        self.econ = getattr(result, "economics", None)
        self.settings = self.econ.settings() if self.econ is not None else None
        self.params = parameter_table(self.model)
        wide = result.summary.pivot_table(index="metric", columns="strategy", values="value", aggfunc="first")
        self.wide = wide.reindex(columns=self.names)
        from sim.plots import strategy_colours
        self.colours = strategy_colours(self.names)
        self.therapy_names = self.sc.therapies_reached()
        self.cited: set[str] = set()
        self.figure_notes: list[Markup] = []

    # -- helpers ---------------------------------------------------------------------------------
    def metric(self, name: str, strategy: str) -> float:
        try:
            v = self.wide.at[name, strategy]
        except KeyError:
            return float("nan")
        return float(v) if v is not None and not pd.isna(v) else float("nan")

    def label(self, therapy: str) -> str:
        rec = self.model.therapies[therapy] if therapy in self.model.therapies else None
        return self.L.get("therapy", therapy, rec.label if rec is not None else therapy)

    def short(self, therapy: str) -> str:
        return self.L.get("short", therapy, therapy)

    def ladder_steps(self) -> list[str]:
        """Every ladder step of every strategy, in the order of the pathway figure."""
        from sim.plots import ladder_order
        return ladder_order(s.ladder for s in self.sc.strategies)

    def cite(self, text: Any) -> Markup:
        ids = _evidence_ids(text)
        self.cited.update(i for i in ids if i in _evidence_rows())
        return _evidence_links(text)

    def source_cell(self, source: Any) -> Markup:
        """The source of a cost or utility: evidence ids as links; a bare kind ('assumption') translated."""
        text = str(source or "").strip()
        if text in (self.L.d.get("kind") or {}):
            return esc(self.L.get("kind", text))
        return self.cite(text) if text else esc("–")

    def kind_badge(self, kind: str) -> Markup:
        label = self.L.get("kind", kind, kind)
        flag = "⚑ " if kind == "assumption" else ""
        return Markup(f'<span class="badge kind-{esc(kind)}">{esc(flag + label)}</span>')

    def h(self, key: str) -> str:
        return self.L.raw(f"h.{key}")

    def c(self, key: str) -> str:
        return self.L.raw(f"col.{key}")

    # -- header ----------------------------------------------------------------------------------
    def header(self) -> Markup:
        L, sc = self.L, self.sc
        rows = [
            (self.c("scenario"), sc.name),
            (self.c("description"), sc.description or "–"),
            (self.c("scenario_file"), self.model.source),
            (self.c("date"), self.date),
            (self.c("version"), self.version),
            (self.c("seed"), str(self.r.seed)),
            (self.c("patients"), L.num(self.r.n_patients, ",d")),
            (self.c("strategies"), ", ".join(self.names)),
            (self.c("language"), L.raw("meta.language")),
        ]
        meta = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in rows)
        note = _p(L.t("text.english_notes"), "note") if L.lang != "en" else ""
        small = (_p(L.t("text.small_run", n=L.num(self.r.n_patients, ",d")), "warning")
                 if self.r.n_patients < 1000 else "")
        return Markup(f'<header id="top"><h1>{esc(self.h("title"))}</h1>'
                      f'<p class="subtitle">{esc(L.t("text.subtitle"))}</p>'
                      f'<section id="scenario"><h2>{esc(self.h("scenario"))}: {esc(sc.name)}</h2>'
                      f'<div class="scroll"><table class="meta">{meta}</table></div>{note}{small}</section></header>')

    def toc(self) -> Markup:
        items = [("cheers", "cheers"), ("methods", "methods"), ("results", "results"), ("figures", "figures"),
                 ("parameters", "parameters"), ("evidence-cited", "evidence_cited"), ("events", "events"),
                 ("reproduce", "reproduce")]
        sub = {"methods": CHEERS_SECTIONS,
               "results": ("clinical", "cea", "costs") + (("psa",) if self.psa is not None else ())}
        lis = []
        for sid, key in items:
            inner = ""
            if sid in sub:
                inner = "<ol>" + "".join(f"<li>{_link(k, self.h(k))}</li>" for k in sub[sid]) + "</ol>"
            lis.append(f"<li>{_link(sid, self.h(key))}{inner}</li>")
        return Markup(f'<nav aria-label="{esc(self.h("contents"))}"><h2>{esc(self.h("contents"))}</h2>'
                      f'<ol>{"".join(lis)}</ol></nav>')

    # -- CHEERS checklist ------------------------------------------------------------------------
    def _discount(self) -> tuple[str, str]:
        if self.settings is None:
            return "–", "–"
        return self.L.rate(self.settings["discount_costs"]), self.L.rate(self.settings["discount_outcomes"])

    def perspective_text(self) -> str:
        p = self.settings["perspective"] if self.settings else "health care system"
        return self.L.get("perspective", p, p)

    def cheers(self) -> Markup:
        L, st = self.L, self.settings or {}
        dc, do = self._discount()
        values = {
            1: dict(title=self.h("title"), scenario=self.sc.name),
            3: dict(description=self.sc.description or self.sc.name),
            5: dict(description=self.sc.cohort.description or "–"),
            6: dict(costs=st.get("cost_table", "–"), life_table=self.model.life_table.source),
            7: dict(n=len(self.names), names=", ".join(self.names)),
            8: dict(perspective=self.perspective_text()),
            9: dict(years=L.num(self.sc.horizon_years, "g")),
            10: dict(costs=dc, outcomes=do),
            13: dict(source=st.get("utility_table", "–")),
            14: dict(source=st.get("cost_table", "–")),
            15: dict(currency=st.get("currency", "–"), year=st.get("price_year", "–")),
            22: dict(n=len(self.params)),
        }
        psa_text = (L.t("where.psa_yes", draws=L.num(int(self.psa["draw"].nunique()), ",d"))
                    if self.psa is not None else L.t("where.psa_no"))
        values[24] = dict(psa=psa_text)
        rows, classes = [], []
        for item in range(1, 29):
            target = CHEERS_TARGETS[item]
            if target is None:
                where = Markup(f'<span class="gap">{L.t("where.gap")}</span>')
                classes.append("gap")
            else:
                text = L.t(f"where.{item}", **values.get(item, {}))
                if item == 24 and self.psa is not None:
                    target = "psa"
                where = _link(target, text)
                classes.append("")
            rows.append((str(item), L.get("cheers", str(item)), where))
        body = _table([self.c("item"), self.c("cheers_item"), self.c("where")], rows, cls="cheers",
                      row_classes=classes)
        return _section("cheers", 2, self.h("cheers"), body)

    # -- methods -----------------------------------------------------------------------------------
    def methods(self) -> Markup:
        L, st = self.L, self.settings or {}
        dc, do = self._discount()
        ages = self.r.patients.loc[self.r.patients["strategy"] == self.names[0], "age"]
        parts = [
            _section("perspective", 3, self.h("perspective"), _p(L.t("text.perspective", perspective=self.perspective_text()))),
            _section("horizon", 3, self.h("horizon"),
                     _p(L.t("text.horizon", years=L.num(self.sc.horizon_years, "g"), age=L.num(float(ages.mean()), ".1f")))),
            _section("discounting", 3, self.h("discounting"), _p(L.t("text.discounting", costs=dc, outcomes=do))),
            _section("currency", 3, self.h("currency"),
                     _p(L.t("text.currency", currency=st.get("currency", "–"), year=st.get("price_year", "–"),
                            source=st.get("cost_table", "–"))),
                     _p(L.t("text.wtp", wtp=L.money(st.get("wtp")), currency=st.get("currency", "")))
                     if st else ""),
            self.population(),
            self.comparators(),
            _section("outcomes", 3, self.h("outcomes"), _p(L.t("text.outcomes")),
                     _ul(esc(x) for x in L.raw("text.outcome_list"))),
            self.valuation(),
            _section("model", 3, self.h("model"), *[_p(esc(x)) for x in L.raw("text.model")]),
            self.evidence_section(),
            self.assumptions(),
            self.uncertainty(),
        ]
        return _section("methods", 2, self.h("methods"), *parts)

    def population(self) -> Markup:
        L, pop = self.L, self.sc.cohort
        pts = self.r.patients[self.r.patients["strategy"] == self.names[0]]
        rows = []

        def shares(d: Mapping[str, float], names: Mapping[str, str] | None = None) -> str:
            return ", ".join(f"{(names or {}).get(k, k)} {L.pct(v)}" for k, v in d.items())

        def observed(col: str, kind: str) -> str:
            if col not in pts:
                return "–"
            x = pts[col]
            if kind == "normal":
                return L.t("dist.sim_normal", mean=L.num(float(x.mean()), ".1f"), sd=L.num(float(x.std()), ".1f"))
            if kind == "lognormal":
                return L.t("dist.sim_lognormal", median=L.num(float(x.median()), ".2f"))
            if kind == "bool":
                return L.pct(float(x.astype(bool).mean()))
            if kind == "female":
                return L.pct(float((x == "female").mean()))
            counts = x.value_counts(normalize=True)
            names = L.d.get(col, {}) if col in _NAMED_CATEGORIES else {}
            spec = getattr(pop, col, None)
            order = [k for k in spec if k in counts.index] if isinstance(spec, Mapping) else []
            order += [k for k in counts.index if k not in order]
            return shares({k: counts[k] for k in order}, names)

        fields = [("age_years", "age", "normal"), ("female", "sex", "female"), ("isn_class", "isn_class", "cat"),
                  ("ancestry", "ancestry", "cat"), ("weight_kg", "weight_kg", "normal"),
                  ("height_cm", "height_cm", "normal"), ("proteinuria_g_day", "proteinuria_g_day", "lognormal"),
                  ("egfr_ml_min", "egfr_ml_min", "normal"), ("nonadherent", "nonadherent", "bool"),
                  ("chronicity", "chronicity", "cat"), ("lookalike", "lookalike", "cat"),
                  ("prevalence_per_10000", None, "plain"), ("ln_share_of_sle", None, "share")]
        prov = getattr(pop, "provenance", {}) or {}
        kinds = []
        for field, col, kind in fields:
            val = getattr(pop, field, None)
            if val is None:
                continue
            if hasattr(val, "sd") and hasattr(val, "mean"):
                spec = L.t("dist.normal", mean=L.num(val.mean, "g"), sd=L.num(val.sd, "g"), min=L.num(val.min, "g"),
                           max=L.num(val.max, "g"))
            elif hasattr(val, "gsd"):
                spec = L.t("dist.lognormal", median=L.num(val.median, "g"), gsd=L.num(val.gsd, "g"),
                           min=L.num(val.min, "g"), max=L.num(val.max, "g"))
            elif isinstance(val, Mapping):
                spec = shares(val, L.d.get(field, {}) if field in _NAMED_CATEGORIES else None)
            elif kind == "plain":
                spec = L.num(val, "g")
            else:
                spec = L.pct(val)
            p = prov.get(field)
            ev = self.cite(" ".join(p.evidence)) if p is not None and p.evidence else "–"
            k = p.kind if p is not None else ""
            kinds.append("assumption" if k == "assumption" else "")
            rows.append((L.get("attr", field), spec, observed(col, kind) if col else "–", ev,
                         self.kind_badge(k) if k else "–"))
        table = _table([self.c("attribute"), self.c("specified"), self.c("simulated"), self.c("evidence"),
                        self.c("kind")], rows, row_classes=kinds)
        desc = pop.description or self.sc.name
        return _section("population", 3, self.h("population"), _p(L.t("text.population", description=desc)), table,
                        self.capacity())

    def capacity(self) -> Markup:
        """The scenario's capacity limits (an open population queueing for services), if it sets any."""
        cap = getattr(self.sc, "capacity", None)
        if cap is None:
            return Markup("")
        values = cap.model_dump() if hasattr(cap, "model_dump") else dict(cap) if isinstance(cap, Mapping) else {}
        rows = []
        for k, v in values.items():
            if v is None:
                continue
            shown = (self.L.num(v, "g") if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
            rows.append((Markup(f"<code>{esc(k)}</code>"), _Cell(shown, "num")))
        if not rows:
            return Markup("")
        return _section("capacity", 4, self.h("capacity"), _p(self.L.t("text.capacity")),
                        _table([self.c("capacity_setting"), self.c("value")], rows, cls="narrow"))

    def comparators(self) -> Markup:
        L = self.L
        rows = []
        for s in self.sc.strategies:
            shares = s.induction_shares()
            induction = ", ".join(self.label(a) + (f" ({L.pct(w)})" if len(shares) > 1 else "") for a, w in shares.items())
            switch = "; ".join(f"{self.short(a)} → {self.short(s.switch[a])}" for a in shares if a in s.switch)
            steps = []
            for step in s.ladder:
                months = s.ladder_assessment_months.get(step, self.model.therapies[step].assessment_months)
                steps.append(f"<li>{esc(self.label(step))} <span class='muted'>"
                             f"({esc(L.t('months_short', n=L.num(months, 'g')))})</span></li>")
            ladder = Markup("<ol class='ladder'>" + "".join(steps) + "</ol>")
            rule = s.flare_reentry
            reentry = (L.t(f"reentry.{rule}") if rule in ("same_step", "induction", "ladder")
                       else L.t("reentry.step", step=self.label(rule)))
            name = Markup(f"<strong>{esc(s.name)}</strong><br><span class='muted'>{esc(s.description)}</span>")
            w = s.workup
            workup = L.raw("workup." + {(False, False): "none", (True, False): "screen", (False, True): "biopsy",
                                        (True, True): "both"}[(w.screen_lookalikes, w.repeat_biopsy)])
            if s.after_severe_infection:
                workup = f"{workup}; " + L.t("workup.after_infection", therapy=self.label(s.after_severe_infection))
            rows.append((name, induction,
                         L.t("timing", first=L.num(s.first_assessment_months, "g"),
                             second=L.num(s.reassessment_months, "g")),
                         switch, workup, ladder, self.label(s.maintenance), reentry))
        table = _table([self.c("strategy"), self.c("induction"), self.c("assessment"), self.c("switch"),
                        self.c("workup"), self.c("ladder"), self.c("maintenance"), self.c("reentry")], rows,
                       cls="protocols")
        # therapies used
        trows, tcls = [], []
        for name in self.therapy_names:
            th = self.model.therapies[name]
            maint = "maintenance" in th.roles
            roles = ", ".join(L.get("role", r, r) for r in th.roles)
            exp = L.raw("yes_word") if th.exploratory else L.raw("no_word")
            trows.append((Markup(f"<code>{esc(name)}</code>"), self.label(name), th.regimen or "–", roles,
                          "–" if maint else L.num(th.assessment_months, "g"),
                          "–" if maint else L.pct(th.complete.value),
                          "–" if maint else L.pct(th.partial.value), exp, self.cite(" ".join(th.evidence)) or "–"))
            tcls.append("exploratory" if th.exploratory else "")
        ttable = _table([self.c("therapy"), self.c("label"), self.c("regimen"), self.c("role"), self.c("judged_at"),
                         self.c("p_cr"), self.c("p_pr"), self.c("exploratory"), self.c("evidence")], trows,
                        row_classes=tcls, num_cols=(4, 5, 6))
        return _section("comparators", 3, self.h("comparators"), _p(L.t("text.comparators")), table,
                        _section("therapies", 4, self.h("therapies"), _p(L.t("text.therapies")), ttable))

    def valuation(self) -> Markup:
        L = self.L
        if self.econ is None:
            return _section("valuation", 3, self.h("valuation"), _p(L.t("text.no_cea")))
        st = self.settings
        ut = self.econ.utility_table
        urows, ucls = [], []
        for rec in ut.to_dict("records"):
            kind = str(rec.get("kind", "") or "")
            urows.append((rec.get("state", ""), L.num(float(rec["value"]), "g"), rec.get("unit", "utility") or "utility",
                          self.source_cell(rec.get("source", "")), self.kind_badge(kind) if kind else "–",
                          rec.get("note", "")))
            ucls.append("assumption" if kind == "assumption" else "")
        utable = _table([self.c("state"), self.c("value"), self.c("unit"), self.c("source"), self.c("kind"),
                         self.c("note")], urows, row_classes=ucls, num_cols=(1,))
        ct = self.econ.cost_table
        crows, ccls = [], []
        for rec in ct.to_dict("records"):
            kind = str(rec.get("kind", "") or "")
            unit = rec.get("unit", "")
            vial = rec.get("vial_mg")
            if unit == "per vial" and vial is not None and not pd.isna(vial):
                unit = f"{unit} ({L.num(float(vial), 'g')} mg)"
            crows.append((rec.get("item", ""), L.get("cost", rec.get("category", ""), rec.get("category", "")),
                          unit, L.num(float(rec["value"]), ",.2f"), self.source_cell(rec.get("source", "")),
                          self.kind_badge(kind) if kind else "–", rec.get("note", "")))
            ccls.append("assumption" if kind == "assumption" else "")
        n_assumed = sum(1 for c in ccls if c)
        ctable = _table([self.c("cost_item"), self.c("category"), self.c("unit"),
                         f"{self.c('value')} ({st['currency']} {st['price_year']})", self.c("source"), self.c("kind"),
                         self.c("note")], crows, row_classes=ccls, num_cols=(3,))
        details = Markup(f"<details><summary>{esc(L.t('text.show_table'))}</summary>{ctable}</details>")
        return _section("valuation", 3, self.h("valuation"),
                        _section("utilities", 4, self.h("utilities"),
                                 _p(L.t("text.utilities", source=st["utility_table"])), utable),
                        _section("unit-costs", 4, self.h("unit_costs"),
                                 _p(L.t("text.unit_costs", source=st["cost_table"], n=len(ct), assumed=n_assumed)),
                                 details))

    def evidence_section(self) -> Markup:
        # the cited set is complete only after every other section is built: filled in later
        return Markup('<section id="evidence"><h3>' + esc(self.h("evidence")) + "</h3><!--EVIDENCE--></section>")

    def evidence_text(self) -> Markup:
        L = self.L
        rows = _evidence_rows()
        n_review = sum(1 for r in rows.values() if r["_kind"] == "review")
        n_external = len(rows) - n_review
        unverified = sum(1 for i in self.cited if _unverified(rows[i]))
        paras = L.raw("text.evidence")
        kw = dict(n_review=n_review, n_external=n_external, n_cited=len(self.cited), n_unverified=unverified)
        return Markup("".join(_p(Markup(html.escape(x).format(**{k: esc(v) for k, v in kw.items()}))) for x in paras))

    def assumptions(self) -> Markup:
        L = self.L
        items = [esc(x) for x in L.raw("text.assumptions")]
        n_assumed = int((self.params["kind"] == "assumption").sum())
        items.append(L.t("text.assumption_counts", n_assumed=n_assumed, n=len(self.params)))
        if "illustrative" in self.model.life_table.source:
            items.append(L.t("text.life_table_illustrative"))
        exploratory = [self.label(t) for t in self.therapy_names if self.model.therapies[t].exploratory]
        if exploratory:
            items.append(L.t("text.exploratory", names="; ".join(exploratory)))
        items.append(Markup("<!--UNVERIFIED-->"))
        return _section("assumptions", 3, self.h("assumptions"), _ul(items))

    def uncertainty(self) -> Markup:
        L = self.L
        body = [_p(L.t("text.uncertainty"))]
        body.append(_p(L.t("where.psa_yes", draws=L.num(int(self.psa["draw"].nunique()), ",d")))
                    if self.psa is not None else _p(L.t("text.psa_none")))
        return _section("uncertainty", 3, self.h("uncertainty"), *body)

    # -- results -----------------------------------------------------------------------------------
    CLINICAL = {
        "response": [("cr_6m", "pct"), ("cr_12m", "pct"), ("cr_24m", "pct"), ("response_6m", "pct"),
                     ("response_12m", "pct"), ("median_time_to_cr_years", "years")],
        "pathway": [("refractory", "pct"), ("refractory_nonadherent", "pct"), ("failed_induction", "pct"),
                    ("reclassified", "pct"), ("truly_refractory", "pct"), ("refractory_chronic_damage", "pct"),
                    ("refractory_lookalike", "pct")],
        "long_term": [("flares_per_patient_year", "rate"), ("esrd_5y", "pct"), ("esrd_10y", "pct"),
                      ("esrd_15y", "pct"), ("death_5y", "pct"), ("death_10y", "pct"), ("life_years", "years")],
        "harms": [("adverse_events_per_patient", "rate"), ("severe_adverse_events_per_patient", "rate"),
                  ("courses_stopped_by_adverse_event", "rate"), ("mean_cumulative_glucocorticoid_mg", "mg"),
                  ("mean_years_prednisolone_above_7_5mg", "years")],
        "economic": [("mean_cost", "money"), ("mean_cost_undiscounted", "money"), ("mean_qaly", "qaly"),
                     ("mean_qaly_undiscounted", "qaly"), ("mean_life_years", "years")],
        "capacity": [],          # wait_<resource>_mean_days and utilisation_<resource>, when capacity is limited
    }

    def metric_label(self, m: str) -> Any:
        L = self.L
        if m.startswith("reached_"):
            return L.t("metric.reached_step", step=self.label(m[len("reached_"):]))
        cap = _CAPACITY.match(m)
        if cap:
            kind, res = ("wait", cap.group(1)) if cap.group(1) else ("utilisation", cap.group(2))
            return L.t(f"metric.{kind}", resource=L.get("resource", res, res.replace("_", " ")))
        return L.get("metric", m)

    def fmt(self, v: float, kind: str) -> str:
        L = self.L
        return {"pct": lambda: L.pct(v), "years": lambda: L.num(v, ",.2f"), "rate": lambda: L.num(v, ".3f"),
                "days": lambda: L.num(v, ",.1f"), "mg": lambda: L.num(v, ",.0f"),
                "money": lambda: L.money(v), "qaly": lambda: L.num(v, ",.3f")}[kind]()

    def clinical(self) -> tuple[Markup, set[str]]:
        L = self.L
        rows: list[Any] = []
        used: set[str] = set()
        for group, metrics in self.CLINICAL.items():
            present = [(m, k) for m, k in metrics if m in self.wide.index]
            extra = []
            if group == "pathway":
                extra = [(f"reached_{s}", "pct") for s in self.ladder_steps() if f"reached_{s}" in self.wide.index]
            if group == "capacity":
                extra = [(m, "days" if m.startswith("wait_") else "pct") for m in self.wide.index
                         if _CAPACITY.match(m)]
            if not present and not extra:
                continue
            rows.append(_Group(L.raw(f"group.{group}")))
            for m, k in present + extra:
                rows.append([self.metric_label(m)] + [self.fmt(self.metric(m, s), k) for s in self.names])
                used.add(m)
        table = _table([self.c("metric")] + self.names, rows, cls="results", num_cols=range(1, len(self.names) + 1))
        return _section("clinical", 3, self.h("clinical"), table, _p(L.t("text.estimators"), "note")), used

    def cea(self) -> Markup:
        L = self.L
        cea = getattr(self.r, "cea", None)
        if cea is None or self.settings is None:
            return _section("cea", 3, self.h("cea"), _p(L.t("text.no_cea")))
        st = self.settings
        rows, cls = [], []
        for rec in cea.to_dict("records"):
            s = rec["strategy"]
            status = rec["status"]
            ref = status == "ND" and pd.isna(rec["inc_cost"])
            status_text = L.get("status", "reference") if ref else L.get("status", status, status)
            cost = f"{L.money(rec['cost'])} ({L.money(self.metric('mean_cost_se', s))})"
            qaly = f"{L.num(rec['effect'], ',.3f')} ({L.num(self.metric('mean_qaly_se', s), ',.3f')})"
            rows.append((s, cost, qaly, L.num(rec.get("life_years"), ",.3f"), L.money(rec["inc_cost"]),
                         L.num(rec["inc_effect"], ",.3f"), L.money(rec["icer"]), status_text, L.money(rec["nmb"])))
            cls.append({"D": "dominated", "ED": "dominated"}.get(status, "frontier"))
        table = _table([self.c("strategy"), self.c("cost"), self.c("qaly"), self.c("life_years"), self.c("inc_cost"),
                        self.c("inc_qaly"), self.c("icer"), self.c("status"), self.c("nmb")], rows, cls="results",
                       row_classes=cls, num_cols=(1, 2, 3, 4, 5, 6, 8))
        best = cea.loc[cea["nmb"].idxmax(), "strategy"]
        return _section("cea", 3, self.h("cea"),
                        _p(L.t("text.cea", wtp=L.money(st["wtp"]), currency=st["currency"])), table,
                        _p(L.t("text.best_nmb", name=best)))

    def costs(self) -> tuple[Markup, set[str]]:
        from sim.economics import CATEGORIES
        L = self.L
        used = set()
        if self.settings is None:
            return _section("costs", 3, self.h("costs"), _p(L.t("text.no_cea"))), used
        rows, cls = [], []
        for cat in CATEGORIES:
            m = f"mean_cost_{cat}"
            if m in self.wide.index:
                rows.append([L.get("cost", cat, cat)] + [L.money(self.metric(m, s)) for s in self.names])
                cls.append("")
                used.add(m)
        for m, key in (("mean_cost", "total"), ("mean_cost_undiscounted", "total_undiscounted")):
            if m in self.wide.index:
                rows.append([L.get("cost", key)] + [L.money(self.metric(m, s)) for s in self.names])
                cls.append("total")
        st = self.settings
        table = _table([self.c("cost_category")] + self.names, rows, cls="results", row_classes=cls,
                       num_cols=range(1, len(self.names) + 1))
        return _section("costs", 3, self.h("costs"), _p(L.t("text.costs", currency=st["currency"],
                                                             year=st["price_year"])), table), used

    def psa_section(self) -> Markup:
        L = self.L
        if self.psa is None:
            return Markup("")
        wtp = self.settings["wtp"] if self.settings else 0.0
        cur = self.settings["currency"] if self.settings else ""
        summ = psa_summary(self.psa, wtp, self.names)
        rows = []
        for rec in summ.to_dict("records"):
            rows.append((rec["strategy"], L.num(rec["draws"], ",d"),
                         f"{L.money(rec['cost'])} ({L.money(rec['cost_lo'])} – {L.money(rec['cost_hi'])})",
                         f"{L.num(rec['qaly'], ',.3f')} ({L.num(rec['qaly_lo'], ',.3f')} – {L.num(rec['qaly_hi'], ',.3f')})",
                         L.pct(rec["p_ce"])))
        table = _table([self.c("strategy"), self.c("draws"), self.c("cost_interval"), self.c("qaly_interval"),
                        self.c("p_ce")], rows, cls="results", num_cols=(1, 2, 3, 4))
        draws = int(self.psa["draw"].nunique())
        return _section("psa", 3, self.h("psa"),
                        _p(L.t("text.psa", draws=L.num(draws, ",d"), source=self.psa_source or "psa.csv",
                               wtp=L.money(wtp), currency=cur)), table)

    def other_metrics(self, used: set[str]) -> Markup:
        L = self.L
        skip = {"patients"}
        rest = [m for m in self.wide.index if m not in used and m not in skip and not m.endswith("_se")
                and m not in ("mean_life_years_undiscounted",)]
        if not rest:
            return Markup("")
        rows = [[Markup(f"<code>{esc(m)}</code>")] + [L.num(self.metric(m, s), ",.4g") for s in self.names]
                for m in rest]
        return _section("other-metrics", 3, self.h("other"), _p(L.t("text.other")),
                        _table([self.c("metric")] + self.names, rows, cls="results",
                               num_cols=range(1, len(self.names) + 1)))

    def results(self) -> Markup:
        clinical, used1 = self.clinical()
        costs, used2 = self.costs()
        used = used1 | used2 | {"mean_qaly", "mean_life_years", "mean_cost"}
        return _section("results", 2, self.h("results"), clinical, self.cea(), costs, self.psa_section(),
                        self.other_metrics(used))

    # -- figures -----------------------------------------------------------------------------------
    def figures(self) -> Markup:
        import sim.plots as plots
        L = self.L
        exact = {code: self.short(code) for code in self.model.therapies.names()}
        exact.update({k: v for k, v in (L.d.get("stage") or {}).items()})
        r = self.r
        ladders = r.ladders()
        specs = [
            ("time_to_cr", L.raw("fig.km"), lambda: plots.plot_time_to_cr(r.patients, colours=self.colours)),
            ("esrd_incidence", L.raw("fig.esrd"), lambda: plots.plot_esrd_incidence(r.patients, colours=self.colours)),
            ("pathway_flow", L.raw("fig.flow"),
             lambda: plots.plot_pathway_flow(r.patients, r.events, ladders, colours=self.colours)),
        ]
        if self.psa is not None:
            specs += self.psa_figures(plots)
        out = []
        for key, title, make in specs:
            try:
                fig = make()
                _localise_figure(fig, L, exact, self.names)
                png = _png(fig, self.figures_dir / key if self.figures_dir is not None else None)
            except Exception as e:  # a figure that cannot be drawn must not lose the whole report
                self.figure_notes.append(_p(L.t("fig.failed", title=title, why=f"{e.__class__.__name__}: {e}"),
                                            "warning"))
                continue
            data = base64.b64encode(png).decode("ascii")
            out.append(f'<figure id="fig-{esc(key)}"><img src="data:image/png;base64,{data}" '
                       f'alt="{esc(L.t("fig.alt", title=title))}"><figcaption>{esc(title)}</figcaption></figure>')
        files = _p(L.t("fig.files"), "note") if self.figures_dir is not None else ""
        return _section("figures", 2, self.h("figures"), Markup("".join(out)), *self.figure_notes, files)

    def psa_figures(self, plots) -> list[tuple[str, str, Any]]:
        """The CE plane and the CEAC (and EVPI) of the PSA, when sim.plots (and sim.voi) have them."""
        import importlib
        L = self.L
        try:
            voi = importlib.import_module("sim.voi")
        except ImportError:
            voi = None
        wtp = float(self.settings["wtp"]) if self.settings else 100_000.0
        cur = self.settings["currency"] if self.settings else None
        psa_settings = getattr(self.sc, "psa", None)
        wtp_max = getattr(psa_settings, "wtp_max", None) or 3 * wtp
        steps = int(getattr(psa_settings, "wtp_steps", None) or 61)
        grid = np.linspace(0.0, wtp_max, steps)
        named = dict(reference=self.names[0], wtp=wtp, currency=cur, colours=self.colours, strategies=self.names,
                     wtp_grid=grid, grid=grid)
        psa = self.psa

        def ce_plane(fn):
            return _as_figure(_call_plot(fn, [psa], named))

        def curves(fn, tables: Sequence[str]):
            def make():
                made = [getattr(voi, t)(psa, grid) for t in tables if voi is not None and hasattr(voi, t)]
                return _as_figure(_call_plot(fn, made or [psa], named))
            return make

        specs = []
        wanted = [("ce_plane", "plot_ce_plane", L.raw("fig.ce_plane"), lambda fn: (lambda: ce_plane(fn))),
                  ("ceac", "plot_ceac", L.raw("fig.ceac"), lambda fn: curves(fn, ("ceac", "ceaf")))]
        if voi is not None and hasattr(voi, "evpi") and hasattr(plots, "plot_evpi"):
            wanted.append(("evpi", "plot_evpi", L.raw("fig.evpi"), lambda fn: curves(fn, ("evpi",))))
        for key, fname, title, maker in wanted:
            fn = getattr(plots, fname, None)
            if fn is None:
                self.figure_notes.append(_p(L.t("fig.unavailable", title=title, function=fname), "note"))
                continue
            specs.append((key, title, maker(fn)))
        return specs

    # -- parameters, evidence, events ----------------------------------------------------------------
    def parameters(self) -> Markup:
        L = self.L
        t = self.params
        rows, cls = [], []
        for rec in t.to_dict("records"):
            v = rec["value"]
            if isinstance(v, (float, np.floating)):
                value = _Cell(L.num(float(v), ".6g"), "num")
            elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                value = _Cell(L.num(int(v), "d"), "num")
            else:
                value = Markup(f'<div class="long">{esc(v)}</div>')
            note = str(rec.get("note", "") or "")
            formula = str(rec.get("formula", "") or "")
            if formula:
                note = f"{note} [= {formula}]" if note else f"= {formula}"
            kind = str(rec.get("kind", ""))
            rows.append((Markup(f"<code class='pname'>{esc(rec['parameter'])}</code>"), value, rec.get("unit", ""),
                         self.cite(rec.get("evidence", "")), self.kind_badge(kind), str(rec.get("count", "") or ""),
                         note))
            cls.append("assumption" if kind == "assumption" else "")
        counts = t["kind"].value_counts()
        count_text = ", ".join(f"{L.num(int(counts[k]), ',d')} {L.get('kind', k, k)}" for k in
                               ("evidence", "derived", "assumption", "calibrated") if k in counts)
        table = _table([self.c("parameter"), self.c("value"), self.c("unit"), self.c("evidence"), self.c("kind"),
                        self.c("count"), self.c("note")], rows, cls="params", row_classes=cls)
        return _section("parameters", 2, self.h("parameters"),
                        _p(L.t("text.parameters", n=L.num(len(t), ",d"), counts=count_text)), table)

    def evidence_table(self) -> Markup:
        L = self.L
        rows_by_id = _evidence_rows()

        def key(i: str) -> tuple[str, int]:
            return i[0], int(i[1:])

        rows, cls = [], []
        for eid in sorted(self.cited, key=key):
            rec = rows_by_id[eid]
            if rec["_kind"] == "review":
                what = rec.get("parameter", "")
                value = "; ".join(x for x in (rec.get("value", ""), rec.get("denominator_or_n", ""),
                                              rec.get("time_point", "")) if x)
                cited = rec.get("cited_source_as_in_seed", "").strip()
                source = L.raw("text.review_row").format(cited=cited) if cited else L.raw("text.review_plain")
                status = "–"
            else:
                what = ": ".join(x for x in (rec.get("topic", ""), rec.get("target", "")) if x)
                value = "; ".join(x for x in (rec.get("value", ""), rec.get("time_point", "")) if x)
                source = rec.get("source_title_year", "")
                status = rec.get("verification_status", "")
            flag = _unverified(rec)
            status_cell = (Markup(f'<span class="badge flag-unverified">⚑ {esc(L.raw("text.unverified_flag"))}</span> '
                                  f'{esc(status)}') if flag else status)
            rows.append((Markup(f'<span id="ev-{esc(eid)}">{esc(eid)}</span>'), what, value, source, status_cell))
            cls.append("unverified" if flag else "")
        table = _table([self.c("id"), self.c("what"), self.c("value"), self.c("citation"), self.c("verification")],
                       rows, cls="evidence", row_classes=cls)
        return _section("evidence-cited", 2, self.h("evidence_cited"), _p(L.t("text.evidence_table")), table)

    def events(self) -> Markup:
        from sim.model.events import EVENTS
        L = self.L
        ev = self.r.events
        counts = ev.groupby(["event", "strategy"]).size() if len(ev) else pd.Series(dtype=int)
        names = list(EVENTS) + [e for e in pd.unique(ev["event"]) if e not in EVENTS] if len(ev) else list(EVENTS)
        rows = []
        for e in names:
            meaning = EVENTS.get(e, "–") if L.lang == "en" else L.get("event", e, EVENTS.get(e, "–"))
            rows.append([Markup(f"<code>{esc(e)}</code>"), meaning]
                        + [L.num(int(counts.get((e, s), 0)), ",d") for s in self.names])
        table = _table([self.c("event"), self.c("meaning")] + self.names, rows, cls="events",
                       num_cols=range(2, 2 + len(self.names)))
        return _section("events", 2, self.h("events"), _p(L.t("text.events")), table)

    def reproduce(self) -> Markup:
        L = self.L
        cmd = self.command or default_command(self.r, lang=L.lang)
        return _section("reproduce", 2, self.h("reproduce"),
                        _p(L.t("text.reproduce", version=self.version, python=platform.python_version())),
                        Markup(f"<pre><code>{esc(cmd)}</code></pre>"))

    # -- the document --------------------------------------------------------------------------------
    def document(self) -> str:
        L = self.L
        head = self.header()
        cheers = self.cheers()
        methods = self.methods()
        results = self.results()
        figures = self.figures()
        params = self.parameters()
        evidence = self.evidence_table()          # after everything that cites evidence
        events = self.events()
        reproduce = self.reproduce()
        unverified = sum(1 for i in self.cited if _unverified(_evidence_rows()[i]))
        methods = Markup(methods.replace("<!--EVIDENCE-->", self.evidence_text(), 1).replace(
            "<li><!--UNVERIFIED--></li>", f"<li>{L.t('text.unverified', n=unverified)}</li>" if unverified else "", 1))
        footer = f'<footer><p>{esc(L.t("text.footer", version=self.version, date=self.date))}</p></footer>'
        title = f"{self.h('title')} – {self.sc.name}"
        body = "".join([head, self.toc(), "<main>", cheers, methods, results, figures, params, evidence, events,
                        reproduce, "</main>", footer])
        return (f'<!DOCTYPE html>\n<html lang="{esc(L.lang)}">\n<head>\n<meta charset="utf-8">\n'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f'<meta name="generator" content="lnsim {esc(self.version)}">\n'
                f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


_CSS = """
:root{--ink:#1d2733;--muted:#5b6776;--line:#d5dbe3;--band:#f4f6f9;--accent:#1f5f99;--warn:#fff4df;--warnline:#e0a03a}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
line-height:1.45;margin:0 auto;max-width:1180px;padding:1.5rem 1.5rem 3rem;font-size:15px}
h1{font-size:1.7rem;margin:.2rem 0 .3rem;color:var(--accent)}
h2{font-size:1.35rem;border-bottom:2px solid var(--accent);padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.12rem;margin-top:1.6rem}
h4{font-size:1rem;margin-top:1.2rem}
.subtitle{color:var(--muted);margin-top:0}
a{color:var(--accent)}
nav ol{margin:.2rem 0;padding-left:1.4rem}
nav>ol>li{margin:.15rem 0}
.scroll{overflow-x:auto;margin:.6rem 0}
table{border-collapse:collapse;width:100%;font-size:.88rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid var(--line);padding:.3rem .45rem;vertical-align:top;text-align:left}
thead th{background:var(--band);position:sticky;top:0}
tbody tr:nth-child(even) td{background:#fafbfc}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.group th{background:#e8eef6;font-weight:600}
tr.total th,tr.total td{font-weight:600;border-top:2px solid var(--ink)}
tr.dominated td,tr.dominated th{color:var(--muted)}
table.meta,table.narrow{width:auto}
table.meta th{background:var(--band);white-space:nowrap}
tr.assumption td,tr.assumption th{background:var(--warn)!important}
tr.unverified td,tr.unverified th{background:#fdecec!important}
tr.exploratory td,tr.exploratory th{background:#f1ecfa!important}
tr.gap td,tr.gap th{color:var(--muted)}
.gap{font-style:italic}
.badge{display:inline-block;padding:0 .35rem;border-radius:.6rem;font-size:.78rem;white-space:nowrap;
border:1px solid var(--line);background:#fff}
.badge.kind-assumption{border-color:var(--warnline);background:#ffe3b0;font-weight:600}
.badge.kind-evidence{border-color:#7bb37b;background:#e6f4e6}
.badge.kind-derived{border-color:#7aa6d6;background:#e5effa}
.badge.kind-calibrated{border-color:#a08ad0;background:#efe9fa}
.badge.flag-unverified{border-color:#d46a6a;background:#fbdada;font-weight:600}
.muted{color:var(--muted)}
.note{color:var(--muted);font-size:.9rem}
.warning{background:var(--warn);border-left:4px solid var(--warnline);padding:.4rem .6rem}
ol.ladder{margin:0;padding-left:1.2rem}
table.params td:nth-child(7),table.evidence td:nth-child(4){min-width:18rem}
table.protocols td:nth-child(5){min-width:14rem}
figure{margin:1.2rem 0;text-align:center}
figure img{max-width:min(100%,860px);height:auto;border:1px solid var(--line)}
div.long{word-break:break-word;max-width:16rem;font-size:.8rem}
code.pname{word-break:break-all}
table.params th:first-child{min-width:11rem}
th .muted{font-weight:normal}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
details summary{cursor:pointer;color:var(--accent);margin:.4rem 0}
pre{background:var(--band);padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
footer{margin-top:3rem;color:var(--muted);font-size:.85rem;border-top:1px solid var(--line)}
@media print{body{max-width:none;font-size:11px}thead th{position:static}nav{display:none}
section{break-inside:auto}figure,tr{break-inside:avoid}details>*{display:block}}
""".strip()


def _today() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).date().isoformat()
    return dt.date.today().isoformat()


def default_command(result, *, lang: str = "en", out: str | Path | None = None, psa: str | Path | None = None,
                    overrides: Sequence[str] = ()) -> str:
    """The ``lnsim report`` command line that reproduces a report of ``result``."""
    scenario_file = str(result.model.source).split(" with --set ")[0]
    args = ["lnsim", "report", scenario_file, "--patients", str(result.n_patients), "--seed", str(result.seed)]
    for o in overrides:
        args += ["--set", o]
    if lang != "en":
        args += ["--lang", lang]
    if psa is not None:
        args += ["--psa", str(psa)]
    args += ["--out", str(out) if out is not None else "DIR"]
    return shlex.join(args)


def html_report(result, lang: str = "en", *, psa: pd.DataFrame | None = None, psa_source: str | None = None,
                command: str | None = None, figures_dir: str | Path | None = None, date: str | None = None) -> str:
    """The HTML report of a run (:class:`sim.simulation.SimulationResult`) as one self-contained string.

    ``psa``: a table draw, strategy, cost, qaly (see :func:`read_psa`) for the PSA table and, when
    :mod:`sim.plots` has ``plot_ce_plane`` / ``plot_ceac``, their figures. ``figures_dir``: also save
    every figure there as PNG and SVG. ``date``: the report date (default today, or
    ``SOURCE_DATE_EPOCH``).
    """
    strings(lang)   # InputError for an unknown language
    if psa is not None:
        check_psa_strategies(psa, [s.name for s in result.model.scenario.strategies], psa_source or "psa")
    return _Report(result, lang, psa, psa_source, command,
                   Path(figures_dir) if figures_dir is not None else None, date).document()


def write_report(result, out_dir: str | Path, *, lang: str = "en", psa: pd.DataFrame | None = None,
                 psa_source: str | None = None, overwrite: bool = False, command: str | None = None,
                 date: str | None = None) -> Path:
    """Write ``report.html`` and ``figures/`` (PNG and SVG) to ``out_dir``; returns the report's path.

    Everything is written to a temporary folder beside ``out_dir`` first and renamed into place, so a
    failure leaves nothing half-written. A non-empty ``out_dir`` is refused unless ``overwrite``; with
    ``overwrite`` the report and its figures are replaced and other files in the folder are kept.
    """
    from sim.outputs import check_new_folder, stage_dir
    out = check_new_folder(Path(out_dir), overwrite)
    strings(lang)
    tmp = stage_dir(out)
    try:
        text = html_report(result, lang, psa=psa, psa_source=psa_source, command=command,
                           figures_dir=tmp / FIGURES_DIR, date=date)
        (tmp / FIGURES_DIR).mkdir(exist_ok=True)
        with open(tmp / REPORT_FILE, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        if not out.exists() or (out.is_dir() and not any(out.iterdir())):
            if out.exists():
                out.rmdir()
            os.replace(tmp, out)
            return out / REPORT_FILE
        stale = tmp / ".stale"
        if (out / FIGURES_DIR).exists() or (out / FIGURES_DIR).is_symlink():
            os.replace(out / FIGURES_DIR, stale)
        os.replace(tmp / FIGURES_DIR, out / FIGURES_DIR)
        os.replace(tmp / REPORT_FILE, out / REPORT_FILE)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return out / REPORT_FILE
