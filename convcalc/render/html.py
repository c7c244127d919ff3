"""Report → HTML: the self-contained page of ``convcalc report`` (title and totals, the diagram,
per-layer charts, a sortable and searchable table) and the table a notebook shows.

The page loads nothing: the diagram and the charts are inline SVG made at build time, the style
and the small script (sorting, searching, zooming) are inline, and a Content-Security-Policy
forbids every request, so it opens the same offline, from a mail attachment or a CI artifact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html import escape

from convcalc.memory import InferenceMemory, TrainingView
from convcalc.render import units
from convcalc.render.charts import Chart
from convcalc.render.labels import key_options
from convcalc.report import Report, Row

POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
"""The page's Content-Security-Policy: inline style and script only, no request of any kind."""


@dataclass(eq=False)
class Column:
    """A table column: its heading, whether it sorts as a number, and each row's cell as
    (sort value, text)."""

    heading: str
    numeric: bool
    cells: list[tuple[str, str]]


def columns(report: Report) -> list[Column]:
    """The table's columns: the layer's identity and shapes, its counts, its field and memory."""
    rows = report.rows
    found = [
        Column("#", True, [(str(row.index), str(row.index)) for row in rows]),
        Column("layer", False, [(row.path, units.printable(row.path)) for row in rows]),
        Column("type", False, [(row.type, row.type) for row in rows]),
        Column("options", False, [(key_options(row.layer),) * 2 for row in rows]),
        Column("input", False, [(units.row_input(row),) * 2 for row in rows]),
        Column("output", False, [(units.shape(row.output),) * 2 for row in rows]),
        Column("params", True, [(str(row.params), f"{row.params:,}") for row in rows]),
        Column("MACs", True, [(str(row.macs), units.count(row.macs)) for row in rows]),
        Column("RF", True, [field_cell(row) for row in rows]),
        Column("output memory", True, [bytes_cell(row.activation_bytes) for row in rows]),
    ]
    memory = report.extra(InferenceMemory)
    if memory is not None:
        found.append(Column("live memory", True, [bytes_cell(b) for b in memory.live_bytes]))
    training = report.extra(TrainingView)
    if training is not None:
        kept = [bytes_cell(b) for b in training.memory.saved_bytes]
        found.append(Column("kept for backward", True, kept))
    found.append(Column("notes", False, [(note,) * 2 for note in notes(report)]))
    return found


def field_cell(row: Row) -> tuple[str, str]:
    """A receptive field, sorting by its largest side."""
    size = max(row.rf.size) if row.rf is not None else -1
    return str(size), units.field(row.rf)


def bytes_cell(value: int) -> tuple[str, str]:
    """A size in bytes, shown in binary units."""
    return str(value), units.size(value)


def notes(report: Report) -> list[str]:
    """Per row: its warnings and the batchnorms it absorbed (``--fold-bn``)."""
    absorbed = report.folding.receivers(report.before.rows) if report.before else {}
    found = []
    for row in report.rows:
        parts = [f"⚠ {units.printable(warning)}" for warning in row.warnings]
        if row.path in absorbed:
            names = ", ".join(units.printable(path) for path in absorbed[row.path])
            parts.append(f"⊕ absorbs {names}")
        found.append("; ".join(parts))
    return found


def table_html(report: Report, table_id: str | None = "layers") -> str:
    """The layer table as HTML; numeric cells carry their exact value (``data-v``) for sorting."""
    table = columns(report)
    memory = report.extra(InferenceMemory)
    peak = memory.peak_row if memory is not None and report.rows else None
    head = "".join(
        f'<th data-numeric="{int(column.numeric)}" title="sort by {escape(column.heading)}">'
        f"{escape(column.heading)}</th>"
        for column in table
    )
    identity = f' id="{table_id}"' if table_id else ""
    numeric = {True: ' class="number"', False: ""}
    lines = [f'<table{identity} class="convcalc-layers"><thead><tr>{head}</tr></thead><tbody>']
    for index, row in enumerate(report.rows):
        classes = []
        if row.warnings:
            classes.append("warned")
        if index == peak:
            classes.append("peak")
        cells = "".join(
            f'<td data-v="{escape(column.cells[index][0])}"{numeric[column.numeric]}>'
            f"{escape(column.cells[index][1])}</td>"
            for column in table
        )
        attributes = f' class="{" ".join(classes)}"' if classes else ""
        lines.append(
            f'<tr id="row-{row.index}" data-path="{escape(row.path)}"{attributes}>{cells}</tr>'
        )
    lines.append("</tbody></table>")
    return "\n".join(lines)


