"""Per-layer charts of a report for the HTML report: MACs, params, live memory (peak marked; the
training memory with ``--train``) and receptive-field growth.

Each chart is a Vega specification (https://vega.github.io/vega/), rendered to SVG at build time by
the ``vl-convert-python`` wheel, so that the page needs no script and makes no request to draw
it. Vega itself is given, not Vega-Lite: compiling Vega-Lite costs about two seconds per run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convcalc.errors import ConvcalcError
from convcalc.memory import InferenceMemory, TrainingView
from convcalc.render import units
from convcalc.report import Report

WIDTH = 860
HEIGHT = 150
BAR_COLOUR = "#4a7ab5"
LINE_COLOUR = "#4a7ab5"
PEAK_COLOUR = "#cc0000"
MIB = 2**20


@dataclass(eq=False)
class Chart:
    """One chart: its title, what it shows, and its Vega specification."""

    key: str
    title: str
    spec: dict[str, Any]


def charts(report: Report) -> list[Chart]:
    """The charts of ``report``: MACs and params per row always; live memory when the report has
    its inference memory, training memory with ``--train``; receptive-field growth when the
    input is an image. Each bar or point carries its row's path and value as its description,
    which the page shows on hover."""
    rows = report.rows
    macs = points(report, [row.macs for row in rows], units.count)
    params = points(report, [row.params for row in rows], lambda value: f"{value:,}")
    found = [
        Chart("macs", "MACs per layer", bars(macs, len(rows), "MACs")),
        Chart("params", "Parameters per layer", bars(params, len(rows), "params")),
    ]
    memory = report.extra(InferenceMemory)
    if memory is not None and rows:
        found.append(memory_chart(report, memory))
    training = report.extra(TrainingView)
    if training is not None and rows:
        found.append(training_chart(report, training))
    if any(row.rf is not None for row in rows):
        sizes = [max(row.rf.size) if row.rf is not None else None for row in rows]
        fields = points(report, sizes, lambda size: f"{size:g} px")
        title = "Receptive field per layer (largest side, pixels)"
        found.append(Chart("rf", title, line(fields, len(rows), "pixels")))
    return found


def points(
    report: Report, values: list[Any], text: Callable[[Any], str], scale: float = 1
) -> list[dict[str, Any]]:
    """A datum per row with a value (``None`` has none): its index, its value ÷ ``scale`` and
    the words shown on hover, ``#12 layer1.conv1: 115.61 M``."""
    return [
        {"i": index, "v": value / scale, "t": f"#{index} {report.rows[index].path}: {text(value)}"}
        for index, value in enumerate(values)
        if value is not None
    ]


def memory_chart(report: Report, memory: InferenceMemory) -> Chart:
    """Live bytes while each row runs (MiB), the peak marked."""
    live = points(report, list(memory.live_bytes), units.size, scale=MIB)
    spec = line(live, len(report.rows), "MiB")
    peak = memory.peak_row
    label = (
        f"peak {units.size(memory.peak_bytes)} at #{peak} {units.printable(report.rows[peak].path)}"
    )
    spec["data"].append(
        {"name": "peak", "values": [{"i": peak, "v": memory.live_bytes[peak] / MIB, "t": label}]}
    )
    spec["marks"] += [
        peak_mark("symbol", fill={"value": PEAK_COLOUR}, size={"value": 60}),
        peak_mark(
            "text",
            text={"field": "t"},
            fill={"value": PEAK_COLOUR},
            dx={"value": 6},
            dy={"value": -6},
            fontSize={"value": 11},
            align={"signal": f"datum.i > {len(report.rows) / 2} ? 'right' : 'left'"},
        ),
    ]
    return Chart("memory", "Live activation memory per layer (MiB), inference", spec)


