"""The old compiled port of the pathway, kept only for the PSA's aggregate mode until the batch driver
of the clinical core (:mod:`sim.engine.batch_driver`, :mod:`sim.economics.aggregate`) is as fast.

It re-implements, in one numba kernel over flat buffers, what :mod:`sim.model.pathway` now holds
once; tests/test_batch_aggregate.py checks the two give the same costs, QALYs and life years bit for
bit, and tests/test_golden.py pins the PSA golden. Do not change a clinical rule here: change it in
:mod:`sim.model`, and the comparison test will show this copy is stale. It is to be deleted, with its
exemption in tests/test_layering.py (see docs/architecture.md, "Not yet written once").

What follows is the module's original description (paths as they were then: ``sim.pathway`` is now
:mod:`sim.model.pathway`, ``sim.simulation`` :mod:`sim.engine.run`, ``sim.hazards``
:mod:`sim.model.hazards`, ``sim.streams`` :mod:`sim.engine.streams`).

A fast engine: the SimPy pathway of :mod:`sim.pathway`, compiled, for all patients of a draw at once.

Why and what
------------
Patients compete for nothing unless a scenario sets capacities, so each patient's life is a pure
function of the patient's attributes and pre-drawn random numbers. This module computes exactly
that function with `numba <https://numba.pydata.org>`_: the generators of
:class:`sim.pathway.Pathway` (Figure 2, the Figure 3 ladder, maintenance, flare re-entry, renal
replacement, ``wait`` with its competing clocks) become compiled functions that return a status
code instead of raising ``Died`` / ``ReachedESRD`` / ``EndOfHorizon``, and one compiled kernel
loops over every patient and strategy of a parameter draw. It yields **identical** per-patient
trajectories: the same ``patients``, ``events`` and ``states`` tables as the SimPy engine, row for
row and bit for bit (``pandas.testing.assert_frame_equal(check_exact=True)``), and so the same
costs and QALYs from :func:`sim.economics.evaluate`.

Exactness rests on three things, each checked by ``tests/test_fast_engine.py``:

* **The same random numbers.** Streams are keyed exactly as in :mod:`sim.streams`
  (``SeedSequence(seed, spawn_key=(draw, block, crc32(name)))`` driving a ``PCG64``; the same names,
  shapes, ``#chunk`` suffixes and ``BLOCK_SIZE`` rows). SeedSequence, PCG64 (with LLVM's native
  128-bit integers), ``random()`` and the ziggurat ``standard_exponential`` (numpy's tables, shipped in
  ``sim/data/ziggurat_exp.npz``) are re-implemented in the kernel, so seeding a stream costs well
  under a microsecond instead of about 40-85 us for the numpy objects. Uniform streams are never
  drawn in full: an LCG step is affine, so the uniforms of course ``k`` of patient ``row`` are
  reached by one jump from precomputed tables, and kept for the patient's other strategies.
  Exponential streams (clocks, flare thresholds) are drawn in full per block, as numpy does.
  Cohort attributes use the same uniforms and the very same ``scipy`` quantile functions as
  the population's quantile functions (numpy's streams, scipy's ppf; tests/test_fast_engine.py), called once for all blocks of a draw (they act elementwise).
* **The same floating-point operations in the same order**: ``now + (t - now)`` for SimPy's clock,
  ``bps[j] + (target - cum[j]) / rates[j]`` for the hazard clocks (``bisect_right`` and Python's
  negative indexing included), the same comparisons and tie-breaking order as ``Pathway.wait``,
  ``t_ref + (max_cr - t_ref) * u`` and the other response-time formulas, the death and ESRD tables
  built per patient with the operations of :mod:`sim.hazards`. Without fastmath numba neither
  reorders nor contracts ``a * b + c`` into FMA, and it calls the same libm. Response probabilities
  (``math.log``/``math.exp``) are computed in Python by the expression of
  :meth:`sim.simulation.BlockInputs.response_probability`, once per model for every (therapy,
  class, ancestry, adherence, chronicity band, look-alike or not, line). Values that only depend on
  unchanged inputs are cached (death and ESRD times until the next change of state or rebase of the
  clocks by a kidney-damaging adverse event; a patient's hazard tables on dialysis and after
  transplant are built when first needed); caching a pure function changes no result.
* **The same record order**: events and segments are written per patient in the order the SimPy
  engine records them, which is the order :func:`sim.simulation.simulate` sorts them into.

Two modes
---------
* :func:`simulate_tables` (``sim.simulate(..., engine="fast")``, ``lnsim run --engine fast``): the
  full result tables (``simulate`` then adds the economics exactly as for the SimPy engine).
* :func:`aggregate` / :meth:`FastEngine.aggregate`: for probabilistic sensitivity analysis,
  per-patient discounted and undiscounted cost (also by category), QALYs and life years, priced
  inside the kernel while the patient is simulated, without building event or state tables. The
  rules, tables and checks are those of :func:`sim.economics.evaluate` (its loaders, the same
  course, dose, vial, flow and one-off rules; a drug the table does not price raises only if a
  course of it happens). Sums are taken in another order and ``exp(-delta t)`` is shared between
  flows that start or end at the same time, so the results equal ``evaluate`` to about 1e-12
  relative (tests: 1e-9). ``threads`` splits a draw's patient blocks over threads (the kernel
  releases the GIL).

Scenarios with capacity limits are refused (patients would interact): use the SimPy engine.

Design and speed
----------------
A patient's path is a long chain of data-dependent branches with competing clocks; vectorising it
over patients with numpy would need masks for every branch and many passes, and reproducing the
SimPy arithmetic bit for bit would be fragile. A compiled per-patient loop is simple, exact and
fast: about 2-3 us per trajectory of the base scenario with its economics, against about 350 us
in the SimPy engine (see ``benchmarks/engines.py``). In aggregate mode, a strategy
that reads the same data as strategy 0 until it first enters the ladder (strategies that differ
only in their ladder, as in most comparisons; the work-up of a non-response and the management of
look-alikes come before the ladder, so they must be the same too) is resumed from a snapshot of
strategy 0's state at that point instead of being simulated from the start. Every compiled function takes
the same few flat buffers (model, working state, generator states, records) as typed raw
pointers: passing numpy arrays between compiled functions costs seven machine words each plus an
atomic reference-count increment and decrement per call, which took more than half of the time.
Functions are compiled with ``cache=True``: the first use on a machine compiles for about 25 s
of CPU; later processes load the cache in well under a second.
"""
from __future__ import annotations

import math
import threading

import numpy as np
from sim.model import jit as _jit  # noqa: F401,I001  (the compiled-code cache folder, set before compiling)
from numba import njit, types
from numba.extending import intrinsic

from sim.engine import streams
from sim.engine.rng import (  # noqa: E402  (the compiled streams)
    Cohort, _jump, _jump_tables, _next_double, _seed_pcg, _std_exponential, sample_cohort, seed_words)
from sim.economics.aggregate import discounted_duration  # the pricing rule, written once
from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.model.hazards import _FAR
from sim.inputs.therapies import ISN_CLASSES

# sizes of the dimensions of the response-probability table (class, ancestry, chronicity, look-alike)
_N_CLS, _N_ANC, _N_CHRON, _N_LOOK = len(ISN_CLASSES), len(ANCESTRIES), len(CHRONICITY), len(LOOKALIKES)

# ==============================================================================================
# Codes and memory layout shared by the compiled kernel and the Python wrappers
# ==============================================================================================
#
# Every compiled function takes the same seven flat arrays (few, simple argument types keep
# numba's compile time small):
#
#   mf, mi   the model (float64 / int64): parameters, therapies, strategies, response probabilities,
#            life table, economic inputs; mi starts with a header of sizes and offsets (MI_*, MO_*,
#            FO_*, WO_*, WIO_*, UO_*)
#   wf, wi   working state (float64 / int64): the current patient's hazard tables and thresholds, the
#            current trajectory (S_* / I_* at fixed positions), pending adverse events, economic
#            accumulators, random numbers of the current block, status flags
#   wu       random generator states (uint64): seed words, stream ids, PCG64 states, jump tables
#   rf, rv   the current trajectory's records (events and state segments)

INF = math.inf
# health states, in the order of sim.hazards.HEALTH_STATES
ACT, PAR, COM, DIA, TRA = 0, 1, 2, 3, 4
# therapy labels of the states table: >= 0 a therapy of the compiled model
TH_NONE, TH_SUPPORTIVE = -1, -2
# status codes of the pathway functions (>= DIED ends the life). Figure 2 returns RESP (responding),
# NORESP (refractory: climb the ladder) or NOESC (chronic damage found: no escalation); _wait returns
# UNTIL, FLARE or STOPPED (a severe adverse event stopped the course being judged)
UNTIL, FLARE, RESP, NORESP, STOPPED, NOESC, DIED, ESRD, HORIZON, ABORT = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
# flare re-entry rules
RULE_SAME, RULE_INDUCTION, RULE_LADDER, RULE_STEP, RULE_AGENT = 0, 1, 2, 3, 4
# event codes (names in EVENT_NAMES)
(EV_THERAPY_START, EV_ASSESSMENT, EV_PARTIAL, EV_COMPLETE, EV_SWITCH, EV_REFRACTORY, EV_EXHAUSTED,
 EV_MAINT_START, EV_MAINT_END, EV_FLARE, EV_AE, EV_ESRD, EV_TRANSPLANT, EV_GRAFT_FAILURE, EV_DEATH,
 EV_END, EV_SCREEN, EV_BIOPSY, EV_RECLASS) = range(19)
V_RESPONDING, V_IMPROVING, V_NO_RESPONSE, V_STOPPED = 0, 1, 2, 3
N_V = 4
MAXAE = 8                       # adverse-event kinds per therapy
# kinds of response (Patient.responding[0])
RK_INDUCTION, RK_LADDER, RK_MANAGEMENT = 0, 1, 2
# work-up findings: -1 not worked up (''), then the look-alikes in the order of sim.cohort.LOOKALIKES
# (0 'none', 1 'tma', 2 'aps_nephropathy', 3 'membranous'), 4 'chronic_damage'
WF_NONE, WF_TMA, WF_APS, WF_MEMBRANOUS, WF_CHRONIC = 0, 1, 2, 3, 4
CHRON_HIGH = 2                  # index of 'high' in sim.cohort.CHRONICITY

# model floats at mf[0:N_F]
(F_HORIZON, F_LEAD, F_MAXCR, F_LATECR, F_LATERESP, F_LATEWIN, F_FRATE, F_FHRP, F_SEVSH, F_MAINT, F_TXRATE,
 F_GRRATE, F_SMR, F_DRA, F_DRD, F_DRT, F_ERA, F_ERP, F_ERC, F_ERHR1, F_LABS, F_BIOLA, F_BIOCH, F_ERHRC) = range(24)
F_ERCHR = F_ERHRC + 5           # ESRD hazard ratio per chronicity band (sim.hazards.esrd_multiplier)
N_F = F_ERCHR + 3
# header of mi
(MI_G, MI_FSEV, MI_IND, MI_NS, MI_NT, MI_NK, MI_MAXL, MI_MAXI, MI_NLF, MI_NSLOT, MI_NCHUNK, MI_NSEEDW, MI_ND,
 MI_NO, MI_ECON, MI_REC,
 MO_THI, MO_AEK, MO_AES, MO_STI, MO_LAD, MO_SW, MO_INDA, MO_UM, MO_UK, MO_UJ, MO_THCNI, MO_DSTART, MO_OSTART,
 MO_OTIMES, FO_ORATIO,
 FO_THF, FO_AEP, FO_RESP, FO_STF, FO_LADT, FO_INDW, FO_LF, FO_LM, FO_E, FO_AKC, FO_AKQ, FO_THDUR, FO_DCAP,
 FO_OADMIN, FO_DRATE, FO_ODRUG,
 WO_DB, WO_DC, WO_DR, WO_EB, WO_EC, WO_ER, WO_CLK, WO_FLX,
 WIO_AEK, WIO_CRS, WIO_UOK, WIO_FLOK, WIO_USEDTH, WIO_USEDK,
 UO_SEED, UO_USID, UO_FLSID, UO_UST, UO_WORK, UO_CLKSID, UO_JT, U_JTROWS,
 WO_UCACHE, WIO_UCSTAMP, WO_SNAP, WIO_SNAP, MO_EQUIV,
 FO_AESV, FO_AEHR, MO_WMG, MI_WUP,
 MI_HEADER) = range(79)
