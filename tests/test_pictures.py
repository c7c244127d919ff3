"""The pictures: the DOT text of ``draw`` (its nodes and edges are the rows and their inputs), the
laid-out SVG and PNG, the tree view, the notebook reprs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from typer.testing import CliRunner

import convcalc
from convcalc.cli import app
from convcalc.layers.conv import Conv
from convcalc.layers.dense import FC
from convcalc.layers.pooling import AdaptiveAvgPool, MaxPool
from convcalc.render.dot import dataflow, to_dot
from convcalc.render.graphviz import engines, layout
from convcalc.render.labels import key_options
from convcalc.render.nesting import Group, item_of, nest
from convcalc.render.notebook import NotebookReport
from convcalc.render.tree import network_tree
from convcalc.zoo import names as zoo_names

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(str(path) for path in (ROOT / "examples").glob("*.yaml"))
SPECS = [f"zoo:{name}" for name in zoo_names()] + EXAMPLES

needs_graphviz = pytest.mark.skipif(
    not engines(), reason="no Graphviz engine (neither dot nor graphviz-pure) is installed"
)

# A node statement of Graphviz's canonical output: an id, then its attributes or the end of it
# (attribute lines inside a statement read `name=value`, and so never match).
NODE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|\w+)\s*(\[|;|$)')
EDGE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|\w+)\s*->\s*("(?:[^"\\]|\\.)*"|\w+)')
KEYWORDS = {"graph", "node", "edge", "subgraph", "digraph"}


def canonical_graph(dot: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The node ids and edges of ``dot`` as Graphviz itself parses it (``-Tcanon``)."""
    canon = layout(dot, "canon").decode()
    nodes, edges = [], []
    for line in canon.splitlines():
        edge = EDGE.match(line)
        if edge is not None:
            edges.append((edge[1].strip('"'), edge[2].strip('"')))
            continue
        node = NODE.match(line)
        if node is not None and node[1] not in KEYWORDS:
            nodes.append(node[1].strip('"'))
    return nodes, edges


def analyzed(spec: str, **options: object) -> NotebookReport:
    return convcalc.analyze(spec, **options)  # type: ignore[arg-type]


@needs_graphviz
@pytest.mark.parametrize("spec", SPECS)
def test_graphviz_parses_the_dot_and_finds_a_node_per_row_and_an_edge_per_input(
    spec: str,
) -> None:
    report = analyzed(spec)
    nodes, edges = canonical_graph(to_dot(report))
    assert sorted(nodes) == sorted(["input", *(f"r{row.index}" for row in report.rows)])
    expected = [
        ("input" if source < 0 else f"r{source}", f"r{target}")
        for source, target in dataflow(report)
    ]
    assert sorted(edges) == sorted(expected)
    assert len(edges) == sum(len(row.sources) for row in report.rows)


@needs_graphviz
def test_collapsed_groups_are_one_node_and_edges_join_them_once() -> None:
    report = analyzed("zoo:resnet50")
    nodes, edges = canonical_graph(to_dot(report, depth=2))
    items = {item_of(row.path, 2) for row in report.rows}
    assert len(nodes) == len(set(nodes)) == 1 + len(items)
    first = {row.path: row.index for row in report.rows}
    for path in ("conv1", "fc"):
        assert f"r{first[path]}" in nodes
    starts = {
        item: min(row.index for row in report.rows if item_of(row.path, 2) == item)
        for item in ("layer1.bottleneck1", "layer1.repeat1", "layer4.repeat1")
    }
    assert all(f"g{start}" in nodes for start in starts.values())
    assert len(edges) == len(set(edges))
    assert all(tail != head for tail, head in edges)
    # Series of blocks: each item but the input is entered once.
    assert len(edges) == len(items)


def test_the_dataflow_is_every_rows_sources() -> None:
    report = analyzed("examples/resnet-blocks.yaml")
    edges = list(dataflow(report))
    assert len(edges) == sum(len(row.sources) for row in report.rows)
    adds = [row for row in report.rows if row.type == "add"]
    assert adds and all(sum(t == add.index for _, t in edges) == 2 for add in adds)


def test_nesting_groups_rows_by_path_prefix_with_totals() -> None:
    report = analyzed("zoo:resnet50")
    root = nest(report.rows)
    assert root.params == report.totals.params and root.macs == report.totals.macs
    (layer1,) = (child for child in root.children if child.path == "layer1")
    assert isinstance(layer1, Group)
    rows = [row for row in report.rows if row.path.startswith("layer1.")]
    assert layer1.rows == rows
    assert layer1.params == sum(row.params for row in rows)
    assert layer1.output == (256, 56, 56)
    assert item_of("layer1.bottleneck1.residual1.body.conv1", 2) == "layer1.bottleneck1"
    assert item_of("conv1", 2) == "conv1"
    assert item_of("a.b.c", None) == "a.b.c"


