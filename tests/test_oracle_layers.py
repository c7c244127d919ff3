"""The single-layer arithmetic against PyTorch, on hundreds of seeded random configurations.

Shapes come from ``torch.nn`` modules run on ``meta`` tensors (shapes without compute); parameter
and buffer counts from the modules' own tensors; MACs from ``torch.utils.flop_counter`` (FLOPs/2);
receptive fields from the gradient probe: constant positive weights, back-propagate one output
unit, and measure the span of the non-zero input gradient. A configuration convcalc refuses must be
one PyTorch refuses too, and the other way round.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from convcalc.errors import ConvcalcError
from convcalc.layers.activation import Dropout, PReLU
from convcalc.layers.base import Layer, Shape, pair
from convcalc.layers.conv import Conv, Deconv
from convcalc.layers.dense import FC, Flatten
from convcalc.layers.norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from convcalc.layers.pooling import AdaptiveAvgPool, AdaptiveMaxPool, AvgPool, MaxPool
from convcalc.receptive import ReceptiveField

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
flop_counter = pytest.importorskip("torch.utils.flop_counter")

from tests.torch_build import module_of, tf_same_padding  # noqa: E402

pytestmark = pytest.mark.oracle

nn = torch.nn
F = torch.nn.functional
META = torch.device("meta")

TORCH_REFUSES = (RuntimeError, ValueError)
"""What torch raises for a configuration it cannot run (bad sizes, groups, padding)."""


def ours(kind: Callable[..., Layer], shape: Shape, **options: Any) -> Any:
    """convcalc's outcome of ``kind(**options)`` on ``shape``, or ``None`` when it refuses."""
    try:
        return kind(**options).apply(shape)
    except ConvcalcError:
        return None


def theirs(run: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, ...] | None:
    """The per-sample output shape torch computes, or ``None`` when torch refuses.

    An empty output counts as a refusal: the meta kernel of a transposed conv returns a size of 0
    where the CPU kernel raises "Output size is too small" (and the spec makes zero an error).
    """
    try:
        shape = tuple(int(size) for size in run(*args, **kwargs).shape[1:])
    except TORCH_REFUSES:
        return None
    return shape if all(shape) else None


def meta(shape: Shape) -> Any:
    """A batch of one ``shape`` sample on the meta device."""
    return torch.empty(1, *shape, device=META)


def count(tensors: Any) -> int:
    """Total elements of an iterable of tensors (parameters or buffers)."""
    return sum(int(tensor.numel()) for tensor in tensors)


def maybe_pair(rng: random.Random, low: int, high: int) -> int | tuple[int, int]:
    """An int, or (one time in three) a rectangular [h, w] pair."""
    if rng.random() < 1 / 3:
        return (rng.randint(low, high), rng.randint(low, high))
    return rng.randint(low, high)


def agree(
    label: str, mine: Any, torch_shape: tuple[int, ...] | None, mismatches: list[str]
) -> bool:
    """Record a mismatch of validity or shape; True when both computed a shape."""
    my_shape = None if mine is None else mine.output
    if my_shape != torch_shape:
        mismatches.append(f"{label}: convcalc {my_shape}, torch {torch_shape}")
        return False
    return my_shape is not None


# --- convolution ------------------------------------------------------------------------------


def conv_module(
    channels: int,
    filters: int,
    groups: int,
    bias: bool,
    kernel: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
) -> Any:
    """``nn.Conv2d`` on the meta device."""
    return nn.Conv2d(
        channels,
        filters,
        pair(kernel),
        stride=pair(stride),
        padding=padding,
        dilation=pair(dilation),
        groups=groups,
        bias=bias,
        device=META,
    )


