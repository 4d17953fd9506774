"""Which Python makes the venv: of every Python 3.11+ on PATH that can make one, the fastest by a short measurement.

The same code costs different CPU on different builds of the same version: a build without profile-guided
optimisation and with a shared libpython (pyenv's default) spent 11-21 % more CPU a request on the API's hot
routes than Debian's own build of 3.11 on one machine (README, "Measured figures"). So ``make`` measures what
it finds rather than taking the first name on PATH.

Run by ``make`` with the first Python 3.11+ it finds, before any venv exists: the standard library only, and
run isolated (``python -I``), so nothing beside this file is imported. Prints the chosen interpreter's path;
the figures go to stderr.
"""

import os
import subprocess
import sys

#: Names looked for in every PATH directory, in order of preference when two measure the same.
NAMES = ("python3.13", "python3.12", "python3.11", "python3", "python")
#: What each candidate must print: its real path, if it is 3.11+ and can make a venv with pip in it.
PROBE = "import sys, ensurepip, venv; sys.version_info >= (3, 11) and print(sys.executable)"
#: Repetitions of the work in one timing; the least CPU of them is the candidate's figure for that round.
REPEAT = 15
ROUNDS = 3
#: Work of the kind the gateway does (dicts, strings, small objects, calls), about 5 ms on a 2026 core.
WORK = """
import time
class Row:
    __slots__ = ("key", "value")
    def __init__(self, key, value):
        self.key, self.value = key, value
def work():
    rows = {}
    for i in range(6000):
        key = f"pay_{i:08d}"
        rows[key] = Row(key, {"amount": i * 100, "status": "pending" if i % 3 else "success"})
    return sum(r.value["amount"] for r in rows.values() if r.value["status"] == "success")
best = float("inf")
for _ in range(REPEAT):
    t = time.process_time()
    work()
    best = min(best, time.process_time() - t)
print(best)
"""


def candidates() -> list[str]:
    """Every distinct interpreter on PATH that can make the venv, in PATH order of ``NAMES``."""
    found: dict[str, None] = {}
    for name in NAMES:
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            path = os.path.join(folder or ".", name)
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                continue
            try:
                # An executable of PATH, as the shell would run it.
                probe = subprocess.run(  # noqa: S603
                    [path, "-I", "-c", PROBE], capture_output=True, text=True, timeout=30
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            real = probe.stdout.strip()
            if probe.returncode == 0 and real:
                found.setdefault(os.path.realpath(real))
    return list(found)


def cpu_s(python: str) -> float:
    """The least CPU seconds ``python`` took for one run of ``WORK``."""
    work = WORK.replace("REPEAT", str(REPEAT))
    # One that passed the probe.
    out = subprocess.run(  # noqa: S603
        [python, "-I", "-c", work], capture_output=True, text=True, timeout=60, check=True
    )
    return float(out.stdout)


def fastest(pythons: list[str]) -> str:
    """The interpreter with the least CPU for the work, each measured in turn, ``ROUNDS`` times over."""
    if len(pythons) < 2:
        return pythons[0]
    best = {python: float("inf") for python in pythons}
    for _ in range(ROUNDS):
        for python in pythons:
            best[python] = min(best[python], cpu_s(python))
    chosen = min(pythons, key=lambda p: best[p])  # the earliest of equals: NAMES' order
    figures = ", ".join(f"{p} {best[p] * 1000:.2f} ms" for p in pythons)
    print(f"paygate: Python interpreters on PATH, CPU for the same work: {figures}", file=sys.stderr)
    return chosen


def main() -> int:
    pythons = candidates()
    if not pythons:
        print("Python 3.11 or newer, with venv and ensurepip, is required (none found on PATH)", file=sys.stderr)
        return 1
    print(fastest(pythons))
    return 0


if __name__ == "__main__":
    sys.exit(main())
