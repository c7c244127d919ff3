"""Layer options: their types, read from each kind's dataclass, and their strict validation.

The authority is a strict pydantic-core validator built once per kind from the dataclass
annotations: whole numbers are not booleans, numbers may be whole, ``[h, w]`` is a pair of whole
numbers, words are literals, unknown options are refused and options without a default are
required. Importing pydantic-core costs more start-up time than everything else ``analyze``
does for a ResNet, and a large spec validates thousands of option sets, so each value is first
checked by a plain test built from the same annotation; only options that fail it — or that a
plain test cannot judge — go to the validator, which then either accepts them or says exactly
what is wrong. ``tests/test_options.py`` checks that the plain tests accept nothing the validator
would not accept as the same value.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Any, Literal

from convcalc.layers.base import Layer

if TYPE_CHECKING:
    from pydantic_core import SchemaValidator, core_schema

REJECTED: Any = object()
"""What a plain check gives for a value it does not accept (``None`` is a valid option value)."""

Check = Callable[[Any], Any]
"""A plain check: the validated value, or :data:`REJECTED`."""


class InvalidOptions(Exception):
    """Options that do not validate; ``problems`` are pydantic-core's, one dict per problem
    (``type``, ``loc``, ``input``…)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} invalid option(s)")
        self.problems = problems


