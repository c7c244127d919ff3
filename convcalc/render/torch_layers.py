"""Each layer kind as the ``torch.nn`` module(s) that compute it: one mapping entry per kind.

A builder receives the :class:`Site` of one layer (its options, its input and output shapes,
the expression of its input channels) and returns the constructor calls, in order (a padding
module before a conv whose padding torch cannot express), and the expression of its output
channels. Options the spec sets to a block parameter are written as that parameter's name, so
a block's class takes them as constructor arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from convcalc.errors import ConvcalcError
from convcalc.layers.base import Layer, Shape, elements
from convcalc.layers.conv import Conv
from convcalc.layers.window import Window
from convcalc.render.code import Code, call, literal


@dataclass(frozen=True)
class Linear:
    """An integer expression Σ coefficient·name + constant, for channel counts written in terms
    of a block's parameters (``in_channels``, ``width * 49``, ``c1 + c3 + 64``)."""

    terms: tuple[tuple[str, int], ...] = ()
    constant: int = 0

    @classmethod
    def of(cls, value: object) -> Linear:
        """A parameter's name (a ``str``) or a number."""
        if isinstance(value, str):
            return cls(((value, 1),))
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(constant=value)
        raise ValueError(f"not a channel count: {value!r}")

    def __add__(self, other: Linear) -> Linear:
        terms = dict(self.terms)
        for name, coefficient in other.terms:
            terms[name] = terms.get(name, 0) + coefficient
        return Linear(tuple(terms.items()), self.constant + other.constant)

    def times(self, factor: int) -> Linear:
        """This expression multiplied by ``factor``."""
        return Linear(
            tuple((name, coefficient * factor) for name, coefficient in self.terms),
            self.constant * factor,
        )

    def divided(self, divisor: int) -> Linear | None:
        """This expression divided by ``divisor`` when every term divides, else ``None``."""
        if self.constant % divisor or any(coefficient % divisor for _, coefficient in self.terms):
            return None
        return Linear(
            tuple((name, coefficient // divisor) for name, coefficient in self.terms),
            self.constant // divisor,
        )

    def names(self) -> set[str]:
        """The parameters it reads."""
        return {name for name, coefficient in self.terms if coefficient}

    def substitute(self, values: Mapping[str, Linear]) -> Linear:
        """Each name replaced by its value."""
        result = Linear(constant=self.constant)
        for name, coefficient in self.terms:
            result = result + values[name].times(coefficient)
        return result

    def __str__(self) -> str:
        parts = [
            name if coefficient == 1 else f"{name} * {coefficient}"
            for name, coefficient in self.terms
            if coefficient
        ]
        if self.constant or not parts:
            parts.append(str(self.constant))
        return " + ".join(parts)


@dataclass
class Site:
    """One layer where the module is built: what a builder needs to write its constructor."""

    layer: Layer
    input: Shape
    output: Shape
    channels: Linear
    bound: Mapping[str, str]
    used: set[str] = field(default_factory=set)
    """The block parameters written so far (the class's constructor takes them)."""
    strides: set[str] = field(default_factory=set)
    """The block parameters written as a stride so far."""

    def value(self, option: str) -> str:
        """The option as Python: its block parameter's name, or its value."""
        parameter = self.bound.get(option)
        if parameter is not None:
            self.used.add(parameter)
            if option == "stride":
                self.strides.add(parameter)
            return parameter
        return literal(getattr(self.layer, option))

    def given(self, option: str, default: object = None) -> bool:
        """Whether the option must be written: set by a parameter, or not torch's default."""
        if option in self.bound:
            return True
        value = getattr(self.layer, option)
        if default is None:
            default = next(item.default for item in fields(self.layer) if item.name == option)
        return bool(value != default)

    def keyword(self, option: str, name: str | None = None, default: object = None) -> list[str]:
        """``name=value`` when the option must be written, else nothing."""
        if not self.given(option, default):
            return []
        return [f"{name or option}={self.value(option)}"]

    def count(self, option: str) -> Linear:
        """A channel-count option as an expression (its parameter, or its number)."""
        parameter = self.bound.get(option)
        if parameter is not None:
            self.used.add(parameter)
            return Linear.of(parameter)
        return Linear.of(getattr(self.layer, option))

    def in_channels(self) -> str:
        """The input channel count as Python, reading the parameters it needs."""
        self.used |= self.channels.names()
        return str(self.channels)


class Built(NamedTuple):
    """The modules of one layer, in order, its output channels and the helper classes (of
    :data:`HELPERS`) its modules are."""

    modules: tuple[Code, ...]
    channels: Linear
    helpers: tuple[str, ...] = ()


class UnsupportedLayer(ConvcalcError):
    """A layer kind with no PyTorch counterpart in the exporter."""


Builder = Callable[[Site], Built]


def same(site: Site, *modules: Code) -> Built:
    """Modules that keep the channels."""
    return Built(modules, site.channels)


def padding(site: Site, windows: tuple[Window, Window]) -> tuple[list[str], list[Code]]:
    """The ``padding=`` keyword of a conv or pool, and any padding module it needs first.

    convcalc's ``same`` is TensorFlow's (the odd cell bottom/right, any stride); torch's
    ``padding="same"`` means the same only for a conv at stride 1, and torch warns (and copies
    the input) when the sides differ, so it is written only for equal sides. Elsewhere unequal
    sides become an explicit pad module, with −∞ before a max pool (a padded cell is never the
    max) and zeros elsewhere.
    """
    layer: Any = site.layer
    pads = [(window.pad_before, window.pad_after) for window in windows]
    symmetric = all(before == after for before, after in pads)
    unit_stride = all(window.stride == 1 for window in windows)
    padded = any(pads[0] + pads[1])
    if layer.pad == "same" and isinstance(layer, Conv) and symmetric and unit_stride and padded:
        return ['padding="same"'], []
    if isinstance(layer.pad, str) and any(before != after for before, after in pads):
        (top, bottom), (left, right) = pads
        sides = f"({left}, {right}, {top}, {bottom})"
        if getattr(layer, "takes_max", False):
            return [], [call("nn.ConstantPad2d", sides, 'float("-inf")')]
        return [], [call("nn.ZeroPad2d", sides)]
    if isinstance(layer.pad, str):
        (top, _), (left, _) = pads
        keywords = [f"padding={literal(top if top == left else (top, left))}"]
        return (keywords if top or left else []), []
    return site.keyword("pad", "padding", 0), []


def groups_keyword(site: Site) -> list[str]:
    """``groups=``: the input channels for ``depthwise``, else the number unless it is 1."""
    layer: Any = site.layer
    if layer.groups == "depthwise":
        return [f"groups={site.in_channels()}"]
    return site.keyword("groups", default=1)


def conv(site: Site) -> Built:
    """nn.Conv2d(C, F, K, stride, padding, dilation, groups, bias)."""
    layer: Any = site.layer
    keywords, before = padding(site, layer.windows_of(site.input))
    groups = groups_keyword(site)
    module = call(
        "nn.Conv2d",
        site.in_channels(),
        site.value("filters"),
        site.value("kernel"),
        *site.keyword("stride", default=1),
        *keywords,
        *site.keyword("dilation", default=1),
        *groups,
        *site.keyword("bias", default=True),
    )
    return Built((*before, module), site.count("filters"))


def deconv(site: Site) -> Built:
    """nn.ConvTranspose2d(C, F, K, stride, padding, output_padding, groups, bias, dilation)."""
    groups = groups_keyword(site)
    module = call(
        "nn.ConvTranspose2d",
        site.in_channels(),
        site.value("filters"),
        site.value("kernel"),
        *site.keyword("stride", default=1),
        *site.keyword("pad", "padding", 0),
        *site.keyword("output_padding", default=0),
        *groups,
        *site.keyword("bias", default=True),
        *site.keyword("dilation", default=1),
    )
    return Built((module,), site.count("filters"))


def pool(torch_name: str) -> Builder:
    """nn.MaxPool2d / nn.AvgPool2d with the window options each takes."""

    def build(site: Site) -> Built:
        layer: Any = site.layer
        keywords, before = padding(site, layer.windows_of(site.input))
        extra = []
        if torch_name == "nn.MaxPool2d":
            extra = site.keyword("dilation", default=1)
        elif "count_include_pad" in site.bound or not layer.count_include_pad:
            extra = [f"count_include_pad={site.value('count_include_pad')}"]
        module = call(
            torch_name,
            site.value("kernel"),
            *site.keyword("stride"),
            *keywords,
            *extra,
            *site.keyword("ceil_mode", default=False),
        )
        return same(site, *before, module)

    return build


def adaptive(torch_name: str) -> Builder:
    """Adaptive pooling to ``output``."""
    return lambda site: same(site, call(torch_name, site.value("output")))


def global_pool(torch_name: str) -> Builder:
    """Global pooling: adaptive pooling to 1×1."""
    return lambda site: same(site, call(torch_name, "1"))


def fc(site: Site) -> Built:
    """nn.Linear(D_in, out, bias)."""
    module = call(
        "nn.Linear",
        site.in_channels(),
        site.value("out"),
        *site.keyword("bias", default=True),
    )
    return Built((module,), site.count("out"))


def flatten(site: Site) -> Built:
    """nn.Flatten(): C×H×W → C·H·W features."""
    return Built((call("nn.Flatten"),), site.channels.times(elements(site.input[1:])))


def batchnorm(site: Site) -> Built:
    """nn.BatchNorm2d over channels, nn.BatchNorm1d over a vector's features."""
    name = "nn.BatchNorm2d" if len(site.input) == 3 else "nn.BatchNorm1d"
    return same(
        site,
        call(
            name,
            site.in_channels(),
            *site.keyword("eps", default=1e-5),
            *site.keyword("momentum", default=0.1),
            *site.keyword("affine", default=True),
        ),
    )


def layernorm(site: Site) -> Built:
    """nn.LayerNorm over every value of a sample (elementwise γ and β), or over the channels at
    each position (ConvNeXt's LayerNorm2d, a helper: nn.LayerNorm on channels-last)."""
    layer: Any = site.layer
    if layer.over == "channels" and len(site.input) == 3:
        module = call(
            "LayerNorm2d",
            site.in_channels(),
            *site.keyword("eps", default=1e-5),
            *site.keyword("affine", "elementwise_affine", default=True),
        )
        return Built((module,), site.channels, ("LayerNorm2d",))
    if len(site.input) == 3 and layer.over == "all":
        _, height, width = site.input
        shape = f"[{site.in_channels()}, {height}, {width}]"
    else:
        shape = site.in_channels()
    return same(
        site,
        call(
            "nn.LayerNorm",
            shape,
            *site.keyword("eps", default=1e-5),
            *site.keyword("affine", "elementwise_affine", default=True),
        ),
    )


def groupnorm(site: Site) -> Built:
    """nn.GroupNorm(groups, C)."""
    return same(
        site,
        call(
            "nn.GroupNorm",
            site.value("groups"),
            site.in_channels(),
            *site.keyword("eps", default=1e-5),
            *site.keyword("affine", default=True),
        ),
    )


def instancenorm(site: Site) -> Built:
    """nn.InstanceNorm2d(C), without running statistics as torch's default."""
    return same(
        site,
        call(
            "nn.InstanceNorm2d",
            site.in_channels(),
            *site.keyword("eps", default=1e-5),
            *site.keyword("affine", default=False),
        ),
    )


def elementwise(torch_name: str, *options: tuple[str, str, object]) -> Builder:
    """An activation module with its options as (spec option, torch keyword, torch default)."""

    def build(site: Site) -> Built:
        keywords = [
            text
            for option, name, default in options
            for text in site.keyword(option, name, default)
        ]
        return same(site, call(torch_name, *keywords))

    return build


def upsample(site: Site) -> Built:
    """nn.Upsample to ``size`` or by ``scale_factor``; ``mode`` and ``align_corners`` are
    written as values (torch refuses align_corners for nearest), align_corners always for the
    interpolating modes."""
    layer: Any = site.layer
    target = (
        f"size={site.value('size')}"
        if layer.size is not None
        else f"scale_factor={site.value('scale')}"
    )
    keywords = [] if layer.mode == "nearest" else [f"mode={literal(layer.mode)}"]
    if layer.mode != "nearest":
        keywords.append(f"align_corners={literal(layer.align_corners)}")
    return same(site, call("nn.Upsample", target, *keywords))


def pixel_shuffle(site: Site) -> Built:
    """nn.PixelShuffle(r): C/r² channels."""
    layer: Any = site.layer
    channels = site.channels.divided(layer.factor**2) or Linear.of(site.output[0])
    return Built((call("nn.PixelShuffle", site.value("factor")),), channels)


def pixel_unshuffle(site: Site) -> Built:
    """nn.PixelUnshuffle(r): C·r² channels."""
    layer: Any = site.layer
    module = call("nn.PixelUnshuffle", site.value("factor"))
    return Built((module,), site.channels.times(layer.factor**2))


def crop(site: Site) -> Built:
    """The helper CenterCrop(size) (offsets at run time, as torchvision's), or Crop(top, bottom,
    left, right) for margins."""
    layer: Any = site.layer
    if layer.size is not None:
        return Built((call("CenterCrop", site.value("size")),), site.channels, ("CenterCrop",))
    margins = (site.value(side) for side in ("top", "bottom", "left", "right"))
    return Built((call("Crop", *margins),), site.channels, ("Crop",))


PAD_MODULES = {
    "zeros": "nn.ZeroPad2d",
    "reflect": "nn.ReflectionPad2d",
    "replicate": "nn.ReplicationPad2d",
    "circular": "nn.CircularPad2d",
}
"""Each padding mode's module (torch's sides: left, right, top, bottom)."""


def pad(site: Site) -> Built:
    """nn.ZeroPad2d / ReflectionPad2d / ReplicationPad2d / CircularPad2d, one number when the
    four sides are equal."""
    layer: Any = site.layer
    top, bottom, left, right = layer.sides()
    sides = literal(top) if top == bottom == left == right else literal((left, right, top, bottom))
    return same(site, call(PAD_MODULES[layer.mode], sides))


def channel_slice(site: Site) -> Built:
    """The helper ChannelSlice(start, end)."""
    layer: Any = site.layer
    start, end = layer.channels
    module = call("ChannelSlice", literal(start), literal(end))
    return Built((module,), Linear.of(end - start), ("ChannelSlice",))


def layer_scale(site: Site) -> Built:
    """The helper LayerScale(C, init): one γ per channel."""
    module = call("LayerScale", site.in_channels(), *site.keyword("init", default=1e-6))
    return Built((module,), site.channels, ("LayerScale",))


def stochastic_depth(site: Site) -> Built:
    """The helper StochasticDepth(p, mode), written with torch alone."""
    module = call("StochasticDepth", site.value("p"), *site.keyword("mode", default="row"))
    return Built((module,), site.channels, ("StochasticDepth",))


def prelu(site: Site) -> Built:
    """nn.PReLU(): one shared slope, or one per channel."""
    layer: Any = site.layer
    if "shared" in site.bound:
        count = f"1 if {site.value('shared')} else {site.in_channels()}"
        return same(site, call("nn.PReLU", count))
    return same(site, call("nn.PReLU") if layer.shared else call("nn.PReLU", site.in_channels()))


TORCH_MODULES: dict[str, Builder] = {
    "conv": conv,
    "deconv": deconv,
    "maxpool": pool("nn.MaxPool2d"),
    "avgpool": pool("nn.AvgPool2d"),
    "adaptiveavgpool": adaptive("nn.AdaptiveAvgPool2d"),
    "adaptivemaxpool": adaptive("nn.AdaptiveMaxPool2d"),
    "globalavgpool": global_pool("nn.AdaptiveAvgPool2d"),
    "globalmaxpool": global_pool("nn.AdaptiveMaxPool2d"),
    "flatten": flatten,
    "fc": fc,
    "batchnorm": batchnorm,
    "layernorm": layernorm,
    "groupnorm": groupnorm,
    "instancenorm": instancenorm,
    "relu": elementwise("nn.ReLU"),
    "relu6": elementwise("nn.ReLU6"),
    "leakyrelu": elementwise("nn.LeakyReLU", ("negative_slope", "negative_slope", 0.01)),
    "elu": elementwise("nn.ELU", ("alpha", "alpha", 1.0)),
    "gelu": elementwise("nn.GELU"),
    "silu": elementwise("nn.SiLU"),
    "sigmoid": elementwise("nn.Sigmoid"),
    "tanh": elementwise("nn.Tanh"),
    "hardswish": elementwise("nn.Hardswish"),
    "hardsigmoid": elementwise("nn.Hardsigmoid"),
    "mish": elementwise("nn.Mish"),
    "identity": elementwise("nn.Identity"),
    "softmax": lambda site: same(site, call("nn.Softmax", "dim=1")),
    "prelu": prelu,
    "dropout": elementwise("nn.Dropout", ("p", "p", 0.5)),
    "stochasticdepth": stochastic_depth,
    "layerscale": layer_scale,
    "upsample": upsample,
    "pixelshuffle": pixel_shuffle,
    "pixelunshuffle": pixel_unshuffle,
    "crop": crop,
    "pad": pad,
    "slice": channel_slice,
    "channelshuffle": lambda site: same(site, call("nn.ChannelShuffle", site.value("groups"))),
}
"""Each layer kind (by its canonical name) → the builder of its torch modules."""


def torch_modules(site: Site) -> Built:
    """The modules of the layer at ``site``; an error for a kind with no mapping."""
    builder = TORCH_MODULES.get(site.layer.type_name)
    if builder is None:
        raise UnsupportedLayer(f"export: no PyTorch module for `{site.layer.type_name}` layers")
    return builder(site)
