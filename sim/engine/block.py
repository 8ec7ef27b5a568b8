"""One block of patients as the core reads them: attributes, hazard tables and random numbers.

For each block of :data:`sim.engine.streams.BLOCK_SIZE` patients the cohort, the hazard tables and the
random numbers are prepared once (:class:`Block`) and shared by every strategy: the same patients
with the same random streams (common random numbers). Random numbers come from named streams
(:mod:`sim.engine.streams`), drawn as whole arrays: the courses of each response stream and their adverse
events (``K_COURSES`` courses per chunk), the renal flares (``K_FLARES`` per chunk), the work-up and
the choice of induction agent. A chunk beyond the first is drawn when a patient needs it (the core
asks: ``NEED_DRAWS``); a patient's numbers never depend on which chunks were drawn.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from sim.engine import streams
from sim.engine.rng import Cohort, exponentials, sample_cohort, uniforms
from sim.inputs.cohort import CHRONICITY
from sim.model.hazards import HEALTH_STATES, PRE_ESRD, death_tables, esrd_multiplier, esrd_tables
from sim.model import layout as L
from sim.model.jit import records
from sim.model.pathway import induction_agents
from sim.inputs.therapies import ISN_CLASSES

K_COURSES = 8     # courses of one therapy per patient per stream chunk
K_FLARES = 16     # flare thresholds per stream chunk


_TRAJECTORY = [f for f in L.PATIENT.names if f not in L.PATIENT_FIXED]
_START = np.dtype([(f, L.PATIENT.fields[f][0]) for f in _TRAJECTORY])


def _chunk_name(base: str, c: int) -> str:
    return base + (f"#{c}" if c else "")


def draw_cohort(cm, seed: int, draw: int, n: int, tables: bool = True) -> Cohort:
    """The patients of a draw (all blocks at once; :func:`sim.engine.rng.sample_cohort`). Without
    ``tables`` only what costing needs besides the pathway (weight, body-surface area) is sampled."""
    return sample_cohort(cm.model.scenario.cohort, seed, draw, n, other=tables)


def block_rows(c: Cohort, block: int) -> Cohort:
    """The patients of one block of a draw's cohort."""
    lo = block * streams.BLOCK_SIZE
    hi = min(lo + streams.BLOCK_SIZE, c.n)
    return dataclasses.replace(c, n=hi - lo, **{f.name: getattr(c, f.name)[lo:hi] for f in dataclasses.fields(c)
                                                if f.name != "n" and getattr(c, f.name) is not None})


def _padded(a: np.ndarray, n: int) -> np.ndarray:
    """A block's rows, padded to a full block with copies (rows beyond the run are never simulated)."""
    return a if len(a) == n else np.resize(a, n)


