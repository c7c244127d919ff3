"""JSON, CSV and Markdown renderings of a report (standard library only)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from convcalc.layers.base import Shape
from convcalc.receptive import ReceptiveField
from convcalc.render import units
from convcalc.report import Report, Row

if TYPE_CHECKING:
    from convcalc.zoo import ZooEntry


encode = json.JSONEncoder(ensure_ascii=False).encode
"""Any JSON value as ``json.dumps(value, ensure_ascii=False)`` writes it."""

string = json.encoder.encode_basestring
"""A str as a JSON string, non-ASCII characters kept (the C encoder's)."""


def json_chunks(report: Report) -> Iterator[str]:
    """docs/spec.md §3's document in pieces: one top-level key per line and one layer per line, as
    it is produced (holding every row's text at once would double a large network's memory).

    A layer's line is exactly ``json.dumps(layer_document, ensure_ascii=False)`` of
    :meth:`Report.layer_documents`, but written from the row directly: building a dict and
    encoding it took most of the per-layer time of a 100,000-layer spec."""
    yield "{\n" + "".join(f"{item},\n" for item in items(report.header())) + '  "layers": [\n'
    received = report.folding.receivers(report.before.rows) if report.before is not None else {}
    shapes = ShapeTexts()
    # Consecutive rows often share one field object (layers that leave it as it is).
    field: ReceptiveField | None = None
    field_text = "null"
    separator = "    "
    for row in report.rows:
        added: dict[str, Any] = {"from": report.reads(row)}
        if row.path in received:
            added["absorbs"] = list(received[row.path])
        for extra in report.extras:
            extra.annotate_layer(row.index, added)
        if row.rf is not field:
            field, field_text = row.rf, field_json(row.rf)
        yield separator + layer_json(row, shapes, field_text, added)
        separator = ",\n    "
    yield "\n  ],\n" + ",\n".join(items(report.footer())) + "\n}\n"


def layer_json(row: Row, shapes: ShapeTexts, field_text: str, added: dict[str, Any]) -> str:
    """``row``'s JSON object, its field written as ``field_text``, followed by the ``added``
    keys."""
    text = (
        f'{{"index": {row.index}, "path": {string(row.path)}, "type": {string(row.type)}, '
        f'"input": {shapes[row.input]}, "output": {shapes[row.output]}, '
        f'"params": {row.params}, "buffers": {row.buffers}, "macs": {row.macs}, '
        f'"rf": {field_text}, "activation_bytes": {row.activation_bytes}, '
        f'"warnings": {encode(list(row.warnings)) if row.warnings else "[]"}'
    )
    if row.merged:
        text += f', "inputs": [{", ".join(shapes[shape] for shape in row.merged)}]'
    for key, value in added.items():
        text += f", {string(key)}: {value if type(value) is int else encode(value)}"
    return text + "}"


class ShapeTexts(dict[Shape, str]):
    """Each shape's JSON text, ``[C, H, W]``, written on first use (a network has few shapes)."""

    def __missing__(self, shape: Shape) -> str:
        text = self[shape] = f"[{', '.join(map(str, shape))}]"
        return text


def field_json(rf: ReceptiveField | None) -> str:
    """:func:`convcalc.report.rf_document` as JSON text."""
    if rf is None:
        return "null"
    (height, width), (down, across), (top, left) = rf.size, rf.jump, rf.start
    text = (
        f'{{"size": [{whole(height)}, {whole(width)}], "jump": [{whole(down)}, {whole(across)}], '
        f'"start": [{float(top)!r}, {float(left)!r}]'
    )
    if rf.is_global:
        text += ', "global": true'
    if rf.local is not None:
        text += f', "local": {field_json(rf.local)}'
    return text + "}"


def whole(value: float) -> str:
    """A number as :func:`convcalc.report.number` writes it: ``5`` for 5.0, ``2.5`` as is."""
    return repr(int(value)) if float(value).is_integer() else repr(value)


def items(document: dict[str, Any]) -> list[str]:
    """``  "key": value`` for each key of ``document``."""
    return [f"  {json.dumps(key)}: {encode(value)}" for key, value in document.items()]


CSV_COLUMNS = (
    "index",
    "path",
    "type",
    "input",
    "output",
    "params",
    "buffers",
    "macs",
    "rf_size",
    "rf_jump",
    "rf_start",
    "rf_global",
    "activation_bytes",
    "warnings",
)


def to_csv(report: Report) -> str:
    """One line per row, shapes as ``3x32x32``, then a ``total`` line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for layer in report.to_document()["layers"]:
        rf = layer["rf"] or {}
        writer.writerow(
            [
                layer["index"],
                layer["path"],
                layer["type"],
                "x".join(map(str, layer["input"])),
                "x".join(map(str, layer["output"])),
                layer["params"],
                layer["buffers"],
                layer["macs"],
                "x".join(map(str, rf.get("size", []))),
                "x".join(map(str, rf.get("jump", []))),
                " ".join(map(str, rf.get("start", []))),
                str(rf.get("global", False)).lower(),
                layer["activation_bytes"],
                "; ".join(layer["warnings"]),
            ]
        )
    totals = report.totals
    writer.writerow(
        [
            "",
            "total",
            "",
            "",
            "",
            totals.params,
            totals.buffers,
            totals.macs,
            "",
            "",
            "",
            "",
            totals.activation_bytes,
            "",
        ]
    )
    return buffer.getvalue()


def to_markdown(report: Report) -> str:
    """A GitHub-flavoured Markdown table and a totals list."""
    lines = []
    if report.name:
        lines += [f"## {report.name}", ""]
    from convcalc.conventions.view import ConventionView

    view = report.extra(ConventionView)
    counted = "" if view is None else f" Counted as {view.totals.convention.label}."
    lines += [
        f"Input {units.shape(report.input)}, batch {report.batch}, {report.dtype}.{counted}",
        "",
        "| # | path | type | input | output | params | MACs | RF | memory |",
        "|---:|---|---|---|---|---:|---:|---|---:|",
    ]
    for row in report.rows:
        warning = " ⚠" if row.warnings else ""
        lines.append(
            f"| {row.index} | `{row.path}`{warning} | {row.type} | {units.row_input(row)} | "
            f"{units.shape(row.output)} | {row.params:,} | {row.macs:,} | {units.field(row.rf)} | "
            f"{units.size(row.activation_bytes)} |"
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
    warnings = [f"- `{row.path}`: {w}" for row in report.rows for w in row.warnings]
    if warnings:
        lines += ["", "**Warnings**", "", *warnings]
    return "\n".join(lines) + "\n"


def zoo_listing(entries: list[ZooEntry], fmt: str) -> str:
    """The ``convcalc zoo`` listing: name, input, params, MACs (batch 1), note."""
    if fmt == "json":
        models = ",\n".join(
            f"    {json.dumps(zoo_document(e), ensure_ascii=False)}" for e in entries
        )
        return f'{{\n  "models": [\n{models}\n  ]\n}}\n'
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("name", "input", "params", "macs", "note"))
        for entry in entries:
            writer.writerow(
                (entry.name, "x".join(map(str, entry.input)), entry.params, entry.macs, entry.note)
            )
        return buffer.getvalue()
    rows = [("name", "input", "params", "MACs", "note")] + [
        (e.name, units.shape(e.input), units.count(e.params), units.count(e.macs), e.note)
        for e in entries
    ]
    if fmt == "markdown":
        lines = [f"| {' | '.join(row)} |" for row in rows]
        lines.insert(1, "|---|---|---:|---:|---|")
        return "\n".join(lines) + "\n"
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "".join(
        f"{name:<{widths[0]}}  {shape:<{widths[1]}}  {params:>{widths[2]}}  "
        f"{macs:>{widths[3]}}  {note}\n"
        for name, shape, params, macs, note in rows
    )


def zoo_document(entry: ZooEntry) -> dict[str, Any]:
    """One zoo model as JSON."""
    return {
        "name": entry.name,
        "input": list(entry.input),
        "params": entry.params,
        "macs": entry.macs,
        "note": entry.note,
    }
