"""Named tensors and graphs: ``from:``, merges of named tensors, ``outputs``, name resolution
and its errors, dead layers, and the views (memory, folding, receptive field) on a graph."""

from __future__ import annotations

import pytest

from convcalc.analysis import analyze
from convcalc.errors import ConvcalcError, ShapeError, SpecError
from convcalc.loader import parse_spec
from convcalc.memory import inference_memory
from convcalc.report import Report

FPN = """\
input: 3x64x64
layers:
  - conv: {filters: 8, kernel: 3, stride: 2, pad: 1}
    name: c2
  - conv: {filters: 16, kernel: 3, stride: 2, pad: 1}
    name: c3
  - upsample: {scale: 2}
    name: up3
  - conv: {filters: 16, kernel: 1}
    from: c2
    name: lat2
  - add: {from: [lat2, up3]}
    name: p2
  - conv: {filters: 6, kernel: 1}
    from: c3
    name: head3
outputs: [p2, head3]
"""


def run(text: str) -> Report:
    return analyze(parse_spec(text, "net.yaml"))


def problem(text: str) -> str:
    with pytest.raises(ConvcalcError) as caught:
        run(text)
    return str(caught.value)


def test_from_reads_an_earlier_tensor_and_merges_join_named_ones() -> None:
    report = run(FPN)
    assert [report.reads(row) for row in report.rows] == [
        ["input"], ["c2"], ["c3"], ["c2"], ["lat2", "up3"], ["c3"],
    ]  # fmt: skip
    p2 = report.rows[4]
    assert (p2.type, p2.output, p2.merged) == ("add", (16, 32, 32), ((16, 32, 32), (16, 32, 32)))
    assert [(o.name, o.shape) for o in report.outputs] == [
        ("p2", (16, 32, 32)),
        ("head3", (6, 16, 16)),
    ]
    # The union of lat2's 3×3 field (jump 2) and up3's 7×7 one.
    assert p2.rf is not None and p2.rf.size == (7.0, 7.0)
    assert report.totals.rf == report.outputs[0].rf
    document = report.to_document()
    assert document["totals"]["outputs"][1] == {
        "name": "head3",
        "shape": [6, 16, 16],
        "rf": {"size": [7, 7], "jump": [4, 4], "start": [0.0, 0.0]},
    }
    assert document["layers"][4]["from"] == ["lat2", "up3"]


def test_every_output_stays_alive_to_the_end() -> None:
    report = run(FPN)
    memory = inference_memory(report)
    p2_bytes = 16 * 32 * 32 * 4
    head_bytes = 6 * 16 * 16 * 4
    c3_bytes = 16 * 16 * 16 * 4
    # While head3 runs: p2 (an output), c3 (its input) and head3's own output.
    assert memory.live_bytes[5] == p2_bytes + c3_bytes + head_bytes


def test_broadcasting_add_and_mul() -> None:
    report = run(
        "input: 8x4x4\nlayers:\n"
        "  - {gap: null, name: pooled}\n"
        "  - {mul: {from: [input, pooled]}, name: scaled}\n"
        "  - {add: {from: [scaled, pooled, input]}}\n"
    )
    assert [row.output for row in report.rows] == [(8, 1, 1), (8, 4, 4), (8, 4, 4)]
    assert report.rows[1].rf is not None and report.rows[1].rf.is_global
    message = problem(
        "input: 8x4x4\nlayers:\n  - {conv: {filters: 4, kernel: 1}, name: a}\n"
        "  - add: {from: [a, input]}\n"
    )
    assert message == (
        'net.yaml:4:5: layers[1] add "add1": add: the inputs\' shapes 4×4×4, 8×4×4 do not '
        "broadcast (each axis must have equal sizes or 1)"
    )


def test_unknown_and_later_names_list_the_names_in_scope() -> None:
    text = (
        "input: 3x8x8\nlayers:\n"
        "  - {conv: {filters: 4, kernel: 1}, name: stem}\n"
        "  - {relu: null, from: stme}\n"
        "  - {conv: {filters: 4, kernel: 1}, name: late}\n"
    )
    assert problem(text) == (
        "net.yaml:4:5: layers[1] relu: from: no tensor named `stme` here (did you mean "
        "`stem`?); in scope: input, stem"
    )
    assert problem(text.replace("stme", "late")) == (
        "net.yaml:4:5: layers[1] relu: from: `late` is defined later; only earlier layers can "
        "be read; in scope: input, stem"
    )
    assert problem(text.replace("stme", "stem") + "outputs: [late, nope]\n") == (
        "net.yaml:6:17: outputs[1]: no tensor named `nope` here; in scope: input, late, relu1, stem"
    )