UCACHE_K = 8                    # uniforms of elements k < UCACHE_K are kept per patient (all strategies)
# therapy floats / ints (rows of FO_THF / MO_THI)
THF_TREF, THF_ONSET, THF_CRSH, THF_DUR, THF_FHR, THF_FHRY = range(6)
N_THF = 6
THI_STREAM, THI_CSLOT, THI_HASFHR, THI_SEVONLY, THI_NAE = range(5)
N_THI = 5
# strategy floats / ints
STF_FIRST, STF_REASS, STF_RESCT = range(3)
N_STF = 3
STI_NLAD, STI_MAINT, STI_RULE, STI_RSTEP, STI_NIND, STI_SCREEN, STI_BIOPSY, STI_RESCUE, STI_RESKIND = range(9)
N_STI = 9
# wf: the patient, then the trajectory (cleared per trajectory from S_NOW on)
(W_EDEATH, W_EESRD, W_TX0, W_GR0, W_FL0, W_AGE,
 S_NOW, S_SEG0, S_UD, S_UE, S_HD, S_HE, S_PR, S_PC, S_FHR, S_FHRY, S_FHRU, S_SEVP, S_FLEFT, S_TXL, S_GRL,
 S_CRT, S_RT, S_ESRDT, S_DT, S_TXT, S_ENDT, S_CSTART, S_TDEATH, S_TESRD, S_CE0, S_EK) = range(32)
N_S = S_EK + 1
WO_AET = N_S                    # pending adverse-event times (MAXAE)
WO_ACC = WO_AET + MAXAE         # economic accumulators (N_ACC)
C_DRUG, C_ADMIN, C_MONITOR, C_AE, C_FLARE, C_DIAL, C_TX, C_SUPPORT, C_STATE = range(9)   # CATEGORIES order
A_QD, A_QU, A_LYD, A_LYU = 18, 19, 20, 21
N_ACC = 22
WO_UBUF = WO_ACC + N_ACC        # uniforms of the last draw (8)
WO_EXP = WO_UBUF + 8            # exp(-delta * t) of recent times: 2 rates x 4 x (t, value)
WO_FIXED = WO_EXP + 16
# wi: the patient, status, the trajectory (cleared per trajectory from I_STATE on)
(I_ROW, I_CLASS, I_ANC, I_NONADH, I_PIDX, I_FEMALE, I_RRTTAB, I_DRAW, I_BLOCK, I_NEED, I_ERR, I_CAP,
 I_SNAPWANT, I_SNAPSITE, I_SNAPSTEP, I_CHRON, I_LOOK,
 I_STATE, I_THER, I_CTH, I_SEVONLY, I_NFL, I_RKIND, I_RWHERE, I_REFR, I_REFRI, I_HIGH, I_FIRST, I_NAE,
 I_STRAT, I_NEV, I_NSG, I_COPEN, I_CMAINT, I_LASTSEV, I_CLOCKS, I_EXPNEXT, I_FAILED, I_WFIND,
 I_NSTOP, I_STOPKIND) = range(41)
N_I = I_STOPKIND + 1
ERR_NO_SWITCH, ERR_CAPACITY = 1, 2
# economic scalars at mf[FO_E:]
(E_DC, E_DO, E_U0, E_U1, E_U2, E_U3, E_U4, E_UCKD, E_UFM, E_UFS, E_CS0, E_CS1, E_CS2, E_CCKD, E_CBG, E_CDIAL,
 E_CTXF, E_CFS, E_CFM, E_CTX1, E_CBIOP, E_LABS, E_TROUGH, E_CSCREEN) = range(24)
N_E = E_CSCREEN + 1


# ==============================================================================================
# Hazard clocks (sim.hazards, with bisect_right and Python's negative indexing)
# ==============================================================================================

@njit(cache=True, error_model="numpy")
def _bisect_right(a, o, n, x):
    """bisect.bisect_right(a[o:o+n], x) for a sorted a: the number of elements <= x (an upper-bound
    search written so that the compiler can use conditional moves; same result on sorted input)."""
    lo = 0
    while n > 0:
        half = n >> 1
        if a[o + lo + half] <= x:
            lo = lo + half + 1
            n = n - half - 1
        else:
            n = half
    return lo


@njit(cache=True, error_model="numpy")
def _time_reaching(w, ob, nb, oc, nc, orr, nr, target):
    j = _bisect_right(w, oc, nc, target) - 1
    jr = j + nr if j < 0 else j
    if j >= nr or w[orr + jr] <= 0.0:
        return INF
    jb = j + nb if j < 0 else j
    jc = j + nc if j < 0 else j
    return w[ob + jb] + (target - w[oc + jc]) / w[orr + jr]


@njit(cache=True, error_model="numpy")
def _dtab(state):
    """Death table of a health state: partial and complete response share one (same SMR, no excess,
    no floor in sim.hazards.death_tables, hence identical rates and cumulative hazards)."""
    return state if state < PAR + 1 else state - 1


@njit(cache=True, error_model="numpy")
def _death_tables(mf, mi, wf, age, female, t_lo, t_hi):
    """One patient's rows of sim.hazards.death_tables for death tables t_lo..t_hi-1 (0 active
    nephritis, 1 partial or complete response, 2 dialysis, 3 transplant), with the same operations;
    breakpoints too when t_lo == 0."""
    G = mi[MI_G]
    db, dc, dr = mi[WO_DB], mi[WO_DC], mi[WO_DR]
    fa = math.floor(age)
    if t_lo == 0:
        first = 1.0 - (age - fa)
        wf[db] = 0.0
        for k in range(G - 1):
            wf[db + 1 + k] = first + np.float64(k)
        wf[db + G] = _FAR
    lim = np.float64(mi[MI_NLF] - 1)
    lt = mi[FO_LF] if female else mi[FO_LM]
    for s in range(t_lo, t_hi):
        wf[dc + s * (G + 1)] = 0.0
    for j in range(G):
        a = fa + np.float64(j)
        if lim < a:
            a = lim
        bg = mf[lt + np.int64(a)]
        w = wf[db + j + 1] - wf[db + j]
        for s in range(t_lo, t_hi):
            if s == 0:
                m, e, fl = mf[F_SMR], mf[F_DRA], 0.0
            elif s == 1:
                m, e, fl = mf[F_SMR], 0.0, 0.0
            elif s == 2:
                m, e, fl = 1.0, 0.0, mf[F_DRD]
            else:
                m, e, fl = 1.0, 0.0, mf[F_DRT]
            v = m * bg + e
            r = fl if v < fl else v
            wf[dr + s * G + j] = r
            wf[dc + s * (G + 1) + j + 1] = wf[dc + s * (G + 1) + j] + r * w


@njit(cache=True, error_model="numpy")
def _patient_tables(mf, mi, wf, wi, age, female, cls, chron):
    """A patient's hazard tables before ESRD (sim.hazards.death_tables, esrd_tables with the
    patient's esrd_multiplier); those of dialysis and transplant are built when first needed."""
    _death_tables(mf, mi, wf, age, female, 0, 2)
    wf[W_AGE] = age
    wi[I_FEMALE] = female
    wi[I_RRTTAB] = 0
    hr = mf[F_ERHRC + cls] * mf[F_ERCHR + chron]      # hr_class * multiplier
    hr1 = mf[F_ERHR1]
    eb, ec, er = mi[WO_EB], mi[WO_EC], mi[WO_ER]
    wf[eb] = 0.0
    wf[eb + 1] = 1.0
    wf[eb + 2] = _FAR
    for s in range(3):
        base = mf[F_ERA + s]
        r0 = base * hr * hr1
        r1 = base * hr
        wf[er + 2 * s] = r0
        wf[er + 2 * s + 1] = r1
        wf[ec + 3 * s] = 0.0
        wf[ec + 3 * s + 1] = r0
        wf[ec + 3 * s + 2] = r0 + r1 * (_FAR - 1.0)


# ==============================================================================================
# Random numbers of the current block (streams seeded on first use)
# ==============================================================================================

@njit(cache=True, error_model="numpy")
def _draw_u(mi, wf, wi, wu, slot, k, row):
    """The numbers of element ``k`` of ``row`` of uniform stream ``slot`` (chunk ``#k // K``) into
    wf[WO_UBUF:]: a jump straight to their position in the stream."""
    K = mi[mi[MO_UK] + slot]
    m = mi[mi[MO_UM] + slot]
    if k < UCACHE_K:                     # drawn already for this patient (another strategy)?
        ci = slot * UCACHE_K + k
        if wi[mi[WIO_UCSTAMP] + ci] == wi[I_PIDX] + 1:
            oc = mi[WO_UCACHE] + ci * 5
            for i in range(m):
                wf[WO_UBUF + i] = wf[oc + i]
            return
    chunk = k // K
    j = k - chunk * K
    nch = mi[MI_NCHUNK]
    if chunk >= nch:                     # more chunks needed: the caller reruns with more
        if chunk + 1 > wi[I_NEED]:
            wi[I_NEED] = chunk + 1
        for i in range(m):
            wf[WO_UBUF + i] = 0.5
        return
    sc = slot * nch + chunk
    o_st = mi[UO_UST] + 4 * sc
    if wi[mi[WIO_UOK] + sc] == 0:
        _seed_pcg(wu, mi[UO_SEED], mi[MI_NSEEDW], wi[I_DRAW], wi[I_BLOCK], wu[mi[UO_USID] + sc], o_st)
        wi[mi[WIO_UOK] + sc] = 1
    o_jt = mi[UO_JT] + 4 * (mi[mi[MO_UJ] + slot] * mi[U_JTROWS] + row * K + j)
    ow = mi[UO_WORK]
    _jump(wu, o_st, o_jt, ow)
    for i in range(m):
        wf[WO_UBUF + i] = _next_double(wu, ow)
    if k < UCACHE_K:
        ci = slot * UCACHE_K + k
        oc = mi[WO_UCACHE] + ci * 5
        for i in range(m):
            wf[oc + i] = wf[WO_UBUF + i]
        wi[mi[WIO_UCSTAMP] + ci] = wi[I_PIDX] + 1


@njit(cache=True, error_model="numpy")
def _flare_threshold(mi, wf, wi, wu, row, k):
    chunk = k // 16
    j = k - chunk * 16
    if chunk >= mi[MI_NCHUNK]:
        if chunk + 1 > wi[I_NEED]:
            wi[I_NEED] = chunk + 1
        return 1.0
    ox = mi[WO_FLX] + chunk * 4096
    if wi[mi[WIO_FLOK] + chunk] == 0:
        ow = mi[UO_WORK]
        _seed_pcg(wu, mi[UO_SEED], mi[MI_NSEEDW], wi[I_DRAW], wi[I_BLOCK], wu[mi[UO_FLSID] + chunk], ow)
        for i in range(4096):
            wf[ox + i] = _std_exponential(wu, ow)
        wi[mi[WIO_FLOK] + chunk] = 1
    return wf[ox + row * 16 + j]


# ==============================================================================================
# Economics on the fly (the rules of sim.economics.evaluate)
# ==============================================================================================

@njit(cache=True, error_model="numpy")
def _ex(wf, wi, chain, delta, t):
    """exp(-delta * t), remembered for the last 4 times of this rate (event times recur: a segment
    ends where the next begins, courses start and end at segment boundaries)."""
    o = WO_EXP + 8 * chain
    for i in range(4):
        if wf[o + 2 * i] == t:
            return wf[o + 2 * i + 1]
    v = math.exp(-delta * t)
    i = wi[I_EXPNEXT] & 3
    wi[I_EXPNEXT] += 1
    wf[o + 2 * i] = t
    wf[o + 2 * i + 1] = v
    return v


@njit(cache=True, error_model="numpy")
def _flow(wf, wi, cat, rate, t0, t1, dc):
    if t1 < t0:
        t1 = t0
    wf[WO_ACC + cat] += rate * discounted_duration(t0, t1, dc, _ex(wf, wi, 0, dc, t0), _ex(wf, wi, 0, dc, t1))
    wf[WO_ACC + 9 + cat] += rate * (t1 - t0)


@njit(cache=True, error_model="numpy")
def _econ_once(mf, mi, wf, wi, cat, amount, qaly, t):
    if mi[MI_ECON] == 1:
        fe = mi[FO_E]
        dc, do = mf[fe + E_DC], mf[fe + E_DO]
        ec = _ex(wf, wi, 0, dc, t)
        wf[WO_ACC + cat] += amount * ec
        wf[WO_ACC + 9 + cat] += amount
        if qaly != 0.0:
            wf[WO_ACC + A_QD] += qaly * (ec if do == dc else _ex(wf, wi, 1, do, t))
            wf[WO_ACC + A_QU] += qaly


