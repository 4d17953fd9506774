"""The security suite: each repro of the attacker's report, against real processes. It reuses the e2e helpers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
