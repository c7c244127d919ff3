"""Output of the design tools' records (``solve``, ``diff``, ``sweep``) in the chosen format."""

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convcalc.cli.output import write_output, write_stdout
from convcalc.render import OutputFormat
from convcalc.render.records import Column, to_csv, to_markdown, to_text


def emit_records(
    fmt: OutputFormat,
    as_json: bool,
    output: Path | None,
    document: dict[str, Any],
    sections: Sequence[tuple[str, Sequence[Column], Sequence[dict[str, str]]]],
    table: tuple[Sequence[Column], Sequence[dict[str, str]]],
    notes: Sequence[str] = (),
) -> None:
    """``document`` as JSON, ``table`` (columns, records of plain numbers) as CSV, or the
    ``sections`` (title, columns, records) as text tables or Markdown, with ``notes`` after
    them."""
    if as_json:
        fmt = OutputFormat.JSON
    if fmt is OutputFormat.JSON:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    elif fmt is OutputFormat.CSV:
        text = to_csv(*table)
    else:
        width = terminal_width() if output is None else None

        def block(title: str, columns: Sequence[Column], records: Sequence[dict[str, str]]) -> str:
            if fmt is OutputFormat.MARKDOWN:
                return to_markdown(columns, records, title)
            return to_text(columns, records, title, width)

        blocks = [block(*section) for section in sections]
        text = "\n".join(blocks) + "".join(f"\n{note}\n" for note in notes)
    if output is None:
        write_stdout([text])
    else:
        write_output(output, [text])


def terminal_width() -> int | None:
    """The width of the terminal stdout is, None when it is piped (tables are then whole)."""
    if sys.stdout is None or not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns
