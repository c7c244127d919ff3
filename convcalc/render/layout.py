"""Text tables laid out directly, the way rich lays out its ``Table``, without rich's machinery.

rich's ``Table`` renders every cell through its general renderable pipeline (measure, wrap,
justify, crop, segments) — about a millisecond per row, most of a table's run time. convcalc's
cells are one line of text each, so this module lays tables out from the cells' display widths
alone, with rich's rules, and produces the same characters (tests/test_layout.py holds it to
rich's Table on random tables):

- a column is as wide as its widest cell (header and footer included) plus ``padding`` spaces
  on each side; ``min_width`` raises that floor;
- a cell is justified left or right in its column; a right-justified cell loses its trailing
  spaces first; a cell wider than its column is cut to fit and ends in ``…`` — or, in a
  ``wrap`` column, is word-wrapped onto more lines;
- with a heavy-head box: ``┃`` between header cells, a ``━╇━`` rule under the header, ``│``
  between cells, a ``─┼─`` rule above the footer, no outer edge;
- the title, left-justified, word-wrapped at the table's width.

Display widths come from :mod:`rich.cells` (wide East Asian characters count two cells,
combining marks none), the one light module of rich, so a terminal and a file agree.

Width: piped or written output (``width=None``) is never squeezed: every cell in full, every line
as long as it needs. At a terminal's width, as rich does, a table wider than the terminal first
narrows its ``wrap`` columns (the formulas of ``convcalc layer`` wrap onto more lines), then
takes the same number of cells from every column (cells cut short end in ``…``; the layer column
of ``analyze`` keeps the width of its longest path, up to 40), and what still does not fit is
cropped at the right edge; the prose below a table is word-wrapped at the terminal's width.

Styles are rich style strings (``"bold yellow"``), kept as spans over the plain text; rich itself
is imported only to paint them on a terminal (:meth:`Block.print`).

Gain, re-measured by ``benchmarks/run.py``: ResNet-50's table in about 2 ms, where rich's
``Table`` takes a second or more on the benchmark machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich.cells import cell_len, chop_cells, set_cell_size

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

Span = tuple[int, int, str]
"""``(start, end, style)``: a rich style over the characters ``start:end`` of a text."""

TITLE_STYLE = "table.title"
"""The style of a table's title: rich's theme name for it (italic)."""

_HEAVY_HEAD = {"head": ("┃", "━", "╇"), "row": ("│", "", ""), "foot": ("│", "─", "┼")}
"""Per part of a boxed table: the divider between cells and the rule below (head) or above
(foot) that part, as (divider, horizontal, cross) — rich's ``box.HEAVY_HEAD`` without edges."""

_TRAILING_SPACE = re.compile(r"\s+$")
_WORD = re.compile(r"\s*\S+\s*")


class Styled:
    """Text with styles: the plain characters and the spans styling them, layered in order (a
    later span wins where spans overlap, as in rich's ``Text``). May hold several lines."""

    __slots__ = ("plain", "spans")

    def __init__(self, text: str = "", style: str = "") -> None:
        self.plain = text
        self.spans: list[Span] = [(0, len(text), style)] if style and text else []

    def append(self, text: str, style: str = "") -> Styled:
        """Add ``text`` at the end, in ``style`` (``""``: unstyled); returns ``self``."""
        if style and text:
            start = len(self.plain)
            self.spans.append((start, start + len(text), style))
        self.plain += text
        return self

    def extend(self, other: Styled) -> Styled:
        """Add ``other`` at the end, with its styles; returns ``self``."""
        start = len(self.plain)
        self.spans.extend((begin + start, end + start, style) for begin, end, style in other.spans)
        self.plain += other.plain
        return self

    def __str__(self) -> str:
        return self.plain

    def __repr__(self) -> str:
        return f"Styled({self.plain!r}, {self.spans!r})"


Cell = Styled | str
"""A table cell: plain text, or text with styles. One line: no line breaks."""


