"""Analysis: what a run, or many runs, show.

* :mod:`sim.analysis.simulate`: ``sim.simulate``, the tables of a run (:mod:`sim.engine.simulation`)
  with glucocorticoid exposure, the clinical summary (:mod:`sim.analysis.outcomes`) and, costed,
  the economics (:mod:`sim.economics.evaluate`);
* :mod:`sim.analysis.psa`: probabilistic sensitivity analysis (uncertain quantities, draws, runs);
  :mod:`sim.analysis.voi`: its value-of-information measures, one per module;
  :mod:`sim.analysis.sensitivity`: one-way, scenario and Morris analysis;
* :mod:`sim.analysis.calibration` and :mod:`sim.analysis.validation` (metrics in
  :mod:`sim.analysis.validation_metrics`): fitting to named targets, simulated vs published outcomes.

What these write and draw is reporting (:mod:`sim.reporting`).
"""
