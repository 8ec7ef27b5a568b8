"""Readable text for the console: the headline table of a run, the incremental analysis and the
comparison table of a validation run."""
from __future__ import annotations

import numpy as np
import pandas as pd

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


def console_table(table: pd.DataFrame) -> str:
    """A short text view: one line per comparison, grouped by validity."""
    lines = []
    for validity, g in table.groupby("validity", sort=False):
        judged = g["inside"].dropna()
        lines.append(f"\n{validity}: {int(judged.astype(bool).sum())} of {len(judged)} inside the published interval")
        for _, r in g.iterrows():
            inside = r["inside"]
            mark = "   n/a " if pd.isna(inside) else ("inside " if bool(inside) else "OUTSIDE")
            lines.append(f"  {mark} {r['source_id']:<8} {r['comparison'][:62]:<62} "
                         f"published {_fmt(r['published_value'])} [{_fmt(r['published_lower'])}, "
                         f"{_fmt(r['published_upper'])}]  simulated {_fmt(r['simulated_value'])} "
                         f"[{_fmt(r['simulated_lower'])}, {_fmt(r['simulated_upper'])}]")
    return "\n".join(lines).lstrip("\n")


def _fmt(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.3g}"
