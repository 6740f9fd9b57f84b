"""``python -m ctk_runner``: the same as the ``ctk-runner`` command."""

from __future__ import annotations

import sys

from ctk_runner.cli import main

sys.exit(main())
