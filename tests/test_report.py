"""The HTML report (`lnsim report`): self-contained, complete, escaped, in English and in Spanish."""
from __future__ import annotations

import base64
import re
import string
import subprocess
import sys
from collections import defaultdict
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import sim
from sim.reporting import cli, plots
from sim.errors import InputError
from sim.reporting.report_methods import CHEERS_SECTIONS
from sim.reporting.console import console_summary, cea_text
from sim.reporting.report import html_report, write_report
from sim.reporting.psa_results import read_psa
from sim.reporting.language import strings
from sim.inputs.build import build
from sim.inputs.economic_tables import load_cost_table
from sim.reporting.run_output import parameter_table
from tests.conftest import SCENARIOS, run_lnsim

STRATEGIES = ["rtx_belimumab", "rtx_alone"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


lnsim = run_lnsim


class Page(HTMLParser):
    """Parses a page, checks that every element is closed in order, and keeps each element's text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.buffers: list[list[str]] = []
        self.errors: list[str] = []
        self.texts: dict[str, list[str]] = defaultdict(list)
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
            self.buffers.append([])

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        text = " ".join("".join(self.buffers.pop()).split())
        if self.buffers:
            self.buffers[-1].append(text)
        self.texts[tag].append(text)

    def handle_data(self, data):
        if self.buffers:
            self.buffers[-1].append(data)

    def headings(self) -> list[str]:
        return [t for tag in ("h1", "h2", "h3", "h4") for t in self.texts[tag]]

    def all_texts(self) -> set[str]:
        return {t for texts in self.texts.values() for t in texts}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """`lnsim report` run as a user runs it, in English and in Spanish."""
    base = tmp_path_factory.mktemp("report")
    runs = {lang: subprocess.Popen([sys.executable, "-m", "sim", "report", str(SCENARIOS / "base.yaml"),
                                    "--patients", "150", "--seed", "5", "--out", str(base / lang), "--lang", lang,
                                    "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for lang in ("en", "es")}                          # both at once: they are independent
    out = {}
    for lang, proc in runs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        d = base / lang
        text = (d / "report.html").read_text(encoding="utf-8")
        out[lang] = (d, text, Page(text))
    return out


@pytest.fixture(scope="module")
def small_result():
    return sim.simulate(sim.load_scenario(SCENARIOS / "base.yaml"), patients=40, seed=7)


# ------------------------------------------------------------------------------------------------
# The report as written by the command
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "es"])
def test_report_is_well_formed_and_self_contained(reports, lang):
    d, text, page = reports[lang]
    assert text.startswith("<!DOCTYPE html>")
    assert not page.errors, page.errors[:5]
    assert ("html", {"lang": lang}) in page.tags
    low = text.lower()
    for bad in ('src="http', "src='http", 'href="http', "href='http", "<script", "<link", "@import", "url("):
        assert bad not in low, bad
    images = [a for tag, a in page.tags if tag == "img"]
    assert len(images) >= 3                                   # time to CR, ESRD incidence, pathway flow
    for a in images:
        assert a["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(a["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert a.get("alt")
    hrefs = [a["href"] for tag, a in page.tags if tag == "a" and "href" in a]
    ids = {a["id"] for _, a in page.tags if "id" in a}
    assert hrefs and all(h.startswith("#") and h[1:] in ids for h in hrefs)      # internal links only, all resolve
    for stem in ("time_to_cr", "esrd_incidence", "pathway_flow"):                # figures also saved as files
        assert (d / "figures" / f"{stem}.png").is_file() and (d / "figures" / f"{stem}.svg").is_file()
    assert not [p for p in d.parent.iterdir() if p.name.startswith(".")]         # no temporary folder left


def test_english_report_has_every_section(reports):
    _, text, page = reports["en"]
    en = strings("en")
    heads = page.headings()
    for key in CHEERS_SECTIONS:
        assert en["h"][key] in heads, en["h"][key]
    for key in ("cheers", "results", "clinical", "cea", "costs", "figures", "parameters", "evidence_cited", "events"):
        assert en["h"][key] in heads, key
    # the CHEERS table: every 2022 item by number and name
    cells = page.texts["td"]
    for item, name in en["cheers"].items():
        assert name in cells, name
    sc = sim.load_scenario(SCENARIOS / "base.yaml")
    costs = load_cost_table()
    rate = f"{sc.economics.rates()[0]:.0%}"                   # the scenario's discount rate, as printed
    assert sc.economics.perspective in text and rate in text and costs.currency in text and str(costs.price_year) in text
    assert f"{sc.horizon_years:g} years" in text
    for s in STRATEGIES:
        assert s in page.texts["th"]                           # a column or row of the results tables
    assert "Rituximab followed by belimumab" in text          # readable therapy labels in the protocols
    for label in ("Complete response by 12 months", "ESRD by 10 years (death as competing risk)",
                  "Mean QALYs (discounted)"):
        assert label in page.texts["th"]
    assert "ICER (cost per QALY gained)" in page.texts["th"]
    assert {"on the efficiency frontier", "reference (least costly on the frontier)"} & set(cells)
    assert "Drugs" in page.texts["th"] and "Total (discounted)" in page.texts["th"]
    for event in ("therapy_start", "refractory", "esrd", "end_of_followup"):
        assert event in page.texts["code"]


def test_parameter_table_has_sources_and_flags_assumptions(reports):
    _, text, page = reports["en"]
    assert '<a href="#ev-B42">B42</a>' in text and 'id="ev-B42"' in text
    model = build(sim.load_scenario(SCENARIOS / "base.yaml"))
    table = parameter_table(model)
    n_assumed = int((table["kind"] == "assumption").sum())
    rows = re.findall(r"<tr class=\"assumption\"><th scope=\"row\"><code class='pname'>", text)
    assert len(rows) == n_assumed > 0
    assert "⚑ assumption" in page.texts["span"]
    for name in ("smr_lupus_nephritis", "second_induction_response_or", "therapy.rituximab.response.complete"):
        assert name in page.texts["code"]
    assert f"{len(table)} parameters" in text


def test_spanish_report_is_in_spanish(reports):
    _, text, page = reports["es"]
    es, en = strings("es"), strings("en")
    heads = page.headings()
    for key in CHEERS_SECTIONS:
        assert es["h"][key] in heads
    for word in ("Perspectiva", "Horizonte temporal", "Tasas de descuento", "Población de estudio",
                 "Supuestos principales y limitaciones"):
        assert word in heads
    for term in ("nefritis lúpica", "respuesta completa", "ERCT", "AVAC", "RCEI", "Beneficio monetario neto",
                 "se muestran en inglés", "⚑ supuesto", "sistema de salud"):
        assert term in text, term
    assert "Respuesta completa a los 12 meses" in page.texts["th"]
    # no English heading, column header, metric, CHEERS item or label anywhere as an element's text
    english = set()
    for group in ("h", "col", "group", "metric", "cheers", "attr", "cost", "status", "kind", "stage", "reentry"):
        for key, value in en[group].items():
            if isinstance(value, str) and es[group][key] != value and "{" not in value:
                english.add(value)
    leaked = english & page.all_texts()
    assert not leaked, sorted(leaked)[:10]
    assert not set(heads) & {en["h"][k] for k in en["h"]} - {es["h"][k] for k in es["h"]}


def test_strings_complete_in_both_languages():
    en, es = strings("en"), strings("es")

    def leaves(d, path=()):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, path + (k,))
            else:
                yield path + (k,), v

    es_leaves = dict(leaves(es))
    fields = lambda s: sorted({f for _, f, _, _ in string.Formatter().parse(s) if f}) if isinstance(s, str) else []
    for path, value in leaves(en):
        if path[0] in ("figtext", "figpatterns", "figphrases"):
            continue                                           # what to translate inside figures: Spanish only
        assert path in es_leaves, path
        if isinstance(value, list):
            assert isinstance(es_leaves[path], list) and len(es_leaves[path]) == len(value), path
            continue
        assert fields(value) == fields(es_leaves[path]), path  # same placeholders in both languages
    with pytest.raises(InputError, match="unknown report language.*allowed: en, es"):
        strings("fr")


# ------------------------------------------------------------------------------------------------
# Bad input, overwriting, escaping
# ------------------------------------------------------------------------------------------------

def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    r = lnsim("report", SCENARIOS / "missing.yaml", "--out", out)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "scenario file not found" in r.stderr
    cases = [
        (["--patients", "0"], "--patients"),
        (["--seed", "-1"], "--seed"),
        (["--set", "horizon_years=-5"], "horizon_years"),
        (["--set", "no_such_key=1"], "no_such_key"),
        (["--psa", str(tmp_path / "no_psa")], "--psa"),
    ]
    for extra, needle in cases:
        code = cli.main(["report", str(SCENARIOS / "base.yaml"), "--out", str(out), "--quiet", *extra])
        err = capsys.readouterr().err
        assert code == 2, extra
        assert needle in err and "Traceback" not in err, (extra, err)
    with pytest.raises(SystemExit) as e:                       # argparse: unknown language
        cli.main(["report", str(SCENARIOS / "base.yaml"), "--out", str(out), "--lang", "fr"])
    assert e.value.code == 2
    capsys.readouterr()
    assert not out.exists()
    # a non-empty folder is refused without --overwrite, and left as it was
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert cli.main(["report", str(SCENARIOS / "base.yaml"), "--out", str(out), "--patients", "10"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]     # no temporary folder left behind


def test_overwrite_replaces_the_report_and_keeps_other_files(tmp_path, small_result):
    out = tmp_path / "rep"
    p = write_report(small_result, out, date="2024-01-02")
    assert p == out / "report.html" and "2024-01-02" in p.read_text(encoding="utf-8")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write_report(small_result, out)
    write_report(small_result, out, lang="es", overwrite=True, date="2024-03-04")
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "2024-03-04" in text and 'lang="es"' in text
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"{s}.{x}" for s in ("time_to_cr", "esrd_incidence", "pathway_flow") for x in ("png", "svg"))
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_all_text_is_escaped(tmp_path):
    sc = sim.load_scenario(SCENARIOS / "base.yaml", ['description=<script>alert("x")</script> & <b>',
                                                     'strategies.rtx_alone.description=<img src=x onerror=y>'])
    result = sim.simulate(sc, patients=20, seed=1)
    text = html_report(result)
    assert "<script" not in text and "<b>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in text
    assert not Page(text).errors


def test_console_summary_and_cea_text_still_work(small_result):
    text = console_summary(small_result)
    assert "classed refractory" in text and "Incremental analysis" in text
    assert "ICER" in cea_text(small_result.cea)


# ------------------------------------------------------------------------------------------------
# PSA: the table always, the CE plane and CEAC when sim.reporting.plots has them
# ------------------------------------------------------------------------------------------------

def _psa_folder(tmp_path, strategies=STRATEGIES, columns=("draw", "strategy", "cost", "qaly")):
    rng = np.random.default_rng(1)
    rows = [{"draw": d, "strategy": s, "cost": 350_000 * rng.lognormal(0, 0.1) + 30_000 * i,
             "qaly": 12.3 + 0.05 * i + rng.normal(0, 0.2), "life_years": 18.0}
            for d in range(30) for i, s in enumerate(strategies)]
    folder = tmp_path / "psa"
    folder.mkdir()
    pd.DataFrame(rows)[list(columns) + (["life_years"] if "life_years" not in columns else [])].to_csv(
        folder / "psa.csv", index=False)
    return folder


def _figure(xlabel: str) -> Figure:
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel(xlabel)
    return fig


def test_a_psa_figure_that_fails_leaves_a_note_and_the_rest_of_the_report(tmp_path, small_result, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("no points to draw")
    monkeypatch.setattr(plots, "plot_ceac", broken)
    psa, src = read_psa(_psa_folder(tmp_path))
    text = html_report(small_result, psa=psa, psa_source=src)
    page = Page(text)
    assert not page.errors
    assert "Probabilistic sensitivity analysis" in page.headings()
    assert "Probability cost-effective" in page.texts["th"]
    assert "ValueError: no points to draw" in text
    assert len([1 for tag, _ in page.tags if tag == "img"]) == 5          # 3 of the run, CE plane, EVPI


def test_psa_figures_are_drawn_at_the_runs_threshold_and_grid(tmp_path, small_result, monkeypatch):
    """The CE plane against the first strategy at the run's willingness to pay; the CEAC, its frontier
    and the EVPI over the scenario's WTP grid (0 to 3 x WTP in 61 steps by default)."""
    calls = []

    def plot_ce_plane(psa, reference, wtp=None, currency=None, colours=None):
        calls.append(("ce_plane", reference, wtp, currency, len(psa)))
        return _figure("Incremental QALYs")

    def plot_ceac(ceac, ceaf=None, currency=None, colours=None):
        calls.append(("ceac", ceac["wtp"].max(), ceac["wtp"].nunique(), type(ceaf).__name__, currency))
        return _figure("Willingness to pay per QALY")

    def plot_evpi(evpi, currency=None):
        calls.append(("evpi", evpi["wtp"].max(), len(evpi)))
        return _figure("Willingness to pay per QALY")

    monkeypatch.setattr(plots, "plot_ce_plane", plot_ce_plane)
    monkeypatch.setattr(plots, "plot_ceac", plot_ceac)
    monkeypatch.setattr(plots, "plot_evpi", plot_evpi)
    folder = _psa_folder(tmp_path)
    out = tmp_path / "rep"
    psa, src = read_psa(folder)
    text = write_report(small_result, out, lang="es", psa=psa, psa_source=src).read_text(encoding="utf-8")
    assert calls == [("ce_plane", "rtx_belimumab", 100_000.0, "USD", 60), ("ceac", 300_000.0, 61, "DataFrame", "USD"),
                     ("evpi", 300_000.0, 61)]
    page = Page(text)
    assert len([1 for tag, _ in page.tags if tag == "img"]) == 6
    assert "Plano de costo-efectividad (análisis de sensibilidad probabilístico)" in page.texts["figcaption"]
    assert (out / "figures" / "ce_plane.png").is_file() and (out / "figures" / "ceac.svg").is_file()


def test_bad_psa_results_are_refused(tmp_path, small_result):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    with pytest.raises(InputError, match="missing column"):
        read_psa(_psa_folder(tmp_path / "a", columns=("draw", "strategy", "cost")))
    psa, src = read_psa(_psa_folder(tmp_path / "b", strategies=["rtx_alone", "someone_else"]))
    with pytest.raises(InputError, match="not those of the scenario"):
        html_report(small_result, psa=psa, psa_source=src)
    with pytest.raises(InputError, match="no psa.csv"):
        read_psa(tmp_path / "c")


def test_capacity_metrics_get_readable_labels(small_result):
    """Waiting times and utilisation of limited services (capacity scenarios) are labelled, not raw."""
    import copy
    r = copy.copy(small_result)
    extra = pd.DataFrame([{"strategy": s, "metric": m, "value": v} for s in STRATEGIES
                          for m, v in (("wait_msc_manufacturing_mean_days", 12.5), ("utilisation_apheresis", 0.8),
                                       ("some_new_metric", 1.0))])
    r.summary = pd.concat([small_result.summary, extra], ignore_index=True)
    en, es = Page(html_report(r)), Page(html_report(r, "es"))
    assert "Mean wait for MSC manufacturing (days)" in en.texts["th"] and "12.5" in en.texts["td"]
    assert "Utilisation of apheresis sessions" in en.texts["th"] and "80.0%" in en.texts["td"]
    assert "Espera media para fabricación de CMM (días)" in es.texts["th"] and "12,5" in es.texts["td"]
    assert "some_new_metric" in en.texts["code"]              # unknown metrics are still shown, by name


def test_psa_figures_with_the_real_plotting_functions(tmp_path, small_result):
    """With sim.reporting.plots' own CE plane / CEAC / EVPI (when present): drawn, translated, no failure notes."""
    assert all(hasattr(plots, f) for f in ("plot_ce_plane", "plot_ceac", "plot_evpi"))
    psa, src = read_psa(_psa_folder(tmp_path))
    for lang, fail in (("en", "could not be drawn"), ("es", "no fue posible")):
        text = html_report(small_result, lang, psa=psa, psa_source=src)
        page = Page(text)
        assert fail not in text and not page.errors
        assert len([1 for tag, _ in page.tags if tag == "img"]) >= 5
