"""Load a build of the kit from its description (``<name>.json`` beside this module).

A build is data: its requests in order (folder, name, description, method,
URL template, body, the created customer and attribute they are about) and
each request's test script as a list of steps. A new build of the kit is a
new description file, not new code.

* ``certified``: the build of the certification report (15 requests, two
  customers, ``href=`` filters, no PATCH). TM Forum publishes no collection
  of it; its description follows the report and SCENARIOS.md.
* ``published``: the collection TM Forum publishes (10 requests, one
  customer, a PATCH); its description follows that collection's scripts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, cast

from ctk_runner.scenarios import Kind, Scenario

#: The builds a user can pick with ``--kit``; the first is the default.
BUILDS: tuple[str, ...] = ("certified", "published")
DEFAULT_BUILD = BUILDS[0]

ValueNames = Literal["json", "js"]


@dataclass(frozen=True)
class Build:
    """One build of CTK-Customer-4.0.0."""

    name: str
    collection: str
    title: str
    source: str
    #: How a value check's name shows the held value: ``js`` as the published
    #: scripts concatenate it ("undefined", "[object Object]"), ``json`` as the
    #: certification report prints it ("null", JSON).
    value_names: ValueNames
    subjects: tuple[str, ...]
    folders: tuple[str, ...]
    scenarios: tuple[Scenario, ...]

    def scenario(self, number: int) -> Scenario:
        """Request ``number`` (1-based, in the kit's order)."""
        return self.scenarios[number - 1]


def _scenario(number: int, data: Mapping[str, Any]) -> Scenario:
    script = tuple(data.get("script", ()))
    status = next((step["status"][0] for step in script if "status" in step), 200)
    return Scenario(
        number=number,
        folder=data["folder"],
        name=data["name"],
        description=data["description"],
        method=data["method"],
        kind=cast(Kind, data["role"]),
        expected_status=int(status),
        template=data["url"],
        subject=data.get("subject"),
        attribute=data.get("attribute"),
        kit_tests=bool(script),
        script=script,
        body=data.get("body"),
    )


@functools.cache
def load(name: str) -> Build:
    """The build called ``name`` (one of :data:`BUILDS`)."""
    if name not in BUILDS:
        raise ValueError(f"unknown kit build {name!r}; choose one of {', '.join(BUILDS)}")
    text = resources.files("ctk_runner.kit").joinpath(f"{name}.json").read_text("utf-8")
    data = json.loads(text)
    return Build(
        name=data["name"],
        collection=data["collection"],
        title=data["title"],
        source=data["source"],
        value_names=cast(ValueNames, data["value_names"]),
        subjects=tuple(data["subjects"]),
        folders=tuple(data["folders"]),
        scenarios=tuple(_scenario(n, r) for n, r in enumerate(data["requests"], 1)),
    )


def of_run(name: str) -> Build:
    """The kit build a run was made with; a run of no kit build (``--api v5``) has none of
    its requests or folders, so reports list only the folders it ran."""
    if name in BUILDS:
        return load(name)
    return Build(name=name, collection=name, title=name, source="", value_names="json",
                 subjects=(), folders=(), scenarios=())