class Column:
    """One column of a table: header, footer and one cell per row.

    ``justify`` is ``"left"`` or ``"right"``; ``style`` styles every body cell (padding
    included); ``min_width`` is the narrowest the column may become, padding excluded; a
    ``wrap`` column, when the table must shrink, shrinks first and word-wraps its cells onto
    more lines rather than cutting them."""

    __slots__ = ("cells", "footer", "header", "justify", "min_width", "style", "wrap")

    def __init__(
        self,
        header: str,
        footer: str,
        cells: list[Cell] | None = None,
        justify: str = "right",
        style: str = "",
        min_width: int | None = None,
        wrap: bool = False,
    ) -> None:
        self.header = header
        self.footer = footer
        self.cells: list[Cell] = [] if cells is None else cells
        self.justify = justify
        self.style = style
        self.min_width = min_width
        self.wrap = wrap


class Grid:
    """A table: a title over columns of one-line cells, optionally boxed (heavy head, no outer
    edge), with a header and a footer row in their own styles and a style per body row (all
    rich style strings)."""

    __slots__ = (
        "boxed",
        "columns",
        "footer_style",
        "header_style",
        "padding",
        "row_styles",
        "show_footer",
        "show_header",
        "title",
    )

    def __init__(
        self,
        columns: list[Column],
        title: str = "",
        row_styles: Sequence[str] = (),
        show_header: bool = True,
        show_footer: bool = True,
        boxed: bool = True,
        padding: int = 1,
        header_style: str = "bold",
        footer_style: str = "bold",
    ) -> None:
        self.columns = columns
        self.title = title
        self.row_styles = row_styles
        self.show_header = show_header
        self.show_footer = show_footer
        self.boxed = boxed
        self.padding = padding
        self.header_style = header_style
        self.footer_style = footer_style

    def widths(self, width: int | None, widest: list[int] | None = None) -> list[int]:
        """Each column's width in cells, padding included, for a table at most ``width`` cells
        wide (None: unlimited) — rich's ``Table._calculate_column_widths``: natural widths; if
        too wide, the widest ``wrap`` columns narrowed first, then the excess taken evenly from
        every column, and each column re-measured within its share (which ``min_width`` can
        exceed)."""
        if widest is None:
            widest = [max(map(cell_len, self._texts(column)), default=0) for column in self.columns]
        available = None if width is None else width - self._dividers()
        widths = [
            self._measure(most, column, available) or 1
            for most, column in zip(widest, self.columns, strict=True)
        ]
        if available is not None and sum(widths) > available:
            widths = _collapse(widths, [column.wrap for column in self.columns], available)
            if sum(widths) > available:
                excess = sum(widths) - available
                widths = _ratio_reduce(excess, [1] * len(widths), widths, widths)
            widths = [
                self._measure(most, column, share)
                for most, share, column in zip(widest, widths, self.columns, strict=True)
            ]
        return widths

    def lines(self, width: int | None = None) -> list[str]:
        """The table as plain lines (title first), at most ``width`` cells wide (None: as wide
        as the cells need)."""
        if width is None:
            return self._fitted()
        return [styled.plain for styled in self._layout(width, styled=False)]

    def _fitted(self) -> list[str]:
        """The plain lines of the table at its natural width, where every cell fits its column
        on one line: the same lines as :meth:`_layout` gives then, built column by column
        (this is every piped table, a few microseconds a row)."""
        # Display widths measured once per distinct text: shapes and sizes repeat down a column.
        known: dict[str, int] = {}

        def measure(texts: list[str]) -> list[int]:
            return [known[t] if t in known else known.setdefault(t, cell_len(t)) for t in texts]

        texts = [self._texts(column) for column in self.columns]
        lengths = [measure(column) for column in texts]
        widths = self.widths(None, [max(column, default=0) for column in lengths])
        table_width = sum(widths) + self._dividers()
        lines = [line for line, _ in wrap(self.title, table_width, True)] if self.title else []
        margin = " " * self.padding
        columns = []
        for column, width, cells, sizes in zip(self.columns, widths, texts, lengths, strict=True):
            inner = width - 2 * self.padding
            if column.justify == "right":
                cells = [cell.rstrip() for cell in cells]
                sizes = measure(cells)
                columns.append(
                    [
                        f"{margin}{' ' * (inner - n)}{t}{margin}"
                        for t, n in zip(cells, sizes, strict=True)
                    ]
                )
            else:
                columns.append(
                    [
                        f"{margin}{t}{' ' * (inner - n)}{margin}"
                        for t, n in zip(cells, sizes, strict=True)
                    ]
                )
        rows = list(zip(*columns, strict=True))
        footer = rows.pop() if self.show_footer else None
        header = rows.pop() if self.show_header else None
        divider = {part: chars[0] for part, chars in _HEAVY_HEAD.items()} if self.boxed else {}
        if header is not None:
            lines.append(divider.get("head", "").join(header))
            if self.boxed:
                lines.append(_rule("head", widths))
        between = divider.get("row", "")
        lines += [between.join(row) for row in rows]
        if footer is not None:
            if self.boxed:
                lines.append(_rule("foot", widths))
            lines.append(divider.get("foot", "").join(footer))
        return lines

    def styled_lines(self, width: int | None = None) -> list[Styled]:
        """The table as lines with their styles, at most ``width`` cells wide."""
        return list(self._layout(width, styled=True))

    def _layout(self, width: int | None, styled: bool) -> Iterator[Styled]:
        widths = self.widths(width)
        if self.title:
            table_width = sum(widths) + self._dividers()
            for line, _ in wrap(self.title, table_width, fold=True):
                if not styled:
                    yield Styled(line)
                    continue
                # Padded to the table's width, as rich pads a left-justified title.
                yield Styled(line + " " * (table_width - cell_len(line)), TITLE_STYLE)
        cells = [
            _ColumnCells(column, column_width, self.padding, styled)
            for column, column_width in zip(self.columns, widths, strict=True)
        ]
        dividers = {part: chars[0] for part, chars in _HEAVY_HEAD.items()} if self.boxed else {}
        if self.show_header:
            header = [(c, c.column.header, (self.header_style,)) for c in cells]
            yield from self._row(header, dividers.get("head", ""), styled, top=False)
            if self.boxed:
                yield Styled(_rule("head", widths))
        for index in range(len(self.columns[0].cells) if self.columns else 0):
            row_style = self.row_styles[index] if self.row_styles else ""
            row = [(c, c.column.cells[index], (c.column.style, row_style)) for c in cells]
            yield from self._row(row, dividers.get("row", ""), styled)
        if self.show_footer:
            if self.boxed:
                yield Styled(_rule("foot", widths))
            footer = [(c, c.column.footer, (self.footer_style,)) for c in cells]
            yield from self._row(footer, dividers.get("foot", ""), styled)

    def _row(
        self,
        row: Sequence[tuple[_ColumnCells, Cell, tuple[str, ...]]],
        divider: str,
        styled: bool,
        top: bool = True,
    ) -> Iterator[Styled]:
        """One row: its cells joined by ``divider`` (spans moved to their places), as many
        lines as its tallest cell; shorter cells get blank lines below (``top``) or above."""
        cells = [column.render(cell, styles) for column, cell, styles in row]
        height = max(map(len, cells))
        if height > 1:
            for (column, _, styles), lines in zip(row, cells, strict=True):
                blank = [column.blank(styles)] * (height - len(lines))
                lines[:] = lines + blank if top else blank + lines
        for index in range(height):
            parts = [lines[index] for lines in cells]
            line = Styled(divider.join(part.plain for part in parts))
            if styled:
                offset = 0
                for part in parts:
                    line.spans += [
                        (start + offset, end + offset, s) for start, end, s in part.spans
                    ]
                    offset += len(part.plain) + len(divider)
            yield line

    def _texts(self, column: Column) -> list[str]:
        """The plain text of every cell of ``column`` that is shown: the body cells, then the
        header and the footer."""
        texts = [cell if isinstance(cell, str) else cell.plain for cell in column.cells]
        if self.show_header:
            texts.append(column.header)
        if self.show_footer:
            texts.append(column.footer)
        return texts

    def _measure(self, widest: int, column: Column, limit: int | None) -> int:
        """The width of ``column`` within ``limit`` cells (None: unlimited): its widest cell
        plus padding, at most ``limit`` — then at least ``min_width`` plus padding."""
        pad = 2 * self.padding
        if limit is None:
            measured = widest + pad
        elif limit < 1:
            return 0
        elif limit - pad < 1:
            measured = limit
        else:
            measured = min(widest + pad, limit)
        if column.min_width is not None:
            measured = max(measured, column.min_width + pad)
        return measured

    def _dividers(self) -> int:
        """The cells the box takes besides the columns: one divider between two columns."""
        return len(self.columns) - 1 if self.boxed and self.columns else 0


