"""The merge kinds: output shapes, broadcasting, Jacobian non-zeros and what backward keeps."""

from __future__ import annotations

import pytest

from convcalc.errors import ShapeError
from convcalc.layers import MERGE_KINDS
from convcalc.layers.base import Extra, broadcast
from convcalc.layers.merge import Add, Concat, Mul


def test_registry_holds_each_merge_by_name_and_alias() -> None:
    assert MERGE_KINDS["add"] is Add
    assert MERGE_KINDS["sum"] is Add
    assert MERGE_KINDS["concat"] is MERGE_KINDS["cat"] is Concat


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        (((64, 8, 8), (64, 8, 8)), (64, 8, 8)),
        (((64, 8, 8), (64, 1, 1)), (64, 8, 8)),
        (((1, 8, 8), (64, 1, 1)), (64, 8, 8)),
        (((1, 1, 8), (3, 5, 1)), (3, 5, 8)),
        (((10,), (1,)), (10,)),
        (((64, 8, 8), (32, 8, 8)), None),
        (((64, 8, 8), (64,)), None),
    ],
)
def test_broadcasting_as_pytorch(shapes: tuple[tuple[int, ...], ...], expected: object) -> None:
    assert broadcast(shapes) == expected


def test_add_broadcasts_and_refuses_naming_the_shapes() -> None:
    assert Add().output_of(((8, 4, 4), (8, 1, 1), (1, 4, 4))) == (8, 4, 4)
    with pytest.raises(ShapeError, match=r"add: the inputs' shapes 8×4×4, 6×4×4 do not broadcast"):
        Add().output_of(((8, 4, 4), (6, 4, 4)))


def test_concat_adds_channels_and_needs_equal_sizes() -> None:
    assert Concat().output_of(((8, 4, 4), (6, 4, 4))) == (14, 4, 4)
    assert Concat().output_of(((8,), (6,))) == (14,)
    with pytest.raises(ShapeError, match=r"concat: the inputs' H×W differ \(8×4×4, 6×2×2\)"):
        Concat().output_of(((8, 4, 4), (6, 2, 2)))
    with pytest.raises(ShapeError, match="mix images and vectors"):
        Concat().output_of(((8, 4, 4), (6,)))


def test_add_and_concat_keep_nothing_for_backward() -> None:
    for merge in (Add(), Concat()):
        assert merge.saved_tensors(((4, 2, 2), (4, 2, 2)), (True, True), 3) == ((), None)


def test_jacobian_nonzeros_of_add_and_concat() -> None:
    assert Add().jacobian_nonzeros(((4, 2, 2), (4, 1, 1)), (4, 2, 2)) == 2 * 16
    assert Concat().jacobian_nonzeros(((4, 2, 2), (2, 2, 2)), (6, 2, 2)) == 24


def test_mul_broadcasts_like_add() -> None:
    assert Mul().output_of(((64, 7, 7), (64, 1, 1))) == (64, 7, 7)
    with pytest.raises(ShapeError, match="mul: the inputs' shapes 64×7×7, 32×1×1 do not"):
        Mul().output_of(((64, 7, 7), (32, 1, 1)))
    assert MERGE_KINDS["mul"] is MERGE_KINDS["multiply"] is Mul


def test_mul_keeps_what_the_other_inputs_gradients_need() -> None:
    """a·b keeps b when a needs a gradient and a when b does; (a·b)·c also keeps a·b for c."""
    gate = ((64, 7, 7), (64, 1, 1))
    assert Mul().saved_tensors(gate, (True, True), 2) == ((0, 1), None)
    assert Mul().saved_tensors(gate, (False, True), 2) == ((0,), None)
    assert Mul().saved_tensors(gate, (True, False), 2) == ((1,), None)
    assert Mul().saved_tensors(gate, (False, False), 2) == ((), None)
    three = ((4, 3, 3), (4, 3, 3), (1, 3, 3))
    assert Mul().saved_tensors(three, (True, False, True), 2) == (
        (1, 2),
        Extra(2 * 36, "partial products"),
    )


def test_jacobian_nonzeros_of_mul() -> None:
    assert Mul().jacobian_nonzeros(((4, 2, 2), (4, 1, 1)), (4, 2, 2)) == 2 * 16
