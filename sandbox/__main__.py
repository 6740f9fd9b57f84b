"""``python -m sandbox``: the same as the ``tmf629-sandbox`` command."""

import sys

from sandbox.cli import main

sys.exit(main())
