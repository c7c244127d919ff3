"""Hostile and broken input, pipes, signals and files: every limit is a one-line error with exit
status 1, and convcalc behaves like a Unix tool (quiet on a closed pipe, 130 on Ctrl-C, atomic
``-o``, plain text without a terminal). Subprocess tests run ``python -m convcalc`` from this tree.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app
from convcalc.loader import MAX_EXPANSIONS, parse_spec
from convcalc.sources import MAX_SPEC_BYTES
from convcalc.tensors import MAX_DIMENSION
from convcalc.yamlnodes import MAX_DEPTH, MAX_NODES
from tests.terminal import read_until_closed

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
SMALL = "input: 3x8x8\nlayers:\n  - conv: {filters: 4, kernel: 3, pad: 1}\n  - relu\n"


def convcalc(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[bytes]:
    """Run the command line in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args],
        input=stdin,
        capture_output=True,
        env=env or ENV,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def analyze(text: str | bytes) -> tuple[int, str, str]:
    """``analyze - --json`` in-process: exit status, stdout, stderr."""
    data = text.encode() if isinstance(text, str) else text
    result = CliRunner().invoke(app, ["analyze", "-", "--json"], input=data)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def refused(text: str | bytes, *fragments: str) -> str:
    """Assert the spec fails with exit 1 and one located line containing ``fragments``."""
    status, stdout, stderr = analyze(text)
    assert status == 1, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("<stdin>"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture(scope="module")
def big_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec of 1,000 layers: its output (≥ 90 KiB in every format) is more than a pipe holds."""
    path = tmp_path_factory.mktemp("big") / "big.yaml"
    lines = ["input: 3x16x16", "layers:"]
    lines += ["  - conv: {filters: 3, kernel: 3, pad: 1}"] * 1_000
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def slow_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec that takes seconds to analyze with ``SLOW_VIEWS`` (50,000 named convs), to
    interrupt."""
    path = tmp_path_factory.mktemp("slow") / "slow.yaml"
    lines = ["input: 3x16x16", "layers:"]
    lines += [
        f"  - {{conv: {{filters: {3 + n % 2}, kernel: 3, pad: 1}}, name: c{n}}}"
        for n in range(50_000)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


SLOW_VIEWS = ["--json", "--train", "--jacobian"]


# --- limits ------------------------------------------------------------------------------------


def test_a_spec_larger_than_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_SPEC_BYTES + b"\n")
    result = convcalc("analyze", str(path))
    assert result.returncode == 1
    assert result.stderr.decode().strip() == f"{path}: the spec is larger than 16 MiB"


def test_empty_and_binary_input_are_clean_errors() -> None:
    refused("", "the spec is empty")
    refused("   \n# only a comment\n", "the spec is empty")
    refused(b"\xff\xfe\x00\x81binary", "not UTF-8")
    refused("input: 3x8x8\nlayers: [relu]\x00\n", "NUL")


def test_python_tags_are_refused_without_constructing_anything() -> None:
    line = refused("input: 3x8x8\nlayers: !!python/object/apply:os.system [echo]\n", "YAML tag")
    assert "!!python/object/apply:os.system" in line
    refused("input: !!python/object:os.system 3\nlayers: [relu]\n", "YAML tag !!python/object")
    refused("input: 3x8x8\nlayers: !!set {relu: null}\n", "YAML tag !!set")
    refused("input: !!binary aGVsbG8=\nlayers: [relu]\n", "YAML tag !!binary")


def test_an_unquoted_date_is_read_as_text() -> None:
    status, stdout, _ = analyze("name: 2024-05-01\n" + SMALL)
    assert status == 0
    assert '"name": "2024-05-01"' in stdout


def test_billion_laughs_through_layer_lists_is_refused_quickly() -> None:
    lines = ["input: 3x8x8", "blocks:"]
    lines.append("  b0: {layers: &l0 [relu, relu, relu, relu, relu, relu, relu, relu, relu, relu]}")
    for level in range(1, 9):
        items = ", ".join([f"{{repeat: {{times: 1, layers: *l{level - 1}}}}}"] * 10)
        lines.append(f"  b{level}: {{layers: &l{level} [{items}]}}")
    lines.append("layers: *l8")
    started = time.perf_counter()
    # Counted while the YAML is read, aliases expanded: refused before any layer is built.
    refused("\n".join(lines), f"more than {MAX_NODES:,} YAML nodes once its aliases are expanded")
    assert time.perf_counter() - started < 10


def test_billion_laughs_as_options_is_refused_while_reading() -> None:
    value = "&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"
    for level in range(1, 10):
        value = f"&a{level} [{value}, " + ", ".join([f"*a{level - 1}"] * 9) + "]"
    started = time.perf_counter()
    refused(
        f"input: 3x8x8\nlayers: [{{conv: {{filters: 3, kernel: {value}}}}}]\n",
        f"more than {MAX_NODES:,} YAML nodes once its aliases are expanded",
    )
    assert time.perf_counter() - started < 10


def test_a_list_of_layers_that_contains_itself_is_an_error() -> None:
    loop = "{repeat: {times: 2, layers: *a}}"
    text = f"input: 3x8x8\nlayers: &a [relu, {loop}, {loop}]\n"
    status, _, stderr = analyze(text)
    assert status == 1
    assert "an alias refers to a collection that contains it" in stderr
    assert "Traceback" not in stderr


def test_blocks_multiplying_their_variants_are_stopped() -> None:
    count = 20
    params = ", ".join(f"p{i}: 0" for i in range(count))
    lines = ["input: 3x8x8", "blocks:", f"  b0: {{params: {{{params}}}, layers: [relu]}}"]
    for level in range(1, count + 1):
        uses = []
        for bit in (0, 1):
            values = ", ".join([f"p0: {bit}"] + [f"p{i}: $p{i - 1}" for i in range(1, count)])
            uses.append(f"{{use: b{level - 1}, with: {{{values}}}}}")
        lines.append(f"  b{level}: {{params: {{{params}}}, layers: [{', '.join(uses)}]}}")
    lines.append(f"layers: [{{use: b{count}}}]")
    started = time.perf_counter()
    refused("\n".join(lines), f"more than {MAX_EXPANSIONS:,}")
    assert time.perf_counter() - started < 20


@pytest.mark.parametrize(
    "layers",
    [
        "[" * 100_000 + "relu" + "]" * 100_000,
        "{a: " * 100_000 + "1" + "}" * 100_000,
        "[{residual: {body: " * 5000 + "[relu]" + "}}]" * 5000,
    ],
    ids=["lists", "mappings", "residuals"],
)
def test_deep_nesting_is_an_error_not_a_crash(layers: str) -> None:
    # Before the depth was counted while composing, 1,000,000 brackets crashed PyYAML's C
    # composer (a segfault); this runs in a subprocess so that such a crash fails the test.
    result = convcalc("analyze", "-", stdin=f"input: 3x8x8\nlayers: {layers}\n".encode())
    assert result.returncode == 1
    assert f"nests deeper than {MAX_DEPTH} levels" in result.stderr.decode()


def test_nesting_through_aliases_is_bounded_too() -> None:
    lines = ["input: 3x8x8", "l0: &l0 [relu]"]
    lines += [f"l{n}: &l{n} [{{residual: {{body: *l{n - 1}}}}}]" for n in range(1, 300)]
    lines.append("layers: *l299")
    status, _, stderr = analyze("\n".join(lines))
    assert status == 1
    # 300 unknown keys l0…l299 are the first 100 problems shown and 200 of those counted; the
    # 301st problem is the nesting.
    *shown, more = stderr.splitlines()
    assert len(shown) == 100 and more == "… and 201 more problems"
    assert all(line.startswith("<stdin>:") for line in shown)


def test_a_repeat_count_beyond_the_limit_is_refused_before_expanding() -> None:
    refused("input: 3x8x8\nlayers: [{repeat: {times: 1000000000000, layers: [relu]}}]\n", "times")
    text = (
        "input: 3x8x8\nlayers: [{repeat: {times: 100000, layers: "
        "[{repeat: {times: 100000, layers: [relu]}}]}}]\n"
    )
    started = time.perf_counter()
    refused(text, "10,000,000,000 layers")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("layer", "option"),
    [
        ("{conv: {filters: 1000000000000000000000000000000, kernel: 3}}", "filters"),
        ("{conv: {filters: 3, kernel: 100000000000000000000}}", "kernel"),
        ("{conv: {filters: 3, kernel: 3, stride: [1, 4294967296]}}", "stride"),
        ("{conv: {filters: 3, kernel: 3, pad: 99999999999}}", "pad"),
        ("{deconv: {filters: 3, kernel: 3, output_padding: 99999999999}}", "output_padding"),
        ("{fc: {out: 10000000000000}}", "out"),
        ("{adaptiveavgpool: {output: 3000000000}}", "output"),
        ("{groupnorm: {groups: 3000000000}}", "groups"),
    ],
)
def test_numbers_too_large_for_a_real_tensor_are_refused(layer: str, option: str) -> None:
    line = refused(f"input: 3x8x8\nlayers: [{layer}]\n", f"{option}: ", "larger than any real")
    assert f"{MAX_DIMENSION:,}" in line


