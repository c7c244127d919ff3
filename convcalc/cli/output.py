"""Where results go: stdout (a reader that leaves early ends the run quietly) or a file
written atomically with ``-o``, with the manners of a shell's ``>``."""

import errno
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

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
    except (OSError, ValueError) as error:
        # ValueError: a stdout closed from inside Python ("I/O operation on closed file").
        raise OutputError(f"cannot write to stdout: {reason(error)}") from None


def write_stderr(text: str) -> None:
    """Write a message on stderr if it can be written: a closed or full stderr (`2>&-`,
    `2>/dev/full`) must not cost the results, so the message is then dropped."""
    try:
        if sys.stderr is not None:
            sys.stderr.write(text)
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def discard_stdout() -> None:
    """Point the stdout descriptor at /dev/null, so that Python's own flush at exit has nowhere
    to fail (after a closed pipe or a full disk, which were already dealt with)."""
    if sys.stdout is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class StdoutClosed(Exception):
    """The reader of stdout went away before the output was written."""


class Terminated(Exception):
    """SIGTERM or SIGHUP arrived while a file was being written (it was cleaned up)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def reason(error: Exception) -> str:
    """The operating system's words for ``error`` (``Permission denied``), else its text."""
    return (error.strerror if isinstance(error, OSError) else None) or str(error)


def write_output(path: Path, chunks: Iterable[str]) -> None:
    """Write text ``chunks`` to ``path`` as ``> path`` would, but atomically (see
    :func:`write_file`)."""
    write_file(path, (chunk.encode("utf-8") for chunk in chunks), lambda: write_stdout(chunks))


def write_file(path: Path, blocks: Iterable[bytes], to_stdout: Callable[[], None]) -> None:
    """Write ``blocks`` to ``path`` as ``> path`` would, but atomically: a failed or interrupted
    run never leaves half a file.

    Only a regular file is ever replaced. Our own stdout (``-o /dev/stdout`` with stdout
    redirected to a file) is written through by ``to_stdout``, after the output already there; a
    device or a FIFO is written into. A regular file gets the whole output in a short-named
    temporary file beside it (through a symlink, beside the file it points to), which then
    replaces it in one rename, keeping its mode and owner. Where a rename would lose what ``>``
    keeps (a file with several hard links, an owner the process cannot give the new file, a
    directory it cannot write), the finished output is copied into the file instead. A file
    without write permission is refused, as ``>`` refuses it. ``-o -`` is stdout, as in most
    tools (a file named ``-`` is written with a longer path to it, ``-o "$PWD/-"``)."""
    if str(path) == "-":
        to_stdout()
        return
    try:
        status: os.stat_result | None = path.stat()
    except FileNotFoundError:
        status = None
    except OSError as error:
        raise OutputError(f"cannot write {path}: {reason(error)}") from None
    if status is not None and is_stdout(status):
        to_stdout()
        return
    import stat

    target = Path(os.path.realpath(path))
    try:
        if status is not None and not stat.S_ISREG(status.st_mode):
            with path.open("wb") as stream:
                stream.writelines(blocks)
            return
        if status is not None and not os.access(target, os.W_OK):
            raise PermissionError(errno.EACCES, "Permission denied")
        with cleaned_up_on_signals():
            replace_file(target, status, blocks)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {reason(error)}") from None


def is_stdout(status: os.stat_result) -> bool:
    """Whether ``status`` is the file our stdout is open on."""
    try:
        ours = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (ours.st_dev, ours.st_ino) == (status.st_dev, status.st_ino)


def replace_file(target: Path, status: os.stat_result | None, blocks: Iterable[bytes]) -> None:
    """Write ``blocks`` to a temporary file beside ``target``, then rename it over ``target``
    or (where a rename would lose links or the owner) copy it into ``target``."""
    import tempfile

    try:
        handle, name = tempfile.mkstemp(prefix=".convcalc-", suffix=".tmp", dir=target.parent)
    except PermissionError:
        if status is None:
            raise
        # A writable file in a directory we cannot write: > would write in place, so do we,
        # once the whole text is ready.
        data = b"".join(blocks)
        with target.open("wb") as stream:
            stream.write(data)
        return
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.writelines(blocks)
        if status is not None and (status.st_nlink > 1 or not took_owner(temporary, status)):
            copy_into(temporary, target)
            return
        temporary.chmod(new_file_mode() if status is None else status.st_mode & 0o7777)
        temporary.replace(target)
    finally:
        # Also on Ctrl-C, SIGTERM or SIGHUP: the temporary file must not stay behind.
        temporary.unlink(missing_ok=True)


def took_owner(temporary: Path, status: os.stat_result) -> bool:
    """Give ``temporary`` the owner and group of the file it replaces; False if not allowed."""
    if (status.st_uid, status.st_gid) == (os.geteuid(), os.getegid()):
        return True
    try:
        os.chown(temporary, status.st_uid, status.st_gid)
    except OSError:
        return False
    return True


def copy_into(source: Path, target: Path) -> None:
    """Copy the finished ``source`` into the existing ``target``, which keeps its inode."""
    import shutil

    with source.open("rb") as reader, target.open("wb") as writer:
        shutil.copyfileobj(reader, writer)


def new_file_mode() -> int:
    """The permissions a shell gives a new file: 0666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def cleaned_up_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` inside the block (as SIGINT raises
    KeyboardInterrupt), so its clean-up runs before the process ends."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, terminate)
        except ValueError:
            break  # not the main thread: signals cannot be caught here
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def same_file(output: Path, spec: str) -> bool:
    """Whether ``output`` names the spec file ``spec`` (by another relative path, a symlink or a
    hard link too)."""
    if spec == "-" or spec.startswith("zoo:"):
        return False
    if os.path.realpath(output) == os.path.realpath(spec):
        return True
    try:
        return output.samefile(spec)
    except OSError:
        return False


def write_binary(path: Path | None, data: bytes) -> None:
    """Write binary ``data`` (a PNG) to ``path`` as :func:`write_output` writes text, or to
    stdout (``path`` None) when it is not a terminal, where the bytes would garble the screen."""
    if path is None:
        write_stdout_bytes(data)
    else:
        write_file(path, [data], lambda: write_stdout_bytes(data))


def write_stdout_bytes(data: bytes) -> None:
    """Write ``data`` to stdout, unless it is a terminal (see :func:`write_stdout`)."""
    if sys.stdout is None or sys.stdout.isatty():
        raise OutputError("a PNG is binary and stdout is a terminal: write it with -o FILE")
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError as error:
        raise StdoutClosed from error
    except (OSError, ValueError) as error:
        raise OutputError(f"cannot write to stdout: {reason(error)}") from None


def refuse_terminal(output: Path | None, what: str) -> None:
    """Refuse (a usage error) to print ``what`` — a page, a drawing, binary — on a terminal,
    where it would fill or garble the screen: it is meant for a file or a pipe."""
    to_stdout = output is None or str(output) == "-"
    if to_stdout and sys.stdout is not None and sys.stdout.isatty():
        from convcalc.errors import UsageError

        raise UsageError(f"{what} and stdout is a terminal: write it with -o FILE or redirect it")
