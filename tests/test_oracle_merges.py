"""The merge kinds against PyTorch on seeded random shapes: output shapes (broadcasting), what
backward keeps (``saved_tensors_hooks``) and the Jacobian's non-zeros
(``torch.autograd.functional.jacobian``)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from convcalc.errors import ShapeError
from convcalc.layers.base import Merge, Shape, elements
from convcalc.layers.merge import Add, Concat, Mul

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)

from tests.torch_build import TRANSLATED_MERGES  # noqa: E402

pytestmark = pytest.mark.oracle


def random_shapes(rng: random.Random, kind: type[Merge]) -> tuple[Shape, ...]:
    """Two to four per-sample shapes, usually compatible, sometimes not."""
    base = (rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 4))
    shapes: list[Shape] = []
    for _ in range(rng.randint(2, 4)):
        shape: Shape
        if kind is Concat:
            shape = (rng.randint(1, 4), *base[1:])
        else:
            shape = tuple(1 if rng.random() < 0.3 else size for size in base)
        if rng.random() < 0.1:
            shape = tuple(size + 1 for size in shape)
        shapes.append(shape)
    return tuple(shapes)


@pytest.mark.parametrize("kind", [Add, Mul, Concat])
def test_merge_shapes_saved_tensors_and_jacobian_match_torch(kind: type[Merge]) -> None:
    rng = random.Random(f"merge-{kind.type_name}")
    merge = kind()
    forward = TRANSLATED_MERGES[kind]
    for _ in range(150):
        shapes = random_shapes(rng, kind)
        batch = rng.randint(1, 3)
        needs = tuple(rng.random() < 0.6 for _ in shapes)
        xs = [torch.randn(batch, *shape, dtype=torch.float64) for shape in shapes]
        try:
            expected = tuple(forward(xs).shape[1:])
        except RuntimeError:
            with pytest.raises(ShapeError):
                merge.output_of(shapes)
            continue
        assert merge.output_of(shapes) == expected, shapes
        leaves = [x.clone().requires_grad_(need) for x, need in zip(xs, needs, strict=True)]
        # Inputs that need a gradient come out of an op, as inside a network.
        inputs = [leaf * 1 if leaf.requires_grad else leaf for leaf in leaves]
        kept_values: list[int] = []

        def pack(tensor: Any, kept: list[int] = kept_values) -> Any:
            kept.append(tensor.numel())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            forward(inputs)
        positions, extra = merge.saved_tensors(shapes, needs, batch)
        ours = sorted(
            [batch * elements(shapes[p]) for p in positions]
            + ([extra.values] if extra is not None else [])
        )
        if extra is not None:
            # The partial products are one extra of their summed size.
            assert sum(ours) == sum(kept_values), (shapes, needs)
        else:
            assert ours == sorted(kept_values), (shapes, needs)
        one = [x[:1] for x in xs]
        jacobian = torch.autograd.functional.jacobian(lambda *t: forward(list(t)), tuple(one))
        nonzeros = sum(int((block != 0).sum()) for block in jacobian)
        assert merge.jacobian_nonzeros(shapes, expected) == nonzeros, shapes
