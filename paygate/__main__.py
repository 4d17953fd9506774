"""``python -m paygate``."""

import sys

from paygate.cli import main

sys.exit(main())
