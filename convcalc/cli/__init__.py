"""The ``convcalc`` command line: parse options, call the library, render, map errors to exit codes.

One module per command (each registers itself on the shared typer app); what they share is in
:mod:`convcalc.cli.common`, and where output goes in :mod:`convcalc.cli.output`. Heavy modules
(pydantic, YAML, rich) are imported inside the commands that need them, so that
``convcalc layer … --json`` starts about as fast as Python itself.
"""

import gc
import sys

from convcalc.cli import (
    analyze,
    diff,
    draw,
    export,
    importer,
    layer,
    report,
    schema,
    solve,
    sweep,
    zoo,
)
from convcalc.cli.common import Dtype, Optimizer, app
from convcalc.cli.output import (
    StdoutClosed,
    Terminated,
    discard_stdout,
    reason,
    write_stderr,
)
from convcalc.errors import ExitCode

__all__ = [
    "Dtype",
    "Optimizer",
    "analyze",
    "app",
    "diff",
    "draw",
    "export",
    "importer",
    "layer",
    "main",
    "report",
    "schema",
    "solve",
    "sweep",
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
    except Terminated as stop:
        # Asked to stop (kill, a closed terminal) while writing a file: cleaned up, now quietly
        # end with the shell's status for that signal.
        sys.exit(128 + stop.signum)
    except (BrokenPipeError, StdoutClosed):
        # The reader went away (`convcalc … | head`); say nothing and don't let Python complain.
        discard_stdout()
        sys.exit(ExitCode.OK)
    except OSError as error:
        # Only click's own writes get here (help, a version) to a full or broken stdout: ours
        # are worded where they happen.
        write_stderr(f"cannot write to stdout: {reason(error)}\n")
        discard_stdout()
        sys.exit(ExitCode.ERROR)
    finally:
        gc.enable()
