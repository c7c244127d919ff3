"""Limits that keep a small spec small (names, paths, rows, floods of problems), exact human
units, echoes of user text cut short, and Markdown/CSV that the spec cannot break."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.errors import ECHO_LIMIT
from convcalc.memory import parse_size
from convcalc.render import units
from tests.test_hardening import ENV, ROOT, analyze, refused

LONG = "x" * 100_000


def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """The command line in-process: exit status, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


# --- names and paths ---------------------------------------------------------------------------


def test_a_long_name_through_an_alias_is_refused_where_it_is_written() -> None:
    text = f"input: 3x8x8\nn: &n {LONG}\nlayers:\n  - {{relu: {{}}, name: *n}}\n"
    status, stdout, stderr = analyze(text)
    assert status == 1 and stdout == ""
    assert stderr.splitlines()[-1] == (
        "<stdin>:4:22: layers[0]: name: 100,000 characters is too long (at most 200); "
        "give a shorter name"
    )


def test_a_long_block_name_is_refused() -> None:
    refused(
        f"input: 3x8x8\nblocks: {{{'b' * 201}: {{layers: [relu]}}}}\nlayers: [relu]\n",
        "blocks: a block name of 201 characters is too long (at most 200)",
    )


def test_names_multiplied_by_nesting_stop_at_the_path_limit() -> None:
    name = "n" * 190
    lines = ["input: 3x8x8", "blocks:", "  b0: {layers: [relu]}"]
    lines += [f"  b{i}: {{layers: [{{use: b{i - 1}, name: {name}}}]}}" for i in range(1, 48)]
    lines.append("layers: [{repeat: {times: 300, layers: [{use: b47}]}}]")
    started = time.perf_counter()
    line = refused("\n".join(lines) + "\n", "the layer path is 1,", "(at most 1,000)")
    assert time.perf_counter() - started < 5
    assert len(line) < 400


# --- rows --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_a_sixty_byte_spec_is_refused_or_fast(fmt: str) -> None:
    spec = "input: 3x8x8\nlayers: [{repeat: {times: 1000000, layers: [relu]}}]\n"
    assert len(spec) <= 66
    started = time.perf_counter()
    status, stdout, stderr = run("analyze", "-", "--format", fmt, stdin=spec)
    assert status == 1 and stdout == ""
    assert "times: 1,000,000 is more than the 100,000 layers convcalc analyzes; lower it" in stderr
    assert time.perf_counter() - started < 2


def test_the_largest_sixty_byte_spec_fits_in_seconds_and_memory() -> None:
    spec = "input: 3x8x8\nlayers: [{repeat: {times: 100000, layers: [relu]}}]\n"
    # The peak of this process's own memory (VmHWM), not getrusage's ru_maxrss: Linux carries
    # that over exec from the forked copy of the parent, here pytest with torch loaded.
    code = (
        "import sys\n"
        "from convcalc.cli import main\n"
        "sys.argv = ['convcalc', 'analyze', '-']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "sys.stderr.write(status)\n"
    )
    started = time.process_time()
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=spec.encode(),
        capture_output=True,
        env=ENV,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.count(b"\n") > 100_000
    assert int(result.stderr.decode().splitlines()[-1]) < 2**30 // 1024  # KiB
    assert time.process_time() - started < 1  # the parent only waits


# --- floods of problems ------------------------------------------------------------------------


def test_a_flood_of_problems_shows_a_hundred_and_counts_the_rest() -> None:
    text = "input: 3x8x8\nlayers:\n" + "  - rleu\n" * 100_000
    started = time.perf_counter()
    status, stdout, stderr = analyze(text)
    assert time.perf_counter() - started < 30
    lines = stderr.splitlines()
    assert status == 1 and stdout == ""
    assert len(lines) == 101
    assert lines[0] == "<stdin>:3:5: layers[0]: unknown layer type `rleu` (did you mean `relu`?)"
    assert lines[-1] == "… and 99,900 more problems"


def test_a_repeated_mistake_in_a_block_is_counted_once() -> None:
    blocks = "blocks:\n  b: {layers: [rleu]}\n"
    uses = "".join(f"  - {{use: b, name: u{i}}}\n" for i in range(150))
    status, _, stderr = analyze(f"input: 3x8x8\n{blocks}layers:\n{uses}")
    assert status == 1
    assert stderr.count("unknown layer type `rleu`") == 1
    assert "more problems" not in stderr


