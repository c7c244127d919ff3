"""The fast YAML reader against libyaml's: the same values and marks, or a fallback.

:func:`convcalc.fastyaml.read_yaml` must give exactly what :func:`parse_with_libyaml` gives —
every value of the same type, every mark at the same line and column — or None, never something
else; and None whenever libyaml's path reports an error. Checked on every spec of the repository,
on generated spec-like documents (valid, and broken at random), and at the depth and size
limits. A few hundred examples run in the suite; for a long run:

    python -m pytest tests/test_fastyaml.py --hypothesis-profile=long
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc import yamlnodes
from convcalc.errors import SpecError
from convcalc.fastyaml import read_yaml
from convcalc.yamlnodes import Mark, SpecList, SpecMap, parse_with_libyaml, parse_yaml
from tests.profiles import examples

ROOT = Path(__file__).resolve().parent.parent


def benchmark_module() -> ModuleType:
    """benchmarks/run.py (benchmarks/ is no package), for its generated specs."""
    spec = importlib.util.spec_from_file_location("benchmark_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


benchmark = benchmark_module()


def position(mark: Mark) -> tuple[int, int]:
    """A mark as (line, column)."""
    return (mark.line, mark.column)


def assert_same(fast: Any, slow: Any, path: str = "$") -> None:
    """``fast`` is ``slow``: equal values of the same types, all marks at the same places."""
    assert type(fast) is type(slow), f"{path}: {fast!r} vs {slow!r}"
    if isinstance(slow, SpecMap):
        assert position(fast.mark) == position(slow.mark), f"{path}: mark"
        assert list(fast) == list(slow), f"{path}: keys"
        for (key, value), slow_key in zip(fast.items(), slow, strict=True):
            assert type(key) is type(slow_key), f"{path}: type of key {key!r}"
            where = f"{path}.{key}"
            assert position(fast.key_marks[key]) == position(slow.key_marks[key]), where
            assert position(fast.value_marks[key]) == position(slow.value_marks[key]), where
            assert_same(value, slow[key], where)
    elif isinstance(slow, SpecList):
        assert position(fast.mark) == position(slow.mark), f"{path}: mark"
        assert len(fast) == len(slow), f"{path}: length"
        assert [position(mark) for mark in fast.item_marks] == [
            position(mark) for mark in slow.item_marks
        ], f"{path}: item marks"
        for index, (item, slow_item) in enumerate(zip(fast, slow, strict=True)):
            assert_same(item, slow_item, f"{path}[{index}]")
    elif isinstance(slow, float) and math.isnan(slow):
        assert math.isnan(fast), path
    else:
        assert fast == slow, f"{path}: {fast!r} vs {slow!r}"


def check(text: str) -> Any:
    """The property: the fast reader gives libyaml's result or None, and None when libyaml's
    path reports an error. Returns the fast result."""
    fast = read_yaml(text)
    try:
        slow = parse_with_libyaml(text, "spec.yaml")
    except SpecError:
        assert fast is None, f"libyaml refuses it, the fast reader read it: {text!r}"
        return None
    if fast is not None:
        assert_same(fast, slow)
    return fast


# -- The specs of the repository ------------------------------------------------------------


SPECS = sorted(
    [
        *(ROOT / "convcalc" / "zoo").glob("*.yaml"),
        *(ROOT / "examples").glob("*.yaml"),
        *(ROOT / "examples" / "errors").iterdir(),
    ]
)


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_spec_of_the_repository_is_read_fast_and_alike(path: Path) -> None:
    assert check(path.read_text(encoding="utf-8")) is not None


@pytest.mark.parametrize("rows", [10, 100, 1000])
def test_generated_benchmark_specs_are_read_fast_and_alike(rows: int) -> None:
    assert check(benchmark.generated_spec(rows)) is not None


def test_the_benchmarks_resnet50_is_read_fast_and_alike() -> None:
    assert check(benchmark.resnet50_spec()) is not None


def test_parse_yaml_takes_the_fast_path_for_the_generated_spec() -> None:
    text = benchmark.generated_spec(100)
    with mock.patch.object(yamlnodes, "parse_with_libyaml") as libyaml:
        document = parse_yaml(text, "generated.yaml")
    libyaml.assert_not_called()
    assert_same(document, parse_with_libyaml(text, "generated.yaml"))


def test_parse_yaml_falls_back_to_libyaml_outside_the_subset() -> None:
    text = "input: 3x8x8\nlayers: &layers [relu]\n"
    assert read_yaml(text) is None
    with mock.patch.object(
        yamlnodes, "parse_with_libyaml", wraps=yamlnodes.parse_with_libyaml
    ) as libyaml:
        document = parse_yaml(text, "anchored.yaml")
    libyaml.assert_called_once_with(text, "anchored.yaml")
    assert document == {"input": "3x8x8", "layers": ["relu"]}


# -- Hand-picked cases ----------------------------------------------------------------------

READ_FAST = [
    "a:\nb:   \nc:  # empty\n",
    "- a:\n- \n-\n  - x\n",
    "k:\n- a\n- b: 1\n  c:\nd: 1",
    "a :  1\n' b' : [ 1 , x ]\n",
    "a:",
    "-",
    "- - a\n  - b\n- - - c: 1\n      d: 2\n    -\n",
    "a: {}\nb: []\nc: [ ]\nd: { }\ne: [1,2 , 3 ]\nf: {x: 1,y: 2 , z:  3 }\n",
    "a: {x: [1, 2], y: {z: w}}\nb: [[1], [2, [3]], {c: d}]\n",
    "  a: 1\n  b:\n      c: 2\n",
    "a:\n  - b\n  -   c: 1\n      d: 2\n",
    "a: 1e-5\nb: 0x10\nc: 1_000\nd: .5\ne: yes\nf: off\ng: ~\nh: null\ni: 2024-05-01\n",
    "a: -.inf\nb: .NaN\nc: 017\nd: 0b101\ne: +12\nf: 1.\ng: 6E+3\nh: Null\n",
    "1: one\n2.5: x\nfalse: f\n~: n\n'1': quoted\n",
    "name: réseau 名前 ×2\nnote: 'it''s'\nother: \"a # b: c\"\n",
    "a: b c  d   # two spaces stay inside\n",
    "a: x-y\nb: -5\nc: a-\nd: $width\ne: 3x224x224\nf: a?b\ng: a!b&c*d|e>f%g@h\n",
    "a: {'}': '{', b: [']', \"[\"]}  # quoted brackets\nb: [1, 2] # a comment\n",
]


@pytest.mark.parametrize("text", READ_FAST)
def test_documents_of_the_subset_are_read_fast_and_alike(text: str) -> None:
    assert check(text) is not None


FALL_BACK = [
    "",
    "# only a comment\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "? a\n: 1\n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: 1\n\tb: 2\n",
    "a: 1\r\nb: 2\r\n",
    "\ufeffa: 1\n",
    "a:b\n",
    "a: b:c\n",
    "a: b#c\n",
    "a: 'multi\n  line'\n",
    "a: [1,\n  2]\n",
    "a: plain\n  continued\n",
    'a: "esc\\n"\n',
    "<<: {a: 1}\n",
    "a: 1\na: 2\n",
    "a: {b: 1, b: 2}\n",
    "a: [1, 2, ]\n",
    "a: {b}\n",
    "scalar\n",
    "[1, 2]\n",
    "a: 1\n b: 2\n",
    "- a: 1\n b: 2\n",
    "a:\n  b: 1\n c: 2\n",
    "a: - b\n",
    "a: =\n",
    "a: x\x85y\n",
    "a: \x07\n",
    "k" * 300 + ": 1\n",
    "a: {x: 1 {y: 2}}\n",
    "a: [x [y]]\n",
    "a: {b: 1}#c\n",
    "a: [1, 2] x\n",
]


@pytest.mark.parametrize("text", FALL_BACK)
def test_what_is_outside_the_subset_falls_back(text: str) -> None:
    assert read_yaml(text) is None
    check(text)


def nested_blocks(depth: int) -> str:
    """A mapping nested ``depth`` deep, as blocks."""
    return "".join(" " * level + f"k{level}:\n" for level in range(depth - 1)) + (
        " " * (depth - 1) + "last: 1\n"
    )


def test_the_depth_limit_is_the_builders() -> None:
    limit = yamlnodes.MAX_DEPTH
    assert check(nested_blocks(limit)) is not None
    assert check("a: " + "[" * (limit - 1) + "]" * (limit - 1) + "\n") is not None
    for text in (nested_blocks(limit + 1), "a: " + "[" * limit + "]" * limit + "\n"):
        assert read_yaml(text) is None
        with pytest.raises(SpecError, match=f"nests deeper than {limit} levels"):
            parse_yaml(text, "deep.yaml")


@contextmanager
def limits(depth: int, nodes: int) -> Iterator[None]:
    """Lower the builder's limits (both readers obey them)."""
    with (
        mock.patch.object(yamlnodes, "MAX_DEPTH", depth),
        mock.patch.object(yamlnodes, "MAX_NODES", nodes),
    ):
        yield


