"""convcalc's start-up and scaling benchmark: ``python benchmarks/run.py`` (see README § Speed).

Every measurement is a whole process — interpreter start-up, imports, work, output — started
from ``sys.executable``, the way a user runs ``convcalc``. Each round runs every case once, in a
shuffled order (interleaved, so a burst of load from elsewhere hits all cases alike, and no case
always follows the same neighbour); a case's time is
the median over rounds, and it is reported as a ratio to the *import floor* measured in the same
rounds: ``python -c "import typer, rich.table, pydantic, yaml"``, the cost of merely loading
convcalc's dependencies. Peak memory is each child's own peak resident set (``wait4``'s
``ru_maxrss``), the largest over its runs.

The marginal cost per layer is the slope between the 10,000- and 100,000-layer specs; growth is
linear when the slope between 1,000 and 10,000 layers is about the same.

convcalc runs as a user's install does: this checkout is installed with a plain ``pip install``
(not editable: compiled to bytecode, the package data copied) into a fresh virtual environment in
a temporary folder, which sees this interpreter's packages for convcalc's dependencies (and torch
for the comparisons); the children start in that folder, so no checkout is on their path, and
nothing is written into the source tree. ``--baseline REV`` installs the commit REV the same way
into a second environment and times its convcalc commands in the same rounds, so that a change's
gain is a ratio measured under one load. The results go to ``benchmarks/results.md`` and
``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
"""The repository root (the folder containing ``convcalc/``)."""

FLOOR_IMPORTS = "import typer, rich.table, pydantic, yaml"
TORCHINFO_SCRIPT = (
    "import torchvision, torchinfo\n"
    "model = torchvision.models.resnet50()\n"
    "torchinfo.summary(model, input_size=(1, 3, 224, 224))\n"
)
TYPER_COERCION = "import typer; typer.__version__ = '0'\nfrom convcalc.cli import main\nmain()\n"
"""convcalc with typer's own coercion: convcalc/fastcoerce.py installs itself only on the typer
releases it was written for, and this typer claims to be none of them."""
LAYOUT_SCRIPT = """\
import io, json, sys, time
from rich.console import Console
import convcalc
from convcalc.render.layout import Grid
from convcalc.render.table import network_table
from tests.test_layout import rich_table

grids = [p for p in network_table(convcalc.analyze(sys.argv[1])).parts if isinstance(p, Grid)]

def ours():
    for grid in grids:
        grid.lines()

def theirs():
    console = Console(file=io.StringIO(), width=100_000, no_color=True, markup=False)
    for grid in grids:
        console.print(rich_table(grid))

def best(run, times=7):
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        spent.append(time.perf_counter() - start)
    return min(spent)

print(json.dumps({"layout": best(ours), "rich": best(theirs)}))
"""
"""Times the model's table as convcalc/render/layout.py lays it out and as rich's ``Table`` draws
it (the oracle of tests/test_layout.py), in one process, each the best of 7, after the imports."""
SIZES = (1_000, 10_000, 100_000)
SWEEP_SIZES = ",".join(f"3x{side}x{side}" for side in range(128, 417, 32))
SWEEP = [
    "sweep",
    "zoo:resnet50",
    "--set",
    "layer2.blocks=1..10",
    "--set",
    "layer3.blocks=1..10",
    "--set",
    f"input={SWEEP_SIZES}",
    "--json",
]
"""1,000 variants of ResNet-50: 10 depths of stage 2 × 10 of stage 3 × 10 input sizes."""
REFERENCE_FLOOR = 0.12
"""The import floor in seconds on the machine issue #7's targets were set on: the absolute
per-layer target (15 µs) is also checked scaled by this machine's floor / this one."""
MiB = 2**20


@dataclass
class Case:
    """One command to time: the argv run and how the results page shows it."""

    name: str
    label: str
    argv: list[str]
    shown: str
    times: list[float] = field(default_factory=list)
    peak_kib: int = 0
    cpu_seconds: float = 0.0
    file_bytes: int = 0
    """The size of the file the case reads, when that matters (an ONNX model)."""

    @property
    def median(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(self.times)


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, float]:
    """Run ``argv`` in ``cwd`` to completion: (wall seconds, peak RSS in KiB of that child alone,
    CPU seconds of it and the workers it waited for)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=cwd)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}):\n{message}")
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    peak = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return elapsed, peak, usage.ru_utime + usage.ru_stime


def bench_env() -> dict[str, str]:
    """The children's environment: this one, without anything that would put a checkout on the
    path or keep bytecode from being used."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONHOME"):
        env.pop(name, None)
    env.setdefault("NO_COLOR", "1")
    return env


