"""Report → DOT text (Graphviz's graph language) for ``convcalc draw``: a box per layer, edges
labelled with the tensor shapes, containers and blocks as nested clusters with their totals.

Only the text is built here; Graphviz's ``dot`` engine lays it out
(:mod:`convcalc.render.graphviz`).
Each box shows the layer's type and key options (``conv 3×3/2 · 64``), its name and its output
shape, in the colour of its family. Marks: a thick red border on the row where live memory
peaks, an orange one and ⚠ on rows with warnings, ⊕ and a double border on a layer that absorbed
batchnorms (``--fold-bn``). With ``depth`` a group that many names deep is one box with its
totals (:mod:`convcalc.render.nesting`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from convcalc.layers.base import Shape
from convcalc.memory import InferenceMemory
from convcalc.render import units
from convcalc.render.labels import family, key_options, totals_text
from convcalc.render.nesting import Group, collapses, item_of, nest
from convcalc.report import NETWORK_INPUT, Report, Row

INPUT_NODE = "input"
"""The node id of the network's input."""

FAMILY_COLOURS = {
    "conv": "#cfe2f3",
    "norm": "#d9ead3",
    "activation": "#fff2cc",
    "pooling": "#e6d9f2",
    "dense": "#f4cccc",
    "merge": "#e8e8e8",
}
"""Fill colours by layer family (the module of ``convcalc.layers`` that defines the kind; merges
are rows without a layer). A family not listed is drawn white."""

GROUP_FILL = "#f3f3f3"
"""The fill of a collapsed group's box."""

PEAK_COLOUR = "#cc0000"
WARNING_COLOUR = "#e69138"
FOLDED_COLOUR = "#38761d"
UNSUPPORTED_FILL = "#eeeeee"
UNSUPPORTED_STYLE = f'style="rounded,filled,dashed", fillcolor="{UNSUPPORTED_FILL}"'
"""An op convcalc does not compute: a grey box with a dashed border, explained by a legend."""
UNSUPPORTED_LEGEND = "unsupported op: 0 params, 0 MACs counted; shape from the model"


def dataflow(report: Report) -> Iterator[tuple[int, int]]:
    """Every edge of the network's dataflow graph as (source row, row), in row order: one per
    input of each row (``NETWORK_INPUT`` for the network's input)."""
    for row in report.rows:
        for source in row.sources:
            yield source, row.index


def html(text: str) -> str:
    """``text`` escaped for a Graphviz HTML-like label."""
    # Graphviz reads escapes in a label's text as in its strings (``\\N`` is the node's id,
    # two backslashes are one): a backslash is doubled.
    entities = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\\", "&#92;&#92;"))
    for char, entity in entities:
        text = text.replace(char, entity)
    return text


def quoted(text: str) -> str:
    """``text`` as a DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(eq=False)
class Marks:
    """What the boxes are marked with: the peak row, and the batchnorms each layer absorbed."""

    peak_row: int | None
    absorbed: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, report: Report) -> Marks:
        """The marks of ``report`` (its inference memory extra, if any; its folding)."""
        memory = report.extra(InferenceMemory)
        absorbed = report.folding.receivers(report.before.rows) if report.before else {}
        return cls(memory.peak_row if memory and report.rows else None, absorbed)


def to_dot(report: Report, depth: int | None = None) -> str:
    """The DOT text of ``report``'s network, groups ``depth`` names deep collapsed."""
    return "".join(dot_lines(report, depth))


