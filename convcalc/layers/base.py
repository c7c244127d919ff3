"""What every layer kind shares: shapes, the result of applying a layer, and the registry.

A layer kind is a frozen dataclass whose fields are its options (as the spec spells them) and whose
``apply`` maps an input shape to an :class:`Outcome`. Subclasses register themselves under their
``type_name`` and ``aliases``, so adding a kind means adding one class in one module. What a layer
computes (outcomes, receptive-field steps, what backward keeps) are named tuples: immutable
values, and far cheaper to define and build than dataclasses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Literal, NamedTuple, cast

from convcalc.errors import OptionError, ShapeError

Shape = tuple[int, ...]
"""A tensor shape per sample: ``(C, H, W)`` for an image, ``(D,)`` for a vector."""

IntPair = int | tuple[int, int]
"""An option that takes one int for both axes or ``[h, w]``."""

Padding = int | tuple[int, int] | Literal["same", "valid"]
"""Zero padding per side: an int, ``[h, w]``, ``same`` (TensorFlow's) or ``valid`` (none)."""

LAYER_KINDS: dict[str, type[Layer]] = {}
"""Every layer kind registered so far, by canonical name and by alias: a family registers its kinds
when it is imported (``convcalc.layers.LAYER_KINDS`` imports them all)."""

MERGE_KINDS: dict[str, type[Merge]] = {}
"""Every merge kind (a kind that joins two or more tensors: add, mul, concat), by canonical name
and by alias; :mod:`convcalc.layers.merge` registers them."""


class AxisStep(NamedTuple):
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
    cells: tuple[tuple[int, int], ...] = ()
    """For a step whose outputs do not all read alike (a fractional stride: upsampling, a
    transposed conv, adaptive pooling), exactly: the first and last input cell that outputs
    0 … q − 1 read, output u + q reading ``advance`` cells further than output u. Empty: every
    output reads ``span`` + 1 cells, ``stride`` apart (a sliding window)."""
    advance: int = 0

    @property
    def is_window(self) -> bool:
        """Whether every output reads alike, a whole number of cells apart."""
        return not self.cells and float(self.stride).is_integer()

    def phases(self) -> tuple[tuple[tuple[float, float], ...], float] | None:
        """The cells outputs 0 … q − 1 read and the advance per q outputs, exactly; ``None``
        when the step only knows its average (interpolation)."""
        if self.cells:
            return tuple((float(low), float(high)) for low, high in self.cells), self.advance
        if float(self.stride).is_integer():
            first = self.offset - self.span / 2
            return ((first, first + self.span),), self.stride
        return None


MAX_PERIOD = 4096
"""The most output phases a step or a field lists exactly (see :attr:`AxisStep.cells`); beyond,
the average step stands for them."""

IDENTITY_AXIS = AxisStep(0.0, 1.0, 0.0)


class RFStep(NamedTuple):
    """A layer's effect on the receptive field: one :class:`AxisStep` per spatial axis (H, W),
    or ``is_global`` when every output depends on the whole input (fc, flatten, global pooling)."""

    axes: tuple[AxisStep, AxisStep] = (IDENTITY_AXIS, IDENTITY_AXIS)
    is_global: bool = False


IDENTITY_STEP = RFStep()
GLOBAL_STEP = RFStep(is_global=True)


class Extra(NamedTuple):
    """A tensor a layer's backward keeps besides its input or output: ``values`` values for the
    whole batch, ``what`` they are, ``width`` bytes each (``None``: the network's dtype)."""

    values: int
    what: str
    width: int | None = None


class Saved(NamedTuple):
    """What a layer's backward keeps for a batch, as PyTorch 2.x keeps it on the CPU (measured
    with ``torch.autograd.graph.saved_tensors_hooks``): its input, its output, and at most one
    extra tensor of its own (statistics, indices, a mask)."""

    input: bool = False
    output: bool = False
    extra: Extra | None = None


SAVES_NOTHING = Saved()
SAVES_INPUT = Saved(input=True)


class Derivation(NamedTuple):
    """One quantity worked out with its numbers, e.g. ``height: (32 − 5 + 2·2)/1 + 1 = 32``."""

    quantity: str
    formula: str
    value: str


class Outcome(NamedTuple):
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


@dataclass(frozen=True, kw_only=True, repr=False)
class Layer(ABC):
    """A layer kind: its options are the dataclass fields; ``apply`` does the arithmetic.

    Besides the arithmetic, a kind states what the other analyses need to know about it (what
    backward keeps, its Jacobian's non-zeros, how BN folding treats it), so that adding a kind
    touches its own module only. The defaults suit a layer that computes a new tensor from its
    input and is no fold target.

    A subclass that adds no options needs no ``@dataclass`` of its own: it inherits the fields
    and generated methods (and each decoration costs start-up time). Kinds are frozen and compare
    and hash by their options (the analysis caches outcomes per layer and shape); they are
    decorated with ``repr=False`` and share :meth:`__repr__`, which writes the options as a spec
    would.
    """

    type_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    needs_image: ClassVar[bool] = False
    description: ClassVar[str] = ""
    """What the layer is, in words, for BN folding's reasons: ``a pool``, ``a nonlinearity``…
    (``a <type_name>`` when a registered kind does not say)."""
    folds_batchnorm: ClassVar[bool] = False
    """Whether a batchnorm right after it can fold into it: its output channels are a linear map
    of its input with one (possibly missing) bias each, as for conv, deconv and fc. Such a kind
    has a ``bias`` option."""
    is_reshape: ClassVar[bool] = False
    """Whether the output is the input's values in another shape, a view of the same storage."""
    normalizes: ClassVar[bool] = False
    """Whether it is a normalisation layer (batch or per-sample), which BN folding judges."""
    supported: ClassVar[bool] = True
    """Whether convcalc computes it; an unsupported op (:mod:`convcalc.layers.opaque`) only
    passes on the shape the model gives, and is marked so in every output."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            if not cls.description:
                cls.description = f"a {cls.type_name}"
            names = (cls.type_name, *cls.aliases)
            for name in names:
                known = LAYER_KINDS.get(name)
                if known is not None and known.__qualname__ != cls.__qualname__:
                    # Two kinds under one name: refuse here, rather than let the later one
                    # silently take the name from the other.
                    raise TypeError(
                        f"layer type {name!r} of {cls.__qualname__} is already "
                        f"{known.__qualname__}'s"
                    )
            LAYER_KINDS.update(dict.fromkeys(names, cls))

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

    def is_identity(self, training: bool) -> bool:
        """Whether the output is the input itself, unchanged (dropout at test time)."""
        return False

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """What backward keeps for ``batch`` samples of ``shape_in`` → ``shape_out``; by default
        the input (what a weight gradient or a derivative of the input needs)."""
        return SAVES_INPUT

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """Structurally non-zero entries of one sample's Jacobian block ∂y/∂x; by default one
        per output (an elementwise map's diagonal, or a reshape's permutation)."""
        return elements(shape_out)

    def window_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int | None:
        """The structural count where the realised Jacobian is sparser (max pooling routes each
        gradient to one argmax, though every window cell could be it); ``None`` elsewhere."""
        return None

    def forward_fold_refusal(self, shape_in: Shape) -> str | None:
        """Why a batchnorm whose output feeds only this layer cannot fold into its input
        channels, as words after the layer's path; ``None`` when it can (see folding.py)."""
        return f"{self.description}, not a conv or fc"

    @property
    def gains_folded_bias(self) -> bool:
        """Whether a batchnorm folding into this layer gives it a bias it lacked (one per output
        channel): a fold target (conv, deconv, fc) whose ``bias`` option is off."""
        return self.folds_batchnorm and not getattr(self, "bias", True)

    def with_folded_bias(self) -> Layer | None:
        """This layer once a batchnorm folds into it, when that gives it a bias it lacked;
        ``None`` when it gains none."""
        # Every fold target has a `bias` option, which the type of `self` cannot show.
        return replace(cast(Any, self), bias=True) if self.gains_folded_bias else None

    def __repr__(self) -> str:
        """The kind and its options that differ from defaults: ``Conv(filters=10, kernel=5)``."""
        options = ", ".join(f"{name}={value!r}" for name, value in self.options().items())
        return f"{type(self).__name__}({options})"

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


def shape_kept(shape: Shape, params: int, formula: str) -> Outcome:
    """The outcome of a layer that keeps the shape and learns ``params`` values, worked out as
    ``formula`` (a norm's γ and β, a PReLU's slopes)."""
    return Outcome(output=shape, params=params, derivations=(derive("params", formula, params),))


@dataclass(frozen=True, kw_only=True, repr=False)
class Merge(ABC):
    """A merge kind: joins two or more tensors of one sample into one (add, mul, concat).

    Like a :class:`Layer`, a merge states everything the analyses need about it: its output
    shape from its input shapes (:meth:`output_of`), what backward keeps (:meth:`saved_inputs`),
    its Jacobian's non-zeros, and how BN folding names it. Merges have no params and no MACs in
    convcalc's convention; their receptive field is the union of their inputs' fields. Adding a
    merge kind is one subclass in :mod:`convcalc.layers.merge`: it registers itself under its
    ``type_name`` and ``aliases``.
    """

    type_name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    """What the merge is, in words, for BN folding's reasons (``an add (…)``)."""
    reader_role: ClassVar[str] = ""
    """How it treats a tensor it reads, in words, for BN folding's reasons (``an input of…``)."""
    folds_batchnorm: ClassVar[bool] = False
    is_reshape: ClassVar[bool] = False
    normalizes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            for name in (cls.type_name, *cls.aliases):
                MERGE_KINDS[name] = cls

    @abstractmethod
    def output_of(self, shapes: tuple[Shape, ...]) -> Shape:
        """The output shape of one sample from the inputs' ``shapes`` (two or more); raises a
        :class:`ShapeError` naming the shapes when they cannot be merged."""

    def is_identity(self, training: bool) -> bool:
        """A merge always computes a new tensor."""
        return False

    def saved_tensors(
        self, shapes: tuple[Shape, ...], needs_grad: tuple[bool, ...], batch: int
    ) -> tuple[tuple[int, ...], Extra | None]:
        """What backward keeps for ``batch`` samples, given which inputs need a gradient: the
        positions of the inputs it keeps and at most one extra tensor. By default nothing: a sum
        or a concat routes gradients without any saved value."""
        return (), None

    def jacobian_nonzeros(self, shapes: tuple[Shape, ...], shape_out: Shape) -> int:
        """Structurally non-zero entries of one sample's Jacobian ∂y/∂(x₁, …, xₙ); by default
        one per output per input (an elementwise sum or product: each output reads one element
        of each input, a broadcast one included)."""
        return elements(shape_out) * len(shapes)

    def forward_fold_refusal(self, shape_in: Shape) -> str | None:
        """A batchnorm never folds forward into a merge."""
        return f"{self.description}, not a conv or fc"

    @property
    def gains_folded_bias(self) -> bool:
        """A merge is no fold target."""
        return False

    def with_folded_bias(self) -> Merge | None:
        """A merge is no fold target."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def broadcast(shapes: tuple[Shape, ...]) -> Shape | None:
    """PyTorch's broadcasting of per-sample shapes of one rank: on each axis the sizes must be
    equal or 1, and the output takes the size that is not 1; ``None`` when they do not
    broadcast."""
    if len({len(shape) for shape in shapes}) > 1:
        return None
    result = []
    for sizes in zip(*shapes, strict=True):
        stretched = set(sizes) - {1}
        if len(stretched) > 1:
            return None
        result.append(stretched.pop() if stretched else 1)
    return tuple(result)
