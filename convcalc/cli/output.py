"""Where results go: stdout (a reader that leaves early ends the run quietly) or a file
written atomically with ``-o``."""

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from convcalc.errors import OutputError


def write_stdout(chunks: Iterable[str]) -> None:
    """Write results to stdout. A reader that stopped early (`| head`) ends the run quietly
    (click would make a closed pipe exit 1); a closed or full stdout is one clear error."""
    try:
        if sys.stdout is None:
            raise OSError("stdout is closed")
        sys.stdout.writelines(chunks)
        sys.stdout.flush()
    except BrokenPipeError as error:
        raise StdoutClosed from error
    except OSError as error:
        raise OutputError(f"cannot write to stdout: {error.strerror or error}") from None


class StdoutClosed(Exception):
    """The reader of stdout went away before the output was written."""


def write_output(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to ``path`` atomically: a failed or interrupted run never leaves half a
    file. The text goes to a fresh temporary file beside the target (through a symlink, beside
    the file it points to), which then replaces the target in one rename; a new file gets the
    usual permissions (0666 minus the umask), a replaced one keeps its own."""
    import stat
    import tempfile

    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            # A device, FIFO or /dev/stdout is written to, never replaced by a regular file.
            write_special(path, chunks)
            return
    except OSError:
        pass
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    temporary: Path | None = None
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".convcalc-tmp", dir=target.parent
        )
        temporary = Path(name)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.writelines(chunks)
        temporary.chmod(mode)
        temporary.replace(target)
        temporary = None
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        # Also on Ctrl-C: the half-written temporary file must not stay behind.
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def write_special(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` into an existing file that is not a regular file (a device or a FIFO)."""
    try:
        with path.open("w", encoding="utf-8") as stream:
            stream.writelines(chunks)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def same_file(output: Path, spec: str) -> bool:
    """Whether ``output`` names the spec file ``spec`` (by another relative path, a symlink or a
    hard link too)."""
    if spec == "-" or spec.startswith("zoo:"):
        return False
    if output.resolve() == Path(spec).resolve():
        return True
    try:
        return output.samefile(spec)
    except OSError:
        return False


def write_binary(path: Path | None, data: bytes) -> None:
    """Write binary ``data`` (a PNG) to ``path`` as :func:`write_output` writes text: atomically,
    through a temporary file beside it. To stdout (``path`` None) only when it is not a terminal,
    where the bytes would garble the screen."""
    if path is None:
        if sys.stdout is None or sys.stdout.isatty():
            raise OutputError("a PNG is binary and stdout is a terminal: write it with -o FILE")
        sys.stdout.flush()
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except BrokenPipeError as error:
            raise StdoutClosed from error
        return
    import tempfile

    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        write_special_bytes(target, data)
        return
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".convcalc-tmp", dir=target.parent
        )
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        umask = os.umask(0)
        os.umask(umask)
        temporary.chmod(target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~umask)
        temporary.replace(target)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        temporary.unlink(missing_ok=True)


def write_special_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` into an existing file that is not a regular file (a device or a FIFO)."""
    try:
        with path.open("wb") as stream:
            stream.write(data)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
