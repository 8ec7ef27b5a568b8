"""The analysis of a finished probabilistic sensitivity analysis, written out: CE plane, CEAC/CEAF,
EVPI (per patient and population), EVPPI by parameter group and Monte Carlo errors, as tables and
figures, and a readable summary (``lnsim psa``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.inputs.psa_settings import PsaSettings
from sim.outputs import write_table


def _group_columns(draws: pd.DataFrame, prefixes: list[str]) -> list[str]:
    return [c for c in draws.columns if c != "draw" and any(c.startswith(p) for p in prefixes)
            and draws[c].std() > 0]


def analyse_psa(model, out_dir: str | Path) -> str:
    """CE plane, CEAC/CEAF, EVPI (per patient and population), EVPPI by parameter group, Monte Carlo
    errors; writes tables and figures into ``out_dir`` and returns a readable summary."""
    from sim.reporting import plots
    from sim.analysis import voi
    from sim.economics.cea import incremental_analysis
    out = Path(out_dir)
    psa = pd.read_csv(out / "psa.csv")
    draws = pd.read_parquet(out / "draws.parquet")
    sc = model.scenario
    settings = sc.psa
    from sim.inputs.economic_tables import resolve_tables
    from sim.inputs.economic_settings import willingness_to_pay
    econ, costs, _ = resolve_tables(sc)
    currency = costs.currency
    wtp = willingness_to_pay(econ, currency)
    grid = settings.wtp_grid(wtp)
    strategies = [s.name for s in sc.strategies]
    means = psa.groupby("strategy", sort=False).agg(cost=("cost", "mean"), qaly=("qaly", "mean"),
                                                    cost_se=("cost", "sem"), qaly_se=("qaly", "sem"),
                                                    life_years=("life_years", "mean")).reindex(strategies)
    means = means.reset_index()
    cea = incremental_analysis(means.rename(columns={"qaly": "effect"})[["strategy", "cost", "effect"]])
    write_table(means, out / "psa_means.csv")
    write_table(cea, out / "psa_cea.csv")
    lines = [f"PSA of '{sc.name}': {psa['draw'].nunique()} draws, strategies {', '.join(strategies)}",
             means.to_string(index=False, float_format=lambda v: f"{v:,.4g}")]
    if len(strategies) > 1:
        prepared = voi.prepare(psa)                 # checked and pivoted once for every measure below
        c = voi.ceac(prepared, grid)
        f = voi.ceaf(prepared, grid)
        e = voi.evpi(prepared, grid, population=_population(settings, econ))
        write_table(c, out / "ceac.csv")
        write_table(f, out / "ceaf.csv")
        write_table(e, out / "evpi.csv")
        plots.save_figure(plots.plot_ce_plane(psa, strategies[0], wtp=wtp, currency=currency), out / "ce_plane")
        plots.save_figure(plots.plot_ceac(c, f, currency=currency), out / "ceac")
        plots.save_figure(plots.plot_evpi(e, currency=currency), out / "evpi")
        groups = {name: cols for name, prefixes in settings.parameter_groups.items()
                  if (cols := _group_columns(draws, prefixes))}
        if groups:                 # a group with too few draws for any regression gets method "none"
            evppi = voi.evppi(prepared, draws, groups, wtp, population=_population(settings, econ))
            write_table(evppi, out / "evppi.csv")
            show = evppi[["group", "n_parameters", "evppi", "evppi_se", "method"]]
            lines.append(f"\nEVPPI per patient at WTP {wtp:,.0f} ({currency}):\n"
                         + show.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
        err = voi.mc_error(prepared, wtp=wtp, reference=strategies[0])
        write_table(err, out / "mc_error.csv")
        at = e.iloc[(e["wtp"] - wtp).abs().argmin()]
        lines.append(f"\nEVPI per patient at WTP {wtp:,.0f}: {at['evpi']:,.2f} {currency}")
    return "\n".join(lines)


def _population(settings: PsaSettings, econ):
    if settings.annual_incidence is None:
        return None
    from sim.analysis.voi import effective_population
    return effective_population(settings.annual_incidence, settings.decision_years, econ.rates()[0])
