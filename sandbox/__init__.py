"""TMF629 Customer Management API v4.0.0 sandbox: Flask over a file-backed TinyDB.

The public surface is :func:`create_app` and :class:`Config`; everything else
is internal to the sandbox.
"""

from sandbox.app import create_app
from sandbox.config import Config

__all__ = ["Config", "create_app"]