def installed_python(tree: Path, work: Path) -> str:
    """The interpreter of a new virtual environment in ``work`` into which ``tree`` is installed
    as ``pip install`` does it, not editable: a wheel built from a copy of the tree (the build
    writes into the folder it builds), then installed. The environment sees this interpreter's
    packages, which hold convcalc's dependencies and the build's setuptools."""
    source, wheels, venv = work / "source", work / "wheels", work / "venv"
    shutil.copytree(tree, source, ignore=shutil.ignore_patterns(*NOT_BUILT))
    pip = ["-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [sys.executable, *pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels),
         str(source)],
        env=bench_env(),
        cwd=work,
        check=True,
    )  # fmt: skip
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    (wheel,) = wheels.glob("convcalc-*.whl")
    subprocess.run([python, *pip, "install", str(wheel)], env=bench_env(), cwd=work, check=True)
    found = subprocess.run(
        [python, "-c", "import convcalc; print(convcalc.__file__)"],
        env=bench_env(),
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not found.startswith(str(venv)):
        raise SystemExit(f"the benchmark's environment imports convcalc from {found}, not {venv}")
    return python


NOT_BUILT = (".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")
"""What the copy of a tree to build leaves out: version control, caches and earlier builds."""


def exported_tree(revision: str, folder: Path) -> Path:
    """The files of commit ``revision`` of this checkout, written out into ``folder``."""
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def generated_spec(rows: int) -> str:
    """A spec of exactly ``rows`` rows, in units of ten: a residual block (conv, bn, relu, conv,
    bn, add) then relu, conv, bn, relu — all three layer forms, kernels cycling 1, 3, 5."""
    if rows % 10:
        raise ValueError("rows must be a multiple of 10")
    lines = [f"name: generated-{rows}", "input: 16x8x8", "layers:"]
    for unit in range(rows // 10):
        kernel = (1, 3, 5)[unit % 3]
        conv = f"{{filters: 16, kernel: {kernel}, pad: {kernel // 2}, bias: false}}"
        lines += [
            "  - residual:",
            "      body:",
            f"        - conv: {conv}",
            "        - bn",
            "        - relu",
            "        - conv: {filters: 16, kernel: 3, pad: 1}",
            "        - type: batchnorm",
            "  - relu",
            f"  - conv: {conv}",
            "  - bn",
            "  - {type: relu}",
        ]
    return "\n".join(lines) + "\n"


RESNET50 = """\
# ResNet-50 (torchvision's v1.5: stride on the 3×3 conv), generated by benchmarks/run.py.
name: resnet50-local
input: 3x224x224
blocks:
  down:
    params: {width: 64, out: 256, stride: 1}
    layers:
      - residual:
          body:
            - conv: {filters: $width, kernel: 1, bias: false}
            - bn
            - relu
            - conv: {filters: $width, kernel: 3, stride: $stride, pad: 1, bias: false}
            - bn
            - relu
            - conv: {filters: $out, kernel: 1, bias: false}
            - bn
          shortcut: project
      - relu
  same:
    params: {width: 64, out: 256}
    layers:
      - residual:
          body:
            - conv: {filters: $width, kernel: 1, bias: false}
            - bn
            - relu
            - conv: {filters: $width, kernel: 3, pad: 1, bias: false}
            - bn
            - relu
            - conv: {filters: $out, kernel: 1, bias: false}
            - bn
      - relu
layers:
  - conv: {filters: 64, kernel: 7, stride: 2, pad: 3, bias: false}
  - bn
  - relu
  - maxpool: {kernel: 3, stride: 2, pad: 1}
{stages}  - adaptiveavgpool: {output: 1}
  - flatten
  - fc: {out: 1000}
"""


def resnet50_spec() -> str:
    """A local ResNet-50 spec, for checkouts whose zoo has none."""
    stages = ""
    for number, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True)):
        stride = 1 if number == 0 else 2
        stages += (
            f"  - use: down\n    with: {{width: {width}, out: {4 * width}, stride: {stride}}}\n"
        )
        stages += (
            f"  - repeat:\n      times: {blocks - 1}\n      layers:\n"
            f"        - use: same\n          with: {{width: {width}, out: {4 * width}}}\n"
        )
    return RESNET50.replace("{stages}", stages)


