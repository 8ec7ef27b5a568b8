"""The report's CHEERS 2022 checklist and methods sections (perspective, horizon, discounting,
currency, population, comparators, outcomes, valuation, model, evidence, assumptions, uncertainty)."""
from __future__ import annotations

import html
from typing import Mapping

import pandas as pd

from sim.reporting.evidence import _evidence_rows, _unverified
from sim.reporting.html import Markup, _Cell, _link, _p, _section, _table, _ul, esc

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


#: categorical patient attributes whose category names the report translates (report_strings.yaml)
_NAMED_CATEGORIES = ("ancestry", "chronicity", "lookalike")


class _MethodsSections:
    """Sections of :class:`sim.reporting.report._Report`: the CHEERS checklist and the methods."""

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
