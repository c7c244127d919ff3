"""The layer kinds and their arithmetic, one module per family; importing this registers them."""

from convcalc.layers import activation, conv, dense, norm, pooling
from convcalc.layers.base import LAYER_KINDS, Layer, Outcome, Shape

__all__ = [
    "LAYER_KINDS",
    "Layer",
    "Outcome",
    "Shape",
    "activation",
    "conv",
    "dense",
    "norm",
    "pooling",
]