@njit(cache=True, error_model="numpy")
def _econ_segment(mf, mi, wf, wi, state, ther, t0, t1):
    """Costs and QALYs of one health-state segment (every flow of the segment shares its
    discounted duration)."""
    fe = mi[FO_E]
    dc, do = mf[fe + E_DC], mf[fe + E_DO]
    pre = state <= COM
    supportive = pre and (ther == TH_SUPPORTIVE or (state == ACT and ther == TH_NONE))
    if supportive:
        u = mf[fe + E_UCKD]
    elif state == ACT and wi[I_NFL] > 0:        # active nephritis after a renal flare
        u = mf[fe + E_UFS] if wi[I_LASTSEV] == 1 else mf[fe + E_UFM]
    else:
        u = mf[fe + E_U0 + state]
    L = t1 - t0
    ddc = discounted_duration(t0, t1, dc, _ex(wf, wi, 0, dc, t0), _ex(wf, wi, 0, dc, t1))
    ddo = ddc if do == dc else discounted_duration(t0, t1, do, _ex(wf, wi, 1, do, t0), _ex(wf, wi, 1, do, t1))
    wf[WO_ACC + A_QD] += u * ddo
    wf[WO_ACC + A_QU] += u * L
    if pre:
        if supportive:
            r = mf[fe + E_CCKD]
            wf[WO_ACC + C_SUPPORT] += r * ddc
            wf[WO_ACC + 9 + C_SUPPORT] += r * L
        else:
            r = mf[fe + E_CS0 + state]
            wf[WO_ACC + C_STATE] += r * ddc
            wf[WO_ACC + 9 + C_STATE] += r * L
        r = mf[fe + E_CBG]
        wf[WO_ACC + C_SUPPORT] += r * ddc
        wf[WO_ACC + 9 + C_SUPPORT] += r * L
    elif state == DIA:
        r = mf[fe + E_CDIAL]
        wf[WO_ACC + C_DIAL] += r * ddc
        wf[WO_ACC + 9 + C_DIAL] += r * L
    else:
        a = wf[S_TXT] + 1.0
        _flow(wf, wi, C_TX, mf[fe + E_CTXF], t0 if t0 >= a else a, t1, dc)


@njit(cache=True, error_model="numpy")
def _econ_course_end(mf, mi, wf, wi, t_end):
    """Close the open course (therapy_start / maintenance_start) at ``t_end``: the drug,
    administration and monitoring costs of sim.economics._courses."""
    th = wi[I_COPEN]
    if th < 0:
        return
    wi[I_COPEN] = -1
    fe = mi[FO_E]
    dc = mf[fe + E_DC]
    s0 = wf[S_CSTART]
    s1 = t_end if t_end > s0 else s0
    pidx = wi[I_PIDX]
    L = s1 - s0
    f0 = wf[S_CE0]
    dd = discounted_duration(s0, s1, dc, f0, _ex(wf, wi, 0, dc, s1))
    r = mf[fe + E_LABS]
    if mi[mi[MO_THCNI] + th] == 1:
        r2 = mf[fe + E_TROUGH]
        wf[WO_ACC + C_MONITOR] += r * dd + r2 * dd
        wf[WO_ACC + 9 + C_MONITOR] += r * L + r2 * L
    else:
        wf[WO_ACC + C_MONITOR] += r * dd
        wf[WO_ACC + 9 + C_MONITOR] += r * L
    nd = mi[MI_ND]
    od = mi[MO_DSTART]
    for c in range(mi[od + th], mi[od + th + 1]):
        rate = mf[mi[FO_DRATE] + pidx * nd + c]
        if wi[I_CMAINT] == 1:
            stop = s1
        else:
            cap = s0 + mf[mi[FO_DCAP] + c]
            stop = s1 if s1 < cap else cap
        if stop == s1:
            wf[WO_ACC + C_DRUG] += rate * dd
            wf[WO_ACC + 9 + C_DRUG] += rate * L
        else:
            _flow(wf, wi, C_DRUG, rate, s0, stop, dc)
    no = mi[MI_NO]
    oo = mi[MO_OSTART]
    duration = mf[mi[FO_THDUR] + th]
    for c in range(mi[oo + th], mi[oo + th + 1]):
        times = mi[mi[MO_OTIMES] + c]
        step = duration / times
        drug = mf[mi[FO_ODRUG] + pidx * no + c]
        admin = mf[mi[FO_OADMIN] + c]
        ratio = mf[mi[FO_ORATIO] + c]          # exp(-dc * step)
        f = f0
        n = 0
        for k in range(times):               # administered at s0 + k * step while the course lasts
            if s0 + np.float64(k) * step < s1:
                wf[WO_ACC + C_DRUG] += drug * f
                wf[WO_ACC + C_ADMIN] += admin * f
                n += 1
            f *= ratio
        wf[WO_ACC + 9 + C_DRUG] += drug * n
        wf[WO_ACC + 9 + C_ADMIN] += admin * n


# ==============================================================================================
# Bookkeeping of the pathway (record, segments, states, therapies)
# ==============================================================================================

@njit(cache=True, error_model="numpy")
def _record(mi, wi, rf, rv, t, ev, detail):
    if mi[MI_REC] == 1:
        n = wi[I_NEV]
        cap = wi[I_CAP]
        if n < cap:
            rf[n] = t
            rv[n] = ev
            rv[cap + n] = detail
        wi[I_NEV] = n + 1


@njit(cache=True, error_model="numpy")
def _segment(mf, mi, wf, wi, rf, rv, now):
    if now > wf[S_SEG0]:
        if mi[MI_REC] == 1:
            n = wi[I_NSG]
            cap = wi[I_CAP]
            if n < cap:
                rv[2 * cap + n] = wi[I_STATE]
                rv[3 * cap + n] = wi[I_THER]
                rf[cap + n] = wf[S_SEG0]
                rf[2 * cap + n] = now
            wi[I_NSG] = n + 1
        if mi[MI_ECON] == 1:
            _econ_segment(mf, mi, wf, wi, wi[I_STATE], wi[I_THER], wf[S_SEG0], now)
    wf[S_SEG0] = now


@njit(cache=True, error_model="numpy")
def _dpos(mi, wf, now):
    """Where ``now`` falls in the death tables' breakpoints, as sim.hazards.cumulative indexes them:
    (breakpoint / cumulative index, rate index). bisect_right(bps, now) - 1 is the last breakpoint
    <= now; the breakpoints are 0, first, first + 1, ..., so guess it from now - first and check it
    against the stored values."""
    G = mi[MI_G]
    db = mi[WO_DB]
    first = wf[db + 1]
    j = 0
    if now >= first:
        x = now - first
        j = G if x >= G else np.int64(x) + 1
        if j > G:
            j = G
    while j < G and wf[db + j + 1] <= now:
        j += 1
    while j > 0 and wf[db + j] > now:
        j -= 1
    if now < wf[db]:                  # before the first breakpoint: bisect gives -1 (never: now >= 0)
        j = -1
    if j >= G:
        j = G - 1
    jb = j + G + 1 if j < 0 else j
    jr = j + G if j < 0 else j
    return jb, jr


@njit(cache=True, error_model="numpy")
def _epos(mi, wf, now):
    """As _dpos, for the ESRD tables (breakpoints 0, 1, far)."""
    eb = mi[WO_EB]
    k = _bisect_right(wf, eb, 3, now) - 1
    if k >= 2:
        k = 1
    kb = k + 3 if k < 0 else k
    kr = k + 2 if k < 0 else k
    return kb, kr


@njit(cache=True, error_model="numpy")
def _set_state(mf, mi, wf, wi, rf, rv, state):
    now = wf[S_NOW]
    s = wi[I_STATE]
    if state == s:
        return
    if state >= DIA and wi[I_RRTTAB] == 0:
        _death_tables(mf, mi, wf, wf[W_AGE], wi[I_FEMALE], 2, 4)
        wi[I_RRTTAB] = 1
    G = mi[MI_G]
    db, dc, dr = mi[WO_DB], mi[WO_DC], mi[WO_DR]
    # sim.hazards.cumulative for the old state (Patient.consume) and the new one, at the same time
    jb, jr = _dpos(mi, wf, now)
    dt = now - wf[db + jb]
    ts = _dtab(s)
    wf[S_UD] += (wf[dc + ts * (G + 1) + jb] + wf[dr + ts * G + jr] * dt) - wf[S_HD]
    eb, ec, er = mi[WO_EB], mi[WO_EC], mi[WO_ER]
    kb, kr = _epos(mi, wf, now)
    de = now - wf[eb + kb]
    if s <= COM:
        wf[S_UE] += wf[S_EK] * ((wf[ec + 3 * s + kb] + wf[er + 2 * s + kr] * de) - wf[S_HE])
    _segment(mf, mi, wf, wi, rf, rv, now)
    wi[I_STATE] = state
    tn = _dtab(state)
    wf[S_HD] = wf[dc + tn * (G + 1) + jb] + wf[dr + tn * G + jr] * dt
    if state <= COM:
        wf[S_HE] = wf[ec + 3 * state + kb] + wf[er + 2 * state + kr] * de
    wi[I_CLOCKS] = 0


@njit(cache=True, error_model="numpy")
def _rebase(mi, wf, wi):
    """Pathway.rebase at S_NOW: bank the hazards used so far (Patient.consume) and restart the
    clocks' reference there (before a change of the ESRD hazard multiplier S_EK)."""
    now = wf[S_NOW]
    s = wi[I_STATE]
    G = mi[MI_G]
    db, dc, dr = mi[WO_DB], mi[WO_DC], mi[WO_DR]
    jb, jr = _dpos(mi, wf, now)
    ts = _dtab(s)
    cd = wf[dc + ts * (G + 1) + jb] + wf[dr + ts * G + jr] * (now - wf[db + jb])
    wf[S_UD] += cd - wf[S_HD]
    if s <= COM:
        eb, ec, er = mi[WO_EB], mi[WO_EC], mi[WO_ER]
        kb, kr = _epos(mi, wf, now)
        ce = wf[ec + 3 * s + kb] + wf[er + 2 * s + kr] * (now - wf[eb + kb])
        wf[S_UE] += wf[S_EK] * (ce - wf[S_HE])
        wf[S_HE] = ce
    wf[S_HD] = cd
    wi[I_CLOCKS] = 0


@njit(cache=True, error_model="numpy")
def _set_therapy(mf, mi, wf, wi, rf, rv, ther):
    if ther != wi[I_THER]:
        now = wf[S_NOW]
        _segment(mf, mi, wf, wi, rf, rv, now)
        if mi[MI_ECON] == 1:
            _econ_course_end(mf, mi, wf, wi, now)
        wi[I_THER] = ther


@njit(cache=True, error_model="numpy")
def _open_course(mf, mi, wf, wi, th, maint):
    """A therapy_start / maintenance_start event opens a course for the economics; the previous
    course ends here at the latest (sim.economics._courses: a course never outlasts the next)."""
    if mi[MI_ECON] == 1:
        _econ_course_end(mf, mi, wf, wi, wf[S_NOW])
        wi[I_COPEN] = th
        wi[I_CMAINT] = maint
        wf[S_CSTART] = wf[S_NOW]
        dc = mf[mi[FO_E] + E_DC]
        wf[S_CE0] = _ex(wf, wi, 0, dc, wf[S_NOW])
        wi[mi[WIO_USEDTH] + th] = 1


@njit(cache=True, error_model="numpy")
def _close(mf, mi, wf, wi, rf, rv, t, how):
    _segment(mf, mi, wf, wi, rf, rv, t)
    wf[S_ENDT] = t
    if how == EV_DEATH:
        wf[S_DT] = t
    _record(mi, wi, rf, rv, t, how, wi[I_STATE])
    if mi[MI_ECON] == 1:
        _econ_course_end(mf, mi, wf, wi, t)
        do = mf[mi[FO_E] + E_DO]
        chain = 0 if do == mf[mi[FO_E] + E_DC] else 1
        wf[WO_ACC + A_LYD] += discounted_duration(0.0, t, do, 1.0, _ex(wf, wi, chain, do, t))
        wf[WO_ACC + A_LYU] += t


# ==============================================================================================
# Courses (Pathway.start_course / stop_course)
# ==============================================================================================