class _ColumnCells:
    """Renders the cells of one column at its width: wrapped (a ``wrap`` column), justified,
    cut short with ``…``, padded."""

    __slots__ = ("column", "inner", "margin", "styled", "width")

    def __init__(self, column: Column, width: int, pad: int, styled: bool) -> None:
        self.column = column
        self.width = width
        self.margin = " " * pad
        self.inner = width - 2 * pad
        self.styled = styled

    def render(self, cell: Cell, styles: tuple[str, ...]) -> list[Styled]:
        """``cell`` laid out in the column, as lines of the column's width; styled (when
        styling) by the ``styles`` of the whole cell (column, row), then by its own spans."""
        plain = cell if isinstance(cell, str) else cell.plain
        spans = () if isinstance(cell, str) or not self.styled else cell.spans
        if self.inner <= 0:
            # No room for text: rich leaves the cell blank.
            return [self.blank(styles)]
        if not self.column.wrap:
            return [self._line(plain, 0, spans, styles)]
        return [
            self._line(line, start, spans, styles)
            for line, start in wrap(plain, self.inner, fold=False)
        ]

    def blank(self, styles: tuple[str, ...]) -> Styled:
        """An empty line of the cell."""
        line = Styled(" " * self.width)
        if self.styled:
            line.spans += [(0, self.width, style) for style in styles if style]
        return line

    def _line(
        self, plain: str, start: int, spans: Sequence[Span], styles: tuple[str, ...]
    ) -> Styled:
        """One line of a cell: ``plain``, which begins at ``start`` in the cell's text."""
        inner = self.inner
        right = self.column.justify == "right"
        if right:
            plain = plain.rstrip()
        length = cell_len(plain)
        if length > inner:
            plain = set_cell_size(plain, inner - 1) + "…"
            length = cell_len(plain)
        fill = " " * (inner - length)
        left = fill if right else ""
        line = Styled(f"{self.margin}{left}{plain}{'' if right else fill}{self.margin}")
        if self.styled:
            line.spans += [(0, len(line.plain), style) for style in styles if style]
            offset = len(self.margin) + len(left) - start
            end = start + len(plain)
            line.spans += [
                (max(s, start) + offset, min(e, end) + offset, style)
                for s, e, style in spans
                if s < end and e > start
            ]
        return line