def totals(report: Report) -> list[tuple[str, str]]:
    """The totals shown above everything: counts, memory, field, folding."""
    total = report.totals
    found = [
        ("params", f"{total.params:,}"),
        ("MACs", f"{units.count(total.macs)} ({total.macs:,})"),
        ("FLOPs", units.count(total.flops)),
        ("params memory", units.size(total.param_bytes)),
    ]
    memory = report.extra(InferenceMemory)
    if memory is not None and report.rows:
        where = units.printable(report.rows[memory.peak_row].path)
        found.append(("peak activations", f"{units.size(memory.peak_bytes)} at {where}"))
    training = report.extra(TrainingView)
    if training is not None:
        found.append(
            (
                "training memory",
                f"{units.size(training.memory.total)} ({training.memory.optimizer}, "
                f"batch {training.memory.batch})",
            )
        )
    found.append(("receptive field", units.field(total.rf)))
    folding = report.folding
    if report.before is not None:
        found.append(("batchnorms folded", str(len(folding.removed))))
    elif folding.folded:
        found.append(
            (
                "after folding BNs",
                f"{folding.params_after:,} params ({plural(len(folding.folded), 'batchnorm')} "
                "fold)",
            )
        )
    return found


def build_page(report: Report, depth: int | None = None) -> str:
    """The page of ``report``, its diagram's groups ``depth`` names deep collapsed.

    Graphviz lays the diagram out in its own process while the charts are rendered here."""
    from concurrent.futures import ThreadPoolExecutor

    from convcalc.render.charts import charts, to_svg
    from convcalc.render.dot import to_dot
    from convcalc.render.graphviz import layout

    with ThreadPoolExecutor(max_workers=1) as pool:
        diagram = pool.submit(layout, to_dot(report, depth), "svg")
        chart_svgs = [(chart, to_svg(chart)) for chart in charts(report)]
        return report_page(report, diagram.result().decode(), chart_svgs)


def plural(count: int, noun: str) -> str:
    """``1 batchnorm``, ``59 batchnorms``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def report_page(report: Report, diagram_svg: str, chart_svgs: list[tuple[Chart, str]]) -> str:
    """The whole page."""
    return "".join(page_parts(report, diagram_svg, chart_svgs))


def page_parts(
    report: Report, diagram_svg: str, chart_svgs: list[tuple[Chart, str]]
) -> Iterator[str]:
    """The page, a part at a time."""
    name = units.printable(report.name or "network")
    subtitle = f"input {units.shape(report.input)}, batch {report.batch}, {report.dtype}"
    if report.before is not None:
        subtitle += " — inference view, batchnorms folded"
    yield '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
    yield f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
    yield '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    yield f"<title>{escape(name)} — convcalc report</title>\n<style>{STYLE}</style></head>\n"
    yield f'<body>\n<header><h1>{escape(name)}</h1><p>{escape(subtitle)}</p>\n<dl class="totals">'
    for key, value in totals(report):
        yield f"<div><dt>{escape(key)}</dt><dd>{escape(value)}</dd></div>"
    yield "</dl></header>\n"
    yield '<section id="diagram"><h2>Diagram</h2>\n<div class="controls">'
    yield '<button type="button" data-zoom="in" title="zoom in">+</button>'
    yield '<button type="button" data-zoom="out" title="zoom out">−</button>'
    yield '<button type="button" data-zoom="fit" title="fit the width">fit</button>'
    yield '<button type="button" data-zoom="one" title="actual size">1:1</button>'
    yield "<span>Ctrl + wheel zooms; click a box to find its row.</span></div>\n"
    yield f'<div class="viewport">{inline_svg(diagram_svg)}</div></section>\n'
    yield '<section id="charts"><h2>Per layer</h2>\n'
    for chart, svg in chart_svgs:
        yield f'<figure class="chart" data-chart="{chart.key}"><figcaption>'
        yield f"{escape(chart.title)}</figcaption>{inline_svg(svg)}</figure>\n"
    yield "</section>\n"
    yield '<section id="table"><h2>Layers</h2>\n'
    yield '<input type="search" id="search" placeholder="filter by path, e.g. layer3" '
    yield 'aria-label="filter the layers by path"> <span id="shown"></span>\n'
    yield table_html(report)
    yield f'</section>\n<div id="tip" role="tooltip"></div>\n<script>{SCRIPT}</script>\n'
    yield "</body></html>\n"


def inline_svg(svg: str) -> str:
    """An SVG document as an element to inline: its XML declaration, doctype and comments
    before the ``<svg`` dropped."""
    return svg[svg.find("<svg") :]


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 2rem 3rem; color: #222; }
h1 { margin: 1.2rem 0 0; } h2 { margin: 2rem 0 .6rem; font-size: 1.2rem; }
header p { margin: .2rem 0 .8rem; color: #555; }
.totals { display: flex; flex-wrap: wrap; gap: .6rem 1.6rem; margin: 0; }
.totals dt { font-size: .8rem; color: #666; } .totals dd { margin: 0; font-weight: 600; }
.controls { display: flex; gap: .4rem; align-items: center; margin-bottom: .4rem; }
.controls span { color: #666; font-size: .85rem; margin-left: .6rem; }
.viewport { overflow: auto; max-height: 80vh; border: 1px solid #ccc; background: #fff; }
.viewport svg { display: block; }
.viewport g.node { cursor: pointer; }
figure.chart { margin: 0 0 1.2rem; } figcaption { font-weight: 600; margin-bottom: .2rem; }
#search { font: inherit; padding: .25rem .5rem; width: 22rem; margin-bottom: .5rem; }
table.convcalc-layers { border-collapse: collapse; font-size: 13px; }
.convcalc-layers th { position: sticky; top: 0; background: #eee; cursor: pointer;
  user-select: none; padding: .3rem .5rem; text-align: left; }
.convcalc-layers th[aria-sort=ascending]::after { content: " ▲"; }
.convcalc-layers th[aria-sort=descending]::after { content: " ▼"; }
.convcalc-layers td { padding: .15rem .5rem; border-bottom: 1px solid #eee; white-space: nowrap; }
.convcalc-layers td.number { text-align: right; }
.convcalc-layers tr.peak td { background: #fde8e8; }
.convcalc-layers tr.warned td { background: #fff4e0; }
.convcalc-layers tr.found td { outline: 2px solid #4a7ab5; }
#tip { position: absolute; display: none; pointer-events: none; background: #333; color: #fff;
  padding: .2rem .45rem; border-radius: 3px; font-size: 12px; white-space: nowrap; }
"""
"""The page's style (inline: the page loads nothing)."""

