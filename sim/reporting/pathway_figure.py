"""One strategy's pathway as text and as a figure (``lnsim pathway``).

Both are drawn from :func:`sim.model.phases.strategy_pathway`: the phases of the clinical core that
the strategy uses, with its timings, and the transitions between them labelled by the decision that
takes them. The figure is laid out like the review's figures: Figure 2 on top (induction, first
assessment, reassessment, switch, the work-up), maintenance and renal flares on the right, the
Figure 3 ladder below with its steps in order (and the rescue after a severe infection, and cells
being made before a cell therapy when capacity is limited). Transitions every phase has (ESRD,
death or the horizon, a wait that goes on) are stated once in the legend rather than drawn from
every box.

This is reporting: it imports :mod:`sim.model` (nothing in ``sim.model`` imports it), and matplotlib
only inside :func:`draw`.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from sim.model import layout as L
from sim.model.phases import StrategyPathway, months_text, years_text

FORMATS = ("svg", "png")
COMMON = ("esrd", "end", "goes_on")          # transitions every waiting phase has


def reentry_text(sp: StrategyPathway) -> str:
    rule = sp.flare_reentry
    if rule == "same_step":
        return ("same_step: re-treated with what worked (the induction agent, the ladder step, the look-alike's "
                "management)")
    if rule == "induction":
        return "induction: re-induced with the first agent (" + ", ".join(a for a, _ in sp.induction) + ")"
    if rule == "ladder":
        return "ladder: back to ladder step 1" + (f" ({sp.ladder[0].therapy})" if sp.ladder else " (no ladder: "
                                                                                              "supportive care)")
    i = [c.therapy for c in sp.ladder].index(rule)
    return f"{rule}: to ladder step {i + 1}"


def describe(sp: StrategyPathway) -> str:
    """The strategy's pathway as text: Figure 2 with its timings, the work-up, the Figure 3 ladder in
    order with each step's assessment time, the rescue rule, maintenance, flare re-entry, and every
    transition between phases with its decision."""
    w = 26
    lines = [f"{sp.name}" + (f": {sp.description}" if sp.description else "")]
    add = lambda k, v: lines.append(f"    {k:<{w}}{v}")            # noqa: E731
    lines.append("  Figure 2")
    induction = ", ".join(f"{a} ({s:.0%})" if len(sp.induction) > 1 else a for a, s in sp.induction)
    add("induction", f"{induction}; first assessment at {months_text(sp.first_assessment_months)}")
    add("improving", f"(response due within {months_text(sp.improvement_lead_months)}): reassessment at "
        f"{months_text(sp.reassessment_months)}")
    add("no response", "switch " + ", ".join(f"{a} -> {b}" for a, b in sp.switch)
        + "; the second agent is assessed the same way")
    if sp.workup:
        what = [x for x, on in (("screening for TMA and APS nephropathy", sp.screen_lookalikes),
                                ("repeat biopsy", sp.repeat_biopsy)) if on]
        add("work-up (both failed)", " then ".join(what))
        for c, co in sp.management:
            add(f"  {c} found", f"{co.therapy}, assessed at {months_text(co.assessment_months)}" +
                (f" (after {co.service})" if co.service else ""))
        if sp.repeat_biopsy:
            add("  chronic damage found", "supportive care (no escalation)")
        add("  nothing found", "classed refractory")
    else:
        add("work-up (both failed)", "none: classed refractory")
    lines.append("  Figure 3 ladder (classed refractory)")
    if not sp.ladder:
        add("no ladder", "supportive care")
    for i, c in enumerate(sp.ladder):
        extra = (f"  (cells made first: {months_text(c.manufacture_months)})" if c.manufacture_months
                 else f"  (after {c.service})" if c.service else "")
        add(f"{i + 1}. {c.therapy}", f"assessed at {months_text(c.assessment_months)}{extra}")
    if sp.ladder:
        add("after the last step", "supportive care")
    if sp.rescue is not None and sp.rescue_from:
        steps = ", ".join(str(i + 1) for i in sp.rescue_from)
        add("rescue", f"a severe {sp.rescue_after} stops step {steps}: {sp.rescue.therapy}, assessed at "
            f"{months_text(sp.rescue.assessment_months)}, once per climb; no response: the next step")
    elif sp.rescue is not None:
        add("rescue", f"{sp.rescue.therapy} after a severe {sp.rescue_after}, but no ladder step can be stopped "
            "by one")
    else:
        add("rescue", "none (after_severe_infection not set): no response or a stopped step goes to the next step")
    lines.append("  after a response")
    add("maintenance", f"{sp.maintenance} for {years_text(sp.maintenance_years)}, then off treatment")
    add("renal flare", reentry_text(sp))
    lines.append("  transitions (phase before -> phase after: decision)")
    rows: dict = {}                  # (phase after, label) -> phases before (the same decision from several)
    for t in sp.transitions:
        if t.key not in COMMON:
            srcs = rows.setdefault((_node_name(t.dst, t.dst_step, sp), t.label), [])
            name = _node_name(t.src, t.src_step, sp)
            if name not in srcs:
                srcs.append(name)
    for (dst, label), srcs in rows.items():
        lines.append(f"    {' | '.join(srcs)} -> {dst}: {label}")
    lines.append(f"    from every phase: ESRD -> renal_replacement; death, or the horizon ({years_text(sp.horizon_years)}) "
                 "-> done; a response or an adverse event that stops nothing: the wait goes on")
    return "\n".join(lines)


def _node_name(phase: int, i: int, sp: StrategyPathway) -> str:
    name = L.PHASE_NAMES[phase]
    if i >= 0 and phase in (L.LADDER_ASSESSMENT, L.MANUFACTURE):
        return f"{name}[{i + 1}:{sp.ladder[i].therapy}]"
    return name


# ==============================================================================================
# The figure
# ==============================================================================================
DX, ROW = 3.3, 2.7                  # column and row spacing (data units; the axes keep aspect 1)
FILL = {"figure2": "#dbe9f6", "decision": "#ffffff", "ladder": "#fde6c8", "maintenance": "#d9f0d3",
        "end": "#eeeeee", "rescue": "#f9d3d3", "manufacture": "#e6dcf3", "workup": "#fff5c2"}
INK = {"respond": "#2e7d32", "flare": "#8e24aa", "default": "#37474f", "rescue": "#c62828",
       "figure2": "#1565c0", "ladder": "#ef6c00", "note": "#444444"}


def _layout(sp: StrategyPathway) -> dict:
    """Nodes: id -> (x, y, text, fill, decision?). Ids: phase numbers, ('step', i), ('make', i),
    'both' (no response to both induction agents), 'flare', 'supportive_ladder'."""
    n = len(sp.ladder)
    top, mid, low = 0.0, -ROW, -2.1 * ROW
    phases = sp.phases()
    nodes = {}
    induction = "\n".join(f"{a} ({s:.0%})" if len(sp.induction) > 1 else a for a, s in sp.induction)
    nodes[L.START] = (0.0, top, f"Start induction\n{induction}", FILL["figure2"], False)
    nodes[L.FIRST_ASSESSMENT] = (DX, top, f"First assessment\nat {months_text(sp.first_assessment_months)}", FILL["figure2"],
                                 False)
    nodes[L.REASSESSMENT] = (2 * DX, top, f"Reassessment\nat {months_text(sp.reassessment_months)}", FILL["figure2"], False)
    xm = max(4.2 * DX, (n - 0.2) * DX)
    nodes[L.MAINTENANCE] = (xm, top, f"Maintenance\n{sp.maintenance}\n{years_text(sp.maintenance_years)}",
                            FILL["maintenance"], False)
    nodes[L.OFF_TREATMENT] = (xm + DX, top, "Off treatment", FILL["maintenance"], False)
    nodes["flare"] = (xm + DX, mid, "Renal flare\nre-entry: " + sp.flare_reentry.replace("_", " "), FILL["decision"],
                      True)
    if sp.workup:
        what = " + ".join(x for x, on in (("screening", sp.screen_lookalikes), ("repeat biopsy", sp.repeat_biopsy))
                          if on)
        both = f"No response to\nboth agents:\nwork-up ({what})"
    else:
        both = "No response to\nboth agents\n(no work-up)"
    nodes["both"] = (1.4 * DX, mid, both, FILL["decision"], True)
    nodes[L.SUPPORTIVE] = (-0.15 * DX, mid, "Supportive care", FILL["end"], False)
    if L.MANAGEMENT_ASSESSMENT in phases:
        text = "Look-alike management\n" + "\n".join(
            f"{c}:\n{co.therapy} ({months_text(co.assessment_months)})" for c, co in sp.management)
        nodes[L.MANAGEMENT_ASSESSMENT] = (3.05 * DX, mid, text, FILL["workup"], False)
    for i, c in enumerate(sp.ladder):
        nodes[("step", i)] = (i * DX, low, f"Step {i + 1}\n{c.therapy}\nassessed at {months_text(c.assessment_months)}",
                              FILL["ladder"], False)
        if c.manufacture_months:
            nodes[("make", i)] = ((i - 0.5) * DX, low - 0.62 * ROW, f"Manufacture\n{c.therapy} cells\n"
                                  f"({months_text(c.manufacture_months)})", FILL["manufacture"], False)
    if n:
        nodes["supportive_ladder"] = (n * DX, low, "Supportive care\n(ladder exhausted)", FILL["end"], False)
    bottom = (mid - 1.2 * ROW if not n else low - 1.3 * ROW if (sp.rescue_from and sp.rescue is not None)
              or any(c.manufacture_months for c in sp.ladder) else low - 0.95 * ROW)
    if sp.rescue is not None and sp.rescue_from:
        xs = [i * DX for i in sp.rescue_from]
        nodes[L.RESCUE_ASSESSMENT] = ((min(xs) + max(xs)) / 2 + 0.5 * DX, bottom,
                                      f"Rescue after a severe infection\n{sp.rescue.therapy}\n"
                                      f"assessed at {months_text(sp.rescue.assessment_months)}", FILL["rescue"], False)
    nodes[L.RENAL_REPLACEMENT] = (max(xm, n * DX + 0.3 * DX), bottom, "Renal replacement\n(dialysis, transplant)",
                                  FILL["end"], False)
    nodes[L.DONE] = (nodes[L.RENAL_REPLACEMENT][0] + DX, bottom, "Done\n(death or horizon)", FILL["end"], False)
    return nodes


def _edges(sp: StrategyPathway) -> list[dict]:
    """Edges drawn from the strategy's transitions. Several transitions that mean the same on the
    figure are drawn once (a response on any ladder step; a flare back to the step that worked);
    'both' and 'flare' stand for the instantaneous decisions after the second agent fails and after a
    renal flare."""
    n = len(sp.ladder)
    out: dict = {}

    def node(phase, i, src=None):
        if phase == L.LADDER_ASSESSMENT:
            return ("step", i)
        if phase == L.MANUFACTURE and i >= 0:
            return ("make", i)
        if phase == L.SUPPORTIVE and n and src in (L.LADDER_ASSESSMENT, L.RESCUE_ASSESSMENT):
            return "supportive_ladder"
        return phase

    def put(a, b, label="", ink="default", rad=0.0, dashed=False, path=None):
        if (a, b) not in out:
            out[(a, b)] = dict(a=a, b=b, label=label, ink=INK[ink], rad=rad, dashed=dashed, path=path)

    labelled = set()

    def once(text, key):
        """A label shown on the first of several edges that mean the same."""
        if key in labelled:
            return ""
        labelled.add(key)
        return text

    switch = "\n".join(f"{a} → {b}" for a, b in sp.switch)
    for t in sp.transitions:
        k = t.key
        a, b = node(t.src, t.src_step), node(t.dst, t.dst_step, t.src)
        if k in COMMON:
            continue
        if k == "start":
            put(a, b)
        elif k == "improving":
            put(a, b, "improving")
        elif k == "switch":
            if a == b:
                put(a, b, f"no response: switch\n{switch}", rad=-1.4)
            else:
                put(a, b, "no response:\nswitch", rad=-0.45)
        elif k == "respond":
            if t.src in (L.LADDER_ASSESSMENT, L.RESCUE_ASSESSMENT):
                put("ladder", L.MAINTENANCE, once("responding", "respond"), "respond")
            elif t.src == L.FIRST_ASSESSMENT:
                put(a, b, "", "respond", rad=-0.22)
            else:
                put(a, b, once("responding", "respond"), "respond")
        elif k in ("workup_lookalike", "workup_chronic", "refractory", "refractory_no_ladder") and \
                t.src in (L.FIRST_ASSESSMENT, L.REASSESSMENT):
            put(a, "both", "" if t.src == L.REASSESSMENT else "no response\n(second agent)")
            label = {"workup_lookalike": "look-alike\nfound", "workup_chronic": "chronic\ndamage",
                     "refractory": "classify\nrefractory" + ("\n(nothing found)" if sp.workup else ""),
                     "refractory_no_ladder": "refractory,\nno ladder"}[k]
            put("both", b, label)
        elif k in ("refractory", "refractory_no_ladder"):             # from the look-alike's management
            put(a, b, "still no response:\nclassify refractory", rad=-0.08)
        elif k == "next_step":
            skip = t.dst_step != t.src_step + 1
            put(a, b, "(rescue\ngiven)" if skip else once("no\nresponse", "next"), dashed=skip,
                rad=0.3 if skip else 0.0)
        elif k == "exhausted":
            if t.src == L.RESCUE_ASSESSMENT:
                put(a, "ladder", "no response:\nthe next step", "rescue", path="left")
            else:
                skip = t.src_step != n - 1
                put(a, b, "(rescue\ngiven)" if skip else "no\nresponse", dashed=skip, rad=0.3 if skip else 0.0)
        elif k == "rescue":
            put(a, b, once("severe\ninfection", "rescue"), "rescue", rad=0.12)
        elif k == "rescue_next":
            put(a, "ladder", "no response:\nthe next step", "rescue", path="left")
        elif k == "manufactured":
            put(a, b, "cells\nmade")
        elif k == "maintenance_over":
            put(a, b, f"after\n{years_text(sp.maintenance_years)}")
    flares = [t for t in sp.transitions if t.key.startswith("flare_") and t.src == L.MAINTENANCE]
    if flares:
        put(L.MAINTENANCE, "flare", "flare", "flare")
        put(L.OFF_TREATMENT, "flare", "flare", "flare")
        by_key: dict = {}
        for t in flares:
            by_key.setdefault(t.key, []).append(node(t.dst, t.dst_step, t.src))
        for k, dsts in by_key.items():
            if k == "flare_ladder" and len(set(dsts)) > 1:
                put("flare", "ladder", "back to the step\nthat worked", "flare", rad=-0.1)
                continue
            for d in dict.fromkeys(dsts):
                if k == "flare_induction":          # drawn to 'start induction': a new induction
                    put("flare", L.START, ("re-induce with the first agent" if len(sp.induction) > 1 else
                                           f"re-induce with {sp.induction[0][0]}")
                        if sp.flare_reentry == "induction" else "induction responders: re-induce with the agent "
                        "that worked", "flare", path="over")
                elif k == "flare_management":
                    put("flare", d, "look-alike:\nits management", "flare")
                elif k == "flare_ladder":
                    put("flare", d, "back to\nthe ladder", "flare", rad=-0.1)
                else:
                    put("flare", d, "no ladder: supportive care", "flare", path="under")
    return list(out.values())


def draw(sp: StrategyPathway, path: str | Path, fmt: str = "svg") -> Path:
    """Write the strategy's pathway figure to ``path`` (``fmt``: svg or png)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MPath

    nodes = _layout(sp)
    edges = _edges(sp)
    used = {e["a"] for e in edges} | {e["b"] for e in edges} | {L.RENAL_REPLACEMENT, L.DONE, L.START}
    nodes = {k: v for k, v in nodes.items() if k in used}
    steps = [nodes[("step", i)] for i in range(len(sp.ladder))]
    xs = [v[0] for v in nodes.values()]
    ys = [v[1] for v in nodes.values()]
    x0, x1, y0, y1 = min(xs) - 2.0, max(xs) + 2.6, min(ys) - 2.2, max(ys) + 5.2
    scale = 0.7
    fig = Figure(figsize=((x1 - x0) * scale, (y1 - y0) * scale))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.text(x0 + 0.3, y1 - 0.3, f"Treatment pathway of strategy '{sp.name}'", fontsize=14, fontweight="bold",
            va="top")
    if sp.description:
        ax.text(x0 + 0.3, y1 - 1.0, _wrap(sp.description, 150), fontsize=9.5, va="top", color=INK["note"])
    boxes = {}
    for key, (x, y, text, fill, decision) in nodes.items():
        style = "round4,pad=0.4" if decision else "round,pad=0.45"
        boxes[key] = ax.text(x, y, text, ha="center", va="center", fontsize=8.5, zorder=2,
                             style="italic" if decision else "normal",
                             bbox=dict(boxstyle=style, fc=fill, ec="#546e7a", lw=1.4 if decision else 0.9,
                                       ls="--" if decision else "-"))
    fig.canvas.draw()                  # the boxes' extents, for the frame and the arrows
    inv = ax.transData.inverted()

    def extent(key):
        bb = boxes[key].get_bbox_patch().get_window_extent()
        (a, b), (c, d) = inv.transform([(bb.x0, bb.y0), (bb.x1, bb.y1)])
        return a, b, c, d

    frame = None
    if steps:
        ext = [extent(("step", i)) for i in range(len(sp.ladder))] + \
            ([extent("supportive_ladder")] if "supportive_ladder" in nodes else [])
        fx0, fy0 = min(e[0] for e in ext) - 0.35, min(e[1] for e in ext) - 0.35
        fx1, fy1 = max(e[2] for e in ext[:len(sp.ladder)]) + 0.35, max(e[3] for e in ext) + 0.35
        frame = FancyBboxPatch((fx0, fy0), fx1 - fx0, fy1 - fy0, boxstyle="round,pad=0.05", fc="none",
                               ec=INK["ladder"], lw=1.3, ls="--", zorder=1)
        ax.add_patch(frame)
        ax.text(fx0 + 0.1, fy1 + 0.15, "Figure 3: the refractory ladder, in order", fontsize=9.5,
                color=INK["ladder"], fontweight="bold", va="bottom")
    e0 = extent(L.START)
    ax.text(e0[0], 2.2, "Figure 2: induction, switch, and how a patient is classed refractory",
            fontsize=9.5, color=INK["figure2"], fontweight="bold", va="bottom")

    def label_at(x, y, text, ink):
        ax.text(x, y, text, fontsize=7.5, ha="center", va="center", color=ink, zorder=5,
                bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.9))

    for e in edges:
        a, b, ink, rad = e["a"], e["b"], e["ink"], e["rad"]
        if (a not in nodes and a != "ladder") or (b not in nodes and b != "ladder") or \
                ("ladder" in (a, b) and frame is None):
            continue
        props = dict(arrowstyle="-|>", mutation_scale=11, color=ink, lw=1.1, ls="--" if e["dashed"] else "-",
                     zorder=3)
        if e["path"] == "over":                    # a flare back to induction: around the top of Figure 2
            fa, fb = extent(a), extent(b)
            ytop = 3.0
            xr = extent(L.OFF_TREATMENT)[2] + 0.6
            xs_ = (fb[0] + fb[2]) / 2
            verts = [(fa[2], (fa[1] + fa[3]) / 2), (xr, (fa[1] + fa[3]) / 2), (xr, ytop), (xs_, ytop), (xs_, fb[3])]
            ax.add_patch(FancyArrowPatch(path=MPath(verts), **props))
            label_at((xr + xs_) / 2, ytop, e["label"], ink)
            continue
        if e["path"] == "under":                   # a flare with no ladder: below Figure 2, to supportive care
            fa, fb = extent(a), extent(b)
            yb = min(fa[1], fb[1]) - 0.9
            xa_, xb_ = (fa[0] + fa[2]) / 2, (fb[0] + fb[2]) / 2
            verts = [(xa_, fa[1]), (xa_, yb), (xb_, yb), (xb_, fb[1])]
            ax.add_patch(FancyArrowPatch(path=MPath(verts), **props))
            label_at((xa_ + xb_) / 2, yb, e["label"], ink)
            continue
        if e["path"] == "left":                    # rescue, no response: into the ladder from its left
            fa = extent(a)
            xl, ym = frame.get_x() - 0.6, frame.get_y() + frame.get_height() / 2
            verts = [(fa[0], (fa[1] + fa[3]) / 2), (xl, (fa[1] + fa[3]) / 2), (xl, ym), (frame.get_x(), ym)]
            ax.add_patch(FancyArrowPatch(path=MPath(verts), **props))
            label_at((fa[0] + xl) / 2, (fa[1] + fa[3]) / 2, e["label"], ink)
            continue
        if a == b:                                  # a loop over the box
            x, y = nodes[a][0], extent(a)[3]
            ax.add_patch(FancyArrowPatch((x - 0.6, y), (x + 0.6, y), connectionstyle=f"arc3,rad={rad}", **props))
            label_at(x, y + 0.6 * abs(rad) + 0.45, e["label"], ink)
            continue
        if a == "ladder":                           # a response on any step, to maintenance
            pa, (xa, ya) = None, (frame.get_x() + frame.get_width() - 0.9, frame.get_y() + frame.get_height())
        else:
            pa, (xa, ya) = boxes[a].get_bbox_patch(), nodes[a][:2]
        if b == "ladder":
            if a == "flare":
                pb, (xb, yb) = None, (frame.get_x() + frame.get_width(), frame.get_y() + frame.get_height())
            else:                                   # rescue: back into the ladder, to the next step
                pb, (xb, yb) = None, (xa - 0.9 * DX, frame.get_y())
        else:
            pb, (xb, yb) = boxes[b].get_bbox_patch(), nodes[b][:2]
        ax.add_patch(FancyArrowPatch((xa, ya), (xb, yb), patchA=pa, patchB=pb, shrinkA=1, shrinkB=1,
                                     connectionstyle=f"arc3,rad={rad}", **props))
        if e["label"]:
            label_at((xa + xb) / 2 + 0.5 * rad * (yb - ya), (ya + yb) / 2 - 0.5 * rad * (xb - xa), e["label"], ink)
    rr = extent(L.RENAL_REPLACEMENT)
    yr = nodes[L.RENAL_REPLACEMENT][1]
    ax.add_patch(FancyArrowPatch((rr[0] - 2.2, yr), (rr[0], yr), arrowstyle="-|>", mutation_scale=11,
                                 color=INK["default"], lw=1.1, shrinkA=0, shrinkB=1, zorder=3))
    ax.text(rr[0] - 2.15, yr + 0.12, "ESRD\n(any phase)", fontsize=7.5, ha="left", va="bottom", color=INK["default"])
    ax.add_patch(FancyArrowPatch(nodes[L.RENAL_REPLACEMENT][:2], nodes[L.DONE][:2], arrowstyle="-|>",
                                 mutation_scale=11, color=INK["default"], lw=1.1, shrinkA=1, shrinkB=1, zorder=3,
                                 patchA=boxes[L.RENAL_REPLACEMENT].get_bbox_patch(),
                                 patchB=boxes[L.DONE].get_bbox_patch()))
    notes = [f"From every phase: ESRD → renal replacement; death, or the horizon ({years_text(sp.horizon_years)}) → done. "
             "A response, or an adverse event that stops nothing, lets the wait go on;",
             "a severe adverse event ends a course early and it is judged then. Green: responding → maintenance; "
             "purple: a renal flare and where it re-enters; red: the rescue rule."]
    if sp.capacity:
        notes.append("Capacity limits: a course may first queue for the service it needs (nephritis stays active "
                     "meanwhile); cells are made before a cell therapy.")
    ax.text(x0 + 0.3, y0 + 0.25, "\n".join(notes), fontsize=8, va="bottom", color=INK["note"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "svg":
        with matplotlib.rc_context({"svg.hashsalt": "lnsim", "svg.fonttype": "none"}):
            fig.savefig(path, format="svg", metadata={"Date": None})
    else:
        fig.savefig(path, format=fmt, dpi=150)
    return path


def _wrap(text: str, width: int = 24) -> str:
    return "\n".join(textwrap.fill(part, width) for part in text.split("\n"))
