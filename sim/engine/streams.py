"""Named random streams, drawn in bulk over fixed-size patient blocks.

Every random number in lnsim comes from a stream keyed by *name*, never by position or worker::

    SeedSequence(seed, spawn_key=(draw, block, stream_id(name)))

where ``block = patient // BLOCK_SIZE``. A stream is drawn as a whole array for the block
(one row per patient), so

* adding a stream never shifts another (keys are names, hashed with CRC-32, not counters);
* a patient's numbers do not depend on the worker count, the chunking, or which strategies are
  simulated: every strategy of a scenario reads the same rows (common random numbers);
* nothing is drawn one scalar at a time inside the event loop.

``BLOCK_SIZE`` is part of the reproducibility contract: changing it changes every result.
"""
from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

BLOCK_SIZE = 256


@lru_cache(maxsize=None)
def stream_id(name: str) -> int:
    """Stable 32-bit id of a stream name (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(name.encode("utf-8"))


def generator(seed: int, draw: int, block: int, name: str) -> np.random.Generator:
    """The generator of stream ``name`` for one patient block of one parameter draw."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(draw), int(block), stream_id(name)))
    return np.random.Generator(np.random.PCG64(ss))


def uniforms(seed: int, draw: int, block: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform(0, 1) numbers for a whole block: array of shape ``(BLOCK_SIZE, *shape)``.

    Always drawn for the full block, whatever the number of patients actually used, so a
    patient's row is the same however many patients a run has.
    """
    return generator(seed, draw, block, name).random((BLOCK_SIZE, *shape))


def exponentials(seed: int, draw: int, block: int, name: str, shape: tuple[int, ...] = ()) -> np.ndarray:
    """Standard exponential thresholds (for cumulative-hazard clocks) for a whole block."""
    return generator(seed, draw, block, name).standard_exponential((BLOCK_SIZE, *shape))


def blocks(n_patients: int) -> range:
    """Indices of the patient blocks that cover ``n_patients`` patients."""
    return range((int(n_patients) + BLOCK_SIZE - 1) // BLOCK_SIZE)
