"""Value lists and ranges on the command line: ``32,64,96``, ``256..1024``, ``256..1024:32``,
``32..256:*2``; ``HxW`` pairs of them for sizes."""

from __future__ import annotations

import re
from typing import Any

from convcalc.errors import UsageError

MAX_VALUES = 100_000
"""The most values one range may give (a typo such as ``1..1e9`` would otherwise hang)."""

_RANGE = re.compile(r"^\s*(\d+)\s*\.\.\s*(\d+)\s*(?::\s*(\*?)\s*(\d+)\s*)?$")


def is_range(text: str) -> bool:
    """Whether ``text`` is written as a range ``A..B[:STEP]``."""
    return ".." in text


def parse_range(text: str, flag: str) -> list[int]:
    """``A..B`` (every whole number), ``A..B:S`` (adding S), ``A..B:*F`` (multiplying by F),
    both ends included when reached. An empty range or a step that never moves is a usage
    error."""
    match = _RANGE.match(text)
    if match is None:
        raise UsageError(
            f"{flag}: cannot read the range `{text}`; write A..B, A..B:STEP or A..B:*F"
        )
    start, stop, multiply, step_text = match.groups()
    first, last = int(start), int(stop)
    step = int(step_text) if step_text is not None else 1
    if first > last:
        raise UsageError(f"{flag}: the range `{text}` is empty ({first} > {last})")
    if multiply:
        if step < 2 or first < 1:
            raise UsageError(
                f"{flag}: `{text}` never grows; a multiplying range needs a start ≥ 1 and a "
                "factor ≥ 2"
            )
        values = []
        value = first
        while value <= last:
            values.append(value)
            value *= step
        return values
    if step < 1:
        raise UsageError(f"{flag}: `{text}` has step 0; the step must be ≥ 1")
    count = (last - first) // step + 1
    if count > MAX_VALUES:
        raise UsageError(f"{flag}: `{text}` gives {count:,} values, more than {MAX_VALUES:,}")
    return list(range(first, last + 1, step))


def split_top_level(text: str, separator: str = ",") -> list[str]:
    """``text`` split at ``separator`` outside brackets and braces (``[3, 3],[5, 5]`` is two
    values)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_values(text: str, flag: str) -> list[Any]:
    """A comma-separated list whose items are ranges (whole numbers) or values read as in a
    spec (``same``, ``[3, 3]``, ``3x224x224``)."""
    from convcalc.errors import ConvcalcError
    from convcalc.yamlnodes import parse_yaml

    values: list[Any] = []
    for part in split_top_level(text):
        if not part.strip():
            raise UsageError(f"{flag}: an empty value in `{text}`")
        if is_range(part):
            values.extend(parse_range(part, flag))
            continue
        try:
            values.append(parse_yaml(part, None))
        except ConvcalcError as error:
            raise UsageError(f"{flag}: `{part}` is not a valid value ({error.message})") from None
    return values


def parse_sizes(text: str, flag: str = "--sizes") -> list[tuple[int, int]]:
    """Input sizes: ``A..B[:STEP]`` or ``N`` (square), or ``HRANGExWRANGE`` (every pair)."""
    parts = re.split(r"[xX×]", text)
    if len(parts) == 1:
        sides = parse_side(text, flag)
        return [(side, side) for side in sides]
    if len(parts) != 2:
        raise UsageError(f"{flag}: expected N, A..B[:STEP] or HxW ranges, got `{text}`")
    heights, widths = (parse_side(part, flag) for part in parts)
    if len(heights) * len(widths) > MAX_VALUES:
        raise UsageError(f"{flag}: `{text}` gives more than {MAX_VALUES:,} sizes")
    return [(height, width) for height in heights for width in widths]


def parse_side(text: str, flag: str) -> list[int]:
    """One side: a whole number ≥ 1 or a range."""
    text = text.strip()
    if is_range(text):
        sides = parse_range(text, flag)
    elif text.isdigit():
        sides = [int(text)]
    else:
        raise UsageError(f"{flag}: `{text}` is not a size or a range A..B[:STEP]")
    if sides[0] < 1:
        raise UsageError(f"{flag}: sizes start at 1, got {sides[0]}")
    return sides
