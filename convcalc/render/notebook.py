"""What a report shows in a notebook (Jupyter, VS Code): its title, totals and layer table as
HTML, its diagram as SVG, and its rows as a pandas DataFrame.

The Python API (``convcalc.analyze``) returns a :class:`NotebookReport`: the report, plain data,
with these presentations as methods. They live here, not on :class:`Report`, so that the
report, which every renderer reads, imports no renderer."""

from __future__ import annotations

from dataclasses import fields
from html import escape
from typing import Any

from convcalc.render import units
from convcalc.render.html import table_html, totals
from convcalc.report import Report


class Drawing:
    """A laid-out diagram: a notebook shows it (``_repr_svg_``); ``svg`` is its text."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str) -> None:
        """Write the SVG to ``path``."""
        from pathlib import Path

        Path(path).write_text(self.svg, encoding="utf-8")


class NotebookReport(Report):
    """A report with its notebook presentations."""

    def _repr_html_(self) -> str:
        """Name, totals and the layer table, as a notebook shows the report."""
        return notebook_html(self)

    def draw(self, depth: int | None = None) -> Drawing:
        """The network's diagram as SVG (a notebook shows it), groups ``depth`` names deep
        collapsed."""
        return draw(self, depth)

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (pandas is not a dependency: install it to use this)."""
        return to_pandas(self)


def for_notebook(report: Report) -> NotebookReport:
    """``report`` with its notebook presentations."""
    return NotebookReport(**{field.name: getattr(report, field.name) for field in fields(report)})


def draw(report: Report, depth: int | None = None) -> Drawing:
    """``report``'s diagram, laid out by Graphviz's dot."""
    from convcalc.render.dot import to_dot
    from convcalc.render.graphviz import layout

    return Drawing(layout(to_dot(report, depth), "svg").decode())


def notebook_html(report: Report) -> str:
    """The name, totals and layer table of ``report`` as an HTML fragment."""
    name = escape(units.printable(report.name or "network"))
    facts = " · ".join(f"{escape(key)} <b>{escape(value)}</b>" for key, value in totals(report))
    return (
        f"<div><p><b>{name}</b> — input {escape(units.shape(report.input))}, batch "
        f"{report.batch}, {escape(report.dtype)}</p><p>{facts}</p>"
        f"{table_html(report, table_id=None)}</div>"
    )


def to_pandas(report: Report) -> Any:
    """One DataFrame row per layer: the JSON document's layer keys, the receptive field split
    into ``rf_size`` and ``rf_jump``, shapes as tuples. Needs pandas."""
    try:
        import pandas
    except ImportError:
        raise ImportError("Report.to_pandas() needs pandas: pip install pandas") from None
    records = []
    for layer in report.layer_documents():
        rf = layer.pop("rf")
        layer["rf_size"] = tuple(rf["size"]) if rf else None
        layer["rf_jump"] = tuple(rf["jump"]) if rf else None
        for key in ("input", "output"):
            layer[key] = tuple(layer[key])
        records.append(layer)
    return pandas.DataFrame.from_records(records, index="index")