def test_the_size_limit_is_the_builders() -> None:
    text = "a: 1\nb: [2, {c: 3}]\nd:\n- e\n-\n"  # 13 values: 1 mapping, 4 keys, 8 more
    with limits(depth=10, nodes=13):
        assert check(text) is not None
    with limits(depth=10, nodes=12):
        assert read_yaml(text) is None
        with pytest.raises(SpecError, match="more than 12 YAML nodes"):
            parse_yaml(text, "big.yaml")


# -- Generated documents --------------------------------------------------------------------

TRICKY_SCALARS = [
    "1e-5", "0x10", "1_000", ".5", "5.", "1.0", "1e5", "6E+3", "-1e-5", "+1", "-1", "0", "00",
    "017", "0o17", "0b101", "12:30", "1:20:30", "yes", "no", "on", "off", "y", "n", "Y", "N",
    "true", "False", "TRUE", "null", "Null", "NULL", "~", ".inf", "-.inf", ".NaN", ".nan",
    "inf", "nan", "2024-05-01", "2001-12-14t21:59:43.10-05:00", "=", "<<", "a:b", "a: b",
    "a#b", "a #b", "-a", "--", "---", "...", "- a", "-", "+", ".", "[a]", "{a}", "a, b", "a,b",
    "it's", '"q"', "'s'", "é", "名前", "3x224x224", "$width", "a b", "a  b", "?", "?a", ":a",
    "!a", "&a", "*a", "|", ">", "%a", "@a", "`a", "a\u00a0b", "\u3000", "x\\y", "𝕏",
    "conv", "relu", "bn", "filters", "kernel", "stride", "pad", "bias", "name", "type",
]  # fmt: skip
SAFE_SCALARS = [
    "1e-5", "0x10", "1_000", ".5", "1.0", "-1", "0", "017", "yes", "off", "true", "null", "~",
    ".inf", ".NaN", "2024-05-01", "-a", "é", "名前", "3x224x224", "$width", "a b", "a  b",
    "a-b", "x\u00a0y", "𝕏", "conv", "relu", "bn", "filters", "kernel", "stride", "pad", "bias",
]  # fmt: skip

