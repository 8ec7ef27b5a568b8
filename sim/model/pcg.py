"""numpy's PCG64 generator as arithmetic, bit for bit: one step, a jump ahead, a uniform from an output.

The core draws a course's uniforms when the course starts (:func:`sim.model.work.course_numbers`):
it jumps the block's stream straight to the patient's numbers, so that no number is drawn that no
course reads. The streams themselves (their names, seeds and the jump tables) are the engine's
(:mod:`sim.engine.rng`, which draws whole arrays with the same arithmetic). A state is four
``uint64``: the 128-bit state (high, low) and the increment (high, low).

Compiled, the 128-bit product uses LLVM's native ``i128``; as plain Python (``NUMBA_DISABLE_JIT=1``)
it uses Python integers: the same numbers.
"""
from __future__ import annotations

import numpy as np

from sim.model.jit import COMPILED, core, inlined

PCG_MUL_HI = np.uint64(2549297995355413924)      # PCG64's multiplier, 0x2360ed051fc65da44385df649fccf645
PCG_MUL_LO = np.uint64(4865540595714422341)
_M64 = (1 << 64) - 1
_TWO_M53 = 1.0 / 9007199254740992.0

if COMPILED:
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def muladd128(typingctx, ah, al, bh, bl, ch, cl):
        """(a * b + c) mod 2**128 for 128-bit numbers given as (high, low) uint64 halves, with LLVM's
        native i128 arithmetic; returns (high, low)."""
        sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64, types.uint64, types.uint64,
                                              types.uint64, types.uint64)

        def codegen(context, builder, sig, args):
            i128, i64 = ir.IntType(128), ir.IntType(64)

            def join(h, lo):
                return builder.or_(builder.shl(builder.zext(h, i128), ir.Constant(i128, 64)), builder.zext(lo, i128))
            a, b, c = join(args[0], args[1]), join(args[2], args[3]), join(args[4], args[5])
            r = builder.add(builder.mul(a, b), c)
            hi = builder.trunc(builder.lshr(r, ir.Constant(i128, 64)), i64)
            lo = builder.trunc(r, i64)
            return context.make_tuple(builder, sig.return_type, (hi, lo))
        return sig, codegen
else:
    def muladd128(ah, al, bh, bl, ch, cl):
        """Plain Python: (a * b + c) mod 2**128 with Python integers; returns (high, low) as uint64."""
        r = (((int(ah) << 64) | int(al)) * ((int(bh) << 64) | int(bl)) + ((int(ch) << 64) | int(cl))) & ((1 << 128) - 1)
        return np.uint64(r >> 64), np.uint64(r & _M64)


@inlined
def pcg_step(h, l, ih, il):
    """One PCG64 (XSL-RR) step from the state (h, l) with increment (ih, il): the new state and the output."""
    h, l = muladd128(h, l, PCG_MUL_HI, PCG_MUL_LO, ih, il)
    v = h ^ l
    rot = h >> np.uint64(58)
    return h, l, (v >> rot) | (v << ((np.uint64(64) - rot) & np.uint64(63)))


@inlined
def to_double(x):
    """numpy's ``random()`` from one 64-bit output."""
    return np.float64(x >> np.uint64(11)) * _TWO_M53


@core
def jump(st, jt):
    """The state ``st`` = (h, l, ih, il) moved ahead by the jump ``jt`` = (A, S) (each 128-bit, as
    high/low halves): A * state + S * increment, the state after as many steps as the jump was made
    for (:func:`sim.engine.rng.jump_table`). Returns (h, l)."""
    h, l = muladd128(jt[0], jt[1], st[0], st[1], np.uint64(0), np.uint64(0))
    return muladd128(jt[2], jt[3], st[2], st[3], h, l)
