"""X1, TMF630 behaviours the kit does not test; strict profile only.

Paging (206, count headers, Link), filtered totals, an operator filter,
sorting, ``fields=none``, merge-patch and JSON Patch round trips, 415 for an
unsupported PATCH media type, 400 with a TMF Error for an invalid payload and
DELETE then 404. The folder is one test, since its requests build on each
other (the customers it creates); each request is recorded in the run as its
own execution, after the kit's 15. In the ``ctk`` profile the plugin
deselects this test, so the kit's part of the run stays as the kit has it.
"""

from __future__ import annotations

import pytest

from ctk_runner.model import failure_lines
from ctk_runner.plugin import FOLDER_ATTRIBUTE, PROFILE_ATTRIBUTE, REQUEST_ATTRIBUTE
from ctk_runner.runner import CtkSession
from ctk_runner.strict.x1 import FOLDER, SCENARIOS, X1Folder


def test_x1_tmf630(ctk: CtkSession) -> None:
    """Requests 16-31: create two customers, query, patch, refuse, delete them."""
    executions = X1Folder(ctk).run()
    lines = failure_lines(executions, ctk.settings.profile)
    if lines:
        pytest.fail(f"{FOLDER}:\n" + "\n".join(lines), pytrace=False)


# Ordered right after the kit's requests; the plugin runs it in the strict profile only.
setattr(test_x1_tmf630, REQUEST_ATTRIBUTE, SCENARIOS[0].number)
setattr(test_x1_tmf630, FOLDER_ATTRIBUTE, FOLDER)
setattr(test_x1_tmf630, PROFILE_ATTRIBUTE, "strict")