def test_huge_input_and_batch_are_refused() -> None:
    refused("input: 3x1000000000000x8\nlayers: [relu]\n", "input: ", "larger than any real")
    refused("input: 3x8x8\nbatch: 1000000000000\nlayers: [relu]\n", "batch: ")


def test_non_finite_floats_are_refused() -> None:
    refused("input: 3x8x8\nlayers: [{bn: {eps: .inf}}]\n", "eps: expected a finite number")
    refused("input: 3x8x8\nlayers: [{dropout: {p: .nan}}]\n", "p: expected a finite number")


def test_a_network_that_grows_beyond_any_real_tensor_stops_there() -> None:
    text = (
        "input: 1x1000x1000\nlayers: [{repeat: {times: 10, "
        "layers: [{deconv: {filters: 1, kernel: 1, stride: 2147483647}}]}}]\n"
    )
    refused(text, "larger than any real tensor", "repeat1.deconv1")


def test_strides_that_overflow_the_receptive_field_stop_there() -> None:
    text = (
        "input: 3x8x8\nlayers: [{repeat: {times: 40, "
        "layers: [{conv: {filters: 3, kernel: 1, stride: 2147483647}}]}}]\n"
    )
    refused(text, "receptive field overflows")


def test_huge_strides_and_windows_cost_no_loop() -> None:
    # These were loops over the stride, the output size or the input size.
    started = time.perf_counter()
    status, _, stderr = analyze(
        "input: 1x1x1\nlayers: [{deconv: {filters: 1, kernel: 1, stride: 2147483647}}]\n"
    )
    assert status == 0, stderr
    status, _, stderr = analyze(
        "input: 1x2147483647x1\nlayers: [{adaptivemaxpool: {output: [2147483646, 1]}}]\n"
    )
    assert status == 0, stderr
    status, _, stderr = analyze(
        "input: 1x2147483647x3\nlayers: [{residual: {body: [{conv: {filters: 2, kernel: 1, "
        "stride: [2147483646, 1]}}], shortcut: project}}]\n"
    )
    assert status == 0, stderr
    assert time.perf_counter() - started < 5


