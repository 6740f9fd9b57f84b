"""ctk_runner: the TMF629 v4.0.0 conformance harness (CTK-Customer-4.0.0).

Runs the requests and tests of the TM Forum conformance kit against any
TMF629 Customer Management API root, as pytest tests, and writes
certification-style reports (HTML like Newman's, Newman-compatible JSON,
JUnit XML). Entry points: the ``ctk-runner`` command (:mod:`ctk_runner.cli`)
and the pytest plugin (:mod:`ctk_runner.plugin`).

The harness talks to its target over HTTP only; it never imports the sandbox.
"""

from __future__ import annotations

__version__ = "0.3.0"

__all__ = ["__version__"]
