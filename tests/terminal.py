"""Reading what a program wrote to a pseudo-terminal, for the tests that run convcalc in one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read_until_closed(leader: int) -> bytes:
    """Everything written to the pseudo-terminal whose leader end is ``leader``, until the
    program on the other end closes it (Linux then fails the read with EIO)."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the program ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def run_in_terminal(arguments: list[str], width: int, env: dict[str, str], status: int = 0) -> str:
    """What ``convcalc ARGUMENTS`` from this tree shows in a pseudo-terminal ``width`` columns
    wide (50 lines), with ``env`` (COLUMNS and LINES left out: the terminal's size rules),
    ending with exit ``status``."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    env = {**env, "PYTHONPATH": str(ROOT)}
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "convcalc", *arguments],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    written = read_until_closed(leader)
    os.close(leader)
    assert process.wait(timeout=60) == status
    return written.decode("utf-8").replace("\r\n", "\n")
