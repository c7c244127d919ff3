"""The receptive field, carried from layer to layer (per axis, from r₀ = 1, j₀ = 1, start₀ = 0).

With a layer's step (span, stride, offset) — for a sliding window span = K_eff − 1, stride = S,
offset = (K_eff − 1)/2 − P:

    r = r_prev + span·j_prev;  j = j_prev·stride;  start = start_prev + offset·j_prev.

With L stride-1 K×K convs this gives the notes' 1 + L(K − 1). ``start`` is the input coordinate
of the centre of the first output unit's field (negative: inside the padding).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from convcalc.layers.base import IDENTITY_STEP, RFStep

Pair = tuple[float, float]


class ReceptiveField(NamedTuple):
    """Size, jump and start per spatial axis (H, W); ``is_global`` once every unit sees the
    whole input (after fc, flatten, global pooling), when size is the network input's H×W."""

    size: Pair = (1.0, 1.0)
    jump: Pair = (1.0, 1.0)
    start: Pair = (0.0, 0.0)
    is_global: bool = False
    local: ReceptiveField | None = None
    """For a global field that also has paths which do not pool globally (a gate whose body
    pools: squeeze-and-excitation), the field through those paths: the figure papers quote."""

    @property
    def is_finite(self) -> bool:
        """Whether no number overflowed to inf (or became NaN)."""
        return all(map(math.isfinite, (*self.size, *self.jump, *self.start)))

    def then(self, step: RFStep, extent: tuple[int, int]) -> ReceptiveField:
        """The field after a layer with ``step``; ``extent`` is the network input's H×W.

        A layer that leaves the field as it is (the identity step, or any step after the field
        is global) returns this very field, so the many layers that do share one object."""
        if step is IDENTITY_STEP or (self.is_global and self.local is None):
            return self
        if self.is_global:
            assert self.local is not None
            local = self.local.then(step, extent)
            return self._replace(local=None if local.is_global else local)
        if step.is_global:
            return ReceptiveField(
                size=(float(extent[0]), float(extent[1])),
                jump=self.jump,
                start=((extent[0] - 1) / 2, (extent[1] - 1) / 2),
                is_global=True,
            )
        (rows, cols), (down, across), (top, left) = self.size, self.jump, self.start
        vertical, horizontal = step.axes
        return ReceptiveField(
            (rows + vertical.span * down, cols + horizontal.span * across),
            (down * vertical.stride, across * horizontal.stride),
            (top + vertical.offset * down, left + horizontal.offset * across),
        )


def union(fields: list[ReceptiveField]) -> ReceptiveField:
    """The smallest field covering all of ``fields`` (for merges); global if any is, keeping
    the union of the other paths' fields as ``local``."""
    if any(field.is_global for field in fields):
        # The paths that do not pool globally keep their own (local) field.
        local = [field.local if field.is_global else field for field in fields]
        paths = [field for field in local if field is not None]
        whole = next(field for field in fields if field.is_global)
        return whole._replace(local=union(paths) if paths else None)
    size, jump, start = [], [], []
    for axis in (0, 1):
        low = min(f.start[axis] - (f.size[axis] - 1) / 2 for f in fields)
        high = max(f.start[axis] + (f.size[axis] - 1) / 2 for f in fields)
        size.append(high - low + 1)
        start.append((low + high) / 2)
        jump.append(max(f.jump[axis] for f in fields))
    return ReceptiveField((size[0], size[1]), (jump[0], jump[1]), (start[0], start[1]))