def _rule(part: str, widths: list[int]) -> str:
    """The box's horizontal rule below the header (``head``) or above the footer (``foot``)."""
    _, horizontal, cross = _HEAVY_HEAD[part]
    return cross.join(horizontal * width for width in widths)


def _collapse(widths: list[int], wrap: list[bool], available: int) -> list[int]:
    """``widths`` narrowed towards ``available`` by narrowing the widest ``wrap`` columns to
    the next widest, again and again (rich's ``Table._collapse_widths``)."""
    excess = sum(widths) - available
    if not any(wrap):
        return widths
    while sum(widths) and excess > 0:
        widest = max(width for width, wraps in zip(widths, wrap, strict=True) if wraps)
        second = max(
            width if wraps and width != widest else 0
            for width, wraps in zip(widths, wrap, strict=True)
        )
        ratios = [int(wraps and width == widest) for width, wraps in zip(widths, wrap, strict=True)]
        if not any(ratios) or widest == second:
            break
        widths = _ratio_reduce(excess, ratios, [min(excess, widest - second)] * len(widths), widths)
        excess = sum(widths) - available
    return widths


def _ratio_reduce(
    total: int, ratios: list[int], maximums: list[int], values: list[int]
) -> list[int]:
    """``values`` less ``total`` in all, taken in proportion to ``ratios``, left to right, at
    most ``maximums`` from each (rich's ``ratio_reduce``)."""
    ratios = [ratio if most else 0 for ratio, most in zip(ratios, maximums, strict=True)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    reduced = []
    for ratio, most, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            taken = min(most, round(ratio * total / total_ratio))
            reduced.append(value - taken)
            total -= taken
            total_ratio -= ratio
        else:
            reduced.append(value)
    return reduced


def wrap(text: str, width: int, fold: bool) -> list[tuple[str, int]]:
    """``text`` (one line) word-wrapped into lines of at most ``width`` cells, as rich wraps a
    text: break before a word that does not fit and drop the spaces there; a word longer than a
    line is folded over several (``fold``) or left whole, to be cut. Each line comes with where
    it starts in ``text``; a line may still be wider than ``width`` (a word not folded)."""
    lines = []
    starts = [0, *divide_line(text, width, fold)]
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        line = text[start:end]
        if len(line) > width:
            spaces = _TRAILING_SPACE.search(line)
            if spaces is not None:
                line = line[: len(line) - min(len(spaces.group(0)), len(line) - width)]
        if fold and cell_len(line) > width:
            line = set_cell_size(line, width)
        lines.append((line, start))
    return lines


def divide_line(text: str, width: int, fold: bool) -> list[int]:
    """Where to break ``text`` into lines of at most ``width`` cells: the string offsets of the
    line starts after the first (rich's ``divide_line``)."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = cell_len(word.rstrip())
        if width - offset >= length:
            offset += cell_len(word)
        elif length > width and fold:
            # A word longer than a line: folded over as many lines as it takes.
            pieces = chop_cells(word, width)
            for number, piece in enumerate(pieces):
                if start:
                    breaks.append(start)
                if number == len(pieces) - 1:
                    offset = cell_len(piece)
                else:
                    start += len(piece)
        elif length > width:
            # Not folded: alone on its line, to be cut short.
            if start:
                breaks.append(start)
            offset = cell_len(word)
        elif offset and start:
            breaks.append(start)
            offset = cell_len(word)
    return breaks


class Block:
    """What a table command prints: tables and paragraphs of styled text, one after another."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Grid | Styled]) -> None:
        self.parts = parts

    def plain(self) -> str:
        """The text for a file or a pipe: no styles, nothing squeezed or wrapped, no trailing
        spaces, a newline after every line."""
        lines: list[str] = []
        for part in self.parts:
            lines += part.lines() if isinstance(part, Grid) else part.plain.split("\n")
        return "".join(f"{line.rstrip()}\n" for line in lines)

    def print(self, console: Console) -> None:
        """Print to a terminal through ``console``, which paints the styles (or not, by its
        colour system) and is as wide as the terminal: tables are laid out and cropped at its
        width, paragraphs word-wrapped."""
        from rich.console import Group
        from rich.text import Span as RichSpan
        from rich.text import Text

        def text(styled: Styled, **options: object) -> Text:
            spans = [RichSpan(start, end, style) for start, end, style in styled.spans]
            return Text(styled.plain, spans=spans, **options)  # type: ignore[arg-type]

        renderables: list[RenderableType] = []
        for part in self.parts:
            if isinstance(part, Grid):
                renderables += [
                    text(line, no_wrap=True, overflow="crop")
                    for line in part.styled_lines(console.width)
                ]
            else:
                renderables.append(text(part))
        console.print(Group(*renderables))