def test_names_are_given_once_and_input_is_reserved() -> None:
    with pytest.raises(SpecError, match="`a` is already the name of layers"):
        run("input: 3\nlayers:\n  - {relu: null, name: a}\n  - {relu: null, name: a}\n")
    with pytest.raises(SpecError, match="`input` names the input of the layer list"):
        run("input: 3\nlayers:\n  - {relu: null, name: input}\n")


def test_blocks_are_closed_and_take_outside_tensors_as_parameters() -> None:
    block = """\
input: 4x8x8
blocks:
  fuse:
    params: {skip: stem}
    layers:
      - conv: {filters: 4, kernel: 1}
      - add: {from: [conv1, $skip]}
  nested:
    params: {outer: stem}
    layers:
      - use: fuse
        with: {skip: $outer}
layers:
  - {conv: {filters: 4, kernel: 3, pad: 1}, name: stem}
  - relu
  - use: fuse
    with: {skip: stem}
  - use: nested
    with: {outer: relu1}
"""
    report = run(block)
    adds = [row for row in report.rows if row.type == "add"]
    assert [report.reads(row) for row in adds] == [
        ["fuse1.conv1", "stem"],
        ["nested1.fuse1.conv1", "relu1"],
    ]
    closed = block.replace("add: {from: [conv1, $skip]}", "add: {from: [conv1, stem]}")
    assert "no tensor named `stem` here" in problem(closed)


def test_input_names_the_input_of_a_container_body() -> None:
    report = run(
        "input: 4x8x8\nlayers:\n  - relu\n  - residual:\n      body:\n"
        "        - conv: {filters: 4, kernel: 3, pad: 1}\n"
        "        - {add: {from: [conv1, input]}}\n"
    )
    assert report.reads(report.rows[2]) == ["residual1.body.conv1", "relu1"]


def test_a_layer_that_reaches_no_output_is_counted_and_warned_about() -> None:
    report = run(
        "input: 3x8x8\nlayers:\n  - {conv: {filters: 4, kernel: 1}, name: side}\n"
        "  - {relu: null, from: input}\n"
    )
    assert report.totals.params == 16
    assert report.rows[0].warnings == ("its output reaches no network output (a dead layer)",)
    assert report.rows[1].warnings == ()


def test_a_producer_with_two_readers_does_not_fold() -> None:
    report = run(
        "input: 3x8x8\nlayers:\n  - {conv: {filters: 4, kernel: 1}, name: c}\n  - bn\n"
        "  - {relu: null, from: c}\n  - {add: {from: [batchnorm1, relu1]}}\n"
    )
    assert report.folding.folded == ()
    assert "also feeds relu1" in report.folding.not_folded[0].reason


def test_gate_multiplies_by_its_body_and_keeps_the_local_field() -> None:
    report = run(
        "input: 8x16x16\nlayers:\n  - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "  - gate:\n      body:\n        - gap\n        - conv: {filters: 2, kernel: 1}\n"
        "        - relu\n        - conv: {filters: 8, kernel: 1}\n        - hardsigmoid\n"
        "  - conv: {filters: 8, kernel: 3, pad: 1}\n"
    )
    mul = report.rows[6]
    assert (mul.path, mul.type, mul.merged) == ("gate1.mul", "mul", ((8, 16, 16), (8, 1, 1)))
    last = report.rows[-1].rf
    assert last is not None and last.is_global and last.local is not None
    assert last.local.size == (5.0, 5.0)
    assert report.to_document()["layers"][-1]["rf"]["local"]["size"] == [5, 5]
    with pytest.raises(ShapeError, match="gate: the body outputs 4×1×1, which does not"):
        run("input: 8x4x4\nlayers:\n  - gate:\n      body:\n        - gap\n"
            "        - conv: {filters: 4, kernel: 1}\n")  # fmt: skip


@pytest.mark.parametrize("shortcut", ["\n      shortcut: project", ""])
def test_a_shortcut_that_would_read_single_pixels_advises_gate(shortcut: str) -> None:
    message = problem(
        "input: 64x28x28\nlayers:\n  - residual:\n      body:\n        - gap\n"
        "        - conv: {filters: 64, kernel: 1}\n        - sigmoid" + shortcut + "\n"
    )
    assert "use `gate` instead of `residual`" in message
    assert "shortcut: project`" not in message


def test_a_conv_that_is_also_an_output_does_not_fold() -> None:
    report = run(
        "input: 3x8x8\nlayers:\n  - {conv: {filters: 4, kernel: 1}, name: c}\n  - bn\n"
        "outputs: [c, batchnorm1]\n"
    )
    assert report.folding.folded == ()
    assert "also feeds the network's outputs" in report.folding.not_folded[0].reason
