"""The report's figures: drawn by :mod:`sim.reporting.plots`, their labels translated, embedded as PNG."""
from __future__ import annotations

import base64
import inspect
import io
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from sim.reporting.html import Markup, _p, _section, esc
from sim.reporting.language import _Lang

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
        """The CE plane and the CEAC (and EVPI) of the PSA, when sim.reporting.plots (and sim.analysis.voi) have them."""
        import importlib
        L = self.L
        try:
            voi = importlib.import_module("sim.analysis.voi")
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
