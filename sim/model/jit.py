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
#: for a small function on a hot path that must cost no call (numba inlines it where it is called)
inlined = njit(cache=True, error_model="numpy", inline="always")
COMPILED = not config.DISABLE_JIT


def _pointer(dtype):
    """An intrinsic: the address of a buffer (an integer) as a typed pointer, for :func:`numba.carray`."""
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def pointer(typingctx, address):
        sig = types.CPointer(dtype)(types.int64)

        def codegen(context, builder, sig, args):
            return builder.inttoptr(args[0], context.get_value_type(sig.return_type))
        return sig, codegen
    return pointer


if COMPILED:
    from numba import carray, float64, int64, uint64

    _f8_pointer, _i8_pointer, _u8_pointer = _pointer(float64), _pointer(int64), _pointer(uint64)

    @core
    def address_of(a):
        """The address of a C-contiguous array's data."""
        return a.ctypes.data

    @core
    def view_f8(address, shape):
        """The float64 array of ``shape`` at ``address`` (not owned: the driver keeps it alive)."""
        return carray(_f8_pointer(address), shape)

    @core
    def view_i8(address, shape):
        """The int64 array of ``shape`` at ``address`` (not owned: the driver keeps it alive)."""
        return carray(_i8_pointer(address), shape)

    @core
    def view_u8(address, shape):
        """The uint64 array of ``shape`` at ``address`` (not owned: the driver keeps it alive)."""
        return carray(_u8_pointer(address), shape)
else:
    import weakref

    #: plain Python: the arrays behind the addresses (as long as their owner keeps them)
    _ARRAYS: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()

    def address_of(a):
        """Plain Python: the address of the array's data, remembering the array."""
        address = a.ctypes.data
        _ARRAYS[address] = a
        return address

    def view_f8(address, shape):
        """Plain Python: the array remembered at ``address`` (which must still be alive, of ``shape``)."""
        a = _ARRAYS[address]
        if a.shape != tuple(shape):
            raise ValueError(f"the array at {address:#x} has shape {a.shape}, not {tuple(shape)}")
        return a

    view_i8 = view_u8 = view_f8


def records(a: np.ndarray) -> np.ndarray:
    """The array of records as the core takes it (a plain structured array when compiled)."""
    return a if COMPILED else a.view(np.recarray)
