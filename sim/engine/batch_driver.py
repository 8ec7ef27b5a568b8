"""The batch driver: a compiled loop over the patients of a block, for PSA and large runs.

Patients compete for nothing unless a scenario sets capacities, so each patient's life is a pure
function of the patient's attributes and pre-drawn random numbers. The batch driver runs the same
clinical core as the SimPy driver (:func:`sim.model.pathway.step`) in one compiled loop: where the
SimPy driver yields a timeout of ``w_delay`` years, the loop just calls the core again (the core keeps
the patient's clock, moving it with the floating-point operation a SimPy timeout makes), so both
drivers give identical records, bit for bit. The driver holds no clinical rule. It returns to Python only when the core
needs more random numbers or the record buffers are full.
"""
from __future__ import annotations

from sim.engine import streams
from sim.engine.block import Block, block_rows, draw_cohort, serve_request
from sim.engine.records import Records, patients_frame
from sim.model import layout as L
from sim.model.jit import core, inlined

from sim.model.pathway import records_full, resume_at_ladder, take_step
from sim.model.work import attach

@inlined
def live_on(m, w, p):
    """Step patient ``p`` until the follow-up is over (DONE_STATUS) or the core needs the driver
    (another status). Waiting is nothing here: the core keeps each patient's clock."""
    while True:
        st = take_step(m, w, p)
        if st != L.WAIT:
            return st


@core
def run_patients(P, first, M, k, W, R, draws, out):
    """Run patients ``first..`` of ``P`` until they are all done, or the core needs the driver (more
    random numbers, room for records). Returns (status, patient) to resume from."""
    m, w = M[k], attach(W, R, draws, out)
    for i in range(first, len(P)):
        st = live_on(m, w, P[i])
        if st != L.DONE_STATUS:
            return st, i
    return L.DONE_STATUS, len(P)


# Strategies that differ only in their ladder (sim.model.build.CompiledModel.same_until_ladder) share
# each patient's life until the patient first reaches the ladder: strategy 0 is run stopping there
# (AT_LADDER) and the patient's trajectory is kept; the others go on from that copy, and their records
# are those written from the ladder on (the life before is strategy 0's: its records up to the marks).
# marks[i]: the record counters (events, segments) when patient i reached the ladder, and whether the
# patient did (1) or never did (0) (columns sim.model.layout.MARK_EV, MARK_SG, MARK_AT).


@core
def run_to_ladder(P, Pb, first, M, k, W, R, draws, out, S, marks):
    """:func:`run_patients` for the shared strategy (``M``: stopping at the ladder): a patient's
    trajectory when first reaching the ladder is copied into ``S`` (the records' tails as 8-byte words,
    :data:`sim.model.layout.TRAJECTORY_WORD`; ``Pb``: the records as 8-byte words), the record counters into
    ``marks``."""
    cnt = out[2]
    m, w = M[k], attach(W, R, draws, out)
    for i in range(first, len(P)):
        if P[i].phase == L.START:
            marks[i, L.MARK_AT] = 0
        st = live_on(m, w, P[i])
        if st == L.AT_LADDER:
            S[i] = Pb[i, L.TRAJECTORY_WORD:]
            marks[i, L.MARK_EV], marks[i, L.MARK_SG], marks[i, L.MARK_AT] = cnt[0], cnt[1], 1
            st = resume_at_ladder(m, w, P[i])
            if st == L.WAIT:
                st = live_on(m, w, P[i])
        if st != L.DONE_STATUS:
            return st, i
    return L.DONE_STATUS, len(P)


