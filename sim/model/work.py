"""The driver's arrays as the clinical core reaches them: one :data:`sim.model.layout.WORK` record.

A driver owns the arrays the core reads and writes: the record buffers (events, health-state
segments, their counters), the response table and the block's random numbers (renal flares, and how
many courses and flares are drawn; for courses and their adverse events, the streams' start states,
chunk by chunk, and jump tables: the core draws a course's numbers when the course starts,
:func:`course_numbers`). At each entry into the core the driver's
arrays are *attached* to a WORK record (their addresses and shapes, :func:`attach`); the core then
passes that one record from function to function, and a rule that reads an array asks for it by name
(:func:`events`, :func:`flare_draws`, ...). Passing the arrays themselves would cost every call
a dozen words and a reference-count update per array, more than half of the core's time.

The arrays must be C-contiguous and stay alive while the core runs (the driver holds them). With
``NUMBA_DISABLE_JIT=1`` the addresses name the arrays themselves (:func:`sim.model.jit.address_of`).
"""
from __future__ import annotations

from sim.model import layout as L
from sim.model.jit import address_of, core, view_f8, view_i8, view_u8, inlined
from sim.model.pcg import jump, pcg_step, to_double


@core
def attach_records(W, out):
    """Attach the record buffers ``out`` = (events, segments, counters) to ``W[0]``; returns it (a part
    of :func:`attach`: every entry into the core attaches all of the driver's arrays)."""
    w = W[0]
    ev, sg, cnt = out
    if not (ev.flags.c_contiguous and sg.flags.c_contiguous):
        raise ValueError("the core's record buffers must be C-contiguous")
    w.events, w.event_rows = address_of(ev), ev.shape[0]
    w.segments, w.segment_rows = address_of(sg), sg.shape[0]
    w.counts = address_of(cnt)
    return w


@core
def attach(W, R, draws, out):
    """Attach the driver's arrays (response table ``R``; ``draws`` = (flares, drawn, course stream
    starts, adverse-event stream starts, their jump tables); record buffers ``out``) to ``W[0]``;
    returns it."""
    w = attach_records(W, out)
    flares, drawn, course_starts, ae_starts, course_jumps, ae_jumps = draws
    if not (R.flags.c_contiguous and flares.flags.c_contiguous and course_starts.flags.c_contiguous
            and ae_starts.flags.c_contiguous):
        raise ValueError("the core's arrays must be C-contiguous")
    w.response = address_of(R)
    for d in range(7):
        w.response_shape[d] = R.shape[d]
    w.flares = address_of(flares)
    for d in range(3):
        w.flares_shape[d] = flares.shape[d]
    w.drawn = address_of(drawn)
    chunks = drawn[0] // L.COURSE_CHUNK
    if chunks < 1 or course_starts.shape[0] % chunks != 0 or ae_starts.shape[0] % chunks != 0:
        raise ValueError("the core's course streams: a whole number of chunks of start states, one at least")
    w.course_starts, w.n_course_starts = address_of(course_starts), course_starts.shape[0]
    w.course_stride = course_starts.shape[0] // chunks   # streams per chunk
    w.ae_starts, w.n_ae_starts = address_of(ae_starts), ae_starts.shape[0]
    w.ae_stride = ae_starts.shape[0] // chunks
    w.course_jumps, w.ae_jumps = address_of(course_jumps), address_of(ae_jumps)
    w.n_jumps = course_jumps.shape[0]
    return w


@inlined
def events(w):
    """Event rows (patient, code, a, b, c, time, sequence)."""
    return view_f8(w.events, (w.event_rows, L.EVENT_WIDTH))


@inlined
def segments(w):
    """Health-state segment rows (patient, state, therapy, start, stop, sequence)."""
    return view_f8(w.segments, (w.segment_rows, L.SEGMENT_WIDTH))


@inlined
def counts(w):
    """Rows written: events, segments; and the next sequence number."""
    return view_i8(w.counts, (3,))


@inlined
def response(w):
    """P(response) ``[therapy, class, ancestry, nonadherent, chronicity, look-alike, second line]``."""
    s = w.response_shape
    return view_f8(w.response, (s[0], s[1], s[2], s[3], s[4], s[5], s[6]))


@inlined
def flare_draws(w):
    """Renal flares ``[row, flare, (exponential threshold, severity uniform)]``."""
    s = w.flares_shape
    return view_f8(w.flares, (s[0], s[1], s[2]))


@inlined
def drawn(w):
    """How many courses (per stream) and flares are drawn for every patient of the block ``(courses, flares)``."""
    return view_i8(w.drawn, (2,))


@inlined
def jumped(w, starts, n_starts, stride, jumps, row, s, k):
    """Stream ``s`` (of the start states at address ``starts``: ``n_starts`` rows, chunk after chunk,
    ``stride`` streams each) moved ahead to course ``k`` of row ``row`` (its chunk's stream, by the
    chunk's jump to that course, of the table at ``jumps``): the state (h, l) and the stream's
    increment (ih, il)."""
    K = L.COURSE_CHUNK
    c = k // K
    st = view_u8(starts, (n_starts, 4))[c * stride + s]
    h, l = jump(st, view_u8(jumps, (w.n_jumps, 4))[row * K + (k - c * K)])
    return h, l, st[2], st[3]


@inlined
def course_numbers(w, row, stream, k):
    """The five uniforms of course ``k`` of response stream ``stream`` for the block's row ``row``
    (:mod:`sim.model.course` reads them when the course starts), drawn here: the stream of the
    course's chunk jumped straight to them (:mod:`sim.model.pcg`)."""
    h, l, ih, il = jumped(w, w.course_starts, w.n_course_starts, w.course_stride, w.course_jumps, row, stream, k)
    h, l, x0 = pcg_step(h, l, ih, il)
    h, l, x1 = pcg_step(h, l, ih, il)
    h, l, x2 = pcg_step(h, l, ih, il)
    h, l, x3 = pcg_step(h, l, ih, il)
    h, l, x4 = pcg_step(h, l, ih, il)
    return to_double(x0), to_double(x1), to_double(x2), to_double(x3), to_double(x4)


@inlined
def ae_numbers(w, row, pair, k):
    """The two uniforms of adverse-event stream ``pair`` (a (response stream, kind) pair) for course
    ``k`` of row ``row``, as :func:`course_numbers`."""
    h, l, ih, il = jumped(w, w.ae_starts, w.n_ae_starts, w.ae_stride, w.ae_jumps, row, pair, k)
    h, l, x0 = pcg_step(h, l, ih, il)
    h, l, x1 = pcg_step(h, l, ih, il)
    return to_double(x0), to_double(x1)


@inlined
def courses_short(courses, n_streams, have):
    """Does a patient who has started ``courses`` (per response stream) lack the numbers of a next
    course of some stream (``have`` drawn per stream)? The driver then draws the next chunk."""
    for s in range(n_streams):
        if courses[s] >= have:
            return True
    return False


@inlined
def flares_short(n_flares, have):
    """Does a patient after ``n_flares`` renal flares lack the next flare's numbers (``have`` drawn)?"""
    return n_flares + 1 >= have
