"""The spec ``convcalc import`` writes: items in graph order, grouped into ``residual``,
``concat`` and ``gate`` blocks where the graph has their shape, as YAML a person would write.

A merge becomes a block when every tensor it joins is a straight chain from one tensor (or that
tensor itself), each link read by the next alone: then the chains are the block's body and
shortcut, or its branches, and nothing outside needs their names. Merges inside chains are
grouped first, so blocks nest. Everywhere else items say ``from:``. The blocks compute what the
flat items do (a residual adds its body and shortcut, a concat joins its branches in order, a
gate multiplies its input by its body), so the numbers are the same.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MERGES = ("add", "mul", "concat")
RESERVED_NAMES = {"input", "true", "false", "yes", "no", "on", "off", "null", "none"}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass(eq=False)
class Item:
    """One spec item: its kind, options, name and the tensor it reads (a merge reads those in
    its ``from`` option); a block holds its lists of items in ``parts``."""

    kind: str
    options: dict[str, Any]
    name: str
    sources: list[str]
    comment: str = ""
    """Why the item is ``opaque`` (an op outside the mapping), written above it."""
    shapes: tuple[tuple[int, ...], ...] = ()
    """For a merge: the shapes it joins, then its output's (as the graph states them)."""
    parts: list[list[Item]] = field(default_factory=list)

    @property
    def is_merge(self) -> bool:
        """Whether it joins tensors named in its ``from`` (a concat block is no merge)."""
        return self.kind in MERGES and not self.parts

    @property
    def inputs(self) -> list[str]:
        """The names of the tensors it reads."""
        return list(self.options["from"]) if self.is_merge else self.sources[:1]

    def walk(self) -> Iterator[Item]:
        """This item and every item inside it."""
        yield self
        for chain in self.parts:
            for item in chain:
                yield from item.walk()


def grouped(items: list[Item], outputs: list[str]) -> tuple[list[Item], list[str]]:
    """``items`` with every merge that has a block's shape replaced by that block, and the
    network's ``outputs`` by the names they then have."""
    items = list(items)
    readers: Counter[str] = Counter(outputs)
    for item in items:
        readers.update(item.inputs)
    renamed: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for merge in list(items):
            block = as_block(merge, items, readers)
            if block is not None:
                renamed[merge.name] = block.name
                changed = True
    return items, [renamed.get(name, name) for name in outputs]


def chains_of(merge: Item, items: list[Item], readers: Counter[str]) -> list[list[Item]] | None:
    """A block's lists of items (body and shortcut, a gate's body, or branches) when ``merge``
    joins straight chains from one tensor; ``None`` otherwise."""
    named = {item.name: item for item in items}
    ends = [chain_to(name, named, readers) for name in merge.inputs]
    if len({start for start, _ in ends}) != 1:
        return None
    chains = [chain for _, chain in ends]
    *joined, output = merge.shapes or ((),)
    if merge.kind == "add":
        # A residual adds two tensors of one shape (an add that broadcasts stays an add).
        if len(chains) != 2 or len(set(joined)) != 1:
            return None
        body, shortcut = sorted(chains, key=len, reverse=True)
        if not body:
            return None
        return [body, shortcut] if shortcut else [body]
    if merge.kind == "mul":
        # A gate keeps its input's shape: x · body(x), the body's output broadcast to x.
        identity = [index for index, chain in enumerate(chains) if not chain]
        if len(chains) != 2 or len(identity) != 1 or joined[identity[0]] != output:
            return None
        return [chains[1 - identity[0]]]
    return chains


def as_block(merge: Item, items: list[Item], readers: Counter[str]) -> Item | None:
    """Replace ``merge`` and the chains it joins by one block in ``items`` (``readers``
    updated), when they have a block's shape; the block, or ``None``."""
    if not merge.is_merge:
        return None
    parts = chains_of(merge, items, readers)
    if parts is None:
        return None
    start = parts[0][0].sources[0] if parts[0] else merge.inputs[0]
    members = [item for chain in parts for item in chain]
    kind = {"add": "residual", "mul": "gate", "concat": "concat"}[merge.kind]
    taken = {inner.name for item in items for inner in item.walk()}
    block = Item(kind, {}, block_name(merge, members, taken), [start], parts=parts)
    items[items.index(merge)] = block
    for member in members:
        items.remove(member)
    for chain in parts:
        inner_names(chain, block.name)
    readers[start] += 1 - sum(1 for chain in parts if chain) - merge.inputs.count(start)
    readers[block.name] = readers.pop(merge.name, 0)
    for item in items:
        for inner in item.walk():
            if inner.is_merge:
                inner.options["from"] = [block.name if n == merge.name else n for n in inner.inputs]
            elif inner.sources[:1] == [merge.name]:
                inner.sources[0] = block.name
    return block