@core
def run_from_ladder(P, Pb, first, M, k, W, R, draws, out, S, marks):
    """Strategy ``k`` for the patients who reached the ladder under the shared strategy: from their
    trajectory there (``S``) on, as :func:`run_patients`; the records are those from the ladder on.
    Patients who never reached it are not run (their lives are the shared one)."""
    m, w = M[k], attach(W, R, draws, out)
    for i in range(first, len(P)):
        if marks[i, L.MARK_AT] == 0:
            continue
        if P[i].phase == L.START:
            if records_full(w):          # the ladder's first step writes records at once
                return L.RECORDS_FULL, i
            Pb[i, L.TRAJECTORY_WORD:] = S[i]
            st = resume_at_ladder(m, w, P[i])
        else:
            st = L.WAIT                  # resumed after the driver drew numbers or made room
        if st == L.WAIT:
            st = live_on(m, w, P[i])
        if st != L.DONE_STATUS:
            return st, i
    return L.DONE_STATUS, len(P)


def run_block(cm, k: int, block: Block, n_rows: int, rec: Records, keep: bool = False):
    """Strategy ``k`` for the first ``n_rows`` patients of ``block``: the patient records. With
    ``keep`` the record buffers grow instead of being flushed (the block's records stay together)."""
    P = block.patients(k, n_rows)
    M, R = cm.records_for_core, cm.response
    i = 0
    while True:
        st, i = run_patients(P, i, M, k, rec.work, R, block.draws, rec.out)
        if st == L.DONE_STATUS:
            return P
        _answer(st, rec, block, P, i, keep)


def _answer(st: int, rec: Records, block: Block, P, i: int, keep: bool = True) -> None:
    """Do what the core asked of the driver (:func:`sim.engine.block.serve_request`); there are no
    services to queue for here."""
    if not serve_request(st, block, P, i, rec, keep):
        raise RuntimeError(f"the batch driver cannot answer status {st} (capacity limits need the SimPy driver)")


def run_block_shared(cm, ks: list[int], block: Block, n_rows: int, rec0: Records, rec: Records, done):
    """Strategy 0, then strategies ``ks`` that differ from it only in their ladder, for the first
    ``n_rows`` patients of ``block``, sharing each life until the ladder. ``done(k, P, rec, marks)``
    takes each strategy's patient records and records before the next strategy overwrites them:
    strategy 0's whole lives, the others' from the ladder on (``marks``: where in strategy 0's records
    each patient reached the ladder, :data:`sim.model.layout.MARK_EV`, ``MARK_SG``, ``MARK_AT``; the other
    patients' lives are strategy 0's)."""
    R = cm.response
    S, marks = block.snapshots(n_rows)
    P = block.patients(0, n_rows)
    M0 = cm.stopping_at_ladder
    i = 0
    while True:
        st, i = run_to_ladder(P, block.patient_words(n_rows), i, M0, 0, rec0.work, R, block.draws, rec0.out, S, marks)
        if st == L.DONE_STATUS:
            break
        _answer(st, rec0, block, P, i)
    done(0, P, rec0, marks)
    M = cm.records_for_core
    for k in ks:
        rec.clear()
        P = block.patients(k, n_rows)
        i = 0
        while True:
            st, i = run_from_ladder(P, block.patient_words(n_rows), i, M, k, rec.work, R, block.draws, rec.out,
                                    S, marks)
            if st == L.DONE_STATUS:
                break
            _answer(st, rec, block, P, i)
        done(k, P, rec, marks)


def run_batch(model, n: int, seed: int, draw: int = 0, progress=None):
    """Every strategy for ``n`` patients with the batch driver: the patients, events and states tables."""
    from sim.engine.run import _tables
    from sim.model.build import compile_model
    cm = compile_model(model)
    cohort = draw_cohort(cm, seed, draw, n)
    out = {}
    for k in range(len(cm.strategies)):
        out[k] = ([], Records())
    block = None
    for b in streams.blocks(n):
        block = Block(cm, seed, draw, b, block_rows(cohort, b), reuse=block)
        n_rows = block.rows
        for k in range(len(cm.strategies)):
            P = run_block(cm, k, block, n_rows, out[k][1])
            out[k][0].append(patients_frame(cm, k, P, block.cohort))
            if progress is not None:
                progress(n_rows)
    per = {}
    for k, (frames, rec) in out.items():
        ev, sg = rec.arrays()
        per[k] = (frames, ev, sg)
    return _tables(cm, per)
