"""One block of patients as the core reads them: attributes, clock thresholds and random numbers.

For each block of :data:`sim.engine.streams.BLOCK_SIZE` patients the cohort, the clocks' thresholds and
the random numbers are prepared once (:class:`Block`) and shared by every strategy: the same patients
with the same random streams (common random numbers). (The hazard tables are written by the core,
kept in the patients' records from strategy to strategy: the breakpoints, the death table of active
nephritis and the ESRD tables when the patient first starts, :func:`sim.model.hazards.patient_tables`;
the death table of another health state when the patient first enters it, or another state sharing
the table (partial and complete response), :func:`sim.model.hazards.enter_death_table`; under whichever
strategy gets there first, the same numbers either way.)
Random numbers come from named streams (:mod:`sim.engine.streams`): the courses of each response stream
and their adverse events (``K_COURSES`` courses per chunk, ``#1``, ``#2``... beyond the first), the
renal flares (``K_FLARES`` per chunk), the work-up and the choice of induction agent. Courses and
adverse events are not drawn here: the block keeps the start state of each stream of each chunk and
the core draws a course's numbers when the course starts, jumping the stream to them
(:func:`sim.model.work.course_numbers`), so that no number is drawn that no course reads. The rest is
drawn as whole arrays. A chunk beyond the first is added when a patient needs it (the core asks:
``NEED_DRAWS``; ``have``: the courses and flares drawn for every patient of the block): a course chunk's start states, a
flare chunk's numbers for every row (into arrays kept with room for more). A patient's numbers never
depend on which chunks were drawn, nor on when.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from sim.engine import streams
from sim.engine.rng import Cohort, draw_into, jump_table, sample_cohort, stream_starts
from sim.model.hazards import new_patients
from sim.model import layout as L
from sim.model.jit import records
from sim.model.pathway import induction_agents
from sim.model.work import courses_short, flares_short

K_COURSES = L.COURSE_CHUNK     # courses of one therapy per patient per stream chunk
K_FLARES = 16     # flare thresholds per stream chunk


_TRAJECTORY = [f for f in L.PATIENT.names if f not in L.PATIENT_FIXED]
_START = np.dtype([(f, L.PATIENT.fields[f][0]) for f in _TRAJECTORY])
# the trajectory is the tail of a PATIENT record (sim.model.layout.TRAJECTORY_OFFSET), laid out as _START
assert _START.itemsize == L.PATIENT.itemsize - L.TRAJECTORY_OFFSET


def _start_values() -> np.ndarray:
    """The trajectory's starting values, but the clocks of transplant and graft failure (per patient);
    kept as 8-byte words (:data:`_START_WORDS`) to be copied whole into a block's template."""
    t = np.zeros((), dtype=_START)
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
    return t


_START_WORDS = _start_values().reshape(1).view(np.uint64)
_CLOCKS = ("clock:death", "clock:esrd", "clock:transplant", "clock:graft_failure")


def _chunk_name(base: str, c: int) -> str:
    return base + (f"#{c}" if c else "")


_CHUNK_STREAMS: dict[tuple, tuple[list[str], int]] = {}


def _chunk_streams(cm, c: int) -> tuple[list[str], int]:
    """The names of chunk ``c`` of every course stream, then of the adverse-event stream of every pair
    (stream, kind), and how many course streams there are (made once per model structure)."""
    key = (tuple(cm.streams), tuple(cm.kinds), tuple(tuple(p) for p in cm.ae_pairs), c)
    if key not in _CHUNK_STREAMS:
        course = [_chunk_name(f"course:{name}", c) for name in cm.streams]
        ae = [_chunk_name(f"adverse_event:{cm.streams[s]}:{cm.kinds[k]}", c) for s, k in cm.ae_pairs]
        _CHUNK_STREAMS[key] = (course + ae, len(course))
    return _CHUNK_STREAMS[key]


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


