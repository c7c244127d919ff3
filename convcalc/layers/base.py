"""What every layer kind shares: shapes, the result of applying a layer, and the registry.

A layer kind is a frozen dataclass whose fields are its options (as the spec spells them) and whose
``apply`` maps an input shape to an :class:`Outcome`. Subclasses register themselves under their
``type_name`` and ``aliases``, so adding a kind means adding one class in one module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from convcalc.errors import OptionError, ShapeError

Shape = tuple[int, ...]
"""A tensor shape per sample: ``(C, H, W)`` for an image, ``(D,)`` for a vector."""

IntPair = int | tuple[int, int]
"""An option that takes one int for both axes or ``[h, w]``."""

Padding = int | tuple[int, int] | Literal["same", "valid"]
"""Zero padding per side: an int, ``[h, w]``, ``same`` (TensorFlow's) or ``valid`` (none)."""

LAYER_KINDS: dict[str, type[Layer]] = {}
"""Every registered layer kind, by canonical name and by alias."""


@dataclass(frozen=True)
class AxisStep:
    """How one layer moves the receptive field along one axis, in units of its input grid.

    The field of an output unit spans ``span`` more input units than the field of an input unit,
    neighbouring outputs are ``stride`` inputs apart, and the first output's centre sits ``offset``
    input units after the first input's centre. For a sliding window with effective kernel
    K_eff = D(K−1)+1, stride S and leading padding P: span = K_eff − 1, stride = S,
    offset = (K_eff − 1)/2 − P.
    """

    span: float
    stride: float
    offset: float


IDENTITY_AXIS = AxisStep(0.0, 1.0, 0.0)


@dataclass(frozen=True)
class RFStep:
    """A layer's effect on the receptive field: one :class:`AxisStep` per spatial axis (H, W),
    or ``is_global`` when every output depends on the whole input (fc, flatten, global pooling)."""

    axes: tuple[AxisStep, AxisStep] = (IDENTITY_AXIS, IDENTITY_AXIS)
    is_global: bool = False


IDENTITY_STEP = RFStep()
GLOBAL_STEP = RFStep(is_global=True)


@dataclass(frozen=True)
class Derivation:
    """One quantity worked out with its numbers, e.g. ``height: (32 − 5 + 2·2)/1 + 1 = 32``."""

    quantity: str
    formula: str
    value: str


@dataclass(frozen=True)
class Outcome:
    """What a layer does to one sample: output shape, learnable params, non-learnable buffers,
    multiply-accumulates per sample (bias adds not counted), the receptive-field step, warnings,
    and the derivation of each number for display."""

    output: Shape
    params: int = 0
    buffers: int = 0
    macs: int = 0
    rf: RFStep = IDENTITY_STEP
    warnings: tuple[str, ...] = ()
    derivations: tuple[Derivation, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Layer(ABC):
    """A layer kind: its options are the dataclass fields; ``apply`` does the arithmetic."""

    type_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    needs_image: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            for name in (cls.type_name, *cls.aliases):
                LAYER_KINDS[name] = cls

    @abstractmethod
    def output_of(self, shape: Shape) -> Outcome:
        """The outcome of this layer on an input of ``shape`` (already checked to be valid)."""

    def apply(self, shape: Shape) -> Outcome:
        """Apply the layer to one sample of ``shape``; raises :class:`ShapeError` if it cannot."""
        if self.needs_image and len(shape) != 3:
            raise ShapeError(
                f"{self.type_name} needs a C×H×W input, but receives a vector of {shape[0]}"
            )
        return self.output_of(shape)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names of this kind's options, in declaration order."""
        return tuple(field.name for field in fields(cls))

    def options(self) -> dict[str, Any]:
        """The options that differ from their defaults, as the spec would spell them."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if getattr(self, field.name) != field.default
        }


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """``3`` → ``(3, 3)``; ``(3, 5)`` stays."""
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def require_at_least(option: str, value: int | tuple[int, int] | None, minimum: int) -> None:
    """Raise an :class:`OptionError` unless every number in ``value`` is ≥ ``minimum``."""
    if value is None:
        return
    if any(number < minimum for number in pair(value)):
        raise OptionError(option, f"must be ≥ {minimum}, got {format_option(value)}")


def format_option(value: object) -> str:
    """An option value as the spec would write it: ``3``, ``[3, 5]``, ``same``."""
    if isinstance(value, tuple):
        return "[" + ", ".join(format_option(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_shape(shape: Shape) -> str:
    """``(10, 32, 32)`` → ``10×32×32``."""
    return "×".join(str(size) for size in shape)


def elements(shape: Shape) -> int:
    """The number of values in one sample of ``shape``."""
    count = 1
    for size in shape:
        count *= size
    return count


def derive(quantity: str, formula: str, value: object) -> Derivation:
    """A :class:`Derivation` with the value formatted like the rest of the output."""
    return Derivation(quantity, formula, f"{value:,}" if isinstance(value, int) else str(value))
