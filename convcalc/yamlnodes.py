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

from convcalc.errors import Location, SpecError, one_line

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
        raise SpecError(f"YAML syntax error: {problem}", where) from None
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
    """Consumes the event stream of one document and builds SpecMap/SpecList/scalar values."""

    def __init__(self, loader: yaml.SafeLoader, file: str | None) -> None:
        # PyYAML's parser methods are untyped: the builder calls them through ``Any``.
        self.loader: Any = loader
        self.file = file
        self.stack: list[_Frame] = []
        # Anchor → (value, its size in values): an alias adds that size again, since the spec is
        # later walked as a tree; an alias to a collection still open would make it infinite.
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open: set[str] = set()
        self.total = 0
        # Scalars are immutable and built from their tag and text alone: build each once.
        self.scalars: dict[tuple[str, str], Any] = {}
        # A plain scalar's tag depends on its text alone: resolve each distinct text once.
        self.tags: dict[str, str] = {}

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
        events = self.loader
        while True:
            event = events.get_event()
            kind = type(event)
            if kind is yaml.ScalarEvent:
                done = self.add(self.scalar(event), event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self.begin(event, SpecMap if kind is yaml.MappingStartEvent else SpecList)
                continue
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = self.stack.pop()
                size = self.total - frame.start
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (frame.value, size)
                    self.open.discard(frame.anchor)
                if isinstance(frame.value, SpecMap):
                    for source in frame.merged:
                        merge_into(frame.value, source)
                done = self.add(frame.value, event, frame.mark)
            elif kind is yaml.AliasEvent:
                done = self.add(self.alias(event), event)
            else:
                raise self.fail(f"unexpected YAML {kind.__name__}", event)
            if done:
                return done[0]

    def begin(self, event: Any, container: type[SpecMap] | type[SpecList]) -> None:
        """Open a mapping or list."""
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(f"the spec nests deeper than {MAX_DEPTH} levels", event)
        if event.tag not in (None, "!", container.TAG):
            raise self.fail(f"unsupported YAML tag {short_tag(event.tag)}", event)
        self.count(1, event)
        mark = mark_of(event)
        self.stack.append(_Frame(container(mark=mark), event.anchor, mark, self.total - 1))
        if event.anchor is not None:
            self.open.add(event.anchor)

    def alias(self, event: Any) -> Any:
        """The shared value of an anchor, counted again."""
        if event.anchor in self.open:
            raise self.fail(
                "an alias refers to a collection that contains it (a recursive structure)", event
            )
        if event.anchor not in self.anchors:
            raise self.fail(f"undefined alias *{event.anchor}", event)
        value, size = self.anchors[event.anchor]
        self.count(size, event)
        return value

    def scalar(self, event: Any) -> Any:
        """A scalar's value: str, int, float, bool or None."""
        self.count(1, event)
        value = event.value
        tag = event.tag
        if tag is None or tag == "!":
            if event.implicit[0]:
                tag = self.tags.get(value)
                if tag is None:
                    tag = self.tags[value] = self.loader.resolve(
                        yaml.ScalarNode, value, event.implicit
                    )
            else:
                tag = STR_TAG
        if tag == MERGE_TAG:
            return _MERGE
        if tag == TIMESTAMP_TAG and event.implicit[0]:
            tag = STR_TAG  # an unquoted date is a name here, not a datetime
        if tag not in PLAIN_TAGS:
            raise self.fail(f"unsupported YAML tag {short_tag(tag)}", event)
        key = (tag, value)
        built = self.scalars.get(key, _NO_KEY)
        if built is _NO_KEY:
            node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
            try:
                built = self.loader.construct_object(node)
            except Exception:  # PyYAML's constructors fail in many ways on odd explicit tags
                raise self.fail(
                    f"invalid value for {short_tag(tag)}: {one_line(repr(value))}", event
                ) from None
            self.scalars[key] = built
        if event.anchor is not None:
            self.anchors[event.anchor] = (built, 1)
        return built

    def add(self, value: Any, event: Any, mark: Mark | None = None) -> tuple[Any] | None:
        """Put a finished value into the collection being built; ``(value,)`` for the root."""
        if not self.stack:
            return (value,)
        frame = self.stack[-1]
        where = mark or mark_of(event)
        target = frame.value
        if value is _MERGE and not (isinstance(target, SpecMap) and frame.key is _NO_KEY):
            raise SpecError("`<<` (a merge) may only be a mapping's key", where.location(self.file))
        if isinstance(target, SpecList):
            target.append(value)
            target.item_marks.append(where)
            return None
        if frame.key is _NO_KEY:
            if isinstance(value, SpecMap | SpecList):
                raise SpecError("a key must be a plain name", where.location(self.file))
            if value is _MERGE:
                frame.merging = True
            elif value in target:
                raise self.fail(f"duplicate key {value!r}", event)
            frame.key = value
            frame.key_mark = where
            return None
        if frame.merging:
            sources = value if isinstance(value, SpecList) else [value]
            if not all(isinstance(source, SpecMap) for source in sources):
                raise SpecError(
                    "`<<` merges a mapping or a list of mappings", where.location(self.file)
                )
            frame.merged.extend(sources)
            frame.merging = False
        else:
            target[frame.key] = value
            target.key_marks[frame.key] = frame.key_mark
            target.value_marks[frame.key] = where
        frame.key = _NO_KEY
        return None

    def count(self, values: int, event: Any) -> None:
        """Add ``values`` to the expanded size; refuse the spec past :data:`MAX_NODES`."""
        self.total += values
        if self.total > MAX_NODES:
            raise self.fail(
                f"the spec has more than {MAX_NODES:,} YAML nodes once its aliases are expanded",
                event,
            )


_MERGE = object()
"""The ``<<`` merge key."""


def merge_into(target: SpecMap, source: SpecMap) -> None:
    """YAML's merge key: copy the keys of ``source`` that ``target`` does not set itself."""
    for key, value in source.items():
        if key not in target:
            target[key] = value
            target.key_marks[key] = source.key_mark(key)
            target.value_marks[key] = source.value_mark(key)
