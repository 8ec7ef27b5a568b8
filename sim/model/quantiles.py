"""Quantile functions of the cohort's continuous attributes: the truncated normal and lognormal.

A patient's age, weight, height and eGFR are the truncated normal's quantile of a uniform, and the
proteinuria the truncated lognormal's (:class:`sim.inputs.cohort.TruncatedNormal`,
:class:`sim.inputs.cohort.TruncatedLogNormal`; sampled by :func:`sim.engine.rng.sample_cohort`).

The formulas are scipy's (``scipy.stats.truncnorm._ppf``, scipy 1.13-1.16): for a standard normal
truncated to [a, b] and 0 < q < 1,

* a < 0:  x = ndtri_exp(logaddexp(log Phi(a), log q + log M)),
* a >= 0: x = -ndtri_exp(logaddexp(log Phi(-b), log(1 - q) + log M)),

with M = Phi(b) - Phi(a), the mass between the bounds, and x = a at q = 0; then mean + sd x. The
normal's log-CDF and the inverse of its exponential are scipy's (``scipy.special.log_ndtr``,
``ndtri_exp``, compiled C, the same on every machine); the logarithms and exponentials are the C
library's (a compiled loop, :func:`_log_phi`; :mod:`sim.model.libm`), not numpy's, whose loops differ
from machine to machine. So the quantiles agree with ``scipy.stats.truncnorm.ppf`` to 1e-12 relative
(bit for bit on most intervals; where both bounds are on one side of 0, the mass between them is
computed without scipy's complex logsumexp: tests in ``tests/test_libm.py``), and are the same bits on
every machine whose C library is the same (x86-64 Linux, glibc, processors with FMA). The constant terms are
computed once per distribution.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from sim.model import libm
from sim.model.jit import core

_CONSTANTS: dict[tuple[float, float], tuple[float, float, float]] = {}


def _log_sub(log_p: float, log_q: float) -> float:
    """log(p - q) from log p > log q."""
    return log_p + math.log1p(-math.exp(log_q - log_p))


def _constants(a: float, b: float) -> tuple[float, float, float]:
    """(a, log of the mass between the bounds, log Phi of the bound the formula starts from)."""
    key = (a, b)
    if key not in _CONSTANTS:
        la, lb = float(special.log_ndtr(a)), float(special.log_ndtr(b))
        if b <= 0:                        # both bounds left of 0: log(Phi(b) - Phi(a))
            mass = _log_sub(lb, la)
        elif a > 0:                       # both right of 0: by symmetry, log(Phi(-a) - Phi(-b))
            mass = _log_sub(float(special.log_ndtr(-a)), float(special.log_ndtr(-b)))
        else:                             # around 0
            mass = math.log1p(-float(special.ndtr(a)) - float(special.ndtr(-b)))
        bound = la if a < 0 else float(special.log_ndtr(-b))
        _CONSTANTS[key] = (a, mass, bound)
    return _CONSTANTS[key]


@core
def _log_phi(q, left, bound, mass, out):
    """log Phi(x) of the formula for each quantile q (0 < q < 1): logaddexp(bound, log q + log M)
    (``left``), else logaddexp(bound, log(1 - q) + log M); the larger term kept aside, as
    scipy.special.logsumexp of two. By the C library, element by element."""
    for i in range(q.shape[0]):
        x = (math.log(q[i]) if left else math.log1p(-q[i])) + mass
        hi, lo = (x, bound) if x > bound else (bound, x)
        out[i] = math.log1p(math.exp(lo - hi)) + hi


def standard_truncated_normal(u, a: float, b: float) -> np.ndarray:
    """The quantiles ``u`` (in [0, 1)) of a standard normal truncated to [a, b] (a < b)."""
    q = np.asarray(u, dtype=np.float64)
    if not np.all((q >= 0) & (q < 1)):
        raise ValueError("quantiles outside [0, 1)")
    a, mass, bound = _constants(float(a), float(b))
    out = np.empty(q.shape)
    ok = q > 0
    qq = q[ok]
    log_phi = np.empty(qq.size)
    _log_phi(qq, a < 0, bound, mass, log_phi)
    out[ok] = special.ndtri_exp(log_phi) if a < 0 else -special.ndtri_exp(log_phi)
    out[~ok] = a
    return out


def truncated_normal(dist, u) -> np.ndarray:
    """Quantiles ``u`` of ``dist`` (:class:`sim.inputs.cohort.TruncatedNormal`: mean, sd, min, max)."""
    a, b = (dist.min - dist.mean) / dist.sd, (dist.max - dist.mean) / dist.sd
    return standard_truncated_normal(u, a, b) * dist.sd + dist.mean


def truncated_lognormal(dist, u) -> np.ndarray:
    """Quantiles ``u`` of ``dist`` (:class:`sim.inputs.cohort.TruncatedLogNormal`: median, geometric
    SD, min, max): exp of the truncated normal of the logarithms."""
    mu, s = math.log(dist.median), math.log(dist.gsd)
    a, b = (math.log(dist.min) - mu) / s, (math.log(dist.max) - mu) / s
    return libm.exp(standard_truncated_normal(u, a, b) * s + mu)
