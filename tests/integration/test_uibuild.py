"""paygate.uibuild on a tiny UI folder of its own: it builds when dist is missing or stale, and only then."""

import json
import os
import time
from pathlib import Path

import pytest

from paygate.uibuild import UIBuildError, ensure_built

#: A "build" that counts its runs, so the test sees whether ensure_built ran it.
BUILD = (
    "node -e \"const f=require('fs');f.mkdirSync('dist',{recursive:true});"
    "const n=f.existsSync('runs')?+f.readFileSync('runs','utf8')+1:1;f.writeFileSync('runs',String(n));"
    "f.writeFileSync('dist/index.html','built '+n)\""
)


@pytest.fixture
def ui(tmp_path: Path) -> Path:
    folder = tmp_path / "some_ui"
    (folder / "src").mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": "t", "private": True, "scripts": {"build": BUILD}}))
    lock = {"name": "t", "lockfileVersion": 3, "requires": True, "packages": {"": {"name": "t"}}}
    (folder / "package-lock.json").write_text(json.dumps(lock))
    (folder / "src" / "main.ts").write_text("export {};\n")
    return folder


def runs(ui: Path) -> int:
    return int((ui / "runs").read_text()) if (ui / "runs").exists() else 0


def older(*paths: Path) -> None:
    """Date ``paths`` ten seconds back, so that what is touched now is newer (mtimes can be coarse)."""
    t = time.time() - 10
    for path in paths:
        os.utime(path, (t, t))


def test_a_missing_build_is_installed_and_built_then_left_alone(ui: Path) -> None:
    dist = ensure_built(ui)
    assert (dist / "index.html").read_text() == "built 1"
    assert (ui / "node_modules" / ".uibuild-installed").exists()  # npm ci ran first
    ensure_built(ui)
    assert runs(ui) == 1


def test_a_changed_source_rebuilds_without_reinstalling(ui: Path) -> None:
    ensure_built(ui)
    marker = ui / "node_modules" / ".uibuild-installed"
    older(ui / "dist" / "index.html", marker, ui / "package-lock.json")
    installed = marker.stat().st_mtime
    (ui / "src" / "main.ts").touch()
    assert (ensure_built(ui) / "index.html").read_text() == "built 2"
    assert marker.stat().st_mtime == installed


def test_a_newer_lock_file_installs_again(ui: Path) -> None:
    ensure_built(ui)
    older(ui / "dist" / "index.html", ui / "node_modules" / ".uibuild-installed")
    (ui / "package-lock.json").touch()
    ensure_built(ui)
    assert (ui / "node_modules" / ".uibuild-installed").stat().st_mtime >= (ui / "package-lock.json").stat().st_mtime
    assert runs(ui) == 2


def test_without_node_a_needed_build_fails_with_a_clear_error(ui: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(ui))  # nothing there: no node, no npm
    with pytest.raises(UIBuildError, match=r"Node\.js 18\+ and npm are needed"):
        ensure_built(ui)


def test_without_node_a_fresh_build_is_served_as_it_is(ui: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_built(ui)
    monkeypatch.setenv("PATH", str(ui))
    assert (ensure_built(ui) / "index.html").read_text() == "built 1"
