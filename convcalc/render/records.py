"""Records (one dict of display texts per row) → an aligned text table, CSV or Markdown.

The design tools (``solve``, ``diff``, ``sweep``) print rows that are not layers; they build
their rows' texts and this module only lays them out (standard library only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import NamedTuple


class Column(NamedTuple):
    """A column: the record key it shows, its title, and whether numbers align right."""

    key: str
    title: str
    right: bool = False


def to_text(columns: Sequence[Column], records: Sequence[dict[str, str]], title: str = "") -> str:
    """An aligned plain-text table, two spaces between columns, a title line first if given."""
    widths = [
        max([len(column.title), *(len(record.get(column.key, "")) for record in records)])
        for column in columns
    ]

    def line(texts: Sequence[str]) -> str:
        cells = [
            text.rjust(width) if column.right else text.ljust(width)
            for column, text, width in zip(columns, texts, widths, strict=True)
        ]
        return "  ".join(cells).rstrip() + "\n"

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
