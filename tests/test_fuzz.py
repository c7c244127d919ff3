"""Fuzzing the spec reader and the analyzer through the command line.

Valid networks are generated with their expected output shape (tracked layer by layer), then
optionally broken: keys deleted, values swapped for junk of another type (huge numbers, NaN, text,
lists…), layers nested deeply, the text truncated, junk inserted, or replaced by random bytes.

The property: ``convcalc analyze - --json`` either exits 0 with a JSON document whose invariants
hold (totals are the sums of the rows, shapes are positive, the final shape is the expected one),
or exits 1 with nothing on stdout and only located one-line messages on stderr — never a
traceback, never another exit status. A few examples run in the suite; for a long run:

    python -m pytest tests/test_fuzz.py --hypothesis-profile=long
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.tensors import MAX_DIMENSION
from tests.profiles import examples

Shape = tuple[int, ...]
Item = Any

ACTIVATIONS = ["relu", "relu6", "leakyrelu", "elu", "gelu", "silu", "sigmoid", "tanh", "hardswish"]


def conv_output(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """⌊(W + 2P − D(K−1) − 1)/S⌋ + 1."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def layer(draw: st.DrawFn, kind: str, options: dict[str, Any]) -> Item:
    """One layer in one of the three spellings the spec accepts."""
    form = draw(
        st.sampled_from(["mapping", "type", "bare"] if not options else ["mapping", "type"])
    )
    if form == "bare":
        return kind
    if form == "type":
        return {"type": kind, **options}
    return {kind: options}


@st.composite
def image_layer(draw: st.DrawFn, shape: Shape, depth: int) -> tuple[Item, Shape]:
    """A layer (or container) valid on a C×H×W input, with its output shape."""
    channels, height, width = shape
    small = min(height, width)
    choices = ["conv", "activation", "bn", "pool", "adaptive", "groupnorm", "dropout", "deconv"]
    if depth < 3:
        choices += ["residual", "concat", "repeat", "use"]
    kind = draw(st.sampled_from(choices))
    if kind == "conv":
        dilation = draw(st.integers(1, 2))
        pad = draw(st.integers(0, 2))
        most = (small + 2 * pad - 1) // dilation + 1
        kernel = draw(st.integers(1, max(1, min(5, most))))
        stride = draw(st.integers(1, 3))
        depthwise = draw(st.booleans())
        filters = channels * draw(st.integers(1, 2)) if depthwise else draw(st.integers(1, 8))
        options: dict[str, Any] = {"filters": filters, "kernel": kernel}
        if stride > 1:
            options["stride"] = stride
        if pad:
            options["pad"] = pad
        if dilation > 1:
            options["dilation"] = dilation
        if depthwise:
            options["groups"] = "depthwise"
        if draw(st.booleans()):
            options["bias"] = draw(st.booleans())
        out = (
            filters,
            conv_output(height, kernel, stride, pad, dilation),
            conv_output(width, kernel, stride, pad, dilation),
        )
        return layer(draw, draw(st.sampled_from(["conv", "conv2d"])), options), out
    if kind == "deconv":
        if max(height, width) > 32:
            return "relu", shape
        kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        filters = draw(st.integers(1, 4))
        grow = (height - 1) * stride + kernel, (width - 1) * stride + kernel
        return layer(draw, "deconv", {"filters": filters, "kernel": kernel, "stride": stride}), (
            filters,
            *grow,
        )
    if kind == "activation":
        return layer(draw, draw(st.sampled_from(ACTIVATIONS)), {}), shape
    if kind == "bn":
        return layer(draw, draw(st.sampled_from(["batchnorm", "bn"])), {}), shape
    if kind == "dropout":
        return layer(draw, "dropout", {"p": draw(st.floats(0, 0.9))}), shape
    if kind == "groupnorm":
        groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
        return layer(draw, "groupnorm", {"groups": groups}), shape
    if kind == "pool":
        if small < 2:
            return "relu", shape
        pool = draw(st.sampled_from(["maxpool", "avgpool"]))
        return layer(draw, pool, {"kernel": 2, "stride": 2}), (channels, height // 2, width // 2)
    if kind == "adaptive":
        size = draw(st.integers(1, 4))
        pool = draw(st.sampled_from(["adaptiveavgpool", "adaptivemaxpool"]))
        return layer(draw, pool, {"output": size}), (channels, size, size)
    if kind == "residual":
        body, end = draw(image_layers(shape, depth + 1, 3))
        if end == shape and draw(st.booleans()):
            return {"residual": {"body": body}}, shape
        if len(end) == 3 and all(
            (size - 1) // ((size - 1) // out + 1) + 1 == out
            for size, out in zip(shape[1:], end[1:], strict=True)
        ):
            return {"residual": {"body": body, "shortcut": "project"}}, end
        # The same layers on both sides always match.
        return {"residual": {"body": body, "shortcut": copy.deepcopy(body)}}, end
    if kind == "concat":
        count = draw(st.integers(1, 3))
        widths = [draw(st.integers(1, 4)) for _ in range(count)]
        branches: list[Any] = [[{"conv": {"filters": f, "kernel": 1}}] for f in widths]
        if draw(st.booleans()):
            branches.append([])
            widths.append(channels)
        return {"concat": {"branches": branches}}, (sum(widths), height, width)
    if kind == "repeat":
        times = draw(st.integers(1, 3))
        body = [
            draw(
                st.sampled_from(
                    ["relu", "bn", {"conv": {"filters": channels, "kernel": 3, "pad": 1}}]
                )
            )
        ]
        return {"repeat": {"times": times, "layers": body}}, shape
    filters = draw(st.integers(1, 6))
    return {"use": "unit", "with": {"filters": filters}}, (filters, height, width)


@st.composite
def image_layers(draw: st.DrawFn, shape: Shape, depth: int, most: int) -> tuple[list[Item], Shape]:
    """1…``most`` layers from a C×H×W input."""
    items = []
    for _ in range(draw(st.integers(1, most))):
        item, shape = draw(image_layer(shape, depth))
        items.append(item)
    return items, shape


@st.composite
def networks(draw: st.DrawFn) -> tuple[dict[str, Any], Shape]:
    """A valid spec as data, with the shape its last layer outputs."""
    channels = draw(st.integers(1, 4))
    height, width = draw(st.integers(4, 24)), draw(st.integers(4, 24))
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["name"] = draw(st.text(max_size=12))
    written = draw(st.sampled_from(["x", "X", "×", "*", "list"]))
    spec["input"] = (
        [channels, height, width]
        if written == "list"
        else written.join(str(n) for n in (channels, height, width))
    )
    if draw(st.booleans()):
        spec["batch"] = draw(st.integers(1, 64))
    if draw(st.booleans()):
        spec["dtype"] = draw(st.sampled_from(["float32", "float16", "bfloat16", "int8"]))
    spec["blocks"] = {
        "unit": {
            "params": {"filters": 4},
            "layers": [{"conv": {"filters": "$filters", "kernel": 3, "pad": 1}}, "relu"],
        }
    }
    layers, shape = draw(image_layers((channels, height, width), 0, 6))
    if draw(st.booleans()):
        head = draw(st.sampled_from(["flatten", "globalavgpool", "gap"]))
        layers.append(head)
        shape = (shape[0] * shape[1] * shape[2],) if head == "flatten" else (shape[0], 1, 1)
        if head == "flatten":
            out = draw(st.integers(1, 100))
            layers += [{"fc": {"out": out}}, draw(st.sampled_from(["relu", "dropout", "softmax"]))]
            shape = (out,)
    spec["layers"] = layers
    return spec, shape


JUNK = st.one_of(
    st.integers(-(10**40), 10**40),
    st.integers(-3, 3),
    st.sampled_from([2**31 - 1, 2**31, 10**12, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-2, 10**13), max_size=3),
    st.dictionaries(
        st.sampled_from(["filters", "kernel", "x", "type", "body"]), st.integers(), max_size=2
    ),
    st.sampled_from(
        ["same", "valid", "depthwise", "project", "$filters", "$nope", "relu", "conv", "3x0x4"]
    ),
)


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) into a nested structure."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += places(item, (*path, index))
    return found