@njit(cache=True, error_model="numpy")
def _start_course(mf, mi, wf, wi, wu, rf, rv, th, second_line):
    now = wf[S_NOW]
    oti = mi[MO_THI] + th * N_THI
    otf = mi[FO_THF] + th * N_THF
    stream = mi[oti + THI_STREAM]
    ocrs = mi[WIO_CRS] + stream
    k = wi[ocrs]
    wi[ocrs] = k + 1
    row = wi[I_ROW]
    _draw_u(mi, wf, wi, wu, mi[oti + THI_CSLOT], k, row)
    u0, u1, u2, u3, u4 = wf[WO_UBUF], wf[WO_UBUF + 1], wf[WO_UBUF + 2], wf[WO_UBUF + 3], wf[WO_UBUF + 4]
    p_resp = mf[mi[FO_RESP] + (((((th * _N_CLS + wi[I_CLASS]) * _N_ANC + wi[I_ANC]) * 2 + wi[I_NONADH]) * _N_CHRON
                                 + wi[I_CHRON]) * _N_LOOK + wi[I_LOOK]) * 2 + second_line]
    p_cr = p_resp * mf[otf + THF_CRSH]
    t_ref = mf[otf + THF_TREF]
    onset = mf[otf + THF_ONSET]
    t_resp = INF
    t_cr = INF
    if u0 < p_cr:                                    # complete response by the evidence time point
        t_resp = onset + (t_ref - onset) * u1
        t_cr = t_resp + (t_ref - t_resp) * u2
    elif u0 < p_resp:                                # partial response by then; CR may follow
        t_resp = onset + (t_ref - onset) * u1
        if u3 < mf[F_LATECR] and t_ref < mf[F_MAXCR]:
            t_cr = t_ref + (mf[F_MAXCR] - t_ref) * u4
    elif u3 < mf[F_LATERESP]:                        # late partial response
        t_resp = t_ref + mf[F_LATEWIN] * u1
        if u2 < mf[F_LATECR] and t_resp < mf[F_MAXCR]:
            t_cr = t_resp + (mf[F_MAXCR] - t_resp) * u4
    wf[S_PR] = now + t_resp
    wf[S_PC] = now + t_cr
    wi[I_CTH] = th
    # adverse events, sorted by (time, kind name, severe): kept as kind * 2 + severe
    n = 0
    duration = mf[otf + THF_DUR]
    maxae = MAXAE
    oa = th * maxae
    oaek = mi[WIO_AEK]
    for j in range(mi[oti + THI_NAE]):
        _draw_u(mi, wf, wi, wu, mi[mi[MO_AES] + oa + j], k, row)
        a0 = wf[WO_UBUF]
        if a0 < mf[mi[FO_AEP] + oa + j]:
            t = now + duration * wf[WO_UBUF + 1]
            kind = 2 * mi[mi[MO_AEK] + oa + j] + (1 if a0 < mf[mi[FO_AESV] + oa + j] else 0)
            i = n
            while i > 0 and (wf[WO_AET + i - 1] > t or (wf[WO_AET + i - 1] == t and wi[oaek + i - 1] > kind)):
                wf[WO_AET + i] = wf[WO_AET + i - 1]
                wi[oaek + i] = wi[oaek + i - 1]
                i -= 1
            wf[WO_AET + i] = t
            wi[oaek + i] = kind
            n += 1
    wi[I_NAE] = n
    wf[S_FHR] = 1.0
    wf[S_FHRY] = 0.0
    wf[S_FHRU] = -1.0
    if mi[oti + THI_HASFHR] == 1:
        wf[S_FHR] = mf[otf + THF_FHR]
        wf[S_FHRY] = mf[otf + THF_FHRY]
        wi[I_SEVONLY] = mi[oti + THI_SEVONLY]
    _set_therapy(mf, mi, wf, wi, rf, rv, th)
    _record(mi, wi, rf, rv, wf[S_NOW], EV_THERAPY_START, th)
    _open_course(mf, mi, wf, wi, th, 0)
    return now


@njit(cache=True, error_model="numpy")
def _stop_course(wf, wi):
    wf[S_PR] = INF
    wf[S_PC] = INF
    wi[I_NAE] = 0
    wf[S_FHR] = 1.0
    wf[S_FHRY] = 0.0
    wf[S_FHRU] = -1.0


# ==============================================================================================
# Time passing with competing events (Pathway.wait) and what happens on the way
# ==============================================================================================

@njit(cache=True, error_model="numpy")
def _complete(mf, mi, wf, wi, rf, rv, t):
    wf[S_PC] = INF
    _set_state(mf, mi, wf, wi, rf, rv, COM)
    _record(mi, wi, rf, rv, wf[S_NOW], EV_COMPLETE, wi[I_CTH])
    if wf[S_CRT] != wf[S_CRT]:
        wf[S_CRT] = t


@njit(cache=True, error_model="numpy")
def _wait(mf, mi, wf, wi, wu, rf, rv, until, flares, course):
    horizon = mf[F_HORIZON]
    G = mi[MI_G]
    while True:
        if wi[I_NEED] != 0 or wi[I_ERR] != 0:
            return ABORT
        now = wf[S_NOW]
        state = wi[I_STATE]
        # Patient.death_time_from / esrd_time_from: functions of the state and the hazard used, which
        # change only in _set_state; kept until then
        if wi[I_CLOCKS] == 0:
            target = wf[W_EDEATH] - wf[S_UD] + wf[S_HD]
            td = _dtab(state)
            wf[S_TDEATH] = _time_reaching(wf, mi[WO_DB], G + 1, mi[WO_DC] + td * (G + 1), G + 1,
                                          mi[WO_DR] + td * G, G, target)
            if state <= COM:
                target = (wf[W_EESRD] - wf[S_UE]) / wf[S_EK] + wf[S_HE]
                wf[S_TESRD] = _time_reaching(wf, mi[WO_EB], 3, mi[WO_EC] + state * 3, 3, mi[WO_ER] + state * 2, 2,
                                             target)
            else:
                wf[S_TESRD] = INF
            wi[I_CLOCKS] = 1
        t_death = wf[S_TDEATH]
        t_esrd = wf[S_TESRD]
        t_resp = wf[S_PR] if state == ACT else INF
        t_cr = wf[S_PC] if state == PAR else INF
        t_ae = wf[WO_AET] if wi[I_NAE] > 0 else INF
        t_flare = INF
        t_hr = INF
        t_rrt = INF
        rate = 0.0
        remission = state == PAR or state == COM
        if flares and remission:
            rate = mf[F_FRATE] * (mf[F_FHRP] if state == PAR else 1.0)
            severe = mf[F_SEVSH]
            moderate = 1.0 - mf[F_SEVSH]
            if wf[S_FHRU] > now:
                t_hr = wf[S_FHRU]
                if wi[I_SEVONLY] == 1:
                    severe *= wf[S_FHR]
                else:
                    severe, moderate = severe * wf[S_FHR], moderate * wf[S_FHR]
            rate *= severe + moderate
            wf[S_SEVP] = severe / (severe + moderate) if severe + moderate > 0 else 0.0
            if rate > 0.0:
                t_flare = now + wf[S_FLEFT] / rate
        elif state == DIA and wf[S_TXL] < INF and mf[F_TXRATE] > 0:
            rate = mf[F_TXRATE]
            t_rrt = now + wf[S_TXL] / rate
        elif state == TRA and mf[F_GRRATE] > 0:
            rate = mf[F_GRRATE]
            t_rrt = now + wf[S_GRL] / rate
        t = min(until, horizon, t_death, t_esrd, t_resp, t_cr, t_ae, t_flare, t_hr, t_rrt)
        if t > now:
            wf[S_NOW] = now + (t - now)        # SimPy: timeout(t - now) fires at now + delay
        spent = rate * (t - now)
        if flares and remission:
            wf[S_FLEFT] -= spent
        elif state == DIA and t_rrt < INF:
            wf[S_TXL] -= spent
        elif state == TRA and t_rrt < INF:
            wf[S_GRL] -= spent
        env_now = wf[S_NOW]
        if t == t_death:
            _close(mf, mi, wf, wi, rf, rv, env_now, EV_DEATH)
            return DIED
        if t == t_esrd:                          # Pathway.reach_esrd
            _record(mi, wi, rf, rv, env_now, EV_ESRD, 0)
            wf[S_ESRDT] = env_now
            wf[S_PR] = INF
            wf[S_PC] = INF
            wi[I_NAE] = 0
            _set_therapy(mf, mi, wf, wi, rf, rv, TH_NONE)
            _set_state(mf, mi, wf, wi, rf, rv, DIA)
            return ESRD
        if t >= horizon:
            _close(mf, mi, wf, wi, rf, rv, horizon, EV_END)
            return HORIZON
        if t == t_resp:                          # Pathway.respond
            wf[S_PR] = INF
            _set_state(mf, mi, wf, wi, rf, rv, PAR)
            _record(mi, wi, rf, rv, env_now, EV_PARTIAL, wi[I_CTH])
            if wf[S_RT] != wf[S_RT]:
                wf[S_RT] = env_now
            if wf[S_PC] <= env_now:
                _complete(mf, mi, wf, wi, rf, rv, env_now)
        elif t == t_cr:
            _complete(mf, mi, wf, wi, rf, rv, env_now)
        elif t == t_ae:
            oaek = mi[WIO_AEK]
            code = wi[oaek]
            kind = code >> 1
            n = wi[I_NAE]
            for i in range(1, n):
                wf[WO_AET + i - 1] = wf[WO_AET + i]
                wi[oaek + i - 1] = wi[oaek + i]
            wi[I_NAE] = n - 1
            _record(mi, wi, rf, rv, env_now, EV_AE, (wi[I_CTH] * mi[MI_NK] + kind) * 2 + (code & 1))
            if mi[MI_ECON] == 1:
                wi[mi[WIO_USEDK] + kind] = 1
                _econ_once(mf, mi, wf, wi, C_AE, mf[mi[FO_AKC] + kind], -mf[mi[FO_AKQ] + kind], env_now)
            hr = mf[mi[FO_AEHR] + kind]
            if hr != 1.0:                        # e.g. chronic CNI nephrotoxicity: Pathway.rebase
                _rebase(mi, wf, wi)
                wf[S_EK] *= hr
            if (code & 1) == 1 and course:       # a severe event stops the course being judged
                _stop_course(wf, wi)
                wi[I_NSTOP] += 1
                wi[I_STOPKIND] = kind
                return STOPPED
        elif t == t_flare:
            return FLARE
        elif t == t_rrt:                         # Pathway.renal_transition
            if state == DIA:
                _record(mi, wi, rf, rv, env_now, EV_TRANSPLANT, 0)
                _econ_once(mf, mi, wf, wi, C_TX, mf[mi[FO_E] + E_CTX1], 0.0, env_now)
                wf[S_TXT] = env_now
                wf[S_TXL] = INF
                _set_state(mf, mi, wf, wi, rf, rv, TRA)
            else:
                _record(mi, wi, rf, rv, env_now, EV_GRAFT_FAILURE, 0)
                _set_state(mf, mi, wf, wi, rf, rv, DIA)
        if t >= until:
            return UNTIL


# ==============================================================================================
# Figure 2, Figure 3, maintenance and flare re-entry, one life
# ==============================================================================================

@njit(cache=True, error_model="numpy")
def _judge(mi, wf, wi, rf, rv, th, why):
    """Pathway.judge: responding (1), or not (0: the course stops); 'stopped' if a severe adverse
    event ended the course."""
    if wi[I_STATE] == PAR or wi[I_STATE] == COM:
        _record(mi, wi, rf, rv, wf[S_NOW], EV_ASSESSMENT, th * N_V + (V_STOPPED if why == STOPPED else V_RESPONDING))
        return 1
    _record(mi, wi, rf, rv, wf[S_NOW], EV_ASSESSMENT, th * N_V + (V_STOPPED if why == STOPPED else V_NO_RESPONSE))
    _stop_course(wf, wi)
    return 0


@njit(cache=True, error_model="numpy")
def _induction_course(mf, mi, wf, wi, wu, rf, rv, agent, second_line):
    ost = mi[FO_STF] + wi[I_STRAT] * N_STF
    start = _start_course(mf, mi, wf, wi, wu, rf, rv, agent, second_line)
    first = start + mf[ost + STF_FIRST]
    r = _wait(mf, mi, wf, wi, wu, rf, rv, first, False, True)
    if r >= DIED:
        return r
    if r == UNTIL and not (wi[I_STATE] == PAR or wi[I_STATE] == COM) and wf[S_PR] <= first + mf[F_LEAD]:
        _record(mi, wi, rf, rv, wf[S_NOW], EV_ASSESSMENT, agent * N_V + V_IMPROVING)
        r = _wait(mf, mi, wf, wi, wu, rf, rv, start + mf[ost + STF_REASS], False, True)
        if r >= DIED:
            return r
    return RESP if _judge(mi, wf, wi, rf, rv, agent, r) == 1 else NORESP


@njit(cache=True, error_model="numpy")
def _workup(mf, mi, wf, wi, wu, rf, rv):
    """Pathway.refractory_workup: screening for look-alikes, then a repeat biopsy (as the strategy
    sets); done once, the finding is kept."""
    if wi[I_WFIND] >= 0:
        return wi[I_WFIND]
    osti = mi[MO_STI] + wi[I_STRAT] * N_STI
    _draw_u(mi, wf, wi, wu, mi[MI_WUP], 0, wi[I_ROW])        # BlockInputs.workup_uniforms
    u0, u1, u2 = wf[WO_UBUF], wf[WO_UBUF + 1], wf[WO_UBUF + 2]
    look = wi[I_LOOK]
    finding = WF_NONE
    if mi[osti + STI_SCREEN] == 1:
        if (look == WF_TMA or look == WF_APS) and u2 < mf[F_LABS]:
            finding = look
        _record(mi, wi, rf, rv, wf[S_NOW], EV_SCREEN, finding)
        _econ_once(mf, mi, wf, wi, C_MONITOR, mf[mi[FO_E] + E_CSCREEN], 0.0, wf[S_NOW])
    if mi[osti + STI_BIOPSY] == 1 and finding == WF_NONE:
        if look != WF_NONE and u1 < mf[F_BIOLA]:
            finding = look
        elif wi[I_CHRON] == CHRON_HIGH and u0 < mf[F_BIOCH]:
            finding = WF_CHRONIC
        _record(mi, wi, rf, rv, wf[S_NOW], EV_BIOPSY, finding)
        _econ_once(mf, mi, wf, wi, C_MONITOR, mf[mi[FO_E] + E_CBIOP], 0.0, wf[S_NOW])
    wi[I_WFIND] = finding
    return finding


