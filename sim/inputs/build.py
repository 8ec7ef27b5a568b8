"""A compiled scenario (:class:`Model`): the validated scenario with its parameters, therapies and life
table resolved (by :meth:`sim.inputs.schema.Scenario.build`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.inputs.life_table import LifeTable
    from sim.inputs.parameters import ModelParameters
    from sim.inputs.schema import Scenario, Strategy
    from sim.inputs.therapies import TherapyCatalogue


@dataclass(frozen=True)
class Model:
    """A compiled scenario: the validated spec with resolved parameters, therapies and life table."""

    scenario: Scenario
    params: ModelParameters
    therapies: TherapyCatalogue
    life_table: LifeTable
    source: str

    def strategy(self, name: str) -> Strategy:
        for s in self.scenario.strategies:
            if s.name == name:
                return s
        raise KeyError(name)


def build(sc: Scenario) -> Model:
    """Compile a scenario loaded by :func:`sim.inputs.loading.load_scenario` (or built in Python)."""
    return sc.build(sc._source, sc._base_dir)
