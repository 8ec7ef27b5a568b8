"""Running a scenario's strategies over blocks of patients with a driver; the result tables.

For each block of patients (:class:`sim.engine.block.Block`, shared by every strategy: common
random numbers) each strategy's patients run through the clinical core with the chosen driver;
records become the ``patients``, ``events`` and ``states`` tables at the end.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from sim.engine import streams
from sim.engine.block import Block, block_rows, draw_cohort
from sim.engine.records import events_frame, patients_frame, states_frame
from sim.engine.simpy_driver import SimpyDriver
from sim.model.build import compile_model


def _tables(cm, per_strategy: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    pats, evs, segs = [], [], []
    for k, s in enumerate(cm.strategies):
        frames, ev, sg = per_strategy[k]
        df = pd.concat(frames, ignore_index=True)
        df.insert(0, "strategy", s.name)
        pats.append(df)
        e = events_frame(cm, ev)
        e.insert(0, "strategy", s.name)
        evs.append(e)
        g = states_frame(cm, sg)
        g.insert(0, "strategy", s.name)
        segs.append(g)
    patients = pd.concat(pats, ignore_index=True)
    events = pd.concat(evs, ignore_index=True)      # each strategy's table is in patient order already
    states = pd.concat(segs, ignore_index=True)
    return patients, events, states


def run_simpy(model, n: int, seed: int, draw: int = 0, progress=None):
    """Every strategy for ``n`` patients, one SimPy environment per block and strategy."""
    cm = compile_model(model)
    cohort = draw_cohort(cm, seed, draw, n)
    out = {k: ([], [], []) for k in range(len(cm.strategies))}
    block = None
    for b in streams.blocks(n):
        block = Block(cm, seed, draw, b, block_rows(cohort, b), reuse=block)
        n_rows = block.rows
        for k in range(len(cm.strategies)):
            P = block.patients(k, n_rows)
            drv = SimpyDriver(cm, k)
            drv.start(block, P)
            drv.env.run()
            ev, sg = drv.records.arrays()
            acc = out[k]
            acc[0].append(patients_frame(cm, k, P, block.cohort))
            acc[1].append(ev)
            acc[2].append(sg)
            if progress is not None:
                progress(n_rows)
    return _tables(cm, {k: (v[0], np.concatenate(v[1]), np.concatenate(v[2])) for k, v in out.items()})


def run_simpy_capacity(model, n: int, seed: int, draw: int, arrivals):
    """An open population with limited services: one SimPy environment per strategy, all patients in it.
    Returns the tables and, per strategy, the services' table rows."""
    import simpy

    from sim.engine.services import Services
    sc = model.scenario
    cm = compile_model(model, capacity=True)
    cohort = draw_cohort(cm, seed, draw, n)
    blocks = [Block(cm, seed, draw, b, block_rows(cohort, b)) for b in streams.blocks(n)]
    out, service_rows = {}, {}
    for k in range(len(cm.strategies)):
        env = simpy.Environment()
        services = Services(env, sc.capacity)
        drv = SimpyDriver(cm, k, env=env, services=services)
        runs = []
        for b, block in enumerate(blocks):
            n_rows = block.rows
            P = block.patients(k, n_rows)
            drv.start(block, P, arrivals)
            runs.append((block, P, n_rows))
        env.run()
        ev, sg = drv.records.arrays()
        out[k] = ([patients_frame(cm, k, P, block.cohort) for block, P, n_rows in runs], ev, sg)
        service_rows[k] = services.table(env.now)
    return _tables(cm, out), service_rows
