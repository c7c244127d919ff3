"""The table layout (convcalc.render.layout) against rich's own Table, its oracle.

The layout reproduces rich's Table for the tables convcalc draws; rich is a dependency, so each
random table is also drawn by rich and the two must give the same characters — at a terminal's
width (squeezed, cut with …, wrapped) and unlimited (piped) — and the same style on every
visible character.
"""

from __future__ import annotations

import io
import random
import re

import pytest
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Span, Text

from convcalc.render import units
from convcalc.render.layout import Block, Column, Grid, Styled, wrap

WORDS = [
    "a",
    "conv1",
    "64×56×56",
    "1,024",
    "中文",
    "ｗｉｄｅ",
    "e\u0301te\u0301",
    "⚠",
    "…",
    "x" * 25,
]
STYLES = ["", "bold", "cyan", "bold yellow", "green", "dim"]
ANSI = re.compile(r"\x1b\[([0-9;]*)m")


def random_text(rng: random.Random) -> str:
    """Words and spaces, sometimes empty, sometimes with spaces at either end."""
    words = rng.choices(WORDS, k=rng.randint(0, 4))
    text = " ".join(words)
    if rng.random() < 0.15:
        text = " " + text + "  "
    return text


def random_cell(rng: random.Random) -> Styled | str:
    text = random_text(rng)
    if rng.random() < 0.5:
        return text
    cell = Styled(text, rng.choice(STYLES))
    return cell.append(random_text(rng), rng.choice(STYLES))


def random_grid(rng: random.Random) -> Grid:
    show_header = rng.random() < 0.8
    # No table of convcalc's is empty; rich gives a column with no cell at all the whole width.
    rows = rng.randint(0 if show_header else 1, 4)
    columns = [
        Column(
            rng.choice(["#", "layer", "type", "MACs", "a long header"]),
            rng.choice(["", "total", "1.81 G"]),
            [random_cell(rng) for _ in range(rows)],
            justify=rng.choice(["left", "right"]),
            style=rng.choice(STYLES),
            min_width=rng.choice([None, None, 3, 12]),
            wrap=rng.random() < 0.3,
        )
        for _ in range(rng.randint(1, 6))
    ]
    return Grid(
        columns,
        title=rng.choice(["", "net — input 3×224×224, batch 1, float32", "中文 " * 12]),
        row_styles=[rng.choice(["", "dim"]) for _ in range(rows)],
        show_header=show_header,
        show_footer=rng.random() < 0.6,
        boxed=rng.random() < 0.7,
        padding=rng.choice([1, 2]),
    )


def rich_text(cell: Styled | str, style: str = "") -> Text:
    """A cell as a rich Text (never read as markup or emoji codes)."""
    if isinstance(cell, str):
        return Text(cell, style=style)
    return Text(cell.plain, style=style, spans=[Span(*span) for span in cell.spans])


def rich_table(grid: Grid) -> Table:
    """The rich Table that ``grid`` reproduces."""
    table = Table(
        title=rich_text(grid.title, "table.title") if grid.title else None,
        title_justify="left",
        show_header=grid.show_header,
        show_footer=grid.show_footer,
        show_edge=False,
        box=box.HEAVY_HEAD if grid.boxed else None,
        padding=(0, grid.padding),
        header_style=grid.header_style,
        footer_style=grid.footer_style,
    )
    for column in grid.columns:
        table.add_column(
            rich_text(column.header),
            footer=rich_text(column.footer),
            justify=column.justify,  # type: ignore[arg-type]
            style=column.style or None,
            no_wrap=not column.wrap,
            min_width=column.min_width,
        )
    for index in range(len(grid.columns[0].cells)):
        table.add_row(
            *(rich_text(column.cells[index]) for column in grid.columns),
            style=grid.row_styles[index] or None,
        )
    return table


def terminal(width: int) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=True,
        color_system="standard",
        legacy_windows=False,
        markup=False,
    )
    return console, buffer


