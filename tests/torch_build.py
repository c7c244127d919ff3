"""convcalc → PyTorch: the torch module of a layer, the torch function of a merge, and a whole
report's dataflow graph (sources from ``from:``, gates, several outputs) as one module.

The one translator every oracle test builds torch models from convcalc specs with (import it
after ``pytest.importorskip("torch")``). It reads only a layer's options and its input's channel
count, never convcalc's outcomes, so the numbers torch then reports are its own.
``TRANSLATIONS`` and ``TRANSLATED_MERGES`` hold the kinds it knows; a test checks that they
are every registered kind.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any

import pytest
import torch

from convcalc.layers import activation, conv, dense, merge, norm, pooling, rearrange, resample
from convcalc.layers.base import Layer, Merge, Shape, pair
from convcalc.report import NETWORK_INPUT, Report

nn = torch.nn
F = torch.nn.functional
Module: Any = torch.nn.Module

Translation = Callable[[Any, Shape], Any]
"""A kind's torch module from a layer of that kind and its one-sample input shape."""

TRANSLATIONS: dict[type[Layer], Translation] = {}
"""Every layer kind's translation, by its exact class (a test checks that no kind is missing)."""


def translates(*kinds: type[Layer]) -> Callable[[Translation], Translation]:
    """Registers the decorated function as the translation of ``kinds``."""

    def register(translation: Translation) -> Translation:
        for kind in kinds:
            TRANSLATIONS[kind] = translation
        return translation

    return register


def module_of(layer: Layer, shape: Shape) -> Any:
    """The torch module that computes ``layer`` on one sample of ``shape`` (C×H×W, or D for a
    vector); create it under ``with torch.device(...)`` to choose the device."""
    return TRANSLATIONS[type(layer)](layer, shape)


ELEMENTWISE: dict[type[Layer], Any] = {
    activation.ReLU: nn.ReLU,
    activation.ReLU6: nn.ReLU6,
    activation.GELU: nn.GELU,
    activation.SiLU: nn.SiLU,
    activation.Sigmoid: nn.Sigmoid,
    activation.Tanh: nn.Tanh,
    activation.Hardswish: nn.Hardswish,
    activation.Hardsigmoid: nn.Hardsigmoid,
    activation.Mish: nn.Mish,
    activation.Identity: nn.Identity,
    dense.Flatten: nn.Flatten,
}
"""Kinds without options whose torch module takes none either."""


def without_options(layer: Layer, _shape: Shape) -> Any:
    """The module of a kind in ``ELEMENTWISE``."""
    return ELEMENTWISE[type(layer)]()


translates(*ELEMENTWISE)(without_options)

ONE_OPTION: dict[type[Layer], tuple[Any, str]] = {
    activation.Dropout: (nn.Dropout, "p"),
    activation.LeakyReLU: (nn.LeakyReLU, "negative_slope"),
    activation.ELU: (nn.ELU, "alpha"),
    resample.PixelShuffle: (nn.PixelShuffle, "factor"),
    resample.PixelUnshuffle: (nn.PixelUnshuffle, "factor"),
    rearrange.ChannelShuffle: (nn.ChannelShuffle, "groups"),
}
"""Kinds whose torch module takes one argument: the kind's option of that name."""


def with_one_option(layer: Layer, _shape: Shape) -> Any:
    """The module of a kind in ``ONE_OPTION``."""
    module, option = ONE_OPTION[type(layer)]
    return module(getattr(layer, option))


translates(*ONE_OPTION)(with_one_option)


class Forward(Module):  # type: ignore[misc]
    """A module around a function of (module, x), for the kinds torch has as functions only;
    ``parameters`` become its learned parameters and ``children`` its submodules."""

    def __init__(
        self,
        function: Callable[..., Any],
        children: dict[str, Any] | None = None,
        **parameters: Any,
    ) -> None:
        super().__init__()
        self.function = function
        for name, value in parameters.items():
            self.register_parameter(name, nn.Parameter(value))
        for name, child in (children or {}).items():
            self.add_module(name, child)

    def forward(self, x: Any) -> Any:
        return self.function(self, x)


