"""Spec text → Python values that remember where in the text each value was written.

PyYAML's C composer builds the node tree (safe loading only); we convert it ourselves so that
every mapping and list keeps the line and column of its keys and items. Anchors and aliases are
converted once and shared, and the number of distinct nodes and the nesting depth are bounded,
so crafted documents (alias bombs, deep nesting) are refused quickly instead of exhausting memory.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from convcalc.errors import Location, SpecError

MAX_NODES = 2_000_000
"""YAML nodes one spec may hold, counting an aliased node again at every use (alias bombs)."""

MAX_DEPTH = 200
"""How deeply mappings and lists may nest."""

try:
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[valid-type, misc]
    """Safe loading, plus YAML 1.2 floats such as ``1e-5`` (YAML 1.1 reads them as strings)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.resolved: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: tuple[bool, bool]) -> str:
        """The tag of a node; a plain scalar's depends on its text alone, so it is looked up
        once per distinct text (specs repeat ``conv``, ``filters``, ``3`` thousands of times,
        and each lookup runs PyYAML's regular expressions in Python)."""
        if kind is yaml.ScalarNode and implicit[0] and isinstance(value, str):
            tag = self.resolved.get(value)
            if tag is None:
                tag = self.resolved[value] = super().resolve(kind, value, implicit)
            return tag
        return str(super().resolve(kind, value, implicit))


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class Mark:
    """A 1-based line and column in the spec text."""

    __slots__ = ("column", "line")

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column

    def location(self, file: str | None, path: str | None = None) -> Location:
        """This position as a :class:`Location` in ``file``."""
        return Location(file=file, line=self.line, column=self.column, path=path)


NO_MARK = Mark(0, 0)


class SpecMap(dict[Any, Any]):
    """A mapping from the spec, with the position of itself, each key and each value."""

    def __init__(self, *args: Any, mark: Mark = NO_MARK) -> None:
        super().__init__(*args)
        self.mark = mark
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}

    def key_mark(self, key: Any) -> Mark:
        """Where ``key`` is written (the mapping's own position if unknown)."""
        return self.key_marks.get(key, self.mark)

    def value_mark(self, key: Any) -> Mark:
        """Where the value of ``key`` is written (the mapping's own position if unknown)."""
        return self.value_marks.get(key, self.mark)


class SpecList(list[Any]):
    """A list from the spec, with the position of itself and of each item."""

    def __init__(self, *args: Any, mark: Mark = NO_MARK) -> None:
        super().__init__(*args)
        self.mark = mark
        self.item_marks: list[Mark] = []

    def item_mark(self, index: int) -> Mark:
        """Where item ``index`` is written."""
        return self.item_marks[index] if index < len(self.item_marks) else self.mark


def mark_of(node: yaml.Node) -> Mark:
    """The 1-based start position of a YAML node."""
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str, file: str | None) -> Any:
    """Parse spec text (YAML or JSON) into plain values with positions; errors are located."""
    loader = _Loader(text)
    try:
        check_nesting(text)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = error.problem or error.context or "invalid YAML"
        raise SpecError(f"YAML syntax error: {problem}", where) from None
    except yaml.YAMLError as error:
        raise SpecError(f"YAML error: {error}", Location(file)) from None
    except _TooDeep as error:
        raise SpecError(
            f"the spec nests deeper than {MAX_DEPTH} levels",
            Location(file, error.line, error.column),
        ) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError("the spec is empty", Location(file))
    return _Converter(loader, file).convert(root, 0)


def check_nesting(text: str) -> None:
    """Refuse documents nested deeper than :data:`MAX_DEPTH` before composing them.

    libyaml's composer recurses once per level (100,000 levels crash the interpreter) and its
    scanner slows down quadratically with flow nesting, so the depth is measured on the event
    stream, which is produced lazily: stopping at the first level too deep costs almost nothing.
    """
    if nesting_bound(text) <= COMPOSER_SAFE_DEPTH:
        return  # the converter enforces MAX_DEPTH exactly on the composed tree
    depth = 0
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, starts):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise _TooDeep(mark.line + 1, mark.column + 1) if mark else _TooDeep(0, 0)
        elif isinstance(event, ends):
            depth -= 1


COMPOSER_SAFE_DEPTH = 5_000
"""Nesting that libyaml's recursive composer handles quickly; beyond ~20,000 levels it crashes."""

_BRACKETS = re.compile(r"[\[\]{}]")
_LINE_PREFIX = re.compile(r"^[ \t?:-]*", re.MULTILINE)


