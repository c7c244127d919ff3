"""Layer options: one model of what each option takes, from which every use of it is derived.

A kind's options are its dataclass fields. Each field's annotation is read here, once, into an
:class:`OptionType` (a whole number, a number, a flag, text, words such as ``same``, ``[h, w]``,
or a union of these), and everything else asks that type:

- the **plain check** a spec's value passes (or not) without pydantic;
- the **strict validator** (pydantic-core) that judges and words the values the plain check
  leaves to it;
- the **words** that describe it in messages (``a whole number or [h, w]``);
- its **JSON Schema**, for ``convcalc schema``;
- how a **command-line** value is read (``3``, ``3x5``, ``same``) for ``convcalc layer``, whose
  flags are generated from every kind's options (:class:`KindOptions`).

Importing pydantic-core costs more start-up time than everything else ``analyze`` does for a
ResNet, and a large spec validates thousands of option sets, so each value is first checked by
the plain check; only options that fail it go to the validator, which then either accepts them
or says exactly what is wrong. ``tests/test_options.py`` holds the plain checks to the validator.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Any, Literal

from convcalc.errors import SpecError, shorten
from convcalc.layers.base import Layer
from convcalc.tensors import MAX_DIMENSION

if TYPE_CHECKING:
    from pydantic_core import SchemaValidator, core_schema

REJECTED: Any = object()
"""What a plain check gives for a value it does not accept (``None`` is a valid option value)."""

Check = Callable[[Any], Any]
"""A plain check: the validated value, or :data:`REJECTED`."""

_NUMBERS = re.compile(r"\s*[xX×*,]\s*")
_NUMBER_TEXT = re.compile(r"[\s0-9xX×*,+-]+")


class InvalidOptions(Exception):
    """Options that do not validate; ``problems`` are pydantic-core's, one dict per problem
    (``type``, ``loc``, ``input``…)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} invalid option(s)")
        self.problems = problems


# --- what one option takes ---------------------------------------------------------------------


class OptionType(ABC):
    """What one option takes, read from its annotation by :func:`option_type`."""

    words: tuple[str, ...] = ()
    """How a user would describe its values, one phrase per alternative."""

    @abstractmethod
    def check(self, value: Any) -> Any:
        """``value`` as strict validation would return it, or :data:`REJECTED` when the plain
        check cannot accept it (the validator then decides)."""

    @abstractmethod
    def core_schema(self) -> core_schema.CoreSchema:
        """The strict pydantic-core schema of its values."""

    @abstractmethod
    def json_schema(self) -> dict[str, Any]:
        """Its JSON Schema (keys in order, as pydantic writes them)."""

    @abstractmethod
    def from_text(self, text: str) -> Any:
        """A command-line value as the value it stands for; raises :class:`SpecError`."""

    @property
    def choices(self) -> tuple[str, ...]:
        """The words it takes (``same``, ``valid``…), if any."""
        return ()

    @property
    def takes_pair(self) -> bool:
        """Whether it takes ``[h, w]`` (``HxW`` on the command line)."""
        return False

    def describe(self) -> str:
        """Its values in a user's words: ``a whole number or [h, w]``."""
        return " or ".join(dict.fromkeys(self.words))


class Scalar(OptionType):
    """A whole number, a number, true or false, or text."""

    NAMES: typing.ClassVar[dict[type, tuple[str, str]]] = {
        int: ("a whole number", "integer"),
        float: ("a number", "number"),
        bool: ("true or false", "boolean"),
        str: ("text", "string"),
    }

    def __init__(self, python_type: type) -> None:
        self.python_type = python_type
        self.words = (self.NAMES[python_type][0],)

    def check(self, value: Any) -> Any:
        # Exactly this type (a bool is no whole number); a whole number for a float becomes one.
        if type(value) is self.python_type:
            return value
        return as_float(value) if self.python_type is float else REJECTED

    def core_schema(self) -> core_schema.CoreSchema:
        from pydantic_core import core_schema

        build: dict[type, Any] = {
            int: core_schema.int_schema,
            float: core_schema.float_schema,
            bool: core_schema.bool_schema,
            str: core_schema.str_schema,
        }
        return build[self.python_type](strict=True)  # type: ignore[no-any-return]

    def json_schema(self) -> dict[str, Any]:
        return {"type": self.NAMES[self.python_type][1]}

    def from_text(self, text: str) -> Any:
        if self.python_type is int:
            numbers = parse_ints(text)
            if len(numbers) != 1:
                raise SpecError(f"expected one whole number, got {shorten(text)!r}")
            return numbers[0]
        if self.python_type is float:
            try:
                return float(text)
            except ValueError:
                raise SpecError(f"expected a number, got {shorten(text)!r}") from None
        if self.python_type is bool:
            word = text.strip().lower()
            if word not in ("true", "false"):
                raise SpecError(f"expected true or false, got {shorten(text)!r}")
            return word == "true"
        return text


