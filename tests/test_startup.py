"""Start-up structure: what each command imports (never timed; see benchmarks/run.py for speed).

``convcalc layer --json`` must not load rich, PyYAML or pydantic, and ``analyze --json`` must not
load rich: those imports are most of a run's start-up time. Nor does a command import convcalc's
own modules it does not use: ``layer`` defines the layer kinds of its own families only. Each case
runs the real entry point in a fresh interpreter and reads ``sys.modules`` at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from convcalc.fastcoerce import UNCHANGED, plain_value, written_for
from convcalc.render import OutputFormat

ROOT = Path(__file__).resolve().parent.parent

# The probe reads sys.modules before it imports json for its own report.
PROBE = """
import contextlib, io, sys
from convcalc.cli import main
sys.argv = ["convcalc", *sys.argv[1:]]
output = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(output):
        main()
except SystemExit as exit:
    code = exit.code or 0
modules = sorted(sys.modules)
import json
print(json.dumps({"code": code, "output": output.getvalue(), "modules": modules}))
"""


def loaded_modules(*arguments: str) -> tuple[set[str], str]:
    """Run convcalc with ``arguments`` in a fresh interpreter: every module it imported (dotted
    names, top-level packages included) and its output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["code"] == 0, result.stderr
    return set(report["modules"]), report["output"]


def test_layer_json_imports_neither_rich_nor_yaml_nor_pydantic() -> None:
    modules, output = loaded_modules(
        "layer", "--in", "3x32x32", "--filters", "10x5x5", "--pad", "2", "--json"
    )
    assert json.loads(output)["layers"][0]["output"] == [10, 32, 32]
    assert not modules & {"rich", "yaml", "pydantic", "pydantic_core"}, sorted(modules)


def test_analyze_json_does_not_import_rich() -> None:
    modules, output = loaded_modules("analyze", "zoo:cs231n", "--json", "--batch", "2")
    assert json.loads(output)["batch"] == 2
    assert "rich" not in modules
    assert "yaml" in modules  # the probe really ran the analysis


def test_export_imports_neither_torch_nor_rich() -> None:
    modules, output = loaded_modules("export", "zoo:cs231n", "--to", "pytorch")
    assert output.startswith('"""cs231n-example, exported by convcalc')
    assert not modules & {"torch", "rich"}, sorted(modules)
    assert "convcalc.render.pytorch" in modules


def test_conventions_are_imported_only_when_asked_for() -> None:
    modules, output = loaded_modules("analyze", "zoo:cs231n", "--json")
    assert not {name for name in modules if name.startswith("convcalc.conventions")}
    modules, output = loaded_modules("analyze", "zoo:cs231n", "--convention", "thop", "--json")
    assert json.loads(output)["convention"] == "thop"
    assert "convcalc.conventions.thop" in modules
    assert not modules & {"torch", "thop", "rich"}


@pytest.mark.parametrize(
    "arguments",
    [
        ("diff", "zoo:lenet5", "zoo:lenet5", "--set", "batch=2", "--json"),
        ("sweep", "zoo:lenet5", "--set", "batch=1,2", "--json"),
    ],
)
def test_diff_and_sweep_import_the_conventions_only_when_asked_for(
    arguments: tuple[str, ...],
) -> None:
    modules, _output = loaded_modules(*arguments)
    assert not {name for name in modules if name.startswith("convcalc.conventions")}
    modules, output = loaded_modules(*arguments, "--convention", "fvcore")
    assert json.loads(output)["convention"] == "fvcore"
    assert "convcalc.conventions.fvcore" in modules
    assert not modules & {"torch", "fvcore", "rich"}


def test_a_piped_table_imports_only_the_cell_widths_of_rich() -> None:
    # A table is laid out without rich's console, table or text (see convcalc.render.layout);
    # only rich.cells measures the cells. A terminal still gets rich, to paint the styles.
    modules, output = loaded_modules("analyze", "zoo:cs231n")
    assert "rich.cells" in modules
    assert not modules & {"rich.console", "rich.table", "rich.text", "rich.segment"}
    assert "│ conv1 " in output
    modules, output = loaded_modules("layer", "--in", "3x32x32", "--filters", "10x5x5")
    assert "rich.console" not in modules
    assert "10×28×28" in output


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_csv_and_markdown_read_the_columns_without_rich_s_console(fmt: str) -> None:
    # They read the table's column declarations, which measure nothing and paint nothing.
    modules, output = loaded_modules("analyze", "zoo:cs231n", "--format", fmt, "--depth", "1")
    assert not modules & {"rich.console", "rich.table", "rich.text", "rich.segment"}
    assert "conv1" in output


OTHER_FAMILIES = {"convcalc.layers.activation", "convcalc.layers.dense", "convcalc.layers.pooling"}
"""The layer families a conv needs neither for itself nor for the analysis (which uses conv for
projection shortcuts and norm for BN folding)."""