words = st.text(
    alphabet=st.sampled_from("abcxyz019_-.+$:#,[]{}'\"!&*?|>%@ \u00e9\u00a0"),
    min_size=1,
    max_size=8,
)


@st.composite
def scalar_text(draw: st.DrawFn, safe: bool) -> str:
    """A scalar as written: plain, single- or double-quoted."""
    if safe:
        text = draw(st.sampled_from(SAFE_SCALARS))
    else:
        text = draw(
            st.one_of(st.sampled_from(SAFE_SCALARS), st.sampled_from(TRICKY_SCALARS), words)
        )
    style = draw(st.sampled_from(["plain", "plain", "plain", "single", "double"]))
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    if style == "double" and not (safe and ('"' in text or "\\" in text)):
        return '"' + text + '"'
    return text


Tree = Any  # ("map", [(key, value)]) | ("list", [value]) | ("scalar", text) | ("empty",)


def trees(safe: bool) -> st.SearchStrategy[Tree]:
    """Documents as trees of written scalars (duplicate keys are possible unless ``safe``)."""
    keys = (
        st.sampled_from(["a", "b", "conv", "name", "layers", "1", "'a'", "x y"])
        if not safe
        else st.sampled_from(["a", "b", "conv", "name", "layers", "x y", "1"])
    )
    leaves = st.one_of(
        scalar_text(safe).map(lambda text: ("scalar", text)),
        st.just(("empty",)),
    )

    def collections(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        pairs = st.lists(st.tuples(keys, children), max_size=5)
        if safe:
            pairs = pairs.map(lambda items: list(dict(items).items()))
        return st.one_of(
            pairs.map(lambda items: ("map", items)),
            st.lists(children, max_size=5).map(lambda items: ("list", items)),
        )

    return st.recursive(leaves, collections, max_leaves=25).filter(is_collection)


def is_collection(tree: Tree) -> bool:
    """A tree that may be a document's root: a collection that is not empty."""
    return tree[0] in ("map", "list") and bool(tree[1])


def flow(tree: Tree) -> str:
    """``tree`` as a one-line flow collection or scalar (empty values become ``~``)."""
    if tree[0] == "scalar":
        return str(tree[1])
    if tree[0] == "empty":
        return "~"
    if tree[0] == "map":
        return "{" + ", ".join(f"{key}: {flow(value)}" for key, value in tree[1]) + "}"
    return "[" + ", ".join(flow(item) for item in tree[1]) + "]"


@st.composite
def documents(draw: st.DrawFn, safe: bool) -> str:
    """A document written in block style with random indentation, flow collections, compact
    items, comments and blank lines."""
    tree = draw(trees(safe))
    lines: list[str] = []
    spaces = st.integers(1, 3)

    def comment() -> str:
        return draw(st.sampled_from(["", "", "", " # note", "   #: - [x]"]))

    def extra_lines(indent: int) -> None:
        for _ in range(draw(st.integers(0, 1))):
            lines.append(draw(st.sampled_from(["", " " * indent + "# comment", "   ", "#"])))

    def write(tree: Tree, indent: int, prefix: str) -> None:
        """Write ``tree`` whose first line starts with ``prefix``: "" at the root, else the
        indentation and "key:" or "-"; ``indent`` is the indentation of the prefix."""
        kind = tree[0]
        if kind == "empty":
            lines.append(prefix + comment())
            return
        if kind == "scalar":
            lines.append(prefix + " " * draw(spaces) + tree[1] + comment())
            return
        if prefix and (not tree[1] or draw(st.integers(0, 4)) == 0):
            lines.append(prefix + " " * draw(spaces) + flow(tree) + comment())
            return
        compact = prefix.strip().endswith("-") and draw(st.booleans())
        if compact:
            # `- key: …` / `- - …`: the collection starts on the dash's line.
            column = len(prefix) + draw(spaces)
            head = prefix + " " * (column - len(prefix))
            nested_indent = column
        else:
            if prefix:
                lines.append(prefix + comment())
                extra_lines(indent)
            same = kind == "list" and prefix.endswith(":") and draw(st.booleans())
            nested_indent = indent if same or not prefix else indent + draw(spaces)
            head = None
        for index, entry in enumerate(tree[1]):
            start = head if index == 0 and head is not None else " " * nested_indent
            if kind == "map":
                key, value = entry
                write(value, nested_indent, start + key + ":")
            else:
                write(entry, nested_indent, start + "-")
            extra_lines(nested_indent)

    extra_lines(0)
    write(tree, 0, "")
    text = "\n".join(lines)
    return text + draw(st.sampled_from(["\n", "", "\n\n", "\n# end\n"]))


SNIPPETS = [
    ":", " ", "#", "-", "- ", "[", "]", "{", "}", ",", "'", '"', "\t", "\n", "&a ", "*a", "!!str ",
    "|", ">", "? ", "---\n", "...", "%", "\r", "\ufeff", "\x85", "\u2028", "\x00", "\x7f", "é",
    "\\", "<<", "  ", "\n  ", ": ", "a: 1\n",
]  # fmt: skip


@st.composite
def broken(draw: st.DrawFn) -> str:
    """A generated document damaged once or twice: a snippet inserted, a range deleted, a line
    repeated or re-indented, or the text cut."""
    text = draw(documents(safe=False))
    for _ in range(draw(st.integers(1, 2))):
        where = draw(st.integers(0, len(text)))
        damage = draw(st.sampled_from(["insert", "delete", "repeat", "indent", "cut"]))
        if damage == "insert":
            text = text[:where] + draw(st.sampled_from(SNIPPETS)) + text[where:]
        elif damage == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 4)) :]
        elif damage == "cut":
            text = text[:where]
        else:
            lines = text.split("\n")
            index = draw(st.integers(0, len(lines) - 1))
            if damage == "repeat":
                lines.insert(index, lines[index])
            else:
                shift = draw(st.integers(-3, 3))
                line = lines[index]
                lines[index] = " " * shift + line if shift > 0 else line[-shift:]
            text = "\n".join(lines)
    return text


@examples(60)
@given(documents(safe=True))
def test_documents_in_the_subset_are_read_fast_and_alike(text: str) -> None:
    assert check(text) is not None, text


@examples(60)
@given(documents(safe=False))
def test_spec_like_documents_are_read_alike_or_fall_back(text: str) -> None:
    check(text)


@examples(80)
@given(broken())
def test_broken_documents_fall_back(text: str) -> None:
    check(text)


@examples(40)
@given(documents(safe=False), st.integers(1, 6), st.integers(1, 60))
def test_the_limits_agree_at_any_size(text: str, depth: int, nodes: int) -> None:
    with limits(depth, nodes):
        check(text)
