"""One block of patients as the core reads them: attributes, hazard tables and random numbers.

For each block of :data:`sim.streams.BLOCK_SIZE` patients the cohort, the hazard tables and the
random numbers are prepared once (:class:`Block`) and shared by every strategy: the same patients
with the same random streams (common random numbers). Random numbers come from named streams
(:mod:`sim.streams`), drawn as whole arrays: the courses of each response stream and their adverse
events (``K_COURSES`` courses per chunk), the renal flares (``K_FLARES`` per chunk), the work-up and
the choice of induction agent. A chunk beyond the first is drawn when a patient needs it (the core
asks: ``NEED_DRAWS``); a patient's numbers never depend on which chunks were drawn.
"""
from __future__ import annotations

import numpy as np

from sim.engine import streams
from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.engine.sampling import sample_block
from sim.model.hazards import HEALTH_STATES, PRE_ESRD, death_tables, esrd_multiplier, esrd_tables
from sim.model import layout as L
from sim.model.jit import records
from sim.model.pathway import induction_agent
from sim.inputs.therapies import ISN_CLASSES

K_COURSES = 8     # courses of one therapy per patient per stream chunk
K_FLARES = 16     # flare thresholds per stream chunk


def _chunk_name(base: str, c: int) -> str:
    return base + (f"#{c}" if c else "")


class Block:
    """Everything random or patient-specific about one block, shared by all strategies."""

    def __init__(self, cm, seed: int, draw: int, block: int):
        self.cm, self.seed, self.draw, self.block = cm, seed, draw, block
        model = cm.model
        sc = model.scenario
        self.cohort = c = sample_block(sc.cohort, seed, draw, block)
        n = streams.BLOCK_SIZE
        lt = model.life_table
        d_bps, d_tab = death_tables(c.age, c.female, lt.female, lt.male, model.params, sc.horizon_years)
        e_bps, e_tab = esrd_tables(c.isn_class, model.params, esrd_multiplier(model.params, c.chronicity))
        clocks = {name: streams.exponentials(seed, draw, block, f"clock:{name}")
                  for name in ("death", "esrd", "transplant", "graft_failure")}
        t = np.zeros(n, dtype=L.PATIENT)
        t["pid"] = block * n + np.arange(n)
        t["row"] = np.arange(n)
        t["isn_class"] = [ISN_CLASSES.index(x) for x in c.isn_class]
        t["ancestry"] = [ANCESTRIES.index(x) for x in c.ancestry]
        t["nonadherent"] = c.nonadherent
        t["chronicity"] = [CHRONICITY.index(x) for x in c.chronicity]
        t["lookalike"] = [LOOKALIKES.index(x) for x in c.lookalike]
        t["e_death"], t["e_esrd"] = clocks["death"], clocks["esrd"]
        t["tx_left"], t["graft_left"] = clocks["transplant"], clocks["graft_failure"]
        nb = d_bps.shape[1]
        t["d_bps"][:, :nb] = d_bps
        for s, name in enumerate(HEALTH_STATES):
            cum, rates = d_tab[name]
            t["d_cum"][:, s, :nb] = cum
            t["d_rates"][:, s, :nb - 1] = rates
        t["e_bps"] = e_bps
        for s, name in enumerate(PRE_ESRD):
            cum, rates = e_tab[name]
            t["e_cum"][:, s, :] = cum
            t["e_rates"][:, s, :2] = rates
        if any(s.workup.active for s in cm.strategies):
            t["workup_u"] = streams.uniforms(seed, draw, block, "workup", (3,))
        # the trajectory's starting values
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
        self.template = t
        self._induction_u = None
        # random numbers of courses, adverse events and flares: the first chunk now, more on demand
        n_streams, n_kinds = len(cm.streams), max(len(cm.kinds), 1)
        self.course_u = np.zeros((n, n_streams, 0, 5))
        self.ae_u = np.zeros((n, n_streams, n_kinds, 0, 2))
        self.flares = np.zeros((n, 0, 2))
        self.have = np.zeros(2, dtype=np.int64)
        self._course_chunks = self._flare_chunks = 0
        self.more_courses()
        self.more_flares()

    def _update(self) -> None:
        self.draws = (self.course_u, self.ae_u, self.flares, self.have)

    def more_courses(self) -> None:
        """Draw the next chunk of every course and adverse-event stream."""
        c = self._course_chunks
        cm, n = self.cm, streams.BLOCK_SIZE
        cu = np.zeros((n, len(cm.streams), K_COURSES, 5))
        for s, name in enumerate(cm.streams):
            cu[:, s] = streams.uniforms(self.seed, self.draw, self.block, _chunk_name(f"course:{name}", c), (K_COURSES, 5))
        au = np.zeros((n, len(cm.streams), self.ae_u.shape[2], K_COURSES, 2))
        for s, k in cm.ae_pairs:
            name = f"adverse_event:{cm.streams[s]}:{cm.kinds[k]}"
            au[:, s, k] = streams.uniforms(self.seed, self.draw, self.block, _chunk_name(name, c), (K_COURSES, 2))
        self.course_u = np.concatenate([self.course_u, cu], axis=2)
        self.ae_u = np.concatenate([self.ae_u, au], axis=3)
        self._course_chunks = c + 1
        self.have[0] = (c + 1) * K_COURSES
        self._update()

    def more_flares(self) -> None:
        """Draw the next chunk of flare thresholds and severities."""
        c = self._flare_chunks
        fl = np.empty((streams.BLOCK_SIZE, K_FLARES, 2))
        fl[:, :, 0] = streams.exponentials(self.seed, self.draw, self.block, _chunk_name("clock:flare", c), (K_FLARES,))
        fl[:, :, 1] = streams.uniforms(self.seed, self.draw, self.block, _chunk_name("flare_severity", c), (K_FLARES,))
        self.flares = np.concatenate([self.flares, fl], axis=1)
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

    def patients(self, k: int, n_rows: int) -> np.ndarray:
        """Fresh records of the block's first ``n_rows`` patients for strategy ``k``."""
        P = self.template[:n_rows].copy()
        m = self.cm.records[k]
        if m["n_induction"] == 1:
            P["first_agent"] = m["induction_agent"][0]
        else:
            if self._induction_u is None:
                self._induction_u = streams.uniforms(self.seed, self.draw, self.block, "induction_choice", ())
            rec = records(self.cm.records)
            P["first_agent"] = [induction_agent(rec[k], float(u)) for u in self._induction_u[:n_rows]]
        P["flare_left"] = self.flares[:n_rows, 0, 0]
        return records(P)
