"""``-o FILE`` with the manners of a shell's ``>``: only a regular file is ever replaced, and a
replaced file keeps what ``>`` would keep (mode, owner, hard links, our stdout's earlier output);
what ``>`` refuses is refused; an interrupted write leaves nothing behind."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_hardening import ENV, ROOT, SMALL, convcalc

NOBODY = 65534
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Path]:
    """A directory everyone may write (the test's own tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="convcalc-shared-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def lazy_imports(module: Path) -> list[str]:
    """The modules ``module``'s functions import when called (start-up speed keeps them out of
    its top level)."""
    tree = ast.parse(module.read_text())
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    return sorted(
        {
            alias.name if isinstance(node, ast.Import) else str(node.module)
            for function in functions
            for node in ast.walk(function)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
    )


OUTPUT_IMPORTS = lazy_imports(ROOT / "convcalc" / "cli" / "output.py")


def write_as(user: int, target: Path, text: str = "new\n") -> subprocess.CompletedProcess[str]:
    """``write_output(target, [text])`` in a child process running as ``user``. Root switches to
    it once every module writing may need is loaded, those ``write_output`` imports when called
    too: the interpreter itself may not be readable by that user (one under /root), and only a
    site hook that happened to import them first would hide it."""
    code = (
        "import importlib, os, sys\n"
        "from pathlib import Path\n"
        "from convcalc.cli.output import write_output\n"
        "from convcalc.errors import OutputError\n"
        f"for name in {OUTPUT_IMPORTS!r}:\n"
        "    importlib.import_module(name)\n"
        f"if os.geteuid() != {user}:\n"
        "    os.setgroups([]); os.setgid({user}); os.setuid({user})\n".replace("{user}", str(user))
        + "try:\n"
        f"    write_output(Path({str(target)!r}), [{text!r}])\n"
        "except OutputError as error:\n"
        "    sys.exit(str(error))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=False
    )


def test_the_lazy_imports_of_writing_are_found() -> None:
    assert {"shutil", "tempfile"} <= set(OUTPUT_IMPORTS)


def test_a_file_without_write_permission_is_refused_as_a_shell_would(shared: Path) -> None:
    user = NOBODY if IS_ROOT else os.geteuid()
    target = shared / "locked.txt"
    target.write_text("keep\n")
    target.chmod(0o444)
    if IS_ROOT:
        os.chown(target, NOBODY, NOBODY)
    result = write_as(user, target)
    assert result.returncode == 1
    assert result.stderr == f"cannot write {target}: Permission denied\n"
    assert target.read_text() == "keep\n"
    assert sorted(path.name for path in shared.iterdir()) == ["locked.txt"]


@pytest.mark.skipif(not IS_ROOT, reason="needs a file owned by another user (run as root)")
def test_a_file_of_another_owner_keeps_its_owner(shared: Path) -> None:
    target = shared / "roots.txt"
    target.write_text("old\n")
    target.chmod(0o666)
    before = target.stat()
    result = write_as(NOBODY, target)
    assert result.returncode == 0, result.stderr
    after = target.stat()
    assert (after.st_uid, after.st_gid, after.st_ino) == (
        before.st_uid,
        before.st_gid,
        before.st_ino,
    )
    assert target.read_text() == "new\n"
    assert sorted(path.name for path in shared.iterdir()) == ["roots.txt"]


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("old\n")
    target.chmod(0o604)
    assert write_as(os.geteuid(), target).returncode == 0
    assert target.stat().st_mode & 0o7777 == 0o604
    assert target.read_text() == "new\n"


def test_a_hard_linked_file_keeps_its_links(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("old\n")
    other = tmp_path / "other.txt"
    other.hardlink_to(target)
    inode = target.stat().st_ino
    assert write_as(os.geteuid(), target).returncode == 0
    assert target.stat().st_ino == inode
    assert other.read_text() == "new\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["other.txt", "report.txt"]


def test_a_name_of_255_characters_is_written(tmp_path: Path) -> None:
    target = tmp_path / ("r" * 251 + ".txt")
    result = convcalc("analyze", "-", "-o", str(target), stdin=SMALL.encode())
    assert result.returncode == 0, result.stderr
    assert "conv1" in target.read_text()


@pytest.mark.parametrize(
    "command", [["analyze", "-"], ["layer", "--in", "3x8x8", "--filters", "2x3"]]
)
def test_a_symlink_loop_is_one_clean_error(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "l2").symlink_to("l1")
    (tmp_path / "l1").symlink_to("l2")
    result = convcalc(*command, "-o", "l1", stdin=SMALL.encode(), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode() == "cannot write l1: Too many levels of symbolic links\n"
    assert (tmp_path / "l1").is_symlink() and (tmp_path / "l2").is_symlink()


def test_output_to_our_own_stdout_writes_into_it(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    with log.open("wb") as stream:
        stream.write(b"earlier\n")
        stream.flush()
        inode = os.fstat(stream.fileno()).st_ino
        result = subprocess.run(
            [sys.executable, "-m", "convcalc", "analyze", "-", "--json", "-o", "/dev/stdout"],
            input=SMALL.encode(),
            stdout=stream,
            stderr=subprocess.PIPE,
            env=ENV,
            cwd=ROOT,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert log.stat().st_ino == inode
    text = log.read_text()
    assert text.startswith("earlier\n{")
    assert text.endswith("}\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["log.txt"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path: Path, signum: int) -> None:
    target = tmp_path / "report.json"
    target.write_text("previous")
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from convcalc.cli import main\n"
        "import convcalc.report as report\n"
        "chunks = report.json_chunks\n"
        "def stopped(report):\n"
        "    yield from chunks(report)\n"
        f"    os.kill(os.getpid(), {int(signum)})\n"
        "report.json_chunks = stopped\n"
        f"sys.argv = ['convcalc', 'analyze', '-', '--json', '-o', {str(target)!r}]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=SMALL.encode(),
        capture_output=True,
        env=ENV,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 128 + signum
    assert result.stderr == b""
    assert target.read_text() == "previous"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.parametrize("command", [["analyze", "-", "--json"], ["draw", "-", "--format", "dot"]])
def test_dash_as_output_is_stdout(tmp_path: Path, command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convcalc", *command, "-o", "-"],
        input=SMALL.encode(),
        capture_output=True,
        env=ENV,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = subprocess.run(
        [sys.executable, "-m", "convcalc", *command],
        input=SMALL.encode(),
        capture_output=True,
        env=ENV,
        cwd=tmp_path,
        check=False,
    )
    assert result.stdout == expected.stdout != b""
    assert list(tmp_path.iterdir()) == []
