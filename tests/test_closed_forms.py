"""The closed-form counts (Jacobian taps, adaptive windows) against the plain loops they replace.

The loops live here only, as the reference: on small sizes the closed forms must agree with them
exactly, and on huge sizes they must answer at once.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.errors import ShapeError
from convcalc.layers.conv import transposed_cells, transposed_taps
from convcalc.layers.pooling import adaptive_cells
from convcalc.layers.window import Window, floor_sum, taps_in_range
from tests.profiles import examples

small = st.integers(1, 12)


def loop_real_taps(window: Window) -> int:
    """Σ over output positions of the taps on real input cells, one by one."""
    total = 0
    for position in range(window.output):
        start = position * window.stride - window.pad_before
        total += sum(
            1 for k in range(window.kernel) if 0 <= start + k * window.dilation < window.size
        )
    return total


def loop_transposed_taps(
    size: int, kernel: int, stride: int, pad: int, dilation: int, out: int
) -> int:
    """The (input, tap) pairs of a transposed conv that reach an output, one by one."""
    return sum(
        1 for i in range(size) for k in range(kernel) if 0 <= i * stride - pad + k * dilation < out
    )


def loop_adaptive_cells(size: int, out: int) -> int:
    """Σ of PyTorch's adaptive window lengths, window by window."""
    return sum(-(-(i + 1) * size // out) - i * size // out for i in range(out))


@examples(400)
@given(
    size=small,
    kernel=small,
    dilation=st.integers(1, 4),
    stride=st.integers(1, 5),
    before=st.integers(0, 14),
    after=st.integers(0, 14),
    ceil_mode=st.booleans(),
)
def test_real_taps_match_the_loop(
    size: int, kernel: int, dilation: int, stride: int, before: int, after: int, ceil_mode: bool
) -> None:
    window = Window("width", size, kernel, dilation, stride, before, after, ceil_mode)
    try:
        expected = loop_real_taps(window)
    except ShapeError:
        return  # a geometry with no window is not counted at all
    assert window.real_taps == expected


@examples(400)
@given(
    size=small,
    kernel=small,
    stride=st.integers(1, 5),
    pad=st.integers(0, 14),
    dilation=st.integers(1, 4),
    out=st.integers(1, 40),
)
def test_transposed_taps_match_the_loop(
    size: int, kernel: int, stride: int, pad: int, dilation: int, out: int
) -> None:
    assert transposed_taps(size, kernel, stride, pad, dilation, out) == loop_transposed_taps(
        size, kernel, stride, pad, dilation, out
    )


@examples(300)
@given(size=st.integers(1, 60), out=st.integers(1, 60))
def test_adaptive_cells_match_the_windows(size: int, out: int) -> None:
    assert adaptive_cells(size, out) == loop_adaptive_cells(size, out)


@examples(300)
@given(
    count=st.integers(0, 30),
    divisor=st.integers(1, 20),
    slope=st.integers(0, 40),
    start=st.integers(0, 40),
)
def test_floor_sum_matches_the_sum(count: int, divisor: int, slope: int, start: int) -> None:
    expected = sum((slope * i + start) // divisor for i in range(count))
    assert floor_sum(count, divisor, slope, start) == expected


def test_huge_sizes_are_counted_at_once() -> None:
    big = 2**31 - 1
    began = time.perf_counter()
    assert Window("width", 1, 1, 1, 1, 10**9, 10**9).real_taps == 1
    assert Window("width", big, big, 1, 1, 0, 0).real_taps == big
    assert taps_in_range(big, 1, 10**9, 1, 0, big) == loop_free_product(big, 10**9)
    assert transposed_taps(1, 10**9, 1, 0, 1, 10**9) == 10**9
    assert adaptive_cells(big, big) == big
    assert time.perf_counter() - began < 0.5


def loop_free_product(positions: int, kernel: int) -> int:
    """Pairs p < positions, k < kernel with p + k < positions: the full triangle-cut rectangle."""
    # For each tap k, the positions p < positions − k count: Σ_k (positions − k).
    return kernel * positions - kernel * (kernel - 1) // 2


BIG = 2**31 - 1


@pytest.mark.parametrize(
    ("args", "nonzeros"),
    [
        # The one real input pixel is read by the one output it sits under.
        (["layer", "--in", "1x1x1", "--filters", "1x1", "--pad", "1000000000"], 1),
        # A 1×1 conv: every output reads every input channel at its position.
        (
            ["layer", "--in", f"{BIG}x{BIG}x{BIG}", "--filters", f"{BIG}x1x1"],
            BIG * BIG * BIG * BIG,
        ),
        # Each of the 64 inputs is spread over its 10⁹ × 1 kernel.
        (["layer", "--in", "1x8x8", "--type", "deconv", "--filters", "1x1000000000x1"], 64 * 10**9),
        # As many cells out as in: each output reads one input.
        (
            ["layer", "--in", f"1x{BIG}x1", "--type", "adaptivemaxpool", "--out", f"{BIG}x1"],
            BIG,
        ),
        (
            ["layer", "--in", f"1x{BIG}x1", "--type", "adaptiveavgpool", "--out", f"{BIG}x1"],
            BIG,
        ),
        # One output (the stride is the kernel) whose window covers all 9 × 9 inputs.
        (
            [
                "layer",
                "--in",
                "1x9x9",
                "--type",
                "avgpool",
                "--kernel",
                "2000000001",
                "--pad",
                "1000000000",
            ],
            81,
        ),
    ],
)
def test_the_jacobian_of_huge_layers_is_counted_at_once(args: list[str], nonzeros: int) -> None:
    began = time.perf_counter()
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["layers"][0]["jacobian"]["nonzeros"] == nonzeros
    assert time.perf_counter() - began < 2


def test_analyze_jacobian_with_a_huge_pad_is_counted_at_once() -> None:
    spec = "input: 1x1x1\nlayers: [{conv: {filters: 1, kernel: 1, pad: 1000000000}}]\n"
    began = time.perf_counter()
    result = CliRunner().invoke(app, ["analyze", "-", "--jacobian", "--json"], input=spec)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["layers"][0]["jacobian"]["nonzeros"] == 1
    assert time.perf_counter() - began < 2


def test_the_inputs_of_each_transposed_conv_phase_in_closed_form() -> None:
    for kernel, stride, pad, dilation in itertools.product(
        range(1, 9), range(1, 9), range(9), range(1, 6)
    ):
        cells = []
        for output in range(stride):
            inputs = [
                (output + pad - tap * dilation) // stride
                for tap in range(kernel)
                if (output + pad - tap * dilation) % stride == 0
            ]
            cells.append((min(inputs), max(inputs)) if inputs else None)
        expected = () if None in cells else tuple(cells)
        assert transposed_cells(kernel, stride, pad, dilation) == expected
