"""Build a Vite UI when its build is missing or older than its sources: ``ensure_built(ui_dir) -> dist``.

``npm ci`` runs when ``node_modules`` is missing or older than ``package-lock.json``; ``npm run build`` when
``dist/index.html`` is missing or older than any source file. A folder that holds only a finished ``dist``
(a container image, say) is served as it is, without Node.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: Folders that are not sources: what npm and the build write.
_NOT_SOURCES = frozenset({"node_modules", "dist", ".vite", "coverage"})


class UiBuildError(RuntimeError):
    """Raised when a UI needs building and cannot be built (no Node.js, or npm failed)."""


def _newest_source(ui_dir: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(ui_dir):
        dirs[:] = [d for d in dirs if d not in _NOT_SOURCES and not d.startswith(".")]
        for name in files:
            newest = max(newest, (Path(root) / name).stat().st_mtime)
    return newest


def _npm(ui_dir: Path, *args: str) -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise UiBuildError(
            f"{ui_dir.name} needs building and Node.js is missing: install Node.js 18 or newer with npm "
            "(Debian: apt-get install nodejs npm), then start again"
        )
    print(f"paygate: {ui_dir.name}: npm {' '.join(args)}", file=sys.stderr)
    done = subprocess.run([npm, *args], cwd=ui_dir, check=False)  # noqa: S603 -- npm found on PATH, fixed args
    if done.returncode != 0:
        raise UiBuildError(f"{ui_dir.name}: `npm {' '.join(args)}` failed with exit code {done.returncode}")


def ensure_built(ui_dir: Path) -> Path:
    """The ``dist`` folder of the UI in ``ui_dir``, installed and built first when missing or stale.

    Raises:
        UiBuildError: a build is needed and Node.js/npm is missing, or npm failed.
    """
    dist, index = ui_dir / "dist", ui_dir / "dist" / "index.html"
    lock = ui_dir / "package-lock.json"
    if not lock.exists():
        if index.exists():
            return dist  # a shipped build without its sources
        raise UiBuildError(f"{ui_dir} holds neither a UI's sources nor a build")
    modules = ui_dir / "node_modules"
    if not modules.exists() or modules.stat().st_mtime < lock.stat().st_mtime:
        _npm(ui_dir, "ci", "--no-audit", "--no-fund")
        modules.touch()
    if not index.exists() or index.stat().st_mtime < _newest_source(ui_dir):
        _npm(ui_dir, "run", "build")
        index.touch()
    return dist
