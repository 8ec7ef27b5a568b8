"""lnsim: a discrete-event simulation of lupus nephritis treatment.

Virtual patients start induction (cyclophosphamide or mycophenolate), are assessed at 3-6
months, switch induction agent when they do not respond, are classed refractory and climb the
refractory ladder of Santacruz et al. 2021 (Rev Colomb Reumatol), Figures 2 and 3.

Typical use::

    import sim
    scenario = sim.load_scenario("scenarios/base.yaml")
    result = sim.simulate(scenario, patients=1000, seed=1)
    result.summary            # long table strategy, metric, value
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("lnsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

from sim.errors import InputError  # noqa: E402
from sim.scenarios import Scenario, load_scenario  # noqa: E402
from sim.simulation import SimulationResult, simulate, write_outputs  # noqa: E402

__all__ = ["InputError", "Scenario", "SimulationResult", "load_scenario", "simulate",
           "write_outputs", "__version__"]
