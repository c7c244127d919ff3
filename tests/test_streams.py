"""Closed and full standard streams: each is one clean line (or, for a warning that cannot be
written, nothing lost), never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.test_hardening import ENV, ROOT

WARNS = ["layer", "--in", "3x10x10", "--filters", "2x3", "--stride", "2"]


def shell(redirect: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """``python -m convcalc ARGS REDIRECT`` through sh, for redirections like ``>&-``."""
    return subprocess.run(
        ["sh", "-c", f'exec "$0" -m convcalc "$@" {redirect}', sys.executable, *args],
        input=stdin,
        capture_output=True,
        env=ENV,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


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
    result = shell(redirect, *args)
    assert result.returncode == 1
    assert result.stderr.decode() == message + "\n"


@pytest.mark.parametrize("redirect", ["2>/dev/full", "2>&-"])
def test_a_warning_that_cannot_be_written_loses_no_result(redirect: str) -> None:
    expected = shell("", *WARNS, "--json")
    assert "warning" in expected.stderr.decode()
    result = shell(redirect, *WARNS, "--json")
    assert result.returncode == 0
    assert result.stdout == expected.stdout


def test_an_error_that_cannot_be_written_still_fails() -> None:
    result = shell("2>/dev/full", "analyze", "-", stdin=b"input: 3x8x8\nlayers: [rleu]\n")
    assert result.returncode == 1
    assert result.stdout == b""