def mutate(draw: st.DrawFn, spec: Any) -> Any:
    """``spec`` with one part deleted, swapped for junk, or nested deeply."""
    path = draw(st.sampled_from(places(spec)[1:]))
    parent = spec
    for step in path[:-1]:
        parent = parent[step]
    action = draw(st.sampled_from(["delete", "junk", "junk", "nest"]))
    if action == "delete":
        del parent[path[-1]]
    elif action == "junk":
        parent[path[-1]] = draw(JUNK)
    else:
        levels = draw(st.sampled_from([2, 5, 30]))
        kind = draw(st.sampled_from(["residual", "repeat", "list"]))
        value = parent[path[-1]]
        for _ in range(levels):
            if kind == "residual":
                value = [{"residual": {"body": value if isinstance(value, list) else [value]}}]
            elif kind == "repeat":
                value = [
                    {
                        "repeat": {
                            "times": 2,
                            "layers": value if isinstance(value, list) else [value],
                        }
                    }
                ]
            else:
                value = [value]
        parent[path[-1]] = value
    return spec


def dump(draw: st.DrawFn, spec: Any) -> str:
    """The spec as YAML (block or flow style) or JSON."""
    style = draw(st.sampled_from(["block", "flow", "json"]))
    if style == "json":
        return json.dumps(spec)
    return yaml.safe_dump(
        spec, sort_keys=False, allow_unicode=True, default_flow_style=style == "flow", width=10**6
    )