def model_source(model: str | None, work: Path) -> tuple[str, str]:
    """The spec argument for the model benchmark and a description of where it comes from."""
    zoo = ROOT / "convcalc" / "zoo"
    name = model or "resnet50"
    if (zoo / f"{name}.yaml").exists():
        return f"zoo:{name}", f"zoo:{name}"
    if model is not None and not model.startswith("resnet50"):
        if Path(model).exists():
            return model, model
        raise SystemExit(f"no zoo model {model!r} and no such file")
    path = work / "resnet50-local.yaml"
    path.write_text(resnet50_spec(), encoding="utf-8")
    return str(path), "a local ResNet-50 spec (zoo:resnet50 not in this checkout)"


EXPORT_SCRIPT = """
import sys, torch, torchvision
model = torchvision.models.resnet50(weights=None).eval()
torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), sys.argv[1], dynamo=False)
"""


ONNX_TOOL_SCRIPT = """
import sys, onnx_tool
model = onnx_tool.Model(sys.argv[1])
model.graph.shape_infer()
model.graph.profile()
model.graph.print_node_map()
"""
"""onnx_tool's profile (shapes, MACs, params per node) of an ONNX model, printed as its table."""


def exported_resnet50(work: Path) -> Path | None:
    """torchvision's ResNet-50 exported by torch with its (random) weights, or None without
    torch or onnx."""
    path = work / "resnet50.onnx"
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", EXPORT_SCRIPT, str(path)],
        capture_output=True,
        check=False,
    )
    return path if result.returncode == 0 else None


def torchinfo_available() -> bool:
    """Whether torch, torchvision and torchinfo are installed (checked without importing torch)."""
    try:
        for package in ("torch", "torchvision", "torchinfo"):
            metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def onnx_tool_available() -> bool:
    """Whether onnx_tool (the ONNX peer that counts MACs) is installed."""
    try:
        metadata.version("onnx-tool")
    except metadata.PackageNotFoundError:
        return False
    return True


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def measure(cases: list[Case], env: dict[str, str], runs: int, cwd: Path) -> None:
    """Warm up every case once, then ``runs`` interleaved rounds, each in its own shuffled order
    (seeded, so reproducible): a fixed order would give every case the same neighbour, and the
    case right after torchinfo's 850 MiB would always pay for the memory it leaves behind."""
    for case in cases:
        run_once(case.argv, env, cwd)
    shuffler = random.Random(7)
    for round_number in range(runs):
        for case in shuffler.sample(cases, len(cases)):
            elapsed, peak, cpu = run_once(case.argv, env, cwd)
            case.times.append(elapsed)
            case.peak_kib = max(case.peak_kib, peak)
            case.cpu_seconds = max(case.cpu_seconds, cpu)
        print(f"round {round_number + 1}/{runs} done", file=sys.stderr)


