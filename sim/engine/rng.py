"""Random streams compiled: numpy's SeedSequence + PCG64 + ``random()`` + ziggurat ``standard_exponential``,
bit for bit, so that drawing a stream costs well under a microsecond of seeding instead of about
40-85 us for the numpy objects; and the cohort of a whole draw sampled at once.

The streams are those of :mod:`sim.engine.streams` (``SeedSequence(seed, spawn_key=(draw, block,
crc32(name)))`` driving a ``PCG64``): :func:`draw_into` gives the very same numbers as
:func:`sim.engine.streams.uniforms` and :func:`sim.engine.streams.exponentials` (tests:
``tests/test_batch_driver.py``, ``tests/test_streams_exactness.py``). PCG64 uses LLVM's native 128-bit
integers (:mod:`sim.model.pcg`, the arithmetic the core shares); numpy's ziggurat tables are shipped as
data (``sim/data/ziggurat_exp.npz``). An LCG step is affine, so a generator can also jump ahead any
number of steps (:func:`_advance`; :func:`jump_table` for the core's jumps to a course's numbers,
from a stream's start, :func:`stream_starts`). :func:`draw_into`
writes several streams of a block, or only its first rows, straight into the arrays a block keeps, in
one compiled call. :func:`sample_cohort` gives the patients' attributes from the same uniforms and the
population's quantile functions (:mod:`sim.model.quantiles`), for all blocks of a draw at once (the
quantile functions act elementwise; tests/test_batch_driver.py checks them against numpy's streams).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
from sim.model import jit as _jit  # noqa: F401,I001  (the compiled-code cache folder, set before compiling)
from numba import njit

from sim.engine import streams
from sim.inputs.cohort import ANCESTRIES, CHRONICITY, LOOKALIKES
from sim.inputs.therapies import ISN_CLASSES
from sim.model.quantiles import truncated_lognormal, truncated_normal
from sim.model.pcg import PCG_MUL_HI as _PCG_MUL_HI, PCG_MUL_LO as _PCG_MUL_LO
from sim.model.pcg import muladd128 as _muladd128, pcg_step as _pcg_step, to_double as _to_double

# ==============================================================================================
# Random streams: SeedSequence + PCG64 + random() + standard_exponential(), bit for bit
# ==============================================================================================

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S16 = np.uint64(16)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_INIT_A = np.uint64(0x43b0d7e5)
_MULT_A = np.uint64(0x931e8875)
_INIT_B = np.uint64(0x8b51f9dd)
_MULT_B = np.uint64(0x58f38ded)
_MIX_L = np.uint64(0xca01f9dd)
_MIX_R = np.uint64(0x4973f715)
# numpy's ziggurat tables for standard_exponential (ziggurat_constants.h: we_double, ke_double,
# fe_double, ziggurat_exp_r), shipped as data; tools/make_ziggurat_tables.py says where they come from
with resources.files("sim").joinpath("data/ziggurat_exp.npz").open("rb") as _f, np.load(_f) as _z:
    _WE = np.ascontiguousarray(_z["we"], dtype=np.float64)
    _KE = np.ascontiguousarray(_z["ke"], dtype=np.uint64)
    _FE = np.ascontiguousarray(_z["fe"], dtype=np.float64)
    _ZIG_R = float(_z["r"])


@njit(cache=True, error_model="numpy")
def _add128(ah, al, bh, bl):
    return _muladd128(ah, al, _ZERO, _ONE, bh, bl)


@njit(cache=True, error_model="numpy")
def _next_u64(u, o):
    """One PCG64 draw from the state u[o:o+4] = [state_hi, state_lo, inc_hi, inc_lo]."""
    h, l, x = _pcg_step(u[o], u[o + 1], u[o + 2], u[o + 3])
    u[o] = h
    u[o + 1] = l
    return x


@njit(cache=True, error_model="numpy")
def _next_double(u, o):
    return _to_double(_next_u64(u, o))


@njit(cache=True, error_model="numpy")
def _std_exponential(u, o):
    """numpy's ``random_standard_exponential`` (ziggurat), on the PCG64 state u[o:o+4]."""
    while True:
        ri = _next_u64(u, o)
        ri >>= np.uint64(3)
        idx = np.int64(ri & np.uint64(0xFF))
        ri >>= np.uint64(8)
        x = np.float64(ri) * _WE[idx]
        if ri < _KE[idx]:
            return x
        if idx == 0:
            return _ZIG_R - math.log1p(-_next_double(u, o))
        if (_FE[idx - 1] - _FE[idx]) * _next_double(u, o) + _FE[idx] < math.exp(-x):
            return x