def nesting_bound(text: str) -> int:
    """An upper bound of the nesting depth, read off the text without YAML events.

    A flow level needs a ``[`` or ``{``; a block level needs a deeper indent, one more
    ``-``/``?``/``:`` indicator at the start of its line, or sits below the key on the line above:
    so depth ≤ flow depth + 2 × (the longest run of indentation and indicators that starts a
    line) + 1. Without quotes and comments, brackets can only stand for flow collections (or
    inside block scalars, outside any flow collection), so the flow depth is the deepest running
    bracket count; otherwise every opening bracket counts, as quoted text could hide closing ones.
    """
    if '"' in text or "'" in text or "#" in text:
        flow = text.count("[") + text.count("{")
    else:
        depth = flow = 0
        for bracket in _BRACKETS.finditer(text):
            depth = depth + 1 if bracket.group() in "[{" else max(depth - 1, 0)
            flow = max(flow, depth)
    prefix = max((len(match) for match in _LINE_PREFIX.findall(text)), default=0)
    return flow + 2 * prefix + 1


class _TooDeep(Exception):
    """Raised by :func:`check_nesting` with the 1-based position of the first level too deep."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column)
        self.line = line
        self.column = column


class _Converter:
    """Turns a composed node tree into SpecMap/SpecList/scalars, sharing aliased nodes."""

    def __init__(self, loader: yaml.SafeLoader, file: str | None) -> None:
        self.loader = loader
        self.file = file
        self.done: dict[int, Any] = {}
        # Expanded size of each converted node (aliases counted at every use), the running total
        # and the collections being converted: a spec is walked as a tree later, so an alias
        # used a million times costs a million nodes, and an alias inside its own anchor, forever.
        self.sizes: dict[int, int] = {}
        self.total = 0
        self.active: set[int] = set()
        # Scalars are immutable and built from their tag and text alone: build each once.
        self.scalars: dict[tuple[str, str], Any] = {}

    def count(self, nodes: int, node: yaml.Node) -> None:
        """Add ``nodes`` to the expanded size; refuse the spec once it exceeds :data:`MAX_NODES`."""
        self.total += nodes
        if self.total > MAX_NODES:
            raise SpecError(
                f"the spec has more than {MAX_NODES:,} YAML nodes once its aliases are expanded",
                mark_of(node).location(self.file),
            )

    def convert(self, node: yaml.Node, depth: int) -> Any:
        key = id(node)
        if key in self.done:
            if key in self.active:
                raise SpecError(
                    "an alias refers to a collection that contains it (a recursive structure)",
                    mark_of(node).location(self.file),
                )
            self.count(self.sizes[key], node)
            return self.done[key]
        before = self.total
        self.count(1, node)
        if depth > MAX_DEPTH:
            raise SpecError(
                f"the spec nests deeper than {MAX_DEPTH} levels", mark_of(node).location(self.file)
            )
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self.active.add(key)
            if isinstance(node, yaml.MappingNode):
                value: Any = self.mapping(node, depth)
            else:
                value = self.sequence(node, depth)
            self.active.discard(key)
        else:
            text = (node.tag, node.value)
            if text in self.scalars:
                value = self.scalars[text]
            else:
                try:
                    value = self.loader.construct_object(node, deep=True)
                except (yaml.YAMLError, ValueError, OverflowError) as error:
                    raise SpecError(
                        f"invalid value: {error}", mark_of(node).location(self.file)
                    ) from None
                self.scalars[text] = value
        self.done[key] = value
        self.sizes[key] = self.total - before
        return value

    def mapping(self, node: yaml.MappingNode, depth: int) -> SpecMap:
        result = SpecMap(mark=mark_of(node))
        self.done[id(node)] = result
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = self.convert(value_node, depth + 1)
                for source in merged if isinstance(merged, list) else [merged]:
                    if isinstance(source, SpecMap):
                        for key, value in source.items():
                            if key not in result:
                                result[key] = value
                                result.key_marks[key] = source.key_mark(key)
                                result.value_marks[key] = source.value_mark(key)
                continue
            key = self.convert(key_node, depth + 1)
            if isinstance(key, SpecMap | SpecList):
                raise SpecError("a key must be a plain name", mark_of(key_node).location(self.file))
            if key in result:
                raise SpecError(f"duplicate key {key!r}", mark_of(key_node).location(self.file))
            result[key] = self.convert(value_node, depth + 1)
            result.key_marks[key] = mark_of(key_node)
            result.value_marks[key] = mark_of(value_node)
        return result

    def sequence(self, node: yaml.SequenceNode, depth: int) -> SpecList:
        result = SpecList(mark=mark_of(node))
        self.done[id(node)] = result
        for item in node.value:
            result.append(self.convert(item, depth + 1))
            result.item_marks.append(mark_of(item))
        return result
