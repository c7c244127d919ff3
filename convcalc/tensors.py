"""Shapes and value types as users write them: ``3x32x32``, ``[3, 32, 32]``, ``4096``."""

from __future__ import annotations

import math
import re

from convcalc.errors import OptionError, SpecError, shorten
from convcalc.layers.base import Shape

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
"""Bytes per value of each supported dtype."""

MAX_DIMENSION = 2**31 - 1
"""No real tensor dimension is larger; bigger numbers are typos or attacks."""

_SEPARATORS = re.compile(r"\s*[xX×*]\s*")
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")


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
            raise SpecError(f"{shorten(size)!r} in {shorten(value)!r} is not a whole number")
        if size < 1:
            raise SpecError(f"sizes must be ≥ 1, got {size} in {shorten(value)!r}")
        if size > MAX_DIMENSION:
            raise SpecError(
                f"{magnitude(size)} in {shorten(value)!r} is larger than any real tensor dimension"
            )
    return tuple(sizes)  # type: ignore[arg-type]


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