def torch_conv(
    shape: Shape,
    filters: int,
    groups: int,
    bias: bool,
    *,
    kernel: Any,
    stride: Any,
    pad: Any,
    dilation: Any,
) -> Any:
    """The conv in torch: its own ``padding='same'`` for stride 1, TensorFlow's padding applied
    with ``F.pad`` for larger strides (torch refuses ``same`` there), else explicit padding."""
    x = meta(shape)
    geometry = (kernel, stride)
    if pad == "same" and pair(stride) == (1, 1):
        return conv_module(shape[0], filters, groups, bias, *geometry, "same", dilation)(x)
    if pad == "same":
        (top, bottom), (left, right) = (
            tf_same_padding(size, k, s, d)
            for size, k, s, d in zip(
                shape[1:], pair(kernel), pair(stride), pair(dilation), strict=True
            )
        )
        padded = F.pad(x, (left, right, top, bottom))
        return conv_module(shape[0], filters, groups, bias, *geometry, 0, dilation)(padded)
    padding = 0 if pad == "valid" else pair(pad)
    return conv_module(shape[0], filters, groups, bias, *geometry, padding, dilation)(x)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_conv_matches_torch() -> None:
    rng = random.Random(20240601)
    mismatches: list[str] = []
    valid = 0
    for case in range(400):
        groups = rng.choice([1, 1, 1, 2, 3])
        channels = groups * rng.randint(1, 2)
        filters = groups * rng.randint(1, 2)
        kernel = maybe_pair(rng, 1, 5)
        stride = maybe_pair(rng, 1, 3) if rng.random() < 0.7 else 1
        dilation = maybe_pair(rng, 1, 2) if rng.random() < 0.4 else 1
        pad: Any = rng.choice([0, 1, 2, 3, (1, 2), (0, 3), "same", "same", "valid"])
        bias = rng.random() < 0.7
        depthwise = groups == channels and rng.random() < 0.5
        shape = (channels, rng.randint(1, 20), rng.randint(1, 20))
        options = {"kernel": kernel, "stride": stride, "pad": pad, "dilation": dilation}
        mine = ours(
            Conv,
            shape,
            filters=filters,
            groups="depthwise" if depthwise else groups,
            bias=bias,
            **options,
        )
        torch_shape = theirs(torch_conv, shape, filters, groups, bias, **options)
        label = f"case {case}: conv {shape} F={filters} k={kernel} s={stride} p={pad} d={dilation}"
        if agree(label, mine, torch_shape, mismatches):
            valid += 1
            params = count(
                conv_module(
                    shape[0], filters, groups, bias, kernel, stride, 0, dilation
                ).parameters()
            )
            if mine.params != params:
                mismatches.append(f"{label}: params {mine.params} != {params}")
    assert not mismatches, "\n".join(mismatches)
    assert valid > 250  # most random cases must be runnable for the comparison to mean much


def test_deconv_matches_torch() -> None:
    rng = random.Random(7)
    mismatches: list[str] = []
    valid = 0
    for case in range(250):
        groups = rng.choice([1, 1, 2, 3])
        channels = groups * rng.randint(1, 2)
        filters = groups * rng.randint(1, 2)
        kernel = maybe_pair(rng, 1, 5)
        stride = maybe_pair(rng, 1, 3)
        dilation = maybe_pair(rng, 1, 2) if rng.random() < 0.4 else 1
        pad = maybe_pair(rng, 0, 3)
        # torch's meta kernel does not check output_padding: draw only valid values here (the
        # refusal of invalid ones is checked on CPU below).
        extra = tuple(
            rng.randint(0, max(s, d) - 1) for s, d in zip(pair(stride), pair(dilation), strict=True)
        )
        output_padding = (extra[0], extra[1])
        bias = rng.random() < 0.7
        shape = (channels, rng.randint(1, 12), rng.randint(1, 12))
        mine = ours(
            Deconv,
            shape,
            filters=filters,
            kernel=kernel,
            stride=stride,
            pad=pad,
            output_padding=output_padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )
        module = nn.ConvTranspose2d(
            channels,
            filters,
            pair(kernel),
            stride=pair(stride),
            padding=pair(pad),
            output_padding=output_padding,
            groups=groups,
            bias=bias,
            dilation=pair(dilation),
            device=META,
        )
        label = (
            f"case {case}: deconv {shape} F={filters} k={kernel} s={stride} p={pad} "
            f"op={output_padding} d={dilation} g={groups}"
        )
        if agree(label, mine, theirs(module, meta(shape)), mismatches):
            valid += 1
            if mine.params != count(module.parameters()):
                mismatches.append(f"{label}: params {mine.params}")
    assert not mismatches, "\n".join(mismatches)
    assert valid > 150