class Block:
    """Everything random or patient-specific about one block, shared by all strategies (``cohort``:
    the block's rows of :func:`draw_cohort`). ``reuse``: a finished block whose memory this one may
    take (blocks run one after another).

    Only the block's ``cohort.n`` rows are filled (records, random numbers): a patient's
    numbers come before the next patient's in every stream, so they do not depend on how many rows
    are drawn, and the rows of a block beyond its patients are never simulated."""

    def __init__(self, cm, seed: int, draw: int, block: int, cohort: Cohort, reuse: "Block | None" = None):
        self.cm, self.seed, self.draw, self.block = cm, seed, draw, block
        self.cohort = c = cohort
        n, r = streams.BLOCK_SIZE, c.n
        self.rows = r
        # who the patients are and their clocks' thresholds: written once, kept from strategy to strategy
        # (with the hazard tables, which the core writes when the patient first starts)
        P = reuse._P if reuse is not None else np.zeros(n, dtype=L.PATIENT)
        P["pid"][:r] = block * n + np.arange(r)
        P["row"][:r] = np.arange(r)
        for f in ("isn_class", "ancestry", "nonadherent", "chronicity", "lookalike"):
            P[f][:r] = getattr(c, f)
        clocks = np.empty((n, len(_CLOCKS), 1, 1))
        draw_into(clocks, seed, draw, block, _CLOCKS, rows=r, exponential=[True] * len(_CLOCKS))
        P["e_death"][:r], P["e_esrd"][:r] = clocks[:r, 0, 0, 0], clocks[:r, 1, 0, 0]
        new_patients(records(P), r, c.age, c.female)
        if any(s.workup.active for s in cm.strategies):
            w = np.empty((n, 1, 1, 3))
            draw_into(w, seed, draw, block, ["workup"], rows=r)
            P["workup_u"][:r] = w[:r, 0, 0]
        # the trajectory's starting values (copied into P for each strategy)
        t = reuse.template if reuse is not None else np.zeros(n, dtype=_START)
        # P and t as rows of 8-byte words, the same memory (a view of records with many fields is slow to
        # make: made once; words, not bytes: numpy copies them eight times faster)
        self._words = (reuse._words if reuse is not None else
                       (P.view(np.uint64).reshape(n, L.PATIENT_WORDS), t.view(np.uint64).reshape(n, _START.itemsize // 8)))
        self._words[1][:r] = _START_WORDS
        t["tx_left"][:r], t["graft_left"][:r] = clocks[:r, 2, 0, 0], clocks[:r, 3, 0, 0]
        self.template, self._P = t, P
        self._snapshots = reuse._snapshots if reuse is not None else None
        self._induction_u = None
        # random numbers of flares: the first chunk now, more on demand, in an array with room for more
        # chunks (the previous block's, when it fits)
        old = reuse.flares if reuse is not None else None
        self.flares = old if old is not None else np.zeros((n, 2 * K_FLARES, 2))
        # how many courses (of every stream) and flares are drawn for every patient of the block (chunks
        # are added for the whole block)
        self.have = reuse.have if reuse is not None else np.zeros(2, dtype=np.int64)
        self.have[:] = 0
        # courses and adverse events: the core draws a course's numbers when it starts, from the start
        # states of its chunk's streams and the jump tables (sim.model.work.course_numbers)
        self.starts = (np.zeros((0, 4), dtype=np.uint64), np.zeros((0, 4), dtype=np.uint64))
        self.jumps = (jump_table(5, K_COURSES), jump_table(2, K_COURSES))
        self.more_courses()
        self.more_flares()

    def _update(self) -> None:
        chunks = int(self.have[0]) // K_COURSES
        # no adverse-event streams: a row per chunk, never read
        starts = [s if len(s) else np.zeros((chunks, 4), dtype=np.uint64) for s in self.starts]
        self.draws = (self.flares, self.have, *starts, *self.jumps)

    @staticmethod
    def _room(a: np.ndarray, axis: int, k: int) -> np.ndarray:
        """``a``, or a copy with twice the room along ``axis``, so that it holds ``k`` elements there."""
        if a.shape[axis] >= k:
            return a
        shape = list(a.shape)
        shape[axis] = max(2 * a.shape[axis], k)
        b = np.zeros(shape)
        b[(slice(None),) * axis + (slice(0, a.shape[axis]),)] = a
        return b

    def more_courses(self) -> None:
        """The next chunk of every course stream and of its adverse events (pair (stream, kind)), for
        every row: the streams' start states (the core draws the numbers, :func:`sim.model.work.course_numbers`)."""
        c = int(self.have[0]) // K_COURSES
        names, n_course = _chunk_streams(self.cm, c)
        st = stream_starts(self.seed, self.draw, self.block, names)      # one compiled call for both kinds
        course, ae = st[:n_course], st[n_course:]
        self.starts = (course, ae) if c == 0 else (np.concatenate([self.starts[0], course]),
                                                   np.concatenate([self.starts[1], ae]))
        self.have[0] = (c + 1) * K_COURSES
        self._update()

    def more_flares(self) -> None:
        """Draw the next chunk of flare thresholds and severities (every row: an exponential stream
        cannot jump to a row)."""
        k0 = int(self.have[1])
        c, k1 = k0 // K_FLARES, k0 + K_FLARES
        self.flares = self._room(self.flares, 1, k1)
        # (patient, stream, flare, 1): the thresholds' stream then the severities'
        draw_into(np.moveaxis(self.flares[:, :k1, :, None], 2, 1), self.seed, self.draw, self.block,
                  [_chunk_name("clock:flare", c), _chunk_name("flare_severity", c)], k0, self.rows,
                  exponential=[True, False])
        self.have[1] = k1
        self._update()

    def more(self, P, i: int) -> None:
        """Draw what patient ``i`` needs next (the core answered NEED_DRAWS)."""
        p = P[i]
        if courses_short(p["courses"], len(self.cm.streams), self.have[0]):
            self.more_courses()
        if flares_short(p["n_flares"], self.have[1]):
            self.more_flares()

    def patient_words(self, n_rows: int) -> np.ndarray:
        """The records of :meth:`patients` as rows of 8-byte words (the same memory)."""
        return self._words[0][:n_rows]

    def snapshots(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Room for the trajectories of the block's first ``n_rows`` patients as 8-byte words, and three int64
        marks each (:func:`sim.engine.batch_driver.run_block_shared`); kept from block to block."""
        if self._snapshots is None:
            n = streams.BLOCK_SIZE
            self._snapshots = (np.empty((n, _START.itemsize // 8), dtype=np.uint64), np.zeros((n, 3), dtype=np.int64))
        S, marks = self._snapshots
        return S[:n_rows], marks[:n_rows]

    def patients(self, k: int, n_rows: int) -> np.ndarray:
        """Records of the block's first ``n_rows`` patients ready for strategy ``k``: the block's
        records with the trajectory reset. The records of the previous strategy are overwritten."""
        P = self._P[:n_rows]
        Pw, tw = self._words
        Pw[:n_rows, L.TRAJECTORY_WORD:] = tw[:n_rows]     # the trajectory: the records' tails
        mix = self.cm.records[k]["n_induction"] > 1         # the choice's stream is drawn only for a mix
        if mix and self._induction_u is None:
            u = np.empty((streams.BLOCK_SIZE, 1, 1, 1))
            draw_into(u, self.seed, self.draw, self.block, ["induction_choice"], rows=self.rows)
            self._induction_u = u[:, 0, 0, 0]
        u = self._induction_u[:n_rows] if mix else np.zeros(n_rows)
        agents = np.empty(n_rows, dtype=np.int64)
        induction_agents(self.cm.records_for_core, k, u, agents)
        P["first_agent"] = agents
        P["flare_left"] = self.flares[:n_rows, 0, 0]
        return records(P)


def serve_request(st: int, block: Block, P, i: int, rec, keep: bool = False) -> bool:
    """Do what the core asked of its driver for patient ``i`` (records ``P``): draw more random numbers
    (NEED_DRAWS), or make room for records (RECORDS_FULL: flush the buffers ``rec``, or grow them with
    ``keep`` so that a block's records stay together). False if ``st`` asks for neither; the driver
    then calls the core again."""
    if st == L.NEED_DRAWS:
        block.more(P, i)
    elif st == L.RECORDS_FULL:
        rec.grow() if keep else rec.flush()
    else:
        return False
    return True
