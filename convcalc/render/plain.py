"""CSV and Markdown renderings of a report, and the zoo listing (standard library only; a
report's JSON is written by :meth:`convcalc.report.Report.json_chunks`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from convcalc.render import units
from convcalc.report import Report

if TYPE_CHECKING:
    from convcalc.render.columns import Line
    from convcalc.zoo import ZooEntry


def to_csv(report: Report, columns: Sequence[str] | None = None, depth: int | None = None) -> str:
    """One line per line of the table (per row, or per block collapsed at ``depth``), with the
    CSV fields of the table's ``columns`` (None: every column), shapes and per-axis values as
    ``3x32x32``, then a ``total`` line."""
    from convcalc.render.columns import table_lines
    from convcalc.render.table import report_columns

    declared = [
        column
        for column in report_columns(report, str)
        if columns is None or column.name in columns or column.name == "warnings"
    ]
    if columns is not None:
        declared.sort(key=lambda c: columns.index(c.name) if c.name in columns else len(columns))
    fields = [field for column in declared for field in column.fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([field.name for field in fields])
    for line in table_lines(report.rows, headings=False, depth=depth):
        writer.writerow([csv_cell(field.value(line)) for field in fields])
    writer.writerow([field.total for field in fields])
    return buffer.getvalue()


def to_markdown(
    report: Report, columns: Sequence[str] | None = None, depth: int | None = None
) -> str:
    """A GitHub-flavoured Markdown table with the table's columns (full paths, totals last),
    then the summary below the table as a list."""
    from convcalc.conventions.view import ConventionView
    from convcalc.render.columns import table_lines
    from convcalc.render.table import report_columns
    from convcalc.render.view_columns import memory_facts

    def name(line: Line) -> str:
        warned = any(row.warnings for row in report.rows[line.start : line.stop])
        return units.markdown_code(line.path) + (" ⚠" if warned else "")

    declared = [
        column
        for column in report_columns(report, name)
        if column.in_table and (column.name in columns if columns else column.default)
    ]
    if columns:
        declared.sort(key=lambda column: columns.index(column.name))
    lines = []
    if report.name:
        lines += [f"## {units.markdown_text(report.name)}", ""]

    view = report.extra(ConventionView)
    counted = "" if view is None else f" Counted as {view.totals.convention.label}."
    lines += [
        f"Input {units.shape(report.input)}, batch {report.batch}, {report.dtype}.{counted}",
        "",
        "| " + " | ".join(column.header for column in declared) + " |",
        "|" + "|".join("---:" if c.justify == "right" else "---" for c in declared) + "|",
    ]
    for line in table_lines(report.rows, headings=False, depth=depth):
        lines.append(
            "| "
            + " | ".join(markdown_cell(column.name, column.cell(line)) for column in declared)
            + " |"
        )
    lines.append(
        "| "
        + " | ".join(f"**{column.footer}**" if column.footer else "" for column in declared)
        + " |"
    )
    totals = report.totals
    folding = report.folding
    lines += [
        "",
        f"- **params**: {totals.params:,} ({units.size(totals.param_bytes)})",
        f"- **buffers**: {totals.buffers:,}",
        f"- **MACs**: {totals.macs:,} (FLOPs {totals.flops:,})",
        f"- **activations**: {units.size(totals.activation_bytes)}",
        f"- **receptive field**: {units.field_detail(totals.rf)}",
        f"- **BN folding**: {len(folding.folded)} folded, {len(folding.not_folded)} not; "
        f"params after {folding.params_after:,}",
    ]
    if folding.forward:
        lines.append(f"- **BN folding forward** (BN → conv): {len(folding.forward)}")
    if report.before is not None:
        before = report.before.totals
        lines.append(
            f"- **before → after folding**: params {before.params:,} → {totals.params:,}, "
            f"buffers {before.buffers:,} → {totals.buffers:,}, MACs {before.macs:,} → "
            f"{totals.macs:,}, memory {units.size(before.activation_bytes)} → "
            f"{units.size(totals.activation_bytes)}"
        )
    lines += [f"- **{label}**: {fact}" for line in memory_facts(report) for label, fact in line]
    unsupported = units.unsupported_line(report)
    if unsupported:
        lines.append(f"- **unsupported**: {units.markdown_text(unsupported)}")
    warnings = [
        f"- {units.markdown_code(row.path)}: {units.markdown_text(w)}"
        for row in report.rows
        for w in row.warnings
    ]
    if warnings:
        lines += ["", "**Warnings**", "", *warnings]
    return "\n".join(lines) + "\n"


def zoo_listing(entries: list[ZooEntry], fmt: str, width: int | None = None) -> str:
    """The ``convcalc zoo`` listing, grouped by family: family, name, input, params, MACs
    (batch 1), note. The table names each family once, on its first model. Given a terminal's
    ``width``, notes too long for it are cut, and a last line says so."""
    if fmt == "json":
        models = ",\n".join(
            f"    {json.dumps(zoo_document(e), ensure_ascii=False)}" for e in entries
        )
        return f'{{\n  "models": [\n{models}\n  ]\n}}\n'
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("family", "name", "input", "params", "macs", "note"))
        for entry in entries:
            writer.writerow(
                (
                    entry.family,
                    entry.name,
                    "x".join(map(str, entry.input)),
                    entry.params,
                    entry.macs,
                    entry.note,
                )
            )
        return buffer.getvalue()
    header = ("family", "name", "input", "params", "MACs", "note")
    rows = [header] + [
        (
            e.family if index == 0 or entries[index - 1].family != e.family else "",
            e.name,
            units.shape(e.input),
            units.count(e.params),
            units.count(e.macs),
            e.note,
        )
        for index, e in enumerate(entries)
    ]
    if fmt == "markdown":
        lines = [f"| {' | '.join(row)} |" for row in rows]
        lines.insert(1, "|---|---|---|---:|---:|---|")
        return "\n".join(lines) + "\n"
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    room = None if width is None else width - sum(widths) - 2 * len(widths)
    fitted = [note_fitted(entry.note, room) for entry in entries]
    notes = ["note" if any(fitted) else "", *fitted]
    listing = "".join(
        f"{family:<{widths[0]}}  {name:<{widths[1]}}  {shape:<{widths[2]}}  "
        f"{params:>{widths[3]}}  {macs:>{widths[4]}}  {note}".rstrip()
        + "\n"
        for (family, name, shape, params, macs, _), note in zip(rows, notes, strict=True)
    )
    if notes != [row[5] for row in rows]:
        listing += (
            f"notes {'cut' if any(fitted) else 'left out'} to fit {width} columns: "
            "convcalc zoo NAME prints a model's in full\n"
        )
    return listing


NARROWEST_NOTE = 20


def note_fitted(note: str, room: int | None) -> str:
    """``note`` whole when there is ``room`` for it (None: no limit), cut with an ellipsis when
    there is some, left out when too little is left to read."""
    if room is None or len(note) <= room:
        return note
    if room < NARROWEST_NOTE:
        return ""
    return note[: room - 1].rstrip() + "…"


def zoo_document(entry: ZooEntry) -> dict[str, Any]:
    """One zoo model as JSON."""
    return {
        "name": entry.name,
        "family": entry.family,
        "input": list(entry.input),
        "params": entry.params,
        "macs": entry.macs,
        "note": entry.note,
    }


def csv_cell(value: object) -> object:
    """A CSV field: text with its control characters escaped (a spec's names reach CSV)."""
    return units.printable(value) if isinstance(value, str) else value


def markdown_cell(column: str, value: object) -> str:
    """A Markdown cell with ``|``, line breaks and control characters escaped (a spec's names
    reach Markdown); the layer's name is already a code span with its own escaping."""
    text = str(value)
    return text if column == "layer" else units.markdown_text(text)