def test_layer_defines_only_the_layer_kinds_it_uses() -> None:
    modules, output = loaded_modules(
        "layer", "--in", "3x32x32", "--filters", "10x5x5", "--pad", "2", "--json"
    )
    assert json.loads(output)["totals"]["params"] == 760
    assert "convcalc.layers.conv" in modules
    assert not modules & OTHER_FAMILIES, sorted(modules & OTHER_FAMILIES)
    # Nor the spec machinery, the memory views, or fractions (a window's exact output size is
    # worked out with integers).
    assert not modules & {"convcalc.loader", "convcalc.memory", "fractions"}


def test_layer_of_another_family_imports_it() -> None:
    # The counterpart: a kind outside the families analysis needs is still found.
    modules, output = loaded_modules(
        "layer", "--in", "8x9x9", "--type", "maxpool", "--kernel", "3", "--json"
    )
    assert json.loads(output)["layers"][0]["output"] == [8, 3, 3]
    assert "convcalc.layers.pooling" in modules


def test_help_and_printing_a_zoo_spec_load_no_analysis() -> None:
    help_modules, output = loaded_modules("--help")
    assert "layer" in output
    zoo_modules, output = loaded_modules("zoo", "lenet5")
    assert output.startswith("#")
    for modules in (help_modules, zoo_modules):
        assert not {name for name in modules if name.startswith("convcalc.layers.")} - {
            "convcalc.layers.base"
        }, sorted(modules)
        assert not modules & {"convcalc.analysis", "convcalc.report", "json", "yaml"}


def test_solving_one_layer_reads_no_spec() -> None:
    modules, output = loaded_modules("solve", "--in", "32", "--out", "16", "--json")
    assert [3, 2, 1, 1] in [
        [s["kernel"], s["stride"], s["pad"], s["dilation"]]
        for s in json.loads(output)["axes"][0]["solutions"]
    ]
    assert not modules & {"rich", "yaml", "pydantic_core", "convcalc.loader", "convcalc.analysis"}


@pytest.mark.parametrize(
    "arguments",
    [
        ("diff", "zoo:lenet5", "zoo:lenet5", "--set", "batch=2", "--json"),
        ("sweep", "zoo:lenet5", "--set", "batch=1,2", "--json"),
        ("solve", "zoo:lenet5", "--sizes", "28..36:4", "--json"),
    ],
)
def test_design_commands_with_json_do_not_import_rich(arguments: tuple[str, ...]) -> None:
    modules, output = loaded_modules(*arguments)
    assert json.loads(output)
    assert not modules & {"rich", "torch", "pydantic"}, sorted(modules & {"rich", "pydantic"})


PICTURES = {
    "convcalc.render.dot",
    "convcalc.render.graphviz",
    "convcalc.render.charts",
    "convcalc.render.html",
    "convcalc.render.notebook",
    "convcalc.render.tree",
    "vl_convert",
    "pandas",
}
"""What drawing needs and nothing else does: the DOT builder, the layout engine's runner, the
charts' renderer, the page and the tree."""


def test_other_commands_load_nothing_of_the_pictures() -> None:
    for arguments in (("--help",), ("analyze", "zoo:cs231n", "--json"), ("analyze", "zoo:cs231n")):
        modules, _ = loaded_modules(*arguments)
        assert not modules & PICTURES, (arguments, sorted(modules & PICTURES))


def test_draw_dot_and_tree_load_only_what_they_use() -> None:
    modules, output = loaded_modules("draw", "zoo:cs231n", "--format", "dot")
    assert output.startswith("digraph convcalc {")
    assert "convcalc.render.dot" in modules
    assert not modules & {"convcalc.render.graphviz", "vl_convert"}
    modules, output = loaded_modules("analyze", "zoo:cs231n", "--format", "tree")
    assert output.startswith("cs231n-example")
    assert "convcalc.render.tree" in modules and "convcalc.render.dot" not in modules


# --- the plain coercion must agree with typer's own -------------------------------------------


class Colour(Enum):
    RED = "red"
    BLUE = "Blue"


def typer_coercion(annotation: Any, **options: Any) -> tuple[Any, Any]:
    """Typer's own (pydantic) runtime coercion for ``annotation``, and its ParameterInfo."""
    coercion = pytest.importorskip("typer._coercion", reason="typer without runtime coercion")
    models = pytest.importorskip("typer.models")
    info = models.OptionInfo(**options)
    descriptor = coercion.resolve_type_descriptor(annotation, info)
    return coercion.build_runtime_param(descriptor), info


