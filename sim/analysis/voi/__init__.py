"""Probabilistic analysis of PSA results: CE plane, CEAC/CEAF, EVPI, EVPPI, Monte Carlo error.

One measure per module: :mod:`~sim.analysis.voi.ce_plane`, :mod:`~sim.analysis.voi.ceac`,
:mod:`~sim.analysis.voi.ceaf`, :mod:`~sim.analysis.voi.evpi`, :mod:`~sim.analysis.voi.evppi`,
:mod:`~sim.analysis.voi.mc_error` and :mod:`~sim.analysis.voi.one_way` (tornado data); the checked,
pivoted table they share is :func:`~sim.analysis.voi.prepare.prepare`. The package exports them all.

Everything here is a pure function of tidy tables, so it can be applied to the
output of :mod:`sim.analysis.psa` or to any other probabilistic sensitivity analysis.

Inputs
------
``psa``
    One row per (draw, strategy) with columns ``draw, strategy, cost, qaly``:
    the mean (discounted) cost and QALYs per patient of that strategy in that
    parameter draw. Extra columns are ignored. Every draw must contain every
    strategy exactly once. Draws are processed in ascending ``draw`` order and
    strategies in order of first appearance (the order :func:`sim.reporting.plots.strategy_colours`
    uses), so results do not depend on the row order of the table.
``draws``
    The draws x parameters table: column ``draw`` plus one numeric column per
    parameter (as written by :func:`sim.analysis.psa.draw_table`).
``wtp`` / ``wtp_grid``
    Willingness to pay per QALY, one number or a 1-d sequence of finite numbers
    >= 0 (kept in the given order).

Net monetary benefit ``NMB = wtp * qaly - cost``; with S strategies and N draws:

* CEAC(wtp, s) = share of draws in which ``s`` has the highest NMB.
* CEAF(wtp) = the strategy with the highest *expected* NMB (the decision under
  current information, identical to the incremental analysis of
  :func:`sim.economics.cea.incremental_analysis` on the mean costs and QALYs) and its CEAC value.
* EVPI(wtp) = E[max_s NMB] - max_s E[NMB] >= 0 (computed as the mean
  opportunity loss ``mean_d(max_s NMB_ds - NMB_ds*)`` with ``s*`` the optimal
  strategy, so it is non-negative by construction and exactly 0 when ``s*`` is
  best in every draw).
* EVPPI(wtp, group) by non-parametric regression (Strong, Oakley & Brennan 2014,
  *Med Decis Making* 34:311-326), see :func:`evppi`.

Ties
----
Wherever one strategy must be picked (the winner of a draw for the CEAC, the
optimal strategy for the CEAF and EVPI), exact ties in NMB go to the strategy
with more QALYs, then to the cheaper one, then to the first by name: the rule
of :func:`sim.economics.cea.net_monetary_benefit` ("adopt when ICER <= WTP").

Monte Carlo error and random numbers
------------------------------------
Standard errors use no global random state. The EVPI bootstrap and the EVPPI
coefficient sampling draw from ``numpy.random.Generator(PCG64(SeedSequence([seed, k...])))``
with ``seed = VOI_SEED`` unless given and a fixed key ``k`` per purpose (EVPI:
``[0]``; EVPPI: ``[1, crc32(group name)]``), so the same inputs always give the
same standard errors, and the SE of one EVPPI group does not depend on which
other groups are requested.
"""


from sim.analysis.voi.ce_plane import ce_plane_data
from sim.analysis.voi.ceac import ceac
from sim.analysis.voi.ceaf import ceaf
from sim.analysis.voi.evpi import effective_population, evpi
from sim.analysis.voi.evppi import GAM_LAMBDAS, evppi
from sim.analysis.voi.mc_error import mc_error
from sim.analysis.voi.one_way import ONE_WAY_COLUMNS, one_way
from sim.analysis.voi.prepare import VOI_SEED, prepare


__all__ = [
    "GAM_LAMBDAS",
    "ONE_WAY_COLUMNS",
    "VOI_SEED",
    "ce_plane_data",
    "ceac",
    "ceaf",
    "effective_population",
    "evpi",
    "evppi",
    "mc_error",
    "one_way",
    "prepare",
]