@pytest.mark.parametrize(
    ("stride", "dilation", "output_padding"), [(2, 1, 2), (1, 1, 1), (3, 2, 3), (1, 3, 3)]
)
def test_deconv_output_padding_must_be_below_stride_or_dilation(
    stride: int, dilation: int, output_padding: int
) -> None:
    module = nn.ConvTranspose2d(
        2, 2, 3, stride=stride, dilation=dilation, output_padding=output_padding
    )
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        module(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ConvcalcError, match="output_padding"):
        Deconv(filters=2, kernel=3, stride=stride, dilation=dilation, output_padding=output_padding)


def test_groups_that_do_not_divide_are_refused_by_both() -> None:
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=3, device=META)
    with pytest.raises(ConvcalcError, match="do not split into 3 groups"):
        Conv(filters=6, kernel=3, groups=3).apply((4, 8, 8))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.ConvTranspose2d(6, 4, 3, groups=3, device=META)
    with pytest.raises(ConvcalcError, match="do not split into 3 groups"):
        Deconv(filters=4, kernel=3, groups=3).apply((6, 8, 8))


# --- pooling ------------------------------------------------------------------------------------


def test_max_and_avg_pools_match_torch() -> None:
    rng = random.Random(31337)
    mismatches: list[str] = []
    valid = 0
    for case in range(400):
        is_max = case % 2 == 0
        kernel = maybe_pair(rng, 1, 4)
        stride = maybe_pair(rng, 1, 3) if rng.random() < 0.7 else None
        pad = maybe_pair(rng, 0, 2)
        dilation = maybe_pair(rng, 1, 2) if is_max and rng.random() < 0.4 else 1
        ceil_mode = rng.random() < 0.5
        shape = (rng.randint(1, 3), rng.randint(1, 20), rng.randint(1, 20))
        torch_stride = pair(stride) if stride is not None else None
        if is_max:
            mine = ours(
                MaxPool,
                shape,
                kernel=kernel,
                stride=stride,
                pad=pad,
                dilation=dilation,
                ceil_mode=ceil_mode,
            )
            torch_shape = theirs(
                F.max_pool2d,
                meta(shape),
                pair(kernel),
                torch_stride,
                pair(pad),
                pair(dilation),
                ceil_mode=ceil_mode,
            )
        else:
            mine = ours(AvgPool, shape, kernel=kernel, stride=stride, pad=pad, ceil_mode=ceil_mode)
            torch_shape = theirs(
                F.avg_pool2d,
                meta(shape),
                pair(kernel),
                torch_stride,
                pair(pad),
                ceil_mode=ceil_mode,
            )
        kind = "maxpool" if is_max else "avgpool"
        label = (
            f"case {case}: {kind} {shape} k={kernel} s={stride} p={pad} d={dilation} "
            f"ceil={ceil_mode}"
        )
        if agree(label, mine, torch_shape, mismatches):
            valid += 1
            if mine.params != 0:
                mismatches.append(f"{label}: params {mine.params}")
    assert not mismatches, "\n".join(mismatches)
    assert valid > 200


def test_adaptive_pools_match_torch() -> None:
    rng = random.Random(99)
    mismatches: list[str] = []
    for case in range(80):
        output = maybe_pair(rng, 1, 7)
        shape = (rng.randint(1, 4), rng.randint(1, 20), rng.randint(1, 20))
        kind, module = (
            (AdaptiveAvgPool, nn.AdaptiveAvgPool2d)
            if case % 2
            else (AdaptiveMaxPool, nn.AdaptiveMaxPool2d)
        )
        mine = ours(kind, shape, output=output)
        # CPU, not meta: adaptive average pooling's meta kernel is ~50× slower on these sizes.
        torch_shape = theirs(module(pair(output)), torch.zeros(1, *shape))
        agree(f"case {case}: {kind.type_name} {shape} → {output}", mine, torch_shape, mismatches)
    assert not mismatches, "\n".join(mismatches)


# --- params and buffers of the other layers -----------------------------------------------------


