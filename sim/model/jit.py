"""How the clinical core is compiled: numba's ``njit`` with an on-disk cache.

Set ``NUMBA_DISABLE_JIT=1`` to run the core as plain Python (for debugging, with a debugger or
prints); the results are identical, only slower. Drivers pass records as ``numpy.recarray`` views
then (:func:`records`), so that fields read as attributes in both modes.

numba's cache checks only the source file of each compiled function, not the files of the functions
it calls: a cached :func:`sim.model.pathway.step` would keep an old copy of a rule changed in
:mod:`sim.model.course`. So the cache lives in a folder named by a hash of every source file of the
compiled code (``NUMBA_CACHE_DIR``, or ``~/.cache/lnsim/numba``, then the hash): any change to any of
them compiles afresh.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from numba import config, njit

_SIM = Path(__file__).resolve().parent.parent
COMPILED_SOURCES = sorted([*(_SIM / "model").glob("*.py"), *(_SIM / "engine").glob("*.py"),
                           _SIM / "economics" / "aggregate.py"])


def _cache_dir() -> str:
    h = hashlib.sha256()
    for f in COMPILED_SOURCES:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "lnsim", "numba")
    return os.path.join(base, h.hexdigest()[:16])


config.CACHE_DIR = _cache_dir()
core = njit(cache=True, error_model="numpy")
COMPILED = not config.DISABLE_JIT


def records(a: np.ndarray) -> np.ndarray:
    """The array of records as the core takes it (a plain structured array when compiled)."""
    return a if COMPILED else a.view(np.recarray)