@njit(cache=True, error_model="numpy")
def _course(mf, mi, wf, wi, wu, rf, rv, th, t_assess):
    """Pathway.course_until_assessment: a course until its assessment, ``t_assess`` years after its
    start (or until a severe adverse event stops it)."""
    start = _start_course(mf, mi, wf, wi, wu, rf, rv, th, 0)
    return _wait(mf, mi, wf, wi, wu, rf, rv, start + t_assess, False, True)


@njit(cache=True, error_model="numpy")
def _management(mf, mi, wf, wi, wu, rf, rv, condition):
    """Pathway.lookalike_management: a course of the strategy's management of the look-alike, judged
    at that therapy's assessment time."""
    th = mi[mi[MO_WMG] + wi[I_STRAT] * _N_LOOK + condition]
    r = _course(mf, mi, wf, wi, wu, rf, rv, th, mf[mi[FO_THF] + th * N_THF + THF_TREF])
    if r >= DIED:
        return r
    if _judge(mi, wf, wi, rf, rv, th, r) == 1:
        wi[I_RKIND] = RK_MANAGEMENT
        wi[I_RWHERE] = condition
        return RESP
    return NORESP


@njit(cache=True, error_model="numpy")
def _figure2(mf, mi, wf, wi, wu, rf, rv, agent, initial):
    """Pathway.figure2_induction: RESP, NORESP (refractory: climb the ladder), NOESC (chronic
    damage: no escalation) or a status >= DIED."""
    r = _induction_course(mf, mi, wf, wi, wu, rf, rv, agent, 0)
    if r >= DIED:
        return r
    if r == RESP:
        wi[I_RKIND] = RK_INDUCTION
        wi[I_RWHERE] = agent
        return RESP
    partner = mi[mi[MO_SW] + wi[I_STRAT] * mi[MI_NT] + agent]
    if partner < 0:
        wi[I_ERR] = ERR_NO_SWITCH
        return ABORT
    _record(mi, wi, rf, rv, wf[S_NOW], EV_SWITCH, agent * mi[MI_NT] + partner)
    r = _induction_course(mf, mi, wf, wi, wu, rf, rv, partner, 1)
    if r >= DIED:
        return r
    if r == RESP:
        wi[I_RKIND] = RK_INDUCTION
        wi[I_RWHERE] = partner
        return RESP
    wi[I_FAILED] = 1
    first_time = wi[I_WFIND] == -1
    osti = mi[MO_STI] + wi[I_STRAT] * N_STI
    finding = WF_NONE
    if mi[osti + STI_SCREEN] == 1 or mi[osti + STI_BIOPSY] == 1:
        finding = _workup(mf, mi, wf, wi, wu, rf, rv)
        if wi[I_NEED] != 0:
            return ABORT
    if finding == WF_CHRONIC:                    # no potential for remission: do not escalate
        if first_time:
            _record(mi, wi, rf, rv, wf[S_NOW], EV_RECLASS, finding)
        return NOESC
    if finding != WF_NONE and first_time:        # a look-alike: its own management (once)
        _record(mi, wi, rf, rv, wf[S_NOW], EV_RECLASS, finding)
        r = _management(mf, mi, wf, wi, wu, rf, rv, finding)
        if r >= DIED:
            return r
        if r == RESP:
            return RESP
    wi[I_REFR] = 1
    if initial == 1:
        wi[I_REFRI] = 1
    _record(mi, wi, rf, rv, wf[S_NOW], EV_REFRACTORY, 0)
    return NORESP


@njit(cache=True, error_model="numpy")
def _snapshot(mi, wf, wi, save):
    """Save (or restore) the whole state of the current trajectory: used to resume a strategy that
    differs from strategy 0 only in its ladder where strategy 0 first entered the ladder."""
    of, oi = mi[WO_SNAP], mi[WIO_SNAP]
    nf = WO_FIXED - S_NOW
    ni = N_I - I_STATE
    nx = MAXAE + mi[MI_NT] + 1              # pending adverse-event kinds, course counters (contiguous)
    if save:
        for i in range(nf):
            wf[of + i] = wf[S_NOW + i]
        for i in range(ni):
            wi[oi + i] = wi[I_STATE + i]
        for i in range(nx):
            wi[oi + ni + i] = wi[mi[WIO_AEK] + i]
    else:
        for i in range(nf):
            wf[S_NOW + i] = wf[of + i]
        for i in range(ni):
            wi[I_STATE + i] = wi[oi + i]
        for i in range(nx):
            wi[mi[WIO_AEK] + i] = wi[oi + ni + i]


@njit(cache=True, error_model="numpy")
def _ladder(mf, mi, wf, wi, wu, rf, rv, first_step, site):
    """Pathway.figure3_ladder. ``site`` says where it was entered, for the snapshot of aggregate
    mode: 1 after Figure 2 (or at step 0 after a look-alike's management failed at a flare), 2 at a
    flare's re-entry rule (_resume then starts at the resumed strategy's own re-entry step)."""
    if wi[I_SNAPWANT] == 1 and wi[I_SNAPSITE] == 0:
        _snapshot(mi, wf, wi, True)
        wi[I_SNAPSITE] = site
        wi[I_SNAPSTEP] = first_step
    s = wi[I_STRAT]
    osti = mi[MO_STI] + s * N_STI
    n = mi[osti + STI_NLAD]
    olad = mi[MO_LAD] + s * mi[MI_MAXL]
    oladt = mi[FO_LADT] + s * mi[MI_MAXL]
    rescue = mi[osti + STI_RESCUE]             # after a severe infection (A59), once per climb
    rescued = False
    for i in range(first_step, n):
        step = mi[olad + i]
        if rescued and step == rescue:
            continue
        if i > wi[I_HIGH]:
            wi[I_HIGH] = i
        r = _course(mf, mi, wf, wi, wu, rf, rv, step, mf[oladt + i])
        if r >= DIED:
            return r
        if _judge(mi, wf, wi, rf, rv, step, r) == 1:
            wi[I_RKIND] = RK_LADDER
            wi[I_RWHERE] = i
            return RESP
        if (r == STOPPED and rescue >= 0 and not rescued and step != rescue
                and wi[I_STOPKIND] == mi[osti + STI_RESKIND]):
            rescued = True
            r = _course(mf, mi, wf, wi, wu, rf, rv, rescue, mf[mi[FO_STF] + s * N_STF + STF_RESCT])
            if r >= DIED:
                return r
            if _judge(mi, wf, wi, rf, rv, rescue, r) == 1:
                wi[I_RKIND] = RK_LADDER
                wi[I_RWHERE] = i
                return RESP
    _record(mi, wi, rf, rv, wf[S_NOW], EV_EXHAUSTED, mi[olad + n - 1] if n > 0 else -1)
    return NORESP


@njit(cache=True, error_model="numpy")
def _maintenance(mf, mi, wf, wi, wu, rf, rv):
    mth = mi[mi[MO_STI] + wi[I_STRAT] * N_STI + STI_MAINT]
    _set_therapy(mf, mi, wf, wi, rf, rv, mth)
    _record(mi, wi, rf, rv, wf[S_NOW], EV_MAINT_START, mth)
    _open_course(mf, mi, wf, wi, mth, 1)
    if wf[S_FHRY] > 0:
        wf[S_FHRU] = wf[S_NOW] + wf[S_FHRY]
    r = _wait(mf, mi, wf, wi, wu, rf, rv, wf[S_NOW] + mf[F_MAINT], True, False)
    if r >= DIED:
        return r
    if r == UNTIL:
        _record(mi, wi, rf, rv, wf[S_NOW], EV_MAINT_END, mth)
        _set_therapy(mf, mi, wf, wi, rf, rv, TH_NONE)
        r = _wait(mf, mi, wf, wi, wu, rf, rv, INF, True, False)
        if r >= DIED:
            return r
    # a renal flare: nephritis is active again
    row = wi[I_ROW]
    _draw_u(mi, wf, wi, wu, mi[MI_FSEV], wi[I_NFL], row)
    severe = 1 if wf[WO_UBUF] < wf[S_SEVP] else 0
    wi[I_NFL] += 1
    _record(mi, wi, rf, rv, wf[S_NOW], EV_FLARE, wi[I_NFL] * 2 + severe)
    wi[I_LASTSEV] = severe
    fe = mi[FO_E]
    _econ_once(mf, mi, wf, wi, C_FLARE, mf[fe + E_CFS] if severe == 1 else mf[fe + E_CFM], 0.0, wf[S_NOW])
    wf[S_PC] = INF
    _set_state(mf, mi, wf, wi, rf, rv, ACT)
    wf[S_FLEFT] = _flare_threshold(mi, wf, wi, wu, row, wi[I_NFL])
    return FLARE


@njit(cache=True, error_model="numpy")
def _reenter(mf, mi, wf, wi, wu, rf, rv):
    """Pathway.reenter_after_flare."""
    osti = mi[MO_STI] + wi[I_STRAT] * N_STI
    rule = mi[osti + STI_RULE]
    if wi[I_RKIND] >= 0:
        kind, where = wi[I_RKIND], wi[I_RWHERE]
    else:
        kind, where = RK_INDUCTION, wi[I_FIRST]
    if kind == RK_MANAGEMENT:                    # a look-alike flares: its own management again
        r = _management(mf, mi, wf, wi, wu, rf, rv, where)
        if r >= DIED or r == RESP:
            return r
        wi[I_REFR] = 1                           # managed, still not responding: refractory now
        _record(mi, wi, rf, rv, wf[S_NOW], EV_REFRACTORY, 0)
        return _ladder(mf, mi, wf, wi, wu, rf, rv, 0, 1)     # rule 'ladder', whatever the strategy's
    if rule == RULE_SAME and kind == RK_INDUCTION:
        rule = RULE_AGENT
    if rule == RULE_INDUCTION or rule == RULE_AGENT:
        agent = where if rule == RULE_AGENT else wi[I_FIRST]
        r = _figure2(mf, mi, wf, wi, wu, rf, rv, agent, 0)
        if r >= DIED or r != NORESP:
            return r
        step = 0
    elif rule == RULE_SAME:
        step = where
    elif rule == RULE_LADDER:
        step = 0
    else:
        step = mi[osti + STI_RSTEP]
    return _ladder(mf, mi, wf, wi, wu, rf, rv, step, 2)


@njit(cache=True, error_model="numpy")
def _follow_up(mf, mi, wf, wi, wu, rf, rv, r):
    """After Figure 2 (and the ladder): maintenance, flares and re-entry, or supportive care; renal
    replacement after ESRD; until death or the horizon."""
    if r < DIED:
        while True:
            if not (wi[I_STATE] == PAR or wi[I_STATE] == COM):
                _set_therapy(mf, mi, wf, wi, rf, rv, TH_SUPPORTIVE)
                r = _wait(mf, mi, wf, wi, wu, rf, rv, INF, False, False)
                break
            r = _maintenance(mf, mi, wf, wi, wu, rf, rv)
            if r >= DIED:
                break
            r = _reenter(mf, mi, wf, wi, wu, rf, rv)
            if r >= DIED:
                break
    if r == ESRD:
        r = _wait(mf, mi, wf, wi, wu, rf, rv, INF, False, False)
    return r


@njit(cache=True, error_model="numpy")
def _life(mf, mi, wf, wi, wu, rf, rv):
    """Pathway.life: Figure 2, the ladder if refractory, then _follow_up."""
    r = _figure2(mf, mi, wf, wi, wu, rf, rv, wi[I_FIRST], 1)
    if r == NORESP:
        r = _ladder(mf, mi, wf, wi, wu, rf, rv, 0, 1)
    return _follow_up(mf, mi, wf, wi, wu, rf, rv, r)


@njit(cache=True, error_model="numpy")
def _resume(mf, mi, wf, wi, wu, rf, rv, s):
    """Strategy s, equal to strategy 0 but for its ladder: from strategy 0's state where it first
    entered the ladder (both calls of _ladder continue in _follow_up)."""
    _snapshot(mi, wf, wi, False)
    wi[I_STRAT] = s
    step = wi[I_SNAPSTEP]
    if wi[I_SNAPSITE] == 2 and mi[mi[MO_STI] + s * N_STI + STI_RULE] == RULE_STEP:
        step = mi[mi[MO_STI] + s * N_STI + STI_RSTEP]
    r = _ladder(mf, mi, wf, wi, wu, rf, rv, step, 0)
    return _follow_up(mf, mi, wf, wi, wu, rf, rv, r)


# ==============================================================================================
# The kernel: every patient of a draw, every strategy
# ==============================================================================================

def _pointer_intrinsic(dtype):
    @intrinsic
    def ptr(typingctx, addr):
        sig = types.CPointer(dtype)(addr)

        def codegen(context, builder, sig, args):
            return builder.inttoptr(args[0], context.get_value_type(sig.return_type))
        return sig, codegen
    return ptr


