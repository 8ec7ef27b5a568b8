"""Hazard clocks: when death and ESRD happen along a patient's own history of health states.

Each patient has one standard-exponential threshold per clock (death, ESRD, transplant, graft
failure, and one per renal flare), drawn in advance. An event happens when the hazard accumulated
along the patient's history reaches its threshold. The hazards are piecewise constant in time
(:mod:`sim.model.hazards` builds the tables: breakpoints, cumulative hazard at each breakpoint, rates); a
change of health state banks the hazard used so far and restarts the clock's reference, and an
adverse event that damages the kidney multiplies the ESRD hazard from then on (``esrd_k``).

Written for the compiled core (numba) and plain Python alike: :func:`bisect_right` is Python's
``bisect.bisect_right`` over the first ``n`` elements of a non-decreasing table (every table here is),
and negative indices wrap as Python's do. The death table read is always that of the current health
state (``m.d_slot[p.state]``: states with equal hazards share one), written when the patient entered
it (:func:`sim.model.course.set_state`).
"""
from __future__ import annotations

from sim.model import layout as L
from sim.model.jit import core, inlined

INF = L.INF


@inlined
def bisect_right(a, n, x):
    """``bisect.bisect_right(a[:n], x)`` for a non-decreasing ``a`` (as every table here is). The
    range is halved without a jump that depends on the data (the step is a conditional move), so the
    processor has no branch to mispredict: a patient's clocks are searched at every change of health
    state, and mispredicted branches were most of their cost."""
    if n <= 0:
        return 0
    base = 0
    m = n
    while m > 1:
        half = m // 2
        if not x < a[base + half]:
            base += half
        m -= half
    return base if x < a[base] else base + 1


@inlined
def bisect_from(a, n, x, j):
    """``bisect.bisect_right(a[:n], x)`` searched from a guess ``j``: the same index (for ``x`` not
    NaN), found in a step or two when ``x`` has moved little since the guess was found (a patient's
    clock moves forward)."""
    if j > n:
        j = n
    while j < n and a[j] <= x:
        j += 1
    while j > 0 and a[j - 1] > x:
        j -= 1
    return j


@inlined
def cumulative(bps, n_bps, cum, rates, t):
    """Cumulative hazard at time ``t`` of a piecewise-constant hazard (``n_bps`` breakpoints)."""
    return cumulative_in(bps, n_bps, cum, rates, t, bisect_right(bps, n_bps, t))


@inlined
def cumulative_in(bps, n_bps, cum, rates, t, k):
    """:func:`cumulative`, given ``k = bisect_right(bps[:n_bps], t)``."""
    j = k - 1
    n_rates = n_bps - 1
    if j >= n_rates:
        j = n_rates - 1
    jb = j + n_bps if j < 0 else j            # Python's negative indexing of lists of two lengths
    jr = j + n_rates if j < 0 else j
    return cum[jb] + rates[jr] * (t - bps[jb])


@inlined
def time_reaching(bps, n_bps, cum, rates, target):
    """First time the cumulative hazard reaches ``target`` (inf if never within the table)."""
    j = bisect_right(cum, n_bps, target) - 1
    n_rates = n_bps - 1
    jr = j + n_rates if j < 0 else j
    if j >= n_rates or rates[jr] <= 0.0:      # the tables' hazards are all positive or all zero
        return INF
    jb = j + n_bps if j < 0 else j
    return bps[jb] + (target - cum[jb]) / rates[jr]


@inlined
def pre_esrd(state):
    return state <= L.COMPLETE


@inlined
def death_time(m, p):
    """When the death clock rings if the patient stays in the current health state."""
    s = m.d_slot[p.state]                     # the current state's death table
    target = p.e_death - p.used_death + p.hd_since
    return time_reaching(p.d_bps, m.n_bps, p.d_cum[s], p.d_rates[s], target)


@inlined
def esrd_time(p):
    """When the ESRD clock rings if the patient stays in the current health state (inf on RRT)."""
    s = p.state
    if not pre_esrd(s):
        return INF
    target = (p.e_esrd - p.used_esrd) / p.esrd_k + p.he_since
    return time_reaching(p.e_bps, 3, p.e_cum[s], p.e_rates[s], target)


@inlined
def clock_times(m, p):
    """(death_time, esrd_time), computed once per change of the clocks (a change of health state, a
    kidney-damaging adverse event): every wait in between asks again."""
    if not p.clocks_known:
        p.t_death = death_time(m, p)
        p.t_esrd = esrd_time(p)
        p.clocks_known = 1
    return p.t_death, p.t_esrd


@core
def damage_kidney(m, p, now, hr):
    """An adverse event that damages the kidney multiplies the ESRD hazard by ``hr`` from ``now``."""
    rebase(m, p, now)
    p.esrd_k *= hr
    p.clocks_known = 0


@inlined
def death_cumulative(m, p, now):
    """The death clock's cumulative hazard at ``now`` in the current state (the table's breakpoints
    searched from where the clock last was)."""
    n_bps = m.n_bps
    k = bisect_from(p.d_bps, n_bps, now, p.d_at)
    p.d_at = k
    s = m.d_slot[p.state]                     # the current state's death table
    return cumulative_in(p.d_bps, n_bps, p.d_cum[s], p.d_rates[s], now, k)


@inlined
def restart_clocks(m, p, now):
    """The hazard accumulated at ``now`` in the current state: the clocks' reference from now on."""
    s = p.state
    p.hd_since = death_cumulative(m, p, now)
    if pre_esrd(s):
        p.he_since = cumulative(p.e_bps, 3, p.e_cum[s], p.e_rates[s], now)


@inlined
def consume(m, p, now):
    """Bank the hazard accumulated in the current state up to ``now``."""
    p.clocks_known = 0
    s = p.state
    p.used_death += death_cumulative(m, p, now) - p.hd_since
    if pre_esrd(s):
        p.used_esrd += p.esrd_k * (cumulative(p.e_bps, 3, p.e_cum[s], p.e_rates[s], now) - p.he_since)


@inlined
def rebase(m, p, now):
    """Bank the hazards used so far and restart the clocks at ``now`` (before the ESRD multiplier changes)."""
    consume(m, p, now)
    restart_clocks(m, p, now)