class Block:
    """Everything random or patient-specific about one block, shared by all strategies (``cohort``:
    the block's rows of :func:`draw_cohort`). ``reuse``: a finished block whose memory this one may
    take (blocks run one after another)."""

    def __init__(self, cm, seed: int, draw: int, block: int, cohort: Cohort, reuse: "Block | None" = None):
        self.cm, self.seed, self.draw, self.block = cm, seed, draw, block
        model = cm.model
        sc = model.scenario
        self.cohort = c = cohort
        n = streams.BLOCK_SIZE
        lt = model.life_table
        age, female = _padded(c.age, n), _padded(c.female, n)
        cls, chron = _padded(c.isn_class, n), _padded(c.chronicity, n)
        d_bps, d_tab = death_tables(age, female, lt.female, lt.male, model.params, sc.horizon_years)
        e_bps, e_tab = esrd_tables(np.asarray(ISN_CLASSES, dtype=object)[cls], model.params,
                                   esrd_multiplier(model.params, np.asarray(CHRONICITY, dtype=object)[chron]))
        clocks = {name: exponentials(seed, draw, block, f"clock:{name}")
                  for name in ("death", "esrd", "transplant", "graft_failure")}
        # who the patients are, and their clocks: written once, kept from strategy to strategy
        P = reuse._P if reuse is not None else np.zeros(n, dtype=L.PATIENT)
        P["pid"] = block * n + np.arange(n)
        P["row"] = np.arange(n)
        P["isn_class"] = cls
        P["ancestry"] = _padded(c.ancestry, n)
        P["nonadherent"] = _padded(c.nonadherent, n)
        P["chronicity"] = chron
        P["lookalike"] = _padded(c.lookalike, n)
        P["e_death"], P["e_esrd"] = clocks["death"], clocks["esrd"]
        nb = d_bps.shape[1]
        P["d_bps"][:, :nb] = d_bps
        for s, name in enumerate(HEALTH_STATES):
            cum, rates = d_tab[name]
            P["d_cum"][:, s, :nb] = cum
            P["d_rates"][:, s, :nb - 1] = rates
        P["e_bps"] = e_bps
        for s, name in enumerate(PRE_ESRD):
            cum, rates = e_tab[name]
            P["e_cum"][:, s, :] = cum
            P["e_rates"][:, s, :2] = rates
        if any(s.workup.active for s in cm.strategies):
            P["workup_u"] = uniforms(seed, draw, block, "workup", (3,))
        # the trajectory's starting values (copied into P for each strategy)
        t = reuse.template if reuse is not None else np.zeros(n, dtype=_START)
        t[...] = np.zeros((), dtype=_START)
        t["tx_left"], t["graft_left"] = clocks["transplant"], clocks["graft_failure"]
        t["state"], t["therapy"], t["course_therapy"] = L.ACTIVE, L.NO_THERAPY, L.NO_THERAPY
        t["esrd_k"] = 1.0
        t["pending_response"] = t["pending_cr"] = L.INF
        t["flare_hr"], t["flare_hr_until"] = 1.0, -1.0
        t["responding_kind"] = t["responding_where"] = L.RESP_NONE
        t["workup_finding"] = L.NOT_WORKED_UP
        t["stop_kind"] = t["highest_step"] = -1
        for f in ("cr_time", "response_time", "esrd_time", "death_time", "tx_time", "end_time"):
            t[f] = np.nan
        t["phase"] = L.START
        self.template, self._P = t, P
        self._induction_u = None
        # random numbers of courses, adverse events and flares: the first chunk now, more on demand
        n_pairs = max(len(cm.ae_pairs), 1)
        if reuse is not None and reuse._course_chunks == 1 and reuse.course_u.shape[1] == len(cm.streams) \
                and reuse.ae_u.shape[1] == n_pairs:
            self._buffers = (reuse.course_u, reuse.ae_u)
        else:
            self._buffers = None
        self.course_u = np.empty((n, len(cm.streams), 0, 5))
        self.ae_u = np.empty((n, n_pairs, 0, 2))
        self.flares = np.empty((n, 0, 2))
        self.have = np.zeros(2, dtype=np.int64)
        self._course_chunks = self._flare_chunks = 0
        self.more_courses()
        self.more_flares()

    def _update(self) -> None:
        self.draws = (self.course_u, self.ae_u, self.flares, self.have)

    def more_courses(self) -> None:
        """Draw the next chunk of every course stream and of its adverse events (pair (stream, kind))."""
        c = self._course_chunks
        cm, n = self.cm, streams.BLOCK_SIZE
        k0 = c * K_COURSES
        if c == 0 and self._buffers is not None:
            cu, au = self._buffers
        else:
            cu = np.empty((n, len(cm.streams), k0 + K_COURSES, 5))
            cu[:, :, :k0] = self.course_u
            au = np.zeros((n, self.ae_u.shape[1], k0 + K_COURSES, 2))
            au[:, :, :k0] = self.ae_u
        for s, name in enumerate(cm.streams):
            cu[:, s, k0:] = uniforms(self.seed, self.draw, self.block, _chunk_name(f"course:{name}", c), (K_COURSES, 5))
        for j, (s, k) in enumerate(cm.ae_pairs):
            name = f"adverse_event:{cm.streams[s]}:{cm.kinds[k]}"
            au[:, j, k0:] = uniforms(self.seed, self.draw, self.block, _chunk_name(name, c), (K_COURSES, 2))
        self.course_u, self.ae_u = cu, au
        self._course_chunks = c + 1
        self.have[0] = (c + 1) * K_COURSES
        self._update()

    def more_flares(self) -> None:
        """Draw the next chunk of flare thresholds and severities."""
        c = self._flare_chunks
        k0 = c * K_FLARES
        fl = np.empty((streams.BLOCK_SIZE, k0 + K_FLARES, 2))
        fl[:, :k0] = self.flares
        fl[:, k0:, 0] = exponentials(self.seed, self.draw, self.block, _chunk_name("clock:flare", c), (K_FLARES,))
        fl[:, k0:, 1] = uniforms(self.seed, self.draw, self.block, _chunk_name("flare_severity", c), (K_FLARES,))
        self.flares = fl
        self._flare_chunks = c + 1
        self.have[1] = (c + 1) * K_FLARES
        self._update()

    def more(self, P, i: int) -> None:
        """Draw what patient ``i`` needs next (the core answered NEED_DRAWS)."""
        p = P[i]
        if int(p["courses"].max()) >= self.have[0]:
            self.more_courses()
        if int(p["n_flares"]) + 1 >= self.have[1]:
            self.more_flares()

    def patients(self, k: int, n_rows: int, fresh: bool = False) -> np.ndarray:
        """Records of the block's first ``n_rows`` patients ready for strategy ``k``: the block's
        records with the trajectory reset (or a new copy with ``fresh``, when the records of several
        strategies must live together). The records of the previous strategy are overwritten."""
        P = self._P[:n_rows].copy() if fresh else self._P[:n_rows]
        t = self.template[:n_rows]
        for f in _TRAJECTORY:
            P[f] = t[f]
        mix = self.cm.records[k]["n_induction"] > 1         # the choice's stream is drawn only for a mix
        if mix and self._induction_u is None:
            self._induction_u = uniforms(self.seed, self.draw, self.block, "induction_choice", ())
        u = self._induction_u[:n_rows] if mix else np.zeros(n_rows)
        agents = np.empty(n_rows, dtype=np.int64)
        induction_agents(self.cm.records_for_core, k, u, agents)
        P["first_agent"] = agents
        P["flare_left"] = self.flares[:n_rows, 0, 0]
        return records(P)
