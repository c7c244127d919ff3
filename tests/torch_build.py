"""convcalc → PyTorch: the torch module of a layer, and of a whole report's dataflow graph.

The one translator every oracle test builds torch models with (import it after
``pytest.importorskip("torch")``). It reads only a layer's options and its input's channel count,
never convcalc's outcomes, so the numbers torch then reports are its own.
"""

from __future__ import annotations

from typing import Any

import torch

from convcalc.layers import activation, conv, dense, norm, pooling
from convcalc.layers.base import Layer, Shape, pair
from convcalc.report import NETWORK_INPUT, Report

nn = torch.nn
Module: Any = torch.nn.Module

ELEMENTWISE = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "hardswish": nn.Hardswish,
}
"""Kinds without options whose torch module takes none either."""


def module_of(layer: Layer, shape: Shape) -> Any:
    """The torch module that computes ``layer`` on one sample of ``shape`` (C×H×W, or D for a
    vector); create it under ``with torch.device(...)`` to choose the device."""
    channels = shape[0]
    match layer:
        case conv.Conv():
            return nn.Conv2d(
                channels,
                layer.filters,
                pair(layer.kernel),
                pair(layer.stride),
                layer.pad if isinstance(layer.pad, str) else pair(layer.pad),
                pair(layer.dilation),
                groups_of(layer.groups, channels),
                layer.bias,
            )
        case conv.Deconv():
            return nn.ConvTranspose2d(
                channels,
                layer.filters,
                pair(layer.kernel),
                pair(layer.stride),
                pair(layer.pad),
                pair(layer.output_padding),
                groups_of(layer.groups, channels),
                layer.bias,
                pair(layer.dilation),
            )
        case pooling.MaxPool():
            return nn.MaxPool2d(
                pair(layer.kernel),
                pair(layer.stride or layer.kernel),
                pair(layer.pad),  # type: ignore[arg-type]
                pair(layer.dilation),
                ceil_mode=layer.ceil_mode,
            )
        case pooling.AvgPool():
            return nn.AvgPool2d(
                pair(layer.kernel),
                pair(layer.stride or layer.kernel),
                pair(layer.pad),  # type: ignore[arg-type]
                ceil_mode=layer.ceil_mode,
                count_include_pad=layer.count_include_pad,
            )
        case pooling.AdaptiveAvgPool():
            return nn.AdaptiveAvgPool2d(pair(layer.output))
        case pooling.AdaptiveMaxPool():
            return nn.AdaptiveMaxPool2d(pair(layer.output))
        case pooling.GlobalAvgPool():
            return nn.AdaptiveAvgPool2d(1)
        case pooling.GlobalMaxPool():
            return nn.AdaptiveMaxPool2d(1)
        case dense.Flatten():
            return nn.Flatten()
        case dense.FC():
            return nn.Linear(channels, layer.out, layer.bias)
        case norm.BatchNorm():
            batchnorm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            return batchnorm(channels, layer.eps, layer.momentum, affine=layer.affine)
        case norm.LayerNorm():
            return nn.LayerNorm(list(shape), layer.eps, elementwise_affine=layer.affine)
        case norm.GroupNorm():
            return nn.GroupNorm(layer.groups, channels, layer.eps, affine=layer.affine)
        case norm.InstanceNorm():
            return nn.InstanceNorm2d(channels, layer.eps, affine=layer.affine)
        case activation.Dropout():
            return nn.Dropout(layer.p)
        case activation.PReLU():
            return nn.PReLU(1 if layer.shared else channels)
        case activation.LeakyReLU():
            return nn.LeakyReLU(layer.negative_slope)
        case activation.ELU():
            return nn.ELU(layer.alpha)
        case activation.Softmax():
            return nn.Softmax(dim=1)
    return ELEMENTWISE[layer.type_name]()


def groups_of(groups: int | str, channels: int) -> int:
    """A conv's ``groups`` option as torch's number (``depthwise``: one per input channel)."""
    return channels if groups == "depthwise" else int(groups)


class Graph(Module):  # type: ignore[misc]
    """A report's network in torch: each row's module run on its sources (``Row.sources``),
    merges as torch adds and concatenates them."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report
        self.layers = nn.ModuleList(
            nn.Identity() if row.layer is None else module_of(row.layer, row.input)
            for row in report.rows
        )

    def forward(self, x: Any) -> Any:
        outputs: list[Any] = []
        for row, module in zip(self.report.rows, self.layers, strict=True):
            inputs = [x if source == NETWORK_INPUT else outputs[source] for source in row.sources]
            if row.type == "add":
                outputs.append(inputs[0] + inputs[1])
            elif row.type == "concat":
                outputs.append(torch.cat(inputs, 1))
            else:
                outputs.append(module(inputs[0]))
        return outputs[-1]
