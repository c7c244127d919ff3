"""Re-run the commands shown in README.md and paste their output: ``python tools/update_readme.py``.

Every fenced ``console`` block whose first line is ``$ command`` is run from the repository root
with this checkout's convcalc (``convcalc`` is ``python -m convcalc`` here), and its output —
stdout and stderr, as a terminal would show them — replaces the block's old output. Output longer
than ``--lines`` keeps its head and tail around a ``…`` line. Blocks fenced as anything else are
left alone, so examples that must not run (a long fuzz run) use ``bash``.

A file shown whole (an exported module) is the output of the command in the HTML comment before
its fenced block, ``<!-- file: convcalc export … -->``: the block is refreshed like a console
block, but never cut.

A picture is made by the command in the HTML comment before it,
``<!-- picture: convcalc draw … -o docs/images/NAME.png -->``, run the same way.

``--check`` rewrites nothing (and makes no picture): it lists the console blocks whose output
differs from a fresh run, with a diff, and exits with status 1 if there are any (CI runs it, so
README examples cannot drift).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```console\n\$ (?P<command>.*?)\n(?P<output>.*?)^```$", re.M | re.S)
FILE = re.compile(
    r"^<!-- file: (?P<command>.+?) -->\n(?P<fence>(?:<!-- fmt: off -->\n)?```\w*\n)"
    r"(?P<output>.*?)^```$",
    re.M | re.S,
)
PICTURE = re.compile(r"^<!-- picture: (?P<command>.+?) -->$", re.M)


def run(command: str) -> str:
    """The combined output of ``command`` run by bash in the repository root."""
    script = f'convcalc() {{ "{sys.executable}" -m convcalc "$@"; }}\n{command}'
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout + result.stderr


def excerpt(text: str, limit: int) -> str:
    """``text`` cut to its first and last lines when it has more than ``limit``."""
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= limit:
        return "\n".join(lines)
    head, tail = (limit * 2) // 3, limit // 3
    skipped = len(lines) - head - tail
    return "\n".join([*lines[:head], f"…  ({skipped} more lines)", *lines[-tail:]])


def main() -> None:
    """Rewrite README.md in place, or with ``--check`` report its stale blocks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=36, help="longest output kept whole")
    parser.add_argument(
        "--check", action="store_true", help="rewrite nothing; exit 1 if any block is stale"
    )
    arguments = parser.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    stale: list[str] = []

    def refresh(match: re.Match[str]) -> str:
        command = match.group("command")
        output = excerpt(run(command), arguments.lines)
        if output != match.group("output").rstrip("\n"):
            stale.append(stale_report(command, match.group("output"), output))
        return f"```console\n$ {command}\n{output}\n```"

    def refresh_file(match: re.Match[str]) -> str:
        command = match.group("command")
        output = run(command)
        if output != match.group("output"):
            stale.append(stale_report(command, match.group("output"), output))
        return f"<!-- file: {command} -->\n{match.group('fence')}{output}```"

    refreshed = FILE.sub(refresh_file, BLOCK.sub(refresh, text))
    if arguments.check:
        if stale:
            sys.stderr.write("".join(stale))
            sys.stderr.write(
                f"README.md: {len(stale)} console block(s) are stale; "
                "run python tools/update_readme.py\n"
            )
            sys.exit(1)
        return
    readme.write_text(refreshed, encoding="utf-8")
    for match in PICTURE.finditer(text):
        (ROOT / "docs" / "images").mkdir(parents=True, exist_ok=True)
        said = run(match.group("command"))
        if said:
            raise SystemExit(f"{match.group('command')}: {said}")


def stale_report(command: str, old: str, new: str) -> str:
    """A stale block: its command and the difference from the fresh output."""
    diff = difflib.unified_diff(
        old.rstrip("\n").splitlines(),
        new.splitlines(),
        "README.md",
        "fresh run",
        lineterm="",
    )
    return f"$ {command}\n" + "\n".join(diff) + "\n"


if __name__ == "__main__":
    main()
