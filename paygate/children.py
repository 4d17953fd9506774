"""Child processes that end with their parent."""

import signal
import sys


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (elsewhere: nothing), so that a parent killed
    outright leaves nothing running: a part of ``paygate run``, a process serving the API."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
