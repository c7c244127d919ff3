"""The layer kinds for any CNN (resampling, rearranging, gating helpers) against PyTorch, on
hundreds of seeded random configurations: output shape (or both refuse), params, MACs by
FlopCounterMode, what backward keeps by ``saved_tensors_hooks``, the Jacobian's non-zeros by
``torch.autograd.functional.jacobian`` and the receptive field by the gradient probe."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from convcalc.errors import ConvcalcError
from convcalc.layers.activation import (
    Hardsigmoid,
    Identity,
    LayerScale,
    Mish,
    StochasticDepth,
)
from convcalc.layers.base import Layer, Shape, elements, pair
from convcalc.layers.norm import LayerNorm
from convcalc.layers.rearrange import ChannelShuffle, Crop, Pad, Slice
from convcalc.layers.resample import PixelShuffle, PixelUnshuffle, Upsample
from convcalc.receptive import ReceptiveField

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
flop_counter = pytest.importorskip("torch.utils.flop_counter")

from tests.torch_build import module_of  # noqa: E402

pytestmark = pytest.mark.oracle

nn = torch.nn


def scale_value(rng: random.Random) -> float | tuple[float, float]:
    """A scale factor, sometimes per axis, sometimes fractional."""
    choice = rng.choice([2.0, 3.0, 0.5, 1.5, 0.29, 1.0])
    if rng.random() < 0.3:
        return (choice, rng.choice([2.0, 0.75, 1.25]))
    return choice


def random_layer(rng: random.Random, name: str, shape: Shape) -> Layer | None:
    """A random configuration of kind ``name`` (``None`` when convcalc refuses the options)."""
    channels = shape[0]
    try:
        match name:
            case "upsample":
                mode: Any = rng.choice(["nearest", "bilinear", "bicubic"])
                align = mode != "nearest" and rng.random() < 0.4
                if rng.random() < 0.5:
                    return Upsample(scale=scale_value(rng), mode=mode, align_corners=align)
                size: Any = rng.choice(
                    [rng.randint(1, 20), (rng.randint(1, 20), rng.randint(1, 20))]
                )
                return Upsample(size=size, mode=mode, align_corners=align)
            case "pixelshuffle":
                return PixelShuffle(factor=rng.randint(1, 3))
            case "pixelunshuffle":
                return PixelUnshuffle(factor=rng.randint(1, 3))
            case "crop":
                if rng.random() < 0.6:
                    crop: Any = rng.choice(
                        [rng.randint(1, 12), (rng.randint(1, 12), rng.randint(1, 12))]
                    )
                    return Crop(size=crop)
                return Crop(
                    top=rng.randint(0, 3),
                    bottom=rng.randint(0, 3),
                    left=rng.randint(0, 3),
                    right=rng.randint(1, 3),
                )
            case "pad":
                mode = rng.choice(["zeros", "reflect", "replicate", "circular"])
                pad = rng.choice(
                    [
                        rng.randint(0, 4),
                        (rng.randint(0, 4), rng.randint(0, 4)),
                        tuple(rng.randint(0, 4) for _ in range(4)),
                    ]
                )
                return Pad(pad=pad, mode=mode)  # type: ignore[arg-type]
            case "slice":
                start = rng.randint(0, channels)
                return Slice(channels=(start, rng.randint(start + 1, channels + 2)))
            case "channelshuffle":
                return ChannelShuffle(groups=rng.randint(1, 4))
            case "layerscale":
                return LayerScale(init=rng.uniform(0.5, 1.5))
            case "stochasticdepth":
                return StochasticDepth(
                    p=rng.choice([0.0, 0.2, 0.5]), mode=rng.choice(["row", "batch"])
                )
            case "layernorm":
                return LayerNorm(over="channels")
            case _:
                return {"hardsigmoid": Hardsigmoid, "mish": Mish, "identity": Identity}[name]()
    except ConvcalcError:
        return None


KINDS = [
    "upsample", "pixelshuffle", "pixelunshuffle", "crop", "pad", "slice", "channelshuffle",
    "layerscale", "stochasticdepth", "layernorm", "hardsigmoid", "mish", "identity",
]  # fmt: skip


def torch_refuses(module: Any, shape: Shape) -> tuple[int, ...] | None:
    """The output shape torch gives for one sample, or ``None`` when it refuses."""
    try:
        with torch.no_grad():
            return tuple(module(torch.zeros(1, *shape, dtype=torch.float64)).shape[1:])
    except (RuntimeError, ValueError, IndexError):
        return None


def torch_gives_what_was_asked(layer: Layer, shape: Shape, output: Shape) -> bool:
    """Whether torch's output is the crop or slice the options ask for (Python slicing clamps
    a range beyond the input, and torchvision's center_crop pads a crop larger than it)."""
    if isinstance(layer, Slice):
        return output[0] == layer.channels[1] - layer.channels[0]
    if isinstance(layer, Crop):
        asked = (
            pair(layer.size)
            if layer.size is not None
            else (shape[1] - layer.top - layer.bottom, shape[2] - layer.left - layer.right)
        )
        return (
            output[1:] == asked and asked[0] <= shape[1] and asked[1] <= shape[2] and min(asked) > 0
        )
    return True


def kept_values(module: Any, shape: Shape, batch: int) -> int:
    """Values of the non-parameter tensors backward keeps, the input needing a gradient."""
    parameters = {id(p) for p in module.parameters()}
    kept: list[int] = []

    def pack(tensor: Any) -> Any:
        if id(tensor) not in parameters and not isinstance(tensor, nn.Parameter):
            kept.append(tensor.numel())
        return tensor

    x = torch.randn(batch, *shape, dtype=torch.float64, requires_grad=True) * 1
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(x)
    return sum(kept)


