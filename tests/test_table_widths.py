"""The layer table at a terminal: it fits 80, 120 and 200 columns without cutting a number.

Golden renderings (tests/goldens/tables/) hold what a terminal of each width shows, colours off;
they are compared, never written, unless CONVCALC_UPDATE_GOLDENS=1 is set (then the test fails
so that the run that rewrote them cannot pass silently). The real program is also run under a
pseudo-terminal of each width, and must print the golden's lines.
"""

from __future__ import annotations

import io
import os
import re
import sys
from itertools import pairwise
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.render.columns import table_lines
from convcalc.render.table import network_table
from convcalc.report import Report
from convcalc.sources import load
from convcalc.views import with_views
from tests.terminal import run_in_terminal

ROOT = Path(__file__).resolve().parent.parent
GOLDENS = Path(__file__).resolve().parent / "goldens" / "tables"
UPDATE_GOLDENS = os.environ.get("CONVCALC_UPDATE_GOLDENS") == "1"
SPECS = {
    "resnet50": "zoo:resnet50",
    "densenet121": "zoo:densenet121",
    "unet-like": str(ROOT / "tests" / "specs" / "unet-like.yaml"),
}
WIDTHS = (80, 120, 200)
NUMBER = re.compile(r"^[\d,.]+( [KMGT])?$|^[\d.]+ [KMGT]?i?B$|^\d+(×\d+)*$|^global$|^\d+\+")


def report_of(spec: str) -> Report:
    return with_views(analyze(load(spec)))


def at_terminal(report: Report, width: int, **options: object) -> str:
    """What a terminal ``width`` cells wide shows of the table, colours off."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, markup=False)
    network_table(report, width, **options).print(console)  # type: ignore[arg-type]
    return "".join(f"{line.rstrip()}\n" for line in out.getvalue().splitlines())


def table_rows(text: str) -> list[list[str]]:
    """The cells of the table's body and footer lines (between the header rule and the end)."""
    return [[cell.strip() for cell in line.split("│")] for line in text.splitlines() if "│" in line]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", SPECS)
def test_golden_tables(name: str, width: int) -> None:
    text = at_terminal(report_of(SPECS[name]), width)
    golden = GOLDENS / f"{name}-{width}.txt"
    if UPDATE_GOLDENS:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        pytest.fail(f"rewrote {golden.name}; run again without CONVCALC_UPDATE_GOLDENS")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", SPECS)
def test_no_cell_is_cut_and_no_line_is_too_wide(name: str, width: int) -> None:
    text = at_terminal(report_of(SPECS[name]), width)
    assert not any("…" in cell for row in table_rows(text) for cell in row)
    assert max(len(line) for line in text.splitlines()) <= width
    header = next(line for line in text.splitlines() if "┃" in line)
    names = [cell.strip() for cell in header.split("┃")]
    for row in table_rows(text):
        for column, cell in zip(names, row, strict=True):
            if column in ("params", "MACs", "RF", "memory", "live", "output") and cell:
                assert NUMBER.match(cell), (column, cell)


def test_narrow_terminals_drop_whole_columns_and_say_which() -> None:
    text = at_terminal(report_of("zoo:resnet50"), 80)
    header = [cell.strip() for cell in text.splitlines()[1].split("┃")]
    assert header == ["layer", "output", "params", "MACs", "RF", "memory"]
    # Named as the table heads them, which is also what --columns takes.
    assert "hidden to fit 80 columns: #, type, input, live, peak" in text
    words = " ".join(text.split())
    assert "(--wide or --columns all shows them; --columns picks, e.g. --columns layer,#," in words
    wide = at_terminal(report_of("zoo:resnet50"), 200)
    assert "hidden" not in wide
    assert [cell.strip() for cell in wide.splitlines()[1].split("┃")][-2:] == ["live", "peak"]


def test_wide_and_chosen_columns_are_shown_whole_however_wide() -> None:
    report = report_of("zoo:resnet50")
    for options in ({"wide": True}, {"columns": ["layer", "input", "output", "live", "peak"]}):
        text = at_terminal(report, 80, **options)
        header = [cell.strip() for cell in text.splitlines()[1].split("┃")]
        assert header[-1] == "peak", options
        assert "hidden" not in text
        assert not any("…" in cell for row in table_rows(text) for cell in row)
    assert max(map(len, at_terminal(report, 80, wide=True).splitlines())) > 80


def test_the_tree_names_each_line_by_its_own_name_under_its_containers() -> None:
    text = at_terminal(report_of("zoo:resnet50"), 200)
    names = [row[1] for row in table_rows(text)]
    assert names[4:9] == ["layer1", "bottleneck1", "residual1", "body", "conv1"]
    lines = {row[1]: row for row in table_rows(text)[:5]}
    # A container's line carries its totals: layer1's parameters are its rows' parameters.
    report = report_of("zoo:resnet50")
    layer1 = sum(row.params for row in report.rows if row.path.startswith("layer1."))
    assert lines["layer1"][5] == f"{layer1:,}"
    assert lines["layer1"][2] == "32 rows"