def dot_lines(report: Report, depth: int | None) -> Iterator[str]:
    """The DOT text, a line at a time."""
    title = units.printable(report.name or "network")
    if report.before is not None:
        title += " (inference: batchnorms folded)"
    yield "digraph convcalc {\n"
    yield (
        f"  graph [rankdir=TB, fontname=Helvetica, fontsize=12, nodesep=0.25, ranksep=0.3, "
        f"labelloc=t, label={quoted(title)}, tooltip={quoted(title)}];\n"
    )
    yield (
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=11, '
        'margin="0.12,0.04", penwidth=1];\n'
    )
    yield (
        '  edge [fontname=Helvetica, fontsize=9, fontcolor="#555555", color="#666666", '
        "arrowsize=0.6];\n"
    )
    yield (
        f"  {INPUT_NODE} [label=<<B>input</B><BR/>{html(units.shape(report.input))}>, "
        f'shape=ellipse, style=filled, fillcolor=white, tooltip="network input"];\n'
    )
    marks = Marks.of(report)
    yield from group_lines(nest(report.rows), depth, marks, "  ")
    yield from edge_lines(report, depth)
    if report.totals.unsupported:
        yield (
            f'  legend [label=<<FONT POINT-SIZE="9">{html(UNSUPPORTED_LEGEND)}</FONT>>, '
            f'{UNSUPPORTED_STYLE}, tooltip="legend"];\n'
        )
    yield "}\n"


def row_id(index: int) -> str:
    """The DOT id of row ``index``'s box (ids are made of indices: a path may hold any
    character, and Graphviz would read some of them as escapes)."""
    return f"r{index}"


def group_id(first_row: int) -> str:
    """The DOT id of a collapsed group's box, by the index of its first row."""
    return f"g{first_row}"


def group_lines(group: Group, depth: int | None, marks: Marks, indent: str) -> Iterator[str]:
    """The nodes and clusters inside ``group``, nested as the paths are. A group whose only
    content is one group shares its cluster (titled ``dense_layer1.concat1``): the two have the
    same rows and totals."""
    for child in group.shown(depth):
        if isinstance(child, Row):
            yield indent + row_node(child, marks) + "\n"
        elif collapses(child, depth):
            yield indent + group_node(child, marks) + "\n"
        else:
            title = child.name
            inner = child
            while len(inner.children) == 1 and isinstance(inner.children[0], Group):
                if collapses(inner.children[0], depth):
                    break
                inner = inner.children[0]
                title += f".{inner.name}"
            # A group is the one starting at its first row with its depth.
            yield f"{indent}subgraph cluster_{inner.rows[0].index}_{inner.levels} {{\n"
            yield f"{indent}  graph [{cluster_attributes(inner, title)}];\n"
            yield from group_lines(inner, depth, marks, indent + "  ")
            yield f"{indent}}}\n"


def cluster_attributes(group: Group, title: str) -> str:
    """A cluster's title (its name, then its totals a line each, kept narrow and to the left:
    the edges into the cluster come down its middle) and style; the full path is its tooltip."""
    label = f'<B>{html(units.printable(title))}</B><BR ALIGN="LEFT"/>'
    for part in totals_text(group).split(" · "):
        if part:
            label += f'<FONT POINT-SIZE="9">{html(part)}</FONT><BR ALIGN="LEFT"/>'
    return (
        f"label=<{label}>, tooltip={quoted(units.printable(group.path))}, labeljust=l, "
        f'style="rounded,dashed", color="#999999", fontsize=11'
    )


def row_node(row: Row, marks: Marks) -> str:
    """One layer's box: type and key options, name and output shape, in its family's colour."""
    head = f"<B>{html(row.type)}</B>"
    options = key_options(row.layer)
    if options:
        head += f" {html(options)}"
    name = units.printable(row.path.rpartition(".")[2])
    lines = [head, f'<FONT POINT-SIZE="9">{html(name)} → {html(units.shape(row.output))}</FONT>']
    unsupported = row.layer is not None and not row.layer.supported
    attributes = [
        UNSUPPORTED_STYLE
        if unsupported
        else f'fillcolor="{FAMILY_COLOURS.get(family(row), "white")}"',
        f'id="node-row-{row.index}"',
    ]
    tooltip = [units.printable(row.path), f"{row.params:,} params, {units.count(row.macs)} MACs"]
    absorbed = marks.absorbed.get(row.path)
    if absorbed:
        folded = ", ".join(units.printable(path.rpartition(".")[2]) for path in absorbed)
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{FOLDED_COLOUR}">⊕ folds {html(folded)}</FONT>')
        attributes.append("peripheries=2")
        attributes.append(f'color="{FOLDED_COLOUR}"')
        tooltip.append("absorbs " + ", ".join(units.printable(path) for path in absorbed))
    attributes.extend(special_marks(row.index == marks.peak_row, row.warnings, lines, tooltip))
    label = "<BR/>".join(lines)
    return (
        f"{row_id(row.index)} [label=<{label}>, tooltip={quoted(chr(10).join(tooltip))}, "
        f"{', '.join(attributes)}];"
    )


