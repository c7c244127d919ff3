"""Records (one dict of display texts per row) → an aligned text table, CSV or Markdown.

The design tools (``solve``, ``diff``, ``sweep``) print rows that are not layers; they build
their rows' texts and this module only lays them out (standard library only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import NamedTuple


class Column(NamedTuple):
    """A column: the record key it shows, its title, whether numbers align right, and when it
    is hidden to fit a narrow terminal (0: never; otherwise the lowest goes first)."""

    key: str
    title: str
    right: bool = False
    hide_rank: int = 0


GAP = 2
"""Spaces between columns."""


def to_text(
    columns: Sequence[Column],
    records: Sequence[dict[str, str]],
    title: str = "",
    width: int | None = None,
) -> str:
    """An aligned plain-text table, two spaces between columns, a title line first if given.
    With a terminal ``width``, the title is wrapped and columns are hidden by rank until the
    rows fit, and a last line names them (numbers are never cut)."""
    widths = {
        column.key: max(
            [len(column.title), *(len(record.get(column.key, "")) for record in records)]
        )
        for column in columns
    }
    shown = list(columns)
    hidden: list[Column] = []
    for column in sorted((c for c in columns if c.hide_rank), key=lambda c: c.hide_rank):
        if width is None or sum(widths[c.key] for c in shown) + GAP * (len(shown) - 1) <= width:
            break
        shown.remove(column)
        hidden.append(column)
    if width is not None:
        title = fitted(title, width)
    text = aligned(shown, [widths[column.key] for column in shown], records, title)
    if width is None or not hidden:
        return text
    names = ", ".join(column.title for column in hidden)
    note = f"hidden to fit {width} columns: {names} (pipe it or -o FILE for every column)"
    return text + fitted(note, width) + "\n"


def fitted(text: str, width: int) -> str:
    """``text`` wrapped at ``width`` columns (between words) where it is longer."""
    if len(text) <= width:
        return text
    import textwrap

    return textwrap.fill(text, width, break_on_hyphens=False)


def aligned(
    columns: Sequence[Column], widths: Sequence[int], records: Sequence[dict[str, str]], title: str
) -> str:
    """The rows of ``records`` in ``columns`` of the given ``widths``."""

    def line(texts: Sequence[str]) -> str:
        cells = [
            text.rjust(width) if column.right else text.ljust(width)
            for column, text, width in zip(columns, texts, widths, strict=True)
        ]
        return (" " * GAP).join(cells).rstrip() + "\n"

    lines = [f"{title}\n"] if title else []
    lines.append(line([column.title for column in columns]))
    lines.append(line(["-" * width for width in widths]))
    lines.extend(line([record.get(column.key, "") for column in columns]) for record in records)
    return "".join(lines)


def to_csv(columns: Sequence[Column], records: Sequence[dict[str, str]]) -> str:
    """CSV with a header row of the column keys."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.key for column in columns])
    for record in records:
        writer.writerow([record.get(column.key, "") for column in columns])
    return buffer.getvalue()


def to_markdown(
    columns: Sequence[Column], records: Sequence[dict[str, str]], title: str = ""
) -> str:
    """A GitHub Markdown table (``|`` in a cell escaped), a bold title line first if given."""

    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = [f"**{cell(title)}**\n\n"] if title else []
    lines.append("| " + " | ".join(cell(column.title) for column in columns) + " |\n")
    lines.append("|" + "|".join("---:" if column.right else "---" for column in columns) + "|\n")
    for record in records:
        cells = [cell(record.get(column.key, "")) for column in columns]
        lines.append("| " + " | ".join(cells) + " |\n")
    return "".join(lines)
