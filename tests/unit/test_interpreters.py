"""paygate/interpreters.py: make's venv gets the fastest Python 3.11+ on PATH, each found once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paygate import interpreters

SCRIPT = Path(interpreters.__file__)


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


#: Runs the code it is given with a trace hook on every line: the same work, several times the CPU.
TRACED = """import sys
def trace(*args):
    sum(range(50))  # some work on every event
    return trace
sys.settrace(trace)
exec(compile(sys.argv[1], "<work>", "exec"))
"""


def slowed(path: Path) -> Path:
    """This interpreter, traced line by line (called as ``cpu_s`` calls it: ``-I -c CODE``)."""
    hook = path.with_suffix(".py")
    hook.write_text(TRACED)
    return executable(path, f'#!/bin/sh\nexec {sys.executable} -I {hook} "$3"\n')


def plain(path: Path) -> Path:
    return executable(path, f'#!/bin/sh\nexec {sys.executable} "$@"\n')


def test_the_fastest_is_chosen_whatever_its_place(tmp_path: Path) -> None:
    fast, slow = plain(tmp_path / "fast"), slowed(tmp_path / "slow")
    assert interpreters.cpu_s(str(slow)) > 1.5 * interpreters.cpu_s(str(fast))  # the meter tells them apart
    assert interpreters.fastest([str(slow), str(fast)]) == str(fast)
    assert interpreters.fastest([str(fast), str(slow)]) == str(fast)


def test_each_interpreter_counts_once_and_only_those_that_can_make_a_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two, old = tmp_path / "one", tmp_path / "two", tmp_path / "old"
    for folder in (one, two, old):
        folder.mkdir()
    (one / "python3").symlink_to(sys.executable)
    (two / "python3.11").symlink_to(sys.executable)  # the same interpreter under another name and folder
    executable(old / "python3.13", "#!/bin/sh\nexit 1\n")  # too old, or no venv: its probe fails
    (old / "python").write_text("not executable")
    path = os.pathsep.join(str(f) for f in (old, one, two))
    real = os.path.realpath(sys.executable)

    monkeypatch.setenv("PATH", path)
    assert interpreters.candidates() == [real]

    # As make runs it: isolated, and the one interpreter printed with nothing measured.
    done = subprocess.run(
        [sys.executable, "-I", str(SCRIPT)], env={"PATH": path}, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == real
    assert done.stderr == ""


def test_no_interpreter_is_a_clear_failure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-I", str(SCRIPT)], env={"PATH": str(tmp_path)}, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Python 3.11 or newer" in done.stderr
