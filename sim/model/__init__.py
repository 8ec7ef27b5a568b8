"""The clinical core: the pathway of Figures 2 and 3, written once (see :mod:`sim.model.pathway`)."""
