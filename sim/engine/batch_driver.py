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
from sim.engine.block import Block, block_rows, draw_cohort
from sim.engine.records import Records, patients_frame
from sim.model import layout as L
from sim.model.jit import core
from sim.model.pathway import step

@core
def run_patients(P, first, M, k, R, draws, out):
    """Run patients ``first..`` of ``P`` until they are all done, or the core needs the driver (more
    random numbers, room for records). Returns (status, patient) to resume from. Waiting is nothing
    here: the core keeps each patient's clock."""
    for i in range(first, len(P)):
        while True:
            st = step(P, i, M, k, R, draws, out)
            if st == L.DONE_STATUS:
                break
            if st != L.WAIT:
                return st, i
    return L.DONE_STATUS, len(P)


def run_block(cm, k: int, block: Block, n_rows: int, rec: Records, keep: bool = False):
    """Strategy ``k`` for the first ``n_rows`` patients of ``block``: the patient records. With
    ``keep`` the record buffers grow instead of being flushed (the block's records stay together)."""
    P = block.patients(k, n_rows)
    M, R = cm.records_for_core, cm.response
    i = 0
    while True:
        st, i = run_patients(P, i, M, k, R, block.draws, rec.out)
        if st == L.DONE_STATUS:
            return P
        if st == L.RECORDS_FULL:
            rec.grow() if keep else rec.flush()
        elif st == L.NEED_DRAWS:
            block.more(P, i)
        else:
            raise RuntimeError(f"the batch driver cannot answer status {st} (capacity limits need the SimPy driver)")


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
        n_rows = min(streams.BLOCK_SIZE, n - b * streams.BLOCK_SIZE)
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