SCRIPT = """
(() => {
  const table = document.getElementById("layers");
  const body = table.tBodies[0];
  table.querySelectorAll("th").forEach((th, column) => th.addEventListener("click", () => {
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(other => other.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const numeric = th.dataset.numeric === "1";
    const value = row => row.cells[column].dataset.v;
    const rows = Array.from(body.rows).sort((a, b) => {
      const order = numeric ? Number(value(a)) - Number(value(b))
        : value(a).localeCompare(value(b));
      return ascending ? order : -order;
    });
    body.append(...rows);
  }));
  const search = document.getElementById("search");
  const shown = document.getElementById("shown");
  const filter = () => {
    const query = search.value.trim().toLowerCase();
    let count = 0;
    for (const row of body.rows) {
      const match = !query || row.dataset.path.toLowerCase().includes(query);
      row.hidden = !match;
      count += match;
    }
    shown.textContent = query ? `${count} of ${body.rows.length} layers` : "";
  };
  search.addEventListener("input", filter);
  const viewport = document.querySelector(".viewport");
  const svg = viewport.querySelector("svg");
  const box = svg.viewBox.baseVal;
  let scale = 1;
  const zoom = next => {
    scale = Math.min(8, Math.max(0.05, next));
    svg.setAttribute("width", box.width * scale);
    svg.setAttribute("height", box.height * scale);
  };
  const fit = () => zoom((viewport.clientWidth - 2) / box.width);
  const actions = { in: () => zoom(scale * 1.25), out: () => zoom(scale / 1.25), fit: fit,
    one: () => zoom(1) };
  document.querySelectorAll("[data-zoom]").forEach(button =>
    button.addEventListener("click", actions[button.dataset.zoom]));
  viewport.addEventListener("wheel", event => {
    if (!event.ctrlKey) return;
    event.preventDefault();
    zoom(scale * (event.deltaY < 0 ? 1.1 : 1 / 1.1));
  }, { passive: false });
  zoom(Math.min(1, (viewport.clientWidth - 2) / box.width));
  svg.addEventListener("click", event => {
    const node = event.target.closest("g.node");
    const row = node && document.getElementById(node.id.replace(/^node-/, ""));
    if (!row) return;
    search.value = "";
    filter();
    body.querySelectorAll("tr.found").forEach(other => other.classList.remove("found"));
    row.classList.add("found");
    row.scrollIntoView({ block: "center" });
  });
  const tip = document.getElementById("tip");
  document.querySelectorAll("figure.chart").forEach(figure => {
    figure.addEventListener("mousemove", event => {
      const mark = event.target.closest("[role=graphics-symbol][aria-label]");
      tip.style.display = mark ? "block" : "none";
      if (!mark) return;
      tip.textContent = mark.getAttribute("aria-label");
      tip.style.left = `${event.pageX + 12}px`;
      tip.style.top = `${event.pageY + 12}px`;
    });
    figure.addEventListener("mouseleave", () => { tip.style.display = "none"; });
  });
})();
"""
"""The page's script: sort the table by a column, filter it by path, zoom the diagram, find the
row of a box clicked in it, and show a chart's bar or point (its row and value) on hover."""
