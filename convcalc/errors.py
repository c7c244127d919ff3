"""The exceptions convcalc raises, and the exit codes the CLI maps them to.

Every user-facing problem is a :class:`ConvcalcError`. Each one knows where it happened (a file,
line and column when the spec came from text, and the path of the layer in the network) and
renders itself as one line: ``net.yaml:14:7: layers[3] conv "conv2": message``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import NamedTuple


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
    """Base of every error convcalc reports to a user instead of a traceback."""

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


class SpecErrors(ConvcalcError):
    """Several independent problems found in one pass, reported together."""

    def __init__(self, errors: list[ConvcalcError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


def suggestion(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` when one of ``choices`` is close to ``word``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(str(word).lower(), list(choices), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped, so that a message built
    from it stays on one line and cannot send escape sequences to the terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == " " else repr(char)[1:-1] for char in text)
