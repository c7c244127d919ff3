"""The nesting of a report's rows by their paths: containers and blocks as groups with totals, and
``--depth N`` collapsing (shared by the diagram, the tree and the HTML report).

A row's path names the containers it is in: ``layer1.bottleneck1.residual1.body.conv1`` is in
``layer1``, ``layer1.bottleneck1``, ``layer1.bottleneck1.residual1`` and
``layer1.bottleneck1.residual1.body``. Those prefixes are the groups. ``--depth N`` shows N levels:
a group N names deep is shown as one item with its totals, and nothing inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from convcalc.layers.base import Shape
from convcalc.report import Row


@dataclass(eq=False)
class Group:
    """A container or block (``path``; ``""`` for the whole network) and what is in it: its child
    groups and rows in execution order (``children``), and every row below it (``rows``)."""

    path: str
    children: list[Group | Row] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The last part of the path: ``residual1`` for ``layer1.bottleneck1.residual1``."""
        return self.path.rpartition(".")[2]

    @property
    def levels(self) -> int:
        """How many names deep the group is: 1 for a top-level container."""
        return self.path.count(".") + 1 if self.path else 0

    @property
    def params(self) -> int:
        """The params of every row in the group."""
        return sum(row.params for row in self.rows)

    @property
    def macs(self) -> int:
        """The MACs of every row in the group."""
        return sum(row.macs for row in self.rows)

    @property
    def output(self) -> Shape:
        """The group's output: that of its last row in execution order."""
        return self.rows[-1].output

    def shown(self, depth: int | None) -> Iterator[Group | Row]:
        """The children drawn at ``depth``: all of them, or none when this group is collapsed."""
        if not collapses(self, depth):
            yield from self.children


def collapses(group: Group, depth: int | None) -> bool:
    """Whether ``group`` is drawn as one item at ``depth`` (it is ``depth`` names deep)."""
    return depth is not None and group.levels >= depth


def nest(rows: tuple[Row, ...]) -> Group:
    """The tree of groups of ``rows``: each row goes into the group of each prefix of its path,
    groups appearing where their first row runs."""
    root = Group("")
    groups: dict[str, Group] = {"": root}
    for row in rows:
        parent = root
        root.rows.append(row)
        prefix = ""
        for name in row.path.split(".")[:-1]:
            prefix = f"{prefix}.{name}" if prefix else name
            group = groups.get(prefix)
            if group is None:
                group = groups[prefix] = Group(prefix)
                parent.children.append(group)
            group.rows.append(row)
            parent = group
        parent.children.append(row)
    return root


def item_of(path: str, depth: int | None) -> str:
    """The path of the item that shows the row ``path`` at ``depth``: the row itself, or its
    group ``depth`` names deep that collapses it."""
    if depth is None:
        return path
    names = path.split(".")
    return path if len(names) <= depth else ".".join(names[:depth])