def group_node(group: Group, marks: Marks) -> str:
    """A collapsed group's box: its name (its clusters say where it is; the tooltip has the full
    path), its totals and its output shape."""
    lines = [
        f"<B>{html(units.printable(group.name))}</B>",
        f'<FONT POINT-SIZE="9">{html(totals_text(group) or "no params")}</FONT>',
        f'<FONT POINT-SIZE="9">→ {html(units.shape(group.output))}</FONT>',
    ]
    tooltip = [units.printable(group.path), f"{len(group.rows)} rows"]
    peak = marks.peak_row is not None and any(row.index == marks.peak_row for row in group.rows)
    warnings = tuple(warning for row in group.rows for warning in row.warnings)
    # A collapsed group is found in the HTML report's table by its first row.
    attributes = [
        f'fillcolor="{GROUP_FILL}"',
        "penwidth=1.5",
        f'id="node-row-{group.rows[0].index}"',
    ]
    attributes.extend(special_marks(peak, warnings, lines, tooltip))
    return (
        f"{group_id(group.rows[0].index)} [label=<{'<BR/>'.join(lines)}>, "
        f"tooltip={quoted(chr(10).join(tooltip))}, {', '.join(attributes)}];"
    )


def special_marks(
    peak: bool, warnings: tuple[str, ...], lines: list[str], tooltip: list[str]
) -> list[str]:
    """The peak-memory and warning marks: label lines and tooltips added in place, and the
    border attributes returned (the peak's red wins over the warnings' orange)."""
    if warnings:
        count = "warning" if len(warnings) == 1 else f"{len(warnings)} warnings"
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{WARNING_COLOUR}">⚠ {count}</FONT>')
        tooltip.extend(f"⚠ {units.printable(warning)}" for warning in warnings)
    if peak:
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{PEAK_COLOUR}">▲ peak memory</FONT>')
        tooltip.append("live memory peaks here")
        return [f'color="{PEAK_COLOUR}"', "penwidth=3"]
    if warnings:
        return [f'color="{WARNING_COLOUR}"', "penwidth=2.5"]
    return []


def edge_lines(report: Report, depth: int | None) -> Iterator[str]:
    """One edge per input of each shown item, labelled with the shape it carries; edges inside a
    collapsed group are not drawn, and parallel edges between two groups are drawn once."""
    outputs: dict[int, Shape] = {row.index: row.output for row in report.rows}
    outputs[NETWORK_INPUT] = report.input
    ids = item_ids(report, depth)
    drawn: set[tuple[str, str]] = set()
    for source, target in dataflow(report):
        head = ids[target]
        tail = INPUT_NODE if source == NETWORK_INPUT else ids[source]
        if tail == head:
            continue
        if depth is not None:
            if (tail, head) in drawn:
                continue
            drawn.add((tail, head))
        yield f"  {tail} -> {head} [label={quoted(' ' + units.shape(outputs[source]))}];\n"


def item_ids(report: Report, depth: int | None) -> dict[int, str]:
    """The DOT id of the box that shows each row at ``depth``: its own, or its collapsed group's
    (named by the group's first row)."""
    first: dict[str, int] = {}
    ids = {}
    for row in report.rows:
        item = item_of(row.path, depth)
        if item == row.path:
            ids[row.index] = row_id(row.index)
        else:
            ids[row.index] = group_id(first.setdefault(item, row.index))
    return ids
