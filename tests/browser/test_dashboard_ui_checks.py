"""The dashboard's own checks, so `make test` runs them too: Vitest component tests, ESLint and tsc."""

import shutil
import subprocess

import pytest
from dashkit import ROOT

from paygate.uibuild import ensure_built

UI = ROOT / "dashboard_ui"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("script", ["test", "lint", "typecheck"])
def test_the_dashboard_passes_its_npm_script(script: str) -> None:
    ensure_built(UI)  # installs node_modules when missing or stale
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed for the dashboard"
    done = subprocess.run([npm, "run", script], cwd=UI, capture_output=True, timeout=240, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr).decode(errors="replace")[-4000:]