@njit(cache=True, error_model="numpy")
def _hashmix(value, hc, mult):
    """numpy's SeedSequence hashmix: ``value`` mixed with the hash constant ``hc[0]``, which moves on
    by ``mult`` (MULT_A while mixing entropy in, MULT_B while generating the state)."""
    value ^= hc[0]
    hc[0] = (hc[0] * mult) & _M32
    value = (value * hc[0]) & _M32
    value ^= value >> _S16
    return value


@njit(cache=True, error_model="numpy")
def _mix(x, y):
    r = (_MIX_L * x - _MIX_R * y) & _M32
    r ^= r >> _S16
    return r


@njit(cache=True, error_model="numpy")
def _words(x, out, n):
    """Append the 32-bit words of the non-negative integer x (numpy's _int_to_uint32_array)."""
    if x == _ZERO:
        out[n] = _ZERO
        return n + 1
    while x > _ZERO:
        out[n] = x & _M32
        n += 1
        x >>= _S32
    return n


@njit(cache=True, error_model="numpy")
def _seed_pcg(u, o_seed, n_seed, draw, block, sid, o_st):
    """u[o_st:o_st+4] <- the PCG64 state of ``PCG64(SeedSequence(seed, spawn_key=(draw, block, sid)))``,
    the seed's 32-bit words being u[o_seed:o_seed+n_seed]."""
    ent = np.zeros(16, dtype=np.uint64)
    n = 0
    for i in range(n_seed):
        ent[n] = u[o_seed + i]
        n += 1
    if n < 4:                       # spawn key present: run entropy padded to the pool size
        n = 4
    n = _words(np.uint64(draw), ent, n)
    n = _words(np.uint64(block), ent, n)
    n = _words(np.uint64(sid), ent, n)
    pool = np.zeros(4, dtype=np.uint64)
    hc = np.empty(1, dtype=np.uint64)
    hc[0] = _INIT_A
    for i in range(4):
        pool[i] = _hashmix(ent[i] if i < n else _ZERO, hc, _MULT_A)
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hc, _MULT_A))
    for i_src in range(4, n):
        for i_dst in range(4):
            pool[i_dst] = _mix(pool[i_dst], _hashmix(ent[i_src], hc, _MULT_A))
    # generate_state(4, uint64): 8 words cycling over the pool, paired little-endian
    w = np.empty(8, dtype=np.uint64)
    hb = np.full(1, _INIT_B, dtype=np.uint64)
    for i in range(8):
        w[i] = _hashmix(pool[i % 4], hb, _MULT_B)
    s_hi = w[0] | (w[1] << _S32)
    s_lo = w[2] | (w[3] << _S32)
    i_hi = w[4] | (w[5] << _S32)
    i_lo = w[6] | (w[7] << _S32)
    # pcg_setseq_128_srandom_r: state = 0, inc = initseq << 1 | 1, step, state += initstate, step
    u[o_st + 2] = (i_hi << _ONE) | (i_lo >> np.uint64(63))
    u[o_st + 3] = (i_lo << _ONE) | _ONE
    u[o_st] = _ZERO
    u[o_st + 1] = _ZERO
    _next_u64(u, o_st)
    h2, l2 = _add128(u[o_st], u[o_st + 1], s_hi, s_lo)
    u[o_st] = h2
    u[o_st + 1] = l2
    _next_u64(u, o_st)


@njit(cache=True, error_model="numpy")
def _generator(seed_w):
    """A generator's working array: its state (4 words, :func:`_seed_stream` sets them), then the
    seed's 32-bit words ``seed_w``."""
    u = np.zeros(seed_w.shape[0] + 4, dtype=np.uint64)
    u[4:] = seed_w
    return u


@njit(cache=True, error_model="numpy")
def _seed_stream(u, draw, block, sid):
    """Set the generator ``u`` (:func:`_generator`) to the start of stream ``sid`` of ``block`` of ``draw``."""
    _seed_pcg(u, 4, u.shape[0] - 4, draw, block, sid, 0)