def saved_values(layer: Layer, shape: Shape, output: Shape, batch: int) -> int:
    saved = layer.saved_tensors(shape, output, batch)
    total = batch * (elements(shape) * saved.input + elements(output) * saved.output)
    return total + (saved.extra.values if saved.extra is not None else 0)


@pytest.mark.parametrize("name", KINDS)
def test_new_kinds_match_torch(name: str) -> None:
    rng = random.Random(f"kinds-{name}")
    mismatches: list[str] = []
    compared = 0
    for case in range(70):
        shape = (rng.choice([1, 2, 4, 6, 8, 9, 12]), rng.randint(1, 9), rng.randint(1, 9))
        layer = random_layer(rng, name, shape)
        if layer is None:
            continue
        module = module_of(layer, shape).double()
        module.train(name == "stochasticdepth")
        try:
            outcome = layer.apply(shape)
        except ConvcalcError:
            outcome = None
        expected = torch_refuses(module, shape)
        if (
            outcome is None
            and expected is not None
            and not torch_gives_what_was_asked(layer, shape, expected)
        ):
            continue  # convcalc refuses where torch silently clamps, pads or empties
        if outcome is None or expected is None:
            if (outcome is None) != (expected is None):
                mismatches.append(
                    f"case {case}: {layer!r} on {shape}: "
                    f"ours {outcome and outcome.output}, torch {expected}"
                )
            continue
        compared += 1
        problems = []
        if outcome.output != expected:
            problems.append(f"shape {outcome.output} != {expected}")
        params = sum(p.numel() for p in module.parameters())
        if outcome.params != params:
            problems.append(f"params {outcome.params} != {params}")
        with flop_counter.FlopCounterMode(display=False) as counter:
            module(torch.zeros(1, *shape, dtype=torch.float64))
        if outcome.macs * 2 != counter.get_total_flops():
            problems.append(f"MACs {outcome.macs} != {counter.get_total_flops() // 2}")
        batch = rng.randint(1, 3)
        ours, theirs = (
            saved_values(layer, shape, outcome.output, batch),
            kept_values(module, shape, batch),
        )
        if ours != theirs:
            problems.append(f"saved values {ours} != {theirs}")
        if elements(shape) * elements(outcome.output) <= 8_000:
            module.eval()
            x = torch.rand(1, *shape, dtype=torch.float64) * 2 - 1
            nonzeros = int((torch.autograd.functional.jacobian(module, x) != 0).sum())
            if layer.jacobian_nonzeros(shape, outcome.output) != nonzeros:
                ours_nonzeros = layer.jacobian_nonzeros(shape, outcome.output)
                problems.append(f"Jacobian non-zeros {ours_nonzeros} != {nonzeros}")
        if problems:
            mismatches.append(f"case {case}: {layer!r} on {shape}: " + "; ".join(problems))
    assert not mismatches, "\n".join(mismatches)
    assert compared >= 30


def probe(module: Any, shape: Shape, unit: tuple[int, int]) -> tuple[list[int], list[int]]:
    """The input rows and columns whose gradient is non-zero for output ``unit`` (all
    channels)."""
    x = torch.rand(1, *shape, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    module(x)[0, :, unit[0], unit[1]].sum().backward()
    grad = x.grad[0].abs().sum(dim=0)
    rows = torch.nonzero(grad.sum(dim=1)).flatten().tolist()
    cols = torch.nonzero(grad.sum(dim=0)).flatten().tolist()
    return rows, cols


@pytest.mark.parametrize("name", ["upsample", "pixelshuffle", "pixelunshuffle", "crop", "pad"])
def test_receptive_field_by_gradient_probe(name: str) -> None:
    """A central output unit's field: exactly the probed cells where each output reads whole
    cells; for bilinear and bicubic interpolation, the probed cells lie in the field and span
    at most its size (a whole source position reads fewer cells)."""
    rng = random.Random(f"probe-{name}")
    mismatches: list[str] = []
    checked = 0
    for case in range(80):
        shape = (4, rng.randint(4, 12), rng.randint(4, 12))
        layer = random_layer(rng, name, shape)
        if layer is None:
            continue
        try:
            outcome = layer.apply(shape)
        except ConvcalcError:
            continue
        module = module_of(layer, shape).double()
        field = ReceptiveField().then(outcome.rf, shape[1:])
        unit = ((outcome.output[1] - 1) // 2, (outcome.output[2] - 1) // 2)
        cells = probe(module, shape, unit)
        interpolates = isinstance(layer, Upsample) and layer.mode != "nearest"
        for axis in (0, 1):
            if not cells[axis]:
                continue  # a padded output: no input cell
            centre = field.start[axis] + unit[axis] * field.jump[axis]
            if isinstance(layer, PixelShuffle) or (
                isinstance(layer, Upsample) and layer.mode == "nearest"
            ):
                centre = math.floor(centre + 1e-9)
            low, high = centre - (field.size[axis] - 1) / 2, centre + (field.size[axis] - 1) / 2
            seen = (cells[axis][0], cells[axis][-1])
            checked += 1
            if interpolates:
                fits = low - 1 <= seen[0] and seen[1] <= high + 1
                fits = fits and seen[1] - seen[0] + 1 <= field.size[axis]
            else:
                fits = seen == (low, high) or (low < 0 or high > shape[1 + axis] - 1)
            if not fits:
                mismatches.append(
                    f"case {case}: {layer!r} on {shape} axis {axis}: probe {seen}, "
                    f"convcalc {low}…{high}"
                )
    assert not mismatches, "\n".join(mismatches)
    assert checked > 40
