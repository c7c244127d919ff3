"""The layer kinds and their arithmetic, one module per family; importing a family registers its
kinds.

``LAYER_KINDS``, read from this package, is every kind: reading it imports every family.
``MERGE_KINDS`` is every merge kind (:mod:`convcalc.layers.merge`: add, mul, concat). Code that
needs one kind by name asks :func:`kind_named`, which imports families only until it finds it, so
that ``convcalc layer`` defines the classes of the families it uses and no others (defining a
dataclass costs start-up time).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from convcalc.layers import base
from convcalc.layers.base import Layer, Merge, Outcome, Shape

if TYPE_CHECKING:
    LAYER_KINDS: dict[str, type[Layer]]
    MERGE_KINDS: dict[str, type[Merge]]

FAMILIES = (
    "activation",
    "conv",
    "dense",
    "norm",
    "pooling",
    "resample",
    "rearrange",
    "opaque",
)
"""The modules of this package that define layer kinds, in the order ``LAYER_KINDS`` lists them."""

__all__ = [
    "FAMILIES",
    "LAYER_KINDS",
    "MERGE_KINDS",
    "Layer",
    "Merge",
    "Outcome",
    "Shape",
    "all_kinds",
    "kind_named",
]


def kind_named(name: str) -> type[Layer] | None:
    """The layer kind registered as ``name`` (canonical or alias), or ``None`` if no family has
    one; families are imported one by one until one registers it."""
    for family in FAMILIES:
        if name in base.LAYER_KINDS:
            break
        import_module(f"{__name__}.{family}")
    return base.LAYER_KINDS.get(name)


def all_kinds() -> dict[str, type[Layer]]:
    """Every layer kind, by canonical name and by alias: family by family in :data:`FAMILIES`
    order and in each family as its module defines them, whichever order they were imported in."""
    for family in FAMILIES:
        import_module(f"{__name__}.{family}")
    rank = {f"{__name__}.{family}": index for index, family in enumerate(FAMILIES)}
    return dict(sorted(base.LAYER_KINDS.items(), key=lambda item: rank[item[1].__module__]))


def __getattr__(name: str) -> object:
    # PEP 562: `LAYER_KINDS` is built on first use (then kept as a module attribute), as importing
    # every family costs start-up time that a single layer does not need.
    if name == "LAYER_KINDS":
        kinds = globals()["LAYER_KINDS"] = all_kinds()
        return kinds
    if name == "MERGE_KINDS":
        import_module(f"{__name__}.merge")
        merges = globals()["MERGE_KINDS"] = dict(base.MERGE_KINDS)
        return merges
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
