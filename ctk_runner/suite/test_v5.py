"""``--api v5``: the TMF629 v5.0.1 suite derived from the OAS (folders V5 and NT5).

Deselected unless the run's ``--api`` is ``v5``, as the v4 kit's tests are when it
is. V5 runs in both profiles; NT5 (hub and events) in the strict profile, or alone
with ``--notifications``, like v4's NT1. Each folder is one test: its requests
build on each other; each is recorded in the run as its own execution.
"""

from __future__ import annotations

import pytest

from ctk_runner.model import failure_lines
from ctk_runner.plugin import (
    API_ATTRIBUTE,
    FOLDER_ATTRIBUTE,
    NOTIFICATIONS_FOLDER,
    PROFILE_ATTRIBUTE,
    REQUEST_ATTRIBUTE,
)
from ctk_runner.runner import CtkSession
from ctk_runner.v5.events import V5Notifications
from ctk_runner.v5.folder import FOLDER, SCENARIOS, V5Folder


def test_v5_customers(ctk: CtkSession) -> None:
    """Requests 1-17: creates, list, retrieve, fields, filters, PATCH types, errors, DELETE."""
    executions = V5Folder(ctk).run()
    lines = failure_lines(executions, ctk.settings.profile)
    if lines:
        pytest.fail(f"{FOLDER}:\n" + "\n".join(lines), pytrace=False)


def test_v5_notifications(ctk: CtkSession) -> None:
    """Requests 101-106: POST and GET /hub, the four events, DELETE /hub."""
    folder = V5Notifications(ctk)
    executions = folder.run()
    lines = failure_lines(executions, ctk.settings.profile)
    if folder.aborted and not lines:
        lines.append(folder.aborted)
    if lines:
        pytest.fail("NT5:\n" + "\n".join(lines), pytrace=False)


setattr(test_v5_customers, REQUEST_ATTRIBUTE, SCENARIOS[0].number)
setattr(test_v5_customers, API_ATTRIBUTE, "v5")
# The plugin's notification rules apply as to NT1: last, strict only unless --notifications.
setattr(test_v5_notifications, FOLDER_ATTRIBUTE, NOTIFICATIONS_FOLDER)
setattr(test_v5_notifications, PROFILE_ATTRIBUTE, "strict")
setattr(test_v5_notifications, API_ATTRIBUTE, "v5")
