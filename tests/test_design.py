"""The library side of the design tools: value ranges, the sweep's grid and Pareto front, and
the diff's row matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc.analysis import analyze
from convcalc.diff import diff_reports, match_rows
from convcalc.errors import UsageError
from convcalc.loader import parse_spec
from convcalc.ranges import parse_range, parse_sizes, parse_values, split_top_level
from convcalc.sweep import Sweep, Variant, grid, pareto_front, parse_axis, run_sweep
from convcalc.yamlnodes import parse_yaml

# --- ranges -----------------------------------------------------------------------------------


def test_ranges() -> None:
    assert parse_range("1..5", "--x") == [1, 2, 3, 4, 5]
    assert parse_range("256..1024:256", "--x") == [256, 512, 768, 1024]
    assert parse_range("32..256:*2", "--x") == [32, 64, 128, 256]
    assert parse_range("32..255:*2", "--x") == [32, 64, 128]
    assert parse_range("7..7", "--x") == [7]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5..1", "--x: the range `5..1` is empty (5 > 1)"),
        ("1..5:0", "--x: `1..5:0` has step 0; the step must be ≥ 1"),
        (
            "0..5:*2",
            "--x: `0..5:*2` never grows; a multiplying range needs a start ≥ 1 and a factor ≥ 2",
        ),
        ("1..", "--x: cannot read the range `1..`; write A..B, A..B:STEP or A..B:*F"),
        ("1..10000000", "--x: `1..10000000` gives 10,000,000 values, more than 100,000"),
    ],
)
def test_bad_ranges(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_range(text, "--x")
    assert str(caught.value) == message


@given(start=st.integers(0, 500), length=st.integers(0, 500), step=st.integers(1, 50))
def test_additive_ranges_are_pythons(start: int, length: int, step: int) -> None:
    stop = start + length
    assert parse_range(f"{start}..{stop}:{step}", "--x") == list(range(start, stop + 1, step))


def test_values_keep_brackets_together() -> None:
    assert split_top_level("[3, 3],[5, 5],same") == ["[3, 3]", "[5, 5]", "same"]
    assert parse_values("[3, 3],7,1..3,same,3x64x64", "--x") == [
        [3, 3],
        7,
        1,
        2,
        3,
        "same",
        "3x64x64",
    ]


def test_sizes() -> None:
    assert parse_sizes("30..32") == [(30, 30), (31, 31), (32, 32)]
    assert parse_sizes("30..31x40") == [(30, 40), (31, 40)]
    assert parse_sizes("64x30..32:2") == [(64, 30), (64, 32)]
    with pytest.raises(UsageError, match="sizes start at 1"):
        parse_sizes("0..3")


# --- sweep ------------------------------------------------------------------------------------


def variant(number: int, params: int, macs: int, memory: int, rf: float) -> Variant:
    return Variant(number, (), params=params, macs=macs, memory=memory, rf=(rf, rf))


def test_pareto_front() -> None:
    variants = [
        variant(0, 10, 10, 10, 100),
        variant(1, 20, 20, 20, 100),  # dominated by 0
        variant(2, 20, 20, 20, 200),  # a larger field for its cost
        variant(3, 10, 10, 10, 100),  # equal to 0: neither dominates
        Variant(4, (), error="broken"),
    ]
    keys = ("params", "macs", "memory", "rf")
    assert pareto_front(variants, keys) == {0, 2, 3}
    assert pareto_front(variants, ("params",)) == {0, 3}


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)),
        min_size=1,
        max_size=12,
    )
)
def test_pareto_front_is_exactly_the_undominated(points: list[tuple[int, ...]]) -> None:
    variants = [variant(number, *point) for number, point in enumerate(points)]
    keys = ("params", "macs", "memory", "rf")

    def dominates(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
        costs_a = (a[0], a[1], a[2], -a[3])
        costs_b = (b[0], b[1], b[2], -b[3])
        return all(x <= y for x, y in zip(costs_a, costs_b, strict=True)) and costs_a != costs_b

    expected = {
        number
        for number, point in enumerate(points)
        if not any(dominates(other, point) for other in points)
    }
    assert pareto_front(variants, keys) == expected


def test_grid_order_and_limit() -> None:
    axes = [parse_axis("a=1,2"), parse_axis("b=x,y,z")]
    assert grid(axes) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    with pytest.raises(UsageError, match="more than 100,000"):
        grid([parse_axis("a=1..1000"), parse_axis("b=1..1000")])


def test_a_sweep_equals_separate_analyses() -> None:
    """Each variant's totals are those of analysing the spec with the same --set values, on
    one core and over several (the shared caches must not leak between variants)."""
    from convcalc.memory import inference_memory
    from convcalc.overrides import parse_setting
    from convcalc.sources import load, spec_text

    text, name = spec_text("zoo:resnet18")
    axes = [parse_axis("input=3x64x64,3x96x96"), parse_axis("layer3.width=128..512:*2")]
    study = Sweep(parse_yaml(text, name), name, axes, [], train=False)
    variants = run_sweep(study)
    assert len(variants) == 6
    for found in variants:
        settings = [
            parse_setting(f"{axis.path}={value}")
            for axis, value in zip(axes, found.values, strict=True)
        ]
        report = analyze(load("zoo:resnet18", settings))
        assert (found.params, found.macs) == (report.totals.params, report.totals.macs)
        assert found.memory == inference_memory(report).peak_bytes
    assert [found.params for found in variants[:3]] == [found.params for found in variants[3:]]


def test_a_sweep_of_several_outputs_reports_the_first_outputs_field_as_analyze_does() -> None:
    from pathlib import Path

    from convcalc.sources import load

    path = str(Path(__file__).resolve().parent.parent / "examples" / "fpn.yaml")
    study = Sweep(
        parse_yaml(Path(path).read_text(), path), path, [parse_axis("batch=1")], [], False
    )
    (found,) = run_sweep(study)
    rf = analyze(load(path)).totals.rf
    assert rf is not None and not rf.is_global
    assert found.rf == (rf.size[0], rf.size[1])


# --- diff -------------------------------------------------------------------------------------

THREE = "input: 3x8x8\nlayers: [{conv: {filters: 4, kernel: 3, pad: 1}}, relu, flatten]\n"


def test_identical_networks_do_not_differ() -> None:
    report = analyze(parse_spec(THREE))
    result = diff_reports(report, report)
    assert not result.differs
    assert [row.change for row in result.rows] == ["same"] * 3


def test_unmatched_paths_are_matched_by_type_then_inserted() -> None:
    before = analyze(parse_spec(THREE)).rows
    after = analyze(
        parse_spec(
            "input: 3x8x8\nlayers:\n  - {conv: {filters: 4, kernel: 3, pad: 1}, name: first}\n"
            "  - relu\n  - dropout\n  - flatten\n"
        )
    ).rows
    changes = match_rows(before, after)
    assert [(row.change, row.fields) for row in changes] == [
        ("changed", ("path",)),
        ("same", ()),
        ("inserted", ()),
        ("same", ()),
    ]


def test_totals_deltas_and_percentages() -> None:
    small = analyze(parse_spec(THREE))
    large = analyze(parse_spec(THREE.replace("filters: 4", "filters: 8")))
    totals = {total.key: total for total in diff_reports(small, large).totals}
    assert (totals["params"].a, totals["params"].b) == (112, 224)
    assert totals["params"].percent == 100.0
    assert totals["buffers"].percent is None


def test_parallel_map_keeps_order_and_reports_progress() -> None:
    from convcalc.sweep import parallel_map

    seen: list[tuple[int, int]] = []
    items = list(range(100))
    results = parallel_map(
        lambda offset, item: item + offset,
        1000,
        items,
        lambda done, total: seen.append((done, total)),
    )
    assert results == [item + 1000 for item in items]
    assert seen[-1] == (100, 100)