class Words(OptionType):
    """One of a few words (a ``Literal``)."""

    def __init__(self, words: tuple[Any, ...]) -> None:
        self.words = tuple(str(word) for word in words)
        self.values = words

    @property
    def choices(self) -> tuple[str, ...]:
        return self.words

    def check(self, value: Any) -> Any:
        accepted = any(type(value) is type(word) and value == word for word in self.values)
        return value if accepted else REJECTED

    def core_schema(self) -> core_schema.CoreSchema:
        from pydantic_core import core_schema

        return core_schema.literal_schema(list(self.values))

    def json_schema(self) -> dict[str, Any]:
        if len(self.values) == 1:
            return {"const": self.values[0], "type": "string"}
        return {"enum": list(self.values), "type": "string"}

    def from_text(self, text: str) -> Any:
        word = text.strip().lower()
        if word not in self.words:
            raise SpecError(f"expected {' or '.join(self.words)}, got {shorten(text)!r}")
        return word


class Pair(OptionType):
    """A fixed-length list (``[h, w]``), each item of its own type."""

    words = ("[h, w]",)

    def __init__(self, items: tuple[OptionType, ...]) -> None:
        self.items = items

    @property
    def takes_pair(self) -> bool:
        return True

    def check(self, value: Any) -> Any:
        if type(value) is not tuple or len(value) != len(self.items):
            return REJECTED
        checked = tuple(item.check(part) for item, part in zip(self.items, value, strict=True))
        return REJECTED if any(part is REJECTED for part in checked) else checked

    def core_schema(self) -> core_schema.CoreSchema:
        from pydantic_core import core_schema

        return core_schema.tuple_schema([item.core_schema() for item in self.items], strict=True)

    def json_schema(self) -> dict[str, Any]:
        return {
            "maxItems": len(self.items),
            "minItems": len(self.items),
            "prefixItems": [item.json_schema() for item in self.items],
            "type": "array",
        }

    def from_text(self, text: str) -> Any:
        numbers = parse_ints(text)
        if len(numbers) != len(self.items):
            raise SpecError(f"expected HxW, got {shorten(text)!r}")
        return tuple(numbers)


class Nothing(OptionType):
    """``None``: an option that may be left unset (``in_channels``)."""

    def check(self, value: Any) -> Any:
        return None if value is None else REJECTED

    def core_schema(self) -> core_schema.CoreSchema:
        from pydantic_core import core_schema

        return core_schema.none_schema()

    def json_schema(self) -> dict[str, Any]:
        return {"type": "null"}

    def from_text(self, text: str) -> Any:
        raise SpecError(f"expected nothing, got {shorten(text)!r}")


class OneOf(OptionType):
    """A union: one value of any of its members (``int | tuple[int, int] | Literal['same']``)."""

    def __init__(self, members: tuple[OptionType, ...]) -> None:
        self.members = members
        self.words = tuple(word for member in members for word in member.words)

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(word for member in self.members for word in member.choices)

    @property
    def takes_pair(self) -> bool:
        return any(member.takes_pair for member in self.members)

    def check(self, value: Any) -> Any:
        # The value of the one member that accepts it; none, or several (for which the
        # validator's own choice rules decide), reject.
        accepted = [
            result
            for result in (member.check(value) for member in self.members)
            if result is not REJECTED
        ]
        return accepted[0] if len(accepted) == 1 else REJECTED

    def core_schema(self) -> core_schema.CoreSchema:
        from pydantic_core import core_schema

        present = [member for member in self.members if not isinstance(member, Nothing)]
        schema = (
            present[0].core_schema()
            if len(present) == 1
            else core_schema.union_schema([member.core_schema() for member in present])
        )
        nullable = len(present) < len(self.members)
        return core_schema.nullable_schema(schema) if nullable else schema

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [member.json_schema() for member in self.members]}

    def from_text(self, text: str) -> Any:
        """A word it takes, else whole numbers: ``3``, or ``3x5`` where it takes a pair."""
        word = text.strip().lower()
        if word in self.choices:
            return word
        if self.choices and not _NUMBER_TEXT.fullmatch(text):
            raise SpecError(
                f"expected whole numbers like 3 or 3x5, or {' or '.join(self.choices)}, "
                f"got {shorten(text)!r}"
            )
        if self.takes_pair:
            return parse_pair(text)
        takes_text = any(
            isinstance(member, Scalar) and member.python_type is str for member in self.members
        )
        if takes_text and len(parse_ints(text)) != 1:
            return text
        return Scalar(int).from_text(text)


_TYPES: dict[Any, OptionType] = {}


def option_type(annotation: Any) -> OptionType:
    """The :class:`OptionType` of one (resolved) annotation: the one place annotations are read."""
    found = _TYPES.get(annotation)
    if found is None:
        found = _TYPES[annotation] = read_annotation(annotation)
    return found