# Typed pointers to the data of the kernel's arrays. The compiled pathway functions index these
# instead of arrays: a call then passes one machine word per buffer (an array is seven, plus an
# atomic reference-count increment and decrement), which made the kernel several times faster.
# The caller keeps the arrays alive.
_ptr_f = _pointer_intrinsic(types.float64)
_ptr_i = _pointer_intrinsic(types.int64)
_ptr_u = _pointer_intrinsic(types.uint64)


@njit(cache=True, error_model="numpy")
def _grow(a, need):
    n = a.shape[0]
    while n < need:
        n *= 2
    out = np.empty(n, dtype=a.dtype)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, error_model="numpy", nogil=True)
def _kernel(mf_, mi_, wf_, wi_, wu_, rf_, rv_, p_age, p_female, p_class, p_anc, p_nonadh, p_chron, p_look, out_i,
            out_f, out_acc, n_ev, n_sg, b_lo, b_hi):
    """Simulate the patients of blocks b_lo..b_hi-1 (256 each) of a draw under every strategy. Returns
    the records (event times, codes, details; segment states, therapies, starts, stops) in
    patient-major order.
    rf_ / rv_ hold one trajectory's records (capacity len(rf_) // 3); if a trajectory needs more,
    wi[I_CAP] says how much and the kernel stops (the caller reruns with larger buffers)."""
    mf, mi, wf, wi = _ptr_f(mf_.ctypes.data), _ptr_i(mi_.ctypes.data), _ptr_f(wf_.ctypes.data), _ptr_i(wi_.ctypes.data)
    wu, rf, rv = _ptr_u(wu_.ctypes.data), _ptr_f(rf_.ctypes.data), _ptr_i(rv_.ctypes.data)
    n = p_age.shape[0]
    NS = mi[MI_NS]
    record = mi[MI_REC] == 1
    econ = mi[MI_ECON] == 1
    cap = rf_.shape[0] // 3
    gcap = 1024 if record else 1
    g_evt = np.empty(gcap)
    g_evc = np.empty(gcap, dtype=np.int64)
    g_evd = np.empty(gcap, dtype=np.int64)
    g_sgs = np.empty(gcap, dtype=np.int64)
    g_sgt = np.empty(gcap, dtype=np.int64)
    g_sg0 = np.empty(gcap)
    g_sg1 = np.empty(gcap)
    ne = 0
    ng = 0
    nch = mi[MI_NCHUNK]
    nslot = mi[MI_NSLOT]
    oclk = mi[WO_CLK]
    ow = mi[UO_WORK]
    for b in range(b_lo, b_hi):
        wi[I_BLOCK] = b
        for i in range(nslot * nch):
            wi[mi[WIO_UOK] + i] = 0
        for i in range(nch):
            wi[mi[WIO_FLOK] + i] = 0
        for c in range(4):
            _seed_pcg(wu, mi[UO_SEED], mi[MI_NSEEDW], wi[I_DRAW], b, wu[mi[UO_CLKSID] + c], ow)
            for r in range(256):
                wf[oclk + c * 256 + r] = _std_exponential(wu, ow)
        n_rows = min(256, n - b * 256)
        for row in range(n_rows):
            pidx = b * 256 + row
            _patient_tables(mf, mi, wf, wi, p_age[pidx], p_female[pidx], p_class[pidx], p_chron[pidx])
            wi[I_ROW] = row
            wi[I_CLASS] = p_class[pidx]
            wi[I_ANC] = p_anc[pidx]
            wi[I_NONADH] = p_nonadh[pidx]
            wi[I_CHRON] = p_chron[pidx]
            wi[I_LOOK] = p_look[pidx]
            wi[I_PIDX] = pidx
            wf[W_EDEATH] = wf[oclk + row]
            wf[W_EESRD] = wf[oclk + 256 + row]
            wf[W_TX0] = wf[oclk + 512 + row]
            wf[W_GR0] = wf[oclk + 768 + row]
            wf[W_FL0] = _flare_threshold(mi, wf, wi, wu, row, 0)
            wi[I_SNAPSITE] = 0
            for s in range(NS):
                equiv = mi[mi[MO_EQUIV] + s] if econ and not record else 0
                # equal to strategy 0 but for the ladder: strategy 0 never reached the ladder (same life)
                if s > 0 and equiv == 1 and wi[I_SNAPSITE] == 0:
                    for i in range(out_i.shape[2]):
                        out_i[s, pidx, i] = out_i[0, pidx, i]
                    for i in range(out_f.shape[2]):
                        out_f[s, pidx, i] = out_f[0, pidx, i]
                    for i in range(N_ACC):
                        out_acc[s, pidx, i] = out_acc[0, pidx, i]
                    continue
                osti = mi[MO_STI] + s * N_STI
                oind = mi[MO_INDA] + s * mi[MI_MAXI]
                nind = mi[osti + STI_NIND]
                agent = mi[oind]
                if nind > 1:                     # BlockInputs.induction_agent
                    _draw_u(mi, wf, wi, wu, mi[MI_IND], 0, row)
                    u = wf[WO_UBUF]
                    acc = 0.0
                    agent = mi[oind + nind - 1]
                    for j in range(nind):
                        acc += mf[mi[FO_INDW] + s * mi[MI_MAXI] + j]
                        if u < acc:
                            agent = mi[oind + j]
                            break
                # a fresh patient (Patient.__init__ and BlockInputs.patient)
                for i in range(S_NOW, N_S):
                    wf[i] = 0.0
                wf[S_PR] = INF
                wf[S_PC] = INF
                wf[S_FHR] = 1.0
                wf[S_FHRU] = -1.0
                wf[S_FLEFT] = wf[W_FL0]
                wf[S_TXL] = wf[W_TX0]
                wf[S_GRL] = wf[W_GR0]
                wf[S_EK] = 1.0
                for i in range(S_CRT, S_ENDT + 1):
                    wf[i] = np.nan
                for i in range(N_ACC):
                    wf[WO_ACC + i] = 0.0
                for i in range(8):
                    wf[WO_EXP + 2 * i] = -1.0
                for i in range(I_STATE, N_I):
                    wi[i] = 0
                wi[I_STATE] = ACT
                wi[I_THER] = TH_NONE
                wi[I_CTH] = -1
                wi[I_RKIND] = -1
                wi[I_HIGH] = -1
                wi[I_FIRST] = agent
                wi[I_STRAT] = s
                wi[I_COPEN] = -1
                wi[I_WFIND] = -1
                wi[I_CAP] = cap
                for i in range(mi[MI_NT] + 1):
                    wi[mi[WIO_CRS] + i] = 0
                if s > 0 and equiv == 1:
                    wi[I_SNAPWANT] = 0
                    _resume(mf, mi, wf, wi, wu, rf, rv, s)
                else:
                    wi[I_SNAPWANT] = 1 if (s == 0 and econ and not record and NS > 1) else 0
                    _life(mf, mi, wf, wi, wu, rf, rv)
                need = max(wi[I_NEV], wi[I_NSG])
                if record and need > cap:
                    wi[I_CAP] = need
                    wi[I_ERR] = ERR_CAPACITY
                if wi[I_NEED] != 0 or wi[I_ERR] != 0:
                    return g_evt[:0], g_evc[:0], g_evd[:0], g_sgs[:0], g_sgt[:0], g_sg0[:0], g_sg1[:0]
                out_i[s, pidx, 0] = wi[I_FIRST]
                out_i[s, pidx, 1] = wi[I_REFRI]
                out_i[s, pidx, 2] = wi[I_REFR]
                out_i[s, pidx, 3] = wi[I_HIGH]
                out_i[s, pidx, 4] = wi[I_NFL]
                out_i[s, pidx, 5] = wi[I_FAILED]
                out_i[s, pidx, 6] = wi[I_WFIND]
                out_i[s, pidx, 7] = wi[I_NSTOP]
                out_f[s, pidx, 0] = wf[S_CRT]
                out_f[s, pidx, 1] = wf[S_RT]
                out_f[s, pidx, 2] = wf[S_ESRDT]
                out_f[s, pidx, 3] = wf[S_DT]
                out_f[s, pidx, 4] = wf[S_TXT]
                out_f[s, pidx, 5] = wf[S_ENDT]
                if econ:
                    for i in range(N_ACC):
                        out_acc[s, pidx, i] = wf[WO_ACC + i]
                if record:
                    k = wi[I_NEV]
                    if ne + k > g_evt.shape[0]:
                        g_evt = _grow(g_evt, ne + k)
                        g_evc = _grow(g_evc, ne + k)
                        g_evd = _grow(g_evd, ne + k)
                    for i in range(k):
                        g_evt[ne + i] = rf[i]
                        g_evc[ne + i] = rv[i]
                        g_evd[ne + i] = rv[cap + i]
                    ne += k
                    n_ev[s, pidx] = k
                    k = wi[I_NSG]
                    if ng + k > g_sgs.shape[0]:
                        g_sgs = _grow(g_sgs, ng + k)
                        g_sgt = _grow(g_sgt, ng + k)
                        g_sg0 = _grow(g_sg0, ng + k)
                        g_sg1 = _grow(g_sg1, ng + k)
                    for i in range(k):
                        g_sgs[ng + i] = rv[2 * cap + i]
                        g_sgt[ng + i] = rv[3 * cap + i]
                        g_sg0[ng + i] = rf[cap + i]
                        g_sg1[ng + i] = rf[2 * cap + i]
                    ng += k
                    n_sg[s, pidx] = k
    return g_evt[:ne], g_evc[:ne], g_evd[:ne], g_sgs[:ng], g_sgt[:ng], g_sg0[:ng], g_sg1[:ng]


# ==============================================================================================
# Python side: compiling a model, sampling the cohort, building tables
# ==============================================================================================


from sim.model.hazards import HEALTH_STATES  # noqa: E402
from sim.model.events import EVENTS  # noqa: E402
from sim.model.build import YEAR  # noqa: E402
from sim.inputs.economic_tables import CATEGORIES  # noqa: E402
from sim.engine.block import K_COURSES as _K_COURSES, K_FLARES as _K_FLARES  # noqa: E402
assert CATEGORIES[C_DRUG] == "drug" and CATEGORIES[C_STATE] == "state" and len(CATEGORIES) == C_STATE + 1

# event names by the kernel's event codes (EV_*); all are in sim.pathway.EVENTS
EVENT_NAMES = ("therapy_start", "assessment", "partial_response", "complete_response", "switch", "refractory",
               "ladder_exhausted", "maintenance_start", "maintenance_end", "renal_flare", "adverse_event", "esrd",
               "transplant", "graft_failure", "death", "end_of_followup", "lookalike_screen", "repeat_biopsy",
               "reclassified")
assert set(EVENT_NAMES) <= set(EVENTS)
_VERDICTS = ("responding", "improving", "no_response", "stopped")
# work-up findings by code (WF_*): the look-alikes of sim.cohort.LOOKALIKES, then chronic damage
_FINDINGS = (*LOOKALIKES, "chronic_damage")
assert _FINDINGS[WF_CHRONIC] == "chronic_damage" and CHRONICITY[CHRON_HIGH] == "high"
_OUT_F = ("cr_time_years", "response_time_years", "esrd_time_years", "death_time_years",
          "transplant_time_years", "followup_years")
_CHUNKS = 2          # stream chunks per name at first ("#1" drawn on demand); more if a patient needs them


def has_capacity_limits(scenario) -> bool:
    """True if the scenario sets capacity limits (patients then compete: the SimPy engine only)."""
    return scenario.capacity is not None



# ----------------------------------------------------------------------------------------------
# The cohort
# ----------------------------------------------------------------------------------------------

# ----------------------------------------------------------------------------------------------
# Economic inputs (the tables and rules of sim.economics.evaluate)
# ----------------------------------------------------------------------------------------------

