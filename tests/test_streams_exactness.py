"""The compiled streams' exponentials (sim.engine.rng) equal numpy's ziggurat ``standard_exponential`` bit for
bit, over more than a million draws, slow paths included (the tail beyond ``r`` and the wedges,
accepted and rejected); and the shipped tables (sim/data/ziggurat_exp.npz) are numpy's."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from sim.engine import rng
from sim.engine import streams
from tests.conftest import compiled_stream

SHAPE = (4096,)                          # 256 x 4096 = 1,048,576 draws per stream


def _numpy_exponentials(seed: int, draw: int, block: int, name: str, n: int) -> np.ndarray:
    ss = np.random.SeedSequence(seed, spawn_key=(draw, block, streams.stream_id(name)))
    return np.random.Generator(np.random.PCG64(ss)).standard_exponential(n)


def _walk(words: list[int], n: int, ke, we, fe_, r: float) -> tuple[np.ndarray, Counter]:
    """numpy's random_standard_exponential on a list of PCG64 words, in plain Python, counting its
    branches: 'fast' (accepted at once), 'tail', 'wedge accepted', 'wedge rejected' (drawn again)."""
    counts: Counter = Counter()
    out = []
    pos = 0
    for _ in range(n):
        while True:
            ri = words[pos] >> 3
            pos += 1
            idx = ri & 0xFF
            ri >>= 8
            x = ri * we[idx]
            if ri < ke[idx]:
                counts["fast"] += 1
                break
            u = (words[pos] >> 11) * (1.0 / 9007199254740992.0)
            pos += 1
            if idx == 0:
                x = r - math.log1p(-u)
                counts["tail"] += 1
                break
            if (fe_[idx - 1] - fe_[idx]) * u + fe_[idx] < math.exp(-x):
                counts["wedge accepted"] += 1
                break
            counts["wedge rejected"] += 1
        out.append(x)
    counts["words"] = pos
    return np.array(out), counts


@pytest.mark.parametrize("seed,draw,block,name", [(20211227, 0, 0, "clock:death"), (2**63 - 1, 2**40, 7, "clock:flare#1")])
def test_exponentials_bit_for_bit_over_a_million_draws(seed, draw, block, name):
    n = streams.BLOCK_SIZE * SHAPE[0]
    want = _numpy_exponentials(seed, draw, block, name, n)
    kernel = compiled_stream(seed, draw, block, name, SHAPE, exponential=True).ravel()
    assert kernel.shape == (n,)
    np.testing.assert_array_equal(kernel, want)
    np.testing.assert_array_equal(streams.exponentials(seed, draw, block, name, SHAPE).ravel(), want)
    assert np.array_equal(kernel.view(np.uint64), want.view(np.uint64))      # the same bits, -0.0/NaN included
    assert (want > rng._ZIG_R).sum() > 100          # the tail (only it returns x > r) was drawn


def test_shipped_tables_reproduce_numpy_and_hit_every_branch():
    """A plain-Python port of numpy's algorithm with the shipped tables gives numpy's draws; the
    draws are enough to go through the tail and both outcomes of the wedge test many times."""
    seed, n = 7, 1_000_000
    ss = np.random.SeedSequence(seed, spawn_key=(0, 0, streams.stream_id("clock:esrd")))
    words = np.random.PCG64(ss).random_raw(n + n // 20).tolist()
    mine, counts = _walk(words, n, rng._KE.tolist(), rng._WE.tolist(), rng._FE.tolist(), rng._ZIG_R)
    want = _numpy_exponentials(seed, 0, 0, "clock:esrd", n)
    np.testing.assert_array_equal(mine, want)
    assert counts["tail"] > 100 and counts["wedge accepted"] > 1000 and counts["wedge rejected"] > 100, counts
    # numpy consumed exactly the words the port consumed
    g = np.random.Generator(np.random.PCG64(ss))
    g.standard_exponential(n)
    assert g.bit_generator.random_raw() == words[counts["words"]]


def test_ziggurat_tables_are_numpy_header_values():
    assert rng._KE.dtype == np.uint64 and rng._WE.dtype == rng._FE.dtype == np.float64
    assert rng._KE.shape == rng._WE.shape == rng._FE.shape == (256,)
    assert rng._ZIG_R == 7.69711747013104972                   # ziggurat_exp_r in ziggurat_constants.h
    assert rng._KE[0] == 0x001C5214272497C6 and rng._KE[1] == 0 # first entries of ke_double
    assert rng._FE[0] == 1.0 and np.all(np.diff(rng._FE) < 0)


def test_draw_into_writes_each_stream_where_the_block_reads_it():
    """Several streams in one call (uniforms and exponentials, a later chunk after earlier columns,
    only the first rows) are the streams numpy draws, row for row; the other cells are left alone."""
    names = ["course:a#1", "clock:flare#1", "course:b#1"]
    for rows in (256, 103, 3, 0):        # uniforms are drawn four runs of rows at a time, then the rest
        dest = np.full((streams.BLOCK_SIZE, 3, 6, 5), -1.0)
        rng.draw_into(dest, 20211227, 3, 2, names, k0=2, rows=rows, exponential=[False, True, False])
        for s, name in enumerate(names):
            f = streams.exponentials if s == 1 else streams.uniforms
            np.testing.assert_array_equal(dest[:rows, s, 2:], f(20211227, 3, 2, name, (4, 5))[:rows])
        assert np.all(dest[rows:] == -1.0) and np.all(dest[:, :, :2] == -1.0)
    # a strided destination (the block's flares: two streams side by side in the last axis)
    fl = np.zeros((streams.BLOCK_SIZE, 16, 2))
    rng.draw_into(np.moveaxis(fl[..., None], 2, 1), 5, 0, 1, ["clock:flare", "flare_severity"],
                 exponential=[True, False])
    np.testing.assert_array_equal(fl[:, :, 0], streams.exponentials(5, 0, 1, "clock:flare", (16,)))
    np.testing.assert_array_equal(fl[:, :, 1], streams.uniforms(5, 0, 1, "flare_severity", (16,)))
