"""The report's figures: drawn by :mod:`sim.reporting.plots`, their labels translated, embedded as PNG."""
from __future__ import annotations

import base64
import functools
import io
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from sim.reporting.html import Markup, _p, _section, esc
from sim.reporting.language import _Lang


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
        from sim.reporting.plots import save_figure
        png, _ = save_figure(fig, stem)
        return png.read_bytes()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    return buf.getvalue()


class _FigureSections:
    """Sections of :class:`sim.reporting.report._Report`: the figures."""

    # -- figures -----------------------------------------------------------------------------------
    def figures(self) -> Markup:
        import sim.reporting.plots as plots
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
        """The CE plane, the CEAC with its frontier and the EVPI curve of the PSA, at the run's
        willingness to pay and over the scenario's WTP grid (:meth:`sim.inputs.psa_settings.PsaSettings.wtp_grid`)."""
        from sim.analysis import voi
        L = self.L
        if self.settings is None:                      # an uncosted run has no PSA to show
            return []
        wtp, cur = float(self.settings["wtp"]), self.settings["currency"]
        grid = self.sc.psa.wtp_grid(wtp)
        psa, colours = self.psa, self.colours
        prepared = functools.cache(lambda: voi.prepare(psa))   # checked and pivoted once, when first drawn
        return [
            ("ce_plane", L.raw("fig.ce_plane"),
             lambda: plots.plot_ce_plane(psa, self.names[0], wtp=wtp, currency=cur, colours=colours)),
            ("ceac", L.raw("fig.ceac"),
             lambda: plots.plot_ceac(voi.ceac(prepared(), grid), voi.ceaf(prepared(), grid), currency=cur, colours=colours)),
            ("evpi", L.raw("fig.evpi"), lambda: plots.plot_evpi(voi.evpi(prepared(), grid), currency=cur)),
        ]