CASES: list[tuple[Any, dict[str, Any], list[Any]]] = [
    (int, {}, ["0", "7", "-3", "007", "+5", " 4", "4 ", "1_000", "3.0", "x", "", 12, 2.5, True]),
    (int, {"min": 1}, ["1", "0", "-1", "64", 0]),
    (int, {"min": 1, "max": 8, "clamp": True}, ["0", "5", "9"]),
    (float, {}, ["0.5", "1e-5", "1E3", "-2", ".5", "5.", "nan", "inf", "1e400", "x", 3, 0.25]),
    (str, {}, ["abc", "", "3x32x32"]),
    (Colour, {}, ["red", "RED", "Blue", "blue", "green", Colour.RED]),
    (Colour, {"case_sensitive": False}, ["red", "RED", "blue", "BLUE", "green"]),
    (OutputFormat, {"case_sensitive": False}, ["json", "JSON", "Table", "yaml"]),
    (Path, {}, ["out.json", "", "-", Path("x")]),
    (bool, {}, [True, False, "true"]),
    (list[str], {}, [["a", "b=1"], ("x",), [], [1], "abc"]),
]


@pytest.mark.parametrize(("annotation", "options", "values"), CASES)
def test_plain_coercion_matches_typer(
    annotation: Any, options: dict[str, Any], values: list[Any]
) -> None:
    original, info = typer_coercion(annotation, **options)
    for value in values:
        try:
            expected = original._coerce_value(value, param=None, ctx=None)
        except Exception:
            expected = UNCHANGED
        result = plain_value(annotation, info, value)
        if result is UNCHANGED:
            continue  # typer's own coercion decides (and words any error)
        assert expected is not UNCHANGED, f"{value!r}: typer refuses it, plain gave {result!r}"
        assert type(result) is type(expected), value
        assert result == expected, value


@pytest.mark.parametrize(
    ("version", "written"),
    [("0.29.0", True), ("0.29.2", True), ("0.28.9", False), ("0.30.0", False), ("1.0", False)],
)
def test_the_plain_coercion_knows_the_typer_releases_it_was_written_for(
    version: str, written: bool
) -> None:
    assert written_for(version) is written


def test_outside_those_releases_typer_coerces_by_itself() -> None:
    """With a typer release the plain coercion was not written for, typer's own coercion runs
    (it imports pydantic) and the results are the same."""
    script = (
        "import sys, typer\n"
        "typer.__version__ = sys.argv.pop(1)\n"
        "from typer import core\n"
        "from convcalc.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    patched = getattr(core.build_runtime_param, 'convcalc_plain', False)\n"
        "    print(patched, 'pydantic' in sys.modules, file=sys.stderr)\n"
    )
    arguments = ["layer", "--in", "3x32x32", "--filters", "10x5x5", "--pad", "2", "--json"]
    outputs = {}
    for version in ("0.29.2", "0.30.0"):
        result = subprocess.run(
            [sys.executable, "-c", script, version, *arguments],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
            timeout=60,
        )
        outputs[version] = (result.stdout, result.stderr.split()[-2:])
    assert outputs["0.29.2"][1] == ["True", "False"]
    assert outputs["0.30.0"][1] == ["False", "True"]
    assert outputs["0.29.2"][0] == outputs["0.30.0"][0]
    assert json.loads(outputs["0.30.0"][0])["totals"]["params"] == 760


def test_command_line_choices_match_the_library() -> None:
    """--dtype and --optimizer list exactly what the library knows."""
    from convcalc.cli import Dtype, Optimizer
    from convcalc.memory import OPTIMIZER_STATES
    from convcalc.tensors import DTYPE_BYTES

    assert {choice.value for choice in Dtype} == set(DTYPE_BYTES)
    assert {choice.value for choice in Optimizer} == set(OPTIMIZER_STATES)


def test_a_valid_spec_is_analyzed_without_pydantic() -> None:
    """Valid options pass plain checks (convcalc/options.py); pydantic's core is imported only
    to judge and word invalid ones, and the pydantic package only for `convcalc schema`."""
    modules, output = loaded_modules("analyze", "zoo:cs231n", "--json")
    assert json.loads(output)["totals"]["params"] == 26_390
    assert "pydantic_core" not in modules
    assert "pydantic" not in modules


def test_the_registry_order_does_not_depend_on_which_family_was_imported_first() -> None:
    """``LAYER_KINDS`` (the schema and suggestions follow its order) lists the families in a fixed
    order, however a command happened to import them."""
    script = (
        "import sys; from importlib import import_module; import_module(sys.argv[1]); "
        "from convcalc.layers import LAYER_KINDS; print(' '.join(LAYER_KINDS))"
    )
    orders = {
        tuple(
            subprocess.run(
                [sys.executable, "-c", script, first],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                check=True,
                timeout=60,
            ).stdout.split()
        )
        for first in ("convcalc.layers.pooling", "convcalc.analysis", "convcalc.layers")
    }
    assert len(orders) == 1
    (order,) = orders
    assert order[:2] == ("relu", "relu6") and order[-1] == "channelshuffle"


def test_a_yaml_spec_does_not_import_onnx() -> None:
    modules, _ = loaded_modules("analyze", "zoo:cs231n", "--json")
    assert not {name for name in modules if name == "onnx" or name.startswith("onnx.")}
