"""Spec text → Python values that remember where in the text each value was written.

libyaml parses the text into a stream of events (safe loading only: plain data, no tags that
construct objects); we build the values from that stream ourselves, with an explicit stack, so
that every mapping and list keeps the line and column of its keys and items. No node tree is
built (it would cost several Python objects per value), nothing recurses (deep nesting cannot
overflow a stack), anchors are built once and shared, and the number of values — counting an
aliased collection again at every use — and the nesting depth are bounded, so crafted documents
(alias bombs, deep nesting) are refused quickly instead of exhausting memory.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from convcalc.errors import Location, SpecError, one_line, shorten

MAX_NODES = 2_000_000
"""YAML nodes one spec may hold, counting an aliased node again at every use (alias bombs)."""

MAX_DEPTH = 200
"""How deeply mappings and lists may nest."""

try:
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader

PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null")
)
"""The only scalar types a spec holds; any other tag (``!!python/…``, ``!!binary``, a timestamp)
is refused rather than constructed."""

YAML_TAGS = "tag:yaml.org,2002:"
MERGE_TAG = f"{YAML_TAGS}merge"
STR_TAG = f"{YAML_TAGS}str"
TIMESTAMP_TAG = f"{YAML_TAGS}timestamp"


def short_tag(tag: str) -> str:
    """``tag:yaml.org,2002:python/object`` → ``!!python/object``, as it is written."""
    return "!!" + tag.removeprefix(YAML_TAGS) if tag.startswith(YAML_TAGS) else tag


class _Loader(_BaseLoader):  # type: ignore[valid-type, misc]
    """Safe parsing, plus YAML 1.2 floats such as ``1e-5`` (YAML 1.1 reads them as strings).
    Only its event parser, tag resolver and scalar constructors are used."""


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
        return Location(file, self.line, self.column, path)


NO_MARK = Mark(0, 0)


class SpecMap(dict[Any, Any]):
    """A mapping from the spec, with the position of itself, each key and each value."""

    TAG = "tag:yaml.org,2002:map"
    # A spec of 100,000 layers holds hundreds of thousands of these: no per-instance __dict__.
    __slots__ = ("key_marks", "mark", "value_marks")

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

    TAG = "tag:yaml.org,2002:seq"
    __slots__ = ("item_marks", "mark")

    def __init__(self, *args: Any, mark: Mark = NO_MARK) -> None:
        super().__init__(*args)
        self.mark = mark
        self.item_marks: list[Mark] = []

    def item_mark(self, index: int) -> Mark:
        """Where item ``index`` is written."""
        return self.item_marks[index] if index < len(self.item_marks) else self.mark


def mark_of(event: Any) -> Mark:
    """The 1-based start position of a YAML event."""
    return Mark(event.start_mark.line + 1, event.start_mark.column + 1)


def parse_yaml(text: str, file: str | None) -> Any:
    """Parse spec text (YAML or JSON) into plain values with positions, from libyaml's event
    stream; errors are located."""
    loader = _Loader(text)
    try:
        return _Builder(loader, file).document()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = error.problem or error.context or "invalid YAML"
        if "nesting depth" in problem:
            # Newer libyaml scans ahead and stops deep nesting itself, before the builder does.
            raise SpecError(f"the spec nests deeper than {MAX_DEPTH} levels", where) from None
        raise SpecError(f"YAML syntax error: {problem}{syntax_hint(error, text)}", where) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        code = ord(error.character) if isinstance(error.character, str) else error.character
        raise SpecError(
            f"character U+{code:04X} is not allowed in YAML ({error.reason})",
            Location(file, line, column),
        ) from None
    except yaml.YAMLError as error:
        raise SpecError(f"YAML error: {one_line(str(error))}", Location(file)) from None
    finally:
        loader.dispose()


OPENERS = {"while parsing a flow mapping": "{", "while parsing a flow sequence": "["}
"""libyaml's context for an unclosed bracket → the bracket."""


def syntax_hint(error: yaml.MarkedYAMLError, text: str) -> str:
    """What a YAML syntax error most likely means: a tab used for indentation, or a ``{`` or
    ``[`` never closed (named where it was opened, libyaml's context mark, as the problem is
    only noticed further on)."""
    mark = error.problem_mark
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        return " (a tab: YAML indents with spaces only)"
    context, opened = error.context, error.context_mark
    if context in OPENERS and opened is not None and opened is not mark:
        return (
            f" (the `{OPENERS[context]}` opened at {opened.line + 1}:{opened.column + 1} "
            "is not closed)"
        )
    return ""


