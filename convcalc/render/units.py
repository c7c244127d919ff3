"""Numbers for people: thousands separators, K/M/G counts, KiB/MiB sizes, ``10×32×32`` shapes."""

from __future__ import annotations

from convcalc.layers.base import Shape, format_shape
from convcalc.receptive import ReceptiveField
from convcalc.report import Report, Row, number

__all__ = ["format_shape"]


def count(value: int) -> str:
    """``4089184256`` → ``4.09 G``; below ten thousand, the exact number; from 1,000 T on,
    scientific notation (``9.90e+27``). Scaled exactly (a float would print
    9,903,520,300,447,984,150,353,281,023 as ``9903520300447984.00 T``)."""
    if value < 10_000:
        return f"{value:,}"
    units = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3))
    return scaled(value, units, places=2, beyond=1000 * 10**12, plain="")


def size(value: int) -> str:
    """Bytes in binary units: ``40960`` → ``40.0 KiB``; from 1,024 TiB on, scientific notation
    in bytes (``1.70e+38 B``)."""
    if value < 1024:
        return f"{value} B"
    units = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
    return scaled(value, units, places=1, beyond=1024 * 2**40, plain=" B")


def scaled(
    value: int, units: tuple[tuple[str, int], ...], *, places: int, beyond: int, plain: str
) -> str:
    """``value`` in the largest of ``units`` it reaches, with ``places`` decimals, rounded
    exactly (decimal arithmetic, never a float); from ``beyond`` on, ``value`` in scientific
    notation followed by ``plain``."""
    from decimal import Decimal

    if value >= beyond:
        return f"{Decimal(value):.2e}{plain}"
    for unit, scale in units:
        if value >= scale:
            return f"{Decimal(value) / scale:.{places}f} {unit}"
    return f"{value:,}"


def field(rf: ReceptiveField | None) -> str:
    """A receptive field as ``5×5`` (``global`` once it covers the whole input)."""
    if rf is None:
        return "—"
    if rf.is_global:
        return "global"
    return "×".join(str(number(round(s, 3))) for s in rf.size)


def field_detail(rf: ReceptiveField | None) -> str:
    """Size, jump and start of a field, for the single-layer view."""
    if rf is None:
        return "— (vector input)"
    jump = "×".join(str(number(round(j, 3))) for j in rf.jump)
    start = ", ".join(f"{s:g}" for s in rf.start)
    text = f"{field(rf)}, jump {jump}, first centre at ({start})"
    if rf.is_global:
        text = f"global (the whole {'×'.join(str(number(s)) for s in rf.size)} input)"
    return text


def shape(value: Shape) -> str:
    """A shape as ``10×32×32``."""
    return format_shape(value)


def row_input(row: Row) -> str:
    """A row's input shape; a concat shows each input's channels: ``64+32×28×28``."""
    if row.type != "concat" or not row.merged:
        return shape(row.input)
    channels = "+".join(str(merged[0]) for merged in row.merged)
    spatial = {merged[1:] for merged in row.merged}
    if len(spatial) == 1:
        return "×".join([channels, *map(str, spatial.pop())])
    return " + ".join(shape(merged) for merged in row.merged)


def printable(text: str) -> str:
    """``text`` with its control characters (C0, DEL, C1) escaped as in Python (``\\n``,
    ``\\x07``): names from a spec are shown on one line and never drive the terminal."""
    if text.isprintable():
        return text
    return "".join(repr(char)[1:-1] if _is_control(char) else char for char in text)


def _is_control(char: str) -> bool:
    """A C0 control, DEL or a C1 control (Unicode category Cc)."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0


def markdown_text(text: str) -> str:
    """``text`` for one Markdown line or table cell: control characters escaped (so a line
    break cannot end the row or the heading) and ``|`` escaped (so it cannot split a cell)."""
    return printable(text).replace("|", "\\|")


def markdown_code(text: str) -> str:
    """``text`` as a Markdown code span in a table cell: fenced by one backtick more than its
    longest run of them, padded with a space when it starts or ends with one."""
    import re

    cell = markdown_text(text)
    fence = "`" * (max(map(len, re.findall("`+", cell)), default=0) + 1)
    padding = " " if cell.startswith("`") or cell.endswith("`") else ""
    return f"{fence}{padding}{cell}{padding}{fence}"


def unsupported_line(report: Report) -> str:
    """What the unsupported ops' rows mean, when there are any; empty otherwise."""
    rows = report.totals.unsupported
    if not rows:
        return ""
    ops = dict.fromkeys(row.type for row in report.rows if row.layer and not row.layer.supported)
    return (
        f"{rows} unsupported {'op' if rows == 1 else 'ops'} ({', '.join(ops)}): counted as "
        "0 params and 0 MACs, shapes as the model gives them (--strict makes them errors)"
    )
