"""Economics: costs, QALYs and life years of a finished simulation ("simulate, then cost").

* :mod:`sim.economics.evaluate`: prices the ``states`` and ``events`` tables of a run (and
  :func:`~sim.economics.evaluate.recost` with other settings, no re-simulation);
* :mod:`sim.economics.pricing`: how one dose component is priced (shared with aggregate mode);
* :mod:`sim.economics.aggregate`: aggregate mode, each trajectory priced from its records in
  compiled code, no tables;
* :mod:`sim.economics.discounting`: continuous-time discounting;
* :mod:`sim.economics.cea`: the incremental analysis (ICERs, dominance) and net benefit.

The settings and tables it prices with are inputs (:mod:`sim.inputs.economic_settings`,
:mod:`sim.inputs.economic_tables`).
"""