# --- echoes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"input: 3x32x32#{LONG}\nlayers: [relu]\n",
        f"input: 3x8x8\nlayers: [batchnorm#{LONG}]\n",
        f"input: 3x8x8\nlayers: [{{conv: {{filters: 3, kernel: 3, {LONG}: 1}}}}]\n",
        f"input: 3x8x8\ndtype: {LONG}\nlayers: [relu]\n",
    ],
    ids=["input", "type", "option", "dtype"],
)
def test_user_text_is_echoed_short(text: str) -> None:
    status, _, stderr = analyze(text)
    assert status == 1
    assert 0 < len(stderr) < 400
    assert "x" * ECHO_LIMIT not in stderr


@pytest.mark.parametrize(
    "args",
    [
        ["layer", "--in", f"3x8x8{LONG}", "--type", "relu"],
        ["layer", "--in", "3x8x8", "--type", f"relu{LONG}"],
        ["layer", "--in", "3x8x8", "--filters", f"2x{LONG}"],
        ["analyze", "zoo:cs231n", "--memory", f"1{LONG}"],
    ],
    ids=["in", "type", "filters", "memory"],
)
def test_flags_are_echoed_short(args: list[str]) -> None:
    status, _, stderr = run(*args)
    assert status == 2  # a flag's value: a usage error
    assert len(stderr) < 1000
    assert "x" * ECHO_LIMIT not in stderr


@pytest.mark.parametrize("digits", [14, 5000])
def test_a_flag_too_large_says_so(digits: int) -> None:
    status, _, stderr = run("layer", "--in", "3x8x8", "--filters", "2x3", "--pad", "9" * digits)
    assert status == 2  # a flag's value: a usage error
    assert "larger than any real tensor dimension (at most 2,147,483,647)" in stderr
    assert stderr.startswith("--pad: ")


# --- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4_089_184_256, "4.09 G"),
        (9_999, "9,999"),
        (999_994_999_999_999, "999.99 T"),
        (1_000_000_000_000_000, "1.00e+15"),
        (9_903_520_300_447_984_150_353_281_023, "9.90e+27"),
        (12_345_675_000_000, "12.35 T"),
        (2**53 + 1, "9.01e+15"),
    ],
)
def test_counts_are_scaled_exactly(value: int, text: str) -> None:
    assert units.count(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (40_960, "40.0 KiB"),
        (1023, "1023 B"),
        (1023 * 2**40 + 2**39, "1023.5 TiB"),
        (1024 * 2**40, "1.13e+15 B"),
        (154_742_504_622_442_158_412_005_375 * 2**40, "1.70e+38 B"),
    ],
)
def test_sizes_are_scaled_exactly(value: int, text: str) -> None:
    assert units.size(value) == text


def test_a_memory_budget_is_exact_to_the_byte() -> None:
    assert parse_size("9007199254740993B") == 9_007_199_254_740_993
    assert parse_size("1.5KiB") == 1536
    assert parse_size("0.1GB") == 100_000_000
    assert parse_size("123456789012345678901234567.5B") == 123_456_789_012_345_678_901_234_567


# --- Markdown and CSV --------------------------------------------------------------------------

HOSTILE = 'name: "c\\e[2Jx\\nnew|line"\ninput: 3x8x8\nlayers: [{relu: {}, name: "a|b`c\\nd\\e"}]\n'


def test_markdown_rows_and_headings_stay_whole() -> None:
    status, stdout, _ = run("analyze", "-", "--format", "markdown", stdin=HOSTILE)
    assert status == 0
    assert "\x1b" not in stdout
    lines = stdout.splitlines()
    assert lines[0] == "## c\\x1b[2Jx\\nnew\\|line"
    row = next(line for line in lines if line.startswith("| 0 |"))
    assert row.startswith("| 0 | ``a\\|b`c\\nd\\x1b`` | relu |")
    header = next(line for line in lines if line.startswith("| #"))
    assert row.replace("\\|", "").count("|") == header.count("|")


def test_csv_cells_carry_no_control_characters() -> None:
    status, stdout, _ = run("analyze", "-", "--format", "csv", stdin=HOSTILE)
    assert status == 0
    assert "\x1b" not in stdout
    rows = list(csv.reader(io.StringIO(stdout)))
    assert rows[1][1] == "a|b`c\\nd\\x1b"
    assert len(rows) == 3
