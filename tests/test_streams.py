"""Closed and full standard streams: each is one clean line (or, for a warning that cannot be
written, nothing lost), never a traceback."""

from __future__ import annotations

import shlex

import pytest

from tests.test_hardening import shell

WARNS = ["layer", "--in", "3x10x10", "--filters", "2x3", "--stride", "2"]


@pytest.mark.parametrize(
    ("redirect", "args", "message"),
    [
        (">&-", ["analyze", "examples/cs231n.yaml"], "cannot write to stdout: stdout is closed"),
        (
            ">&-",
            ["layer", "--in", "3x8x8", "--filters", "2x3"],
            "cannot write to stdout: stdout is closed",
        ),
        ("<&-", ["analyze", "-"], "<stdin>: cannot read the spec: stdin is closed"),
        (
            "<&-",
            ["layer", "--in", "-", "--type", "relu"],
            "--in -: cannot read stdin: stdin is closed",
        ),
        (">/dev/full", ["--help"], "cannot write to stdout: No space left on device"),
        (">/dev/full", ["analyze", "--help"], "cannot write to stdout: No space left on device"),
    ],
)
def test_a_closed_or_full_stream_is_one_line(redirect: str, args: list[str], message: str) -> None:
    result = shell(f"{shlex.join(args)} {redirect}")
    assert result.returncode == 1
    assert result.stderr.decode() == message + "\n"


@pytest.mark.parametrize("redirect", ["2>/dev/full", "2>&-"])
def test_a_warning_that_cannot_be_written_loses_no_result(redirect: str) -> None:
    expected = shell(f"{shlex.join(WARNS)} --json")
    assert "warning" in expected.stderr.decode()
    result = shell(f"{shlex.join(WARNS)} --json {redirect}")
    assert result.returncode == 0
    assert result.stdout == expected.stdout


def test_an_error_that_cannot_be_written_still_fails() -> None:
    result = shell("analyze - 2>/dev/full", stdin=b"input: 3x8x8\nlayers: [rleu]\n")
    assert result.returncode == 1
    assert result.stdout == b""
