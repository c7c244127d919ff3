"""Short words for rows and groups shared by the pictures (diagram, tree, HTML report): a layer's
key options (``3×3/2 · 64``), its family, a group's totals."""

from __future__ import annotations

from convcalc.layers.base import Layer
from convcalc.render import units
from convcalc.render.nesting import Group
from convcalc.report import Row


def family(row: Row) -> str:
    """The family of a row's layer kind (``conv``, ``norm``, ``activation``, ``pooling``,
    ``dense``…), or ``merge`` for an add or concat."""
    if row.layer is None:
        return "merge"
    return type(row.layer).__module__.rpartition(".")[2]


def key_options(layer: Layer | None) -> str:
    """The options that tell layers of a kind apart: ``3×3/2`` (kernel/stride), ``64`` (filters
    or outputs), ``→7×7`` (an adaptive pool's output), ``dil 2``, ``g 32``, ``p 0.5``."""
    if layer is None:
        return ""
    option = getattr
    parts: list[str] = []
    kernel = option(layer, "kernel", None)
    if kernel is not None:
        window = pair_text(kernel)
        stride = option(layer, "stride", None)
        if stride is not None and stride not in (1, (1, 1)):
            window += f"/{pair_text(stride, square=False)}"
        parts.append(window)
    for name in ("filters", "out"):
        value = option(layer, name, None)
        if value is not None:
            parts.append(str(value))
    output = option(layer, "output", None)
    if output is not None:
        parts.append(f"→{pair_text(output)}")
    dilation = option(layer, "dilation", 1)
    if dilation not in (1, (1, 1)):
        parts.append(f"dil {pair_text(dilation, square=False)}")
    groups = option(layer, "groups", 1)
    if groups != 1:
        parts.append("depthwise" if groups == "depthwise" else f"g {groups}")
    rate = option(layer, "p", None)
    if rate is not None:
        parts.append(f"p {rate}")
    return " · ".join(parts)


def pair_text(value: object, square: bool = True) -> str:
    """``3`` → ``3×3`` (``3`` when not ``square``); ``(3, 1)`` → ``3×1``."""
    if isinstance(value, tuple | list):
        if len(set(value)) == 1:
            value = value[0]
        else:
            return "×".join(str(part) for part in value)
    return f"{value}×{value}" if square else str(value)


def totals_text(group: Group) -> str:
    """``1.2 M params · 3.4 G MACs`` (either part left out when zero)."""
    parts = []
    if group.params:
        parts.append(f"{units.count(group.params)} params")
    if group.macs:
        parts.append(f"{units.count(group.macs)} MACs")
    return " · ".join(parts)
