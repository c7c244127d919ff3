"""Plain-Python coercion of command-line values for typer, so that parsing needs no pydantic.

Typer ≥ 0.2x converts every option's value — even an absent one — through a pydantic
``TypeAdapter``: the first option parsed imports pydantic and each one builds a validation
schema, which costs more than all of convcalc's own work for ``convcalc layer``. convcalc's
options only take text, whole numbers, numbers, an enum choice, a path or a flag, so
:func:`install` gives typer a coercion for those that is plain Python. It converts only what it
can convert exactly as typer would (``12``, ``1e-5``, ``JSON`` for a case-insensitive choice, an
in-range number); every other value — a malformed number, an out-of-range batch, an unknown
choice, any annotation it does not know — goes to typer's own coercion, so the results and the
error messages are typer's in every case (``tests/test_startup.py`` checks both against typer).

It replaces a typer internal (``typer.core.build_runtime_param``), so it is installed only on
the typer releases it was written for and checked against, :data:`TYPER_RELEASES`; on any other
release typer's own coercion runs unchanged (pyproject pins typer to releases convcalc runs on;
``tests/test_startup.py`` runs both paths).

Gain, re-measured by ``benchmarks/run.py`` (the "typer's own coercion" case): ``convcalc layer
… --json`` takes about 0.1 s less with it (on the benchmark machine, about 40 % of the run), as
pydantic is never imported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?(?:[eE]-?[0-9]{1,2})?")

TYPER_RELEASES = ((0, 29), (0, 30))
"""The typer releases this coercion is written for: from 0.29 (the first to coerce through
pydantic) up to, not including, 0.30."""

UNCHANGED = object()
"""What :func:`plain_value` returns when it leaves a value to typer."""


def plain_value(annotation: Any, info: Any, value: Any, normalize: Any = None) -> Any:
    """``value`` coerced to ``annotation`` as typer's pydantic adapter would, or ``UNCHANGED``.

    ``info`` is typer's ``ParameterInfo`` (range, case sensitivity, path checks); ``normalize``
    is the context's token normalisation function, if any (then choices go to typer).
    """
    if annotation is str:
        return value if isinstance(value, str) else UNCHANGED
    if annotation is bool:
        return value if isinstance(value, bool) else UNCHANGED
    if annotation is int or annotation is float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return UNCHANGED
        if isinstance(value, str):
            pattern = _INT if annotation is int else _FLOAT
            if not pattern.fullmatch(value):
                return UNCHANGED
        number = annotation(value)
        if isinstance(value, float) and annotation is int:
            return UNCHANGED
        below = info.min is not None and number < info.min
        above = info.max is not None and number > info.max
        return UNCHANGED if below or above else number
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, str) or normalize is not None:
            return UNCHANGED
        wanted = value if info.case_sensitive else value.casefold()
        for member in annotation:
            text = str(member.value)
            if (text if info.case_sensitive else text.casefold()) == wanted:
                return member
        return UNCHANGED
    if annotation is Path and _plain_path_options(info):
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value:
            return UNCHANGED
        # typer refuses an existing path that cannot be read: leave that case to its message.
        if os.path.lexists(value) and not os.access(value, os.R_OK):
            return UNCHANGED
        return Path(value)
    return UNCHANGED


def _plain_path_options(info: Any) -> bool:
    """A path option with typer's defaults: no existence, type, resolution or dash handling."""
    return (
        not info.exists
        and info.file_okay
        and info.dir_okay
        and not info.writable
        and not info.resolve_path
        and not info.allow_dash
        and info.path_type is None
    )


def written_for(version: str) -> bool:
    """Whether typer ``version`` (``0.29.2``) is one of :data:`TYPER_RELEASES`."""
    numbers = re.match(r"(\d+)\.(\d+)", version)
    if numbers is None:
        return False
    release = (int(numbers[1]), int(numbers[2]))
    first, beyond = TYPER_RELEASES
    return first <= release < beyond


def install() -> bool:
    """Make typer try :func:`plain_value` before its pydantic coercion; True if installed (on
    the typer releases it was written for only)."""
    import typer

    if not written_for(typer.__version__):
        return False
    from typer import _coercion, core

    original: Callable[[Any], Any] = core.build_runtime_param  # type: ignore[attr-defined]
    if getattr(original, "convcalc_plain", False):
        return True

    class PlainRuntimeParam(_coercion.RuntimeParam):
        """Converts plain values itself; anything else through typer's own runtime param."""

        descriptor: Any

        def __init__(self, descriptor: Any) -> None:
            super().__init__(
                annotation=descriptor.annotation, parameter_info=descriptor.parameter_info
            )
            object.__setattr__(self, "descriptor", descriptor)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            normalize = getattr(ctx, "token_normalize_func", None)
            result = plain_value(self.annotation, self.parameter_info, value, normalize)
            if result is UNCHANGED:
                return original(self.descriptor)._coerce_value(value, param=param, ctx=ctx)
            return result

    def build_runtime_param(descriptor: Any) -> Any:
        plain = descriptor.parameter_info.parser is None and (
            descriptor.annotation in (str, bool, int, float, Path)
            or (isinstance(descriptor.annotation, type) and issubclass(descriptor.annotation, Enum))
        )
        return PlainRuntimeParam(descriptor) if plain else original(descriptor)

    build_runtime_param.convcalc_plain = True  # type: ignore[attr-defined]
    core.build_runtime_param = build_runtime_param  # type: ignore[attr-defined]
    return True
