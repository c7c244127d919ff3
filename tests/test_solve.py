"""``solve``: the settings found for one layer against brute force through the layers
themselves, and the input sizes a network accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convcalc.errors import ConvcalcError, UsageError
from convcalc.layers.base import Layer
from convcalc.layers.conv import Conv, Deconv
from convcalc.layers.pooling import AvgPool, MaxPool
from convcalc.loader import parse_spec
from convcalc.solve import Bounds, Solution, bounds, pads_allowed, solve_axis, solve_sizes


def build(kind: str, kernel: int, stride: int, pad: int, dilation: int, extra: int) -> Layer:
    """The layer a solution describes, as the spec would build it."""
    if kind == "conv":
        return Conv(filters=1, kernel=kernel, stride=stride, pad=pad, dilation=dilation)
    if kind == "deconv":
        return Deconv(
            filters=1,
            kernel=kernel,
            stride=stride,
            pad=pad,
            dilation=dilation,
            output_padding=extra,
        )
    if kind == "maxpool":
        return MaxPool(kernel=kernel, stride=stride, pad=pad, dilation=dilation)
    return AvgPool(kernel=kernel, stride=stride, pad=pad)


def brute_force(kind: str, size_in: int, size_out: int, limits: Bounds) -> set[Solution]:
    """Every setting within ``limits``, run forward through the layer itself (on an N×N
    input), kept when it gives ``size_out``."""
    found = set()
    for kernel in limits.kernels:
        for dilation in limits.dilations:
            if kernel == 1 and dilation > 1 and len(limits.dilations) > 1:
                continue
            pads = limits.pads or pads_allowed(kind, kernel, dilation)
            for stride in limits.strides:
                extras = range(max(stride, dilation)) if kind == "deconv" else (0,)
                for pad in pads:
                    for extra in extras:
                        try:
                            layer = build(kind, kernel, stride, pad, dilation, extra)
                            outcome = layer.apply((1, size_in, size_in))
                        except ConvcalcError:
                            continue
                        if outcome.output[1] != size_out:
                            continue
                        dropped = sum("never read" in warning for warning in outcome.warnings)
                        lost = 0
                        if dropped:
                            lost = int(outcome.warnings[0].split("the last ")[1].split()[0])
                        found.add(Solution(kernel, stride, pad, dilation, extra, lost))
    return found


@settings(max_examples=12, deadline=None)
@given(
    kind=st.sampled_from(["conv", "deconv", "maxpool", "avgpool"]),
    size_in=st.integers(1, 24),
    size_out=st.integers(1, 24),
)
def test_solutions_are_exactly_those_of_brute_force(kind: str, size_in: int, size_out: int) -> None:
    # Smaller bounds than the command's, so that each example builds a few hundred layers.
    limits = bounds(kind)._replace(
        kernels=tuple(range(1, 6)),
        strides=tuple(range(1, 5)),
        dilations=(1,) if kind == "avgpool" else (1, 2),
    )
    assert set(solve_axis(kind, size_in, size_out, limits)) == brute_force(
        kind, size_in, size_out, limits
    )


def test_32_to_16_by_a_conv() -> None:
    found = solve_axis("conv", 32, 16, bounds("conv"))
    simple = [(s.kernel, s.stride, s.pad) for s in found if s.dilation == 1]
    assert simple[:4] == [(1, 2, 0), (2, 2, 0), (3, 2, 1), (4, 2, 1)]
    assert all(not solution.dropped for solution in found)


def test_settings_that_drop_rows_are_marked() -> None:
    found = solve_axis("conv", 33, 16, bounds("conv", kernel=2, dilation=1))
    assert found == [Solution(2, 2, 0, 1, 0, 1)]


def test_simplest_first() -> None:
    found = solve_axis("conv", 32, 16, bounds("conv"))
    assert found == sorted(found, key=lambda solution: solution.simplicity)
    assert found[0].dilation == 1
    assert found[-1].dilation == 4


def test_a_transposed_conv_doubling() -> None:
    found = solve_axis("deconv", 16, 32, bounds("deconv", kernel=4, dilation=1))
    assert found == [Solution(4, 2, 1, 1, 0, 0)]


def test_given_values_fix_the_search() -> None:
    found = solve_axis("conv", 224, 112, bounds("conv", kernel=7, stride=2, dilation=1))
    assert [(s.pad, s.dropped) for s in found] == [(3, 0)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "avgpool", "dilation": 2}, "--dilation: avgpool has no dilation"),
        ({"kind": "conv", "kernel": 0}, "--kernel: must be ≥ 1, got 0"),
        ({"kind": "conv", "pad": -1}, "--pad: must be ≥ 0, got -1"),
    ],
)
def test_bad_bounds(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        bounds(**arguments)  # type: ignore[arg-type]
    assert str(caught.value) == message


UNET_LIKE = """\
name: unet-like
input: 1x572x572
blocks:
  twice:
    params: {filters: 64}
    layers:
      - conv: {filters: $filters, kernel: 3}
      - relu
      - conv: {filters: $filters, kernel: 3}
      - relu
layers:
  - {use: twice, with: {filters: 64}}
  - maxpool: {kernel: 2}
  - {use: twice, with: {filters: 128}}
  - maxpool: {kernel: 2}
  - {use: twice, with: {filters: 256}}
  - maxpool: {kernel: 2}
  - {use: twice, with: {filters: 512}}
  - maxpool: {kernel: 2}
  - {use: twice, with: {filters: 1024}}
  - deconv: {filters: 512, kernel: 2, stride: 2}
  - {use: twice, with: {filters: 512}}
  - deconv: {filters: 256, kernel: 2, stride: 2}
  - {use: twice, with: {filters: 256}}
  - deconv: {filters: 128, kernel: 2, stride: 2}
  - {use: twice, with: {filters: 128}}
  - deconv: {filters: 64, kernel: 2, stride: 2}
  - {use: twice, with: {filters: 64}}
  - conv: {filters: 2, kernel: 1}
"""


def test_a_unet_like_network_accepts_572_and_its_neighbours_every_16() -> None:
    results = solve_sizes(parse_spec(UNET_LIKE), [(size, size) for size in range(500, 601)])
    accepted = {result.size[0]: result.outputs for result in results if result.accepted}
    assert accepted == {
        size: ((2, size - 184, size - 184),) for size in (508, 524, 540, 556, 572, 588)
    }
    failure = next(result for result in results if result.size == (501, 501))
    assert failure.where == 'layers[1] maxpool "maxpool1"'
    assert failure.problem.startswith("stride 2 does not fit the height")


def test_rectangles_fail_on_the_axis_that_does_not_fit() -> None:
    results = solve_sizes(parse_spec(UNET_LIKE), [(572, 573)])
    assert "width" in results[0].problem
