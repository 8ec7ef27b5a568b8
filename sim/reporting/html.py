"""Building blocks of the HTML report: escaping, tables, sections, links and the style sheet."""
from __future__ import annotations

import html
from typing import Any, Iterable, Sequence


class Markup(str):
    """Text that is already HTML (escaped, or built from escaped parts)."""


def esc(value: Any) -> Markup:
    """HTML-escape a value (Markup passes through unchanged)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


class _Group:
    """A row of a table that heads a group of rows."""

    def __init__(self, label: Any):
        self.label = label


class _Cell:
    """A table cell with its own CSS class."""

    def __init__(self, value: Any, cls: str):
        self.value, self.cls = value, cls


def _cell(value: Any, tag: str = "td", cls: str = "") -> str:
    if isinstance(value, _Cell):
        value, cls = value.value, " ".join(x for x in (cls, value.cls) if x)
    c = f' class="{esc(cls)}"' if cls else ""
    scope = ' scope="row"' if tag == "th" else ""
    return f"<{tag}{scope}{c}>{esc(value)}</{tag}>"


def _table(head: Sequence[Any], rows: Sequence[Any], *, cls: str = "", caption: Any = None,
           row_classes: Sequence[str] | None = None, num_cols: Iterable[int] = (), row_header: bool = True) -> Markup:
    num = set(num_cols)
    out = [f'<div class="scroll"><table class="{esc(cls)}">' if cls else '<div class="scroll"><table>']
    if caption is not None:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(rows):
        if isinstance(row, _Group):
            out.append(f'<tr class="group"><th colspan="{len(head)}" scope="rowgroup">{esc(row.label)}</th></tr>')
            continue
        rc = row_classes[i] if row_classes is not None and row_classes[i] else ""
        cells = [_cell(v, "th" if (j == 0 and row_header) else "td", "num" if j in num else "")
                 for j, v in enumerate(row)]
        out.append((f'<tr class="{esc(rc)}">' if rc else "<tr>") + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return Markup("".join(out))


def _section(sid: str, level: int, title: Any, *body: Any) -> Markup:
    return Markup(f'<section id="{esc(sid)}"><h{level}>{esc(title)}</h{level}>' + "".join(esc(b) for b in body)
                  + "</section>")


def _p(text: Any, cls: str = "") -> Markup:
    return Markup((f'<p class="{esc(cls)}">' if cls else "<p>") + esc(text) + "</p>")


def _ul(items: Iterable[Any]) -> Markup:
    return Markup("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def _link(target: str, text: Any) -> Markup:
    return Markup(f'<a href="#{esc(target)}">{esc(text)}</a>')


_CSS = """
:root{--ink:#1d2733;--muted:#5b6776;--line:#d5dbe3;--band:#f4f6f9;--accent:#1f5f99;--warn:#fff4df;--warnline:#e0a03a}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
line-height:1.45;margin:0 auto;max-width:1180px;padding:1.5rem 1.5rem 3rem;font-size:15px}
h1{font-size:1.7rem;margin:.2rem 0 .3rem;color:var(--accent)}
h2{font-size:1.35rem;border-bottom:2px solid var(--accent);padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.12rem;margin-top:1.6rem}
h4{font-size:1rem;margin-top:1.2rem}
.subtitle{color:var(--muted);margin-top:0}
a{color:var(--accent)}
nav ol{margin:.2rem 0;padding-left:1.4rem}
nav>ol>li{margin:.15rem 0}
.scroll{overflow-x:auto;margin:.6rem 0}
table{border-collapse:collapse;width:100%;font-size:.88rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid var(--line);padding:.3rem .45rem;vertical-align:top;text-align:left}
thead th{background:var(--band);position:sticky;top:0}
tbody tr:nth-child(even) td{background:#fafbfc}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.group th{background:#e8eef6;font-weight:600}
tr.total th,tr.total td{font-weight:600;border-top:2px solid var(--ink)}
tr.dominated td,tr.dominated th{color:var(--muted)}
table.meta,table.narrow{width:auto}
table.meta th{background:var(--band);white-space:nowrap}
tr.assumption td,tr.assumption th{background:var(--warn)!important}
tr.unverified td,tr.unverified th{background:#fdecec!important}
tr.exploratory td,tr.exploratory th{background:#f1ecfa!important}
tr.gap td,tr.gap th{color:var(--muted)}
.gap{font-style:italic}
.badge{display:inline-block;padding:0 .35rem;border-radius:.6rem;font-size:.78rem;white-space:nowrap;
border:1px solid var(--line);background:#fff}
.badge.kind-assumption{border-color:var(--warnline);background:#ffe3b0;font-weight:600}
.badge.kind-evidence{border-color:#7bb37b;background:#e6f4e6}
.badge.kind-derived{border-color:#7aa6d6;background:#e5effa}
.badge.kind-calibrated{border-color:#a08ad0;background:#efe9fa}
.badge.flag-unverified{border-color:#d46a6a;background:#fbdada;font-weight:600}
.muted{color:var(--muted)}
.note{color:var(--muted);font-size:.9rem}
.warning{background:var(--warn);border-left:4px solid var(--warnline);padding:.4rem .6rem}
ol.ladder{margin:0;padding-left:1.2rem}
table.params td:nth-child(7),table.evidence td:nth-child(4){min-width:18rem}
table.protocols td:nth-child(5){min-width:14rem}
figure{margin:1.2rem 0;text-align:center}
figure img{max-width:min(100%,860px);height:auto;border:1px solid var(--line)}
div.long{word-break:break-word;max-width:16rem;font-size:.8rem}
code.pname{word-break:break-all}
table.params th:first-child{min-width:11rem}
th .muted{font-weight:normal}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.3rem}
details summary{cursor:pointer;color:var(--accent);margin:.4rem 0}
pre{background:var(--band);padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
footer{margin-top:3rem;color:var(--muted);font-size:.85rem;border-top:1px solid var(--line)}
@media print{body{max-width:none;font-size:11px}thead th{position:static}nav{display:none}
section{break-inside:auto}figure,tr{break-inside:avoid}details>*{display:block}}
""".strip()