@translates(conv.Conv)
def conv2d(layer: conv.Conv, shape: Shape) -> Any:
    """``nn.Conv2d``; ``pad: same`` with a stride, which torch refuses, as TensorFlow pads it
    (:func:`tf_same_padding`) before a conv without padding."""
    tf_same = layer.pad == "same" and pair(layer.stride) != (1, 1)
    module = nn.Conv2d(
        shape[0],
        layer.filters,
        pair(layer.kernel),
        pair(layer.stride),
        0 if tf_same else layer.pad if isinstance(layer.pad, str) else pair(layer.pad),
        pair(layer.dilation),
        groups_of(layer.groups, shape[0]),
        layer.bias,
    )
    if not tf_same:
        return module
    (top, bottom), (left, right) = (
        tf_same_padding(size, kernel, stride, dilation)
        for size, kernel, stride, dilation in zip(
            shape[1:], pair(layer.kernel), pair(layer.stride), pair(layer.dilation), strict=True
        )
    )
    return Forward(
        lambda self, x: self.conv(F.pad(x, (left, right, top, bottom))), {"conv": module}
    )


def tf_same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's `SAME`: out = ⌈W/S⌉, total padding max((out − 1)·S + K_eff − W, 0), the odd
    cell after (tf.nn.convolution's documented rule, written out independently of convcalc)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


@translates(conv.Deconv)
def conv_transpose2d(layer: conv.Deconv, shape: Shape) -> Any:
    return nn.ConvTranspose2d(
        shape[0],
        layer.filters,
        pair(layer.kernel),
        pair(layer.stride),
        pair(layer.pad),
        pair(layer.output_padding),
        groups_of(layer.groups, shape[0]),
        layer.bias,
        pair(layer.dilation),
    )


def groups_of(groups: int | str, channels: int) -> int:
    """A conv's ``groups`` option as torch's number (``depthwise``: one per input channel)."""
    return channels if groups == "depthwise" else int(groups)


@translates(pooling.MaxPool)
def max_pool(layer: pooling.MaxPool, _shape: Shape) -> Any:
    return nn.MaxPool2d(
        pair(layer.kernel),
        pair(layer.stride or layer.kernel),
        pair(layer.pad),  # type: ignore[arg-type]
        pair(layer.dilation),
        ceil_mode=layer.ceil_mode,
    )


@translates(pooling.AvgPool)
def avg_pool(layer: pooling.AvgPool, _shape: Shape) -> Any:
    return nn.AvgPool2d(
        pair(layer.kernel),
        pair(layer.stride or layer.kernel),
        pair(layer.pad),  # type: ignore[arg-type]
        ceil_mode=layer.ceil_mode,
        count_include_pad=layer.count_include_pad,
    )


@translates(pooling.AdaptiveAvgPool, pooling.AdaptiveMaxPool)
def adaptive_pool(layer: pooling.AdaptivePool, _shape: Shape) -> Any:
    average = isinstance(layer, pooling.AdaptiveAvgPool)
    return (nn.AdaptiveAvgPool2d if average else nn.AdaptiveMaxPool2d)(pair(layer.output))


@translates(pooling.GlobalAvgPool, pooling.GlobalMaxPool)
def global_pool(layer: pooling.GlobalPool, _shape: Shape) -> Any:
    average = isinstance(layer, pooling.GlobalAvgPool)
    return (nn.AdaptiveAvgPool2d if average else nn.AdaptiveMaxPool2d)(1)


@translates(dense.FC)
def linear(layer: dense.FC, shape: Shape) -> Any:
    return nn.Linear(shape[0], layer.out, layer.bias)


@translates(norm.BatchNorm)
def batch_norm(layer: norm.BatchNorm, shape: Shape) -> Any:
    batchnorm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return batchnorm(shape[0], layer.eps, layer.momentum, affine=layer.affine)


@translates(norm.LayerNorm)
def layer_norm(layer: norm.LayerNorm, shape: Shape) -> Any:
    if layer.over == "all":
        return nn.LayerNorm(list(shape), layer.eps, elementwise_affine=layer.affine)
    # ConvNeXt's LayerNorm2d: over the channels at each position, channels last.
    channels_last = nn.LayerNorm(shape[0], layer.eps, elementwise_affine=layer.affine)
    return Forward(
        lambda self, x: self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2),
        {"norm": channels_last},
    )


@translates(norm.GroupNorm)
def group_norm(layer: norm.GroupNorm, shape: Shape) -> Any:
    return nn.GroupNorm(layer.groups, shape[0], layer.eps, affine=layer.affine)


@translates(norm.InstanceNorm)
def instance_norm(layer: norm.InstanceNorm, shape: Shape) -> Any:
    return nn.InstanceNorm2d(shape[0], layer.eps, affine=layer.affine)


@translates(activation.StochasticDepth)
def stochastic_depth(layer: activation.StochasticDepth, _shape: Shape) -> Any:
    return torchvision().ops.StochasticDepth(layer.p, layer.mode)


