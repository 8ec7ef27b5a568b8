"""The SimPy driver: one SimPy process per patient, asking the clinical core what happens next.

Each patient is a SimPy process that calls :func:`sim.model.pathway.step` and waits, in simulated
time, as long as the core says (a timeout); with limited capacity it requests the service a course
needs (a SimPy resource) and waits in its queue while death, ESRD and the horizon still compete
(:func:`sim.model.pathway.queue_deadline`). The driver holds no clinical rule: every decision is the
core's. It is the default engine of ``lnsim run`` and the only one for scenarios with capacity limits.
"""
from __future__ import annotations

import simpy

from sim.engine.records import SERVICES, Records
from sim.engine.block import serve_request
from sim.model import layout as L
from sim.model.pathway import queue_deadline, queue_left, queue_started, service_found, step


class SimpyDriver:
    """Runs one strategy's patients of one or more blocks in one SimPy environment."""

    def __init__(self, cm, k: int, env: simpy.Environment | None = None, services=None):
        self.cm, self.k = cm, k
        self.env = env if env is not None else simpy.Environment()
        self.services = services
        self.records = Records()

    def start(self, block, P, arrivals=None) -> None:
        """Start a process for every patient of ``P`` (records of ``block``), at its arrival time if any."""
        for i in range(len(P)):
            t0 = 0.0
            if arrivals is not None:
                t0 = float(arrivals[int(P[i]["pid"])])
                P[i]["t0"] = P[i]["now"] = t0
            self.env.process(self.life(block, P, i, t0))

    def life(self, block, P, i: int, t0: float):
        timeout = self.env.timeout
        delay = P["w_delay"]
        if t0:
            yield timeout(t0)
        while True:
            st = self.step(block, P, i)
            if st == L.ASK_SERVICE:
                st = yield from self.queue(block, P, i, t0)
            if st == L.WAIT:
                d = delay[i]
                if d > 0.0:
                    yield timeout(d)
            elif not serve_request(st, block, P, i, self.records):
                return

    def step(self, block, P, i: int) -> int:
        """One step of the core for patient ``i`` (:func:`sim.model.pathway.step`)."""
        rec = self.records
        return step(P, i, self.cm.records_for_core, self.k, rec.work, self.cm.response, block.draws, rec.out)

    def queue(self, block, P, i: int, t0: float):
        """Find the service the course needs (queueing for it), then let the core start the course."""
        env, cm, k, rec = self.env, self.cm, self.k, self.records
        M, R = cm.records_for_core, cm.response
        services = self.services
        therapy = cm.therapy(int(P[i]["course_next"]))
        need = services.needs(therapy)
        hold = 0.0
        if need is not None:
            service, held = need
            request = services.resources[service].request()
            asked = env.now
            rec.room()
            queue_started(P, i, rec.work, R, block.draws, rec.out, SERVICES.index(service))
            pid = int(P[i]["pid"])
            while not request.triggered:
                now = env.now - t0
                t = queue_deadline(P, i, M, k)
                yield request | env.timeout(t - now)
                if request.triggered:
                    break
                request.cancel()                                  # leaves the queue
                services.logs[service].waits.append((pid, env.now - asked))
                rec.room()
                return queue_left(P, i, M, k, rec.work, R, block.draws, rec.out, env.now, t)
            services.logs[service].waits.append((pid, env.now - asked))
            env.process(services.release_later(service, request, held))
            hold = services.cap.made_before(therapy)
        while True:
            st = service_found(P, i, M, k, rec.work, R, block.draws, rec.out, env.now, hold)
            if not serve_request(st, block, P, i, rec):
                return st