def summarize(cases: list[Case], model_note: str, runs: int) -> dict[str, Any]:
    """Ratios, slopes and target checks from the measured cases."""
    by_name = {case.name: case for case in cases}
    floor = by_name["floor"].median
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "packages": {
                name: version(name)
                for name in (
                    "typer",
                    "rich",
                    "pydantic",
                    "PyYAML",
                    "torch",
                    "torchinfo",
                    "onnx",
                    "onnx-tool",
                )
            },
        },
        "runs": runs,
        "model": model_note,
        "floor_seconds": floor,
        "cases": [
            {
                **{
                    k: v
                    for k, v in asdict(case).items()
                    if k not in ("times", "peak_kib", "cpu_seconds", "file_bytes")
                },
                "median_seconds": case.median,
                "min_seconds": min(case.times),
                "max_seconds": max(case.times),
                "ratio_to_floor": case.median / floor,
                "peak_mib": case.peak_kib / 1024,
            }
            for case in cases
        ],
    }
    checks: list[dict[str, Any]] = []

    def check(what: str, value: float, limit: float, unit: str, at_most: bool = True) -> None:
        ok = value <= limit if at_most else value >= limit
        checks.append(
            {"what": what, "value": value, "limit": limit, "unit": unit, "ok": ok, "max": at_most}
        )

    def have(*names: str) -> bool:
        # With --only, the checks of the cases left out are left out too.
        return all(name in by_name for name in names)

    if have("layer-json"):
        check("layer --json / floor", by_name["layer-json"].median / floor, 0.85, "×")
    if have("layer-json", "layer-json-typer"):
        results["fastcoerce_gain_seconds"] = (
            by_name["layer-json-typer"].median - by_name["layer-json"].median
        )
    if have("model-json"):
        check("analyze model --json / floor", by_name["model-json"].median / floor, 1.2, "×")
        check("analyze model --json peak memory", by_name["model-json"].peak_kib / 1024, 45, "MiB")
    if have("model-table"):
        check("analyze model (table) / floor", by_name["model-table"].median / floor, 1.3, "×")
    # The µs and s targets were set on a machine whose floor is REFERENCE_FLOOR; on a slower
    # machine the same code takes proportionally longer, as the floor does.
    scale = floor / REFERENCE_FLOOR
    results["machine_scale"] = scale
    if have(*(f"layers-{size}" for size in SIZES)):
        small, medium, large = (by_name[f"layers-{size}"] for size in SIZES)
        slope = (large.median - medium.median) / (SIZES[2] - SIZES[1])
        slope_low = (medium.median - small.median) / (SIZES[1] - SIZES[0])
        results["marginal_us_per_layer"] = slope * 1e6
        results["marginal_us_per_layer_1k_10k"] = slope_low * 1e6
        check("marginal cost per layer (10k → 100k)", slope * 1e6, 15, "µs")
        check(
            f"marginal cost per layer, on the reference machine (÷ {scale:.2f})",
            slope * 1e6 / scale,
            15,
            "µs",
        )
        check("linearity: slope 10k→100k / slope 1k→10k", slope / slope_low, 1.5, "×")
        check("100,000-layer peak memory", large.peak_kib / 1024, 300, "MiB")
    for name, what, limit in (
        ("model-draw", "draw model to SVG", 2.0),
        ("model-report", "report model to HTML", 3.0),
    ):
        if have(name):
            check(what, by_name[name].median, limit, "s")
            check(
                f"{what}, on the reference machine (÷ {scale:.2f})",
                by_name[name].median / scale,
                limit,
                "s",
            )
    if have("sweep-1000"):
        sweep = by_name["sweep-1000"]
        check("sweep of 1,000 ResNet-50 variants", sweep.median, 10, "s")
        results["sweep_cpu_seconds"] = sweep.cpu_seconds
    if have("onnx-json"):
        onnx_case = by_name["onnx-json"]
        results["onnx_file_mib"] = onnx_case.file_bytes / MiB
        results["onnx_cpu_seconds"] = onnx_case.cpu_seconds
        check("analyze ResNet-50 ONNX (with weights) --json", onnx_case.median, 1.0, "s")
        check(
            f"analyze ResNet-50 ONNX, on the reference machine (÷ {scale:.2f})",
            onnx_case.median / scale,
            1.0,
            "s",
        )
        check(
            "analyze ResNet-50 ONNX peak memory / file size",
            onnx_case.peak_kib * 1024 / onnx_case.file_bytes,
            2.5,
            "×",
        )
        if have("onnx-tool"):
            results["onnx_tool_ratio"] = by_name["onnx-tool"].median / onnx_case.median
    if have("torchinfo", "model-json"):
        speedup = by_name["torchinfo"].median / by_name["model-json"].median
        results["torchinfo_speedup"] = speedup
        check("torchinfo ResNet-50 / convcalc --json", speedup, 12, "×", at_most=False)
    results["checks"] = checks
    return results


HEADLINE = (
    ("layer-json", "`layer --json`"),
    ("model-json", "`analyze` ResNet-50 `--json`"),
    ("model-table", "`analyze` ResNet-50, table"),
    ("layers-10000", "10,000 layers `--json`"),
    ("layers-100000", "100,000 layers `--json`"),
    ("sweep-1000", "`sweep` of 1,000 variants"),
    ("onnx-json", "`analyze` ResNet-50 from ONNX `--json`"),
)
"""The cases the page leads with, as ratios to the import floor."""


