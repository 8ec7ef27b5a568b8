"""Inputs: what a run is made of, read and checked before anything is simulated.

* the scenario: its schema (:mod:`sim.inputs.schema`, with the ``economics:``, ``psa:`` and
  ``capacity:`` sections in :mod:`sim.inputs.economic_settings`, :mod:`sim.inputs.psa_settings`
  and :mod:`sim.inputs.capacity`), how a file is read (:mod:`sim.inputs.yaml_files`,
  :mod:`sim.inputs.loading`, errors worded by :mod:`sim.inputs.messages`), cross-checked
  (:mod:`sim.inputs.checks`) and compiled into a :class:`sim.inputs.build.Model`;
* what it is compiled from: model parameters (:mod:`sim.inputs.parameters`, calibrated parameter
  files in :mod:`sim.inputs.parameter_files`), therapies (:mod:`sim.inputs.therapies`), cohort
  presets (:mod:`sim.inputs.cohort`), life tables (:mod:`sim.inputs.life_table`), cost and utility
  tables (:mod:`sim.inputs.economic_tables`), the package's data files
  (:mod:`sim.inputs.data_files`) and shared units (:mod:`sim.inputs.units`).

Layers (``tests/test_layering.py``): errors, outputs < inputs < model < engine < economics <
analysis < reporting. Nothing here imports a later layer.
"""
