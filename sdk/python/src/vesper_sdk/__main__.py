"""``python -m vesper_sdk``: the command line (see :mod:`vesper_sdk.cli`)."""

import sys

from .cli import main

sys.exit(main())
