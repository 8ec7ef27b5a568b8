"""Continuous-time discounting: :func:`discount_rate_to_continuous`, :func:`discount_factor` and
:func:`discounted_duration` (the named rates of guidelines: :data:`sim.inputs.economic_settings.DISCOUNT_PRESETS`).

Discounting convention
----------------------
An annual discount rate ``r`` means that an amount received at time ``t``
(in years, measured from the start of the simulation) is worth ``(1 + r) ** -t``
today. In continuous time this is ``exp(-delta * t)`` with the continuously
compounded rate ``delta = ln(1 + r)``. A flow accrued at a constant rate of 1 per
year over ``[t0, t1]`` (e.g. QALYs at utility 1, or an annual cost of 1) is worth
``integral_{t0}^{t1} exp(-delta * s) ds`` today. This is exact for an event-driven
simulation, unlike the cycle-based half-cycle approximations used in Markov models.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from sim.model import libm


def _validated_rate(r: Any) -> np.ndarray:
    """Return the annual discount rate(s) as a float array, checking 0 <= r < 1."""
    rate = np.asarray(r, dtype=float)
    if not np.all(np.isfinite(rate)) or np.any(rate < 0) or np.any(rate >= 1):
        raise ValueError(
            f"annual discount rate must be in the allowed range [0, 1), got {r!r}"
        )
    return rate


def _validated_times(t: Any, name: str) -> np.ndarray:
    """Return times (years) as a float array, rejecting NaN and infinity."""
    times = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return times


def _as_output(x: np.ndarray) -> np.ndarray | float:
    """Return a Python float for 0-d results, the array otherwise."""
    return float(x) if np.ndim(x) == 0 else x


def discount_rate_to_continuous(r: float | Any) -> np.ndarray | float:
    """Continuously compounded rate ``delta = ln(1 + r)`` for an annual rate ``r``.

    With this ``delta``, ``exp(-delta * t) == (1 + r) ** -t`` for every ``t``, so the
    continuous-time model discounts whole years exactly as the annual rate says.
    Vectorised over ``r``; raises ``ValueError`` unless ``0 <= r < 1``.
    """
    return _as_output(libm.log1p(_validated_rate(r)))


def discount_factor(t: float | Any, r: float | Any) -> np.ndarray | float:
    """Present value ``(1 + r) ** -t`` of one unit received at time ``t`` (years).

    For one-off amounts (e.g. the cost of a biopsy or a transplant at the instant it
    happens). ``t`` and ``r`` broadcast against each other; times must be finite and
    the annual rate in ``[0, 1)``, otherwise ``ValueError``.
    """
    delta = libm.log1p(_validated_rate(r))
    times = _validated_times(t, "t")
    return _as_output(libm.exp(-delta * times))


def discounted_duration(
    t0: float | Any, t1: float | Any, r: float | Any
) -> np.ndarray | float:
    """Present value of a unit flow over ``[t0, t1]``: ``integral (1 + r) ** -s ds``.

    Multiply by an annual cost (or a utility) to discount a cost (or QALYs) accrued
    at a constant rate between two events. The closed form is

        exp(-delta * t0) * (1 - exp(-delta * (t1 - t0))) / delta,  delta = ln(1 + r),

    evaluated with ``expm1`` so that it stays accurate for tiny ``delta`` and equals
    ``t1 - t0`` exactly when ``r == 0`` (where the formula would be 0/0).

    Parameters
    ----------
    t0, t1
        Start and end times in years (finite; arrays broadcast), with ``t1 >= t0``.
    r
        Annual discount rate in the allowed range ``[0, 1)`` (scalar, or an array
        that broadcasts with the times).

    Returns
    -------
    float or numpy.ndarray
        Discounted length of each interval, in years; a float for scalar inputs.

    Raises
    ------
    ValueError
        If ``r`` is outside ``[0, 1)``, a time is NaN/infinite, or ``t1 < t0``.
    """
    rate = _validated_rate(r)
    start = _validated_times(t0, "t0")
    end = _validated_times(t1, "t1")
    length = end - start
    if np.any(length < 0):
        raise ValueError("t1 must be >= t0 for every interval (got t1 < t0)")
    delta = libm.log1p(rate)
    positive = delta > 0
    safe_delta = np.where(positive, delta, 1.0)
    # (1 - exp(-delta * L)) / delta, which tends to L as delta -> 0.
    per_unit = np.where(positive, -libm.expm1(-safe_delta * length) / safe_delta, length)
    return _as_output(libm.exp(-delta * start) * per_unit)