@njit(cache=True, error_model="numpy")
def _advance(h, l, ih, il, delta):
    """The state (h, l) of a generator with increment (ih, il) moved ahead by ``delta`` steps (an LCG
    step is affine: the composed step by squaring, as numpy's ``PCG64.advance``)."""
    am_h, am_l, ap_h, ap_l = _ZERO, _ONE, _ZERO, _ZERO          # accumulated: x -> am x + ap
    cm_h, cm_l, cp_h, cp_l = _PCG_MUL_HI, _PCG_MUL_LO, ih, il  # 2**i steps: x -> cm x + cp
    d = np.uint64(delta)
    while d > _ZERO:
        if d & _ONE:
            am_h, am_l = _muladd128(am_h, am_l, cm_h, cm_l, _ZERO, _ZERO)
            ap_h, ap_l = _muladd128(ap_h, ap_l, cm_h, cm_l, cp_h, cp_l)
        t_h, t_l = _add128(cm_h, cm_l, _ZERO, _ONE)
        cp_h, cp_l = _muladd128(t_h, t_l, cp_h, cp_l, _ZERO, _ZERO)
        cm_h, cm_l = _muladd128(cm_h, cm_l, cm_h, cm_l, _ZERO, _ZERO)
        d >>= _ONE
    return _muladd128(am_h, am_l, h, l, ap_h, ap_l)


@njit(cache=True, error_model="numpy")
def _fill_streams(seed_w, draw, block, sids, exponential, rows, dest, k0):
    """dest[r, s, k0:, :] for r < rows <- stream sids[s] drawn as an array (BLOCK_SIZE, K, m)
    (row by row, as numpy fills it): uniforms, or standard exponentials where exponential[s]. A
    uniform stream is drawn as four runs of rows at once (the generator jumped to the start of each),
    which keeps the multiplier busy; an exponential takes a varying count of draws, so it runs in turn."""
    K, m = dest.shape[2] - k0, dest.shape[3]
    u = _generator(seed_w)
    q = rows // 4
    for s in range(sids.shape[0]):
        _seed_stream(u, draw, block, sids[s])
        if exponential[s]:
            for r in range(rows):
                for k in range(k0, k0 + K):
                    for j in range(m):
                        dest[r, s, k, j] = _std_exponential(u, 0)
            continue
        ih, il = u[2], u[3]
        h0, l0 = u[0], u[1]
        h1, l1 = _advance(h0, l0, ih, il, q * K * m)
        h2, l2 = _advance(h0, l0, ih, il, 2 * q * K * m)
        h3, l3 = _advance(h0, l0, ih, il, 3 * q * K * m)
        for r in range(q):                        # rows r, q + r, 2q + r, 3q + r
            for k in range(k0, k0 + K):
                for j in range(m):
                    h0, l0, x0 = _pcg_step(h0, l0, ih, il)
                    h1, l1, x1 = _pcg_step(h1, l1, ih, il)
                    h2, l2, x2 = _pcg_step(h2, l2, ih, il)
                    h3, l3, x3 = _pcg_step(h3, l3, ih, il)
                    dest[r, s, k, j] = _to_double(x0)
                    dest[q + r, s, k, j] = _to_double(x1)
                    dest[2 * q + r, s, k, j] = _to_double(x2)
                    dest[3 * q + r, s, k, j] = _to_double(x3)
        for r in range(4 * q, rows):              # the last run's remaining rows
            for k in range(k0, k0 + K):
                for j in range(m):
                    h3, l3, x3 = _pcg_step(h3, l3, ih, il)
                    dest[r, s, k, j] = _to_double(x3)


@njit(cache=True, error_model="numpy")
def _cohort_uniforms(seed_w, draw, sid, n_blocks, width):
    n = streams.BLOCK_SIZE
    out = np.empty((n_blocks * n, width))
    u = _generator(seed_w)
    for b in range(n_blocks):
        _seed_stream(u, draw, b, sid)
        for r in range(n):
            for j in range(width):
                out[b * n + r, j] = _next_double(u, 0)
    return out