@pytest.mark.parametrize(
    ("layer", "text"),
    [
        (Conv(filters=64, kernel=3, stride=2, pad=1), "3×3/2 · 64"),
        (Conv(filters=32, kernel=(3, 1)), "3×1 · 32"),
        (
            Conv(filters=32, kernel=3, dilation=2, groups="depthwise"),
            "3×3 · 32 · dil 2 · depthwise",
        ),
        (Conv(filters=64, kernel=3, groups=4), "3×3 · 64 · g 4"),
        (MaxPool(kernel=3, stride=2), "3×3/2"),
        (FC(out=1000), "1000"),
        (AdaptiveAvgPool(output=7), "→7×7"),
        (None, ""),
    ],
)
def test_key_options(layer: object, text: str) -> None:
    assert key_options(layer) == text  # type: ignore[arg-type]


def test_marks_peak_warnings_and_folded_batchnorms() -> None:
    report = analyzed("zoo:resnet18")
    dot = to_dot(report)
    peak_lines = [line for line in dot.splitlines() if "peak memory" in line]
    assert len(peak_lines) == 1
    folded = to_dot(analyzed("zoo:resnet18", fold_bn=True))
    assert "batchnorm" not in re.sub(r"⊕ folds [^<]*|absorbs [^\"]*", "", folded.split("\n", 2)[2])
    assert folded.count("⊕ folds") == 20  # every conv of ResNet-18 absorbs its batchnorm
    assert "inference: batchnorms folded" in folded


def test_warnings_are_marked(tmp_path: Path) -> None:
    spec = tmp_path / "warned.yaml"
    spec.write_text("input: 3x7x7\nlayers:\n  - conv: {filters: 4, kernel: 3, stride: 3}\n")
    report = analyzed(str(spec))
    assert report.rows[0].warnings
    dot = to_dot(report)
    assert len(report.rows[0].warnings) == 2  # height and width
    assert "⚠ 2 warnings" in dot and report.rows[0].warnings[0] in dot


@needs_graphviz
@pytest.mark.parametrize("spec", ["zoo:cs231n", "zoo:resnet18", "examples/inception-style.yaml"])
def test_svg_is_well_formed_and_names_every_row(spec: str) -> None:
    report = analyzed(spec)
    svg = layout(to_dot(report), "svg").decode()
    tree = ElementTree.fromstring(svg)
    assert tree.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(text for text in tree.itertext())
    titles = set(re.findall(r'xlink:title="([^"\n&]*)', svg))
    for row in report.rows:
        assert row.path.rpartition(".")[2] in texts
        assert any(title.startswith(row.path) for title in titles), row.path