class _Frame:
    """A mapping or list being built: its value, anchor, size so far and pending key."""

    __slots__ = ("anchor", "key", "key_mark", "mark", "merged", "merging", "start", "value")

    def __init__(
        self, value: SpecMap | SpecList, anchor: str | None, mark: Mark, start: int
    ) -> None:
        self.value = value
        self.anchor = anchor
        self.mark = mark
        self.start = start
        self.key: Any = _NO_KEY
        self.key_mark = mark
        self.merging = False
        # Mappings merged in with `<<`: their keys fill in what the mapping itself leaves unset,
        # once it is complete (an explicit key wins, wherever it is written).
        self.merged: list[Any] = []


_NO_KEY = object()


class _Builder:
    """Consumes the event stream of one document and builds SpecMap/SpecList/scalar values.

    A large spec is tens of thousands of events, and the time to read it is mostly this
    builder's Python per event: the loop in :meth:`value_of_stream` does the common cases (a
    plain scalar seen before, an item of a list, a key's value) inline, with the parser and the
    frame stack in local variables, and leaves the rare ones (anchors, explicit tags, merge keys,
    errors) to the methods below it."""

    def __init__(self, loader: yaml.SafeLoader, file: str | None) -> None:
        # PyYAML's parser methods are untyped: the builder calls them through ``Any``.
        self.loader: Any = loader
        self.file = file
        self.stack: list[_Frame] = []
        # Anchor → (value, its size in values): an alias adds that size again, since the spec is
        # later walked as a tree; an alias to a collection still open would make it infinite.
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open: set[str] = set()
        # Scalars are immutable and built from their tag and text alone: build each once.
        self.scalars: dict[tuple[str, str], Any] = {}
        # A plain scalar's value depends on its text alone: resolve and build each text once.
        self.plain: dict[str, Any] = {}

    def fail(self, message: str, event: Any) -> SpecError:
        """A located error at ``event``."""
        return SpecError(message, mark_of(event).location(self.file))

    def document(self) -> Any:
        """The one document of the stream (an error for none or several)."""
        events = self.loader
        events.get_event()  # stream start
        if events.check_event(yaml.StreamEndEvent):
            raise SpecError("the spec is empty", Location(self.file))
        events.get_event()  # document start
        root = self.value_of_stream()
        events.get_event()  # document end
        if not events.check_event(yaml.StreamEndEvent):
            raise self.fail("the spec holds several YAML documents; give one", events.peek_event())
        return root

    def value_of_stream(self) -> Any:
        """Build values from events until the root value is complete."""
        next_event = self.loader.get_event
        stack = self.stack
        plain = self.plain
        total = 0
        value: Any
        while True:
            event = next_event()
            kind = event.__class__
            if kind is ScalarEvent:
                total += 1
                value = (
                    plain.get(event.value, _NO_KEY)
                    if event.implicit[0] and event.tag is None and event.anchor is None
                    else _NO_KEY
                )
                if value is _NO_KEY:
                    value = self.scalar(event)
                start = event.start_mark
                mark = Mark(start.line + 1, start.column + 1)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                total += 1
                if total > MAX_NODES:
                    raise self.too_many(event)
                container = SpecMap if kind is MappingStartEvent else SpecList
                if event.tag is None and event.anchor is None and len(stack) < MAX_DEPTH:
                    start = event.start_mark
                    mark = Mark(start.line + 1, start.column + 1)
                    stack.append(_Frame(container(mark=mark), None, mark, total - 1))
                else:
                    self.begin(event, container, total)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                value, mark = frame.value, frame.mark
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (value, total - frame.start)
                    self.open.discard(frame.anchor)
                for source in frame.merged:
                    merge_into(value, source)
            elif kind is AliasEvent:
                value, size = self.alias(event)
                total += size
                mark = mark_of(event)
            else:
                raise self.fail(f"unexpected YAML {kind.__name__}", event)
            if total > MAX_NODES:
                raise self.too_many(event)
            if not stack:
                return value
            frame = stack[-1]
            target: Any = frame.value
            if value is _MERGE and not (type(target) is SpecMap and frame.key is _NO_KEY):
                raise SpecError(
                    "`<<` (a merge) may only be a mapping's key", mark.location(self.file)
                )
            if type(target) is SpecList:
                target.append(value)
                target.item_marks.append(mark)
            elif frame.key is _NO_KEY:
                if type(value) is str and value not in target:
                    frame.key = value
                    frame.key_mark = mark
                else:
                    self.key(frame, value, mark, event)
            elif frame.merging:
                self.merged(frame, value, mark)
            else:
                key = frame.key
                target[key] = value
                target.key_marks[key] = frame.key_mark
                target.value_marks[key] = mark
                frame.key = _NO_KEY

    def too_many(self, event: Any) -> SpecError:
        """The error for a spec past :data:`MAX_NODES` values, at ``event``."""
        return self.fail(
            f"the spec has more than {MAX_NODES:,} YAML nodes once its aliases are expanded", event
        )

    def begin(self, event: Any, container: type[SpecMap] | type[SpecList], total: int) -> None:
        """Open a mapping or list, the ``total``-th value."""
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(f"the spec nests deeper than {MAX_DEPTH} levels", event)
        if event.tag not in (None, "!", container.TAG):
            raise self.fail(f"unsupported YAML tag {short_tag(event.tag)}", event)
        mark = mark_of(event)
        self.stack.append(_Frame(container(mark=mark), event.anchor, mark, total - 1))
        if event.anchor is not None:
            self.open.add(event.anchor)

    def alias(self, event: Any) -> tuple[Any, int]:
        """The shared value of an anchor and its size, to be counted again."""
        if event.anchor in self.open:
            raise self.fail(
                "an alias refers to a collection that contains it (a recursive structure)", event
            )
        if event.anchor not in self.anchors:
            raise self.fail(f"undefined alias *{event.anchor}", event)
        return self.anchors[event.anchor]

    def scalar(self, event: Any) -> Any:
        """A scalar's value: str, int, float, bool or None."""
        value = event.value
        tag = event.tag
        plain = event.implicit[0] and (tag is None or tag == "!")
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit) if plain else STR_TAG
        if tag == MERGE_TAG:
            built: Any = _MERGE
        else:
            if tag == TIMESTAMP_TAG and event.implicit[0]:
                tag = STR_TAG  # an unquoted date is a name here, not a datetime
            built = self.constructed(tag, event)
        if plain:
            self.plain[value] = built
        if event.anchor is not None:
            self.anchors[event.anchor] = (built, 1)
        return built

    def constructed(self, tag: str, event: Any) -> Any:
        """The value of a scalar of a plain ``tag`` (others are refused), built once per text."""
        if tag not in PLAIN_TAGS:
            raise self.fail(f"unsupported YAML tag {short_tag(tag)}", event)
        key = (tag, event.value)
        built = self.scalars.get(key, _NO_KEY)
        if built is _NO_KEY:
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            try:
                built = self.loader.construct_object(node)
            except Exception:  # PyYAML's constructors fail in many ways on odd explicit tags
                raise self.fail(
                    f"invalid value for {short_tag(tag)}: {one_line(repr(event.value))}", event
                ) from None
            self.scalars[key] = built
        return built

    def key(self, frame: _Frame, value: Any, mark: Mark, event: Any) -> None:
        """``value`` as the next key of the mapping ``frame`` builds."""
        if isinstance(value, SpecMap | SpecList):
            raise SpecError("a key must be a plain name", mark.location(self.file))
        if value is _MERGE:
            frame.merging = True
        elif value in frame.value:
            raise self.fail(f"duplicate key {shorten(value)!r}", event)
        frame.key = value
        frame.key_mark = mark

    def merged(self, frame: _Frame, value: Any, mark: Mark) -> None:
        """``value`` as what a ``<<`` key merges into the mapping ``frame`` builds."""
        sources = value if isinstance(value, SpecList) else [value]
        if not all(isinstance(source, SpecMap) for source in sources):
            raise SpecError("`<<` merges a mapping or a list of mappings", mark.location(self.file))
        frame.merged.extend(sources)
        frame.merging = False
        frame.key = _NO_KEY


ScalarEvent = yaml.ScalarEvent
MappingStartEvent = yaml.MappingStartEvent
MappingEndEvent = yaml.MappingEndEvent
SequenceStartEvent = yaml.SequenceStartEvent
SequenceEndEvent = yaml.SequenceEndEvent
AliasEvent = yaml.AliasEvent

_MERGE = object()
"""The ``<<`` merge key."""


def merge_into(target: SpecMap, source: SpecMap) -> None:
    """YAML's merge key: copy the keys of ``source`` that ``target`` does not set itself."""
    for key, value in source.items():
        if key not in target:
            target[key] = value
            target.key_marks[key] = source.key_mark(key)
            target.value_marks[key] = source.value_mark(key)