def seed_words(seed: int) -> np.ndarray:
    """The 32-bit words of a seed, as numpy's SeedSequence splits an int."""
    seed = int(seed)
    if seed < 0:
        raise ValueError("seed must be >= 0")
    words = [seed & 0xFFFFFFFF] if seed == 0 else []
    while seed > 0:
        words.append(seed & 0xFFFFFFFF)
        seed >>= 32
    return np.asarray(words, dtype=np.uint64)


def draw_into(dest: np.ndarray, seed: int, draw: int, block: int, names: list[str], k0: int = 0,
              rows: int = streams.BLOCK_SIZE, exponential=None) -> None:
    """Streams ``names`` of a block written into ``dest`` (shape (BLOCK_SIZE, len(names), k0 + K, m)):
    ``dest[:, s, k0:]`` is stream ``names[s]`` of shape (BLOCK_SIZE, K, m), uniforms as
    :func:`sim.engine.streams.uniforms` or, where ``exponential[s]``, exponentials as
    :func:`sim.engine.streams.exponentials`; in one compiled
    call. Only the first ``rows`` rows are drawn (a row's numbers come after the previous rows', so they
    are the same whatever rows follow); the others are left as they were."""
    K, m = dest.shape[2] - k0, dest.shape[3]
    exp = np.zeros(len(names), dtype=np.bool_) if exponential is None else np.asarray(exponential, dtype=np.bool_)
    if not _jit.COMPILED:
        for s, name in enumerate(names):
            f = streams.exponentials if exp[s] else streams.uniforms
            dest[:rows, s, k0:] = f(seed, draw, block, name, (K, m))[:rows]
        return
    sids = np.array([streams.stream_id(name) for name in names], dtype=np.int64)
    _fill_streams(seed_words(seed), int(draw), int(block), sids, exp, int(rows), dest, int(k0))


@njit(cache=True, error_model="numpy")
def _jump_table(m, n_slots):
    """Affine jump coefficients (A_P, S_P) for P = 0, m, 2m, ...: state_P = A_P state_0 + S_P increment."""
    out = np.empty((n_slots, 4), dtype=np.uint64)
    ah, al, sh, sl = _ZERO, _ONE, _ZERO, _ZERO
    for i in range(n_slots):
        out[i, 0] = ah
        out[i, 1] = al
        out[i, 2] = sh
        out[i, 3] = sl
        for _ in range(m):
            ah, al = _muladd128(ah, al, _PCG_MUL_HI, _PCG_MUL_LO, _ZERO, _ZERO)
            sh, sl = _muladd128(sh, sl, _PCG_MUL_HI, _PCG_MUL_LO, _ZERO, _ONE)
    return out


_JUMP_TABLES: dict[tuple[int, int], np.ndarray] = {}


def jump_table(m: int, K: int) -> np.ndarray:
    """The jumps (:func:`sim.model.pcg.jump`) to element ``k`` of row ``r`` of a stream drawn as an
    array (BLOCK_SIZE, K, m): row ``r * K + k`` of the table moves a stream's start ``(r K + k) m``
    steps ahead. Computed once per process."""
    key = (int(m), int(K))
    if key not in _JUMP_TABLES:
        _JUMP_TABLES[key] = _jump_table(np.uint64(m) if not _jit.COMPILED else m, streams.BLOCK_SIZE * int(K))
    return _JUMP_TABLES[key]


@njit(cache=True, error_model="numpy")
def _starts(seed_w, draw, block, sids):
    out = np.empty((sids.shape[0], 4), dtype=np.uint64)
    u = _generator(seed_w)
    for s in range(sids.shape[0]):
        _seed_stream(u, draw, block, sids[s])
        out[s] = u[:4]
    return out


def stream_starts(seed: int, draw: int, block: int, names: list[str]) -> np.ndarray:
    """The generator state of each stream ``names`` of a block before its first number (state high,
    low, increment high, low), as numpy's ``PCG64(SeedSequence(...))`` has it."""
    if not _jit.COMPILED:
        out = np.empty((len(names), 4), dtype=np.uint64)
        for s, name in enumerate(names):
            st = streams.generator(seed, draw, block, name).bit_generator.state["state"]
            out[s] = (st["state"] >> 64, st["state"] & 0xFFFFFFFFFFFFFFFF, st["inc"] >> 64, st["inc"] & 0xFFFFFFFFFFFFFFFF)
        return out
    if not names:
        return np.zeros((0, 4), dtype=np.uint64)
    sids = np.array([streams.stream_id(name) for name in names], dtype=np.int64)
    return _starts(seed_words(seed), int(draw), int(block), sids)


