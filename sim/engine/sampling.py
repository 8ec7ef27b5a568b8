"""Virtual patients sampled from a scenario's population, a block at a time.

Patients are sampled in blocks (see :mod:`sim.engine.streams`): one call draws every attribute of
the 256 patients of a block as numpy arrays, from the named stream ``"cohort"``. A patient's
attributes depend only on the seed, the parameter draw and the patient's index, never on the
strategy, so every strategy of a scenario sees the same patients. The population itself (its
distributions and presets) is an input: :class:`sim.inputs.cohort.Population`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.engine import streams
from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES, Population
from sim.inputs.therapies import ISN_CLASSES


@dataclass(frozen=True)
class PatientBlock:
    """Attributes of the patients of one block, as arrays (row i = patient block*BLOCK_SIZE + i)."""

    block: int
    age: np.ndarray
    female: np.ndarray
    isn_class: np.ndarray      # object array of class labels
    ancestry: np.ndarray       # object array of ancestry labels
    weight_kg: np.ndarray
    height_cm: np.ndarray
    bsa_m2: np.ndarray
    proteinuria_g_day: np.ndarray
    egfr_ml_min: np.ndarray
    nonadherent: np.ndarray
    chronicity: np.ndarray     # object array of CHRONICITY labels
    lookalike: np.ndarray      # object array of LOOKALIKES labels


def _categorical(u: np.ndarray, shares: dict[str, float], order: tuple[str, ...]) -> np.ndarray:
    labels = [k for k in order if shares.get(k, 0) > 0]
    cum = np.cumsum([shares[k] for k in labels])
    idx = np.searchsorted(cum / cum[-1], u, side="right")
    return np.asarray(labels, dtype=object)[np.minimum(idx, len(labels) - 1)]


def sample_block(pop: Population, seed: int, draw: int, block: int) -> PatientBlock:
    """Sample every attribute of one block of patients in one bulk draw."""
    u = streams.uniforms(seed, draw, block, "cohort", (9,))
    weight = pop.weight_kg.ppf(u[:, 4])
    height = pop.height_cm.ppf(u[:, 5])
    return PatientBlock(
        block=block,
        age=pop.age_years.ppf(u[:, 0]),
        female=u[:, 1] < pop.female,
        isn_class=_categorical(u[:, 2], pop.isn_class, ISN_CLASSES),
        ancestry=_categorical(u[:, 3], pop.ancestry, ANCESTRIES),
        weight_kg=weight,
        height_cm=height,
        bsa_m2=np.sqrt(weight * height / 3600.0),   # Mosteller
        proteinuria_g_day=pop.proteinuria_g_day.ppf(u[:, 6]),
        egfr_ml_min=pop.egfr_ml_min.ppf(u[:, 7]),
        nonadherent=u[:, 8] < pop.nonadherent,
        # own named streams: adding them left every other attribute's numbers unchanged
        chronicity=_categorical(streams.uniforms(seed, draw, block, "chronicity", ()), pop.chronicity, CHRONICITY),
        lookalike=_categorical(streams.uniforms(seed, draw, block, "lookalike", ()), pop.lookalike, LOOKALIKES),
    )
