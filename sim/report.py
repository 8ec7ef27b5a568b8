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
    return head + "\n" + table.to_string(index=False)
