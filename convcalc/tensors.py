"""Shapes and value types as users write them: ``3x32x32``, ``[3, 32, 32]``, ``4096``."""

from __future__ import annotations

import math
import re

from convcalc.errors import OptionError, SpecError, shorten
from convcalc.layers.base import Shape, format_shape

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
"""Bytes per value of each supported dtype."""

MAX_DIMENSION = 2**31 - 1
"""No real tensor dimension is larger; bigger numbers are typos or attacks."""

_SEPARATORS = re.compile(r"\s*[xX×*]\s*")
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
PAIR_TEXT = r"\s*([0-9]{1,12})\s*[xX×]\s*([0-9]{1,12})\s*"
"""``3x5``: an ``[h, w]`` pair written as on the command line (a regular expression that JSON
Schema's patterns read too)."""
_PAIR = re.compile(PAIR_TEXT)

_OTHER_SEPARATORS = re.compile(r"\s*[,;/]\s*|\s+")


def parse_shape(value: object) -> Shape:
    """A per-sample shape from ``3x32x32`` (also ``X``, ``×``, ``*``), ``[3, 32, 32]`` or ``4096``.

    Images are C×H×W, vectors a single D; every size must be a whole number ≥ 1.
    """
    if isinstance(value, bool):
        raise SpecError(f"expected a shape like 3x32x32 or 4096, got {value}")
    if isinstance(value, int):
        sizes: list[object] = [value]
    elif isinstance(value, str):
        text = value.strip()
        sizes = [
            int(part) if _INTEGER.fullmatch(part) else part for part in _SEPARATORS.split(text)
        ]
    elif isinstance(value, list | tuple):
        sizes = list(value)
    else:
        raise SpecError(f"expected a shape like 3x32x32 or 4096, got {shorten(value)!r}")
    if len(sizes) not in (1, 3):
        raise SpecError(
            "expected C×H×W (an image) or D (a vector), "
            f"got {len(sizes)} sizes in {shorten(value)!r}"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int):
            numbers = _OTHER_SEPARATORS.split(size.strip()) if isinstance(size, str) else []
            if len(numbers) > 1 and all(_INTEGER.fullmatch(number) for number in numbers):
                raise SpecError(
                    f"{shorten(value)!r}: sizes are separated by x, as in {'x'.join(numbers)}"
                )
            raise SpecError(f"{shorten(size)!r} in {shorten(value)!r} is not a whole number")
        if size < 1:
            raise SpecError(f"sizes must be ≥ 1, got {size} in {shorten(value)!r}")
        if size > MAX_DIMENSION:
            raise SpecError(
                f"{magnitude(size)} in {shorten(value)!r} is larger than any real tensor dimension"
            )
    return tuple(sizes)  # type: ignore[arg-type]


def parse_pair_text(text: str) -> tuple[int, int] | None:
    """``3x5`` → ``(3, 5)``; None for any other text."""
    match = _PAIR.fullmatch(text)
    return None if match is None else (int(match[1]), int(match[2]))


def channels_last_warning(shape: Shape) -> str | None:
    """A warning for an image shape that looks channels-last (H×W×C: the last size 1, 3 or 4
    and much smaller than the first two), as convcalc reads C×H×W; None otherwise."""
    if len(shape) != 3:
        return None
    first, second, last = shape
    if last not in (1, 3, 4) or min(first, second) < max(8, 4 * last):
        return None
    return (
        f"input {format_shape(shape)} looks channels-last (H×W×C): convcalc reads C×H×W, "
        f"{first} channels of {second}×{last}; for {last} channel{'s' if last > 1 else ''} "
        f"of {first}×{second} write {last}x{first}x{second}"
    )


def dtype_bytes(dtype: str) -> int:
    """Bytes per value of ``dtype``; a :class:`SpecError` names the choices otherwise."""
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise SpecError(
            f"unknown dtype {shorten(dtype)!r}; choose one of {', '.join(DTYPE_BYTES)}"
        ) from None


def check_magnitude(option: str, value: object) -> None:
    """Refuse a whole number beyond :data:`MAX_DIMENSION` (alone or in ``[h, w]``) and a float
    that is not finite (``.nan``, ``.inf``, ``1e400``) with an :class:`OptionError`."""
    for item in value if isinstance(value, tuple) else (value,):
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and abs(item) > MAX_DIMENSION:
            raise OptionError(
                option,
                f"{magnitude(item)} is larger than any real tensor dimension "
                f"(at most {MAX_DIMENSION:,})",
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise OptionError(option, f"expected a finite number, got {item}")


def magnitude(number: int) -> str:
    """A whole number for a message: ``12,345``, or ``a 31-digit number`` when it is long."""
    digits = len(str(abs(number)))
    return f"{number:,}" if digits <= 15 else f"a {digits}-digit number"
