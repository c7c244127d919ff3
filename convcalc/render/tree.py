"""``analyze --format tree``: the nesting of the network as a rich Tree, each container with its
params, MACs and output shape, each layer with its type, key options and output; ``--depth N``
stops at N levels, showing deeper containers by their totals (as torchinfo's ``depth``).

rich is imported only here, when a tree is asked for.
"""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from convcalc.render import units
from convcalc.render.conventions import title_suffix
from convcalc.render.labels import key_options, totals_text
from convcalc.render.nesting import Group, collapses, nest
from convcalc.report import Report, Row

PLAIN_WIDTH = 10_000
"""The width of a piped or written tree: wide enough never to wrap a line."""


class TreeBlock:
    """A printable tree with the interface of a table block: ``print`` to a terminal, ``plain``
    text for pipes and files."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    def print(self, console: Console) -> None:
        """Print to a terminal with styles."""
        console.print(self.tree)

    def plain(self) -> str:
        """The tree as plain text, lines never wrapped."""
        buffer = StringIO()
        Console(file=buffer, width=PLAIN_WIDTH, color_system=None, markup=False).print(self.tree)
        return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def network_tree(report: Report, depth: int | None = None) -> TreeBlock:
    """The tree of ``report``'s rows by their paths, groups ``depth`` names deep collapsed."""
    root = nest(report.rows)
    title = Text(units.printable(report.name or "network"), style="bold")
    title.append(f"  {units.shape(report.input)} → ")
    title.append(units.shape(root.output) if report.rows else "—")
    title.append(f"  {totals_text(root)}", style="dim")
    title.append(title_suffix(report))
    tree = Tree(title)
    add_children(tree, root, depth)
    return TreeBlock(tree)


def add_children(branch: Tree, group: Group, depth: int | None) -> None:
    """Add ``group``'s children shown at ``depth`` under ``branch``."""
    for child in group.shown(depth):
        if isinstance(child, Row):
            branch.add(row_label(child))
            continue
        label = Text(units.printable(child.name), style="bold")
        label.append(f"  → {units.shape(child.output)}")
        totals = totals_text(child)
        if totals:
            label.append(f"  {totals}", style="dim")
        if collapses(child, depth):
            label.append(f"  ({len(child.rows)} rows)", style="dim")
            branch.add(label)
        else:
            add_children(branch.add(label), child, depth)


def row_label(row: Row) -> Text:
    """A layer: name, type and key options, output shape, params and MACs."""
    label = Text(units.printable(row.path.rpartition(".")[2]))
    label.append(f"  {row.type}", style="cyan")
    options = key_options(row.layer)
    if options:
        label.append(f" {options}", style="cyan")
    label.append(f"  → {units.shape(row.output)}")
    parts = []
    if row.params:
        parts.append(f"{row.params:,} params")
    if row.macs:
        parts.append(f"{units.count(row.macs)} MACs")
    if parts:
        label.append("  " + " · ".join(parts), style="dim")
    if row.warnings:
        label.append(" ⚠", style="bold yellow")
    return label
