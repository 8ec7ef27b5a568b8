"""Readable reports of a run: the console summary table, the incremental-analysis text block and
the self-contained HTML report of ``lnsim report``.

The HTML report (:func:`html_report`, written by :func:`write_report`) is one file with its CSS
inline and its figures embedded as base64 PNG; it has no scripts and no links outside itself. It
holds the scenario, the CHEERS 2022 items a reader needs (as a checklist table and as sections),
the results tables, every figure of :mod:`sim.reporting.plots` (the CE plane and CEAC too when a PSA result
is given and :mod:`sim.reporting.plots` has them), the parameter table with sources and flagged assumptions,
the evidence rows cited and the event vocabulary. Its text is in English or Spanish (``lang``),
from ``sim/data/report_strings.yaml``; parameter notes and other text read from the model's data
files stay in English, which the Spanish report says. Every piece of text is HTML-escaped.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sim.reporting.evidence import _evidence_ids, _evidence_links, _evidence_rows, _unverified
from sim.reporting.html import _CSS, Markup, _Cell, _link, _p, _section, _table, esc
from sim.reporting.language import _Lang, strings
from sim.reporting.psa_results import check_psa_strategies
from sim.reporting.report_figures import _FigureSections
from sim.reporting.report_methods import CHEERS_SECTIONS, _MethodsSections
from sim.reporting.report_results import _ResultsSections

REPORT_FILE = "report.html"
FIGURES_DIR = "figures"


class _Report(_MethodsSections, _ResultsSections, _FigureSections):
    """One HTML report: the header, contents, appendices and the document; the other sections come
    from :mod:`sim.reporting.report_methods`, :mod:`sim.reporting.report_results` and
    :mod:`sim.reporting.report_figures`."""

    def __init__(self, result, lang: str, psa: pd.DataFrame | None, psa_source: str | None,
                 command: str | None, figures_dir: Path | None, date: str | None):
        import sim
        from sim.reporting.run_output import parameter_table
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
        from sim.reporting.plots import strategy_colours
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
        from sim.reporting.plots import ladder_order
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
    """The HTML report of a run (:class:`sim.engine.simulation.SimulationResult`) as one self-contained string.

    ``psa``: a table draw, strategy, cost, qaly (see :func:`read_psa`) for the PSA table and, when
    :mod:`sim.reporting.plots` has ``plot_ce_plane`` / ``plot_ceac``, their figures. ``figures_dir``: also save
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
