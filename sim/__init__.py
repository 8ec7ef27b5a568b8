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

import importlib as _importlib  # noqa: E402
from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

from sim.errors import InputError  # noqa: E402

# Imported when first used (PEP 562), not with the package: ``import sim.reporting.cli`` (every lnsim
# command) does not pay for pandas, scipy.stats and pydantic before it has parsed its arguments.
_LAZY = {"Scenario": "sim.inputs.schema", "load_scenario": "sim.inputs.loading",
         "SimulationResult": "sim.engine.simulation", "simulate": "sim.analysis.simulate",
         "write_outputs": "sim.reporting.run_output"}
# the layers, in the order they may import each other (tests/test_layering.py), reachable as
# attributes (``sim.inputs``)
_SUBMODULES = frozenset({"errors", "outputs", "inputs", "model", "engine", "economics", "analysis", "reporting"})

if _TYPE_CHECKING:
    from sim.analysis.simulate import simulate
    from sim.engine.simulation import SimulationResult
    from sim.inputs.loading import load_scenario
    from sim.inputs.schema import Scenario
    from sim.reporting.run_output import write_outputs


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = ["InputError", "Scenario", "SimulationResult", "load_scenario", "simulate",
           "write_outputs", "__version__"]