def validated_options(kind: type[Layer], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` validated as ``kind``'s options (see the module docstring); raises
    :class:`InvalidOptions`."""
    plain = plain_options(kind, values)
    if plain is not None:
        return plain
    from pydantic_core import ValidationError

    try:
        return options_validator(kind).validate_python(values)  # type: ignore[no-any-return]
    except ValidationError as error:
        raise InvalidOptions([dict(problem) for problem in error.errors()]) from None


# --- the types of a kind's options ----------------------------------------------------------

_OPTION_TYPES: dict[type[Layer], dict[str, Any]] = {}


def option_types(kind: type[Layer]) -> dict[str, Any]:
    """Each option of ``kind`` → its resolved annotation (``int | tuple[int, int]``…)."""
    types_of = _OPTION_TYPES.get(kind)
    if types_of is None:
        hints = typing.get_type_hints(kind)
        types_of = _OPTION_TYPES[kind] = {field.name: hints[field.name] for field in fields(kind)}
    return types_of


def required_options(kind: type[Layer]) -> tuple[str, ...]:
    """The options of ``kind`` without a default."""
    return tuple(
        field.name
        for field in fields(kind)
        if field.default is MISSING and field.default_factory is MISSING
    )


def all_defaulted(kind: type[Layer]) -> bool:
    """Whether every option of ``kind`` has a default (so ``kind()`` is valid)."""
    return not required_options(kind)


def is_union(annotation: Any) -> bool:
    """Whether ``annotation`` is ``A | B`` (or ``Optional[A]``)."""
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def takes_pair(kind: type[Layer], option: str) -> bool:
    """Whether ``option`` of ``kind`` takes an ``[h, w]`` pair (then ``3x5`` is accepted too)."""
    annotation = option_types(kind).get(option)
    members = typing.get_args(annotation) if is_union(annotation) else (annotation,)
    return any(typing.get_origin(member) is tuple for member in members)


def describe(annotation: Any) -> str:
    """What a value of ``annotation`` looks like, in a user's words."""
    choices = typing.get_args(annotation) if is_union(annotation) else (annotation,)
    words = []
    for choice in choices:
        if choice is type(None):
            continue
        if typing.get_origin(choice) is Literal:
            words += [str(value) for value in typing.get_args(choice)]
        elif typing.get_origin(choice) is tuple:
            words.append("[h, w]")
        else:
            words.append(
                {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(
                    choice, str(choice)
                )
            )
    return " or ".join(dict.fromkeys(words))


# --- plain checks ----------------------------------------------------------------------------

_PLAIN_CHECKS: dict[type[Layer], tuple[dict[str, Check], tuple[str, ...]]] = {}


def plain_options(kind: type[Layer], values: dict[str, Any]) -> dict[str, Any] | None:
    """``values`` as the validator would return them when every one passes its plain check and
    no required option is missing; ``None`` otherwise (the validator then decides)."""
    checks = _PLAIN_CHECKS.get(kind)
    if checks is None:
        checks = _PLAIN_CHECKS[kind] = (
            {name: plain_check(annotation) for name, annotation in option_types(kind).items()},
            required_options(kind),
        )
    by_name, required = checks
    validated = {}
    for name, value in values.items():
        check = by_name.get(name)
        if check is None:
            return None
        value = check(value)
        if value is REJECTED:
            return None
        validated[name] = value
    if any(name not in validated for name in required):
        return None
    return validated


def plain_check(annotation: Any) -> Check:
    """The plain check of one annotation, accepting exactly what strict validation accepts
    unchanged or converts the one way it does (a whole number for a float becomes a float)."""
    if is_union(annotation):
        members = [plain_check(member) for member in typing.get_args(annotation)]
        return lambda value: one_of(members, value)
    if annotation is type(None):
        return lambda value: None if value is None else REJECTED
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        return lambda value: (
            value if any(type(value) is type(c) and value == c for c in choices) else REJECTED
        )
    if typing.get_origin(annotation) is tuple:
        items = [plain_check(item) for item in typing.get_args(annotation)]
        return lambda value: each_of(items, value)
    if annotation is float:
        return as_float
    exact: type = annotation
    return lambda value: value if type(value) is exact else REJECTED


def as_float(value: Any) -> Any:
    """A float option: a float, or a whole number as a float (one too large for a float is left
    to the validator, which refuses it in words)."""
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            return REJECTED
    return REJECTED


def one_of(members: list[Check], value: Any) -> Any:
    """A union: the value of the one member that accepts it (none, or several — for which the
    validator's own choice rules decide — reject)."""
    accepted = [result for result in (check(value) for check in members) if result is not REJECTED]
    return accepted[0] if len(accepted) == 1 else REJECTED


def each_of(items: list[Check], value: Any) -> Any:
    """A fixed-length tuple: every item accepted by its own check."""
    if type(value) is not tuple or len(value) != len(items):
        return REJECTED
    checked = tuple(check(item) for check, item in zip(items, value, strict=True))
    return REJECTED if any(item is REJECTED for item in checked) else checked


# --- the validator -----------------------------------------------------------------------------

_OPTION_VALIDATORS: dict[type[Layer], SchemaValidator] = {}


def value_schema(annotation: Any) -> core_schema.CoreSchema:
    """The strict pydantic-core schema of one option's annotation."""
    from pydantic_core import core_schema

    if is_union(annotation):
        members = [choice for choice in typing.get_args(annotation) if choice is not type(None)]
        schema = (
            value_schema(members[0])
            if len(members) == 1
            else core_schema.union_schema([value_schema(choice) for choice in members])
        )
        nullable = type(None) in typing.get_args(annotation)
        return core_schema.nullable_schema(schema) if nullable else schema
    if typing.get_origin(annotation) is Literal:
        return core_schema.literal_schema(list(typing.get_args(annotation)))
    if typing.get_origin(annotation) is tuple:
        return core_schema.tuple_schema(
            [value_schema(item) for item in typing.get_args(annotation)], strict=True
        )
    scalars: dict[Any, Any] = {
        int: core_schema.int_schema,
        float: core_schema.float_schema,
        bool: core_schema.bool_schema,
        str: core_schema.str_schema,
    }
    return scalars[annotation](strict=True)  # type: ignore[no-any-return]


def options_validator(kind: type[Layer]) -> SchemaValidator:
    """The strict validator of ``kind``'s options, built once: the same names and types as its
    dataclass, unknown options refused, options without a default required. It is built with
    pydantic's core directly, which costs a fraction of a millisecond where a pydantic model's
    schema generation costs tens."""
    from pydantic_core import SchemaValidator, core_schema

    validator = _OPTION_VALIDATORS.get(kind)
    if validator is None:
        required = required_options(kind)
        schema = core_schema.typed_dict_schema(
            {
                name: core_schema.typed_dict_field(
                    value_schema(annotation), required=name in required
                )
                for name, annotation in option_types(kind).items()
            },
            extra_behavior="forbid",
            strict=True,
        )
        validator = _OPTION_VALIDATORS[kind] = SchemaValidator(schema)
    return validator
