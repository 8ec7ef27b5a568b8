"""The report's results sections: clinical outcomes, the incremental analysis, costs by category, the
PSA summary and every other metric of the run."""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

from sim.reporting.html import Markup, _Group, _p, _section, _table, esc
from sim.reporting.psa_results import psa_summary

_CAPACITY = re.compile(r"^(?:wait_(\w+)_mean_days|utilisation_(\w+))$")


class _ResultsSections:
    """Sections of :class:`sim.reporting.report._Report`: the results."""

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
        from sim.inputs.economic_tables import CATEGORIES
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
