"""Service capacity: where patients really compete (MSC manufacturing, apheresis, infusion chairs).

The SimPy resources of a scenario's ``capacity:`` section (:class:`sim.inputs.capacity.Capacity`).

Without a ``capacity:`` section patients never compete and each is simulated on its own. With
one, patients arrive over time (an open population at ``arrivals_per_year``) and queue for
limited services, modelled as SimPy resources:

* **MSC manufacturing** (``msc_slots_per_month``): a resource with that many production lines;
  a patient holds a line for ``msc_manufacture_months`` (one batch) and the infusion follows.
* **Apheresis** (``apheresis_sessions_per_week``): places for concurrent courses, each course
  needing ``sessions_per_patient_week`` sessions a week (3 in the Lewis 1992 design, an
  assumption); a place is held for the course's duration.
* **Infusion chairs** (``infusion_chairs``): the first infusion of an intravenous course needs a
  chair for ``infusion_hours``.

While queueing, nephritis stays active (its hazards keep running) and the course has not started,
so waits delay response. Waiting times and utilisation are reported per service.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import simpy
from sim.inputs.capacity import Capacity
from sim.inputs.units import DAYS_PER_YEAR


@dataclass
class ServiceLog:
    """Requests to one service: (patient, wait in years) and the time it was held."""

    capacity: int
    waits: list = field(default_factory=list)
    busy_years: float = 0.0


class Services:
    """The SimPy resources of one strategy's simulation, and their logs."""

    def __init__(self, env: simpy.Environment, cap: Capacity):
        self.env, self.cap = env, cap
        self.resources: dict[str, simpy.Resource] = {}
        self.logs: dict[str, ServiceLog] = {}
        for name, places in cap.services().items():
            self._add(name, places)

    def _add(self, name: str, capacity: int) -> None:
        self.resources[name] = simpy.Resource(self.env, capacity=capacity)
        self.logs[name] = ServiceLog(capacity)

    def needs(self, therapy) -> tuple[str, float] | None:
        """The service a course needs first, and how long (years) it holds it (the scenario's rule,
        :meth:`sim.inputs.capacity.Capacity.needs`); None if unlimited."""
        return self.cap.needs(therapy)

    def release_later(self, name: str, request, hold: float):
        """Hold a granted service for ``hold`` years, then free it (a small process of its own)."""
        self.logs[name].busy_years += hold
        yield self.env.timeout(hold)
        self.resources[name].release(request)

    def table(self, span_years: float) -> list[dict]:
        rows = []
        for name, log in self.logs.items():
            waits = sorted(w for _, w in log.waits)
            n = len(waits)
            days = [w * DAYS_PER_YEAR for w in waits]
            rows.append({
                "service": name, "capacity": log.capacity, "requests": n,
                "mean_wait_days": sum(days) / n if n else 0.0,
                "p90_wait_days": days[min(n - 1, int(0.9 * n))] if n else 0.0,
                "max_wait_days": days[-1] if n else 0.0,
                "utilisation": log.busy_years / (log.capacity * span_years) if span_years > 0 else 0.0,
            })
        return rows
