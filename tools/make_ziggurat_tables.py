"""Write ``sim/data/ziggurat_exp.npz``: the tables of numpy's ziggurat ``standard_exponential``.

    python tools/make_ziggurat_tables.py [--check]

Run once, by a developer; the package reads the file it writes and never runs this script.

What the tables are
-------------------
``sim.engine.rng`` re-implements ``numpy.random.Generator.standard_exponential`` (numpy's
``random_standard_exponential`` in ``numpy/random/src/distributions/distributions.c``) bit for bit,
so it needs numpy's own constants, from ``numpy/random/src/distributions/ziggurat_constants.h``:

* ``ke`` (``ke_double``, uint64, 256): acceptance thresholds: a draw of layer ``i`` with 53-bit
  mantissa ``ri < ke[i]`` is returned at once (about 98.9% of draws);
* ``we`` (``we_double``, float64, 256): layer widths scaled by 2**-53 (``x = ri * we[i]``);
* ``fe`` (``fe_double``, float64, 256): ``exp(-x_i)`` at the layer edges, for the wedge test;
* ``r`` (``ziggurat_exp_r``, float64): the start of the tail, 7.69711747013104972; a draw from
  the tail is ``r - log1p(-u)``.

The method is the ziggurat of G. Marsaglia and W. W. Tsang, "The ziggurat method for generating
random variables", J. Stat. Softw. 5(8), 2000, with 256 layers and J. A. Doornik's improvements
("An improved ziggurat method to generate normal random samples", 2005: the 53-bit mantissa and
the layer index taken from one 64-bit word, independent bits for the wedge test). numpy's header
was computed in extended precision; the layer edges satisfy ``x_255 = r``,
``x_{i-1} = -log(exp(-x_i) + v / x_i)`` with ``v = (r + 1) exp(-r)`` the area of each layer, and

    we[0] = v / exp(-r) / 2**53,  we[i] = x_i / 2**53
    ke[0] = r exp(-r) / v * 2**53, ke[1] = 0, ke[i] = x_{i-1} / x_i * 2**53
    fe[0] = 1,                     fe[i] = exp(-x_i)            (i = 1..255)

Those formulas give the header's numbers to within about one unit in the last place (``--check``
prints the largest relative difference), not bit for bit: only numpy's own decimals reproduce
numpy's draws. They are taken here from numba's verbatim transcription of that header
(``numba.np.random._constants``, a private numba module; numba's file names the numpy commit it
copied). That module is imported by this script only, never by the package.

``tests/test_streams_exactness.py`` checks that the fast engine's exponentials equal numpy's, bit
for bit, over more than a million draws, including the tail and the wedges.
"""
from __future__ import annotations

import argparse
import math
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "sim" / "data" / "ziggurat_exp.npz"
R = "7.69711747013104972"          # ziggurat_exp_r as written in numpy's header


def from_numpy_header() -> dict[str, np.ndarray]:
    """numpy's exponential ziggurat tables, as transcribed by numba from ziggurat_constants.h."""
    from numba.np.random._constants import fe_double, ke_double, we_double, ziggurat_exp_r
    return {"ke": np.asarray(ke_double, dtype=np.uint64), "we": np.asarray(we_double, dtype=np.float64),
            "fe": np.asarray(fe_double, dtype=np.float64), "r": np.float64(ziggurat_exp_r)}


def from_formulas(r: str = R, n: int = 256) -> dict[str, np.ndarray]:
    """The same tables recomputed from the construction (50-digit decimal arithmetic)."""
    getcontext().prec = 50
    R = Decimal(r)
    fr = (-R).exp()
    v = (R + 1) * fr
    two53 = Decimal(2) ** 53
    xs = [Decimal(0)] * n
    xs[n - 1] = R
    for i in range(n - 1, 1, -1):
        xs[i - 1] = -((-xs[i]).exp() + v / xs[i]).ln()
    we = [v / fr / two53] + [xs[i] / two53 for i in range(1, n)]
    ke = [R * fr / v * two53, Decimal(0)] + [xs[i - 1] / xs[i] * two53 for i in range(2, n)]
    fe = [Decimal(1)] + [(-xs[i]).exp() for i in range(1, n)]
    return {"ke": np.array([int(k) for k in ke], dtype=np.uint64), "we": np.array([float(w) for w in we]),
            "fe": np.array([float(f) for f in fe]), "r": np.float64(float(R))}


def check(tables: dict[str, np.ndarray]) -> None:
    """Shapes, types, monotonicity, agreement with the formulas and with numpy's draws."""
    ke, we, fe = tables["ke"], tables["we"], tables["fe"]
    assert ke.shape == we.shape == fe.shape == (256,)
    assert ke.dtype == np.uint64 and we.dtype == fe.dtype == np.float64
    assert np.all(np.diff(fe) < 0) and fe[0] == 1.0 and ke[1] == 0
    assert tables["r"] == np.float64(float(R))
    ref = from_formulas()
    for k in ("ke", "we", "fe"):
        a, b = tables[k].astype(float), ref[k].astype(float)
        rel = np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-300))
        print(f"{k}: largest relative difference from the formulas {rel:.2e}")
        assert rel < 1e-14, k
    # a direct port of random_standard_exponential on PCG64 words, against numpy's draws
    bg = np.random.PCG64(np.random.SeedSequence(12345))
    words = bg.random_raw(30000).tolist()
    pos = 0
    kl, wl, fl, r = ke.tolist(), we.tolist(), fe.tolist(), float(tables["r"])

    def nxt():
        nonlocal pos
        pos += 1
        return words[pos - 1]

    def one():
        while True:
            ri = nxt() >> 3
            idx = ri & 0xFF
            ri >>= 8
            x = ri * wl[idx]
            if ri < kl[idx]:
                return x
            if idx == 0:
                return r - math.log1p(-((nxt() >> 11) * (1.0 / 9007199254740992.0)))
            if (fl[idx - 1] - fl[idx]) * ((nxt() >> 11) * (1.0 / 9007199254740992.0)) + fl[idx] < math.exp(-x):
                return x
    mine = np.array([one() for _ in range(25000)])
    want = np.random.Generator(np.random.PCG64(np.random.SeedSequence(12345))).standard_exponential(25000)
    assert np.array_equal(mine, want), "tables do not reproduce numpy's draws"
    print(f"25000 draws equal numpy's bit for bit ({pos - 25000} extra words in slow paths)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="check the shipped file instead of writing it")
    args = ap.parse_args()
    if args.check:
        with np.load(OUT) as z:
            check({k: z[k] for k in z.files})
        return
    tables = from_numpy_header()
    check(tables)
    np.savez(OUT, **tables)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