def test_norms_and_other_layers_match_torch() -> None:
    # CPU, not meta: these tensors are tiny, and batch norm's meta kernel is ~100× slower.
    rng = random.Random(5)
    mismatches: list[str] = []
    for case in range(40):
        channels = rng.randint(1, 8)
        shape = (channels, rng.randint(2, 9), rng.randint(2, 9))
        affine = rng.random() < 0.5
        groups = rng.choice([g for g in range(1, channels + 1) if channels % g == 0])
        vector = (channels * shape[1] * shape[2],)
        cases: list[tuple[Layer, Shape]] = [
            # num_batches_tracked is a one-element step counter, not a statistic: convcalc's
            # buffers are the 2C running mean and variance.
            (BatchNorm(affine=affine), shape),
            (BatchNorm(affine=affine), vector),
            (LayerNorm(affine=affine), shape),
            (GroupNorm(groups=groups, affine=affine), shape),
            (InstanceNorm(affine=affine), shape),
            (PReLU(shared=affine), shape),
            (Dropout(p=rng.random()), shape),
            (Flatten(), shape),
            (FC(out=rng.randint(1, 20), bias=affine), vector),
        ]
        for layer, given in cases:
            module = module_of(layer, given).eval()
            outcome = layer.apply(given)
            buffers = [
                buffer
                for name, buffer in module.named_buffers()
                if not name.endswith("num_batches_tracked")
            ]
            expected = (
                tuple(module(torch.zeros(1, *given)).shape[1:]),
                count(module.parameters()),
                count(buffers),
            )
            got = (outcome.output, outcome.params, outcome.buffers)
            if got != expected:
                mismatches.append(f"case {case}: {layer} on {given}: {got} != {expected}")
    assert not mismatches, "\n".join(mismatches)


# --- MACs against torch's FLOP counter ----------------------------------------------------------


def counted_macs(module: Any, shape: Shape) -> int:
    """Multiply-accumulates torch counts for one sample: FLOPs/2 (bias adds are not counted)."""
    with flop_counter.FlopCounterMode(display=False) as counter:
        module(meta(shape))
    flops = int(counter.get_total_flops())
    assert flops % 2 == 0
    return flops // 2


def test_macs_match_torchs_flop_counter() -> None:
    rng = random.Random(2718)
    mismatches: list[str] = []
    for case in range(45):
        groups = rng.choice([1, 2])
        channels, filters = groups * rng.randint(1, 3), groups * rng.randint(1, 3)
        kernel, stride = maybe_pair(rng, 1, 4), maybe_pair(rng, 1, 2)
        pad, dilation = maybe_pair(rng, 0, 2), rng.choice([1, 2])
        shape = (channels, rng.randint(8, 16), rng.randint(8, 16))
        bias = case % 3 != 0
        options: dict[str, Any] = {
            "stride": stride,
            "pad": pad,
            "dilation": dilation,
            "groups": groups,
        }
        kind: type[Conv | Deconv] = Deconv if case % 3 == 2 else Conv
        layer = kind(filters=filters, kernel=kernel, bias=bias, **options)
        with META:
            expected = counted_macs(module_of(layer, shape), shape)
        outcome = layer.apply(shape)
        if outcome.macs != expected:
            mismatches.append(f"case {case}: {layer} on {shape}: {outcome.macs} != {expected}")
    for case in range(20):
        inputs, out, bias = rng.randint(1, 500), rng.randint(1, 50), case % 2 == 0
        outcome = FC(out=out, bias=bias).apply((inputs,))
        with META:
            expected = counted_macs(module_of(FC(out=out, bias=bias), (inputs,)), (inputs,))
        if outcome.macs != expected:
            mismatches.append(f"fc {inputs}→{out}: {outcome.macs} != {expected}")
    assert not mismatches, "\n".join(mismatches)


# --- receptive field by the gradient probe ------------------------------------------------------


def probe(forward: Callable[[Any], Any], size: tuple[int, int], unit: tuple[int, int]) -> Any:
    """The input rows and columns whose gradient is non-zero for output ``unit``."""
    x = torch.ones(1, 1, *size, dtype=torch.float64, requires_grad=True)
    forward(x)[0, 0, unit[0], unit[1]].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten().tolist()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten().tolist()
    return rows, cols


def field_of(layer: Layer, size: tuple[int, int]) -> tuple[ReceptiveField, Shape]:
    """convcalc's field after ``layer`` alone, and the layer's output shape."""
    outcome = layer.apply((1, *size))
    return ReceptiveField().then(outcome.rf, size), outcome.output