def test_messages_from_spec_text_stay_on_one_line_without_escapes() -> None:
    text = 'input: 3x8x8\nlayers: [{conv: {filters: 3, kernel: 9}, name: "a\\nb\\e[31m"}]\n'
    line = refused(text, "kernel covers 9")
    assert "\x1b" not in line
    assert "\\n" in line


def test_rich_markup_in_a_name_is_printed_as_text() -> None:
    result = CliRunner().invoke(app, ["analyze", "-"], input='name: "[/x] [bold]"\n' + SMALL)
    assert result.exit_code == 0, result.stderr
    assert "[/x] [bold]" in result.stdout


def test_traceback_flag_shows_the_traceback_on_purpose() -> None:
    result = convcalc("analyze", "-", "--traceback", stdin=b"input: 3x8x8\nlayers: [nope]\n")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "Traceback (most recent call last)" in stderr
    assert "SpecError" in stderr
    quiet = convcalc("analyze", "-", stdin=b"input: 3x8x8\nlayers: [nope]\n")
    assert quiet.stderr.decode().count("\n") == 1
    assert "Traceback" not in quiet.stderr.decode()


def test_the_library_raises_only_convcalc_errors() -> None:
    from convcalc.errors import ConvcalcError

    for text in ("", "[", "input: [3, 8]\nlayers: relu", "input: 3x8x8\nlayers: [{conv: 7}]"):
        with pytest.raises(ConvcalcError):
            parse_spec(text, "t.yaml")


