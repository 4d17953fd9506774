"""Build a Vite UI folder when its build is missing or stale: ``npm ci``, then ``npm run build``.

Generic over UI folders (the checkout, the dashboard): each has ``package.json``, ``package-lock.json`` and
builds into ``dist/``. Node.js 18 or newer is a prerequisite only when a build is actually needed, so a
container holding a fresh ``dist/`` never needs Node.
"""

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: Oldest Node.js major version the UIs build with (Vite 5).
MIN_NODE = 18
#: Folders under a UI folder that are outputs or installs, never sources.
_NOT_SOURCES = {"node_modules", "dist", ".vite"}


class UIBuildError(RuntimeError):
    """Raised when a UI cannot be built: Node.js or npm missing or too old, or npm failing."""


def _files(root: Path, skip: set[str]) -> Iterator[Path]:
    for path in root.iterdir():
        if path.name in skip or path.name.startswith(".uibuild"):
            continue
        if path.is_dir():
            yield from _files(path, set())
        elif path.is_file():
            yield path


def _newest(paths: Iterator[Path]) -> float:
    return max((p.stat().st_mtime for p in paths), default=0.0)


def _dist_is_fresh(ui_dir: Path, dist: Path) -> bool:
    built = [p.stat().st_mtime for p in _files(dist, set())] if dist.is_dir() else []
    return bool(built) and min(built) >= _newest(_files(ui_dir, _NOT_SOURCES))


def _installed_marker(ui_dir: Path) -> Path:
    """Touched after each successful ``npm ci``: it dates the installed tree (npm's own marker is not written
    for a project without dependencies)."""
    return ui_dir / "node_modules" / ".uibuild-installed"


def _modules_are_fresh(ui_dir: Path) -> bool:
    marker = _installed_marker(ui_dir)
    lock = ui_dir / "package-lock.json"
    return marker.is_file() and (not lock.is_file() or marker.stat().st_mtime >= lock.stat().st_mtime)


def _npm() -> str:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise UIBuildError(f"Node.js {MIN_NODE}+ and npm are needed to build the UI: install them and run again")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    major = int(version.lstrip("v").split(".")[0] or 0) if version.lstrip("v")[:1].isdigit() else 0
    if major < MIN_NODE:
        raise UIBuildError(f"Node.js {MIN_NODE}+ is needed to build the UI; found {version or 'an unknown version'}")
    return npm


def _run(npm: str, ui_dir: Path, *args: str) -> None:
    print(f"paygate: {ui_dir.name}: npm {' '.join(args)}", file=sys.stderr, flush=True)
    # npm's output goes to our stderr, so the operator sees its progress and any error as it happens.
    done = subprocess.run([npm, *args], cwd=ui_dir, stdout=sys.stderr, stderr=sys.stderr, check=False)  # noqa: S603
    if done.returncode != 0:
        raise UIBuildError(f"`npm {' '.join(args)}` failed in {ui_dir} (exit {done.returncode}); see its output above")


def ensure_built(ui_dir: Path) -> Path:
    """The ``dist`` folder of ``ui_dir``, built first if it is missing or older than any source file.

    Runs ``npm ci`` first when ``node_modules`` is missing or older than ``package-lock.json``. Concurrent
    callers (several processes starting at once) wait for one build instead of racing.

    Raises:
        UIBuildError: Node.js/npm missing or older than 18, or npm failing.
    """
    ui_dir = ui_dir.resolve()
    dist = ui_dir / "dist"
    if _dist_is_fresh(ui_dir, dist):
        return dist
    with open(ui_dir / ".uibuild.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _dist_is_fresh(ui_dir, dist):  # another process built it while we waited
            return dist
        npm = _npm()
        if not _modules_are_fresh(ui_dir):
            _run(npm, ui_dir, "ci", "--no-audit", "--no-fund")
            _installed_marker(ui_dir).parent.mkdir(exist_ok=True)
            _installed_marker(ui_dir).touch()
        _run(npm, ui_dir, "run", "build")
    if not _dist_is_fresh(ui_dir, dist):
        raise UIBuildError(f"`npm run build` in {ui_dir} left no fresh dist/")
    return dist
