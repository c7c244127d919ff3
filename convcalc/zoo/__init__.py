"""Built-in architectures, shipped as YAML specs beside this module."""

from __future__ import annotations

from importlib import resources

from convcalc.errors import SpecError, suggestion


def names() -> list[str]:
    """The names of the built-in models, sorted."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files(__package__).iterdir()
        if entry.name.endswith(".yaml")
    )


def zoo_text(name: str) -> str:
    """The YAML spec of the built-in model ``name``."""
    if name not in names():
        raise SpecError(
            f"no zoo model named {name!r}{suggestion(name, names())}; models: {', '.join(names())}"
        )
    return resources.files(__package__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def listing() -> list[str]:
    """One line per model: name and the first comment line of its spec."""
    lines = []
    for name in names():
        first = zoo_text(name).splitlines()[0].lstrip("# ").strip()
        lines.append(f"{name:<16} {first}")
    return lines
