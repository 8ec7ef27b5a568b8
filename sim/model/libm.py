"""exp, log, log1p and expm1 of arrays through the C maths library: the same bits on every machine.

numpy picks the loop of a ufunc by the processor it runs on. For float64 ``exp`` and ``log`` it has
its own AVX512F loops, and for ``log1p``, ``expm1``, ``power`` and others AVX512_SKX loops (Intel's
SVML); on a processor without them it calls the C library. The two round differently in about one
element in a few hundred (seen: 3 of 300 ages one unit in the last place apart between an AVX-512 and
an AVX2 machine), so a model that sends its numbers through those ufuncs gives different results on
different machines, and every later draw that compares a number with a threshold can differ too.

Every number that reaches lnsim's results is therefore computed by the C library: the compiled code
calls it (``math.exp`` in numba's code is a call to the C library's ``exp``; the core, the cohort's
quantiles in :mod:`sim.model.quantiles`), and outside compiled code arrays go through the functions
below, Python's ``math`` module element by element (the C library again; no numba, which ``lnsim psa``
loads only for its first draw). About 0.2 s per million elements, against 0.01 s for numpy: nothing
for parameter draws, a few per cent of a large run's costing by the tables route. Use these, not ``np.exp`` / ``np.log`` / ``np.log1p`` / ``np.expm1`` / ``**`` with a
non-integer power, for anything a result depends on (``tests/test_libm.py`` runs a simulation and a
PSA watching those numpy functions as the numpy module's attributes: none is called; it does not see
``**`` on arrays, nor a function another module bound to its own name).

"The same bits on every machine" means every machine with the same C library: glibc itself picks an
FMA or an SSE2 build of ``exp`` and ``log`` by processor (every x86-64 processor lnsim has run on has
FMA); macOS, musl or Windows libraries may differ. Linear algebra (BLAS: the VOI regressions and
calibration's least squares) also picks kernels by processor and is not covered.

(numba could route compiled loops to SVML if Intel's runtime library is installed beside it
(``numba.config.USING_SVML``); lnsim does not depend on it, and the tests check it is not in use.)
"""
from __future__ import annotations

import math

import numpy as np

#: the largest x whose exp is finite (log of the largest double); beyond it exp is inf, where
#: Python's math.exp raises (compiled code gives inf)
EXP_MAX = 709.782712893384


def _exp(x: float) -> float:
    return math.exp(x) if not x > EXP_MAX else math.inf


def _expm1(x: float) -> float:
    return math.expm1(x) if not x > EXP_MAX else math.inf


def _log(x: float) -> float:
    return math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


def _log1p(x: float) -> float:
    return math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else math.nan)


def _elementwise(f, plain, inside, x):
    """``f`` applied to every element of ``x`` (an array of any shape, or a number): a float64 array
    of the same shape, or a numpy float64 for a number. ``plain``: the math function itself, mapped
    directly (about 8 times faster) when every element passes ``inside``."""
    a = np.asarray(x, dtype=np.float64)
    g = plain if inside(a).all() else f
    out = np.fromiter(map(g, a.ravel().tolist()), dtype=np.float64, count=a.size)
    return out.reshape(a.shape) if a.ndim else out[0]


def exp(x):
    """e ** x, element by element, by the C library."""
    return _elementwise(_exp, math.exp, lambda a: a <= EXP_MAX, x)


def log(x):
    """Natural logarithm, element by element, by the C library (-inf at 0, NaN below)."""
    return _elementwise(_log, math.log, lambda a: a > 0.0, x)


def log1p(x):
    """log(1 + x), element by element, by the C library (-inf at -1, NaN below)."""
    return _elementwise(_log1p, math.log1p, lambda a: a > -1.0, x)


def expm1(x):
    """e ** x - 1, element by element, by the C library."""
    return _elementwise(_expm1, math.expm1, lambda a: a <= EXP_MAX, x)