@needs_graphviz
def test_draw_writes_svg_png_and_dot_by_suffix(tmp_path: Path) -> None:
    runner = CliRunner()
    for name, start in (("n.svg", b"<?xml"), ("n.png", b"\x89PNG"), ("n.dot", b"digraph")):
        result = runner.invoke(app, ["draw", "zoo:lenet5", "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_bytes().startswith(start)
    result = runner.invoke(app, ["draw", "zoo:lenet5", "--format", "dot", "--depth", "1"])
    assert result.exit_code == 0 and result.output.startswith("digraph convcalc {")


def test_draw_refuses_an_unknown_suffix() -> None:
    result = CliRunner().invoke(app, ["draw", "zoo:lenet5", "-o", "net.txt"])
    assert result.exit_code == 2
    assert "cannot tell the format from 'net.txt'" in result.output


def test_draw_never_overwrites_its_spec(tmp_path: Path) -> None:
    spec = tmp_path / "net.dot"
    spec.write_text("input: 3x8x8\nlayers:\n  - relu\n")
    result = CliRunner().invoke(app, ["draw", str(spec), "-o", str(spec)])
    assert result.exit_code == 1
    assert "would overwrite the spec it reads" in result.output
    assert spec.read_text().startswith("input")


TREE_CS231N = """\
cs231n-example  3×32×32 → 10  26.39 K params · 793.60 K MACs
├── conv1  conv 5×5 · 10  → 10×32×32  760 params · 768.00 K MACs
├── batchnorm1  batchnorm  → 10×32×32  20 params
├── relu1  relu  → 10×32×32
├── maxpool1  maxpool 2×2/2  → 10×16×16
├── flatten1  flatten  → 2560
└── fc1  fc 10  → 10  25,610 params · 25.60 K MACs
"""


def test_tree_format() -> None:
    result = CliRunner().invoke(app, ["analyze", "zoo:cs231n", "--format", "tree"])
    assert result.exit_code == 0
    assert result.output == TREE_CS231N


def test_tree_depth_collapses_blocks_with_their_totals() -> None:
    result = CliRunner().invoke(app, ["analyze", "zoo:resnet50", "-f", "tree", "--depth", "1"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "resnet50  3×224×224 → 1000  25.56 M params · 4.09 G MACs"
    assert "├── layer3  → 1024×14×14  7.10 M params · 1.46 G MACs  (62 rows)" in lines
    assert len(lines) == 1 + 4 + 4 + 3
    deeper = network_tree(analyzed("zoo:resnet50"), depth=3).plain().splitlines()
    assert deeper[6:12] == [
        "│   ├── bottleneck1  → 256×56×56  75.01 K params · 231.21 M MACs",
        "│   │   ├── residual1  → 256×56×56  75.01 K params · 231.21 M MACs  (11 rows)",
        "│   │   └── relu1  relu  → 256×56×56",
        "│   └── repeat1  → 256×56×56  140.80 K params · 436.73 M MACs",
        "│       ├── bottleneck1  → 256×56×56  70.40 K params · 218.37 M MACs  (10 rows)",
        "│       └── bottleneck2  → 256×56×56  70.40 K params · 218.37 M MACs  (10 rows)",
    ]


def test_notebook_reprs() -> None:
    report = analyzed("zoo:cs231n")
    html = report._repr_html_()
    assert "<table" in html and html.count("<tr id=") == len(report.rows)
    assert "26,390" in html


@needs_graphviz
def test_notebook_draw_is_svg() -> None:
    report = analyzed("zoo:cs231n")
    tree = ElementTree.fromstring(report.draw(depth=1)._repr_svg_().encode())
    assert tree.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(tree.itertext())
    assert all(row.path in texts for row in report.rows)


def test_to_pandas() -> None:
    pandas = pytest.importorskip("pandas", reason="pandas is optional")
    report = analyzed("zoo:resnet18")
    frame = report.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert len(frame) == len(report.rows)
    assert frame["params"].sum() == report.totals.params
    assert frame.loc[0, "output"] == (64, 112, 112)
    assert frame.loc[0, "rf_size"] == (7, 7)


def test_a_missing_layout_engine_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("convcalc.render.graphviz.engines", lambda: [])
    result = CliRunner().invoke(app, ["draw", "zoo:lenet5", "-o", "never.svg"])
    assert result.exit_code == 1
    assert result.output == (
        "no Graphviz layout engine: install the graphviz-pure package (pip install "
        "graphviz-pure) or Graphviz's dot\n"
    )
    assert not Path("never.svg").exists()


def test_a_failing_layout_says_why() -> None:
    from convcalc.render.graphviz import LayoutError

    if not engines():
        pytest.skip("no Graphviz engine")
    with pytest.raises(LayoutError, match=r"failed to lay out the graph: .*syntax error"):
        layout("digraph { a -> }", "svg")


def test_the_html_table_notes_folds_and_warnings(tmp_path: Path) -> None:
    from convcalc.render.html import table_html, totals

    folded = analyzed("zoo:resnet18", fold_bn=True)
    html = table_html(folded)
    assert html.count(">⊕ absorbs") == 20
    assert ">⊕ absorbs layer1.basic1.residual1.body.bn1<" in html
    assert ("batchnorms folded", "20") in totals(folded)
    assert "after folding BNs" not in dict(totals(folded))
    unfolded = dict(totals(analyzed("zoo:resnet18")))
    # 9,600 batchnorm params go (γ and β of 4,800 channels); each of the 4,800 gains a bias.
    assert unfolded["after folding BNs"] == "11,684,712 params (20 batchnorms fold)"
    spec = tmp_path / "warned.yaml"
    spec.write_text("input: 3x7x7\nlayers:\n  - conv: {filters: 4, kernel: 3, stride: 3}\n")
    warned = table_html(analyzed(str(spec)))
    assert 'class="warned peak"' in warned and "⚠ stride 3 does not fit the height" in warned


@needs_graphviz
def test_names_with_quotes_backslashes_and_markup_are_drawn_as_written(tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text(
        'name: "a <b> & \\"c\\""\ninput: 3x8x8\nlayers:\n'
        '  - name: "x\\"y\\\\N<z>&"\n    conv: {filters: 4, kernel: 3}\n  - relu\n'
    )
    report = analyzed(str(spec))
    assert report.rows[0].path == 'x"y\\N<z>&'
    nodes, edges = canonical_graph(to_dot(report))
    assert sorted(nodes) == ["input", "r0", "r1"] and len(edges) == 2
    texts = " ".join(ElementTree.fromstring(layout(to_dot(report), "svg")).itertext())
    assert 'x"y\\N<z>& → 4×6×6' in texts
    assert 'a <b> & "c"' in texts


@pytest.mark.parametrize(
    ("arguments", "what"),
    [
        (["report", "zoo:cs231n"], "the report is an HTML page for a browser"),
        (
            ["draw", "zoo:cs231n"],
            "an SVG drawing is XML text for a browser (--format dot prints the graph)",
        ),
        (["draw", "zoo:cs231n", "--format", "png"], "a PNG is binary"),
        (["draw", "zoo:cs231n", "--format", "png", "-o", "-"], "a PNG is binary"),
    ],
)
def test_pages_and_drawings_are_not_poured_onto_a_terminal(arguments: list[str], what: str) -> None:
    import os

    from tests.terminal import run_in_terminal

    shown = run_in_terminal(arguments, 80, dict(os.environ), status=2)
    assert shown == f"{what} and stdout is a terminal: write it with -o FILE or redirect it\n"


def test_a_dot_graph_is_printed_on_a_terminal() -> None:
    import os

    from tests.terminal import run_in_terminal

    shown = run_in_terminal(["draw", "zoo:cs231n", "--format", "dot"], 200, dict(os.environ))
    assert shown.startswith("digraph")
