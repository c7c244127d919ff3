"""Built-in architectures, shipped as YAML specs beside this module.

Each spec's first comment line is its one-line note; the listing's params and MACs are not
written down anywhere but computed by analyzing the spec, so they cannot drift from it.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import NamedTuple

from convcalc.errors import SpecError, shorten, suggestion
from convcalc.layers.base import Shape


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value: resnet18 < resnet50 < resnet101."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    )


def names() -> list[str]:
    """The names of the built-in models, in natural order (vgg11, vgg11_bn, vgg16 …)."""
    return sorted(
        (
            entry.name.removesuffix(".yaml")
            for entry in resources.files(__package__).iterdir()
            if entry.name.endswith(".yaml")
        ),
        key=natural_key,
    )


FAMILIES = (
    "alexnet",
    "cs231n",
    "convnext",
    "deeplabv3",
    "densenet",
    "efficientnet",
    "fcn",
    "googlenet",
    "inception",
    "lenet",
    "lraspp",
    "mnasnet",
    "mobilenet",
    "regnet",
    "resnet",
    "resnext",
    "shufflenet",
    "squeezenet",
    "vgg",
    "wide_resnet",
)
"""The families the listing groups by; a model belongs to the longest family its name starts
with (``wide_resnet50_2`` to wide_resnet, ``mobilenet_v3_small`` to mobilenet)."""


def family_of(name: str) -> str:
    """The family of the built-in model ``name`` (its own name when no family matches)."""
    matches = [family for family in FAMILIES if name.startswith(family)]
    return max(matches, key=len) if matches else name


def families() -> list[str]:
    """The families of the built-in models, sorted."""
    return sorted({family_of(name) for name in names()})


def zoo_text(name: str) -> str:
    """The YAML spec of the built-in model ``name``."""
    if name not in names():
        raise SpecError(
            f"no zoo model named {shorten(name)!r}{suggestion(name, names())}; "
            f"models: {', '.join(names())}"
        )
    return resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def note_of(text: str) -> str:
    """A spec's one-line note: its first comment line, without the ``#``."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


class ZooEntry(NamedTuple):
    """One built-in model as the listing shows it: params and MACs (batch 1) from its analysis."""

    name: str
    family: str
    input: Shape
    params: int
    macs: int
    note: str


def entry(name: str) -> ZooEntry:
    """Analyze the built-in model ``name`` at its spec's input size and batch 1."""
    from dataclasses import replace

    from convcalc.analysis import analyze
    from convcalc.loader import parse_spec

    text = zoo_text(name)
    network = parse_spec(text, f"zoo:{name}")
    report = analyze(replace(network, batch=1))
    return ZooEntry(
        name=name,
        family=family_of(name),
        input=network.input,
        params=report.totals.params,
        macs=report.totals.macs,
        note=note_of(text),
    )


def entries(family: str | None = None) -> list[ZooEntry]:
    """Every built-in model (of ``family``), analyzed, grouped by family (about 1.5 s for the
    whole zoo)."""
    if family is not None and family not in families():
        raise SpecError(
            f"no zoo family named {family!r}{suggestion(family, families())}; "
            f"families: {', '.join(families())}"
        )
    chosen = [name for name in names() if family in (None, family_of(name))]
    return [entry(name) for name in sorted(chosen, key=lambda name: family_of(name))]
