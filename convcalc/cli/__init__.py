"""The ``convcalc`` command line: parse options, call the library, render, map errors to exit codes.

One module per command (each registers itself on the shared typer app); what they share is in
:mod:`convcalc.cli.common`, and where output goes in :mod:`convcalc.cli.output`. Heavy modules
(pydantic, YAML, rich) are imported inside the commands that need them, so that
``convcalc layer … --json`` starts about as fast as Python itself.
"""

import gc
import os
import sys

from convcalc.cli import analyze, draw, importer, layer, report, schema, zoo
from convcalc.cli.common import Dtype, Optimizer, app
from convcalc.cli.output import StdoutClosed
from convcalc.errors import ExitCode

__all__ = [
    "Dtype",
    "Optimizer",
    "analyze",
    "app",
    "draw",
    "importer",
    "layer",
    "main",
    "report",
    "schema",
    "zoo",
]


def main() -> None:
    """Console-script entry point."""
    # One short run builds a large tree of objects that all live until the end (the spec, the
    # rows): the cyclic collector would re-scan it again and again as it grows (a third of the
    # time of a 100,000-layer spec) and find nothing to free. Reference counting still frees.
    gc.disable()
    try:
        try:
            app()
        finally:
            # Flush here, where a closed pipe is caught, not at exit where Python would
            # print "Exception ignored … BrokenPipeError".
            if sys.stdout is not None:
                sys.stdout.flush()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
    except (BrokenPipeError, StdoutClosed):
        # The reader went away (`convcalc … | head`); say nothing and don't let Python complain.
        if sys.stdout is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitCode.OK)
    finally:
        gc.enable()
