"""The receptive field, carried from layer to layer (per axis, from r₀ = 1, j₀ = 1, start₀ = 0).

With a layer's step (span, stride, offset) — for a sliding window span = K_eff − 1, stride = S,
offset = (K_eff − 1)/2 − P:

    r = r_prev + span·j_prev;  j = j_prev·stride;  start = start_prev + offset·j_prev.

With L stride-1 K×K convs this gives the notes' 1 + L(K − 1). ``start`` is the input coordinate
of the centre of the first output unit's field (negative: inside the padding).

After a step whose outputs do not all read alike (upsampling, a transposed conv, a pixel shuffle,
adaptive pooling) neighbouring output units see spans of different sizes, repeating with a period
(a U-Net's outputs see 188 or 204 input pixels, by their position modulo 16). The field is then
carried exactly, as the first and last input pixel of each unit in one period (:class:`Phases`),
and summed up as: ``size`` the largest span any unit sees, ``start`` the centre of the first
unit's, ``jump`` the mean distance between neighbouring units. Interpolation (bilinear, bicubic)
is carried by its average step only.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from convcalc.layers.base import IDENTITY_STEP, MAX_PERIOD, RFStep

Pair = tuple[float, float]


class Phases(NamedTuple):
    """One axis of a field, exactly: unit u = q·period + r sees input pixels
    ``lows[r] + q·advance`` … ``highs[r] + q·advance``."""

    period: int
    advance: float
    lows: tuple[float, ...]
    highs: tuple[float, ...]

    def at(self, unit: int) -> tuple[float, float]:
        """The first and last input pixel ``unit`` sees."""
        periods, phase = divmod(unit, self.period)
        return self.lows[phase] + periods * self.advance, self.highs[phase] + periods * self.advance

    @property
    def size(self) -> float:
        """The largest span any unit sees."""
        return max(high - low + 1 for low, high in zip(self.lows, self.highs, strict=True))

    @property
    def jump(self) -> float:
        """The mean distance between neighbouring units."""
        return self.advance / self.period

    @property
    def start(self) -> float:
        """The centre of the first unit's span."""
        return (self.lows[0] + self.highs[0]) / 2

    def shortest(self) -> Phases:
        """The same field over its shortest period."""
        for period in range(1, self.period):
            if self.period % period == 0:
                shift = self.advance * period / self.period
                if all(
                    self.lows[unit + period] == self.lows[unit] + shift
                    and self.highs[unit + period] == self.highs[unit] + shift
                    for unit in range(self.period - period)
                ):
                    return Phases(period, shift, self.lows[:period], self.highs[:period])
        return self


def linear_phases(size: float, jump: float, start: float) -> Phases:
    """A field whose units all see ``size`` pixels, ``jump`` apart."""
    half = (size - 1) / 2
    return Phases(1, jump, (start - half,), (start + half,))


def composed(
    field: Phases, cells: tuple[tuple[float, float], ...], advance: float
) -> Phases | None:
    """``field`` (of a step's input grid) seen through a step whose outputs 0 … q − 1 read the
    input cells ``cells`` (``advance`` more per q outputs): each output sees from the first
    pixel of its first cell to the last of its last. ``None`` when the period would exceed
    :data:`MAX_PERIOD` or a cell is not whole."""
    q = len(cells)
    step = int(advance)
    if (
        step != advance
        or step < 1
        or any(not float(c).is_integer() for cell in cells for c in cell)
    ):
        return None
    repeats = field.period // math.gcd(step, field.period)
    period = q * repeats
    if period > MAX_PERIOD:
        return None
    lows, highs = [], []
    for unit in range(period):
        periods, phase = divmod(unit, q)
        first, last = cells[phase]
        lows.append(field.at(int(first) + periods * step)[0])
        highs.append(field.at(int(last) + periods * step)[1])
    moved = field.advance * step * repeats / field.period
    return Phases(period, moved, tuple(lows), tuple(highs)).shortest()


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
    phases: tuple[Phases, Phases] | None = None
    """Per axis, exactly, when units see spans that differ by their position (see the module's
    docstring); ``None`` when every unit sees ``size``, ``jump`` apart."""

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
        if self.phases is not None or not all(axis.is_window for axis in step.axes):
            exact = self.exactly(step)
            if exact is not None:
                return exact
        return self.linearly(step)

    def exactly(self, step: RFStep) -> ReceptiveField | None:
        """The field after ``step``, carried per unit (see :class:`Phases`); ``None`` if
        either is only known on average."""
        axes = []
        for axis, axis_step in enumerate(step.axes):
            known = axis_step.phases()
            if known is None:
                return None
            field = (
                self.phases[axis]
                if self.phases is not None
                else linear_phases(self.size[axis], self.jump[axis], self.start[axis])
            )
            after = composed(field, *known)
            if after is None:
                return None
            axes.append(after)
        return from_phases(axes[0], axes[1])

    def linearly(self, step: RFStep) -> ReceptiveField:
        """The field after ``step`` by the recurrence, from this field's summary."""
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
    if any(field.phases is not None for field in fields):
        exact = exact_union(fields)
        if exact is not None:
            return exact
    size, jump, start = [], [], []
    for axis in (0, 1):
        low = min(f.start[axis] - (f.size[axis] - 1) / 2 for f in fields)
        high = max(f.start[axis] + (f.size[axis] - 1) / 2 for f in fields)
        size.append(high - low + 1)
        start.append((low + high) / 2)
        jump.append(max(f.jump[axis] for f in fields))
    return ReceptiveField((size[0], size[1]), (jump[0], jump[1]), (start[0], start[1]))


def from_phases(rows: Phases, cols: Phases) -> ReceptiveField:
    """The field whose axes are carried exactly by ``rows`` and ``cols``, summed up."""
    linear = rows.period == cols.period == 1
    return ReceptiveField(
        (rows.size, cols.size),
        (rows.jump, cols.jump),
        (rows.start, cols.start),
        phases=None if linear else (rows, cols),
    )


def exact_union(fields: list[ReceptiveField]) -> ReceptiveField | None:
    """Per unit, the span from the first pixel any of ``fields`` sees to the last; ``None``
    when their jumps differ (their units do not line up)."""
    axes = []
    for axis in (0, 1):
        each = [
            field.phases[axis]
            if field.phases is not None
            else linear_phases(field.size[axis], field.jump[axis], field.start[axis])
            for field in fields
        ]
        if len({phases.jump for phases in each}) != 1:
            return None
        period = math.lcm(*(phases.period for phases in each))
        if period > MAX_PERIOD:
            return None
        spans = [[phases.at(unit) for phases in each] for unit in range(period)]
        lows = tuple(min(low for low, _ in unit) for unit in spans)
        highs = tuple(max(high for _, high in unit) for unit in spans)
        axes.append(Phases(period, each[0].jump * period, lows, highs).shortest())
    return from_phases(axes[0], axes[1])
