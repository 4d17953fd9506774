"""The UI build step: a shipped build is served as it is; a needed build without Node says so clearly."""

import os
from pathlib import Path

import pytest

from paygate.uibuild import UiBuildError, ensure_built


def test_a_folder_with_only_a_build_is_served_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html>")
    assert ensure_built(tmp_path) == tmp_path / "dist"


def test_a_build_needed_without_node_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "package-lock.json").write_text("{}")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UiBuildError, match=r"Node\.js is missing"):
        ensure_built(tmp_path)


def test_an_up_to_date_build_runs_no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("package.json", "package-lock.json", "src/main.tsx"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html>")
    old = (tmp_path / "src" / "main.tsx").stat().st_mtime - 10
    for name in ("package.json", "package-lock.json", "src/main.tsx"):
        os.utime(tmp_path / name, (old, old))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # npm would fail: nothing may call it
    assert ensure_built(tmp_path) == tmp_path / "dist"
    os.utime(tmp_path / "src" / "main.tsx")  # a source newer than the build needs npm again
    with pytest.raises(UiBuildError):
        ensure_built(tmp_path)