class _Econ:
    """The kernel's flat view of :class:`sim.economics.aggregate.EconomicInputs` (the same tables,
    pricing rules and checks as ``evaluate``, written there once). Errors that ``evaluate`` raises only
    when a course or adverse event occurs are kept per therapy / kind and raised only if used."""

    def __init__(self, engine: "FastEngine", econ=None, cost_table=None, utility_table=None):
        from types import SimpleNamespace

        from sim.economics.aggregate import EconomicInputs
        view = SimpleNamespace(model=engine.model, kinds=engine.ae_kinds, therapies=engine.therapy_names)
        ei = self.inputs = EconomicInputs.build(view, econ, cost_table, utility_table)
        e, cs = ei.econ[0], ei.courses[0]
        E = np.zeros(N_E)
        E[E_DC], E[E_DO] = e["dc"], e["do"]
        E[E_U0:E_U0 + 5] = e["u_state"]
        E[E_UCKD], E[E_UFM], E[E_UFS] = e["u_ckd"], e["u_flare_moderate"], e["u_flare_severe"]
        E[E_CS0:E_CS0 + 3] = e["c_state"]
        E[E_CCKD], E[E_CBG], E[E_CDIAL] = e["c_ckd"], e["c_background"], e["c_dialysis"]
        E[E_CTXF], E[E_CFS], E[E_CFM] = e["c_transplant_followup"], e["c_flare_severe"], e["c_flare_moderate"]
        E[E_CTX1], E[E_CBIOP], E[E_CSCREEN] = e["c_transplant_first_year"], e["c_biopsy"], e["c_screen"]
        E[E_LABS], E[E_TROUGH] = e["c_labs"], e["c_trough"]
        self.E = E
        self.wtp = ei.wtp
        self.akc, self.akq = cs["ae_cost"].copy(), cs["ae_qaly_loss"].copy()
        self.kind_err, self.th_err = ei.kind_err, ei.th_err
        self.thcni, self.thdur = cs["cni"].copy(), cs["duration"].copy()
        self.daily, self.once = ei.daily, ei.once
        self.dstart, self.ostart = cs["daily_start"].copy(), cs["once_start"].copy()
        self.dcap, self.otimes = cs["daily_cap"].copy(), cs["once_times"].copy()
        self.oadmin, self.oratio = cs["once_admin"].copy(), cs["once_ratio"].copy()

    def patient_arrays(self, weight: np.ndarray | None, bsa: np.ndarray | None, n: int):
        """Per patient: annual cost of each daily component, drug cost of one administration of each
        one-off component (a dimension no dose uses may be absent)."""
        zeros = np.zeros(n)
        return self.inputs.patient_arrays(zeros if weight is None else weight, zeros if bsa is None else bsa)


# ----------------------------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------------------------

from sim.economics.aggregate import AggregateResult  # noqa: E402  (one result type for both routes)