@translates(activation.PReLU)
def prelu(layer: activation.PReLU, shape: Shape) -> Any:
    return nn.PReLU(1 if layer.shared else shape[0])


@translates(activation.Softmax)
def softmax(_layer: activation.Softmax, _shape: Shape) -> Any:
    return nn.Softmax(dim=1)


@translates(activation.LayerScale)
def layer_scale(layer: activation.LayerScale, shape: Shape) -> Any:
    """γ per channel, initialised to ``init`` (as ConvNeXt's), broadcast over H×W."""
    gamma = torch.full((shape[0], *(1,) * (len(shape) - 1)), layer.init)
    return Forward(lambda self, x: x * self.gamma, gamma=gamma)


@translates(resample.Upsample)
def upsample(layer: resample.Upsample, _shape: Shape) -> Any:
    options: dict[str, Any] = {"mode": layer.mode}
    if layer.mode != "nearest":
        options["align_corners"] = layer.align_corners
    if layer.size is not None:
        options["size"] = pair(layer.size)
    else:
        options["scale_factor"] = layer.scale
    return Forward(lambda _, x: F.interpolate(x, **options))


@translates(rearrange.Crop)
def crop(layer: rearrange.Crop, _shape: Shape) -> Any:
    """A centred ``size`` by torchvision's ``center_crop``, or the sides cut off by slicing."""
    if layer.size is not None:
        size = list(pair(layer.size))
        center_crop = torchvision().transforms.functional.center_crop
        return Forward(lambda _, x: center_crop(x, size))
    top, bottom, left, right = layer.top, layer.bottom, layer.left, layer.right
    return Forward(lambda _, x: x[..., top : x.shape[2] - bottom, left : x.shape[3] - right])


@translates(rearrange.Pad)
def pad(layer: rearrange.Pad, _shape: Shape) -> Any:
    top, bottom, left, right = layer.sides()
    mode = "constant" if layer.mode == "zeros" else layer.mode
    return Forward(lambda _, x: F.pad(x, (left, right, top, bottom), mode=mode))


@translates(rearrange.Slice)
def channel_slice(layer: rearrange.Slice, _shape: Shape) -> Any:
    start, end = layer.channels
    return Forward(lambda _, x: x[:, start:end])


def torchvision() -> Any:
    """torchvision, for the kinds it has (stochastic depth, a centre crop); imported only when a
    network has one, so that the oracles of the other kinds run without it."""
    return pytest.importorskip("torchvision", reason="torchvision not installed")


TRANSLATED_MERGES: dict[type[Merge], Callable[[list[Any]], Any]] = {
    merge.Add: lambda xs: reduce(torch.add, xs),
    merge.Mul: lambda xs: reduce(torch.mul, xs),
    merge.Concat: lambda xs: torch.cat(xs, dim=1),
}
"""Each merge kind as torch computes it on its inputs, in order (a product as ((x₁·x₂)·x₃)…)."""


def merged(kind: Merge, inputs: list[Any]) -> Any:
    """The merge ``kind`` of ``inputs`` in torch."""
    return TRANSLATED_MERGES[type(kind)](inputs)


class Graph(Module):  # type: ignore[misc]
    """A report's network in torch: each row's module (``layers[i]``; an identity for a merge)
    run on its sources (``Row.sources``), merges by ``merged``. Called, it returns the
    network's output, or a tuple of its outputs when it names several."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report
        self.layers = nn.ModuleList(
            nn.Identity() if row.layer is None else module_of(row.layer, row.input)
            for row in report.rows
        )

    def inputs_of(self, index: int, x: Any, outputs: list[Any]) -> list[Any]:
        """Row ``index``'s input tensors, from the network's input ``x`` and the rows before."""
        return [x if s == NETWORK_INPUT else outputs[s] for s in self.report.rows[index].sources]

    def run(self, x: Any) -> list[Any]:
        """Every row's output, the rows run in order on their sources."""
        outputs: list[Any] = []
        for index, (row, module) in enumerate(zip(self.report.rows, self.layers, strict=True)):
            inputs = self.inputs_of(index, x, outputs)
            outputs.append(module(inputs[0]) if row.merge is None else merged(row.merge, inputs))
        return outputs

    def forward(self, x: Any) -> Any:
        outputs = self.run(x)
        if not self.report.outputs:
            return outputs[-1]
        named = tuple(x if o.row == NETWORK_INPUT else outputs[o.row] for o in self.report.outputs)
        return named[0] if len(named) == 1 else named