def test_receptive_field_of_windows_by_gradient_probe() -> None:
    """Conv, max and average pooling: size, jump and centre of a central output unit's field."""
    rng = random.Random(1234)
    size = (21, 19)
    mismatches: list[str] = []
    checked = 0
    for case in range(60):
        kernel = maybe_pair(rng, 1, 5)
        stride = maybe_pair(rng, 1, 3)
        dilation = maybe_pair(rng, 1, 2)
        kind = ("conv", "maxpool", "avgpool")[case % 3]
        # at most half the kernel, as pooling requires
        kh, kw = pair(kernel)
        pad = (rng.randint(0, kh // 2), rng.randint(0, kw // 2))
        weights = torch.ones(1, 1, *pair(kernel), dtype=torch.float64)
        layer: Layer
        forward: Callable[[Any], Any]
        if kind == "conv":
            layer = Conv(filters=1, kernel=kernel, stride=stride, pad=pad, dilation=dilation)
            forward = partial(
                F.conv2d, weight=weights, stride=pair(stride), padding=pad, dilation=pair(dilation)
            )
        elif kind == "maxpool":
            # A max routes gradient to one cell; the probe pools with constant weights instead
            # (a ones-kernel conv is a dilated average pool up to scale).
            layer = MaxPool(kernel=kernel, stride=stride, pad=pad, dilation=dilation)
            forward = partial(
                F.conv2d, weight=weights, stride=pair(stride), padding=pad, dilation=pair(dilation)
            )
        else:
            layer = AvgPool(kernel=kernel, stride=stride, pad=pad, ceil_mode=case % 2 == 0)
            forward = partial(
                F.avg_pool2d,
                kernel_size=pair(kernel),
                stride=pair(stride),
                padding=pad,
                ceil_mode=case % 2 == 0,
            )
        field, output = field_of(layer, size)
        unit = ((output[1] - 1) // 2, (output[2] - 1) // 2)
        rows, cols = probe(forward, size, unit)
        for axis, cells in enumerate((rows, cols)):
            centre = field.start[axis] + unit[axis] * field.jump[axis]
            low, high = centre - (field.size[axis] - 1) / 2, centre + (field.size[axis] - 1) / 2
            if low < 0 or high > size[axis] - 1:
                continue  # the field reaches into padding: the probe only sees the input part
            checked += 1
            if (cells[0], cells[-1]) != (low, high) or field.jump[axis] != pair(stride)[axis]:
                mismatches.append(
                    f"case {case}: {layer} axis {axis}: probe {cells[0]}…{cells[-1]}, "
                    f"convcalc {low}…{high} (size {field.size[axis]}, jump {field.jump[axis]})"
                )
    assert not mismatches, "\n".join(mismatches)
    assert checked > 80


def test_receptive_field_of_deconv_by_gradient_probe() -> None:
    """A deconv's field is the widest spread of inputs that reach one output, over the S phases
    of the output grid; the jump is 1/S."""
    rng = random.Random(4321)
    size = (9, 9)
    mismatches: list[str] = []
    for case in range(30):
        kernel, stride, dilation = rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 2)
        pad = rng.randint(0, dilation * (kernel - 1) // 2)
        layer = Deconv(filters=1, kernel=kernel, stride=stride, pad=pad, dilation=dilation)
        field, output = field_of(layer, size)
        forward = partial(
            F.conv_transpose2d,
            weight=torch.ones(1, 1, kernel, kernel, dtype=torch.float64),
            stride=stride,
            padding=pad,
            dilation=dilation,
        )

        centre = (output[1] - 1) // 2
        widest = 0
        # Some output phases receive no input at all (e.g. K 2, D 2, S 3): probe every phase of
        # both axes, so the row measured is never in a column that nothing reaches.
        for row_unit in range(centre, centre + stride):
            for col_unit in range(centre, centre + stride):
                rows, _ = probe(forward, size, (row_unit, col_unit))
                if rows:
                    widest = max(widest, rows[-1] - rows[0] + 1)
        if (field.size[0], field.jump[0]) != (widest, 1 / stride):
            mismatches.append(
                f"case {case}: {layer}: probe widest {widest}, convcalc {field.size[0]} "
                f"jump {field.jump[0]}"
            )
    assert not mismatches, "\n".join(mismatches)