class FastEngine:
    """A model compiled for the fast engine: build once per parameter set, run for any number of
    patients, seeds and draws (:meth:`tables`, :meth:`aggregate`)."""

    def __init__(self, model):
        from sim.inputs.build import Model, build
        model = model if isinstance(model, Model) else build(model)
        sc = model.scenario
        if has_capacity_limits(sc):
            raise ValueError("the fast engine computes scenarios without capacity limits only "
                             "(with capacities patients compete); use engine='simpy'")
        self.model = model
        self.strategies = list(sc.strategies)
        p = model.params
        cat = model.therapies
        # -- therapies used by any strategy ---------------------------------------------------------
        names = model.scenario.therapies_reached()
        self.therapy_names = names
        tix = {n: i for i, n in enumerate(names)}
        ths = [cat[n] for n in names]
        nt = len(ths)
        resp_streams = list(dict.fromkeys(th.response_stream for th in ths))
        kinds = sorted({k for th in ths for k in th.adverse_events})
        self.ae_kinds = kinds
        if any(len(th.adverse_events) > MAXAE for th in ths):
            raise ValueError(f"the fast engine allows at most {MAXAE} adverse-event kinds per therapy")
        # -- uniform streams: name, K (elements per row), m (numbers per element) ---------------------
        slots: list[tuple[str, int, int]] = []
        slot_of: dict[str, int] = {}

        def slot(name: str, K: int, m: int) -> int:
            if name not in slot_of:
                slot_of[name] = len(slots)
                slots.append((name, K, m))
            return slot_of[name]
        for rs in resp_streams:
            slot(f"course:{rs}", _K_COURSES, 5)
        thf = np.zeros((nt, N_THF))
        thi = np.zeros((nt, N_THI), dtype=np.int64)
        aep = np.zeros((nt, MAXAE))
        aek = np.zeros((nt, MAXAE), dtype=np.int64)
        aes = np.zeros((nt, MAXAE), dtype=np.int64)
        aesv = np.zeros((nt, MAXAE))
        # Pathway.ae_severe, ae_esrd_hr
        ae_severe = p.by_prefix("adverse_event_severe_share_")
        ae_esrd_hr = p.by_prefix("adverse_event_esrd_hr_")
        aehr = np.array([ae_esrd_hr.get(k, 1.0) for k in kinds] + [1.0], dtype=np.float64)
        onset_p = p["response_onset_months"] / YEAR
        for i, th in enumerate(ths):
            t_ref = th.assessment_months / YEAR
            thf[i] = (t_ref, min(onset_p, t_ref), th.cr_share, th.duration_months / YEAR,
                      th.flare_hr.value if th.flare_hr is not None else 1.0,
                      (th.flare_hr_years or 0.0) if th.flare_hr is not None else 0.0)
            thi[i] = (resp_streams.index(th.response_stream), slot_of[f"course:{th.response_stream}"],
                      th.flare_hr is not None, th.flare_hr_applies_to == "severe", len(th.adverse_events))
            for j, (kind, prob) in enumerate(th.adverse_events.items()):
                aep[i, j] = prob.value
                aesv[i, j] = prob.value * ae_severe.get(kind, 0.0)      # severe iff a[0] < this
                aek[i, j] = kinds.index(kind)
                aes[i, j] = slot(f"adverse_event:{th.response_stream}:{kind}", _K_COURSES, 2)
        fsev = slot("flare_severity", _K_FLARES, 1)
        ind = slot("induction_choice", 1, 1)
        wup = slot("workup", 1, 3) if any(s.workup.active for s in self.strategies) else -1
        self._slots = slots
        # -- response probabilities: the clinical core's table (sim.model.response) ---------------------
        from sim.model.hazards import esrd_multiplier
        from sim.model.response import response_table
        resp = response_table(p, ths)
        # -- strategies ------------------------------------------------------------------------------
        ns = len(self.strategies)
        maxl = max([len(s.ladder) for s in self.strategies] + [1])
        maxi = max(len(s.induction_shares()) for s in self.strategies)
        stf = np.zeros((ns, N_STF))
        sti = np.zeros((ns, N_STI), dtype=np.int64)
        lad = np.full((ns, maxl), -1, dtype=np.int64)
        ladt = np.zeros((ns, maxl))
        sw = np.full((ns, nt), -1, dtype=np.int64)
        inda = np.zeros((ns, maxi), dtype=np.int64)
        indw = np.zeros((ns, maxi))
        wmg = np.full((ns, len(LOOKALIKES)), -1, dtype=np.int64)      # management of each look-alike
        for k, s in enumerate(self.strategies):
            rescue = s.after_severe_infection
            stf[k] = (s.first_assessment_months / YEAR, s.reassessment_months / YEAR,
                      s.ladder_assessment_months.get(rescue, cat[rescue].assessment_months) / YEAR if rescue else 0.0)
            rule = s.flare_reentry
            code = {"same_step": RULE_SAME, "induction": RULE_INDUCTION, "ladder": RULE_LADDER}.get(rule, RULE_STEP)
            shares = s.induction_shares()
            sti[k] = (len(s.ladder), tix[s.maintenance], code, s.ladder.index(rule) if code == RULE_STEP else 0,
                      len(shares), s.workup.screen_lookalikes, s.workup.repeat_biopsy,
                      tix[rescue] if rescue else -1,
                      kinds.index("serious_infection") if rescue and "serious_infection" in kinds else -1)
            if s.workup.active:
                for condition, name in s.workup.management.items():
                    wmg[k, LOOKALIKES.index(condition)] = tix[name]
            for i, step in enumerate(s.ladder):
                lad[k, i] = tix[step]
                ladt[k, i] = s.ladder_assessment_months.get(step, cat[step].assessment_months) / YEAR
            for a, b in s.switch.items():
                if a in tix and b in tix:
                    sw[k, tix[a]] = tix[b]
            for j, (a, w) in enumerate(shares.items()):
                inda[k, j] = tix[a]
                indw[k, j] = w
        # strategies that read the same data as strategy 0 until they first enter the ladder: their
        # patients live strategy 0's life up to there (aggregate mode resumes from a snapshot); the
        # work-up and the management of look-alikes come before the ladder
        def before_ladder(k):
            return (inda[k].tolist(), indw[k].tolist(), sw[k].tolist(), stf[k, :2].tolist(), int(sti[k, STI_MAINT]),
                    int(sti[k, STI_RULE]), int(sti[k, STI_NIND]), int(sti[k, STI_SCREEN]), int(sti[k, STI_BIOPSY]),
                    wmg[k].tolist())
        self._equiv = np.array([int(k > 0 and before_ladder(k) == before_ladder(0)) for k in range(ns)],
                               dtype=np.int64)
        # -- parameters ------------------------------------------------------------------------------
        F = np.zeros(N_F)
        F[F_HORIZON] = float(sc.horizon_years)
        F[F_LEAD] = p["improvement_lead_months"] / YEAR
        F[F_MAXCR] = p["max_time_to_cr_years"]
        F[F_LATECR] = p["late_cr_given_partial"]
        F[F_LATERESP] = p["late_response_given_none"]
        F[F_LATEWIN] = p["late_response_window_months"] / YEAR
        F[F_FRATE] = p["flare_rate_remission"]
        F[F_FHRP] = p["flare_hr_partial"]
        F[F_SEVSH] = p["flare_severe_share"]
        F[F_MAINT] = p["maintenance_years"]
        F[F_TXRATE] = p["transplant_rate_on_dialysis"]
        F[F_GRRATE] = p["graft_failure_rate"]
        F[F_SMR] = p["smr_lupus_nephritis"]
        F[F_DRA] = p["death_rate_active_nephritis"]
        F[F_DRD] = p["death_rate_dialysis"]
        F[F_DRT] = p["death_rate_transplant"]
        F[F_ERA] = p["esrd_rate_active"]
        F[F_ERP] = p["esrd_rate_partial"]
        F[F_ERC] = p["esrd_rate_complete"]
        F[F_ERHR1] = p["esrd_hr_first_year"]
        for ci, cls in enumerate(ISN_CLASSES):
            F[F_ERHRC + ci] = p[f"esrd_hr_class_{cls}"]
        F[F_ERCHR:F_ERCHR + len(CHRONICITY)] = esrd_multiplier(p, np.array(CHRONICITY, dtype=object))
        if wup >= 0:
            F[F_LABS] = p["labs_detect_lookalike"]
            F[F_BIOLA] = p["biopsy_detects_lookalike"]
            F[F_BIOCH] = p["biopsy_detects_chronic_damage"]
        lt = model.life_table
        self._G = int(np.ceil(sc.horizon_years)) + 2
        self._sizes = dict(fsev=fsev, ind=ind, wup=wup, ns=ns, nt=nt, nk=max(len(kinds), 1), maxl=maxl, maxi=maxi)
        self._mint = [("thi", thi), ("aek", aek), ("aes", aes), ("sti", sti), ("lad", lad), ("sw", sw),
                      ("inda", inda), ("wmg", wmg)]
        self._mflt = [F, ("thf", thf), ("aep", aep), ("aesv", aesv), ("aehr", aehr), ("resp", resp), ("stf", stf),
                      ("ladt", ladt), ("indw", indw),
                      ("lf", np.asarray(lt.female, dtype=np.float64)), ("lm", np.asarray(lt.male, dtype=np.float64))]
        self._jt, jidx, self._jt_rows = _jump_tables([(m, K) for _, K, m in slots])
        self._um = np.array([m for _, _, m in slots], dtype=np.int64)
        self._uk = np.array([K for _, K, _ in slots], dtype=np.int64)
        self._uj = np.array([jidx[m] for _, _, m in slots], dtype=np.int64)
        self._clk_sid = np.array([streams.stream_id(f"clock:{c}") for c in ("death", "esrd", "transplant",
                                                                            "graft_failure")], dtype=np.uint64)
        self._sids: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._local = threading.local()
        self._econ_cache: dict[str, tuple] = {}
        units = {c.unit for th in ths for c in th.dose}
        self.needs_bsa = "mg/m2" in units
        self.needs_weight = bool(units & {"mg/kg", "mg/kg/day", "cells/kg"})

    # -- memory layout ---------------------------------------------------------------------------------
    def _stream_ids(self, n_chunks: int) -> tuple[np.ndarray, np.ndarray]:
        got = self._sids.get(n_chunks)
        if got is None:
            def sid(name: str, c: int) -> int:
                return streams.stream_id(name + (f"#{c}" if c else ""))
            usid = np.array([[sid(name, c) for c in range(n_chunks)] for name, _, _ in self._slots], dtype=np.uint64)
            flsid = np.array([sid("clock:flare", c) for c in range(n_chunks)], dtype=np.uint64)
            got = self._sids[n_chunks] = (usid.ravel(), flsid)
        return got

    def _arrays(self, n: int, seed: int, draw: int, chunks: int, record: bool, econ: _Econ | None,
                drate=None, odrug=None):
        z = self._sizes
        nt, nslot = z["nt"], len(self._slots)
        head = np.zeros(MI_HEADER, dtype=np.int64)
        ints, floats = [head], [self._mflt[0]]
        ipos, fpos = MI_HEADER, N_F

        def put_i(key, a):
            nonlocal ipos
            head[key] = ipos
            a = np.ascontiguousarray(a, dtype=np.int64).ravel()
            ints.append(a)
            ipos += a.size

        def put_f(key, a):
            nonlocal fpos
            head[key] = fpos
            a = np.ascontiguousarray(a, dtype=np.float64).ravel()
            floats.append(a)
            fpos += a.size
        ikeys = dict(thi=MO_THI, aek=MO_AEK, aes=MO_AES, sti=MO_STI, lad=MO_LAD, sw=MO_SW, inda=MO_INDA, wmg=MO_WMG)
        for name, a in self._mint:
            put_i(ikeys[name], a)
        put_i(MO_UM, self._um)
        put_i(MO_EQUIV, self._equiv)
        put_i(MO_UK, self._uk)
        put_i(MO_UJ, self._uj)
        fkeys = dict(thf=FO_THF, aep=FO_AEP, aesv=FO_AESV, aehr=FO_AEHR, resp=FO_RESP, stf=FO_STF, ladt=FO_LADT,
                     indw=FO_INDW, lf=FO_LF, lm=FO_LM)
        for name, a in self._mflt[1:]:
            put_f(fkeys[name], a)
        if econ is not None:
            put_i(MO_THCNI, econ.thcni)
            put_i(MO_DSTART, econ.dstart)
            put_i(MO_OSTART, econ.ostart)
            put_i(MO_OTIMES, econ.otimes)
            put_f(FO_E, econ.E)
            put_f(FO_AKC, econ.akc)
            put_f(FO_AKQ, econ.akq)
            put_f(FO_THDUR, econ.thdur)
            put_f(FO_DCAP, econ.dcap)
            put_f(FO_OADMIN, econ.oadmin)
            put_f(FO_ORATIO, econ.oratio)
            put_f(FO_DRATE, drate)
            put_f(FO_ODRUG, odrug)
            head[MI_ND], head[MI_NO] = drate.shape[1], odrug.shape[1]
        G = self._G
        head[MI_G], head[MI_FSEV], head[MI_IND], head[MI_WUP] = G, z["fsev"], z["ind"], z["wup"]
        head[MI_NS], head[MI_NT], head[MI_NK] = z["ns"], nt, z["nk"]
        head[MI_MAXL], head[MI_MAXI], head[MI_NLF] = z["maxl"], z["maxi"], self._mflt[-1][1].shape[0]
        head[MI_NSLOT], head[MI_NCHUNK] = nslot, chunks
        head[MI_ECON], head[MI_REC] = econ is not None, record
        # wf: fixed part, hazard tables, clocks, flare thresholds
        pos = WO_FIXED
        for key, size in ((WO_DB, G + 1), (WO_DC, 4 * (G + 1)), (WO_DR, 4 * G), (WO_EB, 3), (WO_EC, 9),
                          (WO_ER, 6), (WO_CLK, 4 * 256), (WO_FLX, chunks * 4096), (WO_UCACHE, nslot * UCACHE_K * 5),
                          (WO_SNAP, WO_FIXED - S_NOW)):
            head[key] = pos
            pos += size
        wf = np.zeros(pos)
        pos = N_I
        for key, size in ((WIO_AEK, MAXAE), (WIO_CRS, nt + 1), (WIO_UOK, nslot * chunks), (WIO_FLOK, chunks),
                          (WIO_USEDTH, nt), (WIO_USEDK, z["nk"]), (WIO_UCSTAMP, nslot * UCACHE_K),
                          (WIO_SNAP, N_I - I_STATE + MAXAE + nt + 1)):
            head[key] = pos
            pos += size
        wi = np.zeros(pos, dtype=np.int64)
        wi[I_DRAW] = int(draw)
        sw_ = seed_words(seed)
        usid, flsid = self._stream_ids(chunks)
        parts, pos = [], 0
        for key, a in ((UO_SEED, sw_), (UO_USID, usid), (UO_FLSID, flsid),
                       (UO_UST, np.zeros(nslot * chunks * 4, dtype=np.uint64)), (UO_WORK, np.zeros(4, dtype=np.uint64)),
                       (UO_CLKSID, self._clk_sid), (UO_JT, self._jt)):
            head[key] = pos
            parts.append(a)
            pos += a.size
        head[MI_NSEEDW] = sw_.size
        head[U_JTROWS] = self._jt_rows
        wu = np.concatenate(parts).astype(np.uint64)
        mi = np.concatenate(ints)
        mf = np.concatenate(floats)
        return mf, mi, wf, wi, wu

    def _cached_arrays(self, n, seed, draw, chunks, record, econ, drate, odrug):
        """``_arrays``, reusing (per thread) the model part built for the same sizes, seed and economics:
        only the per-patient economic inputs, the draw and the working state change between draws."""
        key = (n, seed, chunks, record, id(econ))
        local = self._local.__dict__
        got = local.get("layout")
        if got is None or got[0] != key or got[1] is not econ:
            mf, mi, wf, wi, wu = self._arrays(n, seed, draw, chunks, record, econ, drate, odrug)
            local["layout"] = (key, econ, mf, mi, wf.size, wi.size, wu)
            return mf, mi, wf, wi, wu
        _, _, mf, mi, nwf, nwi, wu = got
        if econ is not None:
            mf[mi[FO_DRATE]:mi[FO_DRATE] + drate.size] = drate.ravel()
            mf[mi[FO_ODRUG]:mi[FO_ODRUG] + odrug.size] = odrug.ravel()
        wi = np.zeros(nwi, dtype=np.int64)
        wi[I_DRAW] = int(draw)
        return mf, mi, np.zeros(nwf), wi, wu

    def _run(self, cohort: Cohort, seed: int, draw: int, record: bool, econ: _Econ | None = None, threads: int = 1):
        n = cohort.n
        ns = len(self.strategies)
        drate = odrug = None
        if econ is not None:
            drate, odrug = econ.patient_arrays(cohort.weight_kg, cohort.bsa_m2, n)
        chunks = _CHUNKS
        cap = 512 if record else 1
        female = cohort.female.astype(np.int64)
        nonadh = cohort.nonadherent.astype(np.int64)
        chron = np.ascontiguousarray(cohort.chronicity, dtype=np.int64)
        look = np.ascontiguousarray(cohort.lookalike, dtype=np.int64)
        n_blocks = (n + streams.BLOCK_SIZE - 1) // streams.BLOCK_SIZE
        threads = max(1, min(int(threads), n_blocks)) if not record else 1
        cuts = [n_blocks * k // threads for k in range(threads + 1)]
        while True:
            out_i = np.zeros((ns, n, 8), dtype=np.int64)
            out_f = np.zeros((ns, n, len(_OUT_F)))
            out_acc = np.zeros((ns, n if econ is not None else 0, N_ACC))
            n_ev = np.zeros((ns, n if record else 0), dtype=np.int64)
            n_sg = np.zeros((ns, n if record else 0), dtype=np.int64)

            def part(k, chunks=chunks, cap=cap):
                mf, mi, wf, wi, wu = self._cached_arrays(n, seed, draw, chunks, record, econ, drate, odrug)
                rf, rv = np.empty(3 * cap), np.empty(4 * cap, dtype=np.int64)
                rec = _kernel(mf, mi, wf, wi, wu, rf, rv, cohort.age, female, cohort.isn_class, cohort.ancestry,
                              nonadh, chron, look, out_i, out_f, out_acc, n_ev, n_sg, cuts[k], cuts[k + 1])
                return mi, wi, rec
            if threads == 1:
                parts = [part(0)]
            else:
                parts = list(_pool(threads).map(part, range(threads)))
            need = max(int(wi[I_NEED]) for _, wi, _ in parts)
            errs = {int(wi[I_ERR]) for _, wi, _ in parts}
            if ERR_NO_SWITCH in errs:
                raise KeyError("a strategy's switch mapping has no partner for an induction agent it reaches")
            if ERR_CAPACITY in errs:
                cap = max([2 * cap] + [int(wi[I_CAP]) for _, wi, _ in parts])
                continue
            if need == 0:
                break
            chunks = max(2 * chunks, need)
        if econ is not None:
            used_th = set()
            used_k = set()
            for mi, wi, _ in parts:
                used_th |= set(np.flatnonzero(wi[mi[WIO_USEDTH]:mi[WIO_USEDTH] + len(self.therapy_names)]))
                used_k |= set(np.flatnonzero(wi[mi[WIO_USEDK]:mi[WIO_USEDK] + len(self.ae_kinds)]))
            for ti in sorted(used_th, key=lambda i: self.therapy_names[i]):
                if ti in econ.th_err:
                    raise econ.th_err[ti]
            for k in sorted(used_k):
                if k in econ.kind_err:
                    raise econ.kind_err[k]
        return out_i, out_f, out_acc, n_ev, n_sg, parts[0][2]

    def _details(self, ev: np.ndarray, d: np.ndarray) -> np.ndarray:
        """The ``detail`` strings of events, from their codes."""
        names = self.therapy_names
        nt = len(names)
        nk = self._sizes["nk"]
        out = np.empty(len(ev), dtype=object)
        out[:] = ""
        for code in np.unique(ev):
            m = ev == code
            uniq, inv = np.unique(d[m], return_inverse=True)
            if code in (EV_THERAPY_START, EV_PARTIAL, EV_COMPLETE, EV_MAINT_START, EV_MAINT_END, EV_EXHAUSTED):
                strs = [names[x] if x >= 0 else "" for x in uniq]
            elif code == EV_ASSESSMENT:
                strs = [f"{names[x // N_V]}:{_VERDICTS[x % N_V]}" for x in uniq]
            elif code == EV_SWITCH:
                strs = [f"{names[x // nt]}->{names[x % nt]}" for x in uniq]
            elif code == EV_FLARE:
                strs = [f"{x // 2}:{'severe' if x % 2 else 'moderate'}" for x in uniq]
            elif code == EV_AE:          # ((therapy * nk + kind) * 2 + severe
                strs = [f"{names[x // 2 // nk] if x >= 0 else ''}:{self.ae_kinds[x // 2 % nk]}"
                        + (":severe" if x % 2 else "") for x in uniq]
            elif code in (EV_SCREEN, EV_RECLASS):
                strs = [_FINDINGS[x] for x in uniq]
            elif code == EV_BIOPSY:
                strs = ["active_nephritis" if x == WF_NONE else _FINDINGS[x] for x in uniq]
            elif code in (EV_DEATH, EV_END):
                strs = [HEALTH_STATES[x] for x in uniq]
            else:
                strs = ["" for _ in uniq]
            out[m] = np.array(strs, dtype=object)[inv]
        return out

    # -- aggregate mode ---------------------------------------------------------------------------------
    def economics(self, econ=None, cost_table=None, utility_table=None) -> _Econ:
        """The kernel's economic inputs for these settings and tables (the last ones are kept: a
        probabilistic analysis brings new tables every draw)."""
        got = self._econ_cache.get("last")
        if got is not None and got[0] is econ and got[1] is cost_table and got[2] is utility_table:
            return got[3]
        e = _Econ(self, econ, cost_table, utility_table)
        self._econ_cache["last"] = (econ, cost_table, utility_table, e)     # references: ids stay unique
        return e

    def aggregate(self, patients: int, seed: int, draw: int = 0, econ=None, cost_table=None,
                  utility_table=None, threads: int = 1) -> AggregateResult:
        """Per-patient discounted and undiscounted cost (also by category), QALYs and life years of
        every strategy, priced inside the kernel by the rules of :func:`sim.economics.evaluate`
        (same tables: the scenario's ``economics``, or ``econ``, or the tables given), without
        building event or state tables. ``threads`` > 1 splits the patient blocks over that many
        threads (the compiled kernel releases the GIL); leave it at 1 when draws already run in
        parallel processes."""
        n = int(patients)
        e = self.economics(econ, cost_table, utility_table)
        c = sample_cohort(self.model.scenario.cohort, seed, draw, n, weight=self.needs_weight,
                          height=self.needs_bsa, other=False)
        out_i, out_f, acc, _, _, _ = self._run(c, seed, draw, record=False, econ=e, threads=threads)
        return AggregateResult.from_accumulators([s.name for s in self.strategies], acc, out_f[:, :, 2].copy(),
                                                 out_f[:, :, 3].copy(), e.wtp)


_POOLS: dict[int, object] = {}


def _pool(threads: int):
    """A lasting thread pool (the kernel releases the GIL, so blocks of a draw run in parallel)."""
    pool = _POOLS.get(threads)
    if pool is None:
        from concurrent.futures import ThreadPoolExecutor
        pool = _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="lnsim-fast")
    return pool


def aggregate(model, patients: int, seed: int, draw: int = 0, econ=None, cost_table=None,
              utility_table=None, threads: int = 1) -> AggregateResult:
    """Aggregate mode in one call (see :meth:`FastEngine.aggregate`)."""
    eng = model if isinstance(model, FastEngine) else FastEngine(model)
    return eng.aggregate(patients, seed, draw, econ, cost_table, utility_table, threads)
