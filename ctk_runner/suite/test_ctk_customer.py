"""CTK-Customer-4.0.0, one test per request of the chosen build, in the kit's order.

The requests come from the build's description (``--kit``, see
:mod:`ctk_runner.kit.builds`): ``certified`` has 15, ``published`` 10. The
tests share the ``ctk`` session: the create requests hold the created
customers' values (``IDCU01``, ``HREFCU01``, ...) that later requests put in
their URLs and compare against. Every check is recorded as an individual
assertion in the run (reports count them); a test fails when the request
failed, its test script stopped, or one of its assertions failed under the
verdict profile.

Without ``--target-url`` or ``--ctk-sandbox`` every test is skipped.
"""

from __future__ import annotations

import pytest

from ctk_runner.kit.builds import DEFAULT_BUILD, load
from ctk_runner.model import failure_lines
from ctk_runner.plugin import PLUGIN_KEY, REQUEST_PARAMETER
from ctk_runner.runner import CtkSession
from ctk_runner.scenarios import Scenario


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if REQUEST_PARAMETER not in metafunc.fixturenames:
        return
    plugin = metafunc.config.stash.get(PLUGIN_KEY, None)
    build = plugin.session.build if plugin is not None else load(DEFAULT_BUILD)
    metafunc.parametrize(
        REQUEST_PARAMETER, build.scenarios,
        ids=[f"{s.number:02d}-{s.folder}-{s.method}-{s.name}" for s in build.scenarios])


def test_kit_request(ctk: CtkSession, kit_request: Scenario) -> None:
    """Send the request, run its test script (and the strict checks in ``strict``)."""
    execution = ctk.execute(kit_request)
    lines = failure_lines([execution], ctk.settings.profile)
    if lines:
        pytest.fail("\n".join(lines), pytrace=False)
