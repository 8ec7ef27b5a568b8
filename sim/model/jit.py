"""How the clinical core is compiled: numba's ``njit`` with an on-disk cache.

Set ``NUMBA_DISABLE_JIT=1`` to run the core as plain Python (for debugging, with a debugger or
prints); the results are identical, only slower. Drivers pass records as ``numpy.recarray`` views
then (:func:`records`), so that fields read as attributes in both modes.

numba's cache checks only the source file of each compiled function, not the files of the functions
it calls nor the constants it fixes: a cached :func:`sim.model.pathway.step` would keep an old copy
of a rule changed in :mod:`sim.model.course`. So the cache lives in a folder named by a hash of every
file the compiled code is made of (:data:`COMPILED_SOURCES`; ``NUMBA_CACHE_DIR``, or
``~/.cache/lnsim/numba``, then the hash): any change to any of them compiles afresh. Every module of
lnsim with compiled code imports this one before it compiles anything. (numba's cache folder is a
process-wide setting: other numba code cached in the same process lands there too.)
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from numba import config, njit

_SIM = Path(__file__).resolve().parent.parent
#: what the compiled code is made of: its source files, and the files whose constants it fixes at
#: compile time (the label lists of sim.inputs.cohort and sim.inputs.therapies, numpy's ziggurat tables)
COMPILED_SOURCES = sorted([*(_SIM / "model").glob("*.py"), *(_SIM / "engine").glob("*.py"),
                           _SIM / "economics" / "aggregate.py", _SIM / "inputs" / "cohort.py",
                           _SIM / "inputs" / "therapies.py", _SIM / "data" / "ziggurat_exp.npz"])


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


def _borrowed(typingctx, arr):
    """The same array without its reference count (numba's ``meminfo``): passing it from function
    to function then costs no atomic increment and decrement per call, which otherwise took about a
    third of the core's time. The caller keeps the array alive while the view is used."""
    from numba.core import cgutils

    def codegen(context, builder, sig, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        view = context.make_array(arr)(context, builder)
        for name in ("parent", "nitems", "itemsize", "data", "shape", "strides"):
            setattr(view, name, getattr(src, name))
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        return view._getvalue()
    return arr(arr), codegen


if COMPILED:
    from numba.extending import intrinsic
    borrowed = intrinsic(_borrowed)
else:
    def borrowed(arr):
        """Plain Python: the array itself."""
        return arr


def records(a: np.ndarray) -> np.ndarray:
    """The array of records as the core takes it (a plain structured array when compiled)."""
    return a if COMPILED else a.view(np.recarray)
