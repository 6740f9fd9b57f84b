"""NT1, the notifications folder: hub registration and the four Customer events.

Runs in the ``strict`` profile after every other folder, or alone with
``--notifications`` (``--ctk-notifications`` under pytest); in the ``ctk``
profile the plugin deselects it, so the kit's counts never change. The whole folder is
one test: its requests depend on each other (the subscription, the customer),
and each is recorded in the run as its own execution.
"""

from __future__ import annotations

import pytest

from ctk_runner.model import failure_lines
from ctk_runner.notifications.folder import FOLDER, NotificationFolder
from ctk_runner.plugin import FOLDER_ATTRIBUTE, PROFILE_ATTRIBUTE
from ctk_runner.runner import CtkSession


def test_nt1_notifications(ctk: CtkSession) -> None:
    """POST /hub, create, patch, delete with their events; DELETE /hub, then silence."""
    if not (ctk.settings.notifications or ctk.strict):
        pytest.skip("the notifications folder runs in the strict profile or with "
                    "--notifications")
    folder = NotificationFolder(ctk)
    executions = folder.run()
    lines = failure_lines(executions, ctk.settings.profile)
    if folder.aborted and not lines:
        lines.append(folder.aborted)
    if lines:
        pytest.fail(f"{FOLDER}:\n" + "\n".join(lines), pytrace=False)


setattr(test_nt1_notifications, FOLDER_ATTRIBUTE, FOLDER)
# Deselected (neither run nor counted) in the ctk profile, unless --notifications.
setattr(test_nt1_notifications, PROFILE_ATTRIBUTE, "strict")
