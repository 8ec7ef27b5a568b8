"""Reporting: what a person reads or a command writes.

The command line (:mod:`sim.reporting.cli`), the console summaries (:mod:`sim.reporting.console`),
the HTML report (:mod:`sim.reporting.report`, its sections in ``report_*`` modules, its HTML
helpers, language and evidence in :mod:`sim.reporting.html`, :mod:`sim.reporting.language`,
:mod:`sim.reporting.evidence`), the figures (:mod:`sim.reporting.plots`) and the writers of each
command's output folder (``*_output`` modules).
"""
