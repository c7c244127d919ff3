"""The convcalc → torch translator the oracle tests share knows every registered kind, so a new
layer or merge kind cannot go unchecked against torch for want of a translation."""

from __future__ import annotations

import pytest

from convcalc.layers import LAYER_KINDS, MERGE_KINDS
from convcalc.layers.conv import Conv
from convcalc.receptive import ReceptiveField

pytest.importorskip("torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'")

from tests.torch_build import TRANSLATED_MERGES, TRANSLATIONS, module_of

pytestmark = pytest.mark.oracle


def test_every_layer_kind_has_a_torch_module() -> None:
    assert {name for name, kind in LAYER_KINDS.items() if kind not in TRANSLATIONS} == set()


def test_every_merge_kind_has_a_torch_function() -> None:
    assert {name for name, kind in MERGE_KINDS.items() if kind not in TRANSLATED_MERGES} == set()


@pytest.mark.parametrize("size", [5, 6, 7, 8])
@pytest.mark.parametrize("stride", [2, 3])
def test_pad_same_with_a_stride_is_padded_as_tensorflow_does(size: int, stride: int) -> None:
    """torch refuses ``padding="same"`` with a stride; the translator pads first, so torch's
    output has convcalc's shape and its first unit reads the cells convcalc's field centres on
    (an odd padding cell goes after the input)."""
    import torch

    layer = Conv(filters=2, kernel=3, stride=stride, pad="same")
    shape = (1, size, size)
    outcome = layer.apply(shape)
    x = torch.ones(1, *shape, requires_grad=True)
    output = module_of(layer, shape)(x)
    assert tuple(output.shape[1:]) == outcome.output
    output[0, :, 0, 0].sum().backward()
    assert x.grad is not None
    read = torch.nonzero(x.grad[0, 0].sum(dim=1)).flatten().tolist()
    centre = int(ReceptiveField().then(outcome.rf, shape[1:]).start[0])
    assert read == [row for row in range(centre - 1, centre + 2) if 0 <= row < size]