def peak_mark(kind: str, **encoding: dict[str, Any]) -> dict[str, Any]:
    """A Vega mark of ``kind`` drawn at the peak (the ``peak`` data set), with ``encoding``."""
    return {
        "type": kind,
        "from": {"data": "peak"},
        "encode": {
            "enter": {
                "x": {"scale": "x", "field": "i"},
                "y": {"scale": "y", "field": "v"},
                **encoding,
            }
        },
    }


def training_chart(report: Report, training: TrainingView) -> Chart:
    """What training holds once each row has run forward (MiB): params, buffers, gradients and
    optimizer state, plus the tensors kept for backward so far."""
    held = training.memory.total - training.memory.saved_total
    kept = []
    for saved in training.memory.saved_bytes:
        held += saved
        kept.append(held)
    title = (
        f"Training memory after each layer's forward (MiB): weights, gradients and "
        f"{training.memory.optimizer} state, plus what backward keeps"
    )
    held_points = points(report, kept, units.size, scale=MIB)
    return Chart("training", title, line(held_points, len(report.rows), "MiB"))


def frame(count: int, y_title: str) -> dict[str, Any]:
    """What every chart shares: size, an x axis of row indices, a y axis from zero."""
    return {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "width": WIDTH,
        "height": HEIGHT,
        "padding": 5,
        "background": "white",
        "scales": [
            {
                "name": "x",
                "type": "linear",
                "domain": [-0.5, max(count, 1) - 0.5],
                "range": "width",
            },
            {
                "name": "y",
                "type": "linear",
                "domain": {"data": "rows", "field": "v"},
                "zero": True,
                "nice": True,
                "range": "height",
            },
        ],
        "axes": [
            {"orient": "bottom", "scale": "x", "title": "layer #", "tickMinStep": 1},
            {"orient": "left", "scale": "y", "title": y_title, "format": "~s", "grid": True},
        ],
        "marks": [],
    }


def bars(data: list[dict[str, Any]], count: int, y_title: str) -> dict[str, Any]:
    """A bar per row."""
    spec = frame(count, y_title)
    spec["data"] = [{"name": "rows", "values": data}]
    spec["marks"].append(
        {
            "type": "rect",
            "from": {"data": "rows"},
            "encode": {
                "enter": {
                    "xc": {"scale": "x", "field": "i"},
                    "width": {"signal": f"max(1, width / {max(count, 1)} * 0.8)"},
                    "y": {"scale": "y", "field": "v"},
                    "y2": {"scale": "y", "value": 0},
                    "fill": {"value": BAR_COLOUR},
                    "description": {"field": "t"},
                }
            },
        }
    )
    return spec


def line(data: list[dict[str, Any]], count: int, y_title: str) -> dict[str, Any]:
    """A line through the rows' values, with an invisible dot on each to hover over."""
    spec = frame(count, y_title)
    spec["data"] = [{"name": "rows", "values": data}]
    at_value = {"x": {"scale": "x", "field": "i"}, "y": {"scale": "y", "field": "v"}}
    spec["marks"] += [
        {
            "type": "line",
            "from": {"data": "rows"},
            "encode": {
                "enter": {
                    **at_value,
                    "stroke": {"value": LINE_COLOUR},
                    "strokeWidth": {"value": 1.5},
                }
            },
        },
        {
            "type": "symbol",
            "from": {"data": "rows"},
            "encode": {
                "enter": {
                    **at_value,
                    "size": {"value": 40},
                    "fill": {"value": LINE_COLOUR},
                    "fillOpacity": {"value": 0},
                    "description": {"field": "t"},
                }
            },
        },
    ]
    return spec


class ChartError(ConvcalcError):
    """The charts cannot be rendered (their renderer is not installed)."""


def to_svg(chart: Chart) -> str:
    """``chart`` rendered to SVG by vl-convert's Vega engine."""
    try:
        import vl_convert
    except ImportError:
        raise ChartError(
            "the report's charts need the vl-convert-python package: pip install vl-convert-python"
        ) from None

    svg: str = vl_convert.vega_to_svg(chart.spec)
    return svg