# ==============================================================================================
# The cohort of a draw
# ==============================================================================================

@dataclass
class Cohort:
    """Patient attributes of one draw, equal to sampling block by block with numpy's streams and the
    quantile functions of :mod:`sim.model.quantiles` (tests/test_batch_driver.py)."""

    n: int
    age: np.ndarray
    female: np.ndarray
    isn_class: np.ndarray      # index into sim.inputs.therapies.ISN_CLASSES
    ancestry: np.ndarray       # index into sim.inputs.cohort.ANCESTRIES
    nonadherent: np.ndarray
    chronicity: np.ndarray     # index into sim.inputs.cohort.CHRONICITY
    lookalike: np.ndarray      # index into sim.inputs.cohort.LOOKALIKES
    weight_kg: np.ndarray | None = None
    height_cm: np.ndarray | None = None
    bsa_m2: np.ndarray | None = None
    proteinuria_g_day: np.ndarray | None = None
    egfr_ml_min: np.ndarray | None = None


def _categorical_index(u: np.ndarray, shares: dict[str, float], order: tuple[str, ...]) -> np.ndarray:
    """The category each uniform falls in (shares cumulated in the order ``order``): its index."""
    labels = [k for k in order if shares.get(k, 0) > 0]
    cum = np.cumsum([shares[k] for k in labels])
    idx = np.searchsorted(cum / cum[-1], u, side="right")
    glob = np.asarray([order.index(k) for k in labels], dtype=np.int64)
    return glob[np.minimum(idx, len(labels) - 1)]


def _block_rows(seed: int, sw: np.ndarray, draw: int, name: str, n_blocks: int, width: int) -> np.ndarray:
    """Uniforms (``width`` per patient) of stream ``name`` for the first ``n_blocks`` blocks, one row per patient."""
    if not _jit.COMPILED:
        return np.concatenate([streams.uniforms(seed, draw, b, name, (width,)) for b in range(n_blocks)])
    return _cohort_uniforms(sw, int(draw), streams.stream_id(name), n_blocks, width)


def sample_cohort(pop, seed: int, draw: int, n: int, weight: bool = True, height: bool = True,
                  other: bool = True) -> Cohort:
    """The attributes of patients ``0..n-1`` of one draw, as sampling block by block with numpy's
    streams gives them (tests/test_batch_driver.py): the same uniforms, and the quantile functions of
    :mod:`sim.model.quantiles`, which act elementwise, so one call covers all blocks. Attributes the
    caller does not need (weight, height and body-surface area, proteinuria and eGFR) can be skipped."""
    n_blocks = (int(n) + streams.BLOCK_SIZE - 1) // streams.BLOCK_SIZE
    sw = seed_words(seed)
    u = _block_rows(seed, sw, draw, "cohort", n_blocks, 9)[:n]
    # chronicity and look-alike: their own streams of one number per patient
    uc = _block_rows(seed, sw, draw, "chronicity", n_blocks, 1)[:n, 0]
    ul = _block_rows(seed, sw, draw, "lookalike", n_blocks, 1)[:n, 0]
    c = Cohort(n=int(n), age=truncated_normal(pop.age_years, u[:, 0]), female=u[:, 1] < pop.female,
               isn_class=_categorical_index(u[:, 2], pop.isn_class, ISN_CLASSES),
               ancestry=_categorical_index(u[:, 3], pop.ancestry, ANCESTRIES),
               nonadherent=u[:, 8] < pop.nonadherent,
               chronicity=_categorical_index(uc, pop.chronicity, CHRONICITY),
               lookalike=_categorical_index(ul, pop.lookalike, LOOKALIKES))
    if weight or height:
        c.weight_kg = truncated_normal(pop.weight_kg, u[:, 4])
    if height:
        c.height_cm = truncated_normal(pop.height_cm, u[:, 5])
        c.bsa_m2 = np.sqrt(c.weight_kg * c.height_cm / 3600.0)   # Mosteller
    if other:
        c.proteinuria_g_day = truncated_lognormal(pop.proteinuria_g_day, u[:, 6])
        c.egfr_ml_min = truncated_normal(pop.egfr_ml_min, u[:, 7])
    return c
