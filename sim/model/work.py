"""The driver's arrays as the clinical core reaches them: one :data:`sim.model.layout.WORK` record.

A driver owns the arrays the core reads and writes: the record buffers (events, health-state
segments, their counters), the response table and the block's random numbers (courses, their adverse
events, renal flares, and how many of each are drawn). At each entry into the core the driver's
arrays are *attached* to a WORK record (their addresses and shapes, :func:`attach`); the core then
passes that one record from function to function, and a rule that reads an array asks for it by name
(:func:`events`, :func:`course_uniforms`, ...). Passing the arrays themselves would cost every call
a dozen words and a reference-count update per array, more than half of the core's time.

The arrays must be C-contiguous and stay alive while the core runs (the driver holds them). With
``NUMBA_DISABLE_JIT=1`` the addresses name the arrays themselves (:func:`sim.model.jit.address_of`).
"""
from __future__ import annotations

from sim.model import layout as L
from sim.model.jit import address_of, core, view_f8, view_i8


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
    """Attach the driver's arrays (response table ``R``; ``draws`` = (course uniforms, adverse-event
    uniforms, flares, drawn); record buffers ``out``) to ``W[0]``; returns it."""
    w = attach_records(W, out)
    course_u, ae_u, flares, drawn = draws
    if not (R.flags.c_contiguous and course_u.flags.c_contiguous and ae_u.flags.c_contiguous
            and flares.flags.c_contiguous):
        raise ValueError("the core's arrays must be C-contiguous")
    w.response = address_of(R)
    for d in range(7):
        w.response_shape[d] = R.shape[d]
    w.course_u = address_of(course_u)
    w.ae_u = address_of(ae_u)
    for d in range(4):
        w.course_u_shape[d] = course_u.shape[d]
        w.ae_u_shape[d] = ae_u.shape[d]
    w.flares = address_of(flares)
    for d in range(3):
        w.flares_shape[d] = flares.shape[d]
    w.drawn = address_of(drawn)
    w.drawn_rows = drawn.shape[0]
    return w


@core
def events(w):
    """Event rows (patient, code, a, b, c, time, sequence)."""
    return view_f8(w.events, (w.event_rows, L.EVENT_WIDTH))


@core
def segments(w):
    """Health-state segment rows (patient, state, therapy, start, stop, sequence)."""
    return view_f8(w.segments, (w.segment_rows, L.SEGMENT_WIDTH))


@core
def counts(w):
    """Rows written: events, segments; and the next sequence number."""
    return view_i8(w.counts, (3,))


@core
def response(w):
    """P(response) ``[therapy, class, ancestry, nonadherent, chronicity, look-alike, second line]``."""
    s = w.response_shape
    return view_f8(w.response, (s[0], s[1], s[2], s[3], s[4], s[5], s[6]))


@core
def course_uniforms(w):
    """Uniforms of a course ``[row, response stream, course, 5]``."""
    s = w.course_u_shape
    return view_f8(w.course_u, (s[0], s[1], s[2], s[3]))


@core
def ae_uniforms(w):
    """Uniforms of a course's adverse events ``[row, (stream, kind) pair, course, 2]``."""
    s = w.ae_u_shape
    return view_f8(w.ae_u, (s[0], s[1], s[2], s[3]))


@core
def flare_draws(w):
    """Renal flares ``[row, flare, (exponential threshold, severity uniform)]``."""
    s = w.flares_shape
    return view_f8(w.flares, (s[0], s[1], s[2]))


@core
def drawn(w):
    """How many courses (per stream) and flares are drawn ``[row, (courses, flares)]``."""
    return view_i8(w.drawn, (w.drawn_rows, 2))
