"""The engine: drivers that run the clinical core (:mod:`sim.model`) over patients, and their random streams."""
