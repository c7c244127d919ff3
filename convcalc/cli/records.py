"""Output of the design tools' records (``solve``, ``diff``, ``sweep``) in the chosen format."""

import json
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
        render = to_markdown if fmt is OutputFormat.MARKDOWN else to_text
        blocks = [render(columns, records, title) for title, columns, records in sections]
        text = "\n".join(blocks) + "".join(f"\n{note}\n" for note in notes)
    if output is None:
        write_stdout([text])
    else:
        write_output(output, [text])