def test_depth_collapses_containers_into_one_line_with_their_totals() -> None:
    report = report_of("zoo:resnet50")
    text = at_terminal(report, 200, depth=1)
    names = [row[1] for row in table_rows(text)]
    assert names == [
        "conv1",
        "bn1",
        "relu1",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten1",
        "fc",
        "total",
    ]
    # Every row is in exactly one line, so the lines sum to the totals.
    lines = table_lines(report.rows, headings=False, depth=1)
    assert [line.stop - line.start for line in lines][4:8] == [32, 42, 62, 32]
    assert sum(line.stop - line.start for line in lines) == len(report.rows)


def test_piped_tables_keep_every_column_and_full_paths() -> None:
    result = CliRunner().invoke(app, ["analyze", "zoo:resnet50"])
    assert result.exit_code == 0
    assert "…" not in result.stdout
    assert "layer1.repeat1.bottleneck1.residual1.body.bn1" in result.stdout
    assert "hidden" not in result.stdout
    header = [cell.strip() for cell in result.stdout.splitlines()[1].split("┃")]
    assert header[-3:] == ["memory", "live", "peak"]


def test_columns_choose_and_order_the_columns_of_every_format() -> None:
    runner = CliRunner()
    chosen = ["analyze", "zoo:cs231n", "--columns", "layer,params,macs"]
    table = runner.invoke(app, chosen)
    header = next(line for line in table.stdout.splitlines() if "┃" in line)
    assert [cell.strip() for cell in header.split("┃")] == [
        "layer",
        "params",
        "MACs",
    ]
    markdown = runner.invoke(app, [*chosen, "--format", "markdown"])
    assert "| layer | params | MACs |" in markdown.stdout.splitlines()
    csv = runner.invoke(app, [*chosen, "--format", "csv"])
    assert csv.stdout.splitlines()[0] == "path,params,macs,warnings"
    unknown = runner.invoke(app, ["analyze", "zoo:cs231n", "--columns", "parms"])
    assert unknown.exit_code == 2
    assert "no column `parms` (did you mean `params`?)" in unknown.stderr


def test_training_and_jacobian_columns_reach_csv_and_markdown() -> None:
    runner = CliRunner()
    args = ["analyze", "zoo:cs231n", "--train", "--jacobian", "--memory", "1GiB"]
    csv = runner.invoke(app, [*args, "--format", "csv"]).stdout.splitlines()
    fields = csv[0].split(",")
    for field in ("live_bytes", "saved_bytes", "jacobian_bytes", "jacobian_nonzeros"):
        assert field in fields
    markdown = runner.invoke(app, [*args, "--format", "markdown"]).stdout
    assert "| saved |" in markdown and "| Jacobian | non-zeros |" in markdown
    assert "- **training**: batch 1, sgd: params" in markdown
    assert "- **largest batch**: " in markdown


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("width", WIDTHS)
def test_real_terminal_shows_the_golden(width: int) -> None:
    """``convcalc analyze zoo:resnet50`` in a real pseudo-terminal ``width`` columns wide."""
    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    shown = run_in_terminal(["analyze", "zoo:resnet50"], width, env)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    lines = [line.rstrip() for line in shown.splitlines()]
    assert lines == (GOLDENS / f"resnet50-{width}.txt").read_text(encoding="utf-8").splitlines()


def test_the_readme_shows_the_80_column_table_as_a_terminal_does() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("ResNet-50 in an 80-column terminal:\n\n```text\n", 1)[1].split("```")[0]
    head, tail = block.split("\n…\n")
    golden = (GOLDENS / "resnet50-80.txt").read_text(encoding="utf-8")
    # The command, then the golden's first lines; after the ellipsis, a stretch of its end.
    assert head.splitlines()[0] == "$ convcalc analyze zoo:resnet50"
    assert golden.startswith("\n".join(head.splitlines()[1:]) + "\n")
    assert tail in golden


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "googlenet", "mobilenet_v2"])
def test_lines_cover_every_row_once_in_order_at_every_depth(name: str) -> None:
    rows = analyze(load(f"zoo:{name}")).rows
    for depth in (None, 1, 2, 3, 4):
        lines = table_lines(rows, headings=False, depth=depth)
        assert [line.start for line in lines] == [0] + [line.stop for line in lines[:-1]]
        assert lines[-1].stop == len(rows)
        for line in lines:
            # A collapsed line holds exactly the rows under its path; a row line is one row.
            under = [row.path.startswith(f"{line.path}.") for row in rows[line.start : line.stop]]
            assert all(under) if line.group else line.stop - line.start == 1
            assert depth is None or line.level < depth
        # With headings: the same row lines, and each container's line right before its rows.
        tree = table_lines(rows, headings=True, depth=depth)
        assert [line for line in tree if not line.group] == [
            line for line in lines if not line.group
        ]
        for heading, following in pairwise(tree):
            if heading.group and following.level > heading.level:
                assert following.start == heading.start
                assert following.path.startswith(f"{heading.path}.")
