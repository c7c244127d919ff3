"""Lay out DOT text with Graphviz's ``dot`` engine: the system ``dot`` when there is one, else the
``graphviz-pure`` wheel's (a pip dependency, so a plain ``pip install`` draws SVG and PNG).

Both are the same command line (``-Tsvg``, ``-Tpng``, ``-Tcanon``), fed the text on stdin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from convcalc.errors import ConvcalcError

PNG_DPI = 144
"""Pixels per inch of a PNG: twice Graphviz's 72, so that text stays sharp on a high-density
screen and when zoomed in."""


class LayoutError(ConvcalcError):
    """Graphviz could not be found or could not lay out the graph."""


def engines() -> list[str]:
    """The layout commands to try, in order: ``dot`` on the PATH, then ``graphviz-pure`` on the
    PATH or beside this Python's scripts (a venv that was not activated)."""
    found = [shutil.which("dot"), shutil.which("graphviz-pure")]
    beside = Path(sysconfig.get_path("scripts")) / "graphviz-pure"
    if beside.is_file() and os.access(beside, os.X_OK):
        found.append(str(beside))
    return [command for command in found if command is not None]


def layout(dot: str, output_format: str, engine: str | None = None) -> bytes:
    """``dot`` laid out and rendered as ``output_format`` (``svg``, ``png``, ``canon``…) by
    ``engine`` (default: the first of :func:`engines`)."""
    if engine is None:
        available = engines()
        if not available:
            raise LayoutError(
                "no Graphviz layout engine: install the graphviz-pure package "
                "(pip install graphviz-pure) or Graphviz's dot"
            )
        engine = available[0]
    command = [engine, f"-T{output_format}"]
    if output_format == "png":
        command.append(f"-Gdpi={PNG_DPI}")
    try:
        result = subprocess.run(command, input=dot.encode(), capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LayoutError(f"cannot run {engine}: {error}") from None
    if result.returncode != 0:
        # Graphviz's warnings (fonts, sizes) come before the error; the last line says what failed.
        lines = result.stderr.decode(errors="replace").strip().splitlines() or ["no message"]
        raise LayoutError(f"{Path(engine).name} failed to lay out the graph: {lines[-1]}")
    return result.stdout
