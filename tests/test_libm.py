"""Results are the same bits on every machine: lnsim's exponentials and logarithms go through the C
library (sim.model.libm), never through numpy's ufuncs, whose SIMD loops differ by processor; and the
cohort's quantile functions (sim.model.quantiles) agree with scipy's."""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
from scipy import stats

import sim
from sim.analysis.psa import run_psa
from sim.inputs.build import build
from sim.inputs.cohort import TruncatedLogNormal, TruncatedNormal
from sim.model import libm
from sim.model.quantiles import standard_truncated_normal, truncated_lognormal, truncated_normal
from tests.conftest import load, run_plain_python

#: numpy's float ufuncs with processor-specific loops (AVX512F: exp, log; AVX512_SKX / SVML: the rest)
MACHINE_DEPENDENT = ("exp", "log", "log1p", "expm1", "exp2", "log2", "log10", "power", "float_power", "cbrt",
                     "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh",
                     "arcsinh", "arccosh", "arctanh")

X = np.concatenate([np.linspace(-30, 30, 2001), np.logspace(-300, 300, 601), -np.logspace(-300, 2, 301),
                    [0.0, -0.0, 1e-320, 709.78, 710.0, -745.2, -1.0, -1.0 + 1e-16, math.inf, -math.inf, math.nan]])


def _same(a, b) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def _math(f, x):
    """The C library's value (Python's math module), with numpy's conventions where math raises."""
    if f is math.log and x <= 0:
        return -math.inf if x == 0 else math.nan
    if f is math.log1p and x <= -1:
        return -math.inf if x == -1 else math.nan
    try:
        return f(x)
    except OverflowError:
        return math.inf


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "expm1"])
def test_libm_is_the_c_library_element_by_element(name):
    """Oracle: Python's math module calls the same C library function, one element at a time."""
    got = getattr(libm, name)(X)
    want = np.array([_math(getattr(math, name), float(x)) for x in X])
    assert _same(got, want)
    assert _same(getattr(libm, name)(X[:2912].reshape(-1, 7)[:, ::2]), want[:2912].reshape(-1, 7)[:, ::2])   # any shape, strides
    assert isinstance(getattr(libm, name)(0.5), np.floating)


def test_quantiles_give_the_same_bits_without_the_compiler():
    """The compiled loop of the truncated normal's formula (C-library calls) against the same calls
    from plain Python (NUMBA_DISABLE_JIT)."""
    code = ("import numpy as np, sys; from sim.model.quantiles import standard_truncated_normal as f\n"
            "u = np.random.default_rng(4).random(3000)\n"
            "sys.stdout.write(np.concatenate([f(u, -1.8, 3.7), f(u, 1.0, 25.0)]).tobytes().hex())")
    u = np.random.default_rng(4).random(3000)
    here = np.concatenate([standard_truncated_normal(u, -1.8, 3.7), standard_truncated_normal(u, 1.0, 25.0)])
    assert run_plain_python(code) == here.tobytes().hex()


def test_numba_does_not_route_loops_to_svml():
    """numba would send vectorised loops of exp/log to Intel's SVML if that library were installed:
    other bits than the C library's."""
    import numba
    assert not numba.config.USING_SVML


U = np.concatenate([[0.0, 5e-324, 1e-300, 1e-17, 0.5, 1 - 2.0 ** -53], np.random.default_rng(0).random(5000)])


@pytest.mark.parametrize("a, b", [(-1.8, 3.7), (-20.0, -3.0), (1.0, 25.0), (0.0, 2.0), (-0.5, 0.0), (-40, 40)])
def test_standard_truncated_normal_agrees_with_scipy(a, b):
    """Every route of the formula (bounds both left of 0, both right, around 0) against scipy."""
    got = standard_truncated_normal(U, a, b)
    np.testing.assert_allclose(got, stats.truncnorm.ppf(U, a, b), rtol=1e-12, atol=1e-300)
    assert got[0] == a
    slack = 1e-12 * max(1.0, abs(a), abs(b))         # at u next to 0 or 1, scipy's formula too lands an ulp out
    assert np.all((got >= a - slack) & (got <= b + slack))
    assert np.all(np.diff(got[np.argsort(U)]) >= -slack)     # a quantile function increases (to rounding)
    with pytest.raises(ValueError, match="outside"):
        standard_truncated_normal(np.array([1.0]), a, b)


@pytest.mark.parametrize("dist", [TruncatedNormal(mean=33, sd=10, min=15, max=70),
                                  TruncatedNormal(mean=60, sd=12, min=60, max=150)])
def test_truncated_normal_agrees_with_scipy(dist):
    a, b = (dist.min - dist.mean) / dist.sd, (dist.max - dist.mean) / dist.sd
    want = stats.truncnorm.ppf(U, a, b, loc=dist.mean, scale=dist.sd)
    np.testing.assert_allclose(truncated_normal(dist, U), want, rtol=1e-12, atol=0)


def test_truncated_lognormal_agrees_with_scipy():
    d = TruncatedLogNormal(median=3.0, gsd=2.0, min=0.5, max=20.0)
    u = U
    mu, s = math.log(d.median), math.log(d.gsd)
    want = np.exp(stats.truncnorm.ppf(u, (math.log(d.min) - mu) / s, (math.log(d.max) - mu) / s, loc=mu, scale=s))
    np.testing.assert_allclose(truncated_lognormal(d, u), want, rtol=1e-12, atol=0)


@contextmanager
def numpy_ufuncs_refused(called: list):
    """numpy's machine-dependent ufuncs replaced, as attributes of the numpy module (how Python code
    calls them: sim's own and scipy.stats'), by wrappers that note who called them with floats."""
    import sys
    saved = {n: getattr(np, n) for n in MACHINE_DEPENDENT}

    def wrap(name, f):
        def g(*args, **kwargs):
            if any(np.asarray(a).dtype.kind in "fc" for a in args if not isinstance(a, (str, bytes))):
                frame = sys._getframe(1)
                called.append(f"np.{name} from {frame.f_code.co_filename}:{frame.f_lineno}")
            return f(*args, **kwargs)
        return g
    for n, f in saved.items():
        setattr(np, n, wrap(n, f))
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(np, n, f)


def test_the_refusal_notices_a_call():
    """The control of the next test: a float call through the module attribute is noticed."""
    called: list = []
    with numpy_ufuncs_refused(called):
        np.log1p(np.ones(3))
    assert called and "np.log1p" in called[0]


@pytest.mark.parametrize("engine", ["simpy", "fast"])
def test_a_costed_run_and_a_psa_use_no_machine_dependent_numpy_function(engine, tmp_path):
    """A costed simulation (cohort, pathway, costs, QALYs, incremental analysis) and a PSA (parameter
    draws of every kind, aggregate mode, the tables it writes) of the base scenario with numpy's
    machine-dependent ufuncs watched: none is called with floats."""
    sc = load("base.yaml")
    called: list = []
    with numpy_ufuncs_refused(called):
        sim.simulate(sc, patients=40, seed=3, engine=engine)
        run_psa(build(sc), tmp_path / "psa", draws=3, patients=30, seed=5, workers=1, progress=False, engine=engine)
    assert not called, called