# --- Unix manners -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "table", "csv"])
def test_a_closed_pipe_ends_the_run_quietly(big_spec: Path, fmt: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "convcalc", "analyze", str(big_spec), "--format", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()  # as `| head -1` does, then goes away
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    status = process.wait(timeout=120)
    assert first
    assert stderr == ""
    assert status == 0


def test_ctrl_c_exits_130_without_a_traceback(slow_spec: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "convcalc", "analyze", str(slow_spec), *SLOW_VIEWS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    time.sleep(1.5)  # past the imports, into reading and analyzing
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert b"Traceback" not in stderr


def test_output_file_is_written_whole_and_keeps_its_permissions(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(SMALL)
    out = tmp_path / "report.json"
    out.write_text("previous")
    out.chmod(0o640)
    result = convcalc("analyze", str(spec), "--json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("{") and out.read_text().endswith("}\n")
    assert out.stat().st_mode & 0o777 == 0o640
    assert [path.name for path in tmp_path.iterdir()] == sorted(["net.yaml", "report.json"]) or {
        path.name for path in tmp_path.iterdir()
    } == {"net.yaml", "report.json"}


def test_a_failed_run_leaves_the_output_file_untouched(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("input: 3x8x8\nlayers: [{conv: {filters: 3, kernel: 99}}]\n")
    out = tmp_path / "report.json"
    out.write_text("previous")
    result = convcalc("analyze", str(spec), "--json", "-o", str(out))
    assert result.returncode == 1
    assert out.read_text() == "previous"
    assert {path.name for path in tmp_path.iterdir()} == {"bad.yaml", "report.json"}


def test_an_interrupted_run_leaves_no_partial_file(tmp_path: Path, slow_spec: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("previous")
    process = subprocess.Popen(
        [sys.executable, "-m", "convcalc", "analyze", str(slow_spec), *SLOW_VIEWS, "-o", str(out)],
        stderr=subprocess.PIPE,
        env=ENV,
    )
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode in (0, 130)
    text = out.read_text()
    assert text == "previous" or (text.startswith("{") and text.endswith("}\n"))
    assert {path.name for path in tmp_path.iterdir()} == {"report.json"}


def test_an_unwritable_output_is_a_clean_error(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(SMALL)
    result = convcalc("analyze", str(spec), "-o", str(tmp_path / "missing" / "out.txt"))
    assert result.returncode == 1
    assert result.stderr.decode().startswith("cannot write")
    result = convcalc("analyze", str(spec), "-o", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink", "dot"])
def test_output_never_overwrites_the_spec(tmp_path: Path, how: str) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(SMALL)
    work = tmp_path / "sub"
    work.mkdir()
    target = {
        "same": str(spec),
        "relative": "../net.yaml",
        "dot": "./../sub/../net.yaml",
        "symlink": "link.yaml",
        "hardlink": "hard.yaml",
    }[how]
    if how == "symlink":
        (work / "link.yaml").symlink_to(spec)
    if how == "hardlink":
        (work / "hard.yaml").hardlink_to(spec)
    result = convcalc("analyze", str(spec), "--json", "-o", target, cwd=work)
    assert result.returncode == 1
    assert "would overwrite the spec" in result.stderr.decode()
    assert spec.read_text() == SMALL


def test_output_through_a_symlink_replaces_the_file_it_points_to(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(SMALL)
    real = tmp_path / "real.json"
    real.write_text("previous")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = convcalc("analyze", str(spec), "--json", "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert real.read_text().startswith("{")


def test_piped_tables_and_no_color_are_plain_text() -> None:
    piped = convcalc("analyze", "-", stdin=SMALL.encode())
    assert piped.returncode == 0
    assert b"\x1b[" not in piped.stdout
    assert b"conv1" in piped.stdout


def test_no_color_on_a_terminal_is_plain_text() -> None:
    pty = pytest.importorskip("pty")
    for no_color, expect_escapes in (("1", False), ("", True)):
        env = {**ENV, "NO_COLOR": no_color, "TERM": "xterm-256color", "COLUMNS": "160"}
        env.pop("FORCE_COLOR", None)
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "convcalc", "analyze", "zoo:cs231n"],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(follower)
        written = read_until_closed(leader)
        process.wait(timeout=60)
        os.close(leader)
        output = written
        assert process.returncode == 0
        assert b"conv" in output
        assert (b"\x1b[" in output) == expect_escapes, output[:200]


@pytest.mark.parametrize(
    "text",
    [
        SMALL,
        '{"input": [3, 8, 8], "layers": [{"conv": {"filters": 4, "kernel": 3, "pad": 1}}, "relu"]}',
    ],
    ids=["yaml", "json"],
)
def test_stdin_takes_yaml_and_json(text: str) -> None:
    result = convcalc("analyze", "-", "--json", stdin=text.encode())
    assert result.returncode == 0, result.stderr
    assert b'"output": [4, 8, 8]' in result.stdout


def test_stdin_errors_are_located_in_stdin() -> None:
    result = convcalc(
        "analyze", "-", stdin=b"input: 3x8x8\nlayers:\n  - conv: {filters: 0, kernel: 3}\n"
    )
    assert result.returncode == 1
    assert result.stderr.decode().startswith("<stdin>:3:")


def test_huge_numbers_on_the_command_line_are_refused() -> None:
    result = CliRunner().invoke(app, ["analyze", "zoo:cs231n", "--batch", "99999999999"])
    assert result.exit_code == 2
    # A flag's value out of range is a usage error, like --batch's.
    result = CliRunner().invoke(app, ["layer", "--in", "3x8x8", "--type", "fc", "--out", "1e13"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["layer", "--in", "3x8x8", "--type", "fc", "--out", "9" * 11])
    assert result.exit_code == 2
    assert "larger than any real tensor dimension" in result.stderr
    document = '{"input": [3, 8, 8], "batch": 100000000000000000000, "dtype": "float32", '
    document += '"layers": [{"output": [3, 8, 8]}], "totals": {"rf": null}}'
    result = CliRunner().invoke(app, ["layer", "--in", "-", "--type", "relu"], input=document)
    assert result.exit_code == 1
    assert result.stderr == (
        "--in -: batch from stdin: expected 1 to 2,147,483,647, got a 21-digit number\n"
    )


def test_a_network_of_empty_containers_is_an_error() -> None:
    # Found by the long fuzz run: this analyzed to a document without rows, exit 0.
    refused("input: 3x8x8\nlayers: [{repeat: {times: 3, layers: []}}]\n", "no layers")
    text = "input: 3x8x8\nblocks: {empty: {layers: []}}\nlayers: [{use: empty}]\n"
    refused(text, "no layers")


def test_a_list_where_the_dtype_belongs_is_an_error() -> None:
    # Found by the long fuzz run: `value in DTYPE_BYTES` raised TypeError (unhashable list).
    refused("input: 3x8x8\ndtype: [float32]\nlayers: [relu]\n", "dtype: expected one of")


def test_output_to_a_fifo_writes_into_it(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = convcalc("analyze", "zoo:lenet5", "--json", "-o", str(fifo))
    received, _ = reader.communicate(timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(received)["name"] == "lenet5"
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO, not replaced by a regular file


def shell(redirected: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """``python -m convcalc`` followed by ``redirected`` (arguments and a shell redirection)."""
    return subprocess.run(
        f'"{sys.executable}" -m convcalc {redirected}',
        shell=True,
        input=stdin,
        capture_output=True,
        env=ENV,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_a_table_into_a_closed_pipe_ends_quietly() -> None:
    process = shell("analyze zoo:resnet101 | true")
    assert process.returncode == 0
    assert process.stderr == b""


def test_a_closed_or_full_stdout_is_one_error_line() -> None:
    closed = shell("analyze zoo:lenet5 --json >&-")
    assert closed.returncode == 1
    assert closed.stderr.decode() == "cannot write to stdout: stdout is closed\n"
    full = shell("analyze zoo:lenet5 --json > /dev/full")
    assert full.returncode == 1
    assert full.stderr.decode() == "cannot write to stdout: No space left on device\n"