@st.composite
def broken_texts(draw: st.DrawFn) -> bytes:
    """A spec mutated in its data, its text or its bytes."""
    spec, _ = draw(networks())
    for _ in range(draw(st.integers(0, 3))):
        spec = mutate(draw, spec)
    text = dump(draw, spec)
    action = draw(st.sampled_from(["none", "truncate", "insert", "bytes", "alias", "nest"]))
    if action == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif action == "insert":
        at = draw(st.integers(0, len(text)))
        junk = draw(
            st.text(
                alphabet=st.sampled_from([*":-[]{}&*!|>'\"#%@`,? \n\t\x00\x1b", "x"]),
                max_size=6,
            )
        )
        text = text[:at] + junk + text[at:]
    elif action == "alias":
        # A billion-laughs attempt: one anchored list repeated through aliases.
        layers = ", ".join(["*a"] * draw(st.integers(2, 12)))
        text = "x0: &a [relu, relu, relu]\n" + text.replace(
            "layers:", f"layers: [{layers}]\nl0:", 1
        )
    elif action == "nest":
        levels = draw(st.sampled_from([30, 70, 250, 10_000]))
        if draw(st.booleans()):
            text = "input: 3x8x8\nlayers: " + "[" * levels + "relu" + "]" * levels + "\n"
        else:
            opening, closing = "[{residual: {body: ", "}}]"
            text = "input: 3x8x8\nlayers: " + opening * levels + "[relu]" + closing * levels
    if action == "bytes":
        return draw(st.binary(max_size=200))
    return text.encode("utf-8", "surrogatepass")


def run(data: bytes) -> tuple[int, str, str, BaseException | None]:
    """``convcalc analyze - --json`` with ``data`` on stdin: status, stdout, stderr, exception."""
    result = CliRunner().invoke(app, ["analyze", "-", "--json"], input=data)
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.stdout, result.stderr, exception


def check_document(document: dict[str, Any]) -> None:
    """docs/spec.md §3's invariants: totals are sums of rows, shapes positive, rows in order."""
    rows = document["layers"]
    assert rows, "a successful analysis has rows"
    totals = document["totals"]
    assert [row["index"] for row in rows] == list(range(len(rows)))
    for key in ("params", "buffers", "macs", "activation_bytes"):
        assert totals[key] == sum(row[key] for row in rows), key
        assert all(isinstance(row[key], int) and row[key] >= 0 for row in rows), key
    assert totals["flops"] == 2 * totals["macs"]
    assert totals["trainable_params"] <= totals["params"]
    for row in rows:
        for shape in (row["input"], row["output"]):
            assert len(shape) in (1, 3), shape
            assert all(isinstance(n, int) and 1 <= n <= MAX_DIMENSION for n in shape), shape
    assert document["input"] == rows[0]["input"] or rows[0]["type"] in ("add", "concat")
    folding = document["bn_folding"]
    assert folding["macs_after"] <= totals["macs"]


def check_outcome(data: bytes, expected: Shape | None = None) -> None:
    """The fuzz property (see the module's docstring)."""
    status, stdout, stderr, exception = run(data)
    assert exception is None, f"unexpected {type(exception).__name__}: {exception}"
    assert "Traceback" not in stderr
    assert status in (0, 1), (status, stderr)
    if status == 0:
        document = json.loads(stdout)
        check_document(document)
        if expected is not None:
            assert tuple(document["layers"][-1]["output"]) == expected
        return
    assert stdout == "", "a failed run prints nothing on stdout"
    lines = stderr.splitlines()
    assert lines, "a failed run says why"
    for line in lines:
        assert line.startswith("<stdin>"), f"message without a location: {line!r}"
        assert line.isprintable(), f"control characters in {line!r}"


@examples(60)
@given(networks())
def test_valid_networks_analyze_to_the_expected_shape(
    generated: tuple[dict[str, Any], Shape],
) -> None:
    spec, shape = generated
    status, stdout, stderr, exception = run(yaml.safe_dump(spec, allow_unicode=True).encode())
    assert exception is None and status == 0, stderr
    document = json.loads(stdout)
    check_document(document)
    assert tuple(document["layers"][-1]["output"]) == shape


@examples(100)
@given(broken_texts())
def test_broken_specs_fail_cleanly_or_analyze_correctly(data: bytes) -> None:
    check_outcome(data)


@examples(30)
@given(st.data())
def test_junk_in_one_option_is_a_located_error_or_a_consistent_result(data: st.DataObject) -> None:
    spec, _ = data.draw(networks())
    layers = spec["layers"]
    index = data.draw(st.integers(0, len(layers) - 1))
    item = layers[index]
    assume(isinstance(item, dict) and len(item) == 1)
    options = next(iter(item.values()))
    assume(isinstance(options, dict) and options)
    key = data.draw(st.sampled_from(sorted(options)))
    options[key] = data.draw(JUNK)
    check_outcome(yaml.safe_dump(spec, allow_unicode=True).encode())
