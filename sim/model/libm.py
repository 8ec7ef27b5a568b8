"""exp, log, log1p and expm1 of arrays through the C maths library: the same bits on every machine.

numpy picks the loop of a ufunc by the processor it runs on. For float64 ``exp`` and ``log`` it has
its own AVX512F loops, and for ``log1p``, ``expm1``, ``power`` and others AVX512_SKX loops (Intel's
SVML); on a processor without them it calls the C library. The two round differently in about one
element in a few hundred (seen: 3 of 300 ages one unit in the last place apart between an AVX-512 and
an AVX2 machine), so a model that sends its numbers through those ufuncs gives different results on
different machines, and every later draw that compares a number with a threshold can differ too.

Every number that reaches lnsim's results is therefore computed by the C library: the compiled core
calls it (``math.exp`` in numba's code is a call to the C library's ``exp``), Python's ``math`` module
does, and arrays go through the loops below (compiled, one C-library call per element; under
``NUMBA_DISABLE_JIT`` the same calls from Python). Use these, not ``np.exp`` / ``np.log`` /
``np.log1p`` / ``np.expm1`` / ``**`` with a non-integer power, for anything a result depends on
(``tests/test_libm.py`` runs a simulation and a PSA with those numpy functions made to fail).

(numba could route such loops to SVML if Intel's runtime library is installed beside it
(``numba.config.USING_SVML``); lnsim does not depend on it, and the tests check it is not in use.)
"""
from __future__ import annotations

import math

import numpy as np

from sim.model.jit import core


#: the largest x whose exp is finite (log of the largest double); beyond it exp is inf (Python's
#: math.exp would raise, compiled code gives inf: the guard makes both modes agree)
EXP_MAX = 709.782712893384


@core
def _exp(x, out):
    for i in range(x.shape[0]):
        out[i] = math.exp(x[i]) if not x[i] > EXP_MAX else math.inf


@core
def _log(x, out):
    for i in range(x.shape[0]):
        out[i] = math.log(x[i]) if x[i] > 0.0 else (-math.inf if x[i] == 0.0 else math.nan)


@core
def _log1p(x, out):
    for i in range(x.shape[0]):
        out[i] = math.log1p(x[i]) if x[i] > -1.0 else (-math.inf if x[i] == -1.0 else math.nan)


@core
def _expm1(x, out):
    for i in range(x.shape[0]):
        out[i] = math.expm1(x[i]) if not x[i] > EXP_MAX else math.inf


def _elementwise(loop, x):
    """``loop`` applied to every element of ``x`` (an array of any shape, or a number): a float64
    array of the same shape, or a numpy float64 for a number."""
    a = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(a).reshape(-1)
    out = np.empty(flat.shape[0])
    loop(flat, out)
    return out.reshape(a.shape) if a.ndim else out[0]


def exp(x):
    """e ** x, element by element, by the C library."""
    return _elementwise(_exp, x)


def log(x):
    """Natural logarithm, element by element, by the C library (-inf at 0, NaN below)."""
    return _elementwise(_log, x)


def log1p(x):
    """log(1 + x), element by element, by the C library (-inf at -1, NaN below)."""
    return _elementwise(_log1p, x)


def expm1(x):
    """e ** x - 1, element by element, by the C library."""
    return _elementwise(_expm1, x)