def read_annotation(annotation: Any) -> OptionType:
    """:func:`option_type`, uncached."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return OneOf(tuple(option_type(member) for member in typing.get_args(annotation)))
    if annotation is type(None):
        return Nothing()
    if typing.get_origin(annotation) is Literal:
        return Words(typing.get_args(annotation))
    if typing.get_origin(annotation) is tuple:
        return Pair(tuple(option_type(item) for item in typing.get_args(annotation)))
    return Scalar(annotation)


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


MAX_DIGITS = 30
"""A number on the command line (or in ``layer --in -``'s document) with more digits is refused
before it is converted."""


def parse_ints(text: str) -> list[int]:
    """``3x5`` → ``[3, 5]``; anything else is an error naming the bad part."""
    parts = _NUMBERS.split(text.strip())
    if not all(re.fullmatch(r"[+-]?[0-9]+", part) for part in parts):
        raise SpecError(f"expected whole numbers like 3 or 3x5, got {shorten(text)!r}")
    for part in parts:
        digits = len(part.lstrip("+-"))
        if digits > MAX_DIGITS:
            # Not worth converting (and past Python's 4,300-digit limit): worded as the option
            # checks word a number too large.
            raise SpecError(
                f"a {digits}-digit number is larger than any real tensor dimension "
                f"(at most {MAX_DIMENSION:,})"
            )
    return [int(part) for part in parts]


def parse_pair(text: str) -> int | tuple[int, int]:
    """A whole number or ``HxW``."""
    numbers = parse_ints(text)
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) == 2:
        return (numbers[0], numbers[1])
    raise SpecError(f"expected N or HxW, got {shorten(text)!r}")


# --- what one kind takes -------------------------------------------------------------------------


class Option(typing.NamedTuple):
    """One option of a kind: its name, type, and default (``MISSING`` when required)."""

    name: str
    type: OptionType
    default: Any

    @property
    def required(self) -> bool:
        """Whether the option has no default."""
        return self.default is MISSING


class KindOptions:
    """Every option of one layer kind, from its dataclass fields, and what they are used for:
    the plain check and the validator of a set of values, and the options' JSON Schema."""

    def __init__(self, kind: type[Layer]) -> None:
        hints = typing.get_type_hints(kind)
        self.kind = kind
        self.options = {
            field.name: Option(
                field.name,
                option_type(hints[field.name]),
                field.default,
            )
            for field in fields(kind)
        }
        self.checks = {name: option.type.check for name, option in self.options.items()}
        self.required = tuple(name for name, option in self.options.items() if option.required)
        self._validator: SchemaValidator | None = None

    def plain(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """``values`` as the validator would return them when every one passes its plain check
        and no required option is missing; ``None`` otherwise (the validator then decides)."""
        checks = self.checks
        validated = {}
        for name, value in values.items():
            check = checks.get(name)
            if check is None:
                return None
            value = check(value)
            if value is REJECTED:
                return None
            validated[name] = value
        if any(name not in validated for name in self.required):
            return None
        return validated

    def validator(self) -> SchemaValidator:
        """The strict validator, built once: the same names and types as the dataclass, unknown
        options refused, options without a default required. It is built with pydantic's core
        directly, which costs a fraction of a millisecond where a pydantic model costs tens."""
        if self._validator is None:
            from pydantic_core import SchemaValidator, core_schema

            schema = core_schema.typed_dict_schema(
                {
                    name: core_schema.typed_dict_field(
                        option.type.core_schema(), required=option.required
                    )
                    for name, option in self.options.items()
                },
                extra_behavior="forbid",
                strict=True,
            )
            self._validator = SchemaValidator(schema)
        return self._validator

    def validated(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` validated (plain checks first, see the module docstring); raises
        :class:`InvalidOptions`."""
        plain = self.plain(values)
        if plain is not None:
            return plain
        from pydantic_core import ValidationError

        try:
            return self.validator().validate_python(values)  # type: ignore[no-any-return]
        except ValidationError as error:
            raise InvalidOptions([dict(problem) for problem in error.errors()]) from None

    def describe(self, name: str) -> str:
        """What option ``name`` takes, in a user's words."""
        return self.options[name].type.describe()

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of an options object (keys as pydantic orders them: sorted, the
        properties in declaration order)."""
        properties = {name: option_schema(option) for name, option in self.options.items()}
        schema: dict[str, Any] = {"additionalProperties": False}
        if self.kind.__doc__:
            schema["description"] = inspect.cleandoc(self.kind.__doc__)
        schema["properties"] = properties
        if self.required:
            schema["required"] = list(self.required)
        schema["type"] = "object"
        return schema


def option_schema(option: Option) -> dict[str, Any]:
    """One property of :meth:`KindOptions.json_schema`: its type, default and title."""
    schema = option.type.json_schema()
    extra: dict[str, Any] = {"title": option.name.replace("_", " ").title()}
    if not option.required:
        extra["default"] = option.default
    return dict(sorted({**schema, **extra}.items()))


_KIND_OPTIONS: dict[type[Layer], KindOptions] = {}


def options_of(kind: type[Layer]) -> KindOptions:
    """The :class:`KindOptions` of ``kind``, built once."""
    found = _KIND_OPTIONS.get(kind)
    if found is None:
        found = _KIND_OPTIONS[kind] = KindOptions(kind)
    return found


def validated_options(kind: type[Layer], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` validated as ``kind``'s options; raises :class:`InvalidOptions`."""
    return options_of(kind).validated(values)


def all_defaulted(kind: type[Layer]) -> bool:
    """Whether every option of ``kind`` has a default (so ``kind()`` is valid)."""
    return not options_of(kind).required
