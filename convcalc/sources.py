"""Where a spec comes from: a path, ``-`` for stdin, or ``zoo:NAME`` for a built-in model.

Every command and the Python API name a spec the same way and resolve it here, in one place: a
new kind of source (a format read from a path by its suffix, say) is one more branch of
:func:`load`, and nothing else changes.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from convcalc.errors import Location, SpecError

if TYPE_CHECKING:
    from convcalc.overrides import Setting
    from convcalc.spec import Network, Node

MAX_SPEC_BYTES = 16 * 2**20
"""The largest spec file read."""

ZOO_PREFIX = "zoo:"
STDIN = "-"


def load(
    source: str,
    settings: Sequence[Setting] = (),
    input_shape: tuple[int, ...] | None = None,
    strict: bool = False,
) -> Network:
    """Read and validate the spec ``source`` names (see :func:`spec_text`), or the ONNX model
    at that path (recognised by its content; ``input_shape`` fixes its symbolic sizes;
    ``strict`` refuses its unsupported ops, each located at its node), with ``settings``
    (``--set PATH=VALUE``) applied to its values first."""
    from convcalc.loader import parse_spec

    if not source.startswith(ZOO_PREFIX) and source != STDIN:
        from convcalc.onnxin import looks_like_onnx, onnx_spec

        if looks_like_onnx(source):
            imported = onnx_spec(source, input_shape, strict)
            network = parse_spec(imported.text, source, settings)
            unplaced(network.layers)
            network.notes = imported.notes
            return network
    text, name = spec_text(source)
    return parse_spec(text, name, settings)


def unplaced(nodes: Sequence[Node]) -> None:
    """Drop the line and column from ``nodes`` and those inside them, in place: they would be
    positions in the spec text made from an ONNX model, which the user never sees (messages
    name the model file and the item)."""
    for node in nodes:
        node.location = Location(node.location.file)
        for part in ("body", "layers", "shortcut"):
            inner = getattr(node, part, None)
            if isinstance(inner, tuple):
                unplaced(inner)
        for branch in getattr(node, "branches", ()):
            unplaced(branch)


def spec_text(source: str) -> tuple[str, str]:
    """The text of the spec ``source`` names, and the name to locate its problems by."""
    if source.startswith(ZOO_PREFIX):
        from convcalc.zoo import zoo_text

        return zoo_text(source.removeprefix(ZOO_PREFIX)), source
    if source == STDIN:
        try:
            if sys.stdin is None:  # started with stdin closed (`<&-`)
                raise OSError(errno.EBADF, "stdin is closed")
            data = sys.stdin.buffer.read(MAX_SPEC_BYTES + 1)
        except OSError as error:
            raise SpecError(
                f"cannot read the spec: {error.strerror}", Location("<stdin>")
            ) from None
        return decoded(data, "<stdin>")
    try:
        with Path(source).open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as error:
        hint = zoo_hint(Path(source)) if isinstance(error, FileNotFoundError) else ""
        raise SpecError(f"cannot read the spec: {error.strerror}{hint}", Location(source)) from None
    return decoded(data, source)


def zoo_hint(path: Path) -> str:
    """`` (did you mean `zoo:resnet50`, …?)`` for a missing file named like a zoo model."""
    from convcalc.zoo import names

    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    if path.parent != Path() or stem.lower() not in names():
        return ""
    return f" (did you mean `{ZOO_PREFIX}{stem.lower()}`, the built-in model?)"


def decoded(data: bytes, name: str) -> tuple[str, str]:
    """Spec bytes as text (UTF-8, a byte-order mark allowed), with their name; at most
    :data:`MAX_SPEC_BYTES`, of which one more is read to tell."""
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"the spec is larger than {MAX_SPEC_BYTES // 2**20} MiB", Location(name))
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as error:
        raise SpecError(
            f"the spec is not UTF-8 text (byte {error.start})", Location(name)
        ) from None
