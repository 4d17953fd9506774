"""``python -m paygate``."""

import sys

from paygate.cli import main

if __name__ == "__main__":
    sys.exit(main())