def chain_to(name: str, named: dict[str, Item], readers: Counter[str]) -> tuple[str, list[Item]]:
    """The tensor a straight chain ending at ``name`` starts from, and the chain (empty when
    ``name`` is read elsewhere too: then it is the start itself)."""
    chain: list[Item] = []
    while name in named and readers[name] == 1 and not named[name].is_merge:
        item = named[name]
        chain.append(item)
        name = item.sources[0]
    return name, chain[::-1]


def block_name(merge: Item, members: list[Item], taken: set[str]) -> str:
    """The block's name: what its items' names share (``layer1_0`` for ``layer1_0_conv1``…),
    when that names nothing else; else the merge's own."""
    words = [item.name.split("_") for item in [*members, merge]]
    count = next(
        (index for index, same in enumerate(zip(*words, strict=False)) if len(set(same)) > 1),
        min(map(len, words)),
    )
    shared = "_".join(words[0][:count])
    return shared if shared and valid(shared) and shared not in taken else merge.name


def inner_names(chain: list[Item], prefix: str) -> None:
    """Names inside a block without the block's own name in front, where they stay valid and
    distinct (they are seen only inside it)."""
    shorter = [item.name.removeprefix(prefix + "_") for item in chain]
    if len(set(shorter)) != len(shorter) or not all(valid(name) for name in shorter):
        return
    # Names are unique in the whole import: the old ones are renamed wherever they are read.
    new = {item.name: name for item, name in zip(chain, shorter, strict=True)}
    for item in chain:
        for inner in item.walk():
            inner.name = new.get(inner.name, inner.name)
            if inner.is_merge:
                inner.options["from"] = [new.get(name, name) for name in inner.inputs]
            elif inner.sources:
                inner.sources[0] = new.get(inner.sources[0], inner.sources[0])


def valid(name: str) -> bool:
    """Whether ``name`` can name an item: a word, not one YAML or the spec reserves."""
    return bool(NAME.fullmatch(name)) and name.lower() not in RESERVED_NAMES


def item_lines(items: list[Item], indent: str, previous: str) -> list[str]:
    """The YAML lines of a list of items at ``indent``, the first reading ``previous``."""
    lines: list[str] = []
    for item in items:
        if item.comment:
            lines.append(f"{indent}# unsupported: {item.comment}")
        if item.parts:
            lines += block_lines(item, indent)
        elif item.options:
            lines.append(f"{indent}- {item.kind}: {flow(item.options)}")
        else:
            lines.append(f"{indent}- type: {item.kind}")
        lines.append(f"{indent}  name: {item.name}")
        if item.sources and item.sources[0] != previous:
            lines.append(f"{indent}  from: {item.sources[0]}")
        previous = item.name
    return lines


def block_lines(block: Item, indent: str) -> list[str]:
    """A residual's body and shortcut, a gate's body, or a concat's branches."""
    lines = [f"{indent}- {block.kind}:"]
    if block.kind == "concat":
        lines.append(f"{indent}    branches:")
        for branch in block.parts:
            if not branch:
                lines.append(f"{indent}      - []")
                continue
            inner = item_lines(branch, indent + "        ", block.sources[0])
            lines.append(f"{indent}      - {inner[0].lstrip()}")
            lines += inner[1:]
        return lines
    for key, chain in zip(("body", "shortcut"), block.parts, strict=False):
        lines.append(f"{indent}    {key}:")
        lines += item_lines(chain, indent + "      ", block.sources[0])
    return lines


def plain(value: Any) -> str:
    """A YAML scalar or flow list, quoted where YAML would read it otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    if isinstance(value, str) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*|\d+(x\d+)+", value):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


OPTION_ORDER = ("filters", "out", "kernel", "stride", "pad", "dilation", "groups", "bias")


def flow(options: dict[str, Any]) -> str:
    """Options as a YAML flow mapping, in the order people write them."""
    keys = sorted(options, key=lambda key: OPTION_ORDER.index(key) if key in OPTION_ORDER else 99)
    return "{" + ", ".join(f"{key}: {plain(options[key])}" for key in keys) + "}"
