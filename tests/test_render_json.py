"""The JSON lines written from rows against the documents they stand for (Report.to_document)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convcalc.analysis import analyze
from convcalc.folding import fold_network
from convcalc.render.plain import json_chunks
from convcalc.report import Report
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


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: Path(source).stem)
def test_json_lines_are_the_documents_as_json_dumps_writes_them(source: str) -> None:
    for report in views_of(analyze(load(source))):
        text = "".join(json_chunks(report))
        assert json.loads(text) == report.to_document()
        lines = text.splitlines()
        start = lines.index('  "layers": [') + 1
        for line, layer in zip(lines[start:], report.layer_documents(), strict=False):
            assert line.strip().removesuffix(",") == json.dumps(layer, ensure_ascii=False)
