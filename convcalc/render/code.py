"""Python source laid out as ``ruff format`` (Black's style, default settings) would leave it.

Expressions are small trees (:class:`Call`, :class:`Splat`); :func:`layout` writes one on a
single line when it fits in :data:`LINE_LENGTH` columns with its comment, else its arguments on
one line of their own between the brackets when they fit there, else one argument per line with
a trailing comma: the "magic trailing comma" that makes the formatter keep it so. A bracket that
holds a comment is never joined onto one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LINE_LENGTH = 88
"""ruff's (and Black's) default line length."""

INDENT = "    "


@dataclass(frozen=True)
class Arg:
    """One argument or element: its code and an optional comment after it."""

    code: Code
    comment: str = ""


@dataclass(frozen=True)
class Call:
    """``func(args…)``; with ``open``/``close`` ``[``/``]`` and no ``func``, a list display."""

    func: str
    args: tuple[Arg, ...] = ()
    open: str = "("
    close: str = ")"


@dataclass(frozen=True)
class Splat:
    """``*[element for _ in range(count)]``: ``count`` identical modules."""

    element: Code
    count: str


Code = str | Call | Splat


@dataclass
class Lines:
    """Source lines being written, at an indentation level."""

    lines: list[str] = field(default_factory=list)

    def add(self, depth: int = 0, text: str = "") -> None:
        """One line at ``depth`` levels of indentation (an empty line when no text)."""
        self.lines.append(INDENT * depth + text if text else "")


def call(func: str, *args: Code) -> Call:
    """``func(args…)`` without comments."""
    return Call(func, tuple(Arg(arg) for arg in args))


def flat(code: Code) -> str:
    """The code on one line."""
    if isinstance(code, str):
        return code
    if isinstance(code, Splat):
        return f"*[{flat(code.element)} for _ in range({code.count})]"
    inner = ", ".join(flat(arg.code) for arg in code.args)
    return f"{code.func}{code.open}{inner}{code.close}"


def has_comments(code: Code) -> bool:
    """Whether some argument inside carries a comment (then its bracket cannot be joined)."""
    if isinstance(code, Call):
        return any(arg.comment or has_comments(arg.code) for arg in code.args)
    if isinstance(code, Splat):
        return has_comments(code.element)
    return False


def layout(code: Code, depth: int, head: str = "", tail: str = "", comment: str = "") -> list[str]:
    """The lines of ``head + code + tail  # comment`` at ``depth``."""
    indent = INDENT * depth
    note = f"  # {comment}" if comment else ""
    line = f"{indent}{head}{flat(code)}{tail}{note}"
    if isinstance(code, str) or (len(line) <= LINE_LENGTH and not has_comments(code)):
        return [line]
    if isinstance(code, Splat):
        loop = f"for _ in range({code.count})"
        inside = f"{indent}{INDENT}{flat(code.element)} {loop}"
        if len(inside) <= LINE_LENGTH and not has_comments(code.element):
            middle = [inside]
        else:
            middle = [*layout(code.element, depth + 1), f"{indent}{INDENT}{loop}"]
        return [f"{indent}{head}*[", *middle, f"{indent}]{tail}{note}"]
    inner = f"{indent}{INDENT}" + ", ".join(flat(arg.code) for arg in code.args)
    if len(inner) <= LINE_LENGTH and not has_comments(code):
        # The formatter's first choice: the arguments on one line of their own.
        return [f"{indent}{head}{code.func}{code.open}", inner, f"{indent}{code.close}{tail}{note}"]
    lines = [f"{indent}{head}{code.func}{code.open}"]
    for arg in code.args:
        lines += layout(arg.code, depth + 1, tail=",", comment=arg.comment)
    lines.append(f"{indent}{code.close}{tail}{note}")
    return lines


def literal(value: object) -> str:
    """A Python literal for an option value as ``ruff format`` writes it (double quotes)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, tuple | list):
        items = ", ".join(literal(item) for item in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    return repr(value)


def annotation(value: object) -> str:
    """The type of a block parameter, from its value: ``int``, ``tuple[int, int]``…"""
    if isinstance(value, tuple | list):
        return "tuple[" + ", ".join(annotation(item) for item in value) + "]"
    if value is None:
        return "None"
    return type(value).__name__
