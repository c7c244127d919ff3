"""Reading what a program wrote to a pseudo-terminal, for the tests that run convcalc in one."""

from __future__ import annotations

import os


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