def styled_characters(output: str) -> list[tuple[str, frozenset[str]]]:
    """Each visible (non-space) character with the escape codes in force on it."""
    characters = []
    codes: frozenset[str] = frozenset()
    position = 0
    for match in ANSI.finditer(output):
        characters += [(char, codes) for char in output[position : match.start()]]
        codes = frozenset(match.group(1).split(";")) - {"0", ""}
        position = match.end()
    characters += [(char, codes) for char in output[position:]]
    return [(char, codes) for char, codes in characters if not char.isspace()]


@pytest.mark.parametrize("seed", range(40))
def test_the_layout_matches_rich_at_every_width(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(10):
        grid = random_grid(rng)
        for width in (8, 20, 35, 60, 100, 200):
            console, expected = terminal(width)
            console.print(rich_table(grid))
            console, actual = terminal(width)
            Block([grid]).print(console)
            assert ANSI.sub("", actual.getvalue()) == ANSI.sub("", expected.getvalue()), width
            assert styled_characters(actual.getvalue()) == styled_characters(expected.getvalue())


@pytest.mark.parametrize("seed", range(20))
def test_piped_tables_match_rich_at_unlimited_width(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(10):
        grid = random_grid(rng)
        buffer = io.StringIO()
        Console(file=buffer, width=100_000, no_color=True, markup=False).print(rich_table(grid))
        expected = "".join(f"{line.rstrip()}\n" for line in buffer.getvalue().splitlines())
        assert Block([grid]).plain() == expected
        # The fast path for piped tables and the general layout agree.
        assert [line.rstrip() for line in grid.lines()] == [
            line.plain.rstrip() for line in grid.styled_lines(None)
        ]


def test_piped_text_is_never_squeezed_or_wrapped() -> None:
    long_cell = "x" * 300
    prose = Styled("word " * 100, "dim")
    text = Block([Grid([Column("h", "f", [long_cell])], title="t"), prose]).plain()
    lines = text.splitlines()
    assert f" {long_cell}" in lines  # the one body row, in full
    assert lines[-1] == prose.plain.rstrip()
    assert all(line == line.rstrip() for line in lines)


def test_a_narrow_terminal_squeezes_cells_with_an_ellipsis() -> None:
    grid = Grid([Column("shape", "", ["64×112×112"]), Column("n", "", ["1,234,567"])])
    buffer = io.StringIO()
    Block([grid]).print(Console(file=buffer, width=16, color_system=None))
    lines = buffer.getvalue().splitlines()
    assert lines[2] == " 64×11… │ 1,23… "
    assert {len(line) for line in lines} == {16}


def test_wrap_breaks_between_words_and_folds_long_ones() -> None:
    assert wrap("ab cd ef", 5, fold=True) == [("ab cd", 0), ("ef", 6)]
    assert wrap("abcdefgh", 3, fold=True) == [("abc", 0), ("def", 3), ("gh", 6)]
    assert wrap("中文中文", 4, fold=True) == [("中文", 0), ("中文", 2)]
    # Not folded, a long word is left whole on its own line (a cell cuts it with …); the
    # space before it stays, as in rich, when the line has room for it.
    assert wrap("x abcdefgh", 3, fold=False) == [("x ", 0), ("abcdefgh", 2)]


def test_wide_characters_are_aligned_by_display_width() -> None:
    grid = Grid(
        [Column("layer", "total", ["卷积", "conv"], justify="left"), Column("n", "", ["1", "22"])]
    )
    lines = grid.lines()
    dividers = {
        line.index("│") + sum(1 for c in line[: line.index("│")] if ord(c) > 0x2E80)
        for line in lines[2:4]
    }
    assert len(dividers) == 1


def test_control_characters_in_names_are_escaped() -> None:
    assert units.printable("conv1") == "conv1"
    assert units.printable("a\tb\nc\x1b[31m\x85é中") == "a\\tb\\nc\\x1b[31m\\x85é中"
