"""The JSON lines written from rows against the objects they stand for, as json.dumps writes
them (the objects built here from the rows, independently of convcalc's writer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.folding import fold_network
from convcalc.receptive import ReceptiveField
from convcalc.report import Report, Row, number
from convcalc.sources import load
from convcalc.views import with_views
from convcalc.zoo import names

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [f"zoo:{name}" for name in names()] + [
    str(path) for path in sorted((ROOT / "examples").glob("*.yaml"))
]


def views_of(report: Report) -> list[Report]:
    """The report as analyze prints it, with every optional view, and folded."""
    return [
        with_views(report),
        with_views(report, train=True, optimizer="adam", budget=2**34, jacobian=True),
        with_views(fold_network(report), train=True),
    ]


def field_object(rf: ReceptiveField | None) -> dict[str, Any] | None:
    """A receptive field's JSON object: size and jump (whole numbers as ints), start (floats),
    ``global`` when it is."""
    if rf is None:
        return None
    document: dict[str, Any] = {
        "size": [number(size) for size in rf.size],
        "jump": [number(jump) for jump in rf.jump],
        "start": [float(start) for start in rf.start],
    }
    if rf.is_global:
        document["global"] = True
    return document


def layer_object(report: Report, row: Row) -> dict[str, Any]:
    """A row's JSON object: its fields in order, a merge's inputs, what it absorbed (folded
    view), then each view's keys."""
    document: dict[str, Any] = {
        "index": row.index,
        "path": row.path,
        "type": row.type,
        "input": list(row.input),
        "output": list(row.output),
        "params": row.params,
        "buffers": row.buffers,
        "macs": row.macs,
        "rf": field_object(row.rf),
        "activation_bytes": row.activation_bytes,
        "warnings": list(row.warnings),
    }
    if row.merged:
        document["inputs"] = [list(shape) for shape in row.merged]
    if report.before is not None:
        received = report.folding.receivers(report.before.rows)
        if row.path in received:
            document["absorbs"] = list(received[row.path])
    for extra in report.extras:
        extra.annotate_layer(row.index, document)
    return document


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: Path(source).stem)
def test_json_lines_are_the_objects_as_json_dumps_writes_them(source: str) -> None:
    for report in views_of(analyze(load(source))):
        text = "".join(report.json_chunks())
        document = json.loads(text)
        assert document["totals"]["rf"] == field_object(report.totals.rf)
        lines = text.splitlines()
        start = lines.index('  "layers": [') + 1
        for line, row in zip(lines[start:], report.rows, strict=False):
            expected = json.dumps(layer_object(report, row), ensure_ascii=False)
            assert line.strip().removesuffix(",") == expected
