"""JSON, CSV and Markdown renderings of a report (standard library only)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from convcalc.render import units
from convcalc.report import Report


def to_json(report: Report) -> str:
    """SPEC.md §3's document, indented, with lists of numbers kept on one line."""
    return dumps(report.to_document()) + "\n"


def dumps(value: Any, level: int = 0) -> str:
    """JSON with two-space indentation, except that flat lists of scalars stay on one line."""
    # The common scalar types are formatted directly (C functions, byte-identical to
    # json.dumps): a report has ~20 values per row, and going through json.dumps for each
    # made JSON output the slowest part of analysing a large network.
    kind = type(value)
    if kind is dict and value:
        pad = "  " * (level + 1)
        items = []
        for key, item in value.items():
            encode = _SCALARS.get(type(item))
            text = encode(item) if encode is not None else dumps(item, level + 1)
            items.append(f"{pad}{_key(key)}: {text}")
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if kind is list:
        scalars = []
        for item in value:
            encode = _SCALARS.get(type(item))
            if encode is None:
                break
            scalars.append(encode(item))
        else:
            return "[" + ", ".join(scalars) + "]"
        if any(isinstance(item, dict | list) for item in value):
            pad = "  " * (level + 1)
            items = [pad + dumps(item, level + 1) for item in value]
            return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _float(value: float) -> str:
    return float.__repr__(value) if math.isfinite(value) else _scalar(value)


_SCALARS: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    str: encode_basestring,
    float: _float,
    bool: lambda value: "true" if value else "false",
    type(None): lambda value: "null",
}


def _key(key: Any) -> str:
    return encode_basestring_ascii(key) if type(key) is str else json.dumps(key)


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
    lines += [
        f"Input {units.shape(report.input)}, batch {report.batch}, {report.dtype}.",
        "",
        "| # | path | type | input | output | params | MACs | RF | memory |",
        "|---:|---|---|---|---|---:|---:|---|---:|",
    ]
    for row in report.rows:
        warning = " ⚠" if row.warnings else ""
        lines.append(
            f"| {row.index} | `{row.path}`{warning} | {row.type} | {units.shape(row.input)} | "
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