def headline(results: dict[str, Any]) -> list[str]:
    """The headline ratios: the main cases × the import floor, torchinfo × convcalc."""
    ratios = {case["name"]: case["ratio_to_floor"] for case in results["cases"]}
    lines = ["", "Headline (× the import floor, measured in the same rounds):", ""]
    lines += [f"- {label}: **{ratios[name]:.2f}×**" for name, label in HEADLINE if name in ratios]
    if "torchinfo_speedup" in results:
        lines.append(
            f"- torchinfo on torchvision's ResNet-50: **{results['torchinfo_speedup']:.1f}×** "
            "`analyze` ResNet-50 `--json`"
        )
    return lines


def baseline_table(results: dict[str, Any]) -> list[str]:
    """With ``--baseline``: each convcalc case's time as a ratio to the baseline's."""
    if "baseline" not in results:
        return []
    labels = {case["name"]: case["label"] for case in results["cases"]}
    revision = results["baseline"]["revision"]
    lines = [
        "",
        f"Against `{revision}` (installed the same way, timed in the same rounds; below 1 is "
        "faster):",
        "",
        f"| case | this tree / `{revision}` |",
        "|---|---:|",
    ]
    for name, ratio in results["baseline"]["ratios"].items():
        lines.append(f"| {labels[name]} | {ratio:.2f} |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The results as the Markdown page ``benchmarks/results.md``."""
    machine = results["machine"]
    packages = ", ".join(f"{name} {ver}" for name, ver in machine["packages"].items())
    load = ", ".join(f"{value:.2f}" for value in machine["load_average"])
    lines = [
        "# convcalc speed benchmark",
        "",
        "Produced by `python benchmarks/run.py`; do not edit by hand.",
        "",
        f"- Python {machine['python']} on {machine['platform']}, {machine['cpus']} CPUs "
        f"(load average at the end: {load})",
        f"- {packages}",
        f"- {results['runs']} interleaved rounds (each in its own shuffled order) after one "
        "warm-up; median wall time of the whole process; peak RSS of the child process",
        "- convcalc: this checkout installed by `pip install` (not editable) into a new virtual "
        "environment that sees this Python's packages (convcalc's dependencies, torch); every "
        "command runs in a temporary folder, with no checkout on its path",
        f"- model: {results['model']}",
        f'- import floor (`python -c "{FLOOR_IMPORTS}"`): '
        f"**{results['floor_seconds'] * 1000:.0f} ms**",
        "",
        *headline(results),
        "",
        "| case | median | × floor | peak RSS | command |",
        "|---|---:|---:|---:|---|",
    ]
    for case in results["cases"]:
        lines.append(
            f"| {case['label']} | {case['median_seconds'] * 1000:.0f} ms | "
            f"{case['ratio_to_floor']:.2f} | {case['peak_mib']:.1f} MiB | "
            f"`{case['shown']}` |"
        )
    if "marginal_us_per_layer" in results:
        lines += [
            "",
            f"Marginal cost per layer: **{results['marginal_us_per_layer']:.1f} µs** between "
            f"10,000 and 100,000 layers ({results['marginal_us_per_layer_1k_10k']:.1f} µs between "
            "1,000 and 10,000). This machine's import floor is "
            f"{results['machine_scale']:.2f}× the {REFERENCE_FLOOR * 1000:.0f} ms of the machine "
            "the issue's targets were set on; the ratios to the floor need no scaling, the µs do.",
        ]
    if "sweep_cpu_seconds" in results:
        lines.append(
            f"The 1,000-variant sweep used at most {results['sweep_cpu_seconds']:.1f} s of CPU in "
            f"all (its own and its workers'), over {machine['cpus']} CPUs."
        )
    if "fastcoerce_gain_seconds" in results:
        gain = results["fastcoerce_gain_seconds"]
        without = next(case for case in results["cases"] if case["name"] == "layer-json-typer")
        share = gain / without["median_seconds"]
        lines.append(
            f"convcalc/fastcoerce.py saves **{gain * 1000:.0f} ms** on `layer --json` "
            f"({share:.0%} of the run with typer's own coercion)."
        )
    layout = results["layout_seconds"]
    lines.append(
        f"convcalc/render/layout.py lays out the model's table in **{layout['layout'] * 1000:.1f} "
        f"ms**, where rich's `Table` takes {layout['rich'] * 1000:.0f} ms (best of 7, in one "
        "process)."
    )
    if "onnx_file_mib" in results:
        lines.append(
            f"The ONNX ResNet-50 file is {results['onnx_file_mib']:.1f} MiB (torch's export with "
            f"its weights); analysing it used at most {results['onnx_cpu_seconds']:.2f} s of CPU."
        )
    if "onnx_tool_ratio" in results:
        lines.append(
            f"onnx_tool's profile of the same file takes **{results['onnx_tool_ratio']:.1f}×** as "
            "long as `convcalc analyze resnet50.onnx --json`."
        )
    if "torchinfo_speedup" in results:
        lines.append(
            f"torchinfo on torchvision's ResNet-50 takes **{results['torchinfo_speedup']:.1f}×** "
            "as long as `convcalc analyze … --json` on the same network."
        )
    lines += baseline_table(results)
    lines += ["", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for item in results["checks"]:
        sign = "≤" if item["max"] else "≥"
        lines.append(
            f"| {item['what']} | {item['value']:.2f} {item['unit']} | {sign} {item['limit']} "
            f"{item['unit']} | {'yes' if item['ok'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def picture_cases(
    cli: list[str], spec: str, shown: str, work: Path, env: dict[str, str]
) -> list[Case]:
    """``draw`` to SVG and ``report`` to HTML of the model, when their layout engine (Graphviz's
    dot or the graphviz-pure wheel) is installed."""
    probe = "from convcalc.render.graphviz import engines; raise SystemExit(not engines())"
    if subprocess.run([cli[0], "-c", probe], env=env, cwd=work, check=False).returncode != 0:
        return []
    svg, page = work / "model.svg", work / "model.html"
    return [
        Case(
            "model-draw",
            "ResNet-50 draw SVG",
            [*cli, "draw", spec, "-o", str(svg)],
            f"convcalc draw {shown} -o r.svg",
        ),
        Case(
            "model-report",
            "ResNet-50 HTML report",
            [*cli, "report", spec, "-o", str(page)],
            f"convcalc report {shown} -o r.html",
        ),
    ]


BASELINE = "@baseline"
"""The suffix of a baseline case's name."""


def baseline_cases(cases: list[Case], cli: list[str], baseline_python: list[str]) -> list[Case]:
    """The convcalc commands among ``cases`` again, run by the baseline's install."""
    return [
        Case(
            case.name + BASELINE,
            f"{case.label} (baseline)",
            [*baseline_python, *case.argv[1:]],
            case.shown,
        )
        for case in cases
        if case.argv[: len(cli)] == cli
    ]


def baseline_ratios(cases: list[Case], revision: str) -> dict[str, Any]:
    """Each convcalc case's median as a ratio to the baseline's, measured in the same rounds."""
    by_name = {case.name: case for case in cases}
    return {
        "revision": revision,
        "ratios": {
            case.name: case.median / by_name[case.name + BASELINE].median
            for case in cases
            if case.name + BASELINE in by_name
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9, help="interleaved rounds (default 9)")
    parser.add_argument(
        "--model",
        default=None,
        help="zoo model or spec file for the model cases (default resnet50, from the zoo if "
        "present, else a generated ResNet-50 spec)",
    )
    parser.add_argument("--no-torchinfo", action="store_true", help="skip the torchinfo case")
    parser.add_argument(
        "--onnx",
        type=Path,
        default=None,
        help="an ONNX ResNet-50 with its weights (~100 MB) for the ONNX case (default: torch "
        "exports torchvision's when torch and onnx are installed)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks",
        help="folder for results.md and results.json (default benchmarks/)",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        default=None,
        help="time only these cases (comma-separated names, as in results.json; the bare "
        "interpreter and the import floor always), e.g. layers-10000,layers-100000",
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        default=None,
        help="also time the convcalc commands of commit REV (installed the same way) in the same "
        "rounds, and report this tree's times as ratios to them",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="convcalc-bench-") as temporary:
        work = Path(temporary)
        env = bench_env()
        python = installed_python(ROOT, work / "this")
        spec, model_note = model_source(options.model, work)
        cli = [python, "-m", "convcalc"]
        shown = spec if spec.startswith("zoo:") else "resnet50-local.yaml"
        layer = ["layer", "--in", "3x32x32", "--filters", "10x5x5", "--pad", "2", "--json"]
        cases = [
            Case("python", "bare interpreter", [python, "-c", "pass"], 'python -c "pass"'),
            Case(
                "floor",
                "import floor",
                [python, "-c", FLOOR_IMPORTS],
                f'python -c "{FLOOR_IMPORTS}"',
            ),
            Case("layer-json", "layer --json", [*cli, *layer], "convcalc " + " ".join(layer)),
            Case(
                "layer-json-typer",
                "layer --json, typer's own coercion",
                [python, "-c", TYPER_COERCION, *layer],
                "the same with convcalc/fastcoerce.py off",
            ),
            Case(
                "model-json",
                "ResNet-50 --json",
                [*cli, "analyze", spec, "--json"],
                f"convcalc analyze {shown} --json",
            ),
            Case(
                "model-table",
                "ResNet-50 table",
                [*cli, "analyze", spec],
                f"convcalc analyze {shown}",
            ),
        ]
        cases += picture_cases(cli, spec, shown, work, env)
        for size in SIZES:
            path = work / f"layers-{size}.yaml"
            path.write_text(generated_spec(size), encoding="utf-8")
            cases.append(
                Case(
                    f"layers-{size}",
                    f"{size:,} layers --json",
                    [*cli, "analyze", str(path), "--json"],
                    f"convcalc analyze layers-{size}.yaml --json",
                )
            )
        cases.append(
            Case(
                "sweep-1000", "sweep, 1,000 variants", [*cli, *SWEEP], "convcalc " + " ".join(SWEEP)
            )
        )
        only = None if options.only is None else {"python", "floor", *options.only.split(",")}
        onnx_model = None
        if only is None or "onnx-json" in only:
            onnx_model = options.onnx or exported_resnet50(work)
        if onnx_model is not None:
            cases.append(
                Case(
                    "onnx-json",
                    "ResNet-50 ONNX --json",
                    [*cli, "analyze", str(onnx_model), "--json"],
                    "convcalc analyze resnet50.onnx --json",
                    file_bytes=onnx_model.stat().st_size,
                )
            )
            if onnx_tool_available():
                cases.append(
                    Case(
                        "onnx-tool",
                        "onnx_tool profile of ResNet-50 ONNX",
                        [python, "-c", ONNX_TOOL_SCRIPT, str(onnx_model)],
                        "onnx_tool.Model(resnet50.onnx): shape_infer, profile, print_node_map",
                        file_bytes=onnx_model.stat().st_size,
                    )
                )
        if not options.no_torchinfo and torchinfo_available():
            cases.append(
                Case(
                    "torchinfo",
                    "torchinfo ResNet-50",
                    [python, "-c", TORCHINFO_SCRIPT],
                    "torchinfo.summary(torchvision.models.resnet50(), (1, 3, 224, 224))",
                )
            )
        if only is not None:
            unknown = only - {case.name for case in cases}
            if unknown:
                raise SystemExit(f"--only: no case named {', '.join(sorted(unknown))}")
            cases = [case for case in cases if case.name in only]
        if options.baseline is not None:
            baseline = work / "baseline"
            tree = exported_tree(options.baseline, baseline / "tree")
            cases += baseline_cases(cases, cli, [installed_python(tree, baseline)])
        measure(cases, env, options.runs, work)
        results = summarize(cases, model_note, options.runs)
        if options.baseline is not None:
            results["baseline"] = baseline_ratios(cases, options.baseline)
        results["layout_seconds"] = json.loads(
            subprocess.run(
                [python, "-c", LAYOUT_SCRIPT, spec],
                # The script imports the tests, so it runs in the checkout: bytecode goes to the
                # temporary folder, not into the source tree.
                env={**env, "PYTHONPYCACHEPREFIX": str(work / "pycache")},
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "results.json").write_text(
        json.dumps(results, indent=2) + "\n", encoding="utf-8"
    )
    page = markdown(results)
    (options.output / "results.md").write_text(page, encoding="utf-8")
    sys.stdout.write(page)


if __name__ == "__main__":
    main()
