"""``python -m surprisal`` is the ``surprisal`` command."""

import sys

from .cli import main

sys.exit(main())
