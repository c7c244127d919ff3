"""Start-up structure: what each command imports (never timed; see benchmarks/run.py for speed).

``convcalc layer --json`` must not load rich, PyYAML or pydantic, and ``analyze --json`` must not
load rich: those imports are most of a run's start-up time. Each case runs the real entry point
in a fresh interpreter and reads ``sys.modules`` at the end.
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

from convcalc.fastcoerce import UNCHANGED, install, plain_value
from convcalc.render import OutputFormat

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import contextlib, io, json, sys
from convcalc.cli import main
sys.argv = ["convcalc", *json.loads(sys.argv[1])]
output = io.StringIO()
code = 0
try:
    with contextlib.redirect_stdout(output):
        main()
except SystemExit as exit:
    code = exit.code or 0
print(json.dumps({"code": code, "output": output.getvalue(), "modules": sorted(sys.modules)}))
"""


def loaded_modules(*arguments: str, full: bool = False) -> tuple[set[str], str]:
    """Run convcalc with ``arguments`` in a fresh interpreter: its top-level modules (``full``:
    all modules, by their full names) and its output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert report["code"] == 0, result.stderr
    modules = set(report["modules"])
    return (modules if full else {name.split(".")[0] for name in modules}), report["output"]


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


def test_a_piped_table_imports_only_the_cell_widths_of_rich() -> None:
    # A table is laid out without rich's console, table or text (see convcalc.render.layout);
    # only rich.cells measures the cells. A terminal still gets rich, to paint the styles.
    modules, output = loaded_modules("analyze", "zoo:cs231n", full=True)
    assert "rich.cells" in modules
    assert not modules & {"rich.console", "rich.table", "rich.text", "rich.segment"}
    assert "│ conv1 " in output
    modules, output = loaded_modules("layer", "--in", "3x32x32", "--filters", "10x5x5", full=True)
    assert "rich.console" not in modules
    assert "10×28×28" in output


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


def test_install_is_idempotent() -> None:
    assert install() is install()


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
