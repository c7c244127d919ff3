"""The exceptions convcalc raises, and the exit codes the CLI maps them to.

Every user-facing problem is a :class:`ConvcalcError`. Each one knows where it happened (a file,
line and column when the spec came from text, and the path of the layer in the network) and
renders itself as one line: ``net.yaml:14:7: layers[3] conv "conv2": message``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from functools import lru_cache
from typing import Any, NamedTuple


class ExitCode(IntEnum):
    """Process exit statuses: 0 ok, 1 bad spec or impossible shapes, 2 command-line usage."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


class Location(NamedTuple):
    """Where a problem is: source file, 1-based line and column, and the path inside the spec."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            position = self.file
            if self.line is not None:
                position += f":{self.line}"
                if self.column is not None:
                    position += f":{self.column}"
            parts.append(position)
        if self.path:
            parts.append(self.path)
        return ": ".join(parts)


class ConvcalcError(Exception):
    """Base of every error convcalc reports to a user instead of a traceback.

    ``partial`` is set by the loader on the problems of a spec it could read in part: the
    network without the items it could not read, for the analysis to look for more problems
    (the CLI reports them all at once)."""

    partial: Any = None

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location or Location()

    def located(self, **where: str | int | None) -> ConvcalcError:
        """A copy of this error with the given location fields filled in where still unknown."""
        known = {key: value for key, value in where.items() if getattr(self.location, key) is None}
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.location = self.location._replace(**known)  # type: ignore[arg-type]
        clone.args = self.args
        return clone

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message


class SpecError(ConvcalcError):
    """The spec text or a value in it is invalid (syntax, unknown key, wrong type or value)."""


class OptionError(SpecError):
    """An option of one layer has an invalid value; ``option`` names it, for locating."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


class ShapeError(ConvcalcError):
    """A layer cannot be applied to the shape that reaches it."""


class OutputError(ConvcalcError):
    """The result cannot be written where it was asked to go (``-o FILE``)."""


class StrictError(ConvcalcError):
    """A warning promoted to an error by ``--strict``."""


class UsageError(ConvcalcError):
    """The command line asks for something that does not exist (exit status 2), e.g. a
    ``--set`` path the spec does not have."""

    def detail(self) -> str:
        """Lines to print under the message (e.g. the input with a caret), or ``""``."""
        return ""


class PointedUsageError(UsageError):
    """A usage error in a piece of command-line text, shown under the message with a caret at
    ``column`` (0-based)."""

    def __init__(self, message: str, text: str, column: int) -> None:
        super().__init__(message)
        self.text = text
        self.column = column

    def detail(self) -> str:
        """The text with a caret under the problem."""
        return f"  {self.text}\n  {' ' * self.column}^"


MAX_ERRORS = 100
"""A spec with more problems shows this many and counts the rest (`… and N more problems`):
the first ones are what to fix first, and a flood would take long to word and to read."""


class SpecErrors(ConvcalcError):
    """Several independent problems found in one pass, reported together."""

    def __init__(self, errors: list[ConvcalcError], more: int = 0) -> None:
        lines = [str(error) for error in errors]
        if more:
            lines.append(f"… and {more:,} more problem{'s' if more != 1 else ''}")
        super().__init__("\n".join(lines))
        self.errors = errors
        self.more = more
        self.lines = lines


ECHO_LIMIT = 60
"""User text quoted in a message is cut to this many characters (a 100 KB name makes no
better message than its first 60 characters)."""


def shorten(text: object, limit: int = ECHO_LIMIT) -> str:
    """``text`` for quoting in a message: at most ``limit`` characters, cut with ``…``."""
    words = str(text)
    return words if len(words) <= limit else words[: limit - 1] + "…"


def suggestion(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` when one of ``choices`` is close to ``word``, else ``""``."""
    return _suggestion(str(word).lower(), choices if isinstance(choices, tuple) else tuple(choices))


@lru_cache(maxsize=4096)
def _suggestion(word: str, choices: tuple[str, ...]) -> str:
    """:func:`suggestion`, remembered: a spec with the same typo on 100,000 lines asks once."""
    if len(word) > ECHO_LIMIT:
        return ""  # no name is that long, so nothing is a near miss (and difflib would crawl)
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so that a message built
    from it stays on one line and cannot send escape sequences to the terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == " " else repr(char)[1:-1] for char in text)
