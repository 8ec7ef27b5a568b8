"""Readable reports of a run: the console summary table (HTML report: see the scenarios issue)."""
from __future__ import annotations

import pandas as pd

HEADLINE = [
    ("cr_12m", "complete response by 12 months", "{:.1%}"),
    ("cr_24m", "complete response by 24 months", "{:.1%}"),
    ("response_6m", "any response by 6 months", "{:.1%}"),
    ("median_time_to_cr_years", "median time to complete response (years)", "{:.2f}"),
    ("refractory", "classed refractory", "{:.1%}"),
    ("flares_per_patient_year", "renal flares per patient-year", "{:.3f}"),
    ("esrd_10y", "ESRD by 10 years (death competing)", "{:.1%}"),
    ("death_10y", "death by 10 years", "{:.1%}"),
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
